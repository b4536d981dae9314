"""`selfdata`: a thin shell over the operations in daemon.operations.

`base.py` holds the group and `invoke`; each module beside it adds its commands, which
build an operation's parameters and render its JSON result.
"""

from __future__ import annotations

from . import (
    daemon_cmds,
    energy_cmd,
    files_cmds,
    grants_cmds,
    homeassistant_cmd,
    mcp_cmd,
    report_cmd,
    rights_cmds,
    sources,
    trends_cmd,
    vault,
    vrm_cmds,
)
from .base import cli

COMMAND_MODULES = (
    daemon_cmds,
    energy_cmd,
    files_cmds,
    grants_cmds,
    homeassistant_cmd,
    mcp_cmd,
    report_cmd,
    rights_cmds,
    sources,
    trends_cmd,
    vault,
    vrm_cmds,
)


def main() -> None:
    cli(prog_name="selfdata")


if __name__ == "__main__":
    main()
