"""Bounds on what one field of an imported file may hold.

A real export never writes a value of megabytes on one line or between two tags, but a
damaged or hostile file can: read naively, one such field costs the daemon its whole size
several times over. An importer opens its file with `bounded(...)`: the stream refuses, with
the line it reached, a run of more than `MAX_FIELD_BYTES` bytes without a line break
("lines": LF or CR) or without a `<` or `>` ("markup"), before the reader above ever holds it whole.
"""

from __future__ import annotations

import io
from typing import IO, TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

from .errors import ImportFailed

MAX_FIELD_BYTES = 1 << 20  # 1 MiB: thousands of times what a transaction or an observation needs
MAX_DOCUMENT_BYTES = 32 << 20  # a format read whole (one JSON document) takes several times its size

Shape = Literal["lines", "markup"]
_SEPARATORS: dict[str, tuple[bytes, bytes]] = {"lines": (b"\n", b"\r"), "markup": (b"<", b">")}


class FieldTooLarge(ImportFailed):
    """A field over the limit: the file is refused, nothing of it is stored."""


class _Guard(io.RawIOBase):
    def __init__(self, raw: IO[bytes], name: str, shape: Shape, limit: int) -> None:
        self._raw, self._name, self._shape, self._limit = raw, name, shape, limit
        self._run = 0  # bytes since the last separator
        self._lines = 1  # the line the stream has reached
        self._start = 1  # the line the current run began on

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._raw.seekable()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        # A reader that looks ahead and goes back reads those bytes again through the guard.
        # Back at the start it is all as new; elsewhere a field counts from there (at most
        # twice the limit then) and lines from where the guard had got.
        pos = self._raw.seek(offset, whence)
        self._run = 0
        if pos == 0:
            self._lines = self._start = 1
        return pos

    def tell(self) -> int:
        return self._raw.tell()

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        n = self._raw.readinto(view)  # type: ignore[attr-defined]
        if n:
            self._check(bytes(view[:n]))
        return int(n or 0)

    def close(self) -> None:
        self._raw.close()
        super().close()

    def _check(self, chunk: bytes) -> None:
        for start in range(0, len(chunk), self._limit):  # within a piece, a gap is never longer than the piece
            self._piece(chunk[start : start + self._limit])

    def _piece(self, piece: bytes) -> None:
        a, b = _SEPARATORS[self._shape]
        at_a, at_b = piece.find(a), piece.find(b)
        first = min(at_a, at_b) if at_a >= 0 and at_b >= 0 else max(at_a, at_b)
        last = max(piece.rfind(a), piece.rfind(b))
        if self._run + (len(piece) if first < 0 else first) > self._limit:
            what = "a line" if self._shape == "lines" else "a value or tag"
            raise FieldTooLarge(
                f"{self._name}, line {self._start:,}: {what} of over {self._limit:,} bytes; no export writes a "
                "field this long, so the file is refused as damaged (nothing of it was stored)"
            )
        if first < 0:
            self._run += len(piece)
        else:
            self._start = self._lines + piece[: last + 1].count(b"\n")
            self._run = len(piece) - last - 1
        self._lines += piece.count(b"\n")


def bounded(raw: IO[bytes], name: str, shape: Shape, limit: int = MAX_FIELD_BYTES) -> io.BufferedReader:
    """`raw` (a binary file) read through the guard: every interface of a buffered file."""
    return io.BufferedReader(_Guard(raw, name, shape, limit), buffer_size=64 * 1024)


def check_document_size(size: int, name: str, advice: str, limit: int = MAX_DOCUMENT_BYTES) -> None:
    """Refuse a document read whole that would cost the daemon several times `limit`."""
    if size > limit:
        raise ImportFailed(
            f"{name}: a {size:,}-byte document is over the {limit:,} bytes selfdata reads at once; {advice}"
        )
