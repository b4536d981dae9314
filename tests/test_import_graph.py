"""No import cycles among selfdata's modules, counting imports inside functions and under
TYPE_CHECKING too: a cycle hidden behind a late import is still a knot for the reader."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("daemon", "connectors")


def _modules() -> dict[str, tuple[Path, bool]]:
    found: dict[str, tuple[Path, bool]] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def _imports(name: str, is_package: bool, node: ast.Import | ast.ImportFrom, known: set[str]) -> set[str]:
    if isinstance(node, ast.Import):
        return {a.name for a in node.names} & known
    if node.level:
        base = name.split(".") if is_package else name.split(".")[:-1]
        base = base[: len(base) - node.level + 1]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    # `from pkg import mod` imports the module; `from pkg import name` the package.
    return {f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in known else prefix for a in node.names} & known


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    graph: dict[str, set[str]] = {}
    for name, (path, is_package) in modules.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                deps |= _imports(name, is_package, node, known)
        deps.discard(name)
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_checker_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_itself_back() -> None:
    assert cycles(import_graph()) == []


def test_the_cli_starts_without_loading_the_servers() -> None:
    """Every command pays for what `daemon.cli` imports: aiohttp and watchdog load only in the daemon."""
    import subprocess
    import sys

    code = "import sys, daemon.cli; print(sorted(m for m in ('aiohttp', 'watchdog') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_each_command_is_found_in_the_module_the_cli_imports_for_it() -> None:
    import importlib

    import click

    from daemon.cli import COMMANDS, cli

    for module in COMMANDS:
        importlib.import_module(f"daemon.cli.{module}")
    found: dict[str, list[str]] = {}
    for name, command in cli.commands.items():
        found.setdefault(command.callback.__module__.rsplit(".", 1)[1], []).append(name)  # type: ignore[union-attr]
    assert {m: tuple(sorted(n)) for m, n in found.items()} == {m: tuple(sorted(n)) for m, n in COMMANDS.items()}
    assert sorted(cli.list_commands(click.Context(cli))) == sorted(n for names in COMMANDS.values() for n in names)


def test_a_command_loads_only_its_own_module() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from daemon.cli import cli\n"
        "try:\n    cli(['report', '--help'], prog_name='selfdata')\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('daemon.cli.report_cmd', 'daemon.cli.vrm_cmds', 'daemon.cli.energy_cmd')"
        " if m in sys.modules), file=sys.stderr)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stderr.strip().splitlines()[-1] == "['daemon.cli.report_cmd']"
