"""The data model of DESIGN.md as typed SQLAlchemy 2.x classes (one schema, two databases)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ctripctl.db.rows import NATIVE_LOG_INDEX as NATIVE_LOG_INDEX  # re-exported for the stores
from ctripctl.db.types import BaseUnits, JSONType, UTCDateTime, utcnow

naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Integer primary keys must be INTEGER on SQLite to autoincrement (rowid alias).
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=naming_convention)


class Payment(Base):
    __tablename__ = "payments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    chain: Mapped[str] = mapped_column(String(64))
    chain_id: Mapped[int | None] = mapped_column(BigInteger)  # NULL: created before revision 0005
    token: Mapped[str | None] = mapped_column(String(32))  # symbol; NULL = native coin
    token_address: Mapped[str | None] = mapped_column(String(42))
    decimals: Mapped[int] = mapped_column(Integer)
    amount_base: Mapped[int] = mapped_column(BaseUnits)
    address: Mapped[str] = mapped_column(String(42), unique=True)
    derivation_index: Mapped[int] = mapped_column(BigInteger, unique=True)
    status: Mapped[str] = mapped_column(String(20))
    received_base: Mapped[int] = mapped_column(BaseUnits, default=0)
    confirmed_base: Mapped[int] = mapped_column(BaseUnits, default=0)
    overpaid: Mapped[bool] = mapped_column(Boolean, default=False)
    underpaid: Mapped[bool] = mapped_column(Boolean, default=False)
    paid_late: Mapped[bool] = mapped_column(Boolean, default=False)
    reference: Mapped[str | None] = mapped_column(String(128), unique=True)
    webhook_url: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # its sweep reached depth
    swept_base: Mapped[int] = mapped_column(BaseUnits, default=0)  # moved to the treasury, at depth
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    transfers: Mapped[list[Transfer]] = relationship(
        back_populates="payment", order_by="Transfer.id", lazy="selectin"
    )

    __table_args__ = (
        Index("ix_payments_chain_status", "chain", "status"),
        Index("ix_payments_created_at", "created_at"),
        # One per branch of the scan's watched-set query (migration 0006).
        Index("ix_payments_chain_status_expires", "chain", "status", "expires_at"),
        Index("ix_payments_chain_status_updated", "chain", "status", "updated_at"),
        Index(
            "ix_payments_chain_status_cancelled",
            "chain",
            "status",
            "cancelled_at",
            postgresql_where=text("cancelled_at IS NOT NULL"),
            sqlite_where=text("cancelled_at IS NOT NULL"),
        ),
    )


class Transfer(Base):
    """One on-chain credit to a deposit address. Unique per (chain, tx, tx_log_position).

    `tx_log_position` is the log's index among its own transaction's logs
    (NATIVE_LOG_INDEX for a native credit): unlike `log_index`, which counts across the
    block, it does not change when a reorg re-mines the transaction in another block, so
    the same credit is found again there. NULL only on token credits recorded before
    migration 0004 (no node to ask then); the scan adopts such a row, giving it its
    position, the next time it sees its transaction (db/scan_store.py).
    """

    __tablename__ = "transfers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    chain: Mapped[str] = mapped_column(String(64))
    tx_hash: Mapped[str] = mapped_column(String(66))
    log_index: Mapped[int] = mapped_column(Integer)  # NATIVE_LOG_INDEX for native credits
    tx_log_position: Mapped[int | None] = mapped_column(Integer)  # the credit's identity in its tx
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(String(66))
    block_time: Mapped[datetime] = mapped_column(UTCDateTime)
    from_address: Mapped[str] = mapped_column(String(42))
    to_address: Mapped[str] = mapped_column(String(42))
    token: Mapped[str | None] = mapped_column(String(32))
    # The token's contract, lowercase (NULL: ETH, or an uncounted credit from before
    # migration 0010): a symbol can be renamed or moved in the config, the contract not.
    token_address: Mapped[str | None] = mapped_column(String(42))
    amount_base: Mapped[int] = mapped_column(BaseUnits)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"))
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    orphaned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    swept_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a confirmed sweep moved it
    # How it was found: "transaction" | "log" | "internal" | "balance" (migration 0008).
    via: Mapped[str] = mapped_column(String(16), default="transaction", server_default="transaction")
    # False: a deposit in another asset than the payment's (recorded, announced, swept,
    # never added to `received`); `token`/`decimals` are then that asset's.
    counted: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    decimals: Mapped[int | None] = mapped_column(SmallInteger)  # None: the payment's

    payment: Mapped[Payment] = relationship(back_populates="transfers")

    __table_args__ = (
        UniqueConstraint("chain", "tx_hash", "tx_log_position", name="uq_transfers_chain_tx_position"),
        Index("ix_transfers_payment_id", "payment_id"),
        Index("ix_transfers_chain_state_block", "chain", "state", "block_number"),
        # The scan's watched set: credits orphaned within the late window. Only orphaned
        # rows have orphaned_at, so the index stays a handful of rows (migration 0009).
        Index(
            "ix_transfers_orphaned",
            "chain",
            "state",
            "orphaned_at",
            postgresql_where=text("orphaned_at IS NOT NULL"),
            sqlite_where=text("orphaned_at IS NOT NULL"),
        ),
        # Deposits in another asset, for `status` and `payment list --unexpected`: a few
        # rows, never a scan of every credit (migration 0008).
        Index(
            "ix_transfers_uncounted",
            "chain",
            "state",
            postgresql_where=text("NOT counted"),
            sqlite_where=text("NOT counted"),
        ),
        # The sweep pass's candidates: confirmed credits not swept yet (migration 0006).
        Index(
            "ix_transfers_unswept",
            "chain",
            "state",
            "swept_at",
            "payment_id",
            postgresql_where=text("state = 'confirmed' AND swept_at IS NULL"),
            sqlite_where=text("state = 'confirmed' AND swept_at IS NULL"),
        ),
    )


class ChainState(Base):
    """The scan checkpoint of one chain, plus what `status` needs to judge health."""

    __tablename__ = "chain_states"

    chain: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_block: Mapped[int] = mapped_column(BigInteger)
    last_block_hash: Mapped[str | None] = mapped_column(String(66))
    last_block_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    head_block: Mapped[int | None] = mapped_column(BigInteger)
    last_scan_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_confirm_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What the last sweep pass saw of the gas tank (`status` raises gas_tank_low from it).
    last_sweep_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    tank_balance_base: Mapped[int | None] = mapped_column(BaseUnits)
    tank_needed_base: Mapped[int | None] = mapped_column(BaseUnits)
    # Where the next sweep pass resumes reading candidates (keyset: created_at, id), so
    # payments that are never swept (below sweep_min, failing) cannot starve newer ones.
    sweep_cursor_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sweep_cursor_id: Mapped[str | None] = mapped_column(String(32))
    # A reorg deeper than the kept block hashes stopped the scan (`status`: deep_reorg):
    # since when, and the block to rescan from. Cleared by the next pass that verifies
    # the chain again (the rescan).
    deep_reorg_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deep_reorg_from: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ScannedBlock(Base):
    """Recent block hashes per chain, for reorg detection; pruned beyond finality depth."""

    __tablename__ = "scanned_blocks"

    chain: Mapped[str] = mapped_column(String(64), primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[str] = mapped_column(String(66))
    parent_hash: Mapped[str] = mapped_column(String(66))


class WatchBalance(Base):
    """A watched address's ETH balance at the block the last scan pass ended on (lowercase
    address): the next pass's reconciliation starts from it instead of asking the node."""

    __tablename__ = "watch_balances"

    chain: Mapped[str] = mapped_column(String(64), primary_key=True)
    address: Mapped[str] = mapped_column(String(42), primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    balance: Mapped[int] = mapped_column(BaseUnits)


class AddressCounter(Base):
    """The next unused derivation index. Bumped with UPDATE … RETURNING so concurrent
    `payment create` runs never share an index (the row lock serialises them)."""

    __tablename__ = "address_counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    next_index: Mapped[int] = mapped_column(BigInteger)


class WebhookEvent(Base):
    """The outbox: written in the same transaction as the change that caused it."""

    __tablename__ = "webhook_events"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(32), unique=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"))
    type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_webhook_events_due", "status", "next_attempt_at"),
        Index("ix_webhook_events_payment", "payment_id", "seq"),
    )


class WebhookAttempt(Base):
    """One delivery attempt of one event: what was sent where and what came back."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_seq: Mapped[int] = mapped_column(ForeignKey("webhook_events.seq"))
    attempt: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    response_body: Mapped[str | None] = mapped_column(Text)  # truncated
    latency_ms: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (Index("ix_webhook_attempts_event", "event_seq"),)


class Sweep(Base):
    """One signed outgoing transaction: a sweep to the treasury or a gas top-up.

    Written (raw bytes included) before it is broadcast, so a crash at any point leaves
    a row the next pass can resolve: re-send the same bytes, or see its nonce spent.
    """

    __tablename__ = "sweeps"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(32), unique=True)
    chain: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # domain.sweeping.SweepKind
    status: Mapped[str] = mapped_column(String(16))  # domain.sweeping.SweepStatus
    from_address: Mapped[str] = mapped_column(String(42))
    to_address: Mapped[str] = mapped_column(String(42))
    token: Mapped[str | None] = mapped_column(String(32))  # symbol; NULL = native coin
    token_address: Mapped[str | None] = mapped_column(String(42))
    amount_base: Mapped[int] = mapped_column(BaseUnits)
    nonce: Mapped[int] = mapped_column(BigInteger)
    gas_limit: Mapped[int] = mapped_column(BigInteger)
    fee: Mapped[dict[str, Any]] = mapped_column(JSONType)  # FeeQuote.to_json()
    tx_hash: Mapped[str] = mapped_column(String(66), unique=True)
    raw_tx: Mapped[str] = mapped_column(Text)
    payment_ids: Mapped[list[str]] = mapped_column(JSONType)
    transfer_ids: Mapped[list[int]] = mapped_column(JSONType)  # the confirmed credits it moves
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    block_hash: Mapped[str | None] = mapped_column(String(66))
    broadcasts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    final_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_sweeps_chain_status", "chain", "status"),
        Index("ix_sweeps_from", "chain", "from_address", "nonce"),
        Index("ix_sweeps_chain_status_from", "chain", "status", "from_address"),
        Index("ix_sweeps_to", "chain", "to_address"),  # top-ups to a deposit (read_gas_money)
    )


class SweepItem(Base):
    """One deposit swept by a sponsored (EIP-7702) batch transaction, and its outcome."""

    __tablename__ = "sweep_items"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sweep_id: Mapped[str] = mapped_column(ForeignKey("sweeps.id"))
    payment_id: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(42))
    token: Mapped[str | None] = mapped_column(String(32))
    token_address: Mapped[str | None] = mapped_column(String(42))  # NULL: a clearing item
    amount_base: Mapped[int] = mapped_column(BaseUnits)  # what the plan meant to move
    moved_base: Mapped[int | None] = mapped_column(BaseUnits)  # what the receipt's logs show
    status: Mapped[str] = mapped_column(String(16))  # domain.sweeping.ItemStatus
    transfer_ids: Mapped[list[int]] = mapped_column(JSONType)
    cleared_by: Mapped[str | None] = mapped_column(String(32))  # the sweep clearing its delegation

    __table_args__ = (
        Index("ix_sweep_items_sweep", "sweep_id"),
        Index("ix_sweep_items_address", "address"),
        Index("ix_sweep_items_status_address", "status", "address"),
    )


class Delegate(Base):
    """A SweepDelegate contract deployed on a chain for one sponsor and one treasury."""

    __tablename__ = "delegates"

    chain: Mapped[str] = mapped_column(String(64), primary_key=True)
    address: Mapped[str] = mapped_column(String(42), primary_key=True)
    sponsor: Mapped[str] = mapped_column(String(42))
    treasury: Mapped[str] = mapped_column(String(42))
    sweep_id: Mapped[str] = mapped_column(ForeignKey("sweeps.id"))  # its deploy transaction
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
