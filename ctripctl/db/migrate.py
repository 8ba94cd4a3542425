"""Run the packaged alembic migrations (`ctripctl db upgrade`, `db current`, `init`).

The scripts live in the top-level alembic/ folder of the source tree and are shipped in
the wheel as ctripctl/_alembic; whichever exists is used, so migrations work from an
installed package as well as from a checkout.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ctripctl.db.session import get_engine, map_db_errors
from ctripctl.errors import InputError

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig


def script_location() -> Path:
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "_alembic", package.parent / "alembic"):
        if (candidate / "env.py").is_file():
            return candidate
    raise FileNotFoundError("alembic scripts not found next to the ctripctl package")


def _alembic_config(database_url: str) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(script_location()))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    cfg.attributes["engine"] = get_engine(database_url)
    return cfg


def upgrade(database_url: str, revision: str = "head") -> str | None:
    """Upgrade the schema to `revision`; return the revision now current."""
    from alembic.util import CommandError

    from alembic import command

    try:
        with map_db_errors():
            command.upgrade(_alembic_config(database_url), revision)
    except CommandError as exc:  # e.g. an unknown revision: the user's input, not a bug
        raise InputError(f"cannot upgrade to {revision!r}: {exc}") from None
    return current(database_url)


def current(database_url: str) -> str | None:
    """The revision the database is at (None: never migrated)."""
    from alembic.runtime.migration import MigrationContext

    with map_db_errors(), get_engine(database_url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head() -> str | None:
    """The newest revision the packaged scripts know."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(script_location())).get_current_head()
