"""`ctripctl scan`: one bounded, checkpointed, reorg-safe scan pass of one chain."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ctripctl.cli.options import ChainOption, ConfigOption, JsonOption, MetricsFileOption, chain_name, load
from ctripctl.cli.output import cli_errors, console, emit_json, err_console, is_terminal
from ctripctl.cli.reporting import report_pass

if TYPE_CHECKING:
    from ctripctl.config import Config
    from ctripctl.passes.scan import ProgressFn


def scan(
    chain: ChainOption = None,
    batches: Annotated[
        int,
        typer.Option(
            min=1,
            help="Run up to N passes back to back (stops early once caught up with the head, "
            "or after a pass that scanned no block); "
            "--json then prints ONE document summarising all of them.",
        ),
    ] = 1,
    from_block: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Rescan from block N: move the checkpoint back to N-1 and scan forward. Credits "
            "already recorded are left alone and only missing ones are added, so nothing is "
            "counted twice; recorded credits whose block left the chain are orphaned.",
        ),
    ] = None,
    config_path: ConfigOption = None,
    metrics_file: MetricsFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Scan new blocks of a chain for payments: one bounded pass from the checkpoint.

    Covers at most block_batch_size blocks, never past the node's head, finds native and
    token credits to open payments, handles reorgs, and commits everything (transfers,
    statuses, webhook events, checkpoint) in one transaction. Run it from cron. A second
    overlapping pass on the same chain exits at once with code 6, changing nothing;
    an unreachable node exits 5 with the checkpoint untouched.

    Output (--json): chain, from_block, to_block, head, blocks_scanned, transfers_found,
    payments_updated, reorg_depth, lag (head - checkpoint), elapsed_s, plus checkpoint,
    transfers_orphaned, events, rpc_requests, passes. from_block/to_block are null when
    no block was scanned.

    Example:

        ctripctl scan --chain eth --batches 10 --json
    """
    started = time.monotonic()
    result: dict[str, Any] | None = None
    try:
        with cli_errors():
            from ctripctl.passes.scan import scan as run_scan

            config = load(config_path)
            chain = chain_name(config, chain)
            with _progress(enabled=not as_json and is_terminal()) as progress:
                outcome = run_scan(config, chain, batches=batches, from_block=from_block, progress=progress)
            result = outcome.to_json()
    finally:
        report_pass("scan", chain, result, metrics_file, time.monotonic() - started)
    assert result is not None and chain is not None
    if result["head"] < result["checkpoint"]:
        _warn_shorter_chain(config, chain, result)
    if as_json:
        emit_json(result)
    else:
        _render(result)


def _warn_shorter_chain(config: Config, chain: str, r: dict[str, Any]) -> None:
    """One WARNING line on stderr (logs and people alike) naming the recovery command."""
    import logging

    from ctripctl.ops.health import shorter_chain_advice

    start = config.chain(chain).start_block
    advice = shorter_chain_advice(chain, start, r["head"], r["checkpoint"])
    logging.getLogger("ctripctl.scan").warning("%s", advice)


@contextlib.contextmanager
def _progress(*, enabled: bool) -> Iterator[ProgressFn | None]:
    """A rich progress bar on stderr while fetching, only for a person at a terminal."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("scanning blocks"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console(),
        transient=True,
    ) as bar:
        task = bar.add_task("scan", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _render(r: dict[str, Any] | None) -> None:
    from rich.panel import Panel
    from rich.table import Table

    assert r is not None
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    scanned = (
        f"{r['from_block']}..{r['to_block']} ({r['blocks_scanned']} blocks)"
        if r["blocks_scanned"]
        else "nothing new"
    )
    if r["head"] < r["checkpoint"]:
        scanned = f"[red]none: the node's chain ends at {r['head']}, below the checkpoint (see above)[/]"
    rows = [
        ("blocks", scanned),
        ("head", f"{r['head']} (checkpoint {r['checkpoint']}, lag {r['lag']})"),
        ("credits found", str(r["transfers_found"])),
        ("payments updated", f"{r['payments_updated']} ({r['events']} webhook events queued)"),
    ]
    if r["reorg_depth"]:
        rows.append(
            ("reorg", f"[yellow]{r['reorg_depth']} blocks rolled back, {r['transfers_orphaned']} orphaned[/]")
        )
    rows.append(("took", f"{r['elapsed_s']:.2f}s, {r['rpc_requests']} RPC requests, {r['passes']} pass(es)"))
    for key, value in rows:
        grid.add_row(key, value)
    console().print(Panel(grid, title=f"scan {r['chain']}", title_align="left", expand=False))
