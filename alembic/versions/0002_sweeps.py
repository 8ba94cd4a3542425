"""sweeps: money out to the treasury

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02

The `sweeps` table (every signed outgoing transaction, recorded before its broadcast),
what a payment has had swept (`settled_at`, `swept_base`), which credits a sweep moved
(`transfers.swept_at`), and what the last sweep pass saw of the gas tank.
"""

from __future__ import annotations

import sqlalchemy as sa

import ctripctl.db.types
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _amount() -> ctripctl.db.types.BaseUnits:
    return ctripctl.db.types.BaseUnits(precision=78, scale=0)


def _time() -> ctripctl.db.types.UTCDateTime:
    return ctripctl.db.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sweeps",
        sa.Column("seq", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("chain", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("from_address", sa.String(length=42), nullable=False),
        sa.Column("to_address", sa.String(length=42), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=True),
        sa.Column("token_address", sa.String(length=42), nullable=True),
        sa.Column("amount_base", _amount(), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("gas_limit", sa.BigInteger(), nullable=False),
        sa.Column("fee", ctripctl.db.types.JSONType(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("raw_tx", sa.Text(), nullable=False),
        sa.Column("payment_ids", ctripctl.db.types.JSONType(), nullable=False),
        sa.Column("transfer_ids", ctripctl.db.types.JSONType(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("block_hash", sa.String(length=66), nullable=True),
        sa.Column("broadcasts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.Column("final_at", _time(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_sweeps")),
        sa.UniqueConstraint("id", name=op.f("uq_sweeps_id")),
        sa.UniqueConstraint("tx_hash", name=op.f("uq_sweeps_tx_hash")),
    )
    with op.batch_alter_table("sweeps", schema=None) as batch_op:
        batch_op.create_index("ix_sweeps_chain_status", ["chain", "status"], unique=False)
        batch_op.create_index("ix_sweeps_from", ["chain", "from_address", "nonce"], unique=False)
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("settled_at", _time(), nullable=True))
        batch_op.add_column(sa.Column("swept_base", _amount(), nullable=False, server_default="0"))
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("swept_at", _time(), nullable=True))
    with op.batch_alter_table("chain_states", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_sweep_at", _time(), nullable=True))
        batch_op.add_column(sa.Column("tank_balance_base", _amount(), nullable=True))
        batch_op.add_column(sa.Column("tank_needed_base", _amount(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("chain_states", schema=None) as batch_op:
        batch_op.drop_column("tank_needed_base")
        batch_op.drop_column("tank_balance_base")
        batch_op.drop_column("last_sweep_at")
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.drop_column("swept_at")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_column("swept_base")
        batch_op.drop_column("settled_at")
    with op.batch_alter_table("sweeps", schema=None) as batch_op:
        batch_op.drop_index("ix_sweeps_from")
        batch_op.drop_index("ix_sweeps_chain_status")
    op.drop_table("sweeps")
