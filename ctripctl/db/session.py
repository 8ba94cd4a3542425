"""Engines and sessions: one place that knows SQLite from PostgreSQL and maps failures.

Every unit of work is `with transaction(engine) as session:` — it commits on success,
rolls back on any error, and turns "cannot connect" into DatabaseUnavailable.

`Database` is a URL whose engine is made on first use: a scan pass on a SQLite file
takes its lock and reads its checkpoint without SQLAlchemy (see `sqlite_path`), so
its block requests reach the node before SQLAlchemy (~0.2 s of CPU) is imported.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ctripctl.errors import DatabaseUnavailable, InputError
from ctripctl.urls import mask_urls_in

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session

SQLITE_BUSY_TIMEOUT_MS = 30_000


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; busy_timeout makes writers queue up
    # instead of failing at once; foreign keys are off by default in SQLite.
    dbapi_connection.isolation_level = None  # let SQLAlchemy's BEGIN below take over
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _on_sqlite_begin(conn: Any) -> None:
    # BEGIN IMMEDIATE: take the write lock at the start of every transaction, so two
    # writers queue on busy_timeout instead of deadlocking on a read→write upgrade.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


#: Every engine `get_engine` made in this process, for `dispose_engines` at exit.
_ENGINES: list[Engine] = []


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """Create (once per URL and process) an engine with the right per-database settings."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
            event.listen(engine, "connect", _on_sqlite_connect)
            event.listen(engine, "begin", _on_sqlite_begin)
        else:
            engine = create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise InputError(f"database_url is not usable: {mask_urls_in(str(exc))}") from None
    except ModuleNotFoundError as exc:  # psycopg is an extra: pip install 'ctripctl[postgres]'
        raise InputError(f"database_url needs {exc.name}: pip install 'ctripctl[postgres]'") from None
    _ENGINES.append(engine)
    return engine


def get_existing_engine(url: str) -> Engine:
    """`get_engine` for every command but `init` and `db upgrade`: a SQLite file that does
    not exist is DatabaseUnavailable (exit 5), not created empty by the first connection."""
    path = sqlite_path(url)
    if path is not None:
        require_sqlite_file(path)
    return get_engine(url)


def dispose_engines() -> None:
    """Close every pooled connection of this process (the CLI calls it on exit).

    On SQLite the last connection to close folds the write-ahead log back into the
    database file and removes ctrip.db-wal / -shm, so a plain copy of ctrip.db is a
    complete backup once no command runs.
    """
    for engine in _ENGINES:
        engine.dispose()


def dialect_name(engine: Engine) -> str:
    return engine.dialect.name


#: `sqlite:///PATH` (or `sqlite+pysqlite:///PATH`) with nothing SQLAlchemy would decode
#: or treat as options: no query string, fragment or %-escapes.
_PLAIN_SQLITE_FILE = re.compile(r"sqlite(?:\+pysqlite)?:///(?P<path>[^?#%]+)")


def sqlite_path(url: str) -> str | None:
    """The file of a plain SQLite URL, read without importing SQLAlchemy.

    Same result as `make_url(url).database` (tests/unit/test_sqlite_path.py); None for
    anything else — another database, an in-memory one, or a URL with a query string or
    %-escapes — whose callers then go through the engine as usual.
    """
    match = _PLAIN_SQLITE_FILE.fullmatch(url)
    if match is None or match["path"] == ":memory:":
        return None
    return match["path"]


def require_sqlite_file(path: str) -> None:
    """DatabaseUnavailable (exit 5) when a SQLite file is missing, before anything creates it."""
    import os

    if not os.path.exists(path):
        raise DatabaseUnavailable(
            f"database unavailable: the database file {path} does not exist; run `ctripctl db upgrade`"
        )


class Database:
    """A database URL and its engine, created on first use of `engine`."""

    def __init__(self, url: str, engine: Engine | None = None) -> None:
        self.url = url
        self._engine = engine
        #: The SQLite file, when the URL names one plainly (usable without SQLAlchemy);
        #: None with a given engine, which is then used for everything.
        self.sqlite_path = sqlite_path(url) if engine is None else None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = get_engine(self.url)
        return self._engine

    @property
    def is_sqlite(self) -> bool:
        if self._engine is not None:
            return self._engine.dialect.name == "sqlite"
        return self.url.startswith("sqlite")


@contextlib.contextmanager
def map_db_errors() -> Iterator[None]:
    """Turn 'cannot reach/open the database' into DatabaseUnavailable (safe to retry).

    A missing schema (never migrated) says to run `ctripctl db upgrade`; a database that
    does not exist, refuses us, or is not a database at all says so. Anything else (a
    constraint violation, a bug in a query) passes through unchanged.
    """
    from sqlalchemy.exc import DBAPIError, OperationalError

    try:
        yield
    except DBAPIError as exc:
        message = _first_line(exc)
        if exc.connection_invalidated and not _is_missing_schema(message):
            raise DatabaseUnavailable(f"database connection lost: {message}") from None
        unavailable = _unavailable(message, operational=isinstance(exc, OperationalError))
        if unavailable is not None:
            raise unavailable from None
        raise


@contextlib.contextmanager
def map_sqlite3_errors() -> Iterator[None]:
    """`map_db_errors` for the standard library's sqlite3, used without SQLAlchemy."""
    import sqlite3

    try:
        yield
    except sqlite3.Error as exc:
        message = _first_line(exc)
        unavailable = _unavailable(message, operational=isinstance(exc, sqlite3.OperationalError))
        if unavailable is not None:
            raise unavailable from None
        raise


def _unavailable(message: str, *, operational: bool) -> DatabaseUnavailable | None:
    """The DatabaseUnavailable a driver error means, or None (a bug: let it through)."""
    if _is_missing_schema(message):
        return DatabaseUnavailable(
            f"the database has no ctripctl schema or an old one ({message}); run `ctripctl db upgrade`"
        )
    if operational or any(p in message for p in _UNUSABLE):
        return DatabaseUnavailable(f"database unavailable: {message}")
    return None


_UNUSABLE = ("permission denied", "file is not a database")


def _is_missing_schema(message: str) -> bool:
    # SQLite: "no such table: payments" / "no such column"; PostgreSQL: 'relation "payments"
    # does not exist' / 'column "x" does not exist' (a schema older than this ctripctl).
    # Not 'database "x" does not exist': that one is a connection failure.
    if any(p in message for p in ("no such table", "no such column", "has no column named")):
        return True
    return message.startswith(("relation ", "column ")) and "does not exist" in message


@contextlib.contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: a session inside one transaction, committed on success."""
    from sqlalchemy.orm import Session

    with map_db_errors(), Session(engine, expire_on_commit=False) as session, session.begin():
        yield session


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return mask_urls_in(text.splitlines()[0]) if text else type(exc).__name__
