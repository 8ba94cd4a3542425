"""`ctripctl status`: one screen for operators; exit 7 when a threshold is crossed."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ctripctl.cli.options import ConfigOption, JsonOption, MetricsFileOption, engine, load
from ctripctl.cli.output import cli_errors, console, emit_json


def status(
    config_path: ConfigOption = None,
    metrics_file: MetricsFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show nodes, checkpoints, lag, last passes, payments and the webhook backlog.

    Per chain: the node's head (or "unreachable"), the scan checkpoint and lag, time
    since the last successful scan and confirm pass, payments by status (last 24 h and
    open); then the webhook backlog (pending, oldest pending, dead). The full report is
    always printed; then the exit code is 7 if any threshold is crossed — lag above
    max_lag_blocks, no successful pass within max_idle, node unreachable, dead webhooks,
    due webhooks nobody flushes — with the reasons on stderr. Use it as a cron health
    check or a CI gate.

    Example:

        ctripctl status --json --metrics-file /var/lib/node_exporter/textfile/ctripctl_status.prom
    """
    with cli_errors():
        from ctripctl.cli.reporting import log_summary
        from ctripctl.errors import CtripError, Unhealthy
        from ctripctl.ops.status import collect_status

        started = time.perf_counter()
        config = load(config_path)
        try:
            report = collect_status(config, engine(config), datetime.now(UTC))
        except CtripError:  # e.g. the database is down: record a failed run, then exit 5
            log_summary("status", None, {}, ok=False, duration_s=time.perf_counter() - started)
            _record(metrics_file, None, time.perf_counter() - started)
            raise
        elapsed = time.perf_counter() - started
        _record(metrics_file, report, elapsed)
        log_summary("status", None, _summary(report), ok=report["healthy"], duration_s=elapsed)
        if as_json:
            emit_json(report)
        else:
            render_status(report)
        if not report["healthy"]:
            problems = report["problems"]
            raise Unhealthy(f"unhealthy ({len(problems)}): " + "; ".join(p["message"] for p in problems))


def _record(metrics_file: Path | None, report: Mapping[str, Any] | None, elapsed: float) -> None:
    """Write the metrics file, if asked: the report's gauges, or a failed run (report None)."""
    if metrics_file is None:
        return
    from ctripctl.ops.metrics import write_metrics_many
    from ctripctl.ops.status import metrics_fields

    fields = metrics_fields(report) if report is not None else {None: {}}
    write_metrics_many(metrics_file, "status", fields, ok=report is not None, duration_s=elapsed)


def _summary(report: Mapping[str, Any]) -> dict[str, Any]:
    """The status pass's log line: the verdict, the worst lag, the backlog, the problem codes."""
    lags = [c["lag"] for c in report["chains"] if c["lag"] is not None]
    return {
        "healthy": report["healthy"],
        "chains": len(report["chains"]),
        "max_lag": max(lags) if lags else None,
        "webhooks_pending": report["webhooks"]["pending"],
        "webhooks_dead": report["webhooks"]["dead"],
        "problems": ",".join(sorted({p["code"] for p in report["problems"]})) or None,
    }


def render_status(report: Mapping[str, Any]) -> None:
    """The rich screen: verdict, chains, payments, webhooks, problems."""
    from rich.table import Table

    from ctripctl.ops.health import ago

    verdict = "[bold green]healthy[/]" if report["healthy"] else "[bold red]UNHEALTHY[/]"
    console().print(f"ctripctl status at {report['generated_at']}: {verdict}")

    chains = Table(title="Chains", title_justify="left")
    for column in ("chain", "node head", "checkpoint", "lag", "last scan", "last confirm"):
        chains.add_column(column, overflow="fold")
    for c in report["chains"]:
        node = c["node"]
        head = str(node["head"]) if node["reachable"] else "[red]unreachable[/]"
        lag = "-" if c["lag"] is None else str(c["lag"])
        if c["lag"] is not None and c["lag"] > c["max_lag_blocks"]:
            lag = f"[red]{lag}[/] (max {c['max_lag_blocks']})"
        checkpoint = "-" if c["checkpoint"] is None else str(c["checkpoint"])
        chains.add_row(
            c["chain"],
            head,
            checkpoint,
            lag,
            _idle(c["since_last_scan_s"], c["max_idle_s"]),
            _idle(c["since_last_confirm_s"], c["max_idle_s"]),
        )
    console().print(chains)

    if report["chains"]:
        statuses = list(report["chains"][0]["payments"]["last_24h"])
        payments = Table(title="Payments (last 24 h / open now)", title_justify="left")
        payments.add_column("chain")
        for s in statuses:
            payments.add_column(s, justify="right")
        for c in report["chains"]:
            recent, open_ = c["payments"]["last_24h"], c["payments"]["open"]
            cells = [f"{recent[s]}" + (f" / {open_[s]}" if s in open_ else "") for s in statuses]
            payments.add_row(c["chain"], *cells)
        console().print(payments)
        for c in report["chains"]:
            if c["payments"].get("unexpected_deposits"):
                console().print(
                    f"[yellow]{c['chain']}: {c['payments']['unexpected_deposits']} deposit(s) in another "
                    "asset than their payment's, not counted (ctripctl payment list --unexpected)[/]"
                )

    w = report["webhooks"]
    oldest = "-" if w["oldest_pending_age_s"] is None else ago(w["oldest_pending_age_s"])
    dead = f"[red]{w['dead']}[/]" if w["dead"] else "0"
    console().print(f"Webhooks: {w['pending']} pending (oldest created {oldest}), {dead} dead")
    if report["problems"]:
        from rich.markup import escape

        console().print("[bold red]Problems:[/]")
        for p in report["problems"]:
            console().print(f"  - {escape(p['code'])}: {escape(p['message'])}")


def _idle(seconds: int | None, max_idle_s: int) -> str:
    from ctripctl.ops.health import ago

    text = ago(seconds)
    return f"[red]{text}[/]" if seconds is None or seconds > max_idle_s else text
