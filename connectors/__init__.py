"""selfdata connectors: the SDK and the built-in connectors and importers.

This package knows nothing about the vault or the daemon.
"""
