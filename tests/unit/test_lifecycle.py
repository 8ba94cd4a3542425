"""The pure payment lifecycle, exhaustively: any sequence of steps, checked with hypothesis.

A "step" is what scan, confirm, cancel or the clock can do to a payment's facts: a new
credit (on time or late), a confirmation, an orphaning, a re-inclusion of an orphaned
credit on the new branch, an expiry (only when `may_expire` allows it), a cancellation
(only when CANCELLABLE), settlement (only when confirmed). After each step the model
does what `db.recompute.refresh` does — evaluate, diff against the stored standing, emit
`events_between` — and the properties below must hold at every step.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctripctl.domain import lifecycle
from ctripctl.domain.lifecycle import (
    CANCELLABLE,
    EVENT_CANCELLED,
    EVENT_CONFIRMED,
    EVENT_DETECTED,
    EVENT_EXPIRED,
    EVENT_PARTIALLY_PAID,
    EVENT_REORGED,
    EVENT_SETTLED,
    EXPIRABLE,
    Credit,
    Facts,
    Standing,
    Status,
    TransferState,
)

SEEN, CONFIRMED, ORPHANED = TransferState.SEEN, TransferState.CONFIRMED, TransferState.ORPHANED
EXPIRES_AT = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

# -- the steps ----------------------------------------------------------------------------
# Each is (kind, int argument); the argument picks a credit (modulo their number) or is
# an amount. Steps that do not apply to the current facts change nothing.
steps = st.lists(
    st.tuples(
        st.sampled_from(
            ["credit", "late_credit", "confirm", "orphan", "revive", "expire", "cancel", "settle", "tick"]
        ),
        st.integers(min_value=0, max_value=250),
    ),
    max_size=40,
)


@dataclass
class Model:
    """Facts plus the stored standing, evolved the way refresh() evolves a payment row."""

    facts: Facts
    now: datetime
    scanned_past: bool
    stored: Standing = field(init=False)
    log: list[tuple[Standing, Standing, tuple[str, ...]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.stored = lifecycle.evaluate(self.facts)

    def set_credit(self, index: int, state: TransferState) -> None:
        credits = list(self.facts.credits)
        credits[index] = replace(credits[index], state=state)
        self.facts = replace(self.facts, credits=tuple(credits))

    def apply(self, kind: str, arg: int) -> None:
        credited = orphaned = False
        credits = self.facts.credits
        pick = arg % len(credits) if credits else None
        if kind in ("credit", "late_credit"):
            # The scanner still watches cancelled and confirmed payments for the late
            # window, and a credit fetched before a concurrent cancel or settle is recorded
            # after it: money can arrive in any status.
            credit = Credit(amount=arg + 1, state=SEEN, late=kind == "late_credit")
            self.facts = replace(self.facts, credits=(*credits, credit))
            credited = True
        elif kind == "confirm" and pick is not None and credits[pick].state is SEEN:
            self.set_credit(pick, CONFIRMED)
        elif kind == "orphan" and pick is not None and credits[pick].state is not ORPHANED:
            self.set_credit(pick, ORPHANED)
            orphaned = True
        elif kind == "revive" and pick is not None and credits[pick].state is ORPHANED:
            self.set_credit(pick, SEEN)  # the same transaction, re-included on the new branch
            credited = True
        elif kind == "expire":
            if self.facts.expired or not lifecycle.may_expire(
                self.stored, EXPIRES_AT, self.now, chain_scanned_past=self.scanned_past
            ):
                return
            self.facts = replace(self.facts, expired=True)
        elif kind == "cancel" and self.stored.status in CANCELLABLE:
            self.facts = replace(self.facts, cancelled=True)
        elif kind == "settle" and self.stored.status is Status.CONFIRMED:
            self.facts = replace(self.facts, settled=True)
        elif kind == "tick":
            self.now += timedelta(minutes=arg)
            self.scanned_past = self.scanned_past or arg % 2 == 0
            return
        else:
            return
        before = self.stored
        after = lifecycle.evaluate(self.facts)
        events = lifecycle.events_between(before, after, credited=credited, orphaned=orphaned)
        self.stored = after
        self.log.append((before, after, events))


def run(amount: int, sequence: list[tuple[str, int]]) -> Model:
    model = Model(Facts(amount=amount), now=EXPIRES_AT - timedelta(minutes=30), scanned_past=False)
    for kind, arg in sequence:
        model.apply(kind, arg)
        check_invariants(model.facts, model.stored)
    return model


def check_invariants(facts: Facts, s: Standing) -> None:
    active = [c for c in facts.credits if c.state is not ORPHANED]
    assert s.received == sum(c.amount for c in active)
    assert s.confirmed == sum(c.amount for c in active if c.state is CONFIRMED)
    assert 0 <= s.confirmed <= s.received
    assert s.overpaid == (s.received > facts.amount)
    assert s.paid_late == any(c.late for c in active)
    assert s.underpaid == (s.status is Status.EXPIRED and s.received > 0)
    if s.status is Status.CONFIRMED:
        assert s.confirmed >= facts.amount
    if s.status is Status.DETECTED:
        assert s.confirmed < facts.amount <= s.received
    if s.status in (Status.PARTIALLY_PAID, Status.EXPIRED):
        assert s.received < facts.amount
    if s.status is Status.PARTIALLY_PAID:
        assert s.received > 0 and not facts.expired
    if s.status is Status.PENDING:
        assert s.received == 0 and not facts.expired
    if s.status is Status.EXPIRED:
        assert facts.expired
    # Cancelled and settled are terminal facts; nothing else reports them.
    assert (s.status is Status.CANCELLED) == facts.cancelled
    assert (s.status is Status.SETTLED) == (facts.settled and not facts.cancelled)


@settings(max_examples=600, deadline=None)
@given(amount=st.integers(min_value=1, max_value=200), sequence=steps)
def test_any_sequence_ends_where_a_fresh_recomputation_does(amount: int, sequence: list) -> None:
    model = run(amount, sequence)
    assert model.stored == lifecycle.evaluate(model.facts)
    # The same facts, recomputed from scratch in another order of credits, agree too:
    # the standing depends on the set of credits, not on the order they arrived in.
    reordered = replace(model.facts, credits=tuple(reversed(model.facts.credits)))
    assert lifecycle.evaluate(reordered) == model.stored


@settings(max_examples=600, deadline=None)
@given(amount=st.integers(min_value=1, max_value=200), sequence=steps)
def test_events_are_emitted_once_per_transition(amount: int, sequence: list) -> None:
    model = run(amount, sequence)
    for before, after, events in model.log:
        # Re-evaluating the same facts — whatever the caller claims it did — emits nothing.
        assert lifecycle.events_between(after, after, credited=True, orphaned=True) == ()
        assert len(events) == len(set(events))
        for event in events:
            if event == EVENT_CONFIRMED:
                assert before.status is not Status.CONFIRMED and after.status is Status.CONFIRMED
            elif event == EVENT_EXPIRED:
                assert before.status is not Status.EXPIRED and after.status is Status.EXPIRED
            elif event == EVENT_CANCELLED:
                assert before.status is not Status.CANCELLED and after.status is Status.CANCELLED
            elif event == EVENT_SETTLED:
                assert before.status is not Status.SETTLED and after.status is Status.SETTLED
            elif event == EVENT_DETECTED:
                assert after.status in (Status.DETECTED, Status.CONFIRMED, Status.CANCELLED, Status.SETTLED)
                assert after.status is not before.status or after.received > before.received
                if after.status in (Status.CANCELLED, Status.SETTLED):
                    assert after.received >= model.facts.amount
            elif event == EVENT_PARTIALLY_PAID:
                assert after.status in (
                    Status.PARTIALLY_PAID,
                    Status.EXPIRED,
                    Status.CANCELLED,
                    Status.SETTLED,
                )
                assert after.status is not before.status or after.received > before.received
                if after.status in (Status.CANCELLED, Status.SETTLED):
                    assert after.received < model.facts.amount
            elif event == EVENT_REORGED:
                assert after.received < before.received or after.confirmed < before.confirmed
                assert events[0] == EVENT_REORGED  # the step back is announced first
            else:  # pragma: no cover - an event name the lifecycle does not define
                pytest.fail(f"unexpected event {event}")


@settings(max_examples=600, deadline=None)
@given(amount=st.integers(min_value=1, max_value=200), sequence=steps)
def test_every_change_that_matters_is_announced(amount: int, sequence: list) -> None:
    model = run(amount, sequence)
    for before, after, events in model.log:
        if before == after:
            assert events == ()
        if after.status is not before.status and after.status is not Status.PENDING:
            assert events, f"{before.status} → {after.status} was silent"
        if after.received > before.received:
            assert events, "money arrived and nobody was told"  # never ignore money, whatever the status
        if after.received < before.received:
            assert EVENT_REORGED in events
    # The status never skips back past detected without a reorg being reported.
    for before, after, events in model.log:
        if after.status in (Status.PENDING, Status.PARTIALLY_PAID) and before.status in (
            Status.DETECTED,
            Status.CONFIRMED,
        ):
            assert EVENT_REORGED in events


@settings(max_examples=300, deadline=None)
@given(
    amount=st.integers(min_value=1, max_value=10**30),
    credits=st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=10**30), st.sampled_from(list(TransferState)), st.booleans()
        ),
        max_size=8,
    ),
    expired=st.booleans(),
)
def test_evaluate_is_exact_with_huge_amounts(amount: int, credits: list, expired: bool) -> None:
    facts = Facts(amount=amount, credits=tuple(Credit(a, s, late) for a, s, late in credits), expired=expired)
    standing = lifecycle.evaluate(facts)
    check_invariants(facts, standing)
    assert isinstance(standing.received, int) and isinstance(standing.confirmed, int)


# -- example-based: the transitions DESIGN.md draws ---------------------------------------
def step(before: Facts, after: Facts, **flags: bool) -> tuple[Standing, tuple[str, ...]]:
    a, b = lifecycle.evaluate(before), lifecycle.evaluate(after)
    return b, lifecycle.events_between(a, b, **flags)


def test_partial_then_full_then_confirmed() -> None:
    f0 = Facts(amount=100)
    f1 = replace(f0, credits=(Credit(40, SEEN),))
    s, ev = step(f0, f1, credited=True)
    assert (s.status, ev) == (Status.PARTIALLY_PAID, (EVENT_PARTIALLY_PAID,))
    f2 = replace(f1, credits=(Credit(40, SEEN), Credit(70, SEEN)))
    s, ev = step(f1, f2, credited=True)
    assert (s.status, ev, s.overpaid) == (Status.DETECTED, (EVENT_DETECTED,), True)
    f3 = replace(f2, credits=(Credit(40, CONFIRMED), Credit(70, SEEN)))
    s, ev = step(f2, f3)
    assert (s.status, ev) == (Status.DETECTED, ())  # confirmed 40 < 100: not yet
    f4 = replace(f3, credits=(Credit(40, CONFIRMED), Credit(70, CONFIRMED)))
    s, ev = step(f3, f4)
    assert (s.status, ev, s.overpaid) == (Status.CONFIRMED, (EVENT_CONFIRMED,), True)


def test_reorg_steps_back_with_one_reorged_event() -> None:
    seen = Facts(amount=100, credits=(Credit(100, SEEN),))
    gone = Facts(amount=100, credits=(Credit(100, ORPHANED),))
    s, ev = step(seen, gone, orphaned=True)
    assert (s.status, ev) == (Status.PENDING, (EVENT_REORGED,))
    again = Facts(amount=100, credits=(Credit(100, ORPHANED), Credit(100, SEEN)))
    s, ev = step(gone, again, credited=True)
    assert (s.status, ev) == (Status.DETECTED, (EVENT_DETECTED,))


def test_expiry_of_unpaid_and_partially_paid() -> None:
    unpaid = Facts(amount=100)
    s, ev = step(unpaid, replace(unpaid, expired=True))
    assert (s.status, s.underpaid, ev) == (Status.EXPIRED, False, (EVENT_EXPIRED,))
    partial = Facts(amount=100, credits=(Credit(30, CONFIRMED),))
    s, ev = step(partial, replace(partial, expired=True))
    assert (s.status, s.underpaid, s.received, ev) == (Status.EXPIRED, True, 30, (EVENT_EXPIRED,))


def test_late_credit_after_expiry_is_detected_and_confirmed_with_paid_late() -> None:
    expired = Facts(amount=100, expired=True)
    late = replace(expired, credits=(Credit(100, SEEN, late=True),))
    s, ev = step(expired, late, credited=True)
    assert (s.status, s.paid_late, ev) == (Status.DETECTED, True, (EVENT_DETECTED,))
    done = replace(expired, credits=(Credit(100, CONFIRMED, late=True),))
    s, ev = step(late, done)
    assert (s.status, s.paid_late, ev) == (Status.CONFIRMED, True, (EVENT_CONFIRMED,))
    short = replace(expired, credits=(Credit(10, SEEN, late=True),))
    s, ev = step(expired, short, credited=True)
    assert (s.status, s.paid_late, s.underpaid, ev) == (Status.EXPIRED, True, True, (EVENT_PARTIALLY_PAID,))


def test_money_on_a_cancelled_or_settled_payment_is_announced() -> None:
    """A credit recorded after a cancel (paid before it but scanned after, sent after it,
    or fetched before a concurrent cancel) keeps the status and is still announced."""
    cancelled = Facts(amount=100, cancelled=True)
    partial = replace(cancelled, credits=(Credit(40, SEEN),))
    s, ev = step(cancelled, partial, credited=True)
    assert (s.status, s.received, ev) == (Status.CANCELLED, 40, (EVENT_PARTIALLY_PAID,))
    full = replace(cancelled, credits=(Credit(40, SEEN), Credit(60, SEEN)))
    s, ev = step(partial, full, credited=True)
    assert (s.status, s.received, ev) == (Status.CANCELLED, 100, (EVENT_DETECTED,))
    settled = Facts(amount=100, credits=(Credit(100, CONFIRMED),), settled=True)
    again = replace(settled, credits=(Credit(100, CONFIRMED), Credit(5, SEEN)))
    s, ev = step(settled, again, credited=True)
    assert (s.status, s.overpaid, ev) == (Status.SETTLED, True, (EVENT_DETECTED,))
    # Confirming that money later changes nothing the customer needs to hear about.
    s, ev = step(full, replace(full, credits=(Credit(40, CONFIRMED), Credit(60, CONFIRMED))))
    assert (s.status, ev) == (Status.CANCELLED, ())


def test_may_expire_needs_time_status_and_a_scanned_chain() -> None:
    pending = lifecycle.evaluate(Facts(amount=5))
    detected = lifecycle.evaluate(Facts(amount=5, credits=(Credit(5, SEEN),)))
    before, after = EXPIRES_AT - timedelta(seconds=1), EXPIRES_AT
    assert not lifecycle.may_expire(pending, EXPIRES_AT, before, chain_scanned_past=True)
    assert not lifecycle.may_expire(pending, EXPIRES_AT, after, chain_scanned_past=False)
    assert lifecycle.may_expire(pending, EXPIRES_AT, after, chain_scanned_past=True)
    assert not lifecycle.may_expire(detected, EXPIRES_AT, after, chain_scanned_past=True)
    assert {s for s in Status if s in EXPIRABLE} == {Status.PENDING, Status.PARTIALLY_PAID}


@pytest.mark.parametrize(
    ("head", "block", "required", "deep"),
    [(10, 8, 3, True), (10, 9, 3, False), (10, 10, 1, True), (10, 11, 1, False), (0, 0, 1, True)],
)
def test_depth_boundary(head: int, block: int, required: int, deep: bool) -> None:
    assert lifecycle.is_deep_enough(head, block, required) is deep
    assert (block <= lifecycle.deepest_confirmable(head, required)) is deep
    assert lifecycle.confirmations(head, block) == max(0, head - block + 1)


@given(head=st.integers(0, 10**9), block=st.integers(0, 10**9), required=st.integers(1, 10_000))
def test_deepest_confirmable_agrees_with_is_deep_enough(head: int, block: int, required: int) -> None:
    assert lifecycle.is_deep_enough(head, block, required) == (
        block <= lifecycle.deepest_confirmable(head, required)
    )
