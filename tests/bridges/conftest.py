"""Throwaway virtualenvs for the real programs the bridges run, made once per package version.

They live under pytest's cache (`.pytest_cache/d/bridges/`), so a second run of the suite,
or the other xdist worker, reuses them; a lock makes one worker build while the other waits.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
import tempfile
import venv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

TAP_REQUIREMENT = "tap-rest-api-msdk==1.4.2"
WOOB_REQUIREMENT = "woob==3.7"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def throwaway_venv(cache: pytest.Cache | None, requirement: str, *extra: str) -> Path:
    """A virtualenv with `requirement` (and `extra` ones) installed; skips, saying why, when pip cannot
    install them here."""
    if cache is not None:
        root = cache.mkdir("bridges")
    else:  # -p no:cacheprovider
        root = Path(tempfile.gettempdir()) / "selfdata-test-bridges"
        root.mkdir(mode=0o700, exist_ok=True)
    folder = root / requirement.replace("==", "-")
    with _locked(root / f"{folder.name}.lock"):
        if (folder / ".installed").exists():
            return folder
        shutil.rmtree(folder, ignore_errors=True)
        venv.create(folder, with_pip=True)
        pip = [str(folder / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        result = subprocess.run([*pip, requirement, *extra], capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            lines = [ln for ln in result.stderr.splitlines() if ln.strip() and "Location" not in ln]
            shutil.rmtree(folder, ignore_errors=True)
            pytest.skip(
                f"pip cannot install {requirement} on Python {sys.version_info.major}.{sys.version_info.minor} "
                f"here: {' | '.join(lines[-3:]) or 'exit code ' + str(result.returncode)}"
            )
        (folder / ".installed").write_text("\n".join((requirement, *extra)) + "\n")
    return folder


@pytest.fixture(scope="session")
def tap_venv(pytestconfig: pytest.Config) -> Path:
    return throwaway_venv(pytestconfig.cache, TAP_REQUIREMENT)


@pytest.fixture(scope="session")
def woob_venv(pytestconfig: pytest.Config) -> Path:
    return throwaway_venv(pytestconfig.cache, WOOB_REQUIREMENT)
