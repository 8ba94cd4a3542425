"""Webhook events as plain values: their statuses and the records one delivery attempt passes on.

An outbox event is `pending` until an attempt delivers it (`delivered`), the retry
schedule gives up or the receiver says the endpoint is gone (`dead`), or it has no
target at all (`skipped`). `Claimed` travels from the database (a leased event) to the
delivery code; `Outcome` travels back (what the attempt did and the event's new state).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class EventStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Claimed:
    """One event leased to this flusher for one attempt."""

    seq: int
    id: str
    payment_id: str
    attempt: int  # this attempt's number (1-based), already counted in `attempts`
    url: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    """What one attempt did and what it means for its event (see `webhooks.schedule.decide`)."""

    event: Claimed
    started_at: datetime
    finished_at: datetime
    status_code: int | None
    error: str | None
    response_body: str | None
    latency_ms: int | None
    status: EventStatus  # delivered / pending / dead
    next_attempt_at: datetime | None
