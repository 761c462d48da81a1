"""python -m minekit: the same as the minekit command."""

from minekit.cli import main

main()
