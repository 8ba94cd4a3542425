"""transfers.tx_log_position: a credit's identity that survives a reorg

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

A log's `log_index` counts across its whole block, so a reorg that re-mines a
transaction in another block shifts it, and (chain, tx_hash, log_index) named another
credit — or collided with one. The identity is now the log's place among its own
transaction's logs, unique per (chain, tx_hash, tx_log_position).

Existing rows: native credits get their position here (-1, as their log_index). Token
credits stay NULL — their position needs the transaction's receipt, and a migration has
no node to ask; NULLs never collide in the unique key. The scan adopts such a row (gives
it its position) the next time it sees its transaction (db/scan_store.py).
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tx_log_position", sa.Integer(), nullable=True))
    op.execute("UPDATE transfers SET tx_log_position = -1 WHERE log_index = -1")
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.drop_constraint("uq_transfers_chain_tx_log", type_="unique")
        batch_op.create_unique_constraint(
            "uq_transfers_chain_tx_position", ["chain", "tx_hash", "tx_log_position"]
        )


def downgrade() -> None:
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.drop_constraint("uq_transfers_chain_tx_position", type_="unique")
        batch_op.create_unique_constraint("uq_transfers_chain_tx_log", ["chain", "tx_hash", "log_index"])
        batch_op.drop_column("tx_log_position")
