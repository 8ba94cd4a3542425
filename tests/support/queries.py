"""Read-back helpers: what the tests check in the database after driving the CLI."""

from __future__ import annotations

from sqlalchemy import select

from ctripctl.db.models import WebhookEvent
from ctripctl.db.session import get_engine, transaction


def event_types(url: str, payment_id: str) -> list[str]:
    """The payment's outbox event types, in the order they were written."""
    with transaction(get_engine(url)) as session:
        return list(
            session.execute(
                select(WebhookEvent.type)
                .where(WebhookEvent.payment_id == payment_id)
                .order_by(WebhookEvent.seq)
            ).scalars()
        )
