"""The payment lifecycle as pure functions: facts in, standing and events out.

A payment's status is never stored as the result of a sequence of edits; it is always
recomputed from facts — its amount, its credits (each seen / confirmed / orphaned, and
whether it arrived after expiry), and whether it was expired or cancelled. Scan and
confirm both call `evaluate()` before and after they change facts and emit the events
`events_between()` names, so any order of credits, orphanings, confirmations and clock
steps ends where a fresh recomputation would::

    pending ──credit seen──▶ detected ──credits confirmed ≥ amount──▶ confirmed
       │  └─partial credit─▶ partially_paid ─(more credit)─▶ detected
       └─expired (nothing / too little received)─▶ expired ─(late credit ≥ amount)─▶ detected
    an orphaned credit no longer counts: the payment steps back (payment.reorged)
    money arriving on a cancelled / confirmed / settled payment is recorded and announced
    (payment.detected or payment.partially_paid); the status does not change
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Status(StrEnum):
    PENDING = "pending"
    PARTIALLY_PAID = "partially_paid"
    DETECTED = "detected"
    CONFIRMED = "confirmed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    SETTLED = "settled"


class TransferState(StrEnum):
    SEEN = "seen"
    CONFIRMED = "confirmed"
    ORPHANED = "orphaned"


#: Statuses whose deposit address the scanner watches. Expired, cancelled and confirmed
#: payments are watched too, within the late-payment window after they became so
#: (scan_store.read_watched), so money that arrives late, after a cancel, or twice is
#: still recorded and announced.
RECEIVING = frozenset({Status.PENDING, Status.PARTIALLY_PAID, Status.DETECTED})
#: Statuses `payment cancel` accepts.
CANCELLABLE = frozenset({Status.PENDING, Status.PARTIALLY_PAID})
#: Statuses `confirm` may expire.
EXPIRABLE = frozenset({Status.PENDING, Status.PARTIALLY_PAID})

EVENT_CREATED = "payment.created"
EVENT_PARTIALLY_PAID = "payment.partially_paid"
EVENT_DETECTED = "payment.detected"
EVENT_CONFIRMED = "payment.confirmed"
EVENT_EXPIRED = "payment.expired"
EVENT_REORGED = "payment.reorged"
EVENT_CANCELLED = "payment.cancelled"
EVENT_SETTLED = "payment.settled"

_STATUS_EVENT = {
    Status.PARTIALLY_PAID: EVENT_PARTIALLY_PAID,
    Status.DETECTED: EVENT_DETECTED,
    Status.CONFIRMED: EVENT_CONFIRMED,
    Status.EXPIRED: EVENT_EXPIRED,
    Status.CANCELLED: EVENT_CANCELLED,
    Status.SETTLED: EVENT_SETTLED,
}
# How far along the way to being paid a status is; a reorg that lowers it is reported
# as payment.reorged alone, not as the lower status's event.
_PROGRESS = {
    Status.PENDING: 0,
    Status.EXPIRED: 1,
    Status.PARTIALLY_PAID: 1,
    Status.DETECTED: 2,
    Status.CONFIRMED: 3,
    Status.SETTLED: 4,
    Status.CANCELLED: 4,
}


@dataclass(frozen=True)
class Credit:
    """One on-chain transfer to the payment's address, as the lifecycle sees it."""

    amount: int
    state: TransferState
    late: bool = False  # its block's time is after the payment's expiry


@dataclass(frozen=True)
class Facts:
    """Everything the status depends on."""

    amount: int
    credits: tuple[Credit, ...] = ()
    expired: bool = False  # `confirm` decided the payment expired
    cancelled: bool = False
    settled: bool = False


@dataclass(frozen=True)
class Standing:
    """The derived view of a payment: status, totals and flags."""

    status: Status
    received: int
    confirmed: int
    overpaid: bool
    underpaid: bool
    paid_late: bool
    paid_in_full: bool = False  # received ≥ amount, whatever the status


def evaluate(facts: Facts) -> Standing:
    """Compute a payment's standing from its facts. Total, deterministic, no I/O."""
    active = [c for c in facts.credits if c.state is not TransferState.ORPHANED]
    received = sum(c.amount for c in active)
    confirmed = sum(c.amount for c in active if c.state is TransferState.CONFIRMED)
    if facts.cancelled:
        status = Status.CANCELLED
    elif facts.settled:
        status = Status.SETTLED
    elif confirmed >= facts.amount:
        status = Status.CONFIRMED
    elif received >= facts.amount:
        status = Status.DETECTED
    elif facts.expired:
        status = Status.EXPIRED
    elif received > 0:
        status = Status.PARTIALLY_PAID
    else:
        status = Status.PENDING
    return Standing(
        status=status,
        received=received,
        confirmed=confirmed,
        overpaid=received > facts.amount,
        underpaid=status is Status.EXPIRED and 0 < received < facts.amount,
        paid_late=any(c.late for c in active),
        paid_in_full=received >= facts.amount,
    )


def events_between(
    before: Standing, after: Standing, *, credited: bool = False, orphaned: bool = False
) -> tuple[str, ...]:
    """The webhook event types a change from `before` to `after` causes.

    The events follow from the difference between the two standings, so re-evaluating
    the same facts emits nothing and a re-run pass never re-announces. `credited` (a
    credit was added in this step) and `orphaned` (a credit was orphaned) state what the
    caller did; an event needs both the intent and a real change in money:

    * money lost (received or confirmed went down) by an orphaning → `payment.reorged`
      first, plus the new status's event only if the status still moved forward;
    * a status change otherwise → the new status's event (none for `pending`);
    * more money without a status change → `payment.partially_paid` while short of the
      amount (also on an expired payment: a late partial credit is reported), else
      `payment.detected` (also on a confirmed one: an overpayment is reported). On a
      cancelled or settled payment the same rule follows `paid_in_full`: money that
      arrives after a cancel (or was fetched before a concurrent cancel) is never silent.
    """
    events: list[str] = []
    lost = after.received < before.received or after.confirmed < before.confirmed
    gained = after.received > before.received
    reorged = orphaned and lost
    if reorged:
        events.append(EVENT_REORGED)
    if after.status is not before.status:
        event = _STATUS_EVENT.get(after.status)
        moved_forward = _PROGRESS[after.status] > _PROGRESS[before.status]
        if event and (not reorged or moved_forward):
            events.append(event)
    elif credited and gained:
        # More money on a payment whose status does not change: still announce it.
        if after.status in (Status.PARTIALLY_PAID, Status.EXPIRED):
            events.append(EVENT_PARTIALLY_PAID)
        elif after.status in (Status.DETECTED, Status.CONFIRMED):
            events.append(EVENT_DETECTED)
        elif after.status in (Status.CANCELLED, Status.SETTLED):
            events.append(EVENT_DETECTED if after.paid_in_full else EVENT_PARTIALLY_PAID)
    return tuple(events)


def confirmations(head: int, block: int) -> int:
    """How many blocks deep `block` is when the chain head is `head` (its own block counts)."""
    return max(0, head - block + 1)


def is_deep_enough(head: int, block: int, required: int) -> bool:
    """True once `block` has at least `required` confirmations."""
    return confirmations(head, block) >= required


def deepest_confirmable(head: int, required: int) -> int:
    """The highest block number with `required` confirmations at `head` (may be < 0).

    `is_deep_enough(head, b, required)` ⇔ `b <= deepest_confirmable(head, required)`, so
    a query can select the candidates with one range condition.
    """
    return head - required + 1


def may_expire(standing: Standing, expires_at: datetime, now: datetime, *, chain_scanned_past: bool) -> bool:
    """Whether `confirm` may expire the payment now.

    Only a payment still short of its amount, past its expiry, and only once the scanner
    has covered the chain up to that time (`chain_scanned_past`): a payment made on time
    but not scanned yet must not be expired under the customer's feet.
    """
    return standing.status in EXPIRABLE and now >= expires_at and chain_scanned_past


def late_window_end(
    status: Status,
    *,
    expires_at: datetime,
    cancelled_at: datetime | None,
    changed_at: datetime,
    late_window: timedelta,
) -> datetime | None:
    """The block time from which a NEW credit to a payment in `status` is no longer recorded.

    None: no end — the payment is still receiving. Expired, cancelled, confirmed and
    settled payments stay watched for `late_window` after their moment (expiry, cancel,
    the last change of a paid one): a credit whose block time is before that moment +
    `late_window` is recorded and announced, whenever it is scanned — the scanner may have
    been down for longer than the window, or an operator rescans old blocks. The window is
    measured with the credit's block time, never the wall clock, so the same blocks give
    the same result whenever they are read. (Credits already recorded are always
    followed: a reorg or rescan that finds one again updates it, window or not.)
    db/scan_store.read_watched selects the same payments in SQL.
    """
    if status in RECEIVING:
        return None
    if status is Status.EXPIRED:
        start = expires_at
    elif status is Status.CANCELLED:
        start = cancelled_at or changed_at
    else:
        start = changed_at
    return start + late_window
