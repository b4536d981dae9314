"""The alert for data that stopped arriving: off by default, on per rule, told once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from daemon.config import Config
from daemon.events import EventBus
from daemon.insights import arrivals
from daemon.operations.healthviews import tell_stopped
from daemon.sources import SourceStore
from daemon.times import to_ms
from daemon.vault import RecordIn, Vault

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


def steps(source: str, key: str, when: datetime) -> RecordIn:
    data = {
        "code": "55423-8",
        "code_system": "http://loinc.org",
        "value": "10",
        "unit": "steps",
        "start": when.isoformat(),
    }
    return RecordIn(source, "health.observation", key, to_ms(when), data)


def call(source: str, key: str, when: datetime) -> RecordIn:
    data = {"direction": "in", "number": "+4930123456", "started_at": when.isoformat(), "duration_s": 5}
    return RecordIn(source, "telecom.call", key, to_ms(when), data)


@pytest.fixture
def watched(vault: Vault) -> Vault:
    store = SourceStore(vault)
    for name in ("phone-push", "ring", "box", "old-import"):
        store.add(name, "x", "connector", {}, {})
    store.update("old-import", enabled=False)
    vault.writer.upsert(
        [
            steps("phone-push", "a", NOW - timedelta(days=5)),  # silent 5 days
            steps("ring", "b", NOW - timedelta(hours=3)),  # fine
            steps("old-import", "c", NOW - timedelta(days=300)),  # turned off: never told
            call("box", "d", NOW - timedelta(days=4)),
        ]
    )
    return vault


async def test_every_rule_is_off_by_default(watched: Vault, tmp_path: Path) -> None:
    assert [(r.category, r.on) for r in arrivals.rules(watched.conn)] == [("health", False), ("telecom", False)]
    assert await tell_stopped(Config(paths=watched.paths), watched, EventBus(), to_ms(NOW)) == []
    assert watched.conn.execute("SELECT count(*) FROM notifications").fetchone()[0] == 0


async def test_a_silent_source_is_told_once_through_the_channels(watched: Vault, tmp_path: Path) -> None:
    out = tmp_path / "told.jsonl"
    config = Config(paths=watched.paths, notify_command=f"cat >> {out}; echo >> {out}")
    arrivals.set_rule(watched, "health", True, days=3)
    told = await tell_stopped(config, watched, EventBus(), to_ms(NOW))
    assert [(t["source"], t["dataset"], t["days_silent"], t["delivered"]) for t in told] == [
        ("phone-push", "health.observation", 5, ["command"])
    ]
    sent = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    assert sent[0]["kind"] == "stopped" and "phone-push has sent no health.observation for 5 days" in sent[0]["message"]
    rows = watched.conn.execute("SELECT source, kind, delivered FROM notifications").fetchall()
    assert rows == [("phone-push", "stopped", "command")]
    # told once: an hour later nothing new
    assert await tell_stopped(config, watched, EventBus(), to_ms(NOW + timedelta(hours=1))) == []
    # the telecom rule, turned on with a week's patience, does not find the box silent yet
    arrivals.set_rule(watched, "telecom", True, days=7)
    assert await tell_stopped(config, watched, EventBus(), to_ms(NOW + timedelta(hours=2))) == []
    # data comes back, then stops again: told again
    watched.writer.upsert([steps("phone-push", "e", NOW + timedelta(hours=3))])
    assert await tell_stopped(config, watched, EventBus(), to_ms(NOW + timedelta(hours=4))) == []
    again = await tell_stopped(config, watched, EventBus(), to_ms(NOW + timedelta(days=5)))
    # five days on: the phone is silent again, the box past its week, the ring past 3 days
    assert [(t["source"], t["days_silent"]) for t in again] == [("box", 9), ("phone-push", 4), ("ring", 5)]


def test_bad_rules_are_refused(watched: Vault) -> None:
    with pytest.raises(arrivals.AlertRuleError, match="health, telecom"):
        arrivals.set_rule(watched, "bank", True)
    with pytest.raises(arrivals.AlertRuleError):
        arrivals.set_rule(watched, "health", True, days=0)
    assert not any(r.on for r in arrivals.rules(watched.conn))
