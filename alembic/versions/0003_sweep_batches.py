"""sweep batches: EIP-7702 sponsored token sweeps

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

`sweep_items`: the deposits one sponsored transaction sweeps, each with what it was
meant to move and what it did move (read from the receipt's Transfer logs).
`delegates`: the SweepDelegate contracts deployed per chain, sponsor and treasury.
`chain_states.sweep_cursor_*`: where the next pass resumes reading sweep candidates.
"""

from __future__ import annotations

import sqlalchemy as sa

import ctripctl.db.types
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sweep_items",
        sa.Column("seq", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("sweep_id", sa.String(length=32), nullable=False),
        sa.Column("payment_id", sa.String(length=32), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=True),
        sa.Column("token_address", sa.String(length=42), nullable=True),
        sa.Column("amount_base", ctripctl.db.types.BaseUnits(precision=78, scale=0), nullable=False),
        sa.Column("moved_base", ctripctl.db.types.BaseUnits(precision=78, scale=0), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("transfer_ids", ctripctl.db.types.JSONType(), nullable=False),
        sa.Column("cleared_by", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["sweep_id"], ["sweeps.id"], name=op.f("fk_sweep_items_sweep_id_sweeps")),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_sweep_items")),
    )
    with op.batch_alter_table("sweep_items", schema=None) as batch_op:
        batch_op.create_index("ix_sweep_items_sweep", ["sweep_id"], unique=False)
        batch_op.create_index("ix_sweep_items_address", ["address"], unique=False)
    op.create_table(
        "delegates",
        sa.Column("chain", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("sponsor", sa.String(length=42), nullable=False),
        sa.Column("treasury", sa.String(length=42), nullable=False),
        sa.Column("sweep_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", ctripctl.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["sweep_id"], ["sweeps.id"], name=op.f("fk_delegates_sweep_id_sweeps")),
        sa.PrimaryKeyConstraint("chain", "address", name=op.f("pk_delegates")),
    )
    with op.batch_alter_table("chain_states", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sweep_cursor_at", ctripctl.db.types.UTCDateTime(timezone=True)))
        batch_op.add_column(sa.Column("sweep_cursor_id", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("chain_states", schema=None) as batch_op:
        batch_op.drop_column("sweep_cursor_id")
        batch_op.drop_column("sweep_cursor_at")
    op.drop_table("delegates")
    with op.batch_alter_table("sweep_items", schema=None) as batch_op:
        batch_op.drop_index("ix_sweep_items_address")
        batch_op.drop_index("ix_sweep_items_sweep")
    op.drop_table("sweep_items")
