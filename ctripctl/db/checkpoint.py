"""Read a chain's scan checkpoint without the ORM — on a SQLite file, without SQLAlchemy.

Split out of scan_store so a scan pass learns its block range, and starts fetching
blocks from the node, before SQLAlchemy and the models are imported: those imports are
the largest part of a cron-run pass's start-up, and done while the node works they no
longer delay its first request (docs/scan-pass.md, "Start-up").
A SQLite file is read with the standard library's sqlite3; PostgreSQL (and any SQLite
URL `sqlite_path` does not take) goes through the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ctripctl.db.session import (
    SQLITE_BUSY_TIMEOUT_MS,
    map_db_errors,
    map_sqlite3_errors,
    require_sqlite_file,
)

if TYPE_CHECKING:
    from ctripctl.db.session import Database

_QUERY = "SELECT last_block, last_block_hash FROM chain_states WHERE chain = {param}"


@dataclass(frozen=True)
class Checkpoint:
    """The last block a pass committed (start_block − 1 before the first pass)."""

    last_block: int
    hash: str | None
    exists: bool  # False: no chain_states row yet (the first pass inserts it)


def read_checkpoint(database: Database, chain: str, start_block: int) -> Checkpoint:
    if database.sqlite_path is not None:
        row = _read_sqlite_file(database.sqlite_path, chain)
    else:
        from sqlalchemy import text

        with map_db_errors(), database.engine.connect() as conn:
            row = conn.execute(text(_QUERY.format(param=":chain")), {"chain": chain}).first()
            conn.rollback()
    if row is None:
        return Checkpoint(start_block - 1, None, exists=False)
    return Checkpoint(int(row[0]), row[1], exists=True)


def _read_sqlite_file(path: str, chain: str) -> Any:
    """One read in autocommit mode; `mode=rw` never creates a missing database file."""
    import os
    import sqlite3
    from urllib.parse import quote

    require_sqlite_file(path)
    with map_sqlite3_errors():
        # file:// + an absolute path: an empty authority even for a path that starts with
        # "//" (POSIX reads it as "/", a bare file: URI would read "//x" as a host name).
        uri = f"file://{quote(os.path.abspath(path))}?mode=rw"
        conn = sqlite3.connect(uri, uri=True, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
        try:
            return conn.execute(_QUERY.format(param="?"), (chain,)).fetchone()
        finally:
            conn.close()
