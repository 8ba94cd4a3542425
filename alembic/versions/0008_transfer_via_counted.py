"""transfers.via, transfers.counted, transfers.decimals: every coin that arrives is recorded

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

`via` says how a credit was found: "transaction" (a top-level value), "log" (an ERC-20
Transfer), "internal" (ETH sent inside a contract call, found by balance reconciliation
and a trace), "balance" (a balance change no transaction shows; its tx_hash is
synthetic). `counted` is false for a deposit in another asset than its payment's: it is
recorded, announced (payment.unexpected_asset) and swept, never added to `received`.
`decimals` is that asset's (NULL: the payment's). Existing rows are all counted; a row
with a log position is a log, the others top-level transactions.
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("via", sa.String(length=16), nullable=False, server_default="transaction")
        )
        batch_op.add_column(sa.Column("counted", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column("decimals", sa.SmallInteger(), nullable=True))
    op.execute("UPDATE transfers SET via = 'log' WHERE log_index >= 0")
    op.create_index(
        "ix_transfers_uncounted",
        "transfers",
        ["chain", "state"],
        postgresql_where=sa.text("NOT counted"),
        sqlite_where=sa.text("NOT counted"),
    )


def downgrade() -> None:
    op.drop_index("ix_transfers_uncounted", table_name="transfers")
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.drop_column("decimals")
        batch_op.drop_column("counted")
        batch_op.drop_column("via")
