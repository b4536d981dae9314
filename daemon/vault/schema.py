"""Numbered schema migrations, applied in order; PRAGMA user_version holds the number done."""

from __future__ import annotations

from collections.abc import Callable

from .db import Connection

# A record's bookkeeping follows DESIGN: `seq` is the rowid and changes on every insert,
# content change or deletion, so the changes feed is a range scan of the table.
_V1 = """
CREATE TABLE meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE records (
    seq INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    dataset TEXT NOT NULL,
    key TEXT NOT NULL,
    ts INTEGER NOT NULL,
    data TEXT,
    raw TEXT,
    hash BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    run_id INTEGER,
    deleted INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX records_identity ON records(source, dataset, key);
CREATE INDEX records_dataset_ts ON records(dataset, ts, seq);

CREATE TABLE secrets (
    source TEXT NOT NULL,
    name TEXT NOT NULL,
    box BLOB NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (source, name)
) WITHOUT ROWID;
"""


def _sql(script: str) -> Callable[[Connection], None]:
    def apply(conn: Connection) -> None:
        for statement in script.split(";"):
            if statement.strip():
                conn.execute(statement)

    return apply


# Sources and runs. A source's state is its connector's last committed checkpoint.
_V2 = """
CREATE TABLE sources (
    name TEXT PRIMARY KEY,
    connector TEXT NOT NULL,
    kind TEXT NOT NULL,
    settings TEXT NOT NULL DEFAULT '{}',
    schedule TEXT,
    enabled INTEGER NOT NULL DEFAULT 1,
    state TEXT NOT NULL DEFAULT '{}',
    health TEXT NOT NULL DEFAULT 'ok',
    health_message TEXT,
    health_since INTEGER,
    failures INTEGER NOT NULL DEFAULT 0,
    next_run INTEGER,
    warning TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    status TEXT NOT NULL,
    new INTEGER NOT NULL DEFAULT 0,
    changed INTEGER NOT NULL DEFAULT 0,
    unchanged INTEGER NOT NULL DEFAULT 0,
    deleted INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    detail TEXT
);
CREATE INDEX runs_source ON runs(source, id);

CREATE TABLE staging (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL,
    op TEXT NOT NULL,
    dataset TEXT NOT NULL,
    key TEXT NOT NULL,
    ts INTEGER,
    data TEXT,
    raw TEXT,
    hash BLOB
);
CREATE INDEX staging_run ON staging(run_id, id);
"""

# What the user was told about their sources, and whether each channel took it.
_V3 = """
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    delivered TEXT NOT NULL DEFAULT ''
);
"""

# Apps' access: grants (the OAuth device-flow pattern) and the aggregated access log.
_V4 = """
CREATE TABLE grants (
    id TEXT PRIMARY KEY,
    request_hash BLOB UNIQUE,
    user_code TEXT UNIQUE,
    app TEXT NOT NULL,
    purpose TEXT NOT NULL,
    scopes TEXT NOT NULL,
    origins TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL,
    token_hash BLOB UNIQUE,
    created_at INTEGER NOT NULL,
    request_expires_at INTEGER,
    decided_at INTEGER,
    expires_at INTEGER,
    last_used_at INTEGER
) WITHOUT ROWID;

CREATE TABLE access_log (
    minute INTEGER NOT NULL,
    grant_id TEXT NOT NULL,
    app TEXT NOT NULL,
    purpose TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    dataset TEXT NOT NULL,
    requests INTEGER NOT NULL,
    records INTEGER NOT NULL,
    PRIMARY KEY (minute, grant_id, endpoint, dataset)
) WITHOUT ROWID;
CREATE INDEX access_log_grant ON access_log(grant_id, minute);
"""

# Erasures are recorded (what, when, how many) without the erased data.
_V5 = """
CREATE TABLE erasures (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    source TEXT,
    dataset TEXT,
    records INTEGER NOT NULL,
    secrets INTEGER NOT NULL DEFAULT 0,
    files INTEGER NOT NULL DEFAULT 0
);
"""

# Original files the inbox imported: each content stored once (SHA-256), in 1 MiB chunks,
# listed once per source it went to. `complete` turns 1 when the last chunk is in.
_V6 = """
CREATE TABLE file_contents (
    id INTEGER PRIMARY KEY,
    sha256 TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    complete INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE file_chunks (
    content_id INTEGER NOT NULL,
    n INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (content_id, n)
);

CREATE TABLE files (
    id INTEGER PRIMARY KEY,
    content_id INTEGER NOT NULL REFERENCES file_contents(id),
    name TEXT NOT NULL,
    importer TEXT,
    source TEXT NOT NULL,
    added_at INTEGER NOT NULL,
    run_id INTEGER,
    UNIQUE (source, content_id)
);
CREATE INDEX files_content ON files(content_id);
"""

# The dashboard's sign-ins: one-time links and the sessions they open, stored hashed so
# `selfdata dashboard --sign-out-all` works from any process and a restart keeps them.
_V7 = """
CREATE TABLE web_sessions (
    hash BLOB PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('link', 'session')),
    csrf TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
"""

# Live records and time span per stream, kept by triggers for every writer, so a page or
# `status` reads a few rows instead of counting a million. A span only widens on its own;
# a deletion or a moved ts at its edge clears `exact`, and the reader recomputes that one.
_V8 = [
    """CREATE TABLE record_counts (
        source TEXT NOT NULL,
        dataset TEXT NOT NULL,
        live INTEGER NOT NULL,
        first_ts INTEGER,
        last_ts INTEGER,
        exact INTEGER NOT NULL DEFAULT 1,
        PRIMARY KEY (source, dataset)
    ) WITHOUT ROWID""",
    """INSERT INTO record_counts (source, dataset, live, first_ts, last_ts)
        SELECT source, dataset, count(*), min(ts), max(ts) FROM records WHERE deleted=0 GROUP BY source, dataset""",
    """CREATE TRIGGER record_counts_insert AFTER INSERT ON records WHEN NEW.deleted = 0 BEGIN
        INSERT INTO record_counts (source, dataset, live, first_ts, last_ts)
            VALUES (NEW.source, NEW.dataset, 1, NEW.ts, NEW.ts)
            ON CONFLICT (source, dataset) DO UPDATE SET live = live + 1,
                first_ts = min(coalesce(first_ts, NEW.ts), NEW.ts), last_ts = max(coalesce(last_ts, NEW.ts), NEW.ts);
    END""",
    """CREATE TRIGGER record_counts_delete AFTER DELETE ON records WHEN OLD.deleted = 0 BEGIN
        UPDATE record_counts SET live = live - 1, exact = exact AND OLD.ts NOT IN (first_ts, last_ts)
            WHERE source = OLD.source AND dataset = OLD.dataset;
    END""",
    """CREATE TRIGGER record_counts_update AFTER UPDATE OF ts, deleted, source, dataset ON records
    WHEN OLD.deleted != NEW.deleted OR OLD.ts != NEW.ts OR OLD.source != NEW.source OR OLD.dataset != NEW.dataset
    BEGIN
        UPDATE record_counts SET live = live - 1, exact = exact AND OLD.ts NOT IN (first_ts, last_ts)
            WHERE OLD.deleted = 0 AND source = OLD.source AND dataset = OLD.dataset;
        INSERT INTO record_counts (source, dataset, live, first_ts, last_ts)
            SELECT NEW.source, NEW.dataset, 1, NEW.ts, NEW.ts WHERE NEW.deleted = 0
            ON CONFLICT (source, dataset) DO UPDATE SET live = live + 1,
                first_ts = min(coalesce(first_ts, NEW.ts), NEW.ts), last_ts = max(coalesce(last_ts, NEW.ts), NEW.ts);
    END""",
    # Tombstones are few: records per day subtract them, counting the rest from the ts index alone.
    "CREATE INDEX records_tombstones ON records(dataset, ts) WHERE deleted = 1",
]

# The field apps filter on where a dataset mixes many kinds: an observation's code (heart
# rate among steps, energy, sleep...), a partial index on the very expression the filters
# use (vault.filters.extract), then ts: a page of one code in a day costs what an
# unfiltered page does. Fields of a few values (a household's meters, a person's accounts)
# filter the ts index's rows well enough; each index is a write on every insert (an index
# on bank.transaction's account_id was measured at +14% on a 100k-transaction OFX import).
_V9 = [
    "CREATE INDEX records_observation_code ON records(json_extract(data, '$.code'), ts)"
    " WHERE dataset='health.observation'",
]


# Vendor relationships (daemon/vrm): requests to organisations with their legal deadlines and
# the answers linked to imported files; the signing keys (seeds encrypted again under the
# secrets key; revoked ones kept, to report them); and the log of every signed disclosure.
_VRM = [
    """CREATE TABLE vrm_requests (
        id INTEGER PRIMARY KEY,
        org TEXT NOT NULL,
        org_name TEXT NOT NULL,
        contact TEXT NOT NULL DEFAULT '{}',
        kind TEXT NOT NULL,
        lang TEXT NOT NULL,
        folder TEXT NOT NULL,
        details TEXT NOT NULL DEFAULT '{}',
        zone TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        sent_at INTEGER,
        due_on TEXT,
        extended_on TEXT,
        reminded_at INTEGER,
        answered_at INTEGER,
        answer TEXT,
        closed_at INTEGER
    )""",
    "CREATE INDEX vrm_requests_folder ON vrm_requests(folder, id)",
    """CREATE TABLE vrm_keys (
        id TEXT PRIMARY KEY,
        box BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER,
        reason TEXT
    ) WITHOUT ROWID""",
    """CREATE TABLE vrm_disclosures (
        id TEXT PRIMARY KEY,
        at INTEGER NOT NULL,
        recipient TEXT NOT NULL,
        purpose TEXT NOT NULL,
        what TEXT NOT NULL,
        valid_until INTEGER NOT NULL,
        key_id TEXT NOT NULL,
        digest TEXT NOT NULL
    ) WITHOUT ROWID""",
    "CREATE INDEX vrm_disclosures_at ON vrm_disclosures(at)",
]


# The user's money rules (daemon.insights): category rules, applied when a view is computed;
# money alerts, each off until switched on, and what each has already told (never twice).
_MONEY_RULES = [
    """CREATE TABLE category_rules (
        id INTEGER PRIMARY KEY,
        pattern TEXT NOT NULL,
        category TEXT NOT NULL,
        field TEXT NOT NULL DEFAULT 'any',
        created_at INTEGER NOT NULL
    )""",
    """CREATE TABLE money_alerts (
        kind TEXT PRIMARY KEY,
        enabled INTEGER NOT NULL DEFAULT 0,
        threshold TEXT,
        updated_at INTEGER NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE money_alerts_told (
        kind TEXT NOT NULL,
        subject TEXT NOT NULL,
        value TEXT NOT NULL,
        at INTEGER NOT NULL,
        PRIMARY KEY (kind, subject)
    ) WITHOUT ROWID""",
]


def _statements(statements: list[str]) -> Callable[[Connection], None]:
    def apply(conn: Connection) -> None:
        for statement in statements:
            conn.execute(statement)

    return apply


# The views' settings: which source counts for an observation code where several measured
# the same thing (names first to last, a selfdata source or a device), and small settings
# the user gives the views and their alerts (a data plan's cap, which alerts are on).
# And health observations summed per code, UTC hour, source, device and unit, kept by
# triggers like record_counts: a health view reads a few thousand of these instead of a
# million records (each a page of the encrypted file to decrypt). Values are summed as
# whole 10^-9 units, as aggregates sum them; `scale` is the most decimals seen (past 9,
# or a sum past 64 bits, the views read the records instead).
_HOUR = "((({ts}) + 62208000000000) / 3600000 - 17280000)"  # floor division, before 1970 too
_VALUE = "json_extract({r}.data, '$.value')"
_SCALED = (
    "(CASE WHEN {v} IS NULL THEN 0 ELSE (CASE WHEN substr({v}, 1, 1) = '-' THEN -1 ELSE 1 END *"
    " (CAST(ltrim(CASE WHEN instr({v}, '.') THEN substr({v}, 1, instr({v}, '.') - 1) ELSE {v} END, '-') AS INTEGER)"
    " * 1000000000 + CASE WHEN instr({v}, '.') THEN CAST(substr(substr({v}, instr({v}, '.') + 1) || '000000000', 1, 9)"
    " AS INTEGER) ELSE 0 END)) END)"
)
_DECIMALS = "(CASE WHEN instr({v}, '.') THEN length({v}) - instr({v}, '.') ELSE 0 END)"


def _hours_row(r: str) -> str:
    v = _VALUE.format(r=r)
    return (
        f"coalesce(json_extract({r}.data, '$.code'), ''), {_HOUR.format(ts=r + '.ts')}, {r}.source,"
        f" coalesce(json_extract({r}.data, '$.device'), ''), coalesce(json_extract({r}.data, '$.unit'), ''),"
        f" {{sign}}1, {{sign}}({v} IS NOT NULL), {{sign}}{_SCALED.format(v=v)}, coalesce({_DECIMALS.format(v=v)}, 0)"
    )


_HOURS_ADD = (
    "INSERT INTO health_hours (code, hour, source, device, unit, records, n, total, scale)"
    " SELECT {row}{src} WHERE {r}.dataset = 'health.observation' AND {r}.deleted = 0"
    " ON CONFLICT DO UPDATE SET records = records + excluded.records, n = n + excluded.n,"
    " total = total + excluded.total, scale = max(scale, excluded.scale)"
)
_HEALTH_VIEWS = [
    "CREATE TABLE health_priority (code TEXT PRIMARY KEY, names TEXT NOT NULL, updated_at INTEGER NOT NULL)"
    " WITHOUT ROWID",
    "CREATE TABLE view_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at INTEGER NOT NULL)"
    " WITHOUT ROWID",
    """CREATE TABLE health_hours (
        code TEXT NOT NULL, hour INTEGER NOT NULL, source TEXT NOT NULL, device TEXT NOT NULL, unit TEXT NOT NULL,
        records INTEGER NOT NULL, n INTEGER NOT NULL, total INTEGER NOT NULL, scale INTEGER NOT NULL,
        PRIMARY KEY (code, hour, source, device, unit)
    ) WITHOUT ROWID""",
    _HOURS_ADD.format(row=_hours_row("records").format(sign=""), r="records", src=" FROM records"),
    "CREATE TRIGGER health_hours_insert AFTER INSERT ON records"
    " WHEN NEW.dataset = 'health.observation' AND NEW.deleted = 0 BEGIN "
    + _HOURS_ADD.format(row=_hours_row("NEW").format(sign=""), r="NEW", src="")
    + "; END",
    "CREATE TRIGGER health_hours_delete AFTER DELETE ON records"
    " WHEN OLD.dataset = 'health.observation' AND OLD.deleted = 0 BEGIN "
    + _HOURS_ADD.format(row=_hours_row("OLD").format(sign="-"), r="OLD", src="")
    + "; END",
    "CREATE TRIGGER health_hours_update AFTER UPDATE OF ts, data, deleted, source, dataset ON records"
    " WHEN (OLD.dataset = 'health.observation' AND OLD.deleted = 0)"
    " OR (NEW.dataset = 'health.observation' AND NEW.deleted = 0) BEGIN "
    + _HOURS_ADD.format(row=_hours_row("OLD").format(sign="-"), r="OLD", src="")
    + "; "
    + _HOURS_ADD.format(row=_hours_row("NEW").format(sign=""), r="NEW", src="")
    + "; END",
]


# The energy and money views' trigger-kept tables, like health_hours: half-hour sums of
# `energy.reading` per stream (commodity, direction, unit), exactly the groups
# daemon.insights.energy_slots reads, so a year of two meters is 35,000 short rows instead
# of 35,000 records to decrypt and parse; and each bank transaction's few fields the money
# view sums (account, currency, status, payee, amount as whole 10^-9 units), one short row
# a record, ordered by time. `scale` is the most decimals seen; past 9 (or a sum past 64
# bits, stored as a float) the views read the records instead.
_SLOTS_ADD = (
    "INSERT INTO energy_slots (slot, commodity, direction, unit, records, n, total, scale)"
    " SELECT ts / 1800000, commodity, direction, unit, {{sign}}1, {{sign}}(v IS NOT NULL), {{sign}}{scaled},"
    " coalesce({decimals}, 0)"
    " FROM (SELECT {{r}}.ts AS ts, coalesce(json_extract({{r}}.data, '$.commodity'), '') AS commodity,"
    " coalesce(json_extract({{r}}.data, '$.direction'), '') AS direction,"
    " coalesce(json_extract({{r}}.data, '$.unit'), '') AS unit, json_extract({{r}}.data, '$.quantity') AS v{{src}}"
    " WHERE {{r}}.dataset = 'energy.reading' AND {{r}}.deleted = 0 LIMIT -1) WHERE 1"
    " ON CONFLICT DO UPDATE SET records = records + excluded.records, n = n + excluded.n,"
    " total = total + excluded.total, scale = max(scale, excluded.scale)"
).format(scaled=_SCALED.format(v="v"), decimals=_DECIMALS.format(v="v"))
_ENERGY_SLOTS = [
    """CREATE TABLE energy_slots (
        slot INTEGER NOT NULL, commodity TEXT NOT NULL, direction TEXT NOT NULL, unit TEXT NOT NULL,
        records INTEGER NOT NULL, n INTEGER NOT NULL, total INTEGER NOT NULL, scale INTEGER NOT NULL,
        PRIMARY KEY (slot, commodity, direction, unit)
    ) WITHOUT ROWID""",
    _SLOTS_ADD.format(r="records", src=" FROM records", sign=""),
    "CREATE TRIGGER energy_slots_insert AFTER INSERT ON records"
    " WHEN NEW.dataset = 'energy.reading' AND NEW.deleted = 0 BEGIN "
    + _SLOTS_ADD.format(r="NEW", src="", sign="")
    + "; END",
    "CREATE TRIGGER energy_slots_delete AFTER DELETE ON records"
    " WHEN OLD.dataset = 'energy.reading' AND OLD.deleted = 0 BEGIN "
    + _SLOTS_ADD.format(r="OLD", src="", sign="-")
    + "; END",
    "CREATE TRIGGER energy_slots_update AFTER UPDATE OF ts, data, deleted, source, dataset ON records"
    " WHEN (OLD.dataset = 'energy.reading' AND OLD.deleted = 0)"
    " OR (NEW.dataset = 'energy.reading' AND NEW.deleted = 0) BEGIN "
    + _SLOTS_ADD.format(r="OLD", src="", sign="-")
    + "; "
    + _SLOTS_ADD.format(r="NEW", src="", sign="")
    + "; END",
]

# Each field is read from the JSON once, in a subquery (LIMIT -1 keeps SQLite from folding it
# into the outer SELECT, which would read the amount once per use): half the trigger's cost.
# A transaction without an amount (the schema requires one) adds nothing to a sum: not kept.
_AMOUNT_FIELDS = ("account_id", "currency", "status", "counterparty", "description")
_AMOUNTS_ADD = (
    "INSERT OR REPLACE INTO bank_amounts (ts, seq, {fields}, amount, scale)"
    " SELECT ts, seq, {fields}, CASE WHEN v IS NULL THEN NULL ELSE {scaled} END, coalesce({decimals}, 0)"
    " FROM (SELECT {{r}}.ts AS ts, {{r}}.seq AS seq, {extracts}, json_extract({{r}}.data, '$.amount') AS v{{src}}"
    " WHERE {{r}}.dataset = 'bank.transaction' AND {{r}}.deleted = 0"
    " AND json_extract({{r}}.data, '$.amount') IS NOT NULL LIMIT -1)"
).format(
    fields=", ".join(_AMOUNT_FIELDS),
    scaled=_SCALED.format(v="v"),
    decimals=_DECIMALS.format(v="v"),
    extracts=", ".join(f"json_extract({{r}}.data, '$.{f}') AS {f}" for f in _AMOUNT_FIELDS),
)
_AMOUNTS_DROP = "DELETE FROM bank_amounts WHERE ts = {r}.ts AND seq = {r}.seq"
_BANK_AMOUNTS = [
    """CREATE TABLE bank_amounts (
        ts INTEGER NOT NULL, seq INTEGER NOT NULL,
        account_id TEXT, currency TEXT, status TEXT, counterparty TEXT, description TEXT,
        amount INTEGER, scale INTEGER NOT NULL,
        PRIMARY KEY (ts, seq)
    ) WITHOUT ROWID""",
    _AMOUNTS_ADD.format(r="records", src=" FROM records"),
    "CREATE TRIGGER bank_amounts_insert AFTER INSERT ON records"
    " WHEN NEW.dataset = 'bank.transaction' AND NEW.deleted = 0 BEGIN "
    + _AMOUNTS_ADD.format(r="NEW", src="")
    + "; END",
    "CREATE TRIGGER bank_amounts_delete AFTER DELETE ON records"
    " WHEN OLD.dataset = 'bank.transaction' AND OLD.deleted = 0 BEGIN " + _AMOUNTS_DROP.format(r="OLD") + "; END",
    "CREATE TRIGGER bank_amounts_update AFTER UPDATE OF seq, ts, data, deleted, dataset ON records"
    " WHEN (OLD.dataset = 'bank.transaction' AND OLD.deleted = 0)"
    " OR (NEW.dataset = 'bank.transaction' AND NEW.deleted = 0) BEGIN "
    + _AMOUNTS_DROP.format(r="OLD")
    + "; "
    + _AMOUNTS_ADD.format(r="NEW", src="")
    + "; END",
]


MIGRATIONS: list[Callable[[Connection], None]] = [
    _sql(_V1),
    _sql(_V2),
    _sql(_V3),
    _sql(_V4),
    _sql(_V5),
    _sql(_V6),
    _sql(_V7),
    _statements(_V8),
    _statements(_V9),
    _statements(_VRM),
    _statements(_HEALTH_VIEWS),
    _statements(_MONEY_RULES),
    _statements(_ENERGY_SLOTS),
    _statements(_BANK_AMOUNTS),
]


def migrate(conn: Connection) -> int:
    """Bring the schema up to date, each migration in its own transaction."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > len(MIGRATIONS):
        raise RuntimeError(
            f"this vault has schema version {version}, newer than this selfdata knows "
            f"({len(MIGRATIONS)}); upgrade selfdata"
        )
    for number in range(version + 1, len(MIGRATIONS) + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            MIGRATIONS[number - 1](conn)
            conn.execute(f"PRAGMA user_version = {number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return len(MIGRATIONS)
