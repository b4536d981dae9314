"""`selfdata health ...` and `selfdata telecom ...` as a user types them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import Cli


def write(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def steps(source: str, hour: int, value: int) -> dict[str, Any]:
    at = f"2026-03-10T{hour:02d}:00:00+00:00"
    data = {"code": "55423-8", "code_system": "http://loinc.org", "value": str(value), "unit": "steps", "start": at}
    return {"source": source, "dataset": "health.observation", "key": f"{source}-{hour}", "ts": at, "data": data}


def test_health_trends_and_the_priority(initialised: Any, run: Cli, tmp_path: Path) -> None:
    lines = [steps("watch", h, 1000) for h in (9, 10)] + [steps("phone", h, 800) for h in (9, 10, 11)]
    run("import-jsonl", str(write(tmp_path / "s.jsonl", lines)))
    out = run("health", "trends", "--days", "1", "--end", "2026-03-10", "--zone", "UTC").output
    assert "4400.00" in out and "watch" in out and "phone" in out
    assert "No priorities" in run("health", "priority").output
    out = run("health", "priority", "55423-8", "watch", "phone").output
    assert "55423-8: watch > phone" in out
    result = json.loads(run("health", "trends", "--days", "1", "--end", "2026-03-10", "--zone", "UTC", "--json").output)
    steps_ = next(s for s in result["series"] if s["key"] == "steps")
    assert steps_["days"][0]["value"] == "2800.00" and steps_["priority"] == ["watch", "phone"]
    assert "watch > phone" in run("health", "priority").output
    assert "Every source counts again" in run("health", "priority", "55423-8", "--clear").output
    bad = run("health", "priority", "55423-8", "watch", "watch", ok=False)
    assert bad.exit_code == 1 and "named once" in bad.output
    assert "a health source silent for 2 days" in run("health", "alert", "on", "--days", "2").output
    assert "Alert off" in run("health", "alert", "off").output


def test_telecom_summary_and_the_plan(initialised: Any, run: Cli, tmp_path: Path) -> None:
    calls = [
        ("c1", "2026-02-02T09:00:00+00:00", "in", "06 12 34 56 78", "Alice", 120),
        ("c2", "2026-02-02T10:00:00+00:00", "missed", "+33612345678", None, 0),
    ]
    lines = [
        {
            "key": k,
            "ts": t,
            "data": {"direction": d, "number": n, "started_at": t, "duration_s": s, **({"name": name} if name else {})},
        }
        for k, t, d, n, name, s in calls
    ]
    run("import-jsonl", str(write(tmp_path / "c.jsonl", lines)), "--source", "box", "--dataset", "telecom.call")
    usage = {
        "start": "2026-02-01T00:00:00+00:00",
        "end": "2026-02-02T00:00:00+00:00",
        "bytes_up": 10**9,
        "bytes_down": 5 * 10**9,
    }
    run(
        "import-jsonl",
        str(write(tmp_path / "u.jsonl", [{"key": "u", "ts": usage["start"], "data": usage}])),
        "--source",
        "box",
        "--dataset",
        "telecom.usage",
    )
    assert (
        "Data cap: 10.0 GB a month; home region: FR" in run("telecom", "plan", "--cap", "10GB", "--region", "fr").output
    )
    out = run("telecom", "summary", "--days", "7", "--zone", "UTC").output
    assert "1 calls in, 0 out, 1 missed" in out
    assert "Alice" in out and "+33612345678" in out and "60.0%" in out
    assert run("telecom", "plan", "--cap", "lots", ok=False).exit_code == 1
    assert "Data cap: none" in run("telecom", "plan", "--no-cap").output
