"""payments.chain_id: the chain id a payment was requested on (its payment URI names it)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

Written by `payment create` from the chain's configured chain_id, so the EIP-681
`payment_uri` of the payment object (and of every webhook) is built from the row alone.
Payments created before this revision have NULL here; their objects carry
`payment_uri: null` (the CLI fills it in from the configuration for display).
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chain_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_column("chain_id")
