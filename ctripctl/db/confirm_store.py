"""What a confirm pass reads before asking the node, and the one transaction that records it.

`read_candidates` (a short transaction, before any network call): the `seen` transfers
whose block is deep enough, oldest first, at most `limit`. `record_confirm` (ONE
transaction after the node answered): under the chain row's lock, compare-and-set the
candidates (confirmed / orphaned, rewinding the scan checkpoint below an orphan),
refresh their payments, expire what may expire, and record the head. A crash before the
commit keeps nothing; after it, a rerun finds nothing to do. docs/confirm-pass.md gives
the reasons for each step (lock order with scan, stale verdicts, minority forks).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ctripctl.db.models import ChainState, Payment, ScannedBlock, Transfer
from ctripctl.db.recompute import facts_of, refresh, standing_of
from ctripctl.db.session import transaction
from ctripctl.domain import lifecycle
from ctripctl.domain.lifecycle import EXPIRABLE, TransferState
from ctripctl.errors import Busy
from ctripctl.faults import crash_point

#: Crash point (ctripctl/faults.py): right before the pass's commit; the crash-safety
#: test runs the CLI in a subprocess.
FAULT_CRASH_BEFORE_COMMIT = "confirm-crash-before-commit"

#: Expiries per pass; the rest wait for the next pass (cron runs it again soon).
EXPIRE_LIMIT = 5_000

#: How long after a payment's expiry a scanner that is caught up with the head may be
#: trusted to have seen every block up to that expiry. A block whose timestamp is before
#: the expiry can still reach the node after the clock passed it (block propagation, and
#: timestamps that producers set slightly behind or ahead of the wall clock), so "caught
#: up with the head" right at the expiry proves nothing about the block about to arrive.
#: (The other route — the checkpoint block's own time is past the expiry — needs no grace.)
EXPIRY_GRACE = timedelta(minutes=2)


@dataclass(frozen=True)
class Candidate:
    """A `seen` transfer deep enough to be confirmed, as read before asking the node."""

    id: int
    block_number: int
    block_hash: str


@dataclass(frozen=True)
class Recorded:
    confirmed: int
    orphaned: int
    expired: int
    payments_updated: int
    events: int


def read_candidates(engine: Engine, chain: str, upto: int, limit: int) -> list[Candidate]:
    """Seen transfers of `chain` in blocks ≤ `upto`, oldest block first, at most `limit`."""
    stmt = (
        select(Transfer.id, Transfer.block_number, Transfer.block_hash)
        .where(
            Transfer.chain == chain,
            Transfer.state == TransferState.SEEN.value,
            Transfer.block_number <= upto,
        )
        .order_by(Transfer.block_number, Transfer.id)
        .limit(limit)
    )
    with transaction(engine) as session:
        return [Candidate(i, n, h) for i, n, h in session.execute(stmt).all()]


def read_waiting(engine: Engine, chain: str, above: int) -> tuple[int, int | None]:
    """Seen transfers of `chain` in blocks > `above` (not deep enough yet): how many, and
    the lowest of their blocks (the first to become deep enough). For the pass's report."""
    stmt = select(func.count(), func.min(Transfer.block_number)).where(
        Transfer.chain == chain,
        Transfer.state == TransferState.SEEN.value,
        Transfer.block_number > above,
    )
    with transaction(engine) as session:
        count, lowest = session.execute(stmt).one()
    return int(count), None if lowest is None else int(lowest)


def record_confirm(
    engine: Engine,
    *,
    chain: str,
    head: int,
    verdicts: Mapping[int, tuple[Candidate, bool]],
    now: datetime,
) -> Recorded:
    """Commit one confirm pass in one transaction (see the module docstring).

    `verdicts`: transfer id → (the candidate as it was checked, whether its block hash is
    still the node's block at that height). Candidates the node could not judge (it did
    not have the block) are simply absent and stay `seen`.
    """
    with transaction(engine) as session:
        state = lock_chain(session, chain)
        confirmed_ids, orphaned_ids = _apply_verdicts(session, verdicts, now)
        if state is not None and orphaned_ids:
            _rewind_below(session, state, orphaned_ids, now)
        orphaned_payments = _payment_ids(session, orphaned_ids)
        unexpected_lost = _payment_ids(session, orphaned_ids, uncounted=True)
        credited = lock_payments(session, _payment_ids(session, [*confirmed_ids, *orphaned_ids]))
        updated: set[str] = set()
        events = _refresh_all(session, credited, orphaned_payments, now, updated, unexpected_lost)
        session.flush()

        # Expiry after the credits: a payment a reorg just stepped back is judged as it
        # now stands — against the checkpoint as rewound above, so one whose credit this
        # pass orphaned waits until the scan has re-covered that block.
        expired = 0
        # The highest head any pass saw: a lagging node (failover) must not make a
        # checkpoint that is behind the real chain look caught up.
        if state is not None and state.head_block is not None:
            head = max(head, state.head_block)
        due = lock_payments(session, _expirable(session, state, head, now)) if state is not None else {}
        for payment in due.values():
            if payment.expired_at is not None or payment.status not in EXPIRABLE:
                continue  # another pass got there first (we waited for its lock)
            assert state is not None
            standing = lifecycle.evaluate(facts_of(payment))
            scanned_past = _scanned_past(state, head, payment.expires_at, now)
            if lifecycle.may_expire(standing, payment.expires_at, now, chain_scanned_past=scanned_past):
                payment.expired_at = now
                expired += 1
        events += _refresh_all(session, due, set(), now, updated)

        if state is not None:
            state.head_block = head  # max(this pass's head, the stored one), above
            state.last_confirm_at = now
            state.updated_at = now
        session.flush()
        crash_point(FAULT_CRASH_BEFORE_COMMIT)
    return Recorded(len(confirmed_ids), len(orphaned_ids), expired, len(updated), events)


def _refresh_all(
    session: Session,
    payments: Mapping[str, Payment],
    orphaned: set[str],
    now: datetime,
    updated: set[str],
    unexpected_lost: set[str] | None = None,
) -> int:
    """Refresh each payment (id order); add the ids whose row changed to `updated`."""
    events = 0
    for payment_id in sorted(payments):
        payment = payments[payment_id]
        before = standing_of(payment)
        lost = payment_id in (unexpected_lost or set())
        written = refresh(session, payment, now, orphaned=payment_id in orphaned, unexpected_lost=lost)
        events += len(written)
        if written or standing_of(payment) != before:
            updated.add(payment_id)
    return events


def _is_postgres(session: Session) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"


def lock_chain(session: Session, chain: str) -> ChainState | None:
    """The chain's checkpoint row, locked for this transaction (None before the first scan).

    Confirm never creates the row: the first scan pass inserts it, and an insert from
    here could make that pass fail. Before the first scan there is nothing to confirm
    and nothing may expire (the chain was not scanned past anything).
    """
    stmt = select(ChainState).where(ChainState.chain == chain).execution_options(populate_existing=True)
    if _is_postgres(session):
        stmt = stmt.with_for_update()
    return session.execute(stmt).scalar_one_or_none()


def _apply_verdicts(
    session: Session, verdicts: Mapping[int, tuple[Candidate, bool]], now: datetime
) -> tuple[list[int], list[int]]:
    """Compare-and-set each checked transfer; returns (confirmed ids, orphaned ids)."""
    confirmed: list[int] = []
    orphaned: list[int] = []
    ids = sorted(verdicts)
    for chunk in _chunks(ids, 500):
        stmt = (
            select(Transfer)
            .where(Transfer.id.in_(chunk), Transfer.state == TransferState.SEEN.value)
            .order_by(Transfer.id)
            .execution_options(populate_existing=True)
        )
        if _is_postgres(session):
            stmt = stmt.with_for_update()
        for transfer in session.execute(stmt).scalars():
            checked, canonical = verdicts[transfer.id]
            if (transfer.block_number, transfer.block_hash) != (checked.block_number, checked.block_hash):
                continue  # moved by a scan since we looked: judge it again next pass
            if canonical:
                transfer.state = TransferState.CONFIRMED.value
                transfer.confirmed_at = now
                confirmed.append(transfer.id)
            else:
                transfer.state = TransferState.ORPHANED.value
                transfer.orphaned_at = now
                orphaned.append(transfer.id)
    session.flush()
    return confirmed, orphaned


def _rewind_below(session: Session, state: ChainState, orphaned_ids: list[int], now: datetime) -> None:
    """Move the scan checkpoint back to just below the lowest block this pass orphaned.

    This pass's "not canonical" may come from a node on a minority fork (confirm failed
    over to it) while the scanner's node — whose hash at the checkpoint still matches —
    would never look at those blocks again. Rewinding makes the next scan re-fetch them
    from its own node: a credit that is on the chain after all is revived there (same
    chain, tx hash, log index), one that is not stays orphaned. The checkpoint hash is
    the stored hash of the new checkpoint block (NULL if none is kept: the scan then
    re-fetches without a parent-hash check, as a rescan does); its time is unknown
    (NULL), so nothing is expired on the strength of blocks that are to be re-scanned.
    Compare-and-set on the checkpoint read under the lock; a checkpoint already at or
    below that block is left alone.
    """
    lowest = _min_block(session, orphaned_ids)
    target = lowest - 1
    if state.last_block <= target:
        return
    chain = state.chain
    target_hash = session.execute(
        select(ScannedBlock.hash).where(ScannedBlock.chain == chain, ScannedBlock.number == target)
    ).scalar_one_or_none()
    result = session.execute(
        update(ChainState)
        .where(ChainState.chain == chain, ChainState.last_block == state.last_block)
        .values(last_block=target, last_block_hash=target_hash, last_block_time=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # cannot happen under the row lock; never guess
        raise Busy(f"chain {chain!r}: the checkpoint moved during this confirm pass; nothing was recorded")
    session.execute(
        delete(ScannedBlock)
        .where(ScannedBlock.chain == chain, ScannedBlock.number > target)
        .execution_options(synchronize_session=False)
    )
    session.refresh(state)


def _min_block(session: Session, transfer_ids: list[int]) -> int:
    ids = sorted(transfer_ids)
    lowest: list[int] = []
    for chunk in _chunks(ids, 500):
        lowest.append(
            session.execute(
                select(func.min(Transfer.block_number)).where(Transfer.id.in_(chunk))
            ).scalar_one()
        )
    return min(lowest)


def _payment_ids(session: Session, transfer_ids: Iterable[int], *, uncounted: bool = False) -> set[str]:
    """The payments of these transfers (`uncounted`: of those among them in another asset)."""
    ids = sorted(transfer_ids)
    found: set[str] = set()
    for chunk in _chunks(ids, 500):
        stmt = select(Transfer.payment_id).where(Transfer.id.in_(chunk))
        if uncounted:
            stmt = stmt.where(Transfer.counted.is_(False))
        found.update(session.execute(stmt).scalars())
    return found


def _scanned_past(state: ChainState, head: int, moment: datetime, now: datetime) -> bool:
    """Has the scanner covered the chain past `moment`? Either its checkpoint block is at
    least as new as `moment` (block times never go back, so every block at or before
    `moment` lies at or below the checkpoint), or it is caught up with the highest head
    seen (`head`, already the running maximum) and `moment` is EXPIRY_GRACE in the past."""
    caught_up = state.last_block >= head and now >= moment + EXPIRY_GRACE
    return caught_up or (state.last_block_time is not None and state.last_block_time >= moment)


def _expirable(session: Session, state: ChainState, head: int, now: datetime) -> list[str]:
    """Ids of payments still short of their amount, past their expiry, and scanned past it
    (the same two routes as `_scanned_past`, as one bound on expires_at)."""
    bounds = [state.last_block_time] if state.last_block_time is not None else []
    if state.last_block >= head:
        bounds.append(now - EXPIRY_GRACE)
    if not bounds:
        return []
    horizon = min(now, max(bounds))
    stmt = (
        select(Payment.id)
        .where(
            Payment.chain == state.chain,
            Payment.status.in_([s.value for s in EXPIRABLE]),
            Payment.expired_at.is_(None),
            Payment.expires_at <= horizon,
        )
        .order_by(Payment.expires_at, Payment.id)
        .limit(EXPIRE_LIMIT)
    )
    return list(session.execute(stmt).scalars())


def lock_payments(session: Session, ids: Iterable[str]) -> dict[str, Payment]:
    """Load (and on PostgreSQL lock, in id order) the payments with fresh transfers."""
    payments: dict[str, Payment] = {}
    for chunk in _chunks(sorted(ids), 500):
        stmt = (
            select(Payment)
            .where(Payment.id.in_(chunk))
            .order_by(Payment.id)
            .execution_options(populate_existing=True)
        )
        if _is_postgres(session):
            stmt = stmt.with_for_update()
        for payment in session.execute(stmt).scalars():
            payments[payment.id] = payment
    return payments


def _chunks(items: list, size: int) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
