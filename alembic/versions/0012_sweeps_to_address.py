"""sweeps (chain, to_address): the gas tank's top-ups to the deposits about to be swept

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02

The sweep pass asks which ETH on a token deposit is our own unspent top-ups
(db/sweeps.read_gas_money): top-ups by recipient. Without this index that read goes
through every mined or confirmed sweep of the chain — one per deposit ever swept.
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_sweeps_to", "sweeps", ["chain", "to_address"])


def downgrade() -> None:
    op.drop_index("ix_sweeps_to", table_name="sweeps")
