"""Push ingest: a phone app posts its data every hour into one source, under a grant."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.testing.generators.healthautoexport import payload
from daemon import accesslog, plugins
from daemon.api import push as push_module
from daemon.events import RecordsChanged
from daemon.plugins import Registry
from daemon.rights.erase import erase
from daemon.sources import SourceStore
from daemon.vault import Vault

from .test_api import Api, serve

MORNING = datetime(2025, 3, 1, 8, tzinfo=UTC)
PHONE_SCOPES = ["write:health.*@iphone", "read:health.*"]


@pytest.fixture
async def api(vault: Vault) -> AsyncIterator[Api]:
    async with serve(vault, plugins.load()) as api:
        _, api.token = api.grants.create_token("Health Auto Export", "sync my iPhone's health data", PHONE_SCOPES)
        yield api


async def post(api: Api, path: str, body: Any, token: str | None = None, **headers: str) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    hdrs = {"Content-Type": "application/json", **headers}
    if token != "":
        hdrs.update(api.auth(token))
    async with api.client.post(path, data=data, headers=hdrs) as r:
        return r.status, await r.json()


def stored(api: Api, source: str = "iphone") -> int:
    return int(
        api.services.vault.conn.execute(
            "SELECT count(*) FROM records WHERE source=? AND NOT deleted", (source,)
        ).fetchone()[0]
    )


HAE = "/api/v1/push/iphone?format=health-auto-export"


async def test_a_phone_pushing_every_hour_stores_each_point_once(api: Api) -> None:
    seen = 0
    for hour in range(1, 4):  # the automation sends the day so far, every hour
        status, body = await post(api, HAE, payload(MORNING, hours=hour))
        assert status == 200, body
        assert body["unchanged"] == seen and body["changed"] == 0
        seen += body["new"]
        assert body["source"] == "iphone" and set(body["datasets"]) <= {"health.observation", "health.workout"}
    status, again = await post(api, HAE, payload(MORNING, hours=3))
    assert (again["new"], again["changed"], again["unchanged"]) == (0, 0, seen)
    assert stored(api) == seen
    src = SourceStore(api.services.vault).get("iphone")
    assert (src.connector, src.kind, src.health) == ("health-auto-export", "importer", "ok")
    runs = api.services.vault.conn.execute("SELECT count(*) FROM runs WHERE source='iphone'").fetchone()[0]
    assert runs == 4  # each push is a run in the source's log
    status, page = await api.get("/api/v1/datasets/health.observation/records?source=iphone&limit=5")
    assert status == 200 and page["records"][0]["data"]["device"]


async def test_normalised_records_with_and_without_keys(api: Api) -> None:
    obs = {"code": "8867-4", "code_system": "http://loinc.org", "value": "61", "unit": "/min",
           "start": "2025-03-01T07:00:00+01:00"}  # fmt: skip
    body = {"records": [
        {"dataset": "health.observation", "data": obs},
        {"dataset": "health.observation", "key": "w1", "ts": "2025-03-01T06:10:00Z", "data": {**obs, "value": "64"}},
    ]}  # fmt: skip
    status, first = await post(api, "/api/v1/push/iphone", body)
    assert status == 200 and first["new"] == 2, first
    moved = {"records": [{"dataset": "health.observation", "data": {**obs, "start": "2025-03-01T06:00:00Z"}}]}
    status, second = await post(api, "/api/v1/push/iphone", moved)  # the same instant, another offset
    assert status == 200 and second["new"] == 0 and stored(api) == 2
    status, refused = await post(api, "/api/v1/push/iphone", {"records": [{"dataset": "health.workout", "data": {}}]})
    assert status == 400 and "records[0]" in refused["error"]["message"] and stored(api) == 2


async def test_no_token_a_read_token_and_another_sources_token_are_refused(api: Api) -> None:
    body = payload(MORNING, hours=1)
    status, answer = await post(api, HAE, body, token="")
    assert status == 401 and answer["error"]["code"] == "no_token"
    status, answer = await post(api, HAE, body, token="sd_" + "x" * 43)
    assert status == 401
    _, reader = api.grants.create_token("dashboard", "show my steps", ["read:health.*"])
    status, answer = await post(api, HAE, body, token=reader)
    assert status == 403 and "write:<datasets>@iphone" in answer["error"]["message"]
    _, watch = api.grants.create_token("watch app", "sync my watch", ["write:health.*@watch"])
    status, answer = await post(api, HAE, body, token=watch)
    assert status == 403 and answer["error"]["code"] == "scope"
    _, narrow = api.grants.create_token("scale", "my weight", ["write:health.observation@iphone"])
    status, answer = await post(api, HAE, body, token=narrow)  # the format writes workouts too
    assert status == 403 and "health.workout" in answer["error"]["message"]
    bank = {"records": [{"dataset": "bank.transaction", "key": "t", "ts": "2025-03-01T00:00:00Z", "data": {}}]}
    status, answer = await post(api, "/api/v1/push/iphone", bank)
    assert status == 403 and answer["error"]["message"] == "records[0]: this token may not push bank.transaction"
    assert stored(api) == 0 and SourceStore(api.services.vault).find("iphone") is None


async def test_a_revoked_token_stops_pushing(api: Api) -> None:
    grant, token = api.grants.create_token("old phone", "sync", ["write:health.*@iphone"])
    assert (await post(api, HAE, payload(MORNING, hours=1), token=token))[0] == 200
    api.grants.revoke(grant.id)
    status, _ = await post(api, HAE, payload(MORNING, hours=2), token=token)
    assert status == 401


async def test_a_bad_payload_stores_nothing_and_keeps_what_was_there(api: Api) -> None:
    assert (await post(api, HAE, payload(MORNING, hours=1)))[0] == 200
    before = stored(api)
    bad = payload(MORNING, hours=2)
    bad["data"]["metrics"][0]["data"][-1]["date"] = "tomorrow"
    status, answer = await post(api, HAE, bad)
    assert status == 400 and answer["error"]["code"] == "bad_payload"
    assert "request-body: data.metrics[0] (step_count)" in answer["error"]["message"]
    assert "Nothing of this push was stored" in answer["error"]["message"]
    assert stored(api) == before
    status, answer = await post(api, HAE, b"{not json")
    assert status == 400 and "not valid JSON" in answer["error"]["message"]
    status, answer = await post(api, "/api/v1/push/iphone?format=nope", {})
    assert status == 400 and answer["error"]["code"] == "bad_format"
    status, answer = await post(api, "/api/v1/push/iphone", {"records": []}, **{"Content-Type": "text/plain"})
    assert status == 415
    assert stored(api) == before and SourceStore(api.services.vault).get("iphone").health == "ok"


async def test_a_push_over_the_limit_is_refused(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(push_module, "PUSH_LIMIT", 10_000)
    status, answer = await post(api, HAE, payload(MORNING, hours=3))
    assert status == 413 and "at most" in answer["error"]["message"] and stored(api) == 0
    assert not list((api.services.paths.state_dir / "push").iterdir())  # no body left behind


async def test_a_source_fed_by_another_importer_is_not_mixed(api: Api) -> None:
    SourceStore(api.services.vault).add("iphone", "apple-health", "importer", {}, {})
    status, answer = await post(api, HAE, payload(MORNING, hours=1))
    assert status == 409 and "fed by apple-health" in answer["error"]["message"]


async def test_the_access_log_and_events_show_who_wrote(api: Api) -> None:
    seen: list[Any] = []
    queue = api.services.events.subscribe()
    await post(api, HAE, payload(MORNING, hours=1))
    while not queue.empty():
        seen.append(queue.get_nowait())
    changed = [e for e in seen if isinstance(e, RecordsChanged)]
    assert changed and changed[0].source == "iphone"
    api.services.access.flush()
    rows = accesslog.query(api.services.vault, app="Health Auto Export")
    assert [(r.endpoint, r.purpose) for r in rows] == [("push", "sync my iPhone's health data")]
    assert rows[0].records > 0 and "health.observation" in rows[0].dataset
    grant = next(g for g in api.grants.all() if g.app == "Health Auto Export")
    assert grant.reads == {} and grant.writes == {rows[0].dataset: rows[0].records}


async def test_an_erased_source_is_gone_and_the_old_token_does_not_refill_it(api: Api) -> None:
    assert (await post(api, HAE, payload(MORNING, hours=2)))[0] == 200
    erase(api.services.vault, source="iphone")
    assert stored(api) == 0 and SourceStore(api.services.vault).find("iphone") is None
    status, page = await api.get("/api/v1/datasets/health.observation/records?source=iphone")
    assert status == 200 and page["records"] == []
    status, answer = await post(api, HAE, payload(MORNING, hours=3))
    assert status == 403 and answer["error"]["code"] == "source_erased" and stored(api) == 0
    # The user approves the phone again: a new consent, and pushes resume.
    later = api.grants.create_token("Health Auto Export", "sync my iPhone", ["write:health.*@iphone"])[1]
    status, answer = await post(api, HAE, payload(MORNING, hours=1), token=later)
    assert status == 200 and answer["new"] > 0


def test_scopes_name_a_source(registry: Registry) -> None:
    from daemon.grants import GrantError, check_scopes

    assert check_scopes(["write:health.*@iphone"]) == ["write:health.*@iphone"]
    for bad in ("write:health.*@", "write:@iphone", "write:health.*@Phone!", "write:*"):
        with pytest.raises(GrantError):
            check_scopes([bad])


async def test_what_the_format_carries_beyond_the_normalised_datasets_comes_with_it(api: Api) -> None:
    body = payload(MORNING, hours=1)
    body["data"]["stateOfMind"] = [{"id": "M1", "kind": "momentaryEmotion", "start": "2025-03-01 09:10:00 +0100"}]
    status, answer = await post(api, HAE, body)
    assert status == 200 and "health_auto_export.state_of_mind" in answer["datasets"]


@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(
        ["dataset", "key", "ts", "data", "code", "start", "x"]), inner, max_size=4),
    max_leaves=10,
))  # fmt: skip
def test_any_pushed_record_is_checked_or_refused_with_a_reason(item: Any) -> None:
    from connectors.records import map_item
    from connectors.sdk import datasets

    try:
        record = map_item(item)
    except ValueError as err:
        assert str(err)
    else:
        assert record.ts.tzinfo is not None and datasets.schema_of(record.dataset) is not None
