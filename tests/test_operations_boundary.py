"""The one command boundary: typed parameters decoded once, faults reported as faults."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from daemon.operations import dispatch
from daemon.operations.registry import Operation, OperationError
from daemon.operations.sources import AddSource
from daemon.plugins import Registry
from daemon.vault import Vault

from .conftest import Cli


def test_a_connector_bug_in_check_is_reported_as_a_fault_and_logged(
    initialised: Path, run: Cli, registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        result = run(
            "source",
            "add",
            "meter",
            "test-reply-bug",
            "--set",
            "url=http://127.0.0.1:9",
            "--set",
            "token=t0ken-value",
            ok=False,
        )
    assert result.exit_code == 1
    assert "needs the parameter" not in result.output
    assert "KeyError" in result.output and "meter_list" in result.output, result.output
    assert "test-reply-bug failed in check()" in result.output
    logged = [r for r in caplog.records if r.exc_info]
    assert logged and isinstance(logged[0].exc_info[1], KeyError), caplog.text  # type: ignore[index]
    assert "meter" not in run("source", "list").output.split("\n", 1)[-1]


def test_parameters_are_checked_once_by_name_and_type() -> None:
    add = dispatch.get("source.add")
    with pytest.raises(OperationError, match="needs the parameter 'connector'"):
        add.decode({"name": "x"})
    with pytest.raises(OperationError, match="takes no parameter 'shedule'"):
        add.decode({"name": "x", "connector": "ofx", "shedule": "daily"})
    with pytest.raises(OperationError, match="'check' must be true or false, not str"):
        add.decode({"name": "x", "connector": "ofx", "check": "yes"})
    with pytest.raises(OperationError, match="'schedule' must be a string or null, not int"):
        add.decode({"name": "x", "connector": "ofx", "schedule": 6})
    with pytest.raises(OperationError, match="unknown operation 'source.ad'"):
        dispatch.get("source.ad")
    assert add.decode({"name": "x", "connector": "ofx", "values": {"a": 1}}) == AddSource("x", "ofx", {"a": 1})


def test_a_parameter_object_round_trips_through_json() -> None:
    for op in dispatch.OPERATIONS.values():
        fields = op.params.__dataclass_fields__  # type: ignore[attr-defined]
        required = {n: f for n, f in fields.items() if f.default is f.default_factory}  # both MISSING
        assert all(n.isidentifier() for n in fields), op.name
        if not required:
            params = op.params()
            assert op.decode(Operation.encode(params)) == params, op.name


def test_a_refused_parameter_is_one_line_not_a_traceback(initialised: Path, run: Cli) -> None:
    result = run("files", "get", "12", "relative/path", ok=False)
    assert result.exit_code == 1
    assert result.output.startswith("error: ") and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("header", "error"),
    [
        ("[1, 2]", "the parameters must be a JSON object"),
        ("{not json", "the parameters must be a JSON object"),
        ('{"name": 3}', "'name' must be a string, not int"),
    ],
)
async def test_the_admin_socket_answers_bad_parameters_with_their_fault(
    vault: Vault, registry: Registry, header: str, error: str
) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from daemon.admin.server import admin_app

    from .test_api import serve

    async with serve(vault, registry) as api, TestClient(TestServer(admin_app(api.services))) as admin:
        async with admin.post("/ops/source.show", headers={"X-Selfdata-Params": header}) as r:
            body = await r.read()
    assert error in body.decode(), body
