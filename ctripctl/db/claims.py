"""The database half of delivery: claim due events under a lease, then record outcomes.

Per STYLE.md §10, a webhook is a side effect outside the database, so it is bracketed
by two short transactions and never sent inside one:

1. `claim_due()` picks due events (pending, `next_attempt_at` ≤ now, no live lease, no
   earlier pending event of the same payment), bumps `attempts` and sets `lease_until`,
   and commits. On PostgreSQL the pick is `FOR UPDATE OF webhook_events SKIP LOCKED`, so
   concurrent flushers on any number of hosts take disjoint rows without waiting for
   each other; on SQLite every transaction is BEGIN IMMEDIATE, which already makes the
   pick-and-lease exclusive. A claimed event is invisible to other flushers until its
   lease expires: a flusher that died mid-delivery only delays the event by the lease.
2. `record_outcomes()` stores one `webhook_attempts` row per attempt and the event's new
   state. The event update is fenced on (status pending, attempts = the claimed attempt
   number): if this flusher overran its lease and another one re-claimed the event, the
   stale outcome is kept as history but does not overwrite the newer attempt's state.

`attempts` counts attempts *started* (it is bumped at claim time), so an attempt whose
flusher died before recording still counts toward the schedule; its number simply has no
row in the history.

Ordering: the "no earlier pending event of the same payment" rule means a batch holds at
most one event per payment, and a payment's next event is only claimable once the
previous one is delivered, dead or skipped — so a receiver sees each payment's events in
creation order while different payments proceed in parallel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session

from ctripctl.db.models import Payment, WebhookAttempt, WebhookEvent
from ctripctl.domain.events import Claimed, EventStatus, Outcome

NO_TARGET = "no webhook URL: the payment has none and [webhooks] default_url is not set"


@dataclass(frozen=True)
class Claim:
    events: list[Claimed]
    skipped: int  # events without any target, marked skipped in the same transaction


def due_query(now: datetime, limit: int) -> Any:
    """Due, unleased events that are the oldest pending event of their payment, oldest first.

    "Oldest pending event of its payment" is one grouped pass over the pending events
    (a hash aggregate), rather than a per-row NOT EXISTS probe: the probe's plan depends
    on table statistics and degrades to quadratic on a freshly filled outbox.
    """
    heads = (
        select(func.min(WebhookEvent.seq))
        .where(WebhookEvent.status == EventStatus.PENDING.value)
        .group_by(WebhookEvent.payment_id)
    )
    return (
        select(
            WebhookEvent.seq,
            WebhookEvent.id,
            WebhookEvent.payment_id,
            WebhookEvent.attempts,
            WebhookEvent.payload,
            Payment.webhook_url,
        )
        .join(Payment, Payment.id == WebhookEvent.payment_id)
        .where(
            WebhookEvent.seq.in_(heads),
            WebhookEvent.status == EventStatus.PENDING.value,
            WebhookEvent.next_attempt_at <= now,
            or_(WebhookEvent.lease_until.is_(None), WebhookEvent.lease_until <= now),
        )
        .order_by(WebhookEvent.seq)
        .limit(limit)
        .with_for_update(skip_locked=True, of=WebhookEvent)
    )


def claim_due(
    session: Session, *, now: datetime, limit: int, lease: timedelta, default_url: str | None
) -> Claim:
    """Lease up to `limit` due events to the caller (who must commit before sending)."""
    rows = session.execute(due_query(now, limit)).all()
    claimed: list[Claimed] = []
    skipped: list[int] = []
    for row in rows:
        url = row.webhook_url or default_url
        if url is None:
            skipped.append(row.seq)
        else:
            claimed.append(Claimed(row.seq, row.id, row.payment_id, row.attempts + 1, url, row.payload))
    if skipped:
        session.execute(
            update(WebhookEvent)
            .where(WebhookEvent.seq.in_(skipped))
            .values(status=EventStatus.SKIPPED.value, last_error=NO_TARGET, lease_until=None),
            execution_options={"synchronize_session": False},
        )
    if claimed:
        session.execute(
            update(WebhookEvent)
            .where(WebhookEvent.seq.in_([c.seq for c in claimed]))
            .values(attempts=WebhookEvent.attempts + 1, lease_until=now + lease),
            execution_options={"synchronize_session": False},
        )
    return Claim(claimed, len(skipped))


def record_outcomes(session: Session, outcomes: Sequence[Outcome]) -> None:
    """Store the attempts' history rows and the events' new states (fenced, see module doc)."""
    if not outcomes:
        return
    session.execute(
        insert(WebhookAttempt),
        [
            {
                "event_seq": o.event.seq,
                "attempt": o.event.attempt,
                "url": o.event.url,
                "started_at": o.started_at,
                "status_code": o.status_code,
                "error": o.error,
                "response_body": o.response_body,
                "latency_ms": o.latency_ms,
            }
            for o in outcomes
        ],
    )
    table = WebhookEvent.__table__
    fenced = (
        update(table)
        .where(
            table.c.seq == bindparam("b_seq"),
            table.c.attempts == bindparam("b_attempt"),
            table.c.status == EventStatus.PENDING.value,
        )
        .values(
            status=bindparam("b_status"),
            next_attempt_at=bindparam("b_next"),
            lease_until=None,
            last_error=bindparam("b_error"),
            last_status_code=bindparam("b_code"),
            delivered_at=bindparam("b_delivered"),
        )
    )
    session.connection().execute(
        fenced,
        [
            {
                "b_seq": o.event.seq,
                "b_attempt": o.event.attempt,
                "b_status": o.status,
                # terminal events keep the time of their last attempt here
                "b_next": o.next_attempt_at or o.finished_at,
                "b_error": o.error,
                "b_code": o.status_code,
                "b_delivered": o.finished_at if o.status == EventStatus.DELIVERED else None,
            }
            for o in outcomes
        ],
    )
