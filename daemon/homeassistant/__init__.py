"""The Home Assistant bridge: selfdata's energy readings as HA long-term statistics (docs/homeassistant.md).

`statistics.py` turns readings into hourly rows (pure), `client.py` speaks HA's WebSocket
API, `push.py` keeps HA in step with the vault, `watch.py` pushes after syncs in the daemon.
"""
