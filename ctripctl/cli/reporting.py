"""What every cron pass reports when it ends, success or failure: one log line, and a
Prometheus textfile when `--metrics-file` is given. Shared by scan, confirm and flush."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ctripctl.cli.output import cli_errors


def report_pass(
    command: str,
    chain: str | None,
    result: dict[str, Any] | None,
    metrics_file: Path | None,
    elapsed: float,
) -> None:
    """Log the pass's summary line and write its metrics; `result` None means it failed."""
    from ctripctl.ops.logs import log_pass

    ok = result is not None
    log_pass(command, chain, result or {}, ok=ok, duration_s=elapsed)
    if metrics_file is not None:
        from ctripctl.ops.metrics import write_metrics

        with cli_errors():
            write_metrics(metrics_file, command, chain, result or {}, ok, duration_s=elapsed)
