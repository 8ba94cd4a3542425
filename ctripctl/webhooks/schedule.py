"""The persisted retry schedule: what one attempt's outcome means for the event (pure).

An event gets one immediate attempt and then up to seven retries, each after a delay
from `RETRY_DELAYS` (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, about 32 h in all),
stretched or shrunk by up to ±`JITTER` so that events failing together do not all come
back in the same second. After the eighth failed attempt the event is `dead` and waits
for an operator (`webhooks retry`). The schedule lives in the database as
`next_attempt_at`, so it survives between cron runs; nothing here does I/O.

What an outcome means:

    2xx                               delivered
    410 Gone                          dead at once: the receiver says the endpoint is gone
    target refused (SSRF check)       dead at once: no request was sent, and resending the
                                      same URL under the same policy cannot succeed; fix the
                                      URL or the policy, then `webhooks retry`
    429 / 503 with Retry-After        retried after Retry-After (clamped to 1 s .. 24 h)
                                      instead of the schedule's delay; the attempt still counts;
                                      an unusable value (garbage, negative, too long, a past
                                      date) leaves the schedule's delay
    anything else, timeouts,          retried on the schedule; dead after the last attempt
    connection errors, 3xx (redirects
    are never followed)
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from ctripctl.domain.events import EventStatus

RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1  # the first attempt plus one per delay
JITTER = 0.1  # each delay is multiplied by a factor in [1 - JITTER, 1 + JITTER)
RETRY_AFTER_MIN = timedelta(seconds=1)
RETRY_AFTER_MAX = timedelta(hours=24)
RETRY_AFTER_DIGITS = 10  # delay-seconds longer than this are not a delay anyone means
HTTP_DATE_MAX = 64  # characters; "Sun, 06 Nov 1994 08:49:37 GMT" has 29
_DELAY_SECONDS = re.compile(rf"[0-9]{{1,{RETRY_AFTER_DIGITS}}}")
RETRY_AFTER_STATUSES = frozenset({429, 503})
GONE_STATUSES = frozenset({410})

# The event statuses (domain/events.py), by the names callers of the schedule use.
DELIVERED = EventStatus.DELIVERED
PENDING = EventStatus.PENDING
DEAD = EventStatus.DEAD
SKIPPED = EventStatus.SKIPPED


@dataclass(frozen=True)
class Decision:
    """The event's next state after one attempt: `next_attempt_at` is set only when pending."""

    status: EventStatus
    next_attempt_at: datetime | None = None
    reason: str | None = None


def retry_delay(attempt: int, *, rand: Callable[[], float] = random.random) -> timedelta | None:
    """The wait after failed attempt number `attempt` (1-based), jittered; None when it was the last."""
    if attempt < 1:
        raise ValueError("attempts are numbered from 1")
    if attempt > len(RETRY_DELAYS):
        return None
    factor = 1 + JITTER * (2 * rand() - 1)
    return RETRY_DELAYS[attempt - 1] * factor


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """A Retry-After header as a delay in 1 s .. 24 h, or None: then the schedule's delay applies.

    Two forms are accepted (RFC 9110 §10.2.3): delay-seconds, 1 to `RETRY_AFTER_DIGITS`
    ASCII digits; and an HTTP date in the future (IMF-fixdate, or asctime read as GMT).
    Anything else — a sign, non-ASCII digits, a longer number, a past date, text — is
    unusable, and nothing a receiver sends makes this raise.
    """
    if value is None:
        return None
    value = value.strip(" \t")
    if _DELAY_SECONDS.fullmatch(value):
        delay = timedelta(seconds=int(value))
    elif len(value) <= HTTP_DATE_MAX:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:  # an HTTP date is always GMT (asctime's form does not say so)
            when = when.replace(tzinfo=UTC)
        delay = when - now
        if delay <= timedelta(0):
            return None
    else:
        return None
    return min(max(delay, RETRY_AFTER_MIN), RETRY_AFTER_MAX)


def decide(
    attempt: int,
    now: datetime,
    *,
    status_code: int | None,
    refused: bool = False,
    retry_after: str | None = None,
    rand: Callable[[], float] = random.random,
) -> Decision:
    """What attempt number `attempt`, finished at `now`, means for its event.

    `status_code` is None when no response came back (timeout, connection error).
    `refused` is True when the target check refused the URL and nothing was sent.
    """
    if refused:
        return Decision(DEAD, reason="target refused")
    if status_code is not None and 200 <= status_code < 300:
        return Decision(DELIVERED)
    if status_code in GONE_STATUSES:
        return Decision(DEAD, reason=f"receiver answered {status_code} Gone")
    delay = retry_delay(attempt, rand=rand)
    if delay is None:
        return Decision(DEAD, reason=f"no attempts left after {attempt}")
    if status_code in RETRY_AFTER_STATUSES:
        delay = parse_retry_after(retry_after, now) or delay
    return Decision(PENDING, next_attempt_at=now + delay)
