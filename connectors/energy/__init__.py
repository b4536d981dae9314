"""Energy connectors and importers: energy.reading, filed under the interval measured."""
