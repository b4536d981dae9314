"""A tiny Singer tap for the bridge's edge cases; what it does is said by its config's "mode".

It writes one "events" stream of `count` records, a STATE every `batch` records, and
resumes after the bookmark of `--state`. Each run appends its argv and state to `calls`.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from datetime import UTC, datetime, timedelta

BASE = datetime(2026, 1, 1, tzinfo=UTC)
SCHEMA = {"type": "object", "properties": {"id": {"type": "string"}, "at": {"type": "string"}}}


def arg(name: str) -> str | None:
    argv = sys.argv[1:]
    return argv[argv.index(name) + 1] if name in argv else None


def emit(doc: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(doc) + "\n")
    sys.stdout.flush()


def main() -> int:
    with open(arg("--config") or "") as f:
        config = json.load(f)
    mode = config.get("mode", "normal")
    if "--discover" in sys.argv:
        stream = {"tap_stream_id": "events", "stream": "events", "schema": SCHEMA, "key_properties": ["id"]}
        stream["metadata"] = [{"breadcrumb": [], "metadata": {"replication-key": "at", "inclusion": "available"}}]
        other = {"tap_stream_id": "other", "stream": "other", "schema": SCHEMA, "metadata": []}
        print(json.dumps({"streams": [stream, other]}))
        return 0
    state = json.load(open(arg("--state") or "")) if arg("--state") else {}
    with open(arg("--catalog") or "") as f:
        catalog = json.load(f)
    with open(config["calls"], "a") as f:
        mode_bits = os.stat(arg("--config") or "").st_mode & 0o777
        call = {"state": state, "catalog": catalog, "config": arg("--config"), "mode": mode_bits, "pid": os.getpid()}
        f.write(json.dumps(call) + "\n")
    if mode == "fail":
        print(f"Traceback: auth refused for token {config['token']}", file=sys.stderr)
        return 3
    bookmark = state.get("bookmarks", {}).get("events", {}).get("at", "")
    emit({"type": "SCHEMA", "stream": "events", "schema": SCHEMA, "key_properties": ["id"]})
    print(f"INFO using token {config.get('token', '')} to read", file=sys.stderr, flush=True)
    count, batch = int(config.get("count", 10)), int(config.get("batch", 3))
    for i in range(count):
        at = (BASE + timedelta(minutes=i)).isoformat().replace("+00:00", "Z")
        if at <= bookmark:
            continue
        if mode == "kill" and i == int(config["kill_at"]) and not os.path.exists(config["marker"]):
            open(config["marker"], "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
        if mode == "malformed" and i == int(config["bad_at"]):
            sys.stdout.write('{"type": "RECORD", "stream": "events", "record": {"id": \n')
            sys.stdout.flush()
        if mode == "hang" and i == int(config["hang_at"]):
            time.sleep(3600)
        if mode == "schema" and i == count // 2:
            wider = {"type": "object", "properties": {**SCHEMA["properties"], "kind": {"type": "string"}}}
            emit({"type": "SCHEMA", "stream": "events", "schema": wider, "key_properties": ["id"]})
        record: dict[str, object] = {"id": f"e{i:04d}", "at": at, "amount": 1.25 + i}
        if mode == "schema" and i >= count // 2:
            record["kind"] = "wide"
        emit({"type": "RECORD", "stream": "events", "record": record})
        if (i + 1) % batch == 0:
            emit({"type": "STATE", "value": {"bookmarks": {"events": {"at": at}}}})
    emit({"type": "STATE", "value": {"bookmarks": {"events": {"at": "9999"}}}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
