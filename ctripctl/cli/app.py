"""The root `ctripctl` app: joins one typer app per command group.

Imports only typer, rich and the standard library at module level, so `--help` is instant;
every command imports its heavy modules (SQLAlchemy, web3, httpx) when it runs.
"""

from __future__ import annotations

import enum
from typing import Annotated

import typer

from ctripctl import __version__
from ctripctl.cli import (
    chain_cmd,
    confirm_cmd,
    payment_cmd,
    scan_cmd,
    setup_cmd,
    status_cmd,
    sweep_cmd,
    webhooks_cmd,
)
from ctripctl.cli.globals import RootGroup

app = typer.Typer(
    name="ctripctl",
    cls=RootGroup,
    help="A self-hosted EVM payment gateway, run from the command line and cron.\n\n"
    "Global options (-v, -q, --log-format, and each command's --config and --json) go "
    "before or after the command: `ctripctl -q status --config X` = `ctripctl status -q --config X`.\n\n"
    "Exit codes: 0 ok, 1 bug, 2 bad input, 3 not allowed, 4 not found, "
    "5 node/database unavailable, 6 busy (another pass holds the lock), 7 unhealthy.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    rich_markup_mode=None,
)


class LogFormat(enum.StrEnum):
    text = "text"
    json = "json"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ctripctl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose",
            "-v",
            count=True,
            show_default=False,
            help="More logs on stderr (-vv: libraries too).",
        ),
    ] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors on stderr.")] = False,
    log_format: Annotated[
        LogFormat,
        typer.Option(
            "--log-format", envvar="CTRIP_LOG_FORMAT", help="Log lines as text or JSON (one object a line)."
        ),
    ] = LogFormat.text,
) -> None:
    """A self-hosted EVM payment gateway, run from the command line and cron."""
    from ctripctl.cli.reporting import set_logging
    from ctripctl.ops.logs import configure_logging

    verbosity = -1 if quiet else verbose
    configure_logging(verbosity, log_format.value)
    set_logging(verbosity, log_format.value)


app.command("init")(setup_cmd.init)
app.add_typer(setup_cmd.db_app, name="db")
app.add_typer(payment_cmd.app, name="payment")
app.add_typer(chain_cmd.app, name="chain")
app.command("status")(status_cmd.status)
app.command("scan")(scan_cmd.scan)
app.command("confirm")(confirm_cmd.confirm)
app.add_typer(webhooks_cmd.app, name="webhooks")
app.add_typer(sweep_cmd.app, name="sweep")
