"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-29

The whole data model of DESIGN.md; the same DDL runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

import ctripctl.db.types
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "address_counters",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("next_index", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_address_counters")),
    )
    counters = sa.table(
        "address_counters", sa.column("name", sa.String), sa.column("next_index", sa.BigInteger)
    )
    op.bulk_insert(counters, [{"name": "deposit", "next_index": 0}])
    op.create_table(
        "chain_states",
        sa.Column("chain", sa.String(length=64), nullable=False),
        sa.Column("last_block", sa.BigInteger(), nullable=False),
        sa.Column("last_block_hash", sa.String(length=66), nullable=True),
        sa.Column("last_block_time", ctripctl.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("head_block", sa.BigInteger(), nullable=True),
        sa.Column("last_scan_at", ctripctl.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_confirm_at", ctripctl.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", ctripctl.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chain", name=op.f("pk_chain_states")),
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("chain", sa.String(length=64), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=True),
        sa.Column("token_address", sa.String(length=42), nullable=True),
        sa.Column("decimals", sa.Integer(), nullable=False),
        sa.Column("amount_base", ctripctl.db.types.BaseUnits(precision=78, scale=0), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("derivation_index", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("received_base", ctripctl.db.types.BaseUnits(precision=78, scale=0), nullable=False),
        sa.Column("confirmed_base", ctripctl.db.types.BaseUnits(precision=78, scale=0), nullable=False),
        sa.Column("overpaid", sa.Boolean(), nullable=False),
        sa.Column("underpaid", sa.Boolean(), nullable=False),
        sa.Column("paid_late", sa.Boolean(), nullable=False),
        sa.Column("reference", sa.String(length=128), nullable=True),
        sa.Column("webhook_url", sa.Text(), nullable=True),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("expires_at", ctripctl.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expired_at", ctripctl.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", ctripctl.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", ctripctl.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", ctripctl.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("address", name=op.f("uq_payments_address")),
        sa.UniqueConstraint("derivation_index", name=op.f("uq_payments_derivation_index")),
        sa.UniqueConstraint("reference", name=op.f("uq_payments_reference")),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index("ix_payments_chain_status", ["chain", "status"], unique=False)
        batch_op.create_index("ix_payments_created_at", ["created_at"], unique=False)

    op.create_table(
        "scanned_blocks",
        sa.Column("chain", sa.String(length=64), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=66), nullable=False),
        sa.Column("parent_hash", sa.String(length=66), nullable=False),
        sa.PrimaryKeyConstraint("chain", "number", name=op.f("pk_scanned_blocks")),
    )
    op.create_table(
        "transfers",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("chain", sa.String(length=64), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("block_time", ctripctl.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("from_address", sa.String(length=42), nullable=False),
        sa.Column("to_address", sa.String(length=42), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=True),
        sa.Column("amount_base", ctripctl.db.types.BaseUnits(precision=78, scale=0), nullable=False),
        sa.Column("payment_id", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", ctripctl.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", ctripctl.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("orphaned_at", ctripctl.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_transfers_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfers")),
        sa.UniqueConstraint("chain", "tx_hash", "log_index", name="uq_transfers_chain_tx_log"),
    )
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_transfers_chain_state_block", ["chain", "state", "block_number"], unique=False
        )
        batch_op.create_index("ix_transfers_payment_id", ["payment_id"], unique=False)

    op.create_table(
        "webhook_events",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("payment_id", sa.String(length=32), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", ctripctl.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_until", ctripctl.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("delivered_at", ctripctl.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", ctripctl.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_webhook_events_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_webhook_events")),
        sa.UniqueConstraint("id", name=op.f("uq_webhook_events_id")),
    )
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.create_index("ix_webhook_events_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index("ix_webhook_events_payment", ["payment_id", "seq"], unique=False)

    op.create_table(
        "webhook_attempts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("event_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("started_at", ctripctl.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_seq"],
            ["webhook_events.seq"],
            name=op.f("fk_webhook_attempts_event_seq_webhook_events"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempts")),
    )
    with op.batch_alter_table("webhook_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_webhook_attempts_event", ["event_seq"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("webhook_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_attempts_event")

    op.drop_table("webhook_attempts")
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_events_payment")
        batch_op.drop_index("ix_webhook_events_due")

    op.drop_table("webhook_events")
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.drop_index("ix_transfers_payment_id")
        batch_op.drop_index("ix_transfers_chain_state_block")

    op.drop_table("transfers")
    op.drop_table("scanned_blocks")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index("ix_payments_created_at")
        batch_op.drop_index("ix_payments_chain_status")

    op.drop_table("payments")
    op.drop_table("chain_states")
    op.drop_table("address_counters")
