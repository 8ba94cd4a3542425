"""The sweeps table: what the sweep pass reads before asking the node, and what it records.

Each write is one short transaction and none is open during a network call. The order
that makes sweeping crash-safe is the pass's (passes/sweep.py): `record_signed` commits
the signed bytes BEFORE the broadcast; `record_broadcasts` and `record_verdicts` only
ever move a row forward from the status it was read with (compare-and-set), and the
verdict that confirms a sweep settles its payments in the same transaction as their
outbox events.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import case, exists, func, or_, select, tuple_, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, aliased

from ctripctl.db.confirm_store import lock_chain, lock_payments
from ctripctl.db.models import ChainState, Delegate, Payment, Sweep, SweepItem, Transfer
from ctripctl.db.recompute import refresh
from ctripctl.db.session import transaction
from ctripctl.db.snapshot import iso
from ctripctl.domain.ids import new_id
from ctripctl.domain.lifecycle import Status, TransferState
from ctripctl.domain.sweeping import (
    LIVE,
    ItemStatus,
    SweepKind,
    SweepStatus,
    TokenMove,
    Verdict,
    moved_by,
    underpriced,
)
from ctripctl.errors import NotFound

_LIVE = [s.value for s in LIVE]
#: Final statuses of a transaction whose effects never happened.
_UNDONE = (SweepStatus.DROPPED, SweepStatus.REVERTED)
#: Kinds whose confirmation settles their payment (a batch settles item by item).
_SETTLING = (SweepKind.NATIVE.value, SweepKind.TOKEN.value)
#: The asset of a top-up's strikes (State.reverts): they hold back the deposit's tokens.
GAS = "gas"
#: Statuses after which a batch's authorizations have been applied on chain.
_DELEGATED = [SweepStatus.MINED.value, SweepStatus.CONFIRMED.value, SweepStatus.REVERTED.value]


@dataclass(frozen=True)
class Candidate:
    """One asset on a payment's deposit with confirmed, not yet swept credits.

    `own`: the payment's own asset. False: a deposit in another asset (a token sent to a
    native payment's address, ETH to a token payment's): swept like any other, but it
    never adds to the payment's `swept_base` nor settles it."""

    payment_id: str
    address: str
    derivation_index: int
    token: str | None
    token_address: str | None
    decimals: int
    transfer_ids: tuple[int, ...]
    created_at: datetime | None = None  # its place in the candidates' order (the cursor)
    own: bool = True
    # A native payment's deposit: it must keep taking plain ETH transfers (the payment
    # itself, or late and second payments within late_window), so it is never delegated:
    # a wrong-asset token on it is swept with a top-up, not an EIP-7702 batch.
    expects_eth: bool = False
    credited: int = 0  # the sum of its credits (transfer_ids): all a sweep of it may move


@dataclass(frozen=True)
class LiveSweep:
    id: str
    kind: SweepKind
    status: SweepStatus
    from_address: str
    to_address: str
    nonce: int
    tx_hash: str
    raw_tx: str
    amount_base: int


@dataclass(frozen=True)
class NewItem:
    """One deposit a sponsored batch is to sweep."""

    payment_id: str
    address: str
    token: str | None
    token_address: str | None  # None: an item of a clearing transaction
    amount_base: int
    transfer_ids: tuple[int, ...]


@dataclass(frozen=True)
class NewSweep:
    """A signed transaction about to be recorded (then broadcast)."""

    kind: SweepKind
    from_address: str
    to_address: str
    token: str | None
    token_address: str | None
    amount_base: int
    nonce: int
    gas_limit: int
    fee: dict[str, Any]
    tx_hash: str
    raw_tx: str
    payment_ids: tuple[str, ...]
    transfer_ids: tuple[int, ...] = ()
    items: tuple[NewItem, ...] = ()  # kind BATCH: the deposits it sweeps
    treasury: str | None = None  # kind DEPLOY: the delegate's treasury (to_address: the contract)
    id: str = ""

    def with_id(self) -> NewSweep:
        return replace(self, id=new_id("swp"))


@dataclass(frozen=True)
class Recorded:
    mined: int = 0
    confirmed: int = 0
    reverted: int = 0
    dropped: int = 0
    settled: int = 0  # payments that became settled
    events: int = 0


@dataclass(frozen=True)
class State:
    """What the planner must know of earlier sweeps on the chain."""

    live: list[LiveSweep]
    # (deposit, asset) → its sweeps (or batch items) that moved nothing, at depth. The
    # asset: its token contract (lowercase), None for ETH, GAS for the deposit's top-ups.
    reverts: Counter[tuple[str, str | None]]
    busy: frozenset[str]  # lowercase deposits a live transaction sends from or sweeps
    topping: frozenset[str]  # lowercase deposits a live top-up is on its way to


@dataclass(frozen=True)
class DelegateState:
    """The chain's SweepDelegate for one sponsor and treasury, and whether it is usable."""

    address: str
    ready: bool  # its deploy transaction is mined; False: still on its way


def read_delegate(engine: Engine, chain: str, sponsor: str, treasury: str) -> DelegateState | None:
    """The newest delegate whose deployment is live or mined (None: deploy one)."""
    stmt = (
        select(Delegate.address, Sweep.status)
        .join(Sweep, Sweep.id == Delegate.sweep_id)
        .where(
            Delegate.chain == chain,
            Delegate.sponsor == sponsor,
            Delegate.treasury == treasury,
            Sweep.status.in_([*_LIVE, SweepStatus.CONFIRMED.value]),
        )
        .order_by(Sweep.seq.desc())
        .limit(1)
    )
    with transaction(engine) as session:
        row = session.execute(stmt).first()
    if row is None:
        return None
    ready = row[1] in (SweepStatus.MINED.value, SweepStatus.CONFIRMED.value)
    return DelegateState(row[0], ready)


def read_candidates(
    engine: Engine,
    chain: str,
    limit: int,
    after: tuple[datetime, str] | None = None,
    tokens: Mapping[str, str] | None = None,
) -> list[Candidate]:
    """Assets on deposits of `chain` with confirmed credits no confirmed sweep has moved yet:
    the payment's own asset once it is confirmed (or its late or over credits are), and a
    deposit in another asset as soon as it is confirmed, whatever the payment's status.

    At most `limit` payments (each with one candidate per asset), oldest first, from just
    after `after` (created_at, id): the pass resumes where the last one stopped, so
    payments that are never swept (below sweep_min, failing) cannot keep newer ones out of
    a bounded read. `tokens`: the chain's token symbols → contract addresses. A deposit in
    another asset is keyed by its recorded contract (a symbol may be renamed or moved to
    another contract in the config; the contract never changes) and shown under the
    symbol configured for it now; a credit recorded before its contract was kept
    (migration 0010) is looked up by symbol (not configured any more: not sweepable)."""
    stmt = (
        select(
            Payment.id,
            Payment.address,
            Payment.derivation_index,
            Payment.token,
            Payment.token_address,
            Payment.decimals,
            Payment.created_at,
            Transfer.id,
            Transfer.counted,
            Transfer.token,
            Transfer.decimals,
            Transfer.token_address,
            Transfer.amount_base,
        )
        .join(Transfer, Transfer.payment_id == Payment.id)
        .where(
            Payment.chain == chain,
            # Same chain as its payment; named so the plan starts from ix_transfers_unswept
            # (chain, state, swept_at): the deposits waiting, not every credit ever swept.
            # At 1M payments: 2.2 s -> 7 ms on SQLite (benchmarks/bench_history.py).
            Transfer.chain == chain,
            Transfer.state == TransferState.CONFIRMED.value,
            Transfer.swept_at.is_(None),
            or_(
                Transfer.counted.is_(False),
                Payment.status == Status.CONFIRMED.value,
                Payment.paid_late,
                Payment.overpaid,
            ),
        )
        .order_by(Payment.created_at, Payment.id, Transfer.id)
    )
    if after is not None:
        stmt = stmt.where(tuple_(Payment.created_at, Payment.id) > tuple_(*after))
    by_symbol = dict(tokens or {})
    by_contract = {address.lower(): (symbol, address) for symbol, address in by_symbol.items()}
    found: dict[tuple[str, str | None], Candidate] = {}
    payments: set[str] = set()
    with transaction(engine) as session:
        for row in session.execute(stmt):
            pid, address, index, token, token_address, decimals, created, transfer_id = row[:8]
            counted, asset, asset_decimals, contract, amount = row[8:]
            expects_eth = token_address is None
            if counted:
                key: tuple[str, str | None] = (pid, "own")
            else:
                contract = (contract or by_symbol.get(asset or "") or "").lower() or None
                token, token_address = by_contract.get(contract or "", (asset, contract))
                decimals = asset_decimals if asset_decimals is not None else decimals
                # No contract known (an old credit of a symbol not configured any more):
                # its own key, never merged with another asset's credits.
                key = (pid, contract or (f"symbol:{asset}" if asset else None))
            known = found.get(key)
            if known is not None:
                found[key] = replace(
                    known, transfer_ids=(*known.transfer_ids, transfer_id), credited=known.credited + amount
                )
                continue
            if pid not in payments:
                if len(payments) >= limit:
                    break  # whole payments only: the cursor resumes after the last one read
                payments.add(pid)
            found[key] = Candidate(
                pid,
                address,
                index,
                token,
                token_address,
                decimals,
                (transfer_id,),
                created,
                bool(counted),
                expects_eth,
                amount,
            )
    return list(found.values())


def read_gas_money(engine: Engine, chain: str, addresses: Sequence[str]) -> dict[str, int]:
    """Per deposit (lowercase), the ETH our mined top-ups brought it that no transaction
    from it has spent yet: the only ETH on a deposit a token sweep may burn as gas.

    Anything else there is a customer's — a native payment's, a deposit in the wrong
    asset, or money the scan has not recorded yet — and is never gas money. A top-up
    counts as spent once any later transaction from the deposit (not dropped) exists."""
    ids = sorted(set(addresses))
    spent_stmt = (
        select(Sweep.from_address, func.max(Sweep.seq))
        .where(Sweep.chain == chain, Sweep.status != SweepStatus.DROPPED.value)
        .group_by(Sweep.from_address)
    )
    topups_stmt = select(Sweep.to_address, Sweep.seq, Sweep.amount_base).where(
        Sweep.chain == chain,
        Sweep.kind == SweepKind.TOPUP.value,
        Sweep.status.in_([SweepStatus.MINED.value, SweepStatus.CONFIRMED.value]),
    )
    money: dict[str, int] = {}
    with transaction(engine) as session:
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            spent = {a: seq for a, seq in session.execute(spent_stmt.where(Sweep.from_address.in_(chunk)))}
            for address, seq, amount in session.execute(topups_stmt.where(Sweep.to_address.in_(chunk))):
                if seq > spent.get(address, -1):
                    money[address.lower()] = money.get(address.lower(), 0) + amount
    return money


def read_cursor(engine: Engine, chain: str) -> tuple[datetime, str] | None:
    with transaction(engine) as session:
        row = session.execute(
            select(ChainState.sweep_cursor_at, ChainState.sweep_cursor_id).where(ChainState.chain == chain)
        ).first()
    return (row[0], row[1]) if row is not None and row[0] is not None and row[1] is not None else None


def read_to_clear(engine: Engine, chain: str, limit: int | None) -> list[tuple[str, int, str]]:
    """Deposits still delegated by a batch that is mined (or final), whose delegation no
    clearing transaction has taken on: (payment id, derivation index, address)."""
    stmt = (
        select(SweepItem.payment_id, Payment.derivation_index, SweepItem.address)
        .join(Sweep, Sweep.id == SweepItem.sweep_id)
        .join(Payment, Payment.id == SweepItem.payment_id)
        .where(
            Sweep.chain == chain,
            Sweep.kind == SweepKind.BATCH.value,
            Sweep.status.in_(_DELEGATED),
            SweepItem.cleared_by.is_(None),
        )
        .order_by(SweepItem.seq)
        .limit(limit)  # None: every one (all of them wait for their clearing)
    )
    with transaction(engine) as session:
        return [(pid, index, address) for pid, index, address in session.execute(stmt)]


@dataclass(frozen=True)
class Stuck:
    """A native sweep the node refuses for its fee, and which payment it sweeps."""

    sweep_id: str
    from_address: str
    nonce: int
    gas_limit: int
    candidate: Candidate


def read_underpriced(engine: Engine, chain: str) -> list[Stuck]:
    """Live native sweeps whose last broadcast was refused for its fee and that no other
    transaction with the same nonce replaces yet (the newest row of each sender nonce)."""
    # From the few signed sweeps (chain, status), each checked for a newer live one with
    # its sender and nonce (chain, from_address, nonce). Not a max(seq) per sender and
    # nonce, which SQLite computed by walking ix_sweeps_from over every sweep of the
    # chain for its grouping order: 360 ms at 1M payments (benchmarks/bench_history.py).
    newer = aliased(Sweep)
    refused = select(Sweep).where(
        Sweep.chain == chain,
        Sweep.status == SweepStatus.SIGNED.value,
        Sweep.kind == SweepKind.NATIVE.value,
        Sweep.last_error.is_not(None),
        ~exists().where(
            newer.chain == chain,
            newer.from_address == Sweep.from_address,
            newer.nonce == Sweep.nonce,
            newer.status.in_(_LIVE),
            newer.seq > Sweep.seq,
        ),
    )
    stuck = []
    with transaction(engine) as session:
        for sweep in session.execute(refused).scalars():
            if not underpriced(sweep.last_error or ""):
                continue
            payment = session.get(Payment, sweep.payment_ids[0])
            assert payment is not None
            candidate = Candidate(
                payment.id,
                payment.address,
                payment.derivation_index,
                None,
                None,
                payment.decimals,
                tuple(sweep.transfer_ids),
            )
            stuck.append(Stuck(sweep.id, sweep.from_address, sweep.nonce, sweep.gas_limit, candidate))
    return stuck


def read_state(engine: Engine, chain: str) -> State:
    live_stmt = (
        select(Sweep).where(Sweep.chain == chain, Sweep.status.in_(_LIVE)).order_by(Sweep.nonce, Sweep.seq)
    )
    # A failed top-up counts against the deposit it was for (not the tank), so a deposit
    # whose top-ups keep failing stops being planned. Per asset: a deposit in another
    # asset that keeps failing does not hold back the payment's own.
    failer = case((Sweep.kind == SweepKind.TOPUP.value, Sweep.to_address), else_=Sweep.from_address)
    reverts_stmt = (
        select(failer, Sweep.kind, Sweep.token_address, func.count())
        .where(Sweep.chain == chain, Sweep.status == SweepStatus.REVERTED.value)
        .group_by(failer, Sweep.kind, Sweep.token_address)
    )
    with transaction(engine) as session:
        live = [
            LiveSweep(
                s.id,
                SweepKind(s.kind),
                SweepStatus(s.status),
                s.from_address,
                s.to_address,
                s.nonce,
                s.tx_hash,
                s.raw_tx,
                s.amount_base,
            )
            for s in session.execute(live_stmt).scalars()
        ]
        reverts: Counter[tuple[str, str | None]] = Counter()
        for address, kind, token_address, n in session.execute(reverts_stmt):
            asset = GAS if kind == SweepKind.TOPUP.value else (token_address or "").lower() or None
            reverts[(address, asset)] += n
        failed_items = select(SweepItem.address, SweepItem.token_address, func.count()).where(
            SweepItem.status == ItemStatus.FAILED.value,
            SweepItem.sweep_id.in_(select(Sweep.id).where(Sweep.chain == chain)),
        )
        grouped = failed_items.group_by(SweepItem.address, SweepItem.token_address)
        for address, token_address, n in session.execute(grouped):
            reverts[(address, (token_address or "").lower() or None)] += n
        with_items = [s.id for s in live if s.kind in (SweepKind.BATCH, SweepKind.CLEAR)]
        swept = session.execute(select(SweepItem.address).where(SweepItem.sweep_id.in_(with_items))).scalars()
    busy = {s.from_address.lower() for s in live} | {a.lower() for a in swept}
    topping = {s.to_address.lower() for s in live if s.kind is SweepKind.TOPUP}
    return State(live, reverts, frozenset(busy), frozenset(topping))


def next_nonces(engine: Engine, chain: str, senders: Sequence[str]) -> dict[str, int]:
    """Per sender about to sign: one past its highest recorded nonce that was not dropped
    (the node's pending count may not know a transaction recorded but never broadcast).
    Asked for these senders only: a chain's history of swept addresses grows without end."""
    stmt = (
        select(Sweep.from_address, func.max(Sweep.nonce))
        .where(
            Sweep.chain == chain,
            Sweep.from_address.in_(sorted(set(senders))),
            Sweep.status != SweepStatus.DROPPED.value,
        )
        .group_by(Sweep.from_address)
    )
    with transaction(engine) as session:
        return {address: nonce + 1 for address, nonce in session.execute(stmt)}


def record_signed(engine: Engine, chain: str, sweeps: Sequence[NewSweep], now: datetime) -> list[NewSweep]:
    """Commit the signed transactions (status `signed`) before any of them is broadcast."""
    stored = [s.with_id() for s in sweeps]
    if not stored:
        return stored
    with transaction(engine) as session:
        session.add_all(
            Sweep(
                id=s.id,
                chain=chain,
                kind=s.kind.value,
                status=SweepStatus.SIGNED.value,
                from_address=s.from_address,
                to_address=s.to_address,
                token=s.token,
                token_address=s.token_address,
                amount_base=s.amount_base,
                nonce=s.nonce,
                gas_limit=s.gas_limit,
                fee=s.fee,
                tx_hash=s.tx_hash,
                raw_tx=s.raw_tx,
                payment_ids=list(s.payment_ids),
                transfer_ids=list(s.transfer_ids),
                broadcasts=0,
                created_at=now,
                updated_at=now,
            )
            for s in stored
        )
        session.flush()  # the sweeps rows first: items and delegates refer to them
        for s in stored:
            session.add_all(
                SweepItem(
                    sweep_id=s.id,
                    payment_id=i.payment_id,
                    address=i.address,
                    token=i.token,
                    token_address=i.token_address,
                    amount_base=i.amount_base,
                    status=ItemStatus.PENDING.value,
                    transfer_ids=list(i.transfer_ids),
                )
                for i in s.items
            )
            if s.kind is SweepKind.CLEAR:
                session.execute(
                    update(SweepItem)
                    .where(
                        SweepItem.address.in_([i.address for i in s.items]),
                        SweepItem.cleared_by.is_(None),
                        SweepItem.sweep_id.in_(select(Sweep.id).where(Sweep.kind == SweepKind.BATCH.value)),
                    )
                    .values(cleared_by=s.id)
                    .execution_options(synchronize_session=False)
                )
            if s.kind is SweepKind.DEPLOY:
                assert s.treasury is not None
                session.add(
                    Delegate(
                        chain=chain,
                        address=s.to_address,
                        sponsor=s.from_address,
                        treasury=s.treasury,
                        sweep_id=s.id,
                        created_at=now,
                    )
                )
    return stored


def record_broadcasts(engine: Engine, outcomes: Mapping[str, str | None], now: datetime) -> int:
    """After a broadcast: `signed` → `sent` where the node took it (error None); where it
    refused, the row stays as it is with the node's words in last_error, and the next pass
    judges it again. Returns how many became `sent`."""
    accepted = sorted(i for i, error in outcomes.items() if error is None)
    sent = 0
    with transaction(engine) as session:
        for chunk in _chunks(accepted, 500):
            rows = update(Sweep).where(Sweep.id.in_(chunk))
            session.execute(rows.values(broadcasts=Sweep.broadcasts + 1, updated_at=now, last_error=None))
            moved = rows.where(Sweep.status == SweepStatus.SIGNED.value).values(status=SweepStatus.SENT.value)
            sent += session.execute(moved).rowcount
        for sweep_id, error in sorted(outcomes.items()):
            if error is not None:
                session.execute(
                    update(Sweep)
                    .where(Sweep.id == sweep_id)
                    .values(broadcasts=Sweep.broadcasts + 1, updated_at=now, last_error=error[:500])
                )
    return sent


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def record_verdicts(
    engine: Engine,
    chain: str,
    verdicts: Mapping[str, tuple[SweepStatus, Verdict]],
    now: datetime,
    moves: Mapping[str, tuple[TokenMove, ...]] | None = None,
) -> Recorded:
    """Apply each verdict to its row if the row still has the status it was judged in,
    and settle the payments of every sweep that became `confirmed` — one transaction.

    `moves`: the Transfer logs of each judged receipt; a confirmed batch's items are
    settled by what its logs moved, each on its own (a deposit whose token failed inside
    the batch is `failed`, and planned again)."""
    counts: Counter[str] = Counter()
    # payment id -> (the asset moved: its token contract or None for ETH, amount, credits)
    settled_payments: dict[str, list[tuple[str | None, int, tuple[int, ...]]]] = {}
    with transaction(engine) as session:
        lock_chain(session, chain)  # the lock order of scan and confirm: chain row, then payments
        for sweep_id in sorted(verdicts):
            judged, verdict = verdicts[sweep_id]
            if verdict.status is judged and verdict.block_hash is None:
                continue
            sweep = session.execute(
                select(Sweep).where(Sweep.id == sweep_id, Sweep.status == judged.value)
            ).scalar_one_or_none()
            if sweep is None:
                continue  # another pass moved it first
            sweep.status = verdict.status.value
            sweep.block_number = verdict.block_number
            sweep.block_hash = verdict.block_hash
            sweep.updated_at = now
            if verdict.status not in LIVE:
                sweep.final_at = now
            if verdict.status is not judged:
                counts[verdict.status.value] += 1
            logs = (moves or {}).get(sweep.id, ())
            if sweep.kind == SweepKind.BATCH.value and verdict.status not in LIVE:
                for payment_id, moved in _close_items(session, chain, sweep, verdict.status, logs):
                    settled_payments.setdefault(payment_id, []).append(moved)
            elif sweep.kind == SweepKind.CLEAR.value and verdict.status in _UNDONE:
                _unclear(session, sweep.id)  # its authorizations never applied: clear again
            elif verdict.status is SweepStatus.CONFIRMED and sweep.kind in _SETTLING:
                amount = sweep.amount_base
                if sweep.kind == SweepKind.NATIVE.value and sweep.transfer_ids:
                    # A deposit's ETH beyond its credits (what a top-up left) is not the
                    # payment's money: swept_base never exceeds what was received.
                    # Summed here, not in SQL: SQLite keeps amounts as text (db/types.py).
                    credited = session.execute(
                        select(Transfer.amount_base).where(Transfer.id.in_(sweep.transfer_ids))
                    ).scalars()
                    amount = min(amount, sum(credited))
                if sweep.kind == SweepKind.TOKEN.value:  # what reached the treasury, per its logs
                    assert sweep.token_address is not None
                    amount = moved_by(
                        logs, token=sweep.token_address, sender=sweep.from_address, recipient=sweep.to_address
                    )
                    if amount == 0:  # a token that returned false: nothing moved
                        sweep.status = SweepStatus.REVERTED.value
                        counts[SweepStatus.CONFIRMED.value] -= 1
                        counts[SweepStatus.REVERTED.value] += 1
                        continue
                for payment_id in sweep.payment_ids:
                    settled_payments.setdefault(payment_id, []).append(
                        (sweep.token_address, amount, tuple(sweep.transfer_ids))
                    )
        payments = lock_payments(session, settled_payments)
        events = 0
        settled = 0
        for payment_id in sorted(payments):
            payment = payments[payment_id]
            own = False
            for asset, amount, transfer_ids in settled_payments[payment_id]:
                # A deposit in another asset is moved and its credits marked swept, but it
                # is not the payment's money: swept_base and settlement count only its own.
                if (asset or "").lower() == (payment.token_address or "").lower():
                    payment.swept_base += amount
                    own = True
                if transfer_ids:
                    session.execute(
                        update(Transfer)
                        .where(Transfer.id.in_(transfer_ids), Transfer.swept_at.is_(None))
                        .values(swept_at=now)
                        .execution_options(synchronize_session=False)
                    )
            # Settled means paid in full and swept: a late partial payment (or a cancelled
            # one) has its money moved and counted in swept_base, but is never settled.
            paid = payment.confirmed_base >= payment.amount_base and payment.cancelled_at is None
            if payment.settled_at is None and paid and own:
                payment.settled_at = now
                settled += 1
            payment.updated_at = now
            session.flush()
            events += len(refresh(session, payment, now))
    return Recorded(
        mined=counts[SweepStatus.MINED.value],
        confirmed=counts[SweepStatus.CONFIRMED.value],
        reverted=counts[SweepStatus.REVERTED.value],
        dropped=counts[SweepStatus.DROPPED.value],
        settled=settled,
        events=events,
    )


def _unclear(session: Session, clear_id: str) -> None:
    session.execute(
        update(SweepItem)
        .where(SweepItem.cleared_by == clear_id)
        .values(cleared_by=None)
        .execution_options(synchronize_session=False)
    )


def _close_items(
    session: Session, chain: str, sweep: Sweep, status: SweepStatus, logs: tuple[TokenMove, ...]
) -> Iterator[tuple[str, tuple[str | None, int, tuple[int, ...]]]]:
    """Judge each deposit of a final batch by its Transfer logs; yield what settles:
    (payment id, (the token moved, amount moved, the credits it moved))."""
    treasury = session.execute(
        select(Delegate.treasury).where(Delegate.chain == chain, Delegate.address == sweep.to_address)
    ).scalar_one()
    for item in session.execute(select(SweepItem).where(SweepItem.sweep_id == sweep.id)).scalars():
        if status is SweepStatus.DROPPED:
            item.status = ItemStatus.DROPPED.value
            continue
        moved = 0
        if status is SweepStatus.CONFIRMED:
            moved = moved_by(logs, token=item.token_address, sender=item.address, recipient=treasury)
        item.moved_base = moved
        item.status = (ItemStatus.MOVED if moved > 0 else ItemStatus.FAILED).value
        if moved > 0:
            yield item.payment_id, (item.token_address, moved, tuple(item.transfer_ids))


def record_tank(
    engine: Engine,
    chain: str,
    balance: str | None,
    needed: str,
    now: datetime,
    cursor: tuple[datetime, str] | None = None,
) -> None:
    """What this pass saw of the gas tank, for `status` (gas_tank_low; balance None: not
    read), and where the next pass resumes reading candidates (None: from the start)."""
    values: dict[str, Any] = {
        "last_sweep_at": now,
        "tank_needed_base": int(needed),
        "sweep_cursor_at": cursor[0] if cursor else None,
        "sweep_cursor_id": cursor[1] if cursor else None,
    }
    if balance is not None:
        values["tank_balance_base"] = int(balance)
    with transaction(engine) as session:
        session.execute(update(ChainState).where(ChainState.chain == chain).values(**values))


def sweep_object(sweep: Sweep) -> dict[str, Any]:
    """The public JSON shape of a sweep (`sweep list` items, `sweep show`)."""
    return {
        "id": sweep.id,
        "chain": sweep.chain,
        "kind": sweep.kind,
        "status": sweep.status,
        "address": sweep.from_address,
        "from": sweep.from_address,
        "to": sweep.to_address,
        "token": sweep.token,
        "token_address": sweep.token_address,
        "amount_base": str(sweep.amount_base),
        "nonce": sweep.nonce,
        "gas_limit": sweep.gas_limit,
        "fee": sweep.fee,
        "tx_hash": sweep.tx_hash,
        "block_number": sweep.block_number,
        "block_hash": sweep.block_hash,
        "payment_ids": list(sweep.payment_ids),
        "broadcasts": sweep.broadcasts,
        "last_error": sweep.last_error,
        "created_at": iso(sweep.created_at),
        "updated_at": iso(sweep.updated_at),
        "final_at": iso(sweep.final_at),
    }


def list_sweeps(engine: Engine, *, chain: str | None, status: str | None, limit: int) -> list[dict[str, Any]]:
    stmt = select(Sweep).order_by(Sweep.seq.desc()).limit(limit)
    if chain is not None:
        stmt = stmt.where(Sweep.chain == chain)
    if status is not None:
        stmt = stmt.where(Sweep.status == status)
    with transaction(engine) as session:
        return [sweep_object(s) for s in session.execute(stmt).scalars()]


def get_sweep(engine: Engine, sweep_id: str) -> dict[str, Any]:
    with transaction(engine) as session:
        sweep = session.execute(select(Sweep).where(Sweep.id == sweep_id)).scalar_one_or_none()
        if sweep is None:
            raise NotFound(f"no sweep {sweep_id!r}")
        items = session.execute(
            select(SweepItem).where(SweepItem.sweep_id == sweep.id).order_by(SweepItem.seq)
        )
        return sweep_object(sweep) | {
            "items": [
                {
                    "payment_id": i.payment_id,
                    "address": i.address,
                    "token": i.token,
                    "amount_base": str(i.amount_base),
                    "moved_base": None if i.moved_base is None else str(i.moved_base),
                    "status": i.status,
                }
                for i in items.scalars()
            ]
        }
