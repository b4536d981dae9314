"""What connectors and importers yield."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Every time selfdata stores lies within these years once in UTC: what Python's datetime,
# SQLite's date functions and an export can all show.
YEARS = "0001-9999"
# The largest original file a connector may hand over: as large as a vendor answer (sdk.http.MAX_BODY).
MAX_ORIGINAL_BYTES = 32 * 1024 * 1024


def outside_utc_years(dt: datetime) -> bool:
    """Whether an aware `dt` falls outside the years 0001-9999 once in UTC
    (9999-12-31T23:59:59-14:00 is in the year 10000 there)."""
    if 1 < dt.year < 9999:
        return False  # the common case, without a conversion
    try:
        dt.astimezone(UTC)
    except OverflowError:
        return True
    return False


@dataclass(frozen=True, slots=True)
class Record:
    """A normalised record: `key` is the vendor's stable id (or a hash of identifying
    fields), `ts` the record's own time (timezone-aware), `raw` the vendor's fragment."""

    dataset: str
    key: str
    ts: datetime
    data: dict[str, Any]
    raw: Any = None

    def __post_init__(self) -> None:
        if self.ts.tzinfo is None or self.ts.utcoffset() is None:
            raise ValueError(f"record {self.dataset}/{self.key}: ts {self.ts.isoformat()} has no timezone")
        if not self.key:
            raise ValueError(f"record of {self.dataset}: empty key")


@dataclass(frozen=True, slots=True)
class Fragment:
    """A vendor fragment for the connector's `normalize` to map into records."""

    dataset: str
    raw: Any


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Where to resume: stored only after every record yielded before it is committed."""

    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Delete:
    """Remove records the vendor no longer has (e.g. a pending transaction now booked)."""

    dataset: str
    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Notice:
    """What an importer tells the user about a file it imports anyway (a statement whose
    balances do not add up): `selfdata import` prints it, the run's record and the source's
    warning keep it. It stores nothing."""

    message: str


@dataclass(frozen=True, slots=True)
class Original:
    """A file as the vendor gave it (a bill's PDF), kept encrypted in the vault among the source's
    original files (`selfdata files list --source NAME`, `selfdata files get ID`).

    The runner stores it before it asks the connector for its next item, so the connector may
    remove `path` once resumed; the records it yields after name the file by its SHA-256. A file
    over MAX_ORIGINAL_BYTES fails the run, naming it. Storing the same content again is a no-op."""

    path: Path
    name: str
