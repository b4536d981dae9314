"""How strong a new passphrase is, by one rule a user can check by eye (docs/security.md).

Anyone holding a copy of the key slots (a backup, a stolen card) can guess passphrases
offline, each guess costing one Argon2id run. Four random words or 20 characters put
that out of reach; shorter ones are accepted with a warning, never refused.
"""

from __future__ import annotations

import re

MIN_WORDS = 4  # of at least 3 letters or digits each
MIN_CHARACTERS = 20
_WORD = re.compile(r"[^\W_]{3,}")


def weakness(passphrase: str) -> str | None:
    """Why `passphrase` is weak by the rule, or None when it passes."""
    if len(set(passphrase)) <= 2:
        return "it repeats one or two characters"
    words = len(_WORD.findall(passphrase))
    if words >= MIN_WORDS or len(passphrase) >= MIN_CHARACTERS:
        return None
    return (
        f"it has {len(passphrase)} characters and {words} word{'s' if words != 1 else ''}; "
        f"use {MIN_WORDS} or more words, or {MIN_CHARACTERS} characters or more"
    )


def warning(passphrase: str, guarding: str = "the vault's key slots") -> str | None:
    problem = weakness(passphrase)
    if problem is None:
        return None
    return (
        f"this passphrase is weak ({problem}): whoever copies {guarding} can try guesses offline. "
        "Four random words are easy to remember and hard to guess"
    )
