"""What every cron pass reports when it ends, success or failure: one log line, and a
Prometheus textfile when `--metrics-file` is given. Shared by scan, confirm, flush,
sweep and status.

The summary line is for logs: on an interactive terminal the command's own panel (or,
when it failed, its one `Error: …` line) says the same, so there it is logged only with
`-v` (or `--log-format json`, which someone asked for on purpose).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ctripctl.cli.output import cli_errors

_settings = {"verbosity": 0, "format": "text"}


def set_logging(verbosity: int, fmt: str) -> None:
    """Remember the root options (-v/-q, --log-format) for `summary_wanted`."""
    _settings["verbosity"] = verbosity
    _settings["format"] = fmt


def summary_wanted() -> bool:
    """Log a pass's summary line? Always for logs (stderr not a terminal), with -v and
    JSON logs; not on a terminal by default, where the panel or the error says it."""
    if _settings["verbosity"] > 0 or _settings["format"] == "json":
        return True
    return not sys.stderr.isatty()


def log_summary(
    command: str, chain: str | None, result: dict[str, Any], *, ok: bool, duration_s: float
) -> None:
    """`ops.logs.log_pass`, when `summary_wanted`."""
    if summary_wanted():
        from ctripctl.ops.logs import log_pass

        log_pass(command, chain, result, ok=ok, duration_s=duration_s)


def report_pass(
    command: str,
    chain: str | None,
    result: dict[str, Any] | None,
    metrics_file: Path | None,
    elapsed: float,
) -> None:
    """Log the pass's summary line and write its metrics; `result` None means it failed."""
    ok = result is not None
    log_summary(command, chain, result or {}, ok=ok, duration_s=elapsed)
    if metrics_file is not None:
        from ctripctl.ops.metrics import write_metrics

        with cli_errors():
            write_metrics(metrics_file, command, chain, result or {}, ok, duration_s=elapsed)
