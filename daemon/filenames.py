"""File names as selfdata shows and records them.

A Linux file name is bytes: Python hands it over with the bytes that are not UTF-8 as
lone surrogates, which SQLite, JSON and the logs refuse. Wherever a name leaves the
file system (a log line, a run, a note, a stored file's name) it goes through `shown`:
valid UTF-8 on one line, each byte that is not UTF-8 written `\\xNN`, control
characters escaped.
"""

from __future__ import annotations

import os
import re

# Control characters, line and paragraph separators, and the bidirectional overrides
# that make a name display as another.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_UNSAFE_IN_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return {10: "\\n", 13: "\\r", 9: "\\t"}.get(code) or (f"\\x{code:02x}" if code < 256 else f"\\u{code:04x}")


def utf8(text: str) -> str:
    """`text` as valid UTF-8: the bytes of a file name that are not UTF-8 as `\\xNN`."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that did not come from a file name
        raw = text.encode("utf-8", "backslashreplace")
    return raw.decode("utf-8", "backslashreplace")


def shown(name: str | os.PathLike[str]) -> str:
    """A file name or path as one printable line of valid UTF-8."""
    return _UNSAFE.sub(_escape, utf8(os.fspath(name)))


def printable(text: str, name: str | None = None) -> str:
    """A message as valid UTF-8 without control characters but its line breaks; the file
    name `name` it may quote is shown as `shown` does."""
    if name and name in text:
        text = text.replace(name, shown(name))
    return _UNSAFE_IN_TEXT.sub(_escape, utf8(text))
