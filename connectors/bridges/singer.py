"""Any Singer tap as a selfdata source.

The user installs the tap in a virtualenv of its own (pipx) and names its executable. Each
run: the config is written to a private temporary folder, removed after; `--discover` gives
the catalog, the chosen streams are selected; the tap runs with `--catalog` (and `--state`
from the last checkpoint) and its stdout is read line by line. RECORD messages become
records, STATE messages checkpoints (committed with the records before them). A tap that
crashes is retried once, then the run fails with its last stderr lines, redacted.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..sdk import Checkpoint, Connector, Context, Fatal, Field, Item, Retryable, Secret, datasets
from .process import ChildProcess, IdleTimeout, child_env
from .singermessages import BadMessage, RecordMapper, Stream, StreamMap, parse_line, parse_mapping, stream_of, tap_word

PROGRESS_EVERY = 1000


def json_object(value: Any) -> str | None:
    """What is wrong with a setting that must hold a JSON object (a bridge's config), if anything."""
    try:
        doc = json.loads(value)
    except ValueError as err:
        return f"not JSON: {err}"
    return None if isinstance(doc, dict) else 'must be a JSON object, e.g. {"api_url": "https://..."}'


def _mapping(value: Any) -> str | None:
    try:
        parse_mapping(value)
    except Fatal as err:
        return str(err)
    return None


def _positive(value: Any) -> str | None:
    return None if int(value) > 0 else "must be more than 0"


def leaf_strings(value: Any) -> Iterator[str]:
    """Every string in a JSON value: each is redacted from what the tap writes on stderr."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from leaf_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from leaf_strings(v)


@dataclass(frozen=True)
class TapSettings:
    executable: str
    tap: str  # the word in dataset names
    config: dict[str, Any]
    secret_values: tuple[str, ...]
    streams: tuple[str, ...]
    mapping: dict[str, StreamMap]
    idle_timeout_s: float


def private_file(path: Path, doc: Any) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(doc, f)
    return path


def select(catalog: Any, wanted: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, str]]:
    """The catalog with the wanted streams (all when none named) selected, and their replication keys."""
    if not isinstance(catalog, dict) or not isinstance(catalog.get("streams"), list):
        raise Fatal('the tap\'s --discover answered no catalog (an object with "streams")')
    entries = [s for s in catalog["streams"] if isinstance(s, dict)]
    names = {str(s.get("tap_stream_id") or s.get("stream")) for s in entries}
    unknown = [w for w in wanted if w not in names and w not in {str(s.get("stream")) for s in entries}]
    if unknown:
        raise Fatal(f"the tap has no stream(s) {', '.join(unknown)}; it has: {', '.join(sorted(names)) or 'none'}")
    replication: dict[str, str] = {}
    for entry in entries:
        ids = {str(entry.get("tap_stream_id")), str(entry.get("stream"))}
        chosen = not wanted or bool(ids & set(wanted))
        metadata = entry.setdefault("metadata", [])
        if not any(m.get("breadcrumb") == [] for m in metadata if isinstance(m, dict)):
            metadata.append({"breadcrumb": [], "metadata": {}})
        for m in metadata:
            if not isinstance(m, dict) or not isinstance(m.get("metadata"), dict):
                continue
            if m.get("breadcrumb") == []:
                m["metadata"]["selected"] = chosen
                key = m["metadata"].get("replication-key")
                if isinstance(key, str) and chosen:
                    replication[str(entry.get("stream") or entry.get("tap_stream_id"))] = key
            elif chosen and m["metadata"].get("inclusion") != "unsupported":
                m["metadata"]["selected"] = True
        if chosen:
            entry["selected"] = True  # older taps read the stream's own flag
            if isinstance(entry.get("replication_key"), str):
                replication.setdefault(str(entry.get("stream")), entry["replication_key"])
    return catalog, replication


class SingerTap(Connector):
    name = "singer"
    title = "Singer tap"
    category = "other"
    datasets = ()  # singer.<tap>.<stream>, or the normalised datasets the mapping names
    schedule = "daily"
    description = (
        "Runs a Singer tap you installed (pipx install tap-...): its streams become singer.<tap>.<stream> "
        "datasets, or normalised ones through a mapping; its STATE messages are the checkpoints."
    )
    fields = (
        Field("tap", "The tap's executable, e.g. /home/me/.local/bin/tap-github", type="path"),
        Field("config", "The tap's settings that are not secret, as a JSON object", required=False, check=json_object),
        Secret("secret_config", "The tap's secret settings (tokens, passwords) as a JSON object", required=False),
        Field("streams", "The streams to read, comma-separated (default: every stream the tap offers)", required=False),
        Field(
            "mapping",
            'Streams to normalised datasets, as JSON: {"STREAM": {"dataset": "bank.transaction", "ts": "date", '
            '"fields": {"amount": "amount", "currency": {"value": "EUR"}}}}',
            required=False,
            check=_mapping,
        ),
        Field("tap_name", "The word naming the tap in its datasets (default: the executable's name)", required=False),
        Field(
            "idle_timeout_s", "Stop a tap that sends nothing for this long", type="int", default=600, check=_positive
        ),
    )

    def __init__(self) -> None:
        self.crashes = 0  # within one run: a crash is retried once

    def declares(self, dataset: str) -> bool:
        return dataset.startswith("singer.") or datasets.schema_of(dataset) is not None

    def settings_of(self, ctx: Context) -> TapSettings:
        s = ctx.settings
        executable = os.path.expanduser(str(s.get("tap") or ""))
        if not executable:
            raise Fatal(f"the source {ctx.source!r} names no tap; set it with: selfdata source edit {ctx.source}")
        if os.sep not in executable:
            executable = shutil.which(executable) or executable
        config = json.loads(s.get("config") or "{}")
        secret_text = ctx.secrets.get("secret_config") or "{}"
        problem = json_object(secret_text)
        if problem:  # the message never repeats the text: it is secret
            raise Fatal(f"the source {ctx.source!r}: secret_config {problem.split(':')[0]}")
        secret_config = json.loads(secret_text)
        streams = tuple(w.strip() for w in str(s.get("streams") or "").split(",") if w.strip())
        return TapSettings(
            executable=executable,
            tap=tap_word(str(s.get("tap_name") or executable)),
            config={**config, **secret_config},
            secret_values=tuple(leaf_strings(secret_config)),
            streams=streams,
            mapping=parse_mapping(s.get("mapping")),
            idle_timeout_s=float(s.get("idle_timeout_s") or 600),
        )

    def _process(self, ctx: Context, conf: TapSettings, *args: str) -> ChildProcess:
        return ChildProcess(
            [conf.executable, *args],
            what=f"the tap {os.path.basename(conf.executable)}",
            log=ctx.log,
            secrets=lambda: [*conf.secret_values, *ctx.secrets.values()],
            env=child_env(),
        )

    @asynccontextmanager
    async def _folder(self, conf: TapSettings) -> AsyncIterator[Path]:
        folder = Path(tempfile.mkdtemp(prefix="selfdata-singer-"))  # 0700
        try:
            private_file(folder / "config.json", conf.config)
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    async def discover(self, ctx: Context, conf: TapSettings, folder: Path) -> tuple[dict[str, Any], dict[str, str]]:
        proc = self._process(ctx, conf, "--config", str(folder / "config.json"), "--discover")
        try:
            await proc.start()
            try:
                out = await proc.read_all(conf.idle_timeout_s)
            except TimeoutError:
                raise Retryable(f"{proc.what} --discover answered nothing in {conf.idle_timeout_s:.0f} s") from None
            code = await proc.wait()
        finally:
            await proc.close()
        if code != 0:
            raise Fatal(f"{proc.what} --discover {_ended(code)}: {proc.last_stderr() or 'it wrote nothing on stderr'}")
        try:
            catalog = json.loads(out)
        except ValueError:
            raise Fatal(f"{proc.what} --discover answered something that is not JSON") from None
        return select(catalog, conf.streams)

    async def check(self, ctx: Context) -> None:
        conf = self.settings_of(ctx)
        async with self._folder(conf) as folder:
            await self.discover(ctx, conf, folder)

    async def fetch(self, ctx: Context, state: dict[str, Any]) -> AsyncIterator[Item]:
        conf = self.settings_of(ctx)
        async with self._folder(conf) as folder:
            catalog, replication = await self.discover(ctx, conf, folder)
            args = [
                "--config",
                str(folder / "config.json"),
                "--catalog",
                str(private_file(folder / "catalog.json", catalog)),
            ]
            if isinstance(state.get("singer_state"), dict):
                args += ["--state", str(private_file(folder / "state.json", state["singer_state"]))]
            proc = self._process(ctx, conf, *args)
            mapper = RecordMapper(conf.tap, conf.mapping, ctx.now())
            streams: dict[str, Stream] = {}
            count = 0
            try:
                await proc.start()
                async for number, raw in proc.lines(conf.idle_timeout_s):
                    message = parse_line(number, raw)
                    if message is None:
                        continue
                    if message.type == "RECORD":
                        stream = streams.get(message.stream)
                        if stream is None:
                            raise BadMessage(
                                f"the tap's output line {number}: a RECORD of {message.stream!r} before its SCHEMA"
                            )
                        yield mapper.record(message, stream)
                        count += 1
                        if count % PROGRESS_EVERY == 0:
                            ctx.progress(count, None, f"{count:,} records from the tap")
                    elif message.type == "STATE":
                        yield Checkpoint({"singer_state": message.body["value"]})
                    elif message.type == "SCHEMA":
                        streams[message.stream] = stream_of(message, replication)
                    elif message.type == "BATCH":
                        raise Fatal(
                            f"the tap's output line {number}: BATCH messages are not read; turn batch off in its config"
                        )
                code = await proc.wait()
            except IdleTimeout:
                raise self._crash(proc, f"sent nothing for {conf.idle_timeout_s:.0f} s and was stopped") from None
            finally:
                await proc.close()
            for name in sorted(mapper.untimed):
                ctx.log.info(
                    "stream %s has no replication key or ts field: its records carry the time they were read", name
                )
            if code != 0:
                raise self._crash(proc, _ended(code))

    def _crash(self, proc: ChildProcess, what: str) -> Exception:
        self.crashes += 1
        tail = proc.last_stderr()
        message = f"{proc.what} {what}" + (f"; it said: {tail}" if tail else "")
        if self.crashes == 1:
            return Retryable(message + " (trying once more from the last state)")
        return Fatal(message)


def _ended(code: int) -> str:
    return f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
