"""The user's rights from the terminal: export, decrypt-export, erase."""

from __future__ import annotations
