"""Vendor relationships: requests to organisations (letters, legal deadlines, answers linked to
imported files) and signed minimal disclosures (docs/vrm.md)."""
