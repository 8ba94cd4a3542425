"""`ctripctl confirm`: one confirm pass — confirm deep credits, orphan reorged ones, expire."""

from __future__ import annotations

import time
from typing import Any

from ctripctl.cli.options import ChainOption, ConfigOption, JsonOption, MetricsFileOption, chain_name, load
from ctripctl.cli.output import cli_errors, console, emit_json
from ctripctl.cli.reporting import report_pass


def confirm(
    chain: ChainOption = None,
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

    When nothing could be confirmed yet, it says what it waits for: "2 credits waiting for
    depth 2, head 105".

    Output (--json): chain, head, confirmed, expired, orphaned, payments_updated, waiting
    (seen credits not deep enough yet), waiting_from_block, required_depth (null with
    finality = "finalized"), confirmable_upto (the deepest block that may be confirmed).

    Example:

        ctripctl confirm --chain eth --json
    """
    started = time.monotonic()
    result: dict[str, Any] | None = None
    try:
        with cli_errors():
            from ctripctl.passes.confirm import confirm as run_confirm

            config = load(config_path)
            chain = chain_name(config, chain)
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
    ]
    if r["waiting"]:
        rows.append(("waiting", f"[yellow]{waiting_text(r)}[/]"))
    rows += [
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


def waiting_text(r: dict[str, Any]) -> str:
    """Why credits are not confirmed yet: "2 credits waiting for depth 2, head 105 (...)"."""
    count = f"{r['waiting']} credit{'s' if r['waiting'] != 1 else ''}"
    first = r["waiting_from_block"]
    if r["required_depth"] is None:
        return (
            f"{count} waiting for the node's finalized block to reach {first} "
            f"(finalized {r['confirmable_upto']}, head {r['head']})"
        )
    depth = max(0, r["head"] - first + 1)
    return (
        f"{count} waiting for depth {r['required_depth']}, head {r['head']} "
        f"(the first, in block {first}, is {depth} of {r['required_depth']})"
    )
