"""Health connectors and importers: health.observation, health.workout, health.clinical."""
