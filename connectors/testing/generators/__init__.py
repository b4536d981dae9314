"""Generators of realistic sample files, for tests, benches and the demo."""
