"""Contract tests every connector and importer gets for free.

    from connectors.testing.contract import ConnectorContract

    class TestMyBank(ConnectorContract):
        connector = MyBank
        def vendor(self): return FakeServer(my_fake_bank_app())
        def settings(self, vendor): return {"base_url": vendor.url}
        def secrets(self, vendor): return {"token": "t0k3n"}

pytest collects `TestMyBank` and runs every test below against the fake vendor.
"""

from __future__ import annotations

import asyncio
import io
import os
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

from ..sdk.connector import Connector, Importer
from ..sdk.context import Context
from ..sdk.errors import ImportFailed
from ..sdk.fields import parse_settings
from ..sdk.http import Http
from ..sdk.records import Record
from .fakeserver import FakeServer
from .harness import import_file, read_file, run_connector
from .memory import MemoryStore

TIMEOUT_S = 60


class ConnectorContract:
    connector: ClassVar[type[Connector]]
    now: ClassVar[datetime] = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    # Checkpoints the sample run must yield, so that resuming is really exercised.
    min_checkpoints: ClassVar[int] = 2
    # Declared datasets the fake vendor has no data for.
    datasets_without_sample: ClassVar[tuple[str, ...]] = ()

    def vendor(self) -> FakeServer:
        raise NotImplementedError("return a FakeServer answering like the vendor")

    def settings(self, vendor: FakeServer) -> dict[str, Any]:
        return {}

    def secrets(self, vendor: FakeServer) -> dict[str, str]:
        return {}

    def state(self, vendor: FakeServer) -> dict[str, Any]:
        """The state a source starts with (after `source add` or `authorize`)."""
        return {}

    def context(self, vendor: FakeServer) -> Context:
        given = {**self.settings(vendor), **self.secrets(vendor)}
        declared = {f.name for f in self.connector.fields}
        settings, secrets = parse_settings(self.connector.fields, {k: v for k, v in given.items() if k in declared})
        secrets.update({k: v for k, v in self.secrets(vendor).items() if k not in declared})
        return Context(source="contract", settings=settings, secrets=secrets, http=Http(), now=lambda: self.now)

    @asynccontextmanager
    async def running_vendor(self) -> AsyncIterator[FakeServer]:
        server = self.vendor()
        await server.start()
        try:
            yield server
        finally:
            await server.stop()

    async def _run(self, server: FakeServer, **kwargs: Any) -> Any:
        ctx = self.context(server)
        kwargs.setdefault("state", self.state(server))
        try:
            async with asyncio.timeout(TIMEOUT_S):
                return await run_connector(self.connector(), ctx, **kwargs)
        finally:
            await ctx.http.close()

    @pytest.mark.asyncio
    async def test_check_passes(self) -> None:
        async with self.running_vendor() as server:
            ctx = self.context(server)
            try:
                async with asyncio.timeout(TIMEOUT_S):
                    await self.connector().check(ctx)
            finally:
                await ctx.http.close()

    @pytest.mark.asyncio
    async def test_every_dataset_yields_valid_records(self) -> None:
        async with self.running_vendor() as server:
            out = await self._run(server)
        seen = {r.dataset for r in out.yielded}
        missing = set(self.connector.datasets) - seen - set(self.datasets_without_sample)
        assert not missing, f"no records of {sorted(missing)} from the fake vendor"
        assert out.checkpoints >= self.min_checkpoints, "the sample run should checkpoint (page) more"

    @pytest.mark.asyncio
    async def test_keys_are_unique_and_stable_across_runs(self) -> None:
        async with self.running_vendor() as server:
            first = await self._run(server)
        async with self.running_vendor() as server:
            second = await self._run(server)
        content: dict[tuple[str, str], Any] = {}
        for r in first.yielded:
            ident = (r.dataset, r.key)
            if r.dataset not in self.connector.sampled_datasets:
                assert content.setdefault(ident, r.data) == r.data, f"key {ident} yielded twice with other content"
        sampled = self.connector.sampled_datasets
        assert first.store.view(sampled) == second.store.view(sampled)

    @pytest.mark.asyncio
    async def test_second_run_adds_nothing(self) -> None:
        async with self.running_vendor() as server:
            first = await self._run(server)
            before = first.store.view(self.connector.sampled_datasets)
            again = await self._run(server, state=first.state, store=first.store)
        assert again.store.view(self.connector.sampled_datasets) == before

    @pytest.mark.asyncio
    async def test_resumed_run_loses_nothing(self) -> None:
        sampled = self.connector.sampled_datasets
        async with self.running_vendor() as server:
            whole = await self._run(server)
        async with self.running_vendor() as server:
            cut = await self._run(server, stop_after_checkpoints=1)
            if cut.completed:
                pytest.skip("the sample run finished before its first checkpoint")
            resumed = await self._run(server, state=cut.state, store=cut.store)
        assert resumed.completed
        assert resumed.store.view(sampled) == whole.store.view(sampled)


def _other_formats(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "hello")
    files = {
        "data.json": b'{"hello": "world", "items": [1, 2, 3]}\n',
        "table.csv": b"id,name,value\n1,apple,3\n2,pear,4\n",
        "noise.bin": os.urandom(4096),
        "empty.txt": b"",
        "page.html": b"<!doctype html><html><head><title>x</title></head><body>hi</body></html>",
        "other.xml": b'<?xml version="1.0" encoding="UTF-8"?>\n<catalog><book id="1"/></catalog>\n',
        "archive.zip": buf.getvalue(),
        "notes.txt": b"Shopping list\nmilk\neggs\n",
    }
    out = []
    for name, data in files.items():
        p = folder / name
        p.write_bytes(data)
        out.append(p)
    return out


def head_of(path: Path, size: int = 65536) -> bytes:
    with path.open("rb") as f:
        return f.read(size)


class ImporterContract:
    importer: ClassVar[type[Importer]]
    import_settings: ClassVar[dict[str, Any]] = {}
    datasets_without_sample: ClassVar[tuple[str, ...]] = ()

    def samples(self, folder: Path) -> list[Path]:
        raise NotImplementedError("write sample files with the project's generators into folder")

    def other_formats(self, folder: Path) -> list[Path]:
        return _other_formats(folder)

    def corrupt(self, sample: Path, folder: Path) -> Path:
        """A damaged copy of `sample`: by default cut off at 60%, mid-structure."""
        data = sample.read_bytes()
        out = folder / f"corrupt-{sample.name}"
        out.write_bytes(data[: int(len(data) * 0.6)])
        return out

    def test_sniff_accepts_the_samples(self, tmp_path: Path) -> None:
        for sample in self.samples(tmp_path / "samples"):
            assert self.importer.sniff(head_of(sample), sample.name), f"{sample.name} not recognised"

    def test_sniff_rejects_other_formats(self, tmp_path: Path) -> None:
        for other in self.other_formats(tmp_path / "other"):
            assert not self.importer.sniff(head_of(other), other.name), f"{other.name} taken for {self.importer.name}"

    def test_records_are_valid_and_keys_stable(self, tmp_path: Path) -> None:
        seen: set[str] = set()
        for sample in self.samples(tmp_path / "samples"):
            first = [i for i in read_file(self.importer(), sample, self.import_settings) if isinstance(i, Record)]
            second = [i for i in read_file(self.importer(), sample, self.import_settings) if isinstance(i, Record)]
            assert first, f"no records from {sample.name}"
            assert [(r.dataset, r.key, r.data) for r in first] == [(r.dataset, r.key, r.data) for r in second]
            seen |= {r.dataset for r in first}
        missing = set(self.importer.datasets) - seen - set(self.datasets_without_sample)
        assert not missing, f"no records of {sorted(missing)} in the samples"

    def test_reimport_adds_nothing(self, tmp_path: Path) -> None:
        store = MemoryStore()
        for sample in self.samples(tmp_path / "samples"):
            import_file(self.importer(), sample, store, self.import_settings)
            again = import_file(self.importer(), sample, store, self.import_settings)
            assert (again.new, again.changed) == (0, 0), f"re-importing {sample.name} changed records"

    def test_corrupted_copy_fails_cleanly_and_stores_nothing(self, tmp_path: Path) -> None:
        for sample in self.samples(tmp_path / "samples"):
            bad = self.corrupt(sample, tmp_path)
            store = MemoryStore()
            with pytest.raises(ImportFailed) as err:
                import_file(self.importer(), bad, store, self.import_settings)
            assert bad.name in str(err.value), "the error should name the file"
            assert store.records == {}


__all__ = ["ConnectorContract", "ImporterContract"]
