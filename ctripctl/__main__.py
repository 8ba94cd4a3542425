"""`python -m ctripctl` runs the CLI."""

from ctripctl.cli.entry import main

main()
