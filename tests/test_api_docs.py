"""docs/api.md's curl examples, run against a real `selfdata run`."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

from .conftest import ROOT, Daemon

DOC = ROOT / "docs" / "api.md"


def test_every_curl_example_works_against_the_daemon(daemon: Daemon, tmp_path: Path) -> None:
    (daemon.home / "config.toml").write_text(
        (daemon.home / "config.toml").read_text().replace("port = 7350", "port = 0")
    )
    daemon.start()
    readings = tmp_path / "r.jsonl"
    lines = [
        {
            "key": f"m:{h}",
            "ts": f"2026-10-01T{h:02d}:00:00+00:00",
            "data": {
                "meter_id": "m",
                "commodity": "electricity",
                "direction": "consumption",
                "start": f"2026-10-01T{h:02d}:00:00+00:00",
                "end": f"2026-10-01T{h:02d}:30:00+00:00",
                "quantity": "0.5",
                "unit": "kWh",
            },
        }
        for h in range(24)
    ]
    readings.write_text("".join(json.dumps(x) + "\n" for x in lines))
    daemon.cli("import-jsonl", str(readings), "--source", "meter", "--dataset", "energy.reading")
    token = daemon.cli(
        "token",
        "create",
        "--app",
        "docs",
        "--purpose",
        "run the examples",
        "--scope",
        "read:*",
        "--scope",
        "write:app.dashboard.*",
        "--scope",
        "write:health.*@scale",
        "--scope",
        "write:health.*@iphone",
    ).stdout.strip()
    api = daemon.json("status")["daemon"]["api_url"]
    grant = subprocess.run(
        [
            "curl",
            "-sf",
            "-X",
            "POST",
            f"{api}/api/v1/grants",
            "-H",
            "Content-Type: application/json",
            "-d",
            '{"app": "x", "purpose": "the poll example", "scopes": ["read:*"]}',
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    env = {
        **daemon.env,
        "SELFDATA_API": api,
        "SELFDATA_TOKEN": token,
        "SELFDATA_REQUEST_ID": json.loads(grant.stdout)["id"],
    }
    blocks = re.findall(r"```sh\n(.*?)```", DOC.read_text(), flags=re.S)
    curls = [b for b in blocks if b.lstrip().startswith("curl")]
    assert len(curls) >= 8
    for block in curls:
        result = subprocess.run(["bash", "-c", block], env=env, capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, (block, result.stdout, result.stderr)
        out = result.stdout.strip()
        if "--max-time" not in block:
            first = json.loads(out.splitlines()[0])
            assert first.get("ok", True) is True, (block, out)
    records = json.loads(
        subprocess.run(
            ["bash", "-c", next(c for c in curls if "records?from=" in c)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )["records"]
    assert len(records) == 23  # "to" is midnight at +01:00, 23:00 UTC: the last hourly reading is after it

    def run(marker: str) -> dict[str, Any]:
        block = next(c for c in curls if marker in c)
        return json.loads(subprocess.run(["bash", "-c", block], env=env, capture_output=True, check=True).stdout)

    filtered = run("quantity__gte=0.5")["records"]
    assert len(filtered) == 5 and {r["data"]["meter_id"] for r in filtered} == {"m"}
    days = run("bucket=day")["rows"]
    # local days in Paris: 22 readings on 1 October (from midnight +02:00), 2 on the 2nd
    assert [(r["start"], r["count"], r["value"], r["unit"]) for r in days] == [
        ("2026-10-01T00:00:00+02:00", 22, "11.0", "kWh"),
        ("2026-10-02T00:00:00+02:00", 2, "1.0", "kWh"),
    ]
    hours = run("bucket=hour")["rows"]
    assert [r["start"] for r in hours] == [f"2026-10-01T0{h}:00:00+02:00" for h in (2, 3, 4)]
