"""Every built-in connector and importer loads through its entry point with a sound manifest."""

from __future__ import annotations

import pytest

from connectors.sdk import Importer, datasets
from daemon import plugins


@pytest.fixture(scope="module")
def registry() -> plugins.Registry:
    return plugins.load()


def test_built_ins_load_without_problems(registry: plugins.Registry) -> None:
    assert registry.problems == []
    assert len(registry.all()) >= 5


def test_manifests_are_sound(registry: plugins.Registry) -> None:
    for cls in registry.all():
        m = cls.manifest()
        assert m["title"] and m["category"] in ("bank", "energy", "health", "telecom", "other"), cls
        for ds in cls.datasets:
            assert datasets.schema_of(ds) is not None or ds.startswith(cls.name.replace("-", "_") + "."), (cls, ds)
        names = [f.name for f in cls.fields]
        assert len(names) == len(set(names)), cls
        if issubclass(cls, Importer):
            assert not cls.sniff(b"", "empty.txt"), f"{cls.name} claims an empty file"
