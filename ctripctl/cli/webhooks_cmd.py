"""`ctripctl webhooks …`: flush the outbox, list, show and re-queue events."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ctripctl.cli.options import ConfigOption, JsonOption, MetricsFileOption, engine, load
from ctripctl.cli.output import cli_errors, console, emit_json, err_console, is_terminal
from ctripctl.cli.reporting import report_pass

if TYPE_CHECKING:
    from ctripctl.passes.flush import ProgressFn

app = typer.Typer(help="Deliver and inspect webhook events (the outbox).", no_args_is_help=True)

STATUS_STYLE = {"pending": "yellow", "delivered": "green", "dead": "red", "skipped": "dim"}


@app.command()
def flush(
    limit: Annotated[
        int | None, typer.Option(min=1, help="Take at most N events this pass [default: all due].")
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=1000, help="Attempts in flight at once.")] = 32,
    config_path: ConfigOption = None,
    metrics_file: MetricsFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Deliver due webhook events: signed, concurrent, retried on a persisted schedule.

    Claims due events under a lease (several flushers on several hosts never send the
    same attempt twice), POSTs them concurrently, and records each outcome. 2xx is
    delivered; a failure is retried after 5s, 5m, 30m, 2h, 5h, 10h, 10h (jittered),
    then the event is dead. 410 Gone and refused (private) targets are dead at once;
    events with no URL at all are skipped. Run it from cron every minute.

    Output (--json): attempted, delivered, failed (scheduled for retry), dead, skipped, elapsed_s.

    Example:

        ctripctl webhooks flush --concurrency 50 --json
    """
    started = time.monotonic()
    result: dict[str, Any] | None = None
    try:
        with cli_errors():
            from ctripctl.passes.flush import flush as run_flush

            config = load(config_path)
            with _progress(enabled=not as_json and is_terminal()) as progress:
                outcome = run_flush(
                    engine(config), config.webhooks, limit=limit, concurrency=concurrency, progress=progress
                )
            result = outcome.to_json()
    finally:
        report_pass("webhooks_flush", None, result, metrics_file, time.monotonic() - started)
    if as_json:
        emit_json(result)
        return
    assert result is not None
    console().print(
        f"Attempted {result['attempted']}: [green]{result['delivered']} delivered[/], "
        f"[yellow]{result['failed']} to retry[/], [red]{result['dead']} dead[/], "
        f"{result['skipped']} skipped without a URL ({result['elapsed_s']:.2f}s)."
    )


@contextlib.contextmanager
def _progress(*, enabled: bool) -> Iterator[ProgressFn | None]:
    """A live count on stderr while delivering, only for a person at a terminal."""
    if not enabled:
        yield None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err_console(),
        transient=True,
    ) as bar:
        task = bar.add_task("delivering webhooks", total=None)

        def update(r: Any) -> None:
            bar.update(task, description=f"delivered {r.delivered}, failed {r.failed}, dead {r.dead}")

        yield update


@app.command("list")
def list_(
    status: Annotated[
        str | None, typer.Option(help="Only this status (pending, delivered, dead, skipped).")
    ] = None,
    payment: Annotated[str | None, typer.Option(help="Only this payment's events (pay_…).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 50,
    config_path: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """List webhook events, newest first.

    Example:

        ctripctl webhooks list --status dead --json
    """
    with cli_errors():
        from ctripctl.db.events import list_events
        from ctripctl.db.session import transaction

        config = load(config_path)
        with transaction(engine(config)) as session:
            events = list_events(session, status=status, payment_id=payment, limit=limit)
    if as_json:
        emit_json(events)
        return
    _events_table(events)


@app.command()
def show(
    event_id: Annotated[str, typer.Argument(metavar="ID", help="Event id (evt_…).")],
    config_path: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one event: its state, its payload and every attempt made.

    Example:

        ctripctl webhooks show evt_0123456789abcdefghij
    """
    with cli_errors():
        from ctripctl.db.events import show_event
        from ctripctl.db.session import transaction

        config = load(config_path)
        with transaction(engine(config)) as session:
            event = show_event(session, event_id)
    if as_json:
        emit_json(event)
        return
    _event_panel(event)


@app.command()
def retry(
    event_id: Annotated[str, typer.Argument(metavar="ID", help="Event id (evt_…).")],
    config_path: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Re-queue a dead, delivered or skipped event for delivery at the next flush.

    The event gets a fresh retry schedule; its attempt history is kept. Pending events
    are already queued (exit 3); unknown ids exit 4.

    Example:

        ctripctl webhooks retry evt_0123456789abcdefghij
    """
    with cli_errors():
        from ctripctl.db.events import retry_event
        from ctripctl.db.session import transaction

        config = load(config_path)
        with transaction(engine(config)) as session:
            event = retry_event(session, event_id, datetime.now(UTC))
    if as_json:
        emit_json(event)
        return
    console().print(f"{event['id']} re-queued for the next `ctripctl webhooks flush`.")


def _status(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"


def _events_table(events: list[dict[str, Any]]) -> None:
    from rich.markup import escape

    from ctripctl.cli.tables import Column, fitted_table

    if not events:
        console().print("No webhook events match.")
        return
    columns = (
        Column("id", lambda e: e["id"], ident=True, keep=True),
        Column("payment", lambda e: e["payment_id"], ident=True, priority=3),
        Column("type", lambda e: e["type"], priority=1),
        Column("status", lambda e: _status(e["status"]), priority=0),
        Column("attempts", lambda e: str(e["attempts"]), priority=4, justify="right"),
        Column(
            "last",
            lambda e: str(e["last_status_code"] or "") or escape(e["last_error"] or ""),
            priority=6,
            wrap=30,
        ),
        Column("next attempt", lambda e: e["next_attempt_at"] or "", priority=5),
        Column("created", lambda e: e["created_at"], priority=2),
    )
    console().print(fitted_table(columns, events, width=console().width, title="Webhook events"))


def _event_panel(e: dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.panel import Panel
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    rows = [
        ("status", _status(e["status"])),
        ("payment", e["payment_id"]),
        ("type", e["type"]),
        ("attempts", str(e["attempts"])),
        ("next attempt", e["next_attempt_at"] or "-"),
        ("delivered", e["delivered_at"] or "-"),
        ("last error", escape(e["last_error"] or "-")),
        ("created", e["created_at"]),
    ]
    for key, value in rows:
        grid.add_row(key, value)
    console().print(Panel(grid, title=e["id"], title_align="left", expand=False))
    if not e["history"]:
        console().print("No attempts yet.")
        return
    table = Table(title="Attempts", title_justify="left")
    for column in ("#", "started", "url", "status", "latency", "error / response"):
        table.add_column(column, overflow="fold")
    for a in e["history"]:
        latency = f"{a['latency_ms']} ms" if a["latency_ms"] is not None else ""
        body = " ".join((a["response_body"] or "").split())[:80]
        detail = escape(" | ".join(part for part in (a["error"], body) if part))
        table.add_row(
            str(a["attempt"]), a["started_at"], a["url"], str(a["status_code"] or "-"), latency, detail
        )
    console().print(table)
