"""Whether the API's TCP port is free, and if not, which process holds it (Linux: /proc)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from .errors import SelfdataError

_LISTEN = "0A"


class PortInUse(SelfdataError):
    pass


def _listening_inodes(port: int, proc: Path) -> set[str]:
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == _LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def holder(port: int, proc: Path = Path("/proc")) -> str | None:
    """'pid 123 (selfdata demo)' for the process listening on `port`, 'another user's process'
    when the socket is there but its process cannot be seen, None when nothing can be told."""
    inodes = _listening_inodes(port, proc)
    if not inodes:
        return None
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:  # another user's process, or gone
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target in wanted:
                return f"pid {entry.name} ({_command(entry)})"
    return "a process of another user"


def _command(entry: Path) -> str:
    try:
        args = (entry / "cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    except OSError:
        return "?"
    words = [Path(args[0].decode(errors="replace")).name, *(a.decode(errors="replace") for a in args[1:])]
    text = " ".join(words)
    return text if len(text) <= 80 else text[:77] + "..."


def check_free(host: str, port: int, config_file: Path) -> None:
    """Raise PortInUse naming the holder and the setting to change, before anything else starts."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        return  # the bind itself reports an unknown host
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
            try:
                probe.bind(address)
            except OSError as err:
                raise PortInUse(in_use_message(host, port, config_file, err)) from err


def in_use_message(host: str, port: int, config_file: Path, err: OSError) -> str:
    import errno

    if err.errno != errno.EADDRINUSE:
        return f"the API cannot listen on {host}:{port}: {err.strerror or err}"
    who = holder(port)
    held = f"is in use by {who}" if who else "is in use by another program"
    return (
        f"the API cannot listen on {host}:{port}: the port {held}. Stop that, or choose another port: "
        f"api.port in {config_file} ([api] port = ...; 0 picks a free one)"
    )
