"""The retry schedule: delays, jitter bounds, dead after the last attempt, Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctripctl.webhooks.schedule import (
    DEAD,
    DELIVERED,
    JITTER,
    MAX_ATTEMPTS,
    PENDING,
    RETRY_AFTER_MAX,
    RETRY_AFTER_MIN,
    RETRY_DELAYS,
    decide,
    parse_retry_after,
    retry_delay,
)

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
EXPECTED = [5, 300, 1800, 7200, 18000, 36000, 36000]


def test_schedule_is_the_documented_one() -> None:
    assert [d.total_seconds() for d in RETRY_DELAYS] == EXPECTED
    assert MAX_ATTEMPTS == 8


@pytest.mark.parametrize("attempt", range(1, 8))
def test_middle_of_jitter_is_the_nominal_delay(attempt: int) -> None:
    assert retry_delay(attempt, rand=lambda: 0.5) == timedelta(seconds=EXPECTED[attempt - 1])


@given(st.integers(1, 7), st.floats(0, 1, exclude_max=True))
def test_jitter_stays_within_bounds(attempt: int, r: float) -> None:
    delay = retry_delay(attempt, rand=lambda: r)
    assert delay is not None
    nominal = EXPECTED[attempt - 1]
    assert nominal * (1 - JITTER) <= delay.total_seconds() <= nominal * (1 + JITTER)


def test_jitter_spreads_events_failing_together() -> None:
    import random

    rng = random.Random(7)
    delays = {retry_delay(1, rand=rng.random) for _ in range(50)}
    assert len(delays) > 40


def test_after_the_last_attempt_there_is_no_delay() -> None:
    assert retry_delay(MAX_ATTEMPTS) is None
    with pytest.raises(ValueError):
        retry_delay(0)


@pytest.mark.parametrize("code", [200, 201, 204, 299])
def test_2xx_is_delivered(code: int) -> None:
    assert decide(MAX_ATTEMPTS, NOW, status_code=code).status == DELIVERED


@pytest.mark.parametrize("code", [None, 300, 302, 400, 404, 429, 500, 502, 503])
def test_other_outcomes_are_retried_on_the_schedule(code: int | None) -> None:
    d = decide(1, NOW, status_code=code, rand=lambda: 0.5)
    assert d.status == PENDING
    assert d.next_attempt_at == NOW + timedelta(seconds=5)


def test_the_eighth_failure_is_dead_and_the_seventh_waits_ten_hours() -> None:
    seventh = decide(7, NOW, status_code=500, rand=lambda: 0.5)
    assert seventh.status == PENDING and seventh.next_attempt_at == NOW + timedelta(hours=10)
    eighth = decide(8, NOW, status_code=500)
    assert eighth.status == DEAD and eighth.next_attempt_at is None


def test_gone_and_refused_are_dead_at_once() -> None:
    assert decide(1, NOW, status_code=410).status == DEAD
    assert decide(1, NOW, status_code=None, refused=True).status == DEAD


@pytest.mark.parametrize("code", [429, 503])
def test_retry_after_seconds_replaces_the_delay(code: int) -> None:
    d = decide(1, NOW, status_code=code, retry_after="120")
    assert d.next_attempt_at == NOW + timedelta(seconds=120)


def test_retry_after_is_ignored_on_other_statuses_and_when_garbage() -> None:
    assert decide(1, NOW, status_code=500, retry_after="120", rand=lambda: 0.5).next_attempt_at == (
        NOW + timedelta(seconds=5)
    )
    assert decide(1, NOW, status_code=429, retry_after="soon", rand=lambda: 0.5).next_attempt_at == (
        NOW + timedelta(seconds=5)
    )


def test_retry_after_does_not_extend_the_number_of_attempts() -> None:
    assert decide(MAX_ATTEMPTS, NOW, status_code=429, retry_after="60").status == DEAD


def test_parse_retry_after_http_date_and_clamping() -> None:
    assert parse_retry_after(format_datetime(NOW + timedelta(minutes=3), usegmt=True), NOW) == timedelta(
        minutes=3
    )
    assert parse_retry_after("Sun Nov 29 12:03:00 2026", NOW) == timedelta(minutes=3)  # asctime: GMT
    assert parse_retry_after(format_datetime(NOW + timedelta(days=3), usegmt=True), NOW) == RETRY_AFTER_MAX
    assert parse_retry_after("0", NOW) == timedelta(seconds=1)
    assert parse_retry_after("99999999", NOW) == RETRY_AFTER_MAX
    assert parse_retry_after("9999999999", NOW) == RETRY_AFTER_MAX
    assert parse_retry_after(None, NOW) is None


@pytest.mark.parametrize(
    "value",
    [
        "99999999999999999999",  # was OverflowError
        "9" * 5000,  # was ValueError (int's digit limit)
        "12345678901",  # more digits than any delay anyone means
        "-5",
        "+5",
        "1.5",
        "1e3",
        "²",  # str.isdigit() says yes, int() says no
        "١٢٣",  # non-ASCII digits
        "",
        "soon",
        "Sun, 99 Foo",
        "Sun, 06 Nov 99999 08:49:37 GMT",
        "Sun, 06 Nov 2094 08:49:37 +99999999999999999999",
        "Sun, 06 Nov 2094 08:49:37 GMT" + " GMT" * 20,  # longer than any HTTP date
        format_datetime(NOW - timedelta(minutes=3), usegmt=True),  # in the past
        format_datetime(NOW, usegmt=True),  # now is not in the future
    ],
)
def test_unusable_retry_after_leaves_the_schedule(value: str) -> None:
    assert parse_retry_after(value, NOW) is None
    assert decide(1, NOW, status_code=429, retry_after=value, rand=lambda: 0.5).next_attempt_at == (
        NOW + timedelta(seconds=5)
    )


@given(st.text(max_size=300) | st.from_regex(r"\A[0-9 \t]{0,40}\Z"))
def test_no_retry_after_value_raises(value: str) -> None:
    delay = parse_retry_after(value, NOW)
    assert delay is None or RETRY_AFTER_MIN <= delay <= RETRY_AFTER_MAX
