"""Library functions behind the CLI commands (and later the admin socket and the API).

Each returns a typed result; rendering is the caller's business.
"""
