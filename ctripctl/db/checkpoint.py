"""Read a chain's scan checkpoint with SQLAlchemy Core only (no ORM, no models).

Split out of scan_store so a scan pass can learn its block range — and start fetching
blocks from the node — before the ORM and the models are imported (~150 ms of the start
of a cron-run process, more on a busy host); those imports then overlap the fetch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ctripctl.db.session import map_db_errors

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


@dataclass(frozen=True)
class Checkpoint:
    """The last block a pass committed (start_block − 1 before the first pass)."""

    last_block: int
    hash: str | None
    exists: bool  # False: no chain_states row yet (the first pass inserts it)


def read_checkpoint(engine: Engine, chain: str, start_block: int) -> Checkpoint:
    from sqlalchemy import text

    query = text("SELECT last_block, last_block_hash FROM chain_states WHERE chain = :chain")
    with map_db_errors(), engine.connect() as conn:
        row = conn.execute(query, {"chain": chain}).first()
        conn.rollback()
    if row is None:
        return Checkpoint(start_block - 1, None, exists=False)
    return Checkpoint(int(row[0]), row[1], exists=True)
