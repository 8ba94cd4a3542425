"""Retention: `ctripctl db prune` drops bulky, no-longer-needed webhook data, never records.

Two things grow with every payment and are not needed once it is long finished:

- the response bodies of delivery attempts of *delivered* events (kept: every attempt's
  row — URL, time, status code, error, latency; dead and skipped events keep their
  bodies, an operator may still be investigating them);
- the payloads of *delivered* or *skipped* events of payments that have been finished —
  settled, expired or cancelled — for longer than the cutoff. The payload (a full
  payment snapshot) becomes `{"type", "pruned_at"}`; the event row stays, so `webhooks
  list/show` still show what was sent when, and `webhooks retry` refuses a pruned event.

Payments, transfers, sweeps and event rows are never deleted: they are what accounting
and support need. The cutoff may not be shorter than MIN_AGE, so nothing a late credit
or a late sweep can still touch is pruned.

Work is done in batches of BATCH rows, each its own short transaction walking the
primary key upwards, so a prune run from cron never holds locks for long and can be
interrupted at any point (the next run continues; pruned rows are skipped).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, func, literal, select, update
from sqlalchemy.engine import Engine

from ctripctl.db.models import Payment, WebhookAttempt, WebhookEvent
from ctripctl.db.session import transaction
from ctripctl.db.snapshot import iso
from ctripctl.domain.events import EventStatus
from ctripctl.domain.lifecycle import Status
from ctripctl.errors import InputError

#: Rows per transaction. ~50 ms each on PostgreSQL at 1M payments (benchmarks/bench_history.py).
BATCH = 5_000
#: The shortest --older-than accepted: beyond the default late window (7 d) with a margin.
MIN_AGE = timedelta(days=30)
FINISHED = (Status.SETTLED.value, Status.EXPIRED.value, Status.CANCELLED.value)
PRUNABLE_EVENTS = (EventStatus.DELIVERED.value, EventStatus.SKIPPED.value)
PRUNED_KEY = "pruned_at"


@dataclass(frozen=True)
class Pruned:
    cutoff: datetime
    dry_run: bool
    attempt_bodies: int  # response bodies removed (dry run: that would be)
    event_payloads: int  # event payloads reduced to {"type", "pruned_at"}

    def to_json(self) -> dict[str, Any]:
        return {
            "cutoff": iso(self.cutoff),
            "dry_run": self.dry_run,
            "attempt_bodies": self.attempt_bodies,
            "event_payloads": self.event_payloads,
        }


def is_pruned(payload: Any) -> bool:
    """Was this event payload reduced by `prune`? (A real payload never has this key.)"""
    return isinstance(payload, dict) and PRUNED_KEY in payload


def prune(engine: Engine, *, older_than: timedelta, now: datetime, dry_run: bool = False) -> Pruned:
    """Prune attempt bodies and event payloads older than `now - older_than` (module doc)."""
    if older_than < MIN_AGE:
        raise InputError(f"--older-than must be at least {MIN_AGE.days}d (late credits and sweeps)")
    cutoff = now - older_than
    if dry_run:
        with transaction(engine) as session:
            attempts = _attempts(cutoff).subquery()
            bodies = session.execute(select(func.count()).select_from(attempts)).scalar_one()
            events = _events(cutoff, _dialect(engine)).subquery()
            payloads = session.execute(select(func.count()).select_from(events)).scalar_one()
        return Pruned(cutoff, True, bodies, payloads)
    return Pruned(cutoff, False, _prune_attempts(engine, cutoff), _prune_events(engine, cutoff, now))


def _attempts(cutoff: datetime, after: int = 0) -> Any:
    """Ids of attempts with a body, started before the cutoff, of delivered events."""
    return (
        select(WebhookAttempt.id)
        .join(WebhookEvent, WebhookEvent.seq == WebhookAttempt.event_seq)
        .where(
            WebhookAttempt.id > after,
            WebhookAttempt.started_at < cutoff,
            WebhookAttempt.response_body.is_not(None),
            WebhookEvent.status == EventStatus.DELIVERED.value,
        )
    )


def _events(cutoff: datetime, dialect: str, after: int = 0) -> Any:
    """Seqs of delivered/skipped, not yet pruned events of payments finished before the cutoff.

    "Finished before the cutoff": in a final status and unchanged since (updated_at).
    """
    return (
        select(WebhookEvent.seq)
        .join(Payment, Payment.id == WebhookEvent.payment_id)
        .where(
            WebhookEvent.seq > after,
            WebhookEvent.created_at < cutoff,
            WebhookEvent.status.in_(PRUNABLE_EVENTS),
            Payment.status.in_(FINISHED),
            Payment.updated_at < cutoff,
            _has_data(dialect),  # not pruned yet: a pruned payload has no "data"
        )
    )


def _has_data(dialect: str) -> Any:
    if dialect == "postgresql":
        return WebhookEvent.payload.op("?")(literal("data", String()))  # JSONB: has the top-level key
    return func.json_type(WebhookEvent.payload, "$.data").is_not(None)


def _dialect(engine: Engine) -> str:
    return engine.dialect.name


def _prune_attempts(engine: Engine, cutoff: datetime) -> int:
    done, after = 0, 0
    while True:
        with transaction(engine) as session:
            ids = list(
                session.execute(_attempts(cutoff, after).order_by(WebhookAttempt.id).limit(BATCH)).scalars()
            )
            if not ids:
                return done
            session.execute(
                update(WebhookAttempt).where(WebhookAttempt.id.in_(ids)).values(response_body=None),
                execution_options={"synchronize_session": False},
            )
        done += len(ids)
        after = ids[-1]


def _prune_events(engine: Engine, cutoff: datetime, now: datetime) -> int:
    done, after = 0, 0
    while True:
        with transaction(engine) as session:
            seqs = list(
                session.execute(
                    _events(cutoff, _dialect(engine), after).order_by(WebhookEvent.seq).limit(BATCH)
                ).scalars()
            )
            if not seqs:
                return done
            build = func.jsonb_build_object if _dialect(engine) == "postgresql" else func.json_object
            session.execute(
                update(WebhookEvent)
                .where(WebhookEvent.seq.in_(seqs))
                .values(payload=build("type", WebhookEvent.type, PRUNED_KEY, iso(now))),
                execution_options={"synchronize_session": False},
            )
        done += len(seqs)
        after = seqs[-1]
