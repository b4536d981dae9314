from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.vault import RecordIn, Vault, recordjson
from daemon.vault import records as rec

DAY = 86_400_000


def tx(key: str, ts: int = 0, amount: str = "1.00", source: str = "bank", raw: object = None) -> RecordIn:
    return RecordIn(source, "bank.transaction", key, ts, {"amount": amount, "currency": "EUR"}, raw)


def test_counts_new_changed_unchanged_and_seq_only_moves_on_change(vault: Vault) -> None:
    c1 = vault.writer.upsert([tx("a"), tx("b")])
    assert (c1.new, c1.changed, c1.unchanged) == (2, 0, 0)
    seqs = {r.key: r.seq for r in rec.iter_records(vault.conn, "bank.transaction")}
    c2 = vault.writer.upsert([tx("a"), tx("b", amount="2.00")])
    assert (c2.new, c2.changed, c2.unchanged) == (0, 1, 1)
    after = {r.key: r for r in rec.iter_records(vault.conn, "bank.transaction")}
    assert after["a"].seq == seqs["a"]
    assert after["b"].seq > max(seqs.values()) and after["b"].data["amount"] == "2.00"
    assert rec.changes(vault.conn, max(seqs.values()))[0].key == "b"


def test_a_changed_raw_fragment_is_a_change(vault: Vault) -> None:
    vault.writer.upsert([tx("a", raw={"v": 1})])
    assert vault.writer.upsert([tx("a", raw={"v": 2})]).changed == 1
    assert vault.writer.upsert([tx("a", raw={"v": 2})]).unchanged == 1


def test_duplicate_keys_in_one_batch_keep_the_last(vault: Vault) -> None:
    c = vault.writer.upsert([tx("a", amount="1.00"), tx("a", amount="3.00")])
    assert c.new == 1
    assert next(rec.iter_records(vault.conn, "bank.transaction")).data["amount"] == "3.00"


def test_same_key_in_other_source_or_dataset_is_another_record(vault: Vault) -> None:
    vault.writer.upsert([tx("a"), tx("a", source="other"), RecordIn("bank", "bank.account", "a", 0, {})])
    assert sum(c.count for c in vault.counts()) == 3


def test_range_source_filter_and_cursor_pages_cover_everything_once(vault: Vault) -> None:
    vault.writer.upsert([tx(f"k{i:03d}", ts=(i % 50) * DAY, source="bank" if i % 3 else "card") for i in range(300)])
    seen: list[str] = []
    cursor = None
    while True:
        lines, cursor = recordjson.query(
            vault.conn, "bank.transaction", limit=7, cursor=cursor, start_ms=10 * DAY, end_ms=40 * DAY
        )
        page = [orjson.loads(line) for line in lines]
        seen += [r["key"] for r in page]
        assert [r["ts"] for r in page] == sorted(r["ts"] for r in page)
        if cursor is None:
            break
    expected = {f"k{i:03d}" for i in range(300) if 10 <= i % 50 < 40}
    assert len(seen) == len(set(seen)) and set(seen) == expected
    only_card = [
        orjson.loads(line) for line in recordjson.query(vault.conn, "bank.transaction", limit=1000, source="card")[0]
    ]
    assert {r["source"] for r in only_card} == {"card"} and len(only_card) == 100


@pytest.mark.parametrize("cursor", ["!!!", "Zm9v", "MTox", "YTpi"])
def test_forged_cursor_is_refused(vault: Vault, cursor: str) -> None:
    if cursor == "MTox":  # "1:1" is well-formed: it must simply work
        recordjson.query(vault.conn, "bank.transaction", limit=1, cursor=cursor)
        return
    with pytest.raises(rec.CursorError):
        recordjson.query(vault.conn, "bank.transaction", limit=1, cursor=cursor)


def test_deletion_leaves_tombstones_in_the_changes_feed_and_wipes_content(vault: Vault) -> None:
    vault.writer.upsert([tx("a"), tx("b"), tx("c", source="card")])
    last = rec.changes(vault.conn, 0)[-1].seq
    assert vault.writer.delete(source="bank") == 2
    feed = rec.changes(vault.conn, last)
    assert [(r.key, r.deleted, r.data) for r in feed] == [("a", True, None), ("b", True, None)]
    assert [r.key for r in rec.iter_records(vault.conn, "bank.transaction")] == ["c"]
    row = vault.conn.execute("SELECT data, raw FROM records WHERE key='a'").fetchone()
    assert row == (None, None)
    # A deleted key that comes back is new again, with a new seq.
    c = vault.writer.upsert([tx("a")])
    assert c.new == 1 and rec.changes(vault.conn, feed[-1].seq)[0].key == "a"


def test_delete_dataset_and_purge_tombstones(vault: Vault) -> None:
    vault.writer.upsert([tx("a"), RecordIn("bank", "bank.account", "acc", 0, {})])
    assert vault.writer.delete(dataset="bank.account") == 1
    assert vault.writer.purge_tombstones(older_than_ms=2**62) == 1
    assert vault.conn.execute("SELECT count(*) FROM records").fetchone()[0] == 1


def test_seq_never_goes_back_after_purging_the_newest_tombstone(vault: Vault) -> None:
    vault.writer.upsert([tx("a"), tx("b")])
    vault.writer.delete(keys=["b"])
    top = rec.changes(vault.conn, 0)[-1].seq
    vault.writer.purge_tombstones(older_than_ms=2**62)
    vault.writer.upsert([tx("c")])
    assert rec.changes(vault.conn, top)[0].key == "c"


def test_a_failing_batch_stores_nothing(vault: Vault) -> None:
    vault.writer.upsert([tx("a")])

    def boom(conn: object) -> None:
        raise RuntimeError("checkpoint failed")

    with pytest.raises(RuntimeError):
        vault.writer.upsert([tx("b"), tx("a", amount="9.99")], within=boom)
    assert [(r.key, r.data["amount"]) for r in rec.iter_records(vault.conn, "bank.transaction")] == [("a", "1.00")]


def test_a_reader_connection_sees_commits(vault: Vault) -> None:
    reader = vault.reader()
    vault.writer.upsert([tx("a")])
    assert [r.key for r in rec.iter_records(reader, "bank.transaction")] == ["a"]
    reader.close()


versions = st.lists(
    st.tuples(st.sampled_from("abcdef"), st.sampled_from(["1.00", "2.00", "3.00"])), min_size=1, max_size=40
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stream=versions, cuts=st.lists(st.integers(min_value=1, max_value=40), max_size=5))
def test_stored_records_equal_the_last_version_of_each_key(
    vault: Vault, stream: list[tuple[str, str]], cuts: list[int]
) -> None:
    vault.writer.delete(dataset="bank.transaction")
    vault.writer.purge_tombstones(older_than_ms=2**62)
    bounds = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        vault.writer.upsert([tx(k, amount=a) for k, a in stream[lo:hi]])
    expected = {}
    for k, a in stream:
        expected[k] = a
    stored = {r.key: r.data["amount"] for r in rec.iter_records(vault.conn, "bank.transaction")}
    assert stored == expected


def _recount(vault: Vault) -> list[rec.StreamCount]:
    rows = vault.conn.execute(
        "SELECT dataset, source, count(*), min(ts), max(ts) FROM records WHERE deleted=0"
        " GROUP BY dataset, source ORDER BY dataset, source"
    )
    return [rec.StreamCount(*r) for r in rows]


step = st.one_of(
    st.tuples(
        st.just("upsert"),
        st.sampled_from(["bank", "card"]),
        st.lists(st.integers(0, 30), max_size=8),
        st.integers(0, 50),
    ),
    st.tuples(
        st.just("delete"), st.sampled_from(["bank", "card"]), st.lists(st.integers(0, 30), max_size=4), st.just(0)
    ),
    st.tuples(st.just("purge"), st.just(""), st.just([]), st.just(0)),
    st.tuples(st.just("erase"), st.sampled_from(["bank", "card"]), st.just([]), st.just(0)),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, max_size=12))
def test_stream_counts_kept_by_triggers_equal_a_recount(
    vault: Vault, steps: list[tuple[str, str, list[int], int]]
) -> None:
    """Counts and spans come from a table the triggers keep; whatever writes, they equal a full count."""
    vault.writer.delete(dataset="bank.transaction")
    vault.writer.purge_tombstones(older_than_ms=2**62)
    for kind, source, keys, shift in steps:
        if kind == "upsert":  # new keys, changed ones (a moved ts), deleted keys coming back
            vault.writer.upsert([tx(f"k{k}", ts=(k + shift) * DAY, amount=str(shift), source=source) for k in keys])
        elif kind == "delete" and keys:
            vault.writer.delete(source=source, keys=[f"k{k}" for k in keys])
        elif kind == "purge":
            vault.writer.purge_tombstones(older_than_ms=2**62)
        elif kind == "erase":
            vault.writer.delete(source=source)
        assert rec.counts(vault.conn) == _recount(vault)
