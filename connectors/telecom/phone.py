"""Phone numbers as telecom records store them: E.164 where the number is valid, read with
the user's default region; withheld numbers recognised; anything else kept readable.

The original text is never lost: every telecom source keeps it in the record's `raw`.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import phonenumbers

# What phones, routers and backup apps write when the caller withheld the number.
WITHHELD = frozenset(
    {
        "",
        "-1",
        "-2",
        "-3",
        "-4",
        "null",
        "none",
        "unknown",
        "(unknown)",
        "private",
        "private number",
        "anonymous",
        "withheld",
        "restricted",
        "unavailable",
        "blocked",
        "numéro masqué",
        "masqué",
        "unbekannt",
        "anonym",
    }
)

_PREFIX = re.compile(r"^(?:tel|sip|sips)\s*:\s*", re.IGNORECASE)
_SIP_HOST = re.compile(r"@.*$")
_DIALLABLE = re.compile(r"^\+?[0-9]+$")
_SEPARATORS = re.compile(r"[\s().\-/\u00a0]+")


def check_region(value: str) -> str | None:
    """A settings check: None when `value` is a region phonenumbers knows (FR, DE, US...)."""
    if value.upper() in phonenumbers.SUPPORTED_REGIONS:
        return None
    return f"{value!r} is not a region code; use two letters such as FR, DE, GB or US"


def is_withheld(raw: str | None) -> bool:
    return raw is None or _clean(raw).lower() in WITHHELD


@lru_cache(maxsize=8192)  # a backup has thousands of messages but few numbers; parsing one is slow
def normalize_number(raw: str | None, region: str | None = None) -> str | None:
    """E.164 (+4930123456) when the number is valid, read in `region` when it has no country
    code; None when withheld or empty; otherwise the number without its punctuation (short
    codes, internal extensions) or, for sender names such as "AMAZON", the text as given."""
    if raw is None:
        return None
    text = _clean(raw)
    if text.lower() in WITHHELD:
        return None
    if text.startswith("**") or text.startswith("#"):
        return text  # an internal extension (FRITZ!Box **610) or a service code
    compact = _SEPARATORS.sub("", text)
    if compact.startswith("00") and _DIALLABLE.match(compact):
        compact = "+" + compact[2:]
    if not _DIALLABLE.match(compact):
        return text  # an alphanumeric sender or something not a number: keep it readable
    # The text as written first: phonenumbers understands "+49 (0)30 ..." better than digits alone.
    for candidate in (text, compact):
        try:
            parsed = phonenumbers.parse(candidate, region.upper() if region else None)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return compact


def _clean(raw: str) -> str:
    text = unicodedata.normalize("NFKC", raw).strip()
    if _PREFIX.match(text):
        text = _SIP_HOST.sub("", _PREFIX.sub("", text)).strip()
    # Keep only printable characters: control characters come from broken exports.
    return "".join(ch for ch in text if ch.isprintable()).strip()
