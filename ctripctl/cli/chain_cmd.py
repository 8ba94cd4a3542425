"""`ctripctl chain list | chain status C`: configured chains, and what their nodes say."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from ctripctl.cli.options import ConfigOption, JsonOption, chain_name, engine, load
from ctripctl.cli.output import cli_errors, console, emit_json

app = typer.Typer(help="Configured chains and the health of their nodes.", no_args_is_help=True)


@app.command("list")
def list_(config_path: ConfigOption = None, as_json: JsonOption = False) -> None:
    """List the configured chains with their tokens and RPC URLs (passwords masked).

    Reads only the config file: no node or database is contacted.

    Example:

        ctripctl chain list --json
    """
    with cli_errors():
        from ctripctl.ops.chains import chain_list

        chains = chain_list(load(config_path))
        if as_json:
            emit_json(chains)
            return
        _render_list(chains)


@app.command()
def status(
    chain: Annotated[
        str | None,
        typer.Argument(
            metavar="[CHAIN]",
            help="Chain name from ctrip.toml [default: the only chain, when exactly one is configured].",
            show_default=False,
        ),
    ] = None,
    config_path: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Ask each RPC URL of a chain for its chain id and head; show checkpoint and lag.

    Every URL is asked separately (not through failover), so a broken fallback shows up
    before it is needed. The report is always printed; the exit code is 5 when no URL
    answers with the configured chain id.

    Example:

        ctripctl chain status eth
    """
    with cli_errors():
        from ctripctl.errors import NodeUnavailable
        from ctripctl.ops.chains import chain_status

        config = load(config_path)
        chain = chain_name(config, chain)  # unknown chain: InputError before any I/O
        report = chain_status(config, engine(config), chain, datetime.now(UTC))
        if as_json:
            emit_json(report)
        else:
            _render_status(report)
        if report["head"] is None:
            errors = "; ".join(f"{n['url']}: {n['error']}" for n in report["nodes"])
            raise NodeUnavailable(f"no RPC URL of chain {chain!r} answered: {errors}")


def _render_list(chains: Sequence[Mapping[str, Any]]) -> None:
    from rich.markup import escape

    from ctripctl.cli.tables import Column, fitted_table

    if not chains:
        console().print("No chains configured (add a [chains.NAME] table to ctrip.toml).")
        return

    def assets(c: Mapping[str, Any]) -> str:
        tokens = [f"{t['symbol']} {t['address']} ({t['decimals']} dp)" for t in c["tokens"]]
        return escape("\n".join([c["native_symbol"], *tokens]))

    columns = (
        Column("chain", lambda c: escape(c["chain"]), keep=True),
        Column("chain id", lambda c: str(c["chain_id"]), priority=2, justify="right"),
        Column("assets", assets, ident=True, priority=1),  # token addresses: whole or not at all
        Column(
            "confirmations",
            lambda c: str(c["confirmations"]) if c["finality"] == "confirmations" else "finalized tag",
            priority=3,
        ),
        Column("rpc urls", lambda c: escape("\n".join(c["rpc_urls"])), priority=4, wrap=40),
        Column("start block", lambda c: str(c["start_block"]), priority=5, justify="right"),
    )
    console().print(fitted_table(columns, chains, width=console().width, title="Chains"))


def _render_status(report: Mapping[str, Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    from ctripctl.ops.health import ago

    table = Table(title=f"Chain {report['chain']} (chain id {report['chain_id']})", title_justify="left")
    for column in ("rpc url", "chain id", "head", "latency", "state"):
        table.add_column(column, overflow="fold")
    for n in report["nodes"]:
        state = "[green]ok[/]" if n["ok"] else f"[red]{escape(n['error'] or 'error')}[/]"
        table.add_row(
            escape(n["url"]),
            "-" if n["chain_id"] is None else str(n["chain_id"]),
            "-" if n["head"] is None else str(n["head"]),
            "-" if n["latency_ms"] is None else f"{n['latency_ms']} ms",
            state,
        )
    console().print(table)
    checkpoint = "never scanned" if report["checkpoint"] is None else str(report["checkpoint"])
    lag = "-" if report["lag"] is None else f"{report['lag']} blocks"
    console().print(f"checkpoint: {checkpoint}   lag: {lag}")
    console().print(
        f"last scan: {ago(report['since_last_scan_s'])}   last confirm: {ago(report['since_last_confirm_s'])}"
    )
