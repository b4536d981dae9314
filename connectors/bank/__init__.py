"""Bank connectors and importers: every one yields bank.account and bank.transaction."""
