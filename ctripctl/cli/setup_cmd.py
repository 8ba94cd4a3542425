"""`ctripctl init` and `ctripctl db upgrade | current | prune`: set-up, migrations, retention."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ctripctl.cli.options import ConfigOption, JsonOption, MetricsFileOption, load
from ctripctl.cli.output import cli_errors, console, emit_json, info

db_app = typer.Typer(
    help="Database migrations (alembic, packaged with ctripctl) and retention.", no_args_is_help=True
)


def init(
    config_path: ConfigOption = None,
    database_url: Annotated[
        str,
        typer.Option(help="Where payments are stored (relative SQLite paths: next to the config)."),
    ] = "sqlite:///ctrip.db",
    chain: Annotated[str, typer.Option(help="Name of the starter chain.")] = "local",
    chain_id: Annotated[int, typer.Option(help="Its chain id (31337: anvil).")] = 31337,
    rpc_url: Annotated[str, typer.Option(help="Its JSON-RPC URL.")] = "http://127.0.0.1:8545",
    confirmations: Annotated[int, typer.Option(min=1, help="Depth before confirmed.")] = 2,
    as_json: JsonOption = False,
) -> None:
    """Write a starter ctrip.toml (fresh wallet, SQLite, local chain) and create the database.

    The wallet's mnemonic goes to a 0600 file next to the config and is never printed.
    Refuses to overwrite existing files.

    Example:

        ctripctl init && ctripctl payment create --chain local --amount 0.1
    """
    with cli_errors():
        from ctripctl.config import config_path as resolve_path
        from ctripctl.db.migrate import upgrade
        from ctripctl.errors import Unavailable
        from ctripctl.starter import write_starter
        from ctripctl.urls import mask_url

        path = resolve_path(config_path)
        files = write_starter(
            path,
            database_url=database_url,
            chain=chain,
            chain_id=chain_id,
            rpc_url=rpc_url,
            confirmations=confirmations,
        )
        config = load(path)
        try:
            revision = upgrade(config.database_url)
        except Unavailable as exc:  # the files are written; only the database step is left
            raise type(exc)(
                f"{exc} — {path} was written; fix the database, then run `ctripctl db upgrade`"
            ) from None
        result = {
            "config": str(files.config),
            "mnemonic_file": str(files.mnemonic),
            "webhook_secret_file": str(files.secret),
            "database_url": mask_url(config.database_url),
            "revision": revision,
            "xpub": config.xpub,
        }
        if as_json:
            emit_json(result)
            return
        console().print(f"Wrote {files.config} (chain {chain!r}, chain id {chain_id}, {mask_url(rpc_url)}).")
        console().print(f"Wallet mnemonic: {files.mnemonic} (mode 0600 — back it up, keep it secret).")
        console().print(f"Webhook secret: {files.secret} (mode 0600).")
        console().print(f"Database {mask_url(config.database_url)} at revision {revision}.")
        info("Next: ctripctl payment create --chain " + chain + " --amount 0.1")


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    config_path: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create or upgrade the database schema (safe to run again).

    Example:

        CTRIP_DATABASE_URL=postgresql+psycopg://ctrip@db/ctrip ctripctl db upgrade
    """
    with cli_errors():
        from ctripctl.db.migrate import current, upgrade
        from ctripctl.urls import mask_url

        config = load(config_path)
        before = current(config.database_url)
        after = upgrade(config.database_url, revision)
        if as_json:
            emit_json({"database_url": mask_url(config.database_url), "from": before, "to": after})
            return
        if before == after:
            console().print(f"Database already at {after}.")
        else:
            console().print(f"Upgraded {mask_url(config.database_url)}: {before or 'empty'} → {after}.")


@db_app.command("current")
def db_current(config_path: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Show the schema revision of the database and the newest one ctripctl ships.

    Example:

        ctripctl db current --json
    """
    with cli_errors():
        import os

        from ctripctl.db.migrate import current, head
        from ctripctl.db.session import sqlite_path
        from ctripctl.urls import mask_url

        config = load(config_path)
        path = sqlite_path(config.database_url)
        # A SQLite file that does not exist yet is at no revision: say so without creating it.
        missing = path is not None and not os.path.exists(path)
        now, newest = (None if missing else current(config.database_url)), head()
        doc = {
            "database_url": mask_url(config.database_url),
            "current": now,
            "head": newest,
            "up_to_date": now == newest,
        }
        if as_json:
            emit_json(doc)
            return
        note = "up to date" if now == newest else f"behind: run `ctripctl db upgrade` (head {newest})"
        console().print(f"{mask_url(config.database_url)}: {now or 'empty'} ({note})")


@db_app.command("prune")
def db_prune(
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            help="Prune what belongs to payments finished longer ago than this (at least 30d).",
        ),
    ] = "90d",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count what would be pruned.")] = False,
    config_path: ConfigOption = None,
    metrics_file: MetricsFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Drop delivered webhooks' response bodies and old finished payments' event payloads.

    Payments, transfers, sweeps and event rows are never deleted; an event keeps its type,
    status, times and attempt history (its payload becomes {"type", "pruned_at"}).
    Batched in short transactions: safe to run from cron beside every other pass.

    Example:

        ctripctl db prune --older-than 90d --dry-run
    """
    import time

    from ctripctl.cli.reporting import report_pass

    started = time.monotonic()
    result: dict[str, Any] | None = None
    try:
        with cli_errors():
            from datetime import UTC, datetime

            from ctripctl.cli.options import engine
            from ctripctl.db.retention import prune
            from ctripctl.domain.durations import parse_duration

            age = parse_duration(older_than, what="--older-than")
            config = load(config_path)
            result = prune(engine(config), older_than=age, now=datetime.now(UTC), dry_run=dry_run).to_json()
    finally:
        report_pass("db_prune", None, result, metrics_file, time.monotonic() - started)
    if as_json:
        emit_json(result)
        return
    assert result is not None
    verb = "Would prune" if dry_run else "Pruned"
    console().print(
        f"{verb} {result['attempt_bodies']} attempt response bodies and {result['event_payloads']} "
        f"event payloads (payments finished before {result['cutoff']})."
    )


__all__ = ["Path", "db_app", "init"]
