"""Telecom connectors and importers: telecom.call, telecom.message, telecom.usage."""
