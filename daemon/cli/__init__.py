"""`selfdata`: a thin shell over the operations in daemon.operations.

`base.py` holds the group and `invoke`; each module beside it adds its commands, which
build an operation's parameters and render its JSON result. A command's module is imported
only when that command runs (or `--help` lists them all): every command then starts without
paying for the others' imports.
"""

from __future__ import annotations

from .base import cli

# Each command module and the commands it adds (a test checks this against the modules).
COMMANDS = {
    "daemon_cmds": ("dashboard", "doctor", "run"),
    "energy_cmd": ("energy", "tariffs"),
    "files_cmds": ("files",),
    "grants_cmds": ("access-log", "grants", "token"),
    "homeassistant_cmd": ("homeassistant",),
    "mcp_cmd": ("mcp",),
    "report_cmd": ("categories", "money-alerts", "report"),
    "rights_cmds": ("backup", "decrypt-export", "erase", "erasures", "export", "restore"),
    "sources": ("connectors", "import", "renormalize", "runs", "source", "sync"),
    "trends_cmd": ("health", "telecom"),
    "vault": ("demo", "import-jsonl", "init", "keys", "query", "status"),
    "vrm_cmds": ("requests", "share", "verify"),
}
COMMAND_MODULES = tuple(COMMANDS)
cli.lazy = {name: f"{__name__}.{module}" for module, names in COMMANDS.items() for name in names}


def main() -> None:
    cli(prog_name="selfdata")


if __name__ == "__main__":
    main()
