"""transfers.token_address: the contract of a token credit, kept with the credit

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02

A deposit in another asset kept only the token's symbol: renamed in the config (the same
contract) it could not be swept, and a symbol moved to another contract merged two
contracts' credits into one sweep. The contract is now recorded with every token credit
(lowercase; NULL for ETH). Existing counted token credits take their payment's; existing
uncounted ones stay NULL (their symbol is looked up in the config, as before).
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token_address", sa.String(length=42), nullable=True))
    op.execute(
        "UPDATE transfers SET token_address = (SELECT lower(payments.token_address) FROM payments "
        "WHERE payments.id = transfers.payment_id) WHERE counted AND token IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.drop_column("token_address")
