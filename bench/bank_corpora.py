"""Real bank files from public test corpora, imported by selfdata and read by an established parser.

    python -m bench bank_corpora [--cache=DIR] [--format=mt940,ofx,qif] [--files] [--cli]

Downloads, at run time and into a cache directory (default ~/.cache/selfdata-bench/bank-corpora,
never part of the repository), the source distributions of parsing libraries whose tests hold
real files collected from banks, and a separate virtualenv with the established parsers:

| format | corpus (sdist from PyPI) | established parser |
| --- | --- | --- |
| MT940 | `mt-940` 4.23.0 (`mt940_tests/`: ING, ABN AMRO, Rabobank, Knab, mBank, Sberbank...) | `mt-940` 5.1.1 |
| OFX | `ofxparse` 0.21 (`tests/fixtures/`: Suncorp, ANZ, Fidelity, Vanguard, TD Ameritrade...) | `ofxparse` 0.21 |
| QIF | `quiffen` 4.0.1 (`tests/test_files/`) | `quiffen` 4.0.1 |

Each file goes through `daemon.sync.importing.import_file`, the function `selfdata import`
runs, into a fresh vault of its own (in process, which takes a second for the corpora instead of
a minute of CLI start-ups; `--cli` runs the real `selfdata import` per file instead). QIF files
get `--set currency=USD` (QIF carries no currency). Then the stored `bank.transaction` records are
compared with what the established parser reads: per account, the number of transactions,
the sum of their amounts and the first and last date. OFX investment statements are compared
too: per account, the number of `invest.transaction` records, the sum of their totals and the
first and last trade days, and the number of `invest.position` records with the sums of their
units and market values, against ofxparse's investment statements (its `InvestmentTransaction`s
and `Position`s; its other transactions of an investment account are the cash movements,
compared as bank transactions). A file is

- `match`: same accounts, counts, sums and dates;
- `differ`: both read it, with other figures (the rows say how);
- `refused`: selfdata refused it (with its message) but the parser read it;
- `both refuse`: neither reads it (files the corpora keep to test errors);
- `empty`: the parser reads no transaction in it and selfdata refuses it as holding none;
- `extra`: selfdata read a file the parser refuses;
- `crash`: selfdata raised something other than an import error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tempfile
import venv
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

CORPORA = {  # format -> (sdist, version, glob of the files in it)
    "mt940": ("mt-940", "4.23.0", "mt940_tests/**/*.sta"),
    "ofx": ("ofxparse", "0.21", "tests/fixtures/**/*.ofx"),
    "qif": ("quiffen", "4.0.1", "tests/test_files/*.qif"),
}
PARSERS = ("mt-940==5.1.1", "ofxparse==0.21", "quiffen==4.0.1")
SETTINGS = {"qif": {"currency": "USD"}}

# Runs in the parsers' virtualenv: reads [format, path] pairs on stdin, writes one JSON per file.
REFERENCE = r"""
import json, sys, warnings
from collections import defaultdict
warnings.simplefilter("ignore")

def summary(rows):
    out = defaultdict(lambda: {"count": 0, "sum": "0", "dates": []})
    from decimal import Decimal
    for account, amount, day in rows:
        a = out[account]
        a["count"] += 1
        a["sum"] = str(Decimal(a["sum"]) + Decimal(str(amount)))
        a["dates"].append(day)
    return {k: {"count": v["count"], "sum": v["sum"], "first": min(v["dates"]), "last": max(v["dates"])}
            for k, v in out.items()}

def mt940_rows(path):
    import mt940
    def stamp(transactions, tag, tag_dict, result):
        result["_account"] = transactions.data.get("account_identification")
        return result
    # reversal_sign: RC (a reversed credit) takes money out, as SWIFT defines it; the parser's
    # default keeps its 5.0 behaviour of reading RC as money in.
    t = mt940.models.Transactions(options=mt940.Options(reversal_sign=True), processors={"post_statement": [
        mt940.processors.date_cleanup_post_processor, stamp,
        mt940.processors.transactions_to_transaction("transaction_reference")]})
    with open(path, "rb") as f:
        data = f.read()
    t.parse(mt940.parser._decode(data, None) if hasattr(mt940.parser, "_decode") else data.decode("utf-8"))
    rows = []
    for tr in t.transactions:
        if "amount" not in tr.data:
            continue
        rows.append((str(tr.data.get("_account")), tr.data["amount"].amount, str(tr.data["date"])))
    return rows, {}

def ofx_rows(path):
    from ofxparse import OfxParser
    from ofxparse.ofxparse import InvestmentTransaction
    with open(path, "rb") as f:
        ofx = OfxParser.parse(f)
    rows, invest = [], {}
    for acct in ofx.accounts:
        trades, positions = [], []
        for tr in acct.statement.transactions:
            if isinstance(tr, InvestmentTransaction):
                trades.append((tr.total, tr.tradeDate.date().isoformat()))
            else:  # a bank transaction, or an investment account's cash movement (INVBANKTRAN)
                rows.append((acct.account_id, tr.amount, tr.date.date().isoformat()))
        for pos in getattr(acct.statement, "positions", []):
            positions.append((pos.units, pos.market_value))
        if trades or positions:
            invest[acct.account_id] = invest_summary(trades, positions)
    return rows, invest

def invest_summary(trades, positions):
    from decimal import Decimal
    dates = [d for _, d in trades]
    return {
        "trades": len(trades),
        "total": str(sum((Decimal(str(t)) for t, _ in trades if t is not None), Decimal(0))),
        "first": min(dates) if dates else None,
        "last": max(dates) if dates else None,
        "positions": len(positions),
        "units": str(sum((Decimal(str(u)) for u, _ in positions if u is not None), Decimal(0))),
        "value": str(sum((Decimal(str(v)) for _, v in positions if v is not None), Decimal(0))),
    }

def qif_rows(path):
    import quiffen
    qif = quiffen.Qif.parse(path, day_first=False)
    rows = []
    for name, acct in qif.accounts.items():
        for kind, txs in acct.transactions.items():
            if "Invst" in str(kind):
                continue
            for tr in txs:
                rows.append((name, tr.amount, tr.date.date().isoformat()))
    return rows, {}

for line in sys.stdin:
    fmt, path = json.loads(line)
    try:
        rows, invest = {"mt940": mt940_rows, "ofx": ofx_rows, "qif": qif_rows}[fmt](path)
        print(json.dumps({"ok": True, "accounts": summary(rows), "invest": invest}), flush=True)
    except Exception as err:
        print(json.dumps({"ok": False, "error": f"{type(err).__name__}: {err}"[:300]}), flush=True)
"""


def cache_dir(argv: list[str]) -> Path:
    for arg in argv:
        if arg.startswith("--cache="):
            return Path(arg.split("=", 1)[1]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "selfdata-bench" / "bank-corpora"


def prepare(cache: Path) -> tuple[dict[str, list[Path]], Path]:
    """The corpora's files per format and the parsers' Python, downloaded once."""
    sdists, corpora = cache / "sdists", cache / "corpora"
    sdists.mkdir(parents=True, exist_ok=True)
    files: dict[str, list[Path]] = {}
    for fmt, (name, version, pattern) in CORPORA.items():
        root = corpora / f"{name}-{version}"
        if not root.exists():
            pip = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", name]
            subprocess.run([*pip, f"{name}=={version}", "-d", str(sdists)], check=True, stderr=subprocess.DEVNULL)
            archive = next(p for p in sdists.iterdir() if p.name.replace("_", "-").startswith(f"{name}-{version}."))
            with tarfile.open(archive) as tar:
                tar.extractall(root, filter="data")
        files[fmt] = sorted(p for p in root.glob(f"*/{pattern}") if p.is_file())
    python = cache / "venv" / "bin" / "python"
    if not (cache / "venv" / ".ready").exists():
        venv.create(cache / "venv", with_pip=True, clear=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *PARSERS], check=True, stderr=subprocess.DEVNULL
        )
        (cache / "venv" / ".ready").touch()
    return files, python


def reference(python: Path, work: list[tuple[str, Path]]) -> list[dict[str, Any]]:
    stdin = "".join(json.dumps([fmt, str(p)]) + "\n" for fmt, p in work)
    done = subprocess.run([str(python), "-c", REFERENCE], input=stdin, capture_output=True, text=True, check=True)
    return [json.loads(line) for line in done.stdout.splitlines()]


def ours(fmt: str, path: Path, home: Path, cli: bool) -> dict[str, Any]:
    """What `selfdata import` stores of the file, in a new vault under `home`."""
    from daemon.paths import home_paths
    from daemon.plugins import load
    from daemon.sync.importing import import_file
    from daemon.vault import INSECURE_TEST_KDF, SlotSetup, Vault
    from daemon.vault import records as rec

    values = SETTINGS.get(fmt, {})
    if cli:
        return _ours_cli(fmt, path, home, values)
    vault, _ = Vault.create(
        home_paths(home), SlotSetup(machine_key=os.urandom(32), recovery=False, kdf=INSECURE_TEST_KDF)
    )
    try:
        try:
            result = import_file(vault, load(), path, fmt=fmt, values=dict(values) or None)
        except Exception as err:  # noqa: BLE001 - a crash is what the table counts
            return {"ok": False, "crash": True, "error": f"{type(err).__name__}: {err}"}
        if not result.ok:
            return {"ok": False, "error": result.run.error or "failed"}
        rows = [
            (r.data["account_id"], Decimal(r.data["amount"]), r.data.get("value_on") or r.data["booked_on"], r.data)
            for r in rec.iter_records(vault.conn, "bank.transaction")
        ]
        invest = _invest_summary(
            list(rec.iter_records(vault.conn, "invest.transaction")),
            list(rec.iter_records(vault.conn, "invest.position")),
        )
        return {
            "ok": True,
            "accounts": _summary(fmt, rows),
            "invest": invest,
            "notices": _notices(fmt, path, values),
        }
    finally:
        vault.close()


def _notices(fmt: str, path: Path, values: dict[str, str]) -> list[str]:
    """The notices the importer gives about the file (a second read: `selfdata import` prints them)."""
    from connectors.sdk import Notice
    from daemon.plugins import load

    importer = load().importers[fmt]()
    return [item.message for item in importer.read(path, dict(values)) if isinstance(item, Notice)]


def _ours_cli(fmt: str, path: Path, home: Path, values: dict[str, str]) -> dict[str, Any]:
    env = {**os.environ, "SELFDATA_HOME": str(home), "SELFDATA_INSECURE_TEST_KDF": "1"}
    exe = [sys.executable, "-m", "daemon"]
    key = ["--key-file", str(home / "machine.key"), "--no-passphrase"]
    subprocess.run([*exe, "init", *key], env=env, capture_output=True, check=True)
    sets = [a for k, v in values.items() for a in ("--set", f"{k}={v}")]
    done = subprocess.run([*exe, "import", str(path), "--format", fmt, *sets], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        return {"ok": False, "error": (done.stderr.strip().splitlines() or ["failed"])[0]}

    def query(dataset: str) -> list[dict[str, Any]]:
        q = [*exe, "query", dataset, "--json", "--limit", "100000"]
        done = subprocess.run(q, env=env, capture_output=True, text=True, check=True)
        return list(json.loads(done.stdout)["records"])

    records = query("bank.transaction")
    invest = [[SimpleNamespace(data=r["data"]) for r in query(d)] for d in ("invest.transaction", "invest.position")]
    rows = [
        (
            r["data"]["account_id"],
            Decimal(r["data"]["amount"]),
            r["data"].get("value_on") or r["data"]["booked_on"],
            r["data"],
        )
        for r in records
    ]
    return {"ok": True, "accounts": _summary(fmt, rows), "invest": _invest_summary(*invest)}


def _invest_summary(trades: list[Any], positions: list[Any]) -> dict[str, dict[str, Any]]:
    """Per investment account: trades (count, sum of totals, first and last trade days) and
    positions (count, sum of units and of market values), as the parser's side gives them."""
    out: dict[str, dict[str, Any]] = {}

    def of(account: str) -> dict[str, Any]:
        zero = Decimal(0)
        return out.setdefault(
            account, {"trades": 0, "total": zero, "dates": [], "positions": 0, "units": zero, "value": zero}
        )

    for r in trades:
        a = of(r.data["account_id"])
        a["trades"] += 1
        a["total"] += Decimal(r.data.get("total") or 0)
        a["dates"].append(r.data["traded_on"])
    for r in positions:
        a = of(r.data["account_id"])
        a["positions"] += 1
        a["units"] += Decimal(r.data["units"])
        a["value"] += Decimal(r.data.get("market_value") or 0)
    return {
        k: {
            "trades": v["trades"],
            "total": str(v["total"]),
            "first": min(v["dates"]) if v["dates"] else None,
            "last": max(v["dates"]) if v["dates"] else None,
            "positions": v["positions"],
            "units": str(v["units"]),
            "value": str(v["value"]),
        }
        for k, v in out.items()
    }


def _summary(fmt: str, rows: list[tuple[str, Decimal, str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for account, amount, day, data in rows:
        if fmt == "qif":
            day = data["booked_on"]
        a = out.setdefault(account, {"count": 0, "sum": Decimal(0), "dates": []})
        a["count"] += 1
        a["sum"] += amount
        a["dates"].append(day)
    return {
        k: {"count": v["count"], "sum": str(v["sum"]), "first": min(v["dates"]), "last": max(v["dates"])}
        for k, v in out.items()
    }


@dataclass
class Outcome:
    fmt: str
    file: str
    status: str
    note: str = ""
    counts: tuple[int, int] = (0, 0)
    invest: tuple[int, int, int, int] = (0, 0, 0, 0)  # trades stored, read; positions stored, read


def _norm(account: str) -> str:
    a = "".join(str(account).split()).upper()
    return a[:-3] if len(a) > 3 and a[-3:].isalpha() and a[-4].isdigit() else a


def compare(fmt: str, name: str, theirs: dict[str, Any], mine: dict[str, Any]) -> Outcome:
    if mine.get("crash"):
        return Outcome(fmt, name, "crash", mine["error"])
    if not theirs["ok"]:
        if mine["ok"]:
            n = sum(a["count"] for a in mine["accounts"].values())
            return Outcome(fmt, name, "extra", f"parser: {theirs['error']}", (n, 0))
        return Outcome(fmt, name, "both refuse", f"ours: {mine['error']} | parser: {theirs['error']}")
    t_accounts = {k: v for k, v in theirs["accounts"].items()}
    t_n = sum(a["count"] for a in t_accounts.values())
    if not mine["ok"]:
        if theirs.get("invest"):
            n = sum(a["trades"] + a["positions"] for a in theirs["invest"].values())
            return Outcome(fmt, name, "refused", f"investment statement ({n} trades and positions): {mine['error']}")
        if t_n == 0:
            return Outcome(fmt, name, "empty", f"no transaction in it; ours: {mine['error']}")
        return Outcome(fmt, name, "refused", mine["error"], (0, t_n))
    m_accounts = mine["accounts"]
    m_n = sum(a["count"] for a in m_accounts.values())
    pairs: list[tuple[str, str]] = []
    left = dict(t_accounts)
    for mk in m_accounts:
        tk = next((k for k in left if _norm(k) == _norm(mk) or _norm(k).endswith(_norm(mk))), None)
        if tk is not None:
            pairs.append((mk, tk))
            del left[tk]
    m_left = [k for k in m_accounts if k not in {p[0] for p in pairs}]
    pairs += list(zip(m_left, list(left), strict=False))
    notes = []
    for mk, tk in pairs:
        m, t = m_accounts[mk], t_accounts[tk]
        for what in ("count", "sum", "first", "last"):
            same = Decimal(m[what]) == Decimal(t[what]) if what == "sum" else m[what] == t[what]
            if not same:
                notes.append(f"{mk} {what} {m[what]} vs {t[what]}")
    if len(m_accounts) != len(t_accounts):
        notes.append(f"accounts {sorted(m_accounts)} vs {sorted(t_accounts)}")
    invest = _compare_invest(theirs.get("invest") or {}, mine.get("invest") or {}, notes)
    status = "differ" if any(" vs " in n for n in notes) else "match"
    if mine.get("notices"):
        notes.insert(0, f"{len(mine['notices'])} notice(s): {mine['notices'][0]}")
        status += " (notice)" if status == "match" else ""
    return Outcome(fmt, name, status, "; ".join(notes), (m_n, t_n), invest)


def _compare_invest(
    theirs: dict[str, dict[str, Any]], mine: dict[str, dict[str, Any]], notes: list[str]
) -> tuple[int, int, int, int]:
    """Investment accounts compared figure by figure; the notes say what differs."""
    for account in sorted(set(theirs) | set(mine)):
        t, m = theirs.get(account), mine.get(account)
        if t is None or m is None:
            notes.append(f"investment account {account}: {'not read by the parser' if t is None else 'not stored'} vs")
            continue
        for what in ("trades", "total", "first", "last", "positions", "units", "value"):
            same = Decimal(m[what]) == Decimal(t[what]) if what in ("total", "units", "value") else m[what] == t[what]
            if not same:
                notes.append(f"{account} {what} {m[what]} vs {t[what]}")
    if theirs or mine:
        figures = [
            f"{a}: {v['trades']} trades, total {v['total']}, {v['positions']} positions, value {v['value']}"
            for a, v in sorted(mine.items())
        ]
        notes.append("invest " + "; ".join(figures))
    return (
        sum(a["trades"] for a in mine.values()),
        sum(a["trades"] for a in theirs.values()),
        sum(a["positions"] for a in mine.values()),
        sum(a["positions"] for a in theirs.values()),
    )


STATUSES = ("match", "differ", "refused", "empty", "both refuse", "extra", "crash")


def main(argv: list[str]) -> None:
    cache = cache_dir(argv)
    formats = next((a.split("=", 1)[1].split(",") for a in argv if a.startswith("--format=")), list(CORPORA))
    cli, show_files = "--cli" in argv, "--files" in argv
    files, python = prepare(cache)
    work = [(fmt, p) for fmt in formats for p in files[fmt]]
    theirs = reference(python, work)
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="selfdata-bench-corpora-") as tmp:
        for i, ((fmt, path), t) in enumerate(zip(work, theirs, strict=True)):
            mine = ours(fmt, path, Path(tmp) / f"home-{i}", cli)
            root = cache / "corpora" / "-".join(CORPORA[fmt][:2])
            outcomes.append(compare(fmt, str(path.relative_to(root)).split("/", 1)[1], t, mine))
    by_fmt: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(STATUSES, 0))
    noticed = 0
    for o in outcomes:
        by_fmt[o.fmt][o.status.split(" (")[0]] += 1
        noticed += o.status.endswith("(notice)")
        if show_files or o.status not in ("match", "both refuse", "empty"):
            print(f"  {o.fmt:6} {o.status:12} {o.file}: {o.note}"[:400])
    print()
    print(f"  {'format':8}{'files':>6}" + "".join(f"{s:>13}" for s in STATUSES))
    total = dict.fromkeys(STATUSES, 0)
    for fmt in formats:
        row = by_fmt[fmt]
        print(f"  {fmt:8}{sum(row.values()):>6}" + "".join(f"{row[s]:>13}" for s in STATUSES))
        for s in STATUSES:
            total[s] += row[s]
    print(f"  {'total':8}{sum(total.values()):>6}" + "".join(f"{total[s]:>13}" for s in STATUSES))
    stored = sum(o.counts[0] for o in outcomes)
    read = sum(o.counts[1] for o in outcomes)
    print(f"  transactions: {stored:,} stored by selfdata, {read:,} read by the parsers (files compared)")
    trades = [sum(o.invest[i] for o in outcomes) for i in range(4)]
    with_invest = sum(1 for o in outcomes if any(o.invest))
    print(
        f"  investment statements: {with_invest} files; trades {trades[0]:,} stored, {trades[1]:,} read by the parser;"
        f" positions {trades[2]:,} stored, {trades[3]:,} read"
    )
    print(f"  matching files imported with a notice (balances that do not add up): {noticed}")


if __name__ == "__main__":
    main(sys.argv[1:])
