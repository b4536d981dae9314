"""What a connector author gets: a typed SDK (py.typed, installed) and a scaffold that passes
the project's own ruff and mypy --strict, and its own tests, as generated."""

from __future__ import annotations

import fnmatch
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import connectors

from .conftest import Cli, author_pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"


def test_the_sdk_ships_its_py_typed_marker() -> None:
    package = Path(connectors.__file__).parent
    assert (package / "py.typed").is_file()
    patterns = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["package-data"].get("connectors", [])
    assert any(fnmatch.fnmatch("py.typed", p) for p in patterns), "py.typed is not package data: wheels lack it"


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def generated(run: Cli, tmp_path: Path) -> Path:
    folder = tmp_path / "my-connector"
    folder.mkdir()
    run("connectors", "new", "acme-bank", "--dir", str(folder))
    assert sorted(p.name for p in folder.iterdir()) == ["acme_bank.py", "test_acme_bank.py"]
    return folder


def test_the_scaffold_passes_ruff_mypy_strict_and_its_tests(generated: Path, tmp_path: Path) -> None:
    files = ["acme_bank.py", "test_acme_bank.py"]
    lint = run("ruff", "check", "--no-cache", "--config", str(PYPROJECT), *files, cwd=generated)
    assert lint.returncode == 0, lint.stdout + lint.stderr

    # mypy sees the connectors package as an installed one (it follows no editable-install
    # hook): only its py.typed marker makes it check the author's code against the SDK.
    site = tmp_path / "site"
    site.mkdir()
    (site / "connectors").symlink_to(Path(connectors.__file__).parent, target_is_directory=True)
    env = {**os.environ, "PYTHONPATH": str(site)}
    typed = run("mypy", "--strict", "--config-file", str(PYPROJECT), *files, cwd=generated, env=env)
    assert typed.returncode == 0, typed.stdout + typed.stderr

    tests = author_pytest(generated, "test_acme_bank.py")
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "6 passed" in tests.stdout
