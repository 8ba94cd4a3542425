"""`python -m ctripctl` runs the CLI."""

from ctripctl.cli.app import main

main()
