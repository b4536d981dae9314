"""Benchmarks: `python -m bench NAME` prints figures; nothing here is asserted in tests."""
