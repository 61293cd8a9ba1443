"""``python -m sessionlens``: the command line."""

from .cli import main

main()
