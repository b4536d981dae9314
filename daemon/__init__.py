"""selfdata daemon: the vault, the runner, the API and the command line."""

__version__ = "0.1.0"
# Earliest plausible wall-clock time for this release (UTC, epoch seconds); a clock
# before it is a Pi that booted without network.
RELEASE_EPOCH = 1795392000  # 2026-11-21
