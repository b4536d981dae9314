"""Views computed from the aggregates: money, energy, health, telecom; and `selfdata report`."""
