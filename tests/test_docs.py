"""Every command and every config key is documented."""

from __future__ import annotations

from pathlib import Path

import click

from daemon.cli import cli
from daemon.config import _SCHEMA

from .conftest import author_pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"


def command_names(group: click.Group, prefix: str = "selfdata") -> list[str]:
    group.list_commands(click.Context(group))  # the CLI imports a command's module when asked for it
    names = []
    for name, cmd in group.commands.items():
        full = f"{prefix} {name}"
        names.append(full)
        if isinstance(cmd, click.Group):
            names += command_names(cmd, full)
    return names


def test_every_command_is_in_docs_cli() -> None:
    text = (DOCS / "cli.md").read_text()
    missing = [n for n in command_names(cli) if f"`{n}" not in text]
    assert not missing, f"undocumented commands: {missing}"


def test_every_config_key_is_in_docs_configuration() -> None:
    text = (DOCS / "configuration.md").read_text()
    missing = [f"{s}.{k}" for s, keys in _SCHEMA.items() for k in keys if f"`{s}.{k}`" not in text]
    assert not missing, f"undocumented config keys: {missing}"


def test_template_holds_every_key() -> None:
    from daemon.config import TEMPLATE

    for section, keys in _SCHEMA.items():
        assert f"[{section}]" in TEMPLATE
        for key in keys:
            assert f"\n{key} = " in TEMPLATE, key


def test_the_connector_example_in_the_docs_runs(tmp_path: Path) -> None:
    import re

    text = (DOCS / "connectors.md").read_text()
    blocks = re.findall(r"<!-- file: (\S+) -->\n```python\n(.*?)```", text, flags=re.S)
    assert {name for name, _ in blocks} == {"meter_api.py", "test_meter_api.py"}
    for name, code in blocks:
        (tmp_path / name).write_text(code)
    result = author_pytest(tmp_path, "test_meter_api.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 passed" in result.stdout


def test_no_doc_is_out_of_proportion() -> None:
    """A doc is read by people: one written many times over by mistake (67 MB once) fails here."""
    big = {p.name: p.stat().st_size for p in DOCS.rglob("*.md") if p.stat().st_size > 100_000}
    assert not big, big
