"""Run benchmarks: python -m bench [NAME ...] [--option=value]; with no NAME, list them.

Every module bench/NAME.py with a main(argv) function is a benchmark.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def available() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if not m.name.startswith("_"))


def main(argv: list[str]) -> int:
    names = [a for a in argv if not a.startswith("-")]
    rest = [a for a in argv if a.startswith("-")]
    if not names:
        print("benchmarks: " + ", ".join(available()))
        print("run one with: python -m bench NAME  (or all: python -m bench all)")
        return 0
    if names == ["all"]:
        names = available()
    for name in names:
        if name not in available():
            print(f"unknown benchmark {name!r}; known: {', '.join(available())}", file=sys.stderr)
            return 2
        importlib.import_module(f"bench.{name}").main(rest)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
