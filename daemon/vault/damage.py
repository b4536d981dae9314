"""Damaged pages: telling them from other database errors, and the note that remembers them.

SQLCipher checks each page's HMAC as it reads it, so a flipped byte on disk makes that page
unreadable rather than wrong. A connection that met such a page refuses every later read,
so whoever meets one opens a new connection to go on. What was found is kept in
`damage.json` beside the database (the damaged file itself is never written for it), so
`status`, `doctor` and `/health` say so in every process until a check as thorough as the
one that found it passes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ..files import atomic_write
from ..times import iso, now_ms

NAME = "damage.json"
# SQLITE_CORRUPT and SQLITE_NOTADB with their extended codes, and the two failed reads.
_CODES = {11, 26}
_READ_ERRORS = {266, 522}  # SQLITE_IOERR_READ, SQLITE_IOERR_SHORT_READ
# How thorough each way of finding damage is: a check clears what one no more thorough found.
DEPTH = {"read": 0, "quick": 1, "full": 2}
MAX_PROBLEMS = 20
_HMAC = re.compile(r"HMAC verification failed for page (\d+)")

RESCUE = (
    "To save what is still readable: selfdata export --format jsonl OUT, or selfdata backup OUT "
    "(both skip and list the records they cannot read); then restore the vault folder from a "
    "backup (docs/security.md). selfdata doctor --full lists the damaged pages."
)


def database_error(err: BaseException | None) -> BaseException | None:
    """The database error behind `err` (itself or one of its causes) that says a page is damaged."""
    seen = 0
    while err is not None and seen < 10:
        code = getattr(err, "sqlite_errorcode", None)
        if isinstance(code, int) and ((code & 0xFF) in _CODES or code in _READ_ERRORS):
            return err
        err, seen = err.__cause__ or err.__context__, seen + 1
    return None


def is_damage(err: BaseException) -> bool:
    return database_error(err) is not None


def hmac_pages(problems: list[str]) -> list[int]:
    return sorted({int(m) for p in problems for m in _HMAC.findall(p)})


def summary(problems: list[str]) -> str:
    pages = hmac_pages(problems)
    if pages:
        shown = ", ".join(map(str, pages[:10])) + (", ..." if len(pages) > 10 else "")
        return f"{len(pages)} page(s) fail their HMAC check (damaged on disk): page {shown}"
    first = problems[0].replace("*** in database main ***", "").strip().splitlines()[0] if problems else ""
    return f"{len(problems)} problem(s) found: {first}"


@dataclass(frozen=True)
class Damage:
    found_at: int
    by: str  # read, quick, full
    problems: tuple[str, ...]

    def describe(self) -> str:
        how = {"read": "a read failed", "quick": "the quick check failed", "full": "the full check failed"}[self.by]
        return f"damaged ({how} at {iso(self.found_at)[:16]}): {summary(list(self.problems))}"

    def to_json(self) -> dict[str, Any]:
        return {
            "found_at": iso(self.found_at),
            "by": self.by,
            "pages": hmac_pages(list(self.problems)),
            "problems": list(self.problems),
            "detail": self.describe(),
        }


def read(vault_dir: Path) -> Damage | None:
    try:
        doc = orjson.loads((vault_dir / NAME).read_bytes())
        return Damage(int(doc["found_at"]), str(doc["by"]), tuple(str(p) for p in doc["problems"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):  # a note that cannot be read still says damage was seen
        return Damage(now_ms(), "read", ("the note of an earlier damage could not be read",))


def record(vault_dir: Path, by: str, problems: list[str]) -> Damage:
    """Keep what was found; an earlier, more thorough finding is kept with it."""
    found = [p[:2000] for p in problems[:MAX_PROBLEMS]] or ["a page could not be read"]
    earlier = read(vault_dir)
    if earlier is not None and DEPTH[earlier.by] > DEPTH[by]:
        by = earlier.by
        found = list(dict.fromkeys([*earlier.problems, *found]))[:MAX_PROBLEMS]
    damage = Damage(now_ms(), by, tuple(found))
    try:
        atomic_write(
            vault_dir / NAME, orjson.dumps({"found_at": damage.found_at, "by": by, "problems": list(damage.problems)})
        )
    except OSError:
        pass  # a read-only vault folder: this process still reports it
    return damage


def clear(vault_dir: Path, by: str) -> bool:
    """A check that passed removes what a check no more thorough found; whether it did."""
    earlier = read(vault_dir)
    if earlier is None or DEPTH[earlier.by] > DEPTH[by]:
        return False
    (vault_dir / NAME).unlink(missing_ok=True)
    return True
