"""python -m daemon ...: the same as the `selfdata` command."""

from .cli import main

main()
