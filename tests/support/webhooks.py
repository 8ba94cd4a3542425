"""Helpers for webhook tests: a config without a node, payments and events made by the library."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ctripctl.config import Config, load_config
from ctripctl.db.models import Payment, WebhookAttempt, WebhookEvent
from ctripctl.db.outbox import enqueue
from ctripctl.db.payments import create_payments
from ctripctl.db.session import get_engine, transaction
from ctripctl.passes.flush import FlushResult, flush
from ctripctl.payment_request import build_request
from tests.support.config import write_config

UNUSED_RPC = "http://127.0.0.1:9"  # webhook commands never talk to the node


def hook_config(
    path: Path,
    database_url: str,
    *,
    default_url: str | None = None,
    allow_private: bool = True,
    timeout: str = "2s",
    secret: bool = True,
) -> Path:
    """A ctrip.toml for chain `local` with the given [webhooks] settings."""
    extra = f'timeout = "{timeout}"\n'
    if default_url:
        extra += f'default_url = "{default_url}"\n'
    # No node: first_index set, so the first payment does not look up the wallet's addresses.
    write_config(path, database_url=database_url, rpc_urls=[UNUSED_RPC], extra=extra, first_index=0)
    text = path.read_text()
    if not allow_private:
        text = text.replace("allow_private_targets = true", "allow_private_targets = false")
    if not secret:
        text = "\n".join(line for line in text.splitlines() if not line.startswith("secret ="))
    path.write_text(text)
    return path


def make_payments(
    config: Config, count: int, webhook_url: str | None, extra_events: tuple[str, ...] = ()
) -> list[str]:
    """Create `count` payments (each writes payment.created) plus `extra_events` each; return ids."""
    now = datetime.now(UTC)
    requests = [
        build_request(config, chain="local", amount="1", webhook_url=webhook_url) for _ in range(count)
    ]
    with transaction(get_engine(config.database_url)) as session:
        created = create_payments(session, config.xpub, requests, now)
        for payment, _ in created:
            enqueue(session, payment, extra_events, now)
        return [p.id for p, _ in created]


def run_flush(config: Config, **kwargs: Any) -> FlushResult:
    return flush(get_engine(config.database_url), config.webhooks, **kwargs)


def events(config: Config, payment_id: str | None = None) -> list[WebhookEvent]:
    """Events in creation order."""
    stmt = select(WebhookEvent).order_by(WebhookEvent.seq)
    if payment_id is not None:
        stmt = stmt.where(WebhookEvent.payment_id == payment_id)
    with transaction(get_engine(config.database_url)) as session:
        return list(session.execute(stmt).scalars())


def event(config: Config, event_id: str) -> WebhookEvent:
    with transaction(get_engine(config.database_url)) as session:
        return session.execute(select(WebhookEvent).where(WebhookEvent.id == event_id)).scalar_one()


def attempts(config: Config, event_id: str) -> list[WebhookAttempt]:
    with transaction(get_engine(config.database_url)) as session:
        seq = session.execute(select(WebhookEvent.seq).where(WebhookEvent.id == event_id)).scalar_one()
        return list(
            session.execute(
                select(WebhookAttempt).where(WebhookAttempt.event_seq == seq).order_by(WebhookAttempt.id)
            ).scalars()
        )


def payment(config: Config, payment_id: str) -> Payment:
    with transaction(get_engine(config.database_url)) as session:
        return session.execute(select(Payment).where(Payment.id == payment_id)).scalar_one()


def load(path: Path) -> Config:
    return load_config(path)
