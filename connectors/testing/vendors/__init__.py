"""Fake vendor servers that answer like the documented APIs, for tests and the demo."""
