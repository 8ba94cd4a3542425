"""Payment persistence: create (idempotent by reference), bulk import, read, list, cancel.

Functions take an open session and never commit: the caller's `transaction()` decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ctripctl.db.models import AddressCounter, Payment, Transfer, WebhookEvent
from ctripctl.db.outbox import enqueue
from ctripctl.db.recompute import refresh
from ctripctl.db.rows import check_terms
from ctripctl.domain.ids import new_id
from ctripctl.domain.lifecycle import CANCELLABLE, EVENT_CREATED, Status, TransferState
from ctripctl.errors import DatabaseUnavailable, InputError, NotFound, RuleError

if TYPE_CHECKING:
    from ctripctl.payment_request import PaymentRequest  # a plain dataclass: types only

COUNTER = "deposit"


def allocate_indexes(session: Session, count: int) -> int:
    """Reserve `count` fresh derivation indexes; return the first.

    One UPDATE … RETURNING on a single counter row: PostgreSQL's row lock (and SQLite's
    write lock) make concurrent creators take disjoint ranges, and a rolled-back
    transaction gives its range back before any address was shown to anyone.
    """
    stmt = (
        update(AddressCounter)
        .where(AddressCounter.name == COUNTER)
        .values(next_index=AddressCounter.next_index + count)
        .returning(AddressCounter.next_index)
    )
    new_next = session.execute(stmt).scalar_one_or_none()
    if new_next is None:
        raise DatabaseUnavailable("the database has no address counter; run `ctripctl db upgrade`")
    return new_next - count


def _by_references(session: Session, references: list[str]) -> dict[str, Payment]:
    """Payments holding any of `references`: one query per 500, not one per row (bulk import)."""
    found: dict[str, Payment] = {}
    for start in range(0, len(references), 500):
        chunk = references[start : start + 500]
        for payment in session.execute(select(Payment).where(Payment.reference.in_(chunk))).scalars():
            assert payment.reference is not None
            found[payment.reference] = payment
    return found


def _check_terms(payment: Payment | None, request: PaymentRequest) -> Payment | None:
    if payment is not None:
        check_terms(payment, request)  # a different chain, token or amount: RuleError
    return payment


def create_payments(
    session: Session, xpub: str | None, requests: Sequence[PaymentRequest], now: datetime
) -> list[tuple[Payment, bool]]:
    """Create payments (or return the existing ones for known references).

    Returns (payment, created) pairs in request order. Each new payment gets a fresh
    derivation index and its `payment.created` outbox event in this same transaction.
    """
    from ctripctl.evm.wallet import deposit_addresses

    if xpub is None:
        raise InputError("no wallet configured: set [wallet] xpub or CTRIP_XPUB")
    results: list[tuple[Payment, bool] | None] = []
    fresh: list[tuple[int, PaymentRequest]] = []
    known = _by_references(session, [r.reference for r in requests if r.reference is not None])
    for position, request in enumerate(requests):
        existing = _check_terms(known.get(request.reference), request) if request.reference else None
        results.append((existing, False) if existing is not None else None)
        if existing is None:
            fresh.append((position, request))
    if fresh:
        first = allocate_indexes(session, len(fresh))
        addresses = deposit_addresses(xpub, first, len(fresh))
        for offset, (position, request) in enumerate(fresh):
            payment = Payment(
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
            payment.transfers = []
            session.add(payment)
            results[position] = (payment, True)
        session.flush()
        for position, _request in fresh:
            created = results[position]
            assert created is not None
            enqueue(session, created[0], [EVENT_CREATED], now)
    return [r for r in results if r is not None]


def create_idempotent(
    engine: Engine, xpub: str | None, requests: Sequence[PaymentRequest], now: datetime
) -> list[tuple[Payment, bool]]:
    """`create_payments` in its own transaction, safe against a racing twin.

    Two creates with the same new reference can both see "no such payment" and both
    insert; the loser's unique violation rolls its whole transaction back (its index
    range with it). Retrying once then finds the winner's payment, so both callers get
    the same payment back — the idempotency promise holds under concurrency.
    """
    from sqlalchemy.exc import IntegrityError

    from ctripctl.db.session import transaction

    try:
        with transaction(engine) as session:
            return create_payments(session, xpub, requests, now)
    except IntegrityError:
        with transaction(engine) as session:
            return create_payments(session, xpub, requests, now)


def get_payment(session: Session, payment_id: str) -> Payment:
    payment = session.get(Payment, payment_id)
    if payment is None:
        raise NotFound(f"no payment {payment_id!r}")
    return payment


def list_payments(
    session: Session,
    *,
    status: str | None = None,
    chain: str | None = None,
    limit: int = 50,
    unexpected: bool = False,
) -> list[Payment]:
    """Newest first, optionally filtered. `unexpected`: only payments holding a live
    deposit in another asset than their own (a transfer recorded with counted false)."""
    stmt = select(Payment).order_by(Payment.created_at.desc(), Payment.id).limit(limit)
    if unexpected:
        stmt = stmt.where(
            select(Transfer.id)
            .where(
                Transfer.payment_id == Payment.id,
                Transfer.counted.is_(False),
                Transfer.state != TransferState.ORPHANED.value,
            )
            .exists()
        )
    if status is not None:
        stmt = stmt.where(Payment.status == status)
    if chain is not None:
        stmt = stmt.where(Payment.chain == chain)
    return list(session.execute(stmt).scalars())


def cancel_payment(session: Session, payment_id: str, now: datetime) -> Payment:
    """Cancel a pending or partially paid payment.

    Its address stays watched for the late window (scan_store.read_watched): a payment
    made before the cancel but not scanned yet, or sent after it, is still recorded and
    announced (payment.detected / payment.partially_paid; the status stays cancelled).
    """
    payment = session.get(Payment, payment_id, with_for_update=True)
    if payment is None:
        raise NotFound(f"no payment {payment_id!r}")
    if payment.status not in CANCELLABLE:
        raise RuleError(
            f"{payment.id} is {payment.status}; only pending or partially paid payments can be cancelled"
        )
    payment.cancelled_at = now
    refresh(session, payment, now)
    return payment


def payment_events(session: Session, payment_id: str) -> list[WebhookEvent]:
    """The payment's outbox events, oldest first (its event history)."""
    return list(
        session.execute(
            select(WebhookEvent).where(WebhookEvent.payment_id == payment_id).order_by(WebhookEvent.seq)
        ).scalars()
    )
