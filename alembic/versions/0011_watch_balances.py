"""watch_balances: each watched address's ETH balance at the scan checkpoint

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02

The reconciliation of contract-sent ETH (chain/internal.py) reads every watched
address's balance at the start and at the end of a pass's range. The end of one pass is
the start of the next: the balances read at the end are kept here, in the pass's own
transaction, with the block they were read at, and the next pass takes those whose block
is its start − 1 instead of asking the node again (half the eth_getBalance reads; a
rewound checkpoint — reorg, rescan — simply finds none). One row per watched address:
each pass replaces its chain's rows.
"""

from __future__ import annotations

import sqlalchemy as sa

import ctripctl.db.types
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "watch_balances",
        sa.Column("chain", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("balance", ctripctl.db.types.BaseUnits(precision=78, scale=0), nullable=False),
        sa.PrimaryKeyConstraint("chain", "address"),
    )


def downgrade() -> None:
    op.drop_table("watch_balances")
