"""Where output goes: data on stdout (one JSON document with --json), messages on stderr.

`cli_errors()` is the one place a CtripError becomes `Error: …` plus its exit code.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from functools import cache
from typing import TYPE_CHECKING, Any

import typer

from ctripctl.errors import CtripError

if TYPE_CHECKING:
    from rich.console import Console


# The consoles are made on first use: `--json` runs (cron, scripts) never import rich,
# ~25 ms of start-up, which a scan pass spends before its first request to the node.
@cache
def console() -> Console:
    """stdout for people: tables and panels."""
    from rich.console import Console

    # Piped output (a script, `| less`, a log) gets a wide page instead of rich's 80
    # columns, so ids and addresses in tables are not cut; COLUMNS still wins when set.
    width = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 200
    return Console(highlight=False, soft_wrap=False, width=width)


@cache
def err_console() -> Console:
    """stderr: messages, errors and progress bars."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


@contextlib.contextmanager
def cli_errors() -> Iterator[None]:
    """Turn project errors into one stderr line and their documented exit code."""
    try:
        yield
    except CtripError as exc:
        from ctripctl.ops.logs import log_error

        # With --log-format json the error is one JSON log line too (log shippers parse every line).
        if not log_error(exc):
            from rich.markup import escape

            # The message often quotes user input ("[/x]"): escape it, never parse it as markup.
            err_console().print(f"[bold red]Error:[/] {escape(str(exc))}", markup=True, highlight=False)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        err_console().print("Interrupted; nothing after the last commit was kept.")
        raise typer.Exit(130) from None


def emit_json(document: Any) -> None:
    """Print exactly one JSON document on stdout."""
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()


def info(message: str) -> None:
    """A human message on stderr (never mixed into --json stdout)."""
    err_console().print(message, markup=True, highlight=False)


def is_terminal() -> bool:
    return console().is_terminal
