"""Bridges: connectors that run another ecosystem's programs (Singer taps, Woob modules) as selfdata sources.

The program runs in its own virtualenv, which the user installs; selfdata never installs into its own.
"""
