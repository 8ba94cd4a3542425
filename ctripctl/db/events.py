"""Reading and re-queueing outbox events for operators: `webhooks list|show|retry`.

Functions take an open session and never commit; they return plain JSON-ready dicts so
the CLI renders without touching ORM rows. URLs are shown through `mask_url`; the
signing secret is never part of anything stored or returned here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ctripctl.db.models import WebhookAttempt, WebhookEvent
from ctripctl.db.retention import is_pruned
from ctripctl.db.snapshot import iso
from ctripctl.domain.events import EventStatus
from ctripctl.errors import InputError, NotFound, RuleError
from ctripctl.urls import mask_url

STATUSES = (EventStatus.PENDING, EventStatus.DELIVERED, EventStatus.DEAD, EventStatus.SKIPPED)
RETRYABLE = (EventStatus.DEAD, EventStatus.DELIVERED, EventStatus.SKIPPED)


def event_object(event: WebhookEvent) -> dict[str, Any]:
    """The public JSON shape of one event (without its payload)."""
    return {
        "id": event.id,
        "payment_id": event.payment_id,
        "type": event.type,
        "status": event.status,
        "attempts": event.attempts,
        "next_attempt_at": iso(event.next_attempt_at) if event.status == EventStatus.PENDING else None,
        "last_status_code": event.last_status_code,
        "last_error": event.last_error,
        "delivered_at": iso(event.delivered_at),
        "created_at": iso(event.created_at),
    }


def attempt_object(attempt: WebhookAttempt) -> dict[str, Any]:
    return {
        "attempt": attempt.attempt,
        "url": mask_url(attempt.url),
        "started_at": iso(attempt.started_at),
        "status_code": attempt.status_code,
        "error": attempt.error,
        "latency_ms": attempt.latency_ms,
        "response_body": attempt.response_body,
    }


def list_events(
    session: Session,
    *,
    status: str | None = None,
    payment_id: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Events, newest first, optionally only one status and/or one payment."""
    if status is not None and status not in STATUSES:
        raise InputError(f"unknown webhook status {status!r} (one of: {', '.join(STATUSES)})")
    stmt = select(WebhookEvent).order_by(WebhookEvent.seq.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(WebhookEvent.status == status)
    if payment_id is not None:
        stmt = stmt.where(WebhookEvent.payment_id == payment_id)
    return [event_object(e) for e in session.execute(stmt).scalars()]


def _get(session: Session, event_id: str, *, for_update: bool = False) -> WebhookEvent:
    stmt = select(WebhookEvent).where(WebhookEvent.id == event_id)
    if for_update:
        stmt = stmt.with_for_update()
    event = session.execute(stmt).scalar_one_or_none()
    if event is None:
        raise NotFound(f"no webhook event {event_id!r}")
    return event


def show_event(session: Session, event_id: str) -> dict[str, Any]:
    """One event with its payload and its attempt history, oldest attempt first."""
    event = _get(session, event_id)
    attempts = session.execute(
        select(WebhookAttempt).where(WebhookAttempt.event_seq == event.seq).order_by(WebhookAttempt.id)
    ).scalars()
    return {
        **event_object(event),
        "payload": event.payload,
        "history": [attempt_object(a) for a in attempts],
    }


def retry_event(session: Session, event_id: str, now: datetime) -> dict[str, Any]:
    """Re-queue a dead, delivered or skipped event for an attempt now, with a fresh schedule.

    `attempts` restarts at 0 (so the event gets the whole schedule again); the history
    rows of earlier attempts are kept. A pending event is already queued: RuleError.
    Re-queueing an older event of a payment holds back that payment's later pending
    events until it is delivered, as ordering requires.
    """
    event = _get(session, event_id, for_update=True)
    if event.status not in RETRYABLE:
        raise RuleError(f"{event.id} is {event.status}; only {', '.join(RETRYABLE)} events can be re-queued")
    if is_pruned(event.payload):
        raise RuleError(f"{event.id}: its payload was pruned (`db prune`); it cannot be sent again")
    session.execute(
        update(WebhookEvent)
        .where(WebhookEvent.seq == event.seq)
        .values(
            status=EventStatus.PENDING.value,
            attempts=0,
            next_attempt_at=now,
            lease_until=None,
            delivered_at=None,
        ),
        execution_options={"synchronize_session": False},
    )
    session.expire(event)
    return event_object(_get(session, event_id))
