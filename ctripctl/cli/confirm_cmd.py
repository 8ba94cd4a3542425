"""`ctripctl confirm`: one confirm pass — confirm deep credits, orphan reorged ones, expire."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ctripctl.cli.options import ChainOption, ConfigOption, JsonOption, MetricsFileOption, load
from ctripctl.cli.output import cli_errors, console, emit_json
from ctripctl.cli.reporting import report_pass

if TYPE_CHECKING:
    pass


def confirm(
    chain: ChainOption,
    config_path: ConfigOption = None,
    metrics_file: MetricsFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Sweep confirmations: confirm deep credits, orphan reorged ones, expire overdue payments.

    One bounded, idempotent pass. A credit is confirmed once its block is `confirmations`
    deep (or at/below the node's finalized block with finality = "finalized") AND its
    block hash is still the node's block at that height; a credit whose block left the
    chain is orphaned and its payment steps back (payment.reorged). Payments whose
    confirmed credits reach the amount become confirmed. Payments past expires_at that
    are still short are expired (underpaid if partly paid) once the scan has covered the
    chain past their expiry. Everything, with its webhook events, commits in one
    transaction. Safe to run from cron beside `scan` and beside itself.

    Output (--json): chain, head, confirmed, expired, orphaned, payments_updated.

    Example:

        ctripctl confirm --chain eth --json
    """
    started = time.monotonic()
    result: dict[str, Any] | None = None
    try:
        with cli_errors():
            from ctripctl.passes.confirm import confirm as run_confirm

            config = load(config_path)
            result = run_confirm(config, chain).to_json()
    finally:
        report_pass("confirm", chain, result, metrics_file, time.monotonic() - started)
    if as_json:
        emit_json(result)
    else:
        _render(result)


def _render(r: dict[str, Any] | None) -> None:
    from rich.panel import Panel
    from rich.table import Table

    assert r is not None
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    rows = [
        ("head", str(r["head"])),
        ("confirmed", f"{r['confirmed']} credit(s)"),
        ("expired", f"{r['expired']} payment(s)"),
        (
            "orphaned",
            f"[yellow]{r['orphaned']} credit(s) no longer on the chain[/]" if r["orphaned"] else "0",
        ),
        ("payments updated", str(r["payments_updated"])),
    ]
    for key, value in rows:
        grid.add_row(key, value)
    console().print(Panel(grid, title=f"confirm {r['chain']}", title_align="left", expand=False))
