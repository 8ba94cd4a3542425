"""Options shared by every command, defined once so they mean the same everywhere."""

from __future__ import annotations

import os
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
ChainOption = Annotated[
    str | None,
    typer.Option(
        "--chain",
        help="Chain name from ctrip.toml [default: the only chain, when exactly one is configured].",
        show_default=False,
    ),
]


def _writable_metrics_path(path: Path | None) -> Path | None:
    """Refuse an unwritable metrics path before the pass runs: found only afterwards, the
    error would come after the pass had already committed its work."""
    if path is None:
        return None
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise typer.BadParameter(f"{path} is a directory; give a file path like {path}/ctripctl.prom")
    if not folder.is_dir():
        raise typer.BadParameter(f"folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise typer.BadParameter(f"folder {folder} is not writable")
    return path


MetricsFileOption = Annotated[
    Path | None,
    typer.Option(
        "--metrics-file",
        help="Write Prometheus metrics here (node-exporter textfile format, atomic).",
        callback=_writable_metrics_path,
    ),
]


def load(config_path: Path | None) -> Config:
    """Load and validate the config (InputError on any problem)."""
    from ctripctl.config import load_config

    return load_config(config_path)


def chain_name(config: Config, chain: str | None) -> str:
    """The chain `--chain` names (checked), or the only one configured when it is omitted."""
    from ctripctl.errors import InputError

    if chain is not None:
        return config.chain(chain).name
    if len(config.chains) == 1:
        return next(iter(config.chains))
    if not config.chains:
        raise InputError("no chains configured: add a [chains.NAME] table to the config")
    names = ", ".join(config.chains)
    raise InputError(f"--chain is required: {len(config.chains)} chains are configured ({names})")


def engine(config: Config) -> Engine:
    from ctripctl.db.session import get_existing_engine

    return get_existing_engine(config.database_url)
