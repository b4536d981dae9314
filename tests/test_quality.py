"""The code stays typed (mypy --strict) and lint-clean (ruff), as CONVENTIONS asks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_mypy_strict() -> None:
    result = run("mypy", "--no-incremental", "daemon", "connectors")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff() -> None:
    result = run("ruff", "check", "daemon", "connectors", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr
