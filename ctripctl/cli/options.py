"""Options shared by every command, defined once so they mean the same everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from ctripctl.config import Config

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout (for scripts).")]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Config file [default: $CTRIP_CONFIG or ./ctrip.toml].",
        show_default=False,
    ),
]
ChainOption = Annotated[str, typer.Option("--chain", help="Chain name from ctrip.toml.")]
MetricsFileOption = Annotated[
    Path | None,
    typer.Option(
        "--metrics-file",
        help="Write Prometheus metrics here (node-exporter textfile format, atomic).",
    ),
]


def load(config_path: Path | None) -> Config:
    """Load and validate the config (InputError on any problem)."""
    from ctripctl.config import load_config

    return load_config(config_path)


def engine(config: Config) -> Engine:
    from ctripctl.db.session import get_engine

    return get_engine(config.database_url)
