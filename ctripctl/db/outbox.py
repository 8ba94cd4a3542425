"""Writing webhook events into the outbox, inside the caller's transaction.

The event row is added to the same session as the status change that caused it, so
both commit or neither does: an event is never lost and never announces a change that
was rolled back.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.orm import Session

from ctripctl.db.models import Payment, WebhookEvent
from ctripctl.db.snapshot import iso, payment_object
from ctripctl.domain.events import EventStatus
from ctripctl.domain.ids import new_id


def enqueue(session: Session, payment: Payment, types: Iterable[str], now: datetime) -> list[str]:
    """Add one pending event per type, each carrying the payment's snapshot as of now."""
    ids = []
    for event_type in types:
        event_id = new_id("evt")
        session.add(
            WebhookEvent(
                id=event_id,
                payment_id=payment.id,
                type=event_type,
                payload={
                    "type": event_type,
                    "timestamp": iso(now),
                    "data": payment_object(payment),
                },
                status=EventStatus.PENDING.value,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
        ids.append(event_id)
    return ids
