"""Run a benchmark by name: python -m bench [ingest ...] (all when none named)."""

from __future__ import annotations

import importlib
import sys

BENCHES = ["ingest"]


def main(argv: list[str]) -> int:
    names = [a for a in argv if not a.startswith("-")] or BENCHES
    rest = [a for a in argv if a.startswith("-")]
    for name in names:
        if name not in BENCHES:
            print(f"unknown benchmark {name!r}; known: {', '.join(BENCHES)}", file=sys.stderr)
            return 2
        module = importlib.import_module(f"bench.{name}")
        module.main(rest)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
