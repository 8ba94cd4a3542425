"""The command line: typer apps (one per command group) that read options, call one
library function inside one transaction, and render. Nothing imports this package."""
