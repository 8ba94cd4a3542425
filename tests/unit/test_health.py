"""The status thresholds (ops.health.evaluate), every edge, plus a property test."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctripctl.ops import health
from ctripctl.ops.health import ChainObservation, WebhookObservation, evaluate

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
IDLE = timedelta(minutes=10)
DELAY = timedelta(minutes=10)


def chain(**changes: object) -> ChainObservation:
    """A healthy chain: head 1000, checkpoint 990, both passes a minute ago."""
    base = ChainObservation(
        name="eth",
        max_lag_blocks=50,
        max_idle=IDLE,
        head=1000,
        checkpoint=990,
        last_scan_at=NOW - timedelta(minutes=1),
        last_confirm_at=NOW - timedelta(minutes=1),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def codes(chains: list[ChainObservation], hooks: WebhookObservation | None = None) -> list[str]:
    return [p.code for p in evaluate(chains, hooks or WebhookObservation(), NOW, webhook_max_delay=DELAY)]


def test_healthy_has_no_problems() -> None:
    assert codes([chain()]) == []
    assert codes([]) == []


def test_unreachable_node_names_the_error_and_skips_lag() -> None:
    problems = evaluate(
        [chain(head=None, node_error="no RPC URL answered")],
        WebhookObservation(),
        NOW,
        webhook_max_delay=DELAY,
    )
    assert [p.code for p in problems] == [health.NODE_UNREACHABLE]
    assert problems[0].chain == "eth"
    assert "no RPC URL answered" in problems[0].message


@pytest.mark.parametrize(
    ("head", "checkpoint", "expected"),
    [
        (1050, 1000, []),  # exactly max_lag_blocks: fine
        (1051, 1000, [health.LAG]),  # one more: lagging
        (1000, 1000, []),  # caught up
        (999, 1000, [health.NODE_BEHIND]),  # node below our checkpoint
        (10**9, 0, [health.LAG]),
    ],
)
def test_lag_threshold_is_strictly_greater(head: int, checkpoint: int, expected: list[str]) -> None:
    assert codes([chain(head=head, checkpoint=checkpoint)]) == expected


def test_lag_message_names_the_threshold() -> None:
    [problem] = evaluate(
        [chain(head=1100, checkpoint=1000)], WebhookObservation(), NOW, webhook_max_delay=DELAY
    )
    assert "100 blocks behind" in problem.message and "max_lag_blocks 50" in problem.message


def test_never_scanned_is_one_problem_not_also_idle() -> None:
    assert codes([chain(checkpoint=None, last_scan_at=None)]) == [health.NEVER_SCANNED]
    # A checkpoint row without a completed pass (e.g. created by --from-block) is still "never".
    assert codes([chain(last_scan_at=None)]) == [health.NEVER_SCANNED]


@pytest.mark.parametrize(
    ("ago", "expected"),
    [
        (IDLE, []),  # exactly max_idle: fine
        (IDLE + timedelta(seconds=1), [health.SCAN_IDLE]),
        (timedelta(days=3), [health.SCAN_IDLE]),
        (-timedelta(minutes=5), []),  # written by a host whose clock runs ahead: fresh
    ],
)
def test_scan_idle(ago: timedelta, expected: list[str]) -> None:
    assert codes([chain(last_scan_at=NOW - ago)]) == expected


@pytest.mark.parametrize(
    ("last_confirm_at", "expected"),
    [
        (NOW - IDLE, []),
        (NOW - IDLE - timedelta(seconds=1), [health.CONFIRM_IDLE]),
        (None, [health.CONFIRM_IDLE]),
        (NOW + timedelta(hours=1), []),
    ],
)
def test_confirm_idle(last_confirm_at: datetime | None, expected: list[str]) -> None:
    assert codes([chain(last_confirm_at=last_confirm_at)]) == expected


def test_per_chain_max_idle_is_respected() -> None:
    slow = chain(name="slow", max_idle=timedelta(hours=2), last_scan_at=NOW - timedelta(hours=1))
    fast = chain(name="fast", max_idle=timedelta(minutes=5), last_scan_at=NOW - timedelta(minutes=6))
    problems = evaluate([slow, fast], WebhookObservation(), NOW, webhook_max_delay=DELAY)
    assert [(p.code, p.chain) for p in problems] == [(health.SCAN_IDLE, "fast")]


@pytest.mark.parametrize(("dead", "word"), [(1, "event is"), (7, "events are")])
def test_dead_webhooks(dead: int, word: str) -> None:
    [problem] = evaluate([chain()], WebhookObservation(dead=dead), NOW, webhook_max_delay=DELAY)
    assert problem.code == health.DEAD_WEBHOOKS and problem.chain is None
    assert f"{dead} webhook {word} dead" in problem.message


@pytest.mark.parametrize(
    ("oldest_due_at", "expected"),
    [
        (None, []),  # nothing due
        (NOW - DELAY, []),
        (NOW - DELAY - timedelta(seconds=1), [health.WEBHOOKS_STALLED]),
        (NOW + timedelta(minutes=1), []),
    ],
)
def test_webhooks_stalled(oldest_due_at: datetime | None, expected: list[str]) -> None:
    hooks = WebhookObservation(
        pending=3, oldest_pending_at=NOW - timedelta(days=1), oldest_due_at=oldest_due_at
    )
    assert codes([chain()], hooks) == expected


def test_pending_webhooks_alone_are_healthy() -> None:
    assert (
        codes([chain()], WebhookObservation(pending=10_000, oldest_pending_at=NOW - timedelta(hours=5))) == []
    )


def test_deep_reorg_names_the_exact_rescan_and_stays_until_cleared() -> None:
    """A scan pass that found none of its kept hashes on the node recorded where to rescan
    from: status says so with the exact command, even while every other figure looks fine."""
    problems = evaluate(
        [chain(deep_reorg_from=21_000_123, reorg_window=76)],
        WebhookObservation(),
        NOW,
        webhook_max_delay=DELAY,
    )
    assert [(p.code, p.chain) for p in problems] == [(health.DEEP_REORG, "eth")]
    assert "`ctripctl scan --chain eth --from-block 21000123`" in problems[0].message
    assert "76 block hashes" in problems[0].message
    assert codes([chain(deep_reorg_from=None, reorg_window=76)]) == []


def test_everything_wrong_at_once_in_stable_order() -> None:
    a = chain(
        name="a", head=None, node_error="refused", last_scan_at=NOW - timedelta(hours=1), last_confirm_at=None
    )
    b = chain(name="b", head=5000, checkpoint=100)
    hooks = WebhookObservation(pending=1, dead=2, oldest_due_at=NOW - timedelta(hours=1))
    problems = evaluate([a, b], hooks, NOW, webhook_max_delay=DELAY)
    assert [(p.code, p.chain) for p in problems] == [
        (health.NODE_UNREACHABLE, "a"),
        (health.SCAN_IDLE, "a"),
        (health.CONFIRM_IDLE, "a"),
        (health.LAG, "b"),
        (health.DEAD_WEBHOOKS, None),
        (health.WEBHOOKS_STALLED, None),
    ]


moments = st.one_of(st.none(), st.integers(-3600, 86_400).map(lambda s: NOW - timedelta(seconds=s)))


@given(
    head=st.one_of(st.none(), st.integers(0, 10_000)),
    checkpoint=st.one_of(st.none(), st.integers(0, 10_000)),
    max_lag=st.integers(0, 1000),
    idle_s=st.integers(1, 7200),
    last_scan_at=moments,
    last_confirm_at=moments,
    dead=st.integers(0, 3),
    oldest_due_at=moments,
)
def test_problems_match_each_rule_independently(
    head: int | None,
    checkpoint: int | None,
    max_lag: int,
    idle_s: int,
    last_scan_at: datetime | None,
    last_confirm_at: datetime | None,
    dead: int,
    oldest_due_at: datetime | None,
) -> None:
    idle = timedelta(seconds=idle_s)
    obs = ChainObservation("c", max_lag, idle, head, checkpoint, last_scan_at, last_confirm_at)
    got = set(codes([obs], WebhookObservation(dead=dead, oldest_due_at=oldest_due_at)))

    def stale(moment: datetime | None) -> bool:
        return moment is not None and NOW - moment > idle

    expected = set()
    if head is None:
        expected.add(health.NODE_UNREACHABLE)
    if head is not None and checkpoint is not None:
        if head - checkpoint > max_lag:
            expected.add(health.LAG)
        if head < checkpoint:
            expected.add(health.NODE_BEHIND)
    if checkpoint is None or last_scan_at is None:
        expected.add(health.NEVER_SCANNED)
    elif stale(last_scan_at):
        expected.add(health.SCAN_IDLE)
    if last_confirm_at is None or stale(last_confirm_at):
        expected.add(health.CONFIRM_IDLE)
    if dead:
        expected.add(health.DEAD_WEBHOOKS)
    if oldest_due_at is not None and NOW - oldest_due_at > DELAY:
        expected.add(health.WEBHOOKS_STALLED)
    assert got == expected


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (59, "59s"),
        (60, "1m"),
        (61, "1m1s"),
        (3600, "1h"),
        (3720, "1h2m"),
        (86400, "1d"),
        (90000, "1d1h"),
    ],
)
def test_human(seconds: int, text: str) -> None:
    assert health.human(timedelta(seconds=seconds)) == text
    assert health.ago(seconds) == f"{text} ago"
    assert health.ago(None) == "never"


def test_lag_and_age_helpers() -> None:
    assert health.lag(None, 5) is None and health.lag(5, None) is None and health.lag(7, 5) == 2
    assert health.age(None, NOW) is None
    assert health.age(NOW + timedelta(seconds=5), NOW) == timedelta(0)
