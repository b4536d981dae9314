"""The admin socket: the only way to do admin things while the daemon runs."""
