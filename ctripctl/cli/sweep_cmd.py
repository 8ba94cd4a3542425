"""`ctripctl sweep run | tank | list | show`: money out to each chain's treasury."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from ctripctl.cli.options import (
    ChainOption,
    ConfigOption,
    JsonOption,
    MetricsFileOption,
    chain_name,
    engine,
    load,
)
from ctripctl.cli.output import cli_errors, console, emit_json
from ctripctl.cli.reporting import report_pass

app = typer.Typer(help="Move confirmed deposits to the treasury (needs the mnemonic).", no_args_is_help=True)

SWEEP_STATUSES = ("signed", "sent", "mined", "confirmed", "reverted", "dropped")


@app.command("run")
def run(
    chain: ChainOption = None,
    max_sweeps: Annotated[
        int, typer.Option("--max", min=1, max=100_000, help="Sign and send at most N transactions.")
    ] = 1_000,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan; sign nothing, send nothing, write nothing.")
    ] = False,
    config_path: ConfigOption = None,
    metrics_file: MetricsFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Sweep confirmed deposits to the chain's treasury: one bounded pass, run from cron.

    Reconciles the sweeps already sent (mined, at depth, dropped; a payment is settled
    once its sweep is at depth), then plans from balances: only money already
    `confirmations` deep is swept, and only from addresses holding at least sweep_min.
    Each transaction is signed and RECORDED before it is broadcast; a crash or a lost
    answer is resolved by the next pass with the same bytes, never a second payment.
    Token deposits get their gas from the wallet's tank (see `sweep tank`). Above
    max_fee_gwei nothing is sent (exit 0; the next pass tries again). A second pass on
    the same chain exits 6. The mnemonic comes from [wallet] mnemonic_file or
    CTRIP_MNEMONIC_FILE (mode 0600), never from the command line.

    Output (--json): chain, planned, sent, topups_sent, mined, settled, dropped,
    skipped_fee_cap, skipped_below_min, fee {type, max_fee_per_gas,
    max_priority_fee_per_gas, gas_price}, sweeps [{id, address, token, amount_base,
    tx_hash, status}], elapsed_s, and more counters.

    Example:

        ctripctl sweep run --chain eth --json
    """
    started = time.monotonic()
    result: dict[str, Any] | None = None
    try:
        with cli_errors():
            from ctripctl.config import read_mnemonic
            from ctripctl.passes.sweep import sweep

            config = load(config_path)
            chain = chain_name(config, chain)
            mnemonic = None if dry_run else read_mnemonic(config)
            result = sweep(config, chain, mnemonic=mnemonic, max_sweeps=max_sweeps, dry_run=dry_run).to_json()
    finally:
        report_pass("sweep", chain, result, metrics_file, time.monotonic() - started)
    if as_json:
        emit_json(result)
    else:
        _render_run(result)


@app.command("tank")
def tank(chain: ChainOption = None, config_path: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Show the gas tank (m/44'/60'/0'/1/0) that pays token sweeps, and what it must hold.

    needed_base is what the token sweeps now waiting need (top-ups plus their own gas) at
    the current fee quote. The tank's address comes from the xpub: fund it from anywhere.

    Example:

        ctripctl sweep tank --chain eth --json
    """
    with cli_errors():
        from ctripctl.passes.sweep import tank_report

        config = load(config_path)
        report = tank_report(config, chain_name(config, chain))
    if as_json:
        emit_json(report)
        return
    console().print(
        f"tank {report['address']} on {report['chain']}: {report['balance']} "
        f"({report['balance_base']} base units), needed now {report['needed_base']}"
    )


@app.command("list")
def list_(
    chain: Annotated[str | None, typer.Option("--chain", help="Only this chain.")] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="Only this status: " + ", ".join(SWEEP_STATUSES) + ".")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many, newest first.")] = 50,
    config_path: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """List recorded sweeps and top-ups, newest first.

    Example:

        ctripctl sweep list --status sent --json
    """
    with cli_errors():
        from ctripctl.db.sweeps import list_sweeps
        from ctripctl.errors import InputError

        if status is not None and status not in SWEEP_STATUSES:
            raise InputError(f"unknown sweep status {status!r} (one of: {', '.join(SWEEP_STATUSES)})")
        config = load(config_path)
        if chain is not None:
            config.chain(chain)
        sweeps = list_sweeps(engine(config), chain=chain, status=status, limit=limit)
    if as_json:
        emit_json(sweeps)
        return
    _render_list(sweeps)


@app.command("show")
def show(
    sweep_id: Annotated[str, typer.Argument(metavar="ID", help="A sweep id (swp_…).")],
    config_path: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one sweep: what it moves, its transaction, and where it stands.

    Example:

        ctripctl sweep show swp_0123456789abcdef --json
    """
    with cli_errors():
        from ctripctl.db.sweeps import get_sweep

        sweep = get_sweep(engine(load(config_path)), sweep_id)
    if as_json:
        emit_json(sweep)
        return
    from rich.table import Table

    grid = Table.grid(padding=(0, 1))  # one space: a 66-character hash fits 80 columns
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")  # raw_tx (signed bytes) folds; hashes and addresses fit
    for key, value in sweep.items():
        grid.add_row(key, "" if value is None else str(value))
    console().print(grid)


def _render_run(r: dict[str, Any] | None) -> None:
    from rich.panel import Panel
    from rich.table import Table

    assert r is not None
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    fee = r["fee"] or {}
    per_gas = fee.get("max_fee_per_gas") or fee.get("gas_price")
    rows = [
        ("plan", f"{r['planned']} transaction(s){' (dry run: nothing signed)' if r['dry_run'] else ''}"),
        ("sent", f"{r['sent']} sweep(s), {r['topups_sent']} gas top-up(s), {r['rebroadcast']} re-sent"),
        ("earlier sweeps", f"{r['mined']} mined, {r['settled']} payment(s) settled, {r['dropped']} dropped"),
        ("skipped", f"{r['skipped_below_min']} below sweep_min, {r['skipped_fee_cap']} over max_fee_gwei"),
    ]
    if per_gas is not None:
        rows.append(("fee", f"{fee['type']}, {per_gas} wei/gas at most"))
    if r["waiting_for_tank"]:
        rows.append(("gas tank", f"[yellow]{r['waiting_for_tank']} token sweep(s) wait: fund the tank[/]"))
    rows.append(("took", f"{r['elapsed_s']:.2f}s"))
    for key, value in rows:
        grid.add_row(key, value)
    console().print(Panel(grid, title=f"sweep {r['chain']}", title_align="left", expand=False))


def _render_list(sweeps: list[dict[str, Any]]) -> None:
    from ctripctl.cli.tables import Column, fitted_table

    if not sweeps:
        console().print("No sweeps.")
        return
    columns = (
        Column("id", lambda s: s["id"], ident=True, keep=True),
        Column("chain", lambda s: s["chain"], priority=5),
        Column("kind", lambda s: s["kind"], priority=3),
        Column("status", lambda s: s["status"], priority=0),
        Column("from", lambda s: s["from"], ident=True, priority=4),
        Column("amount_base", lambda s: s["amount_base"], priority=2, justify="right"),
        Column("tx_hash", lambda s: s["tx_hash"], ident=True, priority=1),
    )
    console().print(fitted_table(columns, sweeps, width=console().width, title="Sweeps"))
