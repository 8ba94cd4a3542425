"""`recompute.refresh` against real SQLite and PostgreSQL rows, driven by hypothesis.

The pure lifecycle is tested exhaustively in tests/unit/test_lifecycle.py; this checks
what the database adds: every step runs in its own transaction (as scan, confirm and
cancel do), and after each one a fresh session must find the stored row exactly where
a recomputation from its transfers puts it — amounts beyond 64 bits, late flags from
timezone-aware block times, the flags — with one outbox row per emitted event, whose
payload is the payment object as stored, and a second refresh emitting nothing.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from ctripctl.db.models import Payment, Transfer, WebhookEvent
from ctripctl.db.recompute import facts_of, refresh, standing_of
from ctripctl.db.session import get_engine, transaction
from ctripctl.db.snapshot import payment_object
from ctripctl.domain import lifecycle
from ctripctl.domain.ids import new_id
from ctripctl.domain.lifecycle import CANCELLABLE, Credit, Facts, Status, TransferState

EXPIRES_AT = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
LATE_BLOCK_TIME = EXPIRES_AT + timedelta(seconds=1)
_serial = itertools.count(10_000)

steps = st.lists(
    st.tuples(
        st.sampled_from(["credit", "late_credit", "confirm", "orphan", "revive", "expire", "cancel"]),
        st.integers(min_value=0, max_value=10**30),
    ),
    min_size=1,
    max_size=12,
)


def new_payment(url: str, amount: int) -> str:
    n = next(_serial)
    with transaction(get_engine(url)) as session:
        payment = Payment(
            id=new_id("pay"),
            chain="local",
            token=None,
            token_address=None,
            decimals=18,
            amount_base=amount,
            address=f"0x{n:040x}",
            derivation_index=n,
            status=Status.PENDING.value,
            received_base=0,
            confirmed_base=0,
            overpaid=False,
            underpaid=False,
            paid_late=False,
            metadata_={},
            expires_at=EXPIRES_AT,
            created_at=EXPIRES_AT - timedelta(hours=1),
            updated_at=EXPIRES_AT - timedelta(hours=1),
        )
        payment.transfers = []
        session.add(payment)
        return payment.id


def apply(url: str, payment_id: str, kind: str, arg: int, now: datetime) -> tuple[str, ...] | None:
    """One step in its own transaction; the events refresh wrote, or None if nothing applied."""
    with transaction(get_engine(url)) as session:
        payment = session.get(Payment, payment_id)
        assert payment is not None
        transfers = payment.transfers
        pick = transfers[arg % len(transfers)] if transfers else None
        credited = orphaned = False
        if kind in ("credit", "late_credit"):
            if payment.status == Status.SETTLED.value:
                return None  # not watched (a cancelled payment is, for the late window)
            late = kind == "late_credit"
            payment.transfers.append(
                Transfer(
                    chain="local",
                    tx_hash=f"0x{next(_serial):064x}",
                    log_index=-1,
                    block_number=len(transfers) + 1,
                    block_hash=f"0x{next(_serial):064x}",
                    block_time=LATE_BLOCK_TIME if late else EXPIRES_AT,  # at the expiry: on time
                    from_address="0x" + "11" * 20,
                    to_address=payment.address,
                    token=None,
                    amount_base=arg + 1,
                    payment_id=payment.id,
                    state=TransferState.SEEN.value,
                    created_at=now,
                )
            )
            credited = True
        elif kind == "confirm" and pick is not None and pick.state == TransferState.SEEN.value:
            pick.state, pick.confirmed_at = TransferState.CONFIRMED.value, now
        elif kind == "orphan" and pick is not None and pick.state != TransferState.ORPHANED.value:
            pick.state, pick.orphaned_at = TransferState.ORPHANED.value, now
            orphaned = True
        elif kind == "revive" and pick is not None and pick.state == TransferState.ORPHANED.value:
            pick.state, pick.orphaned_at = TransferState.SEEN.value, None
            credited = True
        elif kind == "expire" and payment.expired_at is None:
            standing = lifecycle.evaluate(facts_of(payment))
            if not lifecycle.may_expire(standing, payment.expires_at, now, chain_scanned_past=True):
                return None
            payment.expired_at = now
        elif kind == "cancel" and payment.status in CANCELLABLE:
            payment.cancelled_at = now
        else:
            return None
        session.flush()
        return refresh(session, payment, now, credited=credited, orphaned=orphaned)


def outbox(url: str, payment_id: str) -> list[WebhookEvent]:
    with transaction(get_engine(url)) as session:
        stmt = select(WebhookEvent).where(WebhookEvent.payment_id == payment_id).order_by(WebhookEvent.seq)
        return list(session.execute(stmt).scalars())


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(amount=st.integers(min_value=1, max_value=10**30), sequence=steps)
def test_stored_row_always_equals_a_fresh_recomputation(
    database_url: str, amount: int, sequence: list
) -> None:
    payment_id = new_payment(database_url, amount)
    written: list[str] = []
    for index, (kind, arg) in enumerate(sequence):
        now = EXPIRES_AT + timedelta(minutes=1, seconds=index)  # each pass runs at its own time
        events = apply(database_url, payment_id, kind, arg, now)
        if events is not None:
            written += events
        with transaction(get_engine(database_url)) as session:
            payment = session.get(Payment, payment_id)
            assert payment is not None
            # The row against the test's own view of the facts (not facts_of's reading of it):
            # a late credit is one whose block time is after the expiry, not at it.
            own = Facts(
                amount=amount,
                credits=tuple(
                    Credit(t.amount_base, TransferState(t.state), late=t.block_time == LATE_BLOCK_TIME)
                    for t in payment.transfers
                ),
                expired=payment.expired_at is not None,
                cancelled=payment.cancelled_at is not None,
            )
            assert standing_of(payment) == lifecycle.evaluate(own) == lifecycle.evaluate(facts_of(payment))
            assert isinstance(payment.received_base, int) and isinstance(payment.confirmed_base, int)
            # Re-evaluating the same facts in a new transaction writes nothing.
            assert refresh(session, payment, now, credited=True, orphaned=True) == ()
            current = payment_object(payment)
        stored = outbox(database_url, payment_id)
        assert [e.type for e in stored] == written
        if events:
            # The newest event carries the payment exactly as it now stands.
            assert stored[-1].payload["data"] == current
            assert stored[-1].payload["type"] == stored[-1].type
