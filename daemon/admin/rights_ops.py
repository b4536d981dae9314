"""Export and erase: the operations behind `selfdata export` and `selfdata erase`."""

from __future__ import annotations
