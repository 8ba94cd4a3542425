"""chain_states.deep_reorg_*: a reorg deeper than the kept block hashes, until rescanned

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

A scan pass that finds none of its kept block hashes on the node cannot find the common
ancestor by itself: it stops (exit 3) and records when (`deep_reorg_at`) and the block
to rescan from (`deep_reorg_from`), so `ctripctl status` raises `deep_reorg` with the
exact command. The next pass that verifies the chain again (the rescan) clears both.
"""

from __future__ import annotations

import sqlalchemy as sa

import ctripctl.db.types
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chain_states", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("deep_reorg_at", ctripctl.db.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("deep_reorg_from", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("chain_states", schema=None) as batch_op:
        batch_op.drop_column("deep_reorg_from")
        batch_op.drop_column("deep_reorg_at")
