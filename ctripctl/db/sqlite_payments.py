"""`payment create`, `payment import` and `payment show` on a SQLite file, without SQLAlchemy.

Importing SQLAlchemy and mapping the models costs a short command most of its time
(`payment create` measured 0.41 s median, 0.11 s of it before the first line of
ctripctl runs is the interpreter and typer); these are the commands support staff and
shop scripts run one at a time, so on a plain SQLite file (`session.sqlite_path`) they
talk to it with the standard library's sqlite3, as the scan pass reads its checkpoint
(db/checkpoint.py). PostgreSQL, and SQLite URLs with options, go through the ORM
(db/payments.py), which stays the reference: tests/integration/test_payment_sqlite_path.py
checks that both write the same rows and read the same objects.

The guarantees are the ORM path's:
- one transaction, `BEGIN IMMEDIATE` (SQLite's write lock from the start, as every
  engine transaction takes it): the counter bump, the payment rows and their
  `payment.created` outbox events commit together or not at all;
- `--reference` is an idempotency key: an existing reference with the same terms returns
  that payment, other terms are a RuleError — and since the write lock is held from the
  lookup on, no racing twin can insert the same reference in between.

Values are stored exactly as SQLAlchemy's column types store them on SQLite
(db/types.py): amounts as decimal strings, times as naive UTC `YYYY-MM-DD HH:MM:SS.ffffff`,
JSON as `json.dumps` text, booleans as 0/1.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ctripctl.db.rows import PaymentRow, TransferRow, check_terms
from ctripctl.db.session import SQLITE_BUSY_TIMEOUT_MS, map_sqlite3_errors, require_sqlite_file
from ctripctl.db.snapshot import iso, payment_object
from ctripctl.domain.events import EventStatus
from ctripctl.domain.ids import new_id
from ctripctl.domain.lifecycle import EVENT_CREATED, Status
from ctripctl.errors import DatabaseUnavailable, InputError, NotFound

if TYPE_CHECKING:
    from ctripctl.payment_request import PaymentRequest  # a plain dataclass: types only

COUNTER = "deposit"  # db/payments.py's counter row
_CHUNK = 500  # references per IN (...) lookup; SQLite allows 32,766 parameters

_PAYMENT_COLUMNS = (
    "id, chain, chain_id, token, token_address, decimals, amount_base, address, derivation_index, "
    "status, received_base, confirmed_base, overpaid, underpaid, paid_late, reference, webhook_url, "
    "metadata, expires_at, created_at, updated_at, settled_at, swept_base"
)
_INSERT_PAYMENT = (
    "INSERT INTO payments (id, chain, chain_id, token, token_address, decimals, amount_base, address, "
    "derivation_index, status, received_base, confirmed_base, overpaid, underpaid, paid_late, reference, "
    "webhook_url, metadata, expires_at, created_at, updated_at, swept_base) VALUES (:id, :chain, "
    ":chain_id, :token, :token_address, :decimals, :amount_base, :address, :derivation_index, :status, "
    ":received_base, :confirmed_base, :overpaid, :underpaid, :paid_late, :reference, :webhook_url, "
    ":metadata, :expires_at, :created_at, :updated_at, :swept_base)"
)
_INSERT_EVENT = (
    "INSERT INTO webhook_events (id, payment_id, type, payload, status, attempts, next_attempt_at, "
    "created_at) VALUES (:id, :payment_id, :type, :payload, :status, 0, :now, :now)"
)


# -- how SQLAlchemy's types store values on SQLite (db/types.py) ---------------------------
def _time_out(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _time_in(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


def _json_out(value: Any) -> str:
    return json.dumps(value)


# -- connection --------------------------------------------------------------------------
@contextlib.contextmanager
def _connect(path: str, *, write: bool) -> Iterator[sqlite3.Connection]:
    """A connection set up as the engine's (db/session.py), inside one transaction:
    BEGIN IMMEDIATE for writes, a plain deferred BEGIN for reads; committed on success."""
    import os
    from urllib.parse import quote

    require_sqlite_file(path)
    with map_sqlite3_errors():
        uri = f"file://{quote(os.path.abspath(path))}?mode=rw"  # never creates a missing file
        conn = sqlite3.connect(uri, uri=True, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()


# -- create ------------------------------------------------------------------------------
def create_payments(
    path: str, xpub: str | None, requests: Sequence[PaymentRequest], now: datetime
) -> list[tuple[PaymentRow, bool]]:
    """Create payments (or return the existing ones for known references), in one transaction.

    Returns (payment, created) pairs in request order, as db/payments.create_idempotent does.
    """
    from ctripctl.evm.wallet import deposit_addresses

    if xpub is None:
        raise InputError("no wallet configured: set [wallet] xpub or CTRIP_XPUB")
    with _connect(path, write=True) as conn:
        references = [r.reference for r in requests if r.reference is not None]
        known = _by_references(conn, references)
        results: list[tuple[PaymentRow, bool] | None] = []
        fresh: list[tuple[int, PaymentRequest]] = []
        for position, request in enumerate(requests):
            existing = known.get(request.reference) if request.reference is not None else None
            if existing is not None:
                check_terms(existing, request)
                results.append((existing, False))
            else:
                results.append(None)
                fresh.append((position, request))
        if fresh:
            first = _allocate_indexes(conn, len(fresh))
            addresses = deposit_addresses(xpub, first, len(fresh))
            payments = []
            for offset, (position, request) in enumerate(fresh):
                payment = PaymentRow(
                    id=new_id("pay"),
                    chain=request.chain,
                    chain_id=request.chain_id,
                    token=None if request.asset.is_native else request.asset.symbol,
                    token_address=request.asset.address,
                    decimals=request.asset.decimals,
                    amount_base=request.amount_base,
                    address=addresses[offset],
                    derivation_index=first + offset,
                    status=Status.PENDING.value,
                    received_base=0,
                    confirmed_base=0,
                    overpaid=False,
                    underpaid=False,
                    paid_late=False,
                    reference=request.reference,
                    webhook_url=request.webhook_url,
                    metadata_=dict(request.metadata),
                    expires_at=now + request.expires_in,
                    created_at=now,
                    updated_at=now,
                )
                payments.append(payment)
                results[position] = (payment, True)
            conn.executemany(_INSERT_PAYMENT, [_payment_params(p) for p in payments])
            conn.executemany(_INSERT_EVENT, [_created_event(p, now) for p in payments])
    return [r for r in results if r is not None]


def _allocate_indexes(conn: sqlite3.Connection, count: int) -> int:
    """db/payments.allocate_indexes: one UPDATE … RETURNING on the counter row."""
    row = conn.execute(
        "UPDATE address_counters SET next_index = next_index + ? WHERE name = ? RETURNING next_index",
        (count, COUNTER),
    ).fetchone()
    if row is None:
        raise DatabaseUnavailable("the database has no address counter; run `ctripctl db upgrade`")
    return int(row[0]) - count


def _by_references(conn: sqlite3.Connection, references: list[str]) -> dict[str, PaymentRow]:
    found: dict[str, PaymentRow] = {}
    for start in range(0, len(references), _CHUNK):
        chunk = references[start : start + _CHUNK]
        marks = ", ".join("?" * len(chunk))
        rows = conn.execute(f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE reference IN ({marks})", chunk)
        payments = [_payment(row) for row in rows]
        transfers = _transfers(conn, [p.id for p in payments])
        for payment in payments:
            assert payment.reference is not None
            payment.transfers.extend(transfers.get(payment.id, ()))
            found[payment.reference] = payment
    return found


def _payment_params(p: PaymentRow) -> dict[str, Any]:
    return {
        "id": p.id,
        "chain": p.chain,
        "chain_id": p.chain_id,
        "token": p.token,
        "token_address": p.token_address,
        "decimals": p.decimals,
        "amount_base": str(p.amount_base),
        "address": p.address,
        "derivation_index": p.derivation_index,
        "status": p.status,
        "received_base": str(p.received_base),
        "confirmed_base": str(p.confirmed_base),
        "overpaid": int(p.overpaid),
        "underpaid": int(p.underpaid),
        "paid_late": int(p.paid_late),
        "reference": p.reference,
        "webhook_url": p.webhook_url,
        "metadata": _json_out(p.metadata_),
        "expires_at": _time_out(p.expires_at),
        "created_at": _time_out(p.created_at),
        "updated_at": _time_out(p.updated_at),
        "swept_base": str(p.swept_base),
    }


def _created_event(p: PaymentRow, now: datetime) -> dict[str, Any]:
    """db/outbox.enqueue's row for `payment.created`."""
    payload = {"type": EVENT_CREATED, "timestamp": iso(now), "data": payment_object(p)}
    return {
        "id": new_id("evt"),
        "payment_id": p.id,
        "type": EVENT_CREATED,
        "payload": _json_out(payload),
        "status": EventStatus.PENDING.value,
        "now": _time_out(now),
    }


# -- read --------------------------------------------------------------------------------
def _payment(row: sqlite3.Row) -> PaymentRow:
    return PaymentRow(
        id=row["id"],
        chain=row["chain"],
        chain_id=row["chain_id"],
        token=row["token"],
        token_address=row["token_address"],
        decimals=row["decimals"],
        amount_base=int(row["amount_base"]),
        address=row["address"],
        derivation_index=row["derivation_index"],
        status=row["status"],
        received_base=int(row["received_base"]),
        confirmed_base=int(row["confirmed_base"]),
        overpaid=bool(row["overpaid"]),
        underpaid=bool(row["underpaid"]),
        paid_late=bool(row["paid_late"]),
        reference=row["reference"],
        webhook_url=row["webhook_url"],
        metadata_=json.loads(row["metadata"]) if row["metadata"] is not None else {},
        expires_at=_time_in(row["expires_at"]),  # type: ignore[arg-type]
        created_at=_time_in(row["created_at"]),  # type: ignore[arg-type]
        updated_at=_time_in(row["updated_at"]),  # type: ignore[arg-type]
        settled_at=_time_in(row["settled_at"]),
        swept_base=int(row["swept_base"] or 0),
    )


def _transfers(conn: sqlite3.Connection, payment_ids: list[str]) -> dict[str, list[TransferRow]]:
    """Each payment's transfers in the ORM relationship's order (Transfer.id)."""
    found: dict[str, list[TransferRow]] = {}
    if not payment_ids:
        return found
    marks = ", ".join("?" * len(payment_ids))
    rows = conn.execute(
        "SELECT payment_id, tx_hash, log_index, block_number, block_hash, block_time, from_address, "
        "to_address, token, amount_base, state, via, counted, decimals "
        f"FROM transfers WHERE payment_id IN ({marks}) ORDER BY id",
        payment_ids,
    )
    for row in rows:
        found.setdefault(row["payment_id"], []).append(
            TransferRow(
                tx_hash=row["tx_hash"],
                log_index=row["log_index"],
                block_number=row["block_number"],
                block_hash=row["block_hash"],
                block_time=_time_in(row["block_time"]),  # type: ignore[arg-type]
                from_address=row["from_address"],
                to_address=row["to_address"],
                token=row["token"],
                amount_base=int(row["amount_base"]),
                state=row["state"],
                via=row["via"],
                counted=bool(row["counted"]),
                decimals=row["decimals"],
            )
        )
    return found


def show_payment(path: str, payment_id: str) -> tuple[PaymentRow, list[dict[str, Any]], int | None]:
    """One payment with its transfers, its events (oldest first) and the last head a pass saw.

    Read in one transaction, as `payment show` on the ORM path does.
    """
    with _connect(path, write=False) as conn:
        row = conn.execute(f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE id = ?", (payment_id,)).fetchone()
        if row is None:
            raise NotFound(f"no payment {payment_id!r}")
        payment = _payment(row)
        payment.transfers.extend(_transfers(conn, [payment_id]).get(payment_id, ()))
        events = [
            {
                "id": e["id"],
                "type": e["type"],
                "status": e["status"],
                "attempts": e["attempts"],
                "created_at": iso(_time_in(e["created_at"])),
            }
            for e in conn.execute(
                "SELECT id, type, status, attempts, created_at FROM webhook_events "
                "WHERE payment_id = ? ORDER BY seq",
                (payment_id,),
            )
        ]
        state = conn.execute(
            "SELECT head_block FROM chain_states WHERE chain = ?", (payment.chain,)
        ).fetchone()
    return payment, events, None if state is None else state["head_block"]
