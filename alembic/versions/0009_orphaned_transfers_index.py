"""transfers (chain, state, orphaned_at) WHERE orphaned_at IS NOT NULL: the scan's orphaned credits

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

The scan pass's watched set (db/scan_store.read_watched) includes every payment with a
credit orphaned within the late window. Orphaned credits stay in the table forever, so
without this index that branch reads them all (or every credit of the chain); with it,
only those orphaned inside the window. Partial: only orphaned rows have orphaned_at (a
revived credit clears it), so the index holds a handful of rows and costs no write to
the ordinary credits. `orphaned_at > :since` implies the index's condition on both
engines, so the planner can use it with a bound parameter.
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_transfers_orphaned",
        "transfers",
        ["chain", "state", "orphaned_at"],
        postgresql_where=sa.text("orphaned_at IS NOT NULL"),
        sqlite_where=sa.text("orphaned_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_transfers_orphaned", table_name="transfers")
