"""The dashboard: the user's own pages on the API's address (web.app), signed in with a one-time
link or the passphrase (web.signin, which the CLI uses too, so nothing here loads aiohttp)."""
