"""The local API for the user's apps: grants, records, changes, events, OpenAPI."""
