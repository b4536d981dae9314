"""The code stays typed (mypy --strict) and lint-clean (ruff), as CONVENTIONS asks."""

from __future__ import annotations

import ast
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


def daemon_imports(source: str) -> list[int]:
    """Lines of `source` that import daemon: any import statement, wherever it sits, or importlib."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] if node.level == 0 else []
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            names = [str(node.args[0].value)] if called in ("import_module", "__import__") else []
        else:
            continue
        if any(name == "daemon" or name.startswith("daemon.") for name in names):
            lines.append(node.lineno)
    return sorted(lines)


def test_the_import_rule_finds_every_kind_of_import() -> None:
    source = """
from typing import TYPE_CHECKING
import daemonize, daemons.x
from connectors import daemon
if TYPE_CHECKING:
    from daemon.vault import Vault
def f():
    import daemon.sync
    return importlib.import_module("daemon.plugins")
"""
    assert daemon_imports(source) == [6, 8, 9]


def test_connectors_never_import_the_daemon() -> None:
    """The SDK and the connectors stand alone: a third-party connector needs no daemon internals."""
    found = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in sorted((ROOT / "connectors").rglob("*.py"))
        for line in daemon_imports(path.read_text(encoding="utf-8"))
    ]
    assert found == []
