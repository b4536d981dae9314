"""The text of a request, in English or French, naming the articles and the deadline.

Kinds: access (art. 15), portability (art. 20), rectification (art. 16), erasure (art. 17).
Every letter names art. 12(3): one month from receipt, extendable by two months with notice
and reasons given within the first month.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from ..errors import SelfdataError

KINDS = ("access", "portability", "rectification", "erasure")
LANGS = ("en", "fr")
ARTICLE = {"access": "15", "portability": "20", "rectification": "16", "erasure": "17"}
_EN_MONTHS = "January February March April May June July August September October November December".split()
_FR_MONTHS = "janvier février mars avril mai juin juillet août septembre octobre novembre décembre".split()


class LetterError(SelfdataError, ValueError):
    pass


def long_date(day: date, lang: str) -> str:
    if lang == "fr":
        return f"{'1er' if day.day == 1 else day.day} {_FR_MONTHS[day.month - 1]} {day.year}"
    return f"{day.day} {_EN_MONTHS[day.month - 1]} {day.year}"


_SUBJECT = {
    ("en", "access"): "Subject access request (Article 15 GDPR)",
    ("en", "portability"): "Data portability request (Article 20 GDPR)",
    ("en", "rectification"): "Request for rectification (Article 16 GDPR)",
    ("en", "erasure"): "Request for erasure (Article 17 GDPR)",
    ("fr", "access"): "Demande d'accès à mes données personnelles (article 15 du RGPD)",
    ("fr", "portability"): "Demande de portabilité de mes données (article 20 du RGPD)",
    ("fr", "rectification"): "Demande de rectification de mes données (article 16 du RGPD)",
    ("fr", "erasure"): "Demande d'effacement de mes données (article 17 du RGPD)",
}

# One template per language, every kind in it; a paragraph is one line, for mail clients to wrap.
TEMPLATES = Path(__file__).with_name("letters_templates")


@cache
def _template(lang: str) -> jinja2.Template:
    env = jinja2.Environment(autoescape=False, undefined=jinja2.ChainableUndefined, trim_blocks=True)
    return env.from_string((TEMPLATES / f"{lang}.txt").read_text(encoding="utf-8"))


def render(
    kind: str, lang: str, org: str, contact: dict[str, str], details: dict[str, Any], sent: date, due: date
) -> dict[str, str]:
    """The letter's subject and text."""
    if kind not in KINDS:
        raise LetterError(f"{kind!r} is not a kind of request: use one of {', '.join(KINDS)}")
    if lang not in LANGS:
        raise LetterError(f"{lang!r}: letters are in {' or '.join(LANGS)}")
    subject = _SUBJECT[(lang, kind)]
    text = _template(lang).render(
        kind=kind,
        org=org,
        contact=contact,
        details=details,
        subject=subject,
        sent=long_date(sent, lang),
        due=long_date(due, lang),
    )
    return {"subject": subject, "text": text}
