"""The per-chain scan lock: at most one scan pass per chain at a time, across hosts.

A second pass that overlaps a running one must exit at once, change nothing and say so
(Busy, exit 6). Passes on different chains run in parallel (the key names the chain).

PostgreSQL: `pg_try_advisory_lock(hashtext(current_schema() || ':scan:' || chain))` on a
dedicated autocommit connection held for the whole pass. Session-level advisory locks
do not keep a transaction open (no "idle in transaction", no vacuum hold-back), and the
server drops them when the connection dies, so a killed pass never wedges the chain.
The schema is in the key because two ctripctl installations (or the test suite's
per-test schemas) may share one database.

SQLite: deliberately NOT a long `BEGIN IMMEDIATE` transaction. SQLite has one writer
lock for the whole file, so holding it across the network fetch (seconds on a real
node) would make every `payment create` wait for the scan — and time out at
busy_timeout on a slow node. Instead an `fcntl.flock(LOCK_EX | LOCK_NB)` on a lock file
next to the database file (`<db>.scan-<chain>.lock`): only scan passes of the same chain
contend for it, the OS releases it when the process exits or dies, and the database
itself is locked only for the pass's short write transaction. SQLite is single-host by
nature, so a host-local lock is enough. (The write transaction additionally
compare-and-sets the checkpoint, so even without the lock two passes could not both
commit the same range.)
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ctripctl.errors import Busy, DatabaseUnavailable, InputError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from ctripctl.db.session import Database


def busy_message(chain: str, purpose: str = "scan") -> str:
    return (
        f"another {purpose} pass of chain {chain!r} is running (it holds the lock); this run changed nothing"
    )


def scan_lock(database: Database, chain: str) -> contextlib.AbstractContextManager[None]:
    """Hold the chain's scan lock for the block, or raise Busy at once."""
    return pass_lock(database, chain, "scan")


def sweep_lock(database: Database, chain: str) -> contextlib.AbstractContextManager[None]:
    """Hold the chain's sweep lock (independent of its scan lock), or raise Busy at once."""
    return pass_lock(database, chain, "sweep")


@contextlib.contextmanager
def pass_lock(database: Database, chain: str, purpose: str) -> Iterator[None]:
    """Hold the lock of `purpose` passes on `chain` for the block, or raise Busy at once.

    A plain SQLite file URL is locked without creating the engine (no SQLAlchemy import).
    """
    message = busy_message(chain, purpose)
    if database.is_sqlite:
        path = database.sqlite_path or database.engine.url.database
        with _file_lock(path, f"{purpose}-{chain}", message):
            yield
    elif database.engine.dialect.name == "postgresql":
        with _advisory_lock(database.engine, f":{purpose}:{chain}", message):
            yield
    else:  # pragma: no cover - config only lets SQLite and PostgreSQL URLs through to here
        raise InputError(f"database {database.url!r} is not supported (use SQLite or PostgreSQL)")


@contextlib.contextmanager
def _advisory_lock(engine: Engine, suffix: str, message: str) -> Iterator[None]:
    from sqlalchemy import text

    from ctripctl.db.session import map_db_errors

    key = text("hashtext(current_schema() || :suffix)")
    with map_db_errors():
        conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        with map_db_errors():
            got = conn.execute(
                text(f"SELECT pg_try_advisory_lock({key.text})"), {"suffix": suffix}
            ).scalar_one()
        if not got:
            raise Busy(message)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):  # a dead connection released it already
                conn.execute(text(f"SELECT pg_advisory_unlock({key.text})"), {"suffix": suffix})
    finally:
        conn.close()


def lock_path(database: str, name: str) -> Path:
    """The lock file of `name` next to the SQLite database file."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    return Path(f"{database}.{safe}.lock")


@contextlib.contextmanager
def _file_lock(database: str | None, name: str, message: str) -> Iterator[None]:
    import fcntl

    from ctripctl.db.session import require_sqlite_file

    if not database or database == ":memory:":  # a private in-memory database: nobody to race
        yield
        return
    require_sqlite_file(database)  # no lock file beside a mistyped path
    path = lock_path(database, name)
    try:
        handle = open(path, "a+b")  # noqa: SIM115 - closed by the with block below
    except OSError as exc:
        raise DatabaseUnavailable(f"cannot open the lock file {path}: {exc.strerror}") from None
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy(message) from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
