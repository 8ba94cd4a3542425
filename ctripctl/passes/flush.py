"""One bounded flush pass: claim due events, deliver them concurrently, record outcomes.

The loop keeps up to `concurrency` attempts in flight over one pooled AsyncClient, and
up to twice that many events claimed, so the HTTP slots stay busy while a database step
commits. Each step is one short transaction that records the finished attempts and
claims the next events; it runs when half a window of work is waiting (or the oldest
outcome has waited `RECORD_EVERY` seconds), so the database sees a few transactions per
hundred deliveries, not one per delivery. The pass ends when nothing is in flight and a
claim made after the last recording found nothing due (recording can unblock a
payment's next event), or when `limit` events have been taken.

Leases: a claimed event waits for a slot at most one timeout (the window is two slots'
worth), its attempt is bounded by the timeout, and its outcome is recorded within
`RECORD_EVERY`, so a lease of `2 × timeout + LEASE_MARGIN` is not outrun by a healthy
flusher.

Database calls run in a worker thread (`asyncio.to_thread`) one at a time, so responses
keep arriving while a claim or a recording is committing. Recording is retried with
tenacity while the database is unavailable: the webhook was already sent, and losing its
outcome would mean sending it again after the lease.

Time: `now` fixes the scheduling clock (claims, leases, `next_attempt_at`) for tests that
step through the retry schedule without sleeping; the `webhook-timestamp` header is
always the real wall-clock time, or receivers would reject the signature as stale.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from ctripctl.config import WebhookConfig
from ctripctl.db import claims
from ctripctl.domain.events import EventStatus, Outcome
from ctripctl.domain.signing import secret_key
from ctripctl.errors import DatabaseUnavailable, InputError
from ctripctl.urls import mask_url
from ctripctl.webhooks import schedule
from ctripctl.webhooks.delivery import TargetGuard, make_client, send

if TYPE_CHECKING:
    import httpx
    from sqlalchemy.engine import Engine

    from ctripctl.domain.events import Claimed

log = logging.getLogger("ctripctl.webhooks")

DEFAULT_CONCURRENCY = 32
LEASE_MARGIN = timedelta(seconds=60)
RECORD_EVERY = 0.25  # seconds an outcome may wait to be recorded


@dataclass
class FlushResult:
    """What one pass did; `attempted` = delivered + failed + dead (skipped sends nothing)."""

    attempted: int = 0
    delivered: int = 0
    failed: int = 0  # failed and scheduled for a later attempt
    dead: int = 0
    skipped: int = 0
    elapsed_s: float = 0.0

    def to_json(self) -> dict[str, int | float]:
        return asdict(self)


ProgressFn = Callable[[FlushResult], None]


def flush(
    engine: Engine,
    webhooks: WebhookConfig,
    *,
    limit: int | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    now: datetime | None = None,
    progress: ProgressFn | None = None,
) -> FlushResult:
    """Deliver due events until none is left (or `limit` were taken); see the module doc."""
    if not webhooks.secret:
        raise InputError(
            "no webhook secret configured: set [webhooks] secret or secret_file, or CTRIP_WEBHOOK_SECRET"
        )
    if concurrency < 1:
        raise InputError("--concurrency must be at least 1")
    if limit is not None and limit < 1:
        raise InputError("--limit must be at least 1")
    key = secret_key(webhooks.secret)
    clock: Callable[[], datetime] = (lambda: now) if now is not None else (lambda: datetime.now(UTC))
    flusher = _Flusher(engine, webhooks, key, limit=limit, concurrency=concurrency, clock=clock)
    flusher.progress = progress
    return asyncio.run(flusher.run())


class _Flusher:
    def __init__(
        self,
        engine: Engine,
        webhooks: WebhookConfig,
        key: bytes,
        *,
        limit: int | None,
        concurrency: int,
        clock: Callable[[], datetime],
    ) -> None:
        self.engine = engine
        self.webhooks = webhooks
        self.key = key
        self.remaining = limit
        self.concurrency = concurrency
        self.clock = clock
        self.timeout = webhooks.timeout.total_seconds()
        self.lease = 2 * webhooks.timeout + LEASE_MARGIN
        self.result = FlushResult()
        self.progress: ProgressFn | None = None

    async def run(self) -> FlushResult:
        started = time.perf_counter()
        guard = TargetGuard(allow_private=self.webhooks.allow_private_targets)
        inflight: dict[asyncio.Task[Outcome], Claimed] = {}
        done: list[Outcome] = []
        oldest_done = 0.0
        exhausted = False  # the last claim found nothing, and nothing was recorded since
        step_size = max(1, self.concurrency // 2)
        window = 2 * self.concurrency  # claimed but not yet recorded: keeps slots busy during a step
        slots = asyncio.Semaphore(self.concurrency)
        async with make_client(
            concurrency=self.concurrency,
            timeout=self.timeout,
            allow_private=self.webhooks.allow_private_targets,
        ) as client:
            while True:
                free = window - len(inflight) - len(done)
                may_claim = self._budget() > 0 and free > 0 and (not exhausted or bool(done))
                record_due = bool(done) and (
                    len(done) >= step_size
                    or not inflight
                    or time.perf_counter() - oldest_done >= RECORD_EVERY
                )
                claim_due = may_claim and (free >= step_size or not inflight)
                if record_due or claim_due:
                    want = min(free, self._budget()) if may_claim else 0
                    batch = await asyncio.to_thread(self._step, done, want)
                    self._tally(done)
                    if done:
                        done = []
                        exhausted = False
                    if want:
                        exhausted = not batch.events and not batch.skipped
                    for event in batch.events:
                        inflight[asyncio.create_task(self._attempt(client, guard, slots, event))] = event
                    if batch.skipped:  # skipping may have unblocked later events of those payments
                        exhausted = False
                    self._report()
                if not inflight:
                    if done or (not exhausted and self._budget() > 0):
                        continue
                    break
                finished, _ = await asyncio.wait(
                    inflight, timeout=RECORD_EVERY, return_when=asyncio.FIRST_COMPLETED
                )
                for task in finished:
                    event = inflight.pop(task)
                    if task.exception() is not None:  # a bug: this event waits out its lease, no other does
                        log.error("webhook %s: attempt not recorded", event.id, exc_info=task.exception())
                        continue
                    if not done:
                        oldest_done = time.perf_counter()
                    done.append(task.result())
        self.result.elapsed_s = round(time.perf_counter() - started, 3)
        return self.result

    def _budget(self) -> int:
        return self.remaining if self.remaining is not None else 1 << 62

    def _step(self, outcomes: list[Outcome], claim: int) -> claims.Claim:
        """One short transaction: record finished attempts, then claim up to `claim` more.

        Recording first lets a payment's next event be claimed in the same transaction
        its predecessor was marked delivered. Retried with tenacity while the database
        is unavailable: the webhooks were already sent, and losing their outcomes would
        mean sending them again once the lease runs out.
        """
        from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential_jitter

        from ctripctl.db.session import transaction

        batch = claims.Claim([], 0)
        for attempt in Retrying(
            retry=retry_if_exception_type(DatabaseUnavailable),
            stop=stop_after_delay(LEASE_MARGIN.total_seconds() / 2),
            wait=wait_exponential_jitter(multiplier=0.2, max=5),
            reraise=True,
        ):
            with attempt, transaction(self.engine) as session:
                claims.record_outcomes(session, outcomes)
                if claim:
                    batch = claims.claim_due(
                        session,
                        now=self.clock(),
                        limit=claim,
                        lease=self.lease,
                        default_url=self.webhooks.default_url,
                    )
        taken = len(batch.events) + batch.skipped
        if self.remaining is not None:
            self.remaining -= taken
        self.result.skipped += batch.skipped
        return batch

    def _tally(self, outcomes: list[Outcome]) -> None:
        for o in outcomes:
            self.result.attempted += 1
            if o.status == EventStatus.DELIVERED:
                self.result.delivered += 1
            elif o.status == EventStatus.DEAD:
                self.result.dead += 1
            else:
                self.result.failed += 1

    async def _attempt(
        self, client: httpx.AsyncClient, guard: TargetGuard, slots: asyncio.Semaphore, event: Claimed
    ) -> Outcome:
        async with slots:
            started_at = self.clock()
            attempt = await send(client, guard, self.key, event, timeout=self.timeout)
        finished_at = self.clock()
        decision = schedule.decide(
            event.attempt,
            finished_at,
            status_code=attempt.status_code,
            refused=attempt.refused,
            retry_after=attempt.retry_after,
            rand=random.random,
        )
        error = attempt.error
        if decision.status == EventStatus.DEAD and decision.reason and error and decision.reason not in error:
            error = f"{error}; dead: {decision.reason}"
        if decision.status != EventStatus.DELIVERED:
            log.info(
                "webhook %s attempt %d to %s failed: %s (now %s)",
                event.id,
                event.attempt,
                mask_url(event.url),
                error,
                decision.status,
            )
        return Outcome(
            event=event,
            started_at=started_at,
            finished_at=finished_at,
            status_code=attempt.status_code,
            error=error,
            response_body=attempt.response_body,
            latency_ms=attempt.latency_ms,
            status=decision.status,
            next_attempt_at=decision.next_attempt_at,
        )

    def _report(self) -> None:
        if self.progress is not None:
            self.progress(self.result)
