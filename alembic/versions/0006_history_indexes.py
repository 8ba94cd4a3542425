"""indexes that keep every cron pass's queries off the history

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

Each index serves one hot query that, at 1M payments, otherwise reads the whole history
of a chain (benchmarks/bench_history.py; tests/integration/test_query_plans.py checks
each plan uses its index):

- payments (chain, status, expires_at | updated_at | cancelled_at): one per branch of the
  scan's watched-set query (expired by expires_at, confirmed/settled by updated_at,
  cancelled by cancelled_at, within the late window), and confirm's expiry query;
- transfers (chain, state, swept_at, payment_id) WHERE confirmed and not swept: the sweep
  pass's candidates — deposits still waiting, not every credit ever swept;
- sweeps (chain, status, from_address): the sweep pass's live and reverted sweeps per
  address (status first after chain, so SQLite's planner, without statistics, seeks it);
- sweep_items (status, address): failed batch items per address.

Creating them reads each table once; on a large PostgreSQL database run `db upgrade` at
a quiet time (the build blocks writes to that table while it runs).
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_UNSWEPT = "state = 'confirmed' AND swept_at IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index("ix_payments_chain_status_expires", ["chain", "status", "expires_at"])
        batch_op.create_index("ix_payments_chain_status_updated", ["chain", "status", "updated_at"])
        batch_op.create_index(
            "ix_payments_chain_status_cancelled",
            ["chain", "status", "cancelled_at"],
            postgresql_where=sa.text("cancelled_at IS NOT NULL"),
            sqlite_where=sa.text("cancelled_at IS NOT NULL"),
        )
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_transfers_unswept",
            ["chain", "state", "swept_at", "payment_id"],
            postgresql_where=sa.text(_UNSWEPT),
            sqlite_where=sa.text(_UNSWEPT),
        )
    with op.batch_alter_table("sweeps", schema=None) as batch_op:
        batch_op.create_index("ix_sweeps_chain_status_from", ["chain", "status", "from_address"])
    with op.batch_alter_table("sweep_items", schema=None) as batch_op:
        batch_op.create_index("ix_sweep_items_status_address", ["status", "address"])


def downgrade() -> None:
    with op.batch_alter_table("sweep_items", schema=None) as batch_op:
        batch_op.drop_index("ix_sweep_items_status_address")
    with op.batch_alter_table("sweeps", schema=None) as batch_op:
        batch_op.drop_index("ix_sweeps_chain_status_from")
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.drop_index("ix_transfers_unswept")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index("ix_payments_chain_status_cancelled")
        batch_op.drop_index("ix_payments_chain_status_updated")
        batch_op.drop_index("ix_payments_chain_status_expires")
