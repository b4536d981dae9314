"""Names of sources and datasets: plain, so they are safe in paths, URLs and SQL identifiers."""

from __future__ import annotations

import re

from ..errors import SelfdataError

SOURCE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
DATASET_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){1,4}$")


class NameError_(SelfdataError, ValueError):
    pass


def check_source(name: str) -> str:
    if not isinstance(name, str) or not SOURCE_RE.match(name):
        raise NameError_(
            f"{name!r} is not a source name: use lowercase letters, digits, '-' and '_' (e.g. my-bank), at most 63"
        )
    return name


def check_dataset(name: str) -> str:
    if not isinstance(name, str) or not DATASET_RE.match(name):
        raise NameError_(f"{name!r} is not a dataset name: dotted lowercase words, e.g. bank.transaction")
    return name
