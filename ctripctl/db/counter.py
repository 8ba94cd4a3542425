"""The deposit address counter, read (and raised to `[wallet] first_index`) before a
payment is created — on a SQLite file without SQLAlchemy, like db/checkpoint.py.

`payment create` asks it on every run, so it must cost next to nothing: one SELECT on
the one counter row. Only when a `first_index` is configured and the counter is still
below it is the row written, once: `UPDATE … SET next_index = first_index WHERE
next_index < first_index`, which never lowers it (indexes never go back) and is
harmless when two creators race to it. The allocation itself stays in
db/payments.py (`allocate_indexes`), which then starts from there.
"""

from __future__ import annotations

from typing import Any

from ctripctl.db.session import (
    SQLITE_BUSY_TIMEOUT_MS,
    get_existing_engine,
    map_db_errors,
    map_sqlite3_errors,
    require_sqlite_file,
    sqlite_path,
)
from ctripctl.errors import DatabaseUnavailable

COUNTER = "deposit"  # db/payments.py's counter row
#: The value migration 0001 seeds: a database that has never derived an address.
INITIAL_INDEX = 0

_SELECT = "SELECT next_index FROM address_counters WHERE name = {name}"
_RAISE = "UPDATE address_counters SET next_index = {first} WHERE name = {name} AND next_index < {first}"


def next_deposit_index(database_url: str, first_index: int | None = None) -> int:
    """The next index the counter hands out, after raising it to `first_index` if below."""
    path = sqlite_path(database_url)
    current = _sqlite_file(path, first_index) if path is not None else _engine(database_url, first_index)
    if current is None:
        raise DatabaseUnavailable("the database has no address counter; run `ctripctl db upgrade`")
    return current


def _sqlite_file(path: str, first_index: int | None) -> int | None:
    import os
    import sqlite3
    from urllib.parse import quote

    require_sqlite_file(path)
    with map_sqlite3_errors():
        uri = f"file://{quote(os.path.abspath(path))}?mode=rw"
        conn = sqlite3.connect(uri, uri=True, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        try:
            row = conn.execute(_SELECT.format(name="?"), (COUNTER,)).fetchone()
            if row is None or first_index is None or int(row[0]) >= first_index:
                return _value(row)
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(_RAISE.format(first="?", name="?"), (first_index, COUNTER, first_index))
            row = conn.execute(_SELECT.format(name="?"), (COUNTER,)).fetchone()
            conn.execute("COMMIT")
            return _value(row)
        finally:
            conn.close()


def _engine(database_url: str, first_index: int | None) -> int | None:
    from sqlalchemy import text

    engine = get_existing_engine(database_url)
    params = {"name": COUNTER, "first": first_index}
    with map_db_errors(), engine.connect() as conn:
        row = conn.execute(text(_SELECT.format(name=":name")), params).first()
        if row is None or first_index is None or int(row[0]) >= first_index:
            conn.rollback()
            return _value(row)
        conn.execute(text(_RAISE.format(first=":first", name=":name")), params)
        row = conn.execute(text(_SELECT.format(name=":name")), params).first()
        conn.commit()
        return _value(row)


def _value(row: Any) -> int | None:
    return None if row is None else int(row[0])
