"""What a scan pass reads before fetching, and the one transaction that records it.

Reads (short transactions, before any network fetch): the checkpoint, the watched
deposit addresses, the stored recent block hashes.

Write (`record_pass`, ONE transaction after the fetch): orphan the transfers a reorg or
a rescan showed to be off the chain, insert (or revive) the credits found, recompute
every touched payment through `recompute.refresh` (which writes the outbox events in
this same transaction), store the scanned blocks' hashes (pruned to the confirmation
depth plus a margin), and move the checkpoint with a compare-and-set on its old value.
Crash before the commit: nothing of the pass is kept and the next pass redoes the range;
after it: the checkpoint has moved and nothing is redone. Re-recording a credit that is
already live changes nothing (unique chain + tx hash + place among the transaction's
logs, which a reorg does not shift), so no interleaving counts money twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import BigInteger, Select, case, delete, func, insert, literal, or_, select, union_all, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ctripctl.db.checkpoint import Checkpoint
from ctripctl.db.models import ChainState, Payment, ScannedBlock, Transfer, WatchBalance
from ctripctl.db.outbox import enqueue
from ctripctl.db.recompute import EVENT_UNEXPECTED_ASSET, refresh
from ctripctl.db.session import transaction
from ctripctl.db.types import UTCDateTime
from ctripctl.domain.lifecycle import RECEIVING, Status, TransferState, late_window_end
from ctripctl.domain.records import Found, Header, Watch
from ctripctl.domain.sweeping import LIVE
from ctripctl.errors import Busy
from ctripctl.evm.addresses import to_checksum
from ctripctl.faults import crash_point

#: Crash points (ctripctl/faults.py; tests/integration/test_scan_faults.py): right before
#: and right after the pass's commit.
FAULT_CRASH_BEFORE_COMMIT = "crash-before-commit"
FAULT_CRASH_AFTER_COMMIT = "crash-after-commit"


@dataclass(frozen=True)
class Recorded:
    transfers_found: int  # credits inserted or revived
    transfers_orphaned: int
    payments_updated: int
    events: int


_RECEIVING = tuple(sorted(s.value for s in RECEIVING))
# Confirmed, and settled (swept): a second send after either is still recorded.
#: Sweep statuses before `confirmed`: the block recorded for such a row may be stale.
_LIVE_SWEEPS = sorted(s.value for s in LIVE)
_PAID = (Status.CONFIRMED.value, Status.SETTLED.value)
#: A live credit's states, spelled out (never `state != 'orphaned'`): an IN list is two
#: range seeks of ix_transfers_chain_state_block, an inequality reads every credit.
_LIVE = (TransferState.SEEN.value, TransferState.CONFIRMED.value)


def read_watched(
    engine: Engine,
    chain: str,
    as_of: datetime,
    late_window: timedelta,
    *,
    recorded_from: int | None = None,
) -> dict[str, Watch]:
    """Lowercase deposit address → Watch, for payments that can still receive money in
    blocks whose time is `as_of` or later (the pass gives the time of the block its range
    starts from: the window is measured with block times, never the wall clock).

    RECEIVING statuses, plus — for the late window after they became so — expired
    payments (by expires_at: a late credit is recorded and flagged paid_late, never
    dropped), cancelled ones (by cancelled_at: a payment made before the cancel but
    scanned after it, or sent after it, is recorded and announced) and confirmed or settled
    ones (by updated_at, the last change of the row: a second send is recorded, flagged
    overpaid, announced, and swept in its turn) — lifecycle.late_window_end is the same
    rule per payment, which `record_pass` applies to each new credit's own block time.
    Also every payment with a credit orphaned within that window, so a credit a confirm
    pass orphaned (it rewinds the checkpoint) is found again when the scan re-fetches its
    block. `recorded_from`: after a reorg or for a rescan, also every
    payment (whatever its status, e.g. confirmed) with a live credit at or above that
    block, so a credit that moved to another block on the new branch is found there
    again instead of being lost.
    """
    since = as_of - late_window
    columns = (Payment.id, Payment.address, Payment.token_address)
    # One SELECT per branch, each with the chain in its own WHERE so it seeks its own
    # index (one OR over them, with IN-subqueries, read every payment of the chain on
    # both engines: 845 ms on PostgreSQL, 666 ms on SQLite at 1M payments).
    branches = [
        select(*columns).where(Payment.chain == chain, Payment.status.in_(_RECEIVING)),  # (chain, status)
        select(*columns).where(  # (chain, status, expires_at)
            Payment.chain == chain, Payment.status == Status.EXPIRED.value, Payment.expires_at > since
        ),
        select(*columns).where(  # (chain, status, cancelled_at) WHERE cancelled_at IS NOT NULL
            Payment.chain == chain, Payment.status == Status.CANCELLED.value, Payment.cancelled_at > since
        ),
        select(*columns).where(  # (chain, status, updated_at)
            Payment.chain == chain, Payment.status.in_(_PAID), Payment.updated_at > since
        ),
        select(*columns)  # transfers (chain, state, orphaned_at) WHERE orphaned_at IS NOT NULL
        .join(Transfer, Transfer.payment_id == Payment.id)
        .where(
            Transfer.chain == chain,
            Transfer.state == TransferState.ORPHANED.value,
            Transfer.orphaned_at > since,
            Payment.chain == chain,
        ),
    ]
    if recorded_from is not None:
        branches.append(
            select(*columns)  # transfers (chain, state, block_number): two range seeks
            .join(Transfer, Transfer.payment_id == Payment.id)
            .where(
                Transfer.chain == chain,
                Transfer.state.in_(_LIVE),  # not `!= orphaned`, which no index range serves
                Transfer.block_number >= recorded_from,
                Payment.chain == chain,
            )
        )
    # UNION ALL: a payment in two branches (or with two credits) comes twice, and the
    # dict below keeps one row per address (unique), the same row.
    stmt = union_all(*branches)
    with transaction(engine) as session:
        rows = session.execute(stmt).all()
    return {
        address.lower(): Watch(payment_id, token.lower() if token else None)
        for payment_id, address, token in rows
    }


def read_credit_blocks(engine: Engine, chain: str, below: int, limit: int) -> list[tuple[int, str]]:
    """(number, hash) of the blocks below `below` holding live credits, newest first: the
    blocks of the followed branch that are known beyond the kept hashes (a deep reorg)."""
    stmt = (
        select(Transfer.block_number, Transfer.block_hash)
        .where(
            Transfer.chain == chain,
            Transfer.state.in_(_LIVE),
            Transfer.block_number < below,
        )
        .distinct()
        .order_by(Transfer.block_number.desc())
        .limit(limit)
    )
    with transaction(engine) as session:
        return [(n, h) for n, h in session.execute(stmt).all()]


def record_deep_reorg(engine: Engine, chain: str, checkpoint: int, from_block: int, now: datetime) -> None:
    """Note on the chain's row that a reorg deeper than the kept hashes stopped the scan, and
    the block to rescan from (`status` raises deep_reorg). One short transaction; only if
    the checkpoint is still where the failing pass read it. The first sighting's time stays."""
    with transaction(engine) as session:
        session.execute(
            update(ChainState)
            .where(ChainState.chain == chain, ChainState.last_block == checkpoint)
            .values(
                deep_reorg_from=from_block,
                deep_reorg_at=func.coalesce(ChainState.deep_reorg_at, literal(now, UTCDateTime())),
            )
        )


def read_deep_reorg(engine: Engine, chain: str) -> int | None:
    """The block a recorded deep reorg asks to rescan from (None: none recorded)."""
    with transaction(engine) as session:
        return session.execute(select(ChainState.deep_reorg_from).where(ChainState.chain == chain)).scalar()


def read_own_hashes(engine: Engine, chain: str, tx_hashes: Iterable[str]) -> set[str]:
    """Those of `tx_hashes` (lowercase) that are our own transactions (sweeps, gas top-ups):
    ETH they carry to a watched address is ours, not a customer's deposit."""
    from ctripctl.db.models import Sweep

    wanted = sorted({h.lower() for h in tx_hashes})
    ours: set[str] = set()
    with transaction(engine) as session:
        for i in range(0, len(wanted), 500):
            stmt = select(Sweep.tx_hash).where(Sweep.chain == chain, Sweep.tx_hash.in_(wanted[i : i + 500]))
            ours.update(h.lower() for h in session.execute(stmt).scalars())
    return ours


def read_own_sends(engine: Engine, chain: str, payment_ids: Iterable[str], since: int) -> list[str]:
    """Hashes of our own transactions (sweeps) from these payments' deposit addresses that
    may have landed at or above block `since` (mined there, or not known to be mined yet):
    the balance reconciliation of contract-sent ETH counts them as known outgoing changes.

    Asked by payment id, joined on the stored (checksummed) address: checksumming a
    thousand watched addresses in Python (pure-Python keccak, ~0.3 ms each) cost a pass
    0.3 s per thousand."""
    from ctripctl.db.models import Sweep

    ids = sorted(set(payment_ids))
    hashes: list[str] = []
    with transaction(engine) as session:
        for i in range(0, len(ids), 500):
            stmt = select(Sweep.tx_hash).where(
                Sweep.chain == chain,
                Sweep.from_address.in_(_addresses_of(ids[i : i + 500])),
                # Not final yet: a reorg may have moved it above its recorded block.
                or_(
                    Sweep.block_number.is_(None),
                    Sweep.block_number >= since,
                    Sweep.status.in_(_LIVE_SWEEPS),
                ),
            )
            hashes += session.execute(stmt).scalars()
    return hashes


def read_own_authorizations(
    engine: Engine, chain: str, payment_ids: Iterable[str], since: int
) -> dict[str, list[str]]:
    """Our own EIP-7702 transactions (batch sweeps and clearings, sent by the gas tank)
    carrying an authorization signed by one of these payments' deposits, that may have
    landed at or above block `since`: tx hash -> the authorizing addresses (lowercase),
    from their sweep_items. Each moves its deposits' nonces with no transaction from them,
    which the balance reconciliation must know to not take them for senders of something
    it does not know (and skip them)."""
    from ctripctl.db.models import Sweep, SweepItem
    from ctripctl.domain.sweeping import SweepKind

    ids = sorted(set(payment_ids))
    found: dict[str, list[str]] = {}
    with transaction(engine) as session:
        for i in range(0, len(ids), 500):
            # In two steps, so each seeks its index whatever the planner knows: these
            # deposits' items (sweep_items (address)), then their sweeps by id. One join
            # let SQLite, without statistics, walk every sweep of the chain (2.3 s a pass
            # at 1M payments, benchmarks/bench_history.py).
            items = session.execute(
                select(SweepItem.sweep_id, SweepItem.address).where(
                    SweepItem.address.in_(_addresses_of(ids[i : i + 500]))
                )
            ).all()
            signers: dict[str, list[str]] = {}
            for sweep_id, address in items:
                signers.setdefault(sweep_id, []).append(address.lower())
            sweep_ids = sorted(signers)
            for j in range(0, len(sweep_ids), 500):
                stmt = select(Sweep.id, Sweep.tx_hash).where(
                    Sweep.id.in_(sweep_ids[j : j + 500]),
                    Sweep.chain == chain,
                    Sweep.kind.in_([SweepKind.BATCH.value, SweepKind.CLEAR.value]),
                    # Not final yet: a reorg may have moved it above its recorded block.
                    or_(
                        Sweep.block_number.is_(None),
                        Sweep.block_number >= since,
                        Sweep.status.in_(_LIVE_SWEEPS),
                    ),
                )
                for sweep_id, tx_hash in session.execute(stmt):
                    found.setdefault(tx_hash.lower(), []).extend(signers[sweep_id])
    return found


def _addresses_of(payment_ids: Sequence[str]) -> Select[tuple[str]]:
    """The payments' deposit addresses, as an IN-subquery: the plan starts from these few
    payments (by id) and seeks each address's sweeps or items, never every sweep of the
    chain. (A join on the address let SQLite, without statistics, walk all the chain's
    sweeps instead: 2.1 s and 2.4 s a pass at 1M payments, benchmarks/bench_history.py.)"""
    return select(Payment.address).where(Payment.id.in_(payment_ids))


def read_balances(engine: Engine, chain: str, block: int) -> dict[str, int]:
    """The kept ETH balances (lowercase address → wei) read at `block`: what the pass that
    ended there saw. None for another block: a rewound checkpoint starts from the node."""
    stmt = select(WatchBalance.address, WatchBalance.balance).where(
        WatchBalance.chain == chain, WatchBalance.block_number == block
    )
    with transaction(engine) as session:
        return {address: balance for address, balance in session.execute(stmt)}


def _store_balances(session: Session, chain: str, block: int, balances: Mapping[str, int]) -> None:
    """Replace the chain's kept balances with these, read at `block`."""
    session.execute(delete(WatchBalance).where(WatchBalance.chain == chain))
    rows = [{"chain": chain, "address": a, "block_number": block, "balance": b} for a, b in balances.items()]
    for i in range(0, len(rows), 5_000):
        session.execute(insert(WatchBalance), rows[i : i + 5_000])


def read_recent_blocks(engine: Engine, chain: str, upto: int) -> list[tuple[int, str]]:
    """Stored (number, hash) pairs at or below `upto`, newest first."""
    stmt = (
        select(ScannedBlock.number, ScannedBlock.hash)
        .where(ScannedBlock.chain == chain, ScannedBlock.number <= upto)
        .order_by(ScannedBlock.number.desc())
    )
    with transaction(engine) as session:
        return [(n, h) for n, h in session.execute(stmt).all()]


def record_pass(
    engine: Engine,
    *,
    chain: str,
    old: Checkpoint,
    base: int,
    base_hash: str | None,
    headers: Sequence[Header],
    credits: Sequence[Found],
    orphan_above: int | None,
    head: int,
    keep: int,
    now: datetime,
    late_window: timedelta,
    verified: bool = True,
    vanished_above: int | None = None,
    balances: Mapping[str, int] | None = None,
) -> Recorded:
    """Commit one pass in one transaction (see the module docstring).

    `base` is the block the range was scanned from (the checkpoint, the reorg's common
    ancestor, or a rescan's from-block − 1); the new checkpoint is the last header, or
    `base` when no block was scanned. `orphan_above`: the common ancestor of a reorg,
    above which every live transfer is orphaned before the new branch is recorded —
    except the credits found again on it (same chain, tx hash and place among the
    transaction's logs), which are moved to their new block instead. A new credit to a
    payment no longer receiving is recorded only if its block time is inside the
    payment's late window (lifecycle.late_window_end). `verified`: the pass checked the
    chain against the node (False only when the node was behind the checkpoint); it clears
    a deep reorg recorded before. `vanished_above`: a rescan reached the node's head, this
    block: every live transfer above it is off the node's (shorter) chain, and orphaned.
    `balances`: watched addresses' ETH balances at the last header (the reconciliation's),
    kept for the next pass (read_balances) in place of the chain's earlier ones.
    """
    last = headers[-1] if headers else None
    new_block = last.number if last else base
    new_hash = last.hash if last else base_hash
    hashes = {h.number: h.hash for h in headers}
    times = {h.number: datetime.fromtimestamp(h.timestamp, UTC) for h in headers}
    if any(c.tx_log_position is None for c in credits):  # unique keys ignore NULLs: never store one
        raise ValueError("a credit without its place among its transaction's logs cannot be recorded")
    unique: dict[tuple[str, int | None], Found] = {}
    for c in credits:
        unique.setdefault(c.key, c)  # one per identity
    credits = list(unique.values())
    found_keys = set(unique)
    orphaned_ids: set[str] = set()
    unexpected_lost: set[str] = set()  # payments whose deposit in another asset was orphaned
    credited_ids: set[str] = set()
    unexpected_ids: set[str] = set()  # a deposit in another asset was recorded
    orphaned = 0

    with transaction(engine) as session:
        _move_checkpoint(session, chain, old, new_block, new_hash, times.get(new_block), head, now, verified)
        # Every recorded transfer of the found credits' transactions, whatever its state,
        # by identity (rows recorded before migration 0004 adopted first).
        known = _recorded(session, chain, credits)

        stale: list[Transfer] = []
        if orphan_above is not None:
            stale += _live_transfers(session, chain, orphan_above + 1, None)
        if vanished_above is not None:
            stale += _live_transfers(session, chain, vanished_above + 1, None)
        if headers:
            # A rescan re-checks blocks already recorded: a live transfer whose block hash
            # is no longer the node's block at that height is off the chain.
            stale += [
                t
                for t in _live_transfers(session, chain, headers[0].number, new_block)
                if hashes.get(t.block_number) != t.block_hash and _key(t) not in found_keys
            ]
        # A transaction is in one block of a chain: a live transfer of a transaction found
        # in this pass, recorded in another block (re-mined on the new branch, possibly
        # outside this range) and not found again, is off the chain.
        blocks = {c.tx_hash: c.block_hash for c in credits}
        stale += [
            t
            for t in known.rows
            if t.state != TransferState.ORPHANED.value
            and t.block_hash != blocks[t.tx_hash]
            and _key(t) not in found_keys
        ]
        for t in {t.id: t for t in stale}.values():
            if _key(t) in found_keys:
                continue  # found again on the new branch: updated below, not orphaned
            t.state = TransferState.ORPHANED.value
            t.orphaned_at = now
            orphaned_ids.add(t.payment_id)
            if not t.counted:
                unexpected_lost.add(t.payment_id)
            orphaned += 1

        # A credit found again may now go to another payment (its transaction executed
        # differently on the new branch): the row's old payment is refreshed too.
        previous = {known.by_key[c.key].payment_id for c in credits if c.key in known.by_key}
        payments = _load_payments(session, {c.payment_id for c in credits} | orphaned_ids | previous)
        found = 0
        moved_ids: set[str] = set()
        for c in credits:
            payment = payments.get(c.payment_id)
            if payment is None:  # deleted meanwhile: nothing to credit
                continue
            row = known.by_key.get(c.key)
            if row is None:
                if not _in_window(payment, times[c.block_number], late_window):
                    continue  # sent after the payment's late window (by its block time)
                _insert_credit(payment, c, chain, times[c.block_number], now)
                found += 1
                if c.counted:
                    credited_ids.add(payment.id)
                else:
                    unexpected_ids.add(payment.id)  # announced once, on its insert
                continue
            was = row.payment_id
            outcome = _update_credit(row, payment, c, times[c.block_number])
            if was != payment.id:
                moved_ids.add(was)  # lost this credit
            if outcome == "counted":
                found += 1
                credited_ids.add(payment.id)
            elif outcome == "moved":
                moved_ids.add(payment.id)
            elif outcome == "moved-more":
                moved_ids.add(payment.id)
                credited_ids.add(payment.id)

        events = 0
        touched = orphaned_ids | credited_ids | moved_ids | unexpected_ids
        for payment_id in sorted(touched):
            events += len(
                refresh(
                    session,
                    payments[payment_id],
                    now,
                    credited=payment_id in credited_ids,
                    # a credit moved to another block restarts its confirmations; the
                    # lifecycle announces payment.reorged if confirmed money was lost
                    orphaned=payment_id in orphaned_ids or payment_id in moved_ids,
                    unexpected_lost=payment_id in unexpected_lost,
                )
            )
            if payment_id in unexpected_ids:
                events += len(enqueue(session, payments[payment_id], [EVENT_UNEXPECTED_ASSET], now))

        _store_hashes(session, chain, base, headers, new_block, keep)
        if balances is not None and last is not None:
            _store_balances(session, chain, last.number, balances)
        session.flush()
        crash_point(FAULT_CRASH_BEFORE_COMMIT)
    crash_point(FAULT_CRASH_AFTER_COMMIT)
    return Recorded(found, orphaned, len(touched), events)


def _move_checkpoint(
    session: Session,
    chain: str,
    old: Checkpoint,
    new_block: int,
    new_hash: str | None,
    new_time: datetime | None,
    head: int,
    now: datetime,
    verified: bool,
) -> None:
    """Compare-and-set: move the checkpoint only if it is still where this pass read it."""
    values = {
        "last_block": new_block,
        "last_block_hash": new_hash,
        # A running maximum: a lagging failover node must not lower the head seen.
        "head_block": case(
            (ChainState.head_block > head, ChainState.head_block), else_=literal(head, BigInteger)
        ),
        "last_scan_at": now,
        "updated_at": now,
    }
    if new_time is not None:
        values["last_block_time"] = new_time
    if verified:
        values["deep_reorg_at"] = values["deep_reorg_from"] = None
    if not old.exists:
        from sqlalchemy.exc import IntegrityError

        try:
            with session.begin_nested():
                session.execute(insert(ChainState).values(chain=chain, **{**values, "head_block": head}))
        except IntegrityError:
            raise Busy(f"chain {chain!r}: another pass recorded the first checkpoint meanwhile") from None
        return
    result = session.execute(
        update(ChainState)
        .where(ChainState.chain == chain, ChainState.last_block == old.last_block)
        .values(**values)
    )
    if result.rowcount != 1:
        raise Busy(f"chain {chain!r}: the checkpoint moved during this pass; nothing was recorded")


def _live_transfers(session: Session, chain: str, low: int, high: int | None) -> list[Transfer]:
    stmt = select(Transfer).where(
        Transfer.chain == chain,
        Transfer.state.in_(_LIVE),
        Transfer.block_number >= low,
    )
    if high is not None:
        stmt = stmt.where(Transfer.block_number <= high)
    return list(session.execute(stmt).scalars())


def _key(t: Transfer) -> tuple[str, int | None]:
    """A recorded transfer's identity, as Found.key (None: recorded before 0004, not adopted)."""
    return (t.tx_hash, t.tx_log_position)


@dataclass
class _Known:
    rows: list[Transfer]  # every recorded transfer of the found credits' transactions
    by_key: dict[tuple[str, int | None], Transfer]  # those with a position, by identity


def _recorded(session: Session, chain: str, credits: Sequence[Found]) -> _Known:
    """The recorded transfers (any state) of the credits' transactions, by identity.

    Rows recorded before migration 0004 have no position; each one is adopted by a found
    credit of its transaction — first the credit at the same block and log index (the same
    log), then one to the same payment with the same amount (the same credit, moved) —
    and given that credit's position, so it is updated rather than counted again."""
    tx_hashes = sorted({c.tx_hash for c in credits})
    rows: list[Transfer] = []
    for i in range(0, len(tx_hashes), 500):
        stmt = (
            select(Transfer)
            .where(Transfer.chain == chain, Transfer.tx_hash.in_(tx_hashes[i : i + 500]))
            .order_by(Transfer.id)
        )
        rows += session.execute(stmt).scalars()
    if any(t.tx_log_position is None for t in rows):
        _adopt(rows, credits)
    by_key = {_key(t): t for t in rows if t.tx_log_position is not None}
    return _Known(rows, by_key)


def _adopt(rows: Sequence[Transfer], credits: Sequence[Found]) -> None:
    taken = {_key(t) for t in rows if t.tx_log_position is not None}
    free = [c for c in credits if c.key not in taken]
    legacy = sorted((t for t in rows if t.tx_log_position is None), key=lambda t: (t.log_index, t.id))
    rules = [
        lambda t, c: (t.log_index, t.block_hash) == (c.log_index, c.block_hash),  # the same log
        lambda t, c: (t.payment_id, t.amount_base) == (c.payment_id, c.amount),  # the same credit, moved
    ]
    for matches in rules:
        for t in legacy:
            if t.tx_log_position is not None:
                continue
            c = next((c for c in free if c.tx_hash == t.tx_hash and matches(t, c)), None)
            if c is not None:
                t.tx_log_position = c.tx_log_position
                free.remove(c)


def _load_payments(session: Session, ids: Iterable[str]) -> dict[str, Payment]:
    ids = sorted(ids)
    payments: dict[str, Payment] = {}
    for i in range(0, len(ids), 500):
        stmt = select(Payment).where(Payment.id.in_(ids[i : i + 500])).order_by(Payment.id)
        if session.bind is not None and session.bind.dialect.name == "postgresql":
            stmt = stmt.with_for_update()  # serialise with `payment cancel` / `confirm`
        for payment in session.execute(stmt).scalars():
            payments[payment.id] = payment
    return payments


def _in_window(payment: Payment, block_time: datetime, late_window: timedelta) -> bool:
    end = late_window_end(
        Status(payment.status),
        expires_at=payment.expires_at,
        cancelled_at=payment.cancelled_at,
        changed_at=payment.updated_at,
        late_window=late_window,
    )
    return end is None or block_time < end


def _insert_credit(payment: Payment, c: Found, chain: str, block_time: datetime, now: datetime) -> None:
    """A credit never recorded before."""
    payment.transfers.append(
        Transfer(
            chain=chain,
            tx_hash=c.tx_hash,
            log_index=c.log_index,
            tx_log_position=c.tx_log_position,
            block_number=c.block_number,
            block_hash=c.block_hash,
            block_time=block_time,
            from_address=to_checksum(c.from_address),
            to_address=payment.address,  # the same address, already checksummed
            amount_base=c.amount,
            payment_id=payment.id,
            state=TransferState.SEEN.value,
            created_at=now,
            via=c.via,
            **_asset(payment, c),
        )
    )


def _asset(payment: Payment, c: Found) -> dict[str, object]:
    """A counted credit is in the payment's own asset; a deposit in another asset keeps
    that asset's symbol and decimals, and is never counted."""
    if c.counted:
        contract = payment.token_address.lower() if payment.token_address else None
        return {"token": payment.token, "token_address": contract, "counted": True, "decimals": None}
    contract = c.token_address.lower() if c.token_address else None
    return {"token": c.symbol, "token_address": contract, "counted": False, "decimals": c.decimals}


def _update_credit(row: Transfer, payment: Payment, c: Found, block_time: datetime) -> str | None:
    """Bring a recorded credit (same identity) in line with what the node shows now.

    Revive an orphaned one ("counted"); move a live one that reappeared in another block
    ("moved", or "moved-more" when it now carries more money: a re-executed transaction
    may pay another amount); or leave an identical live one alone (None). The block, log
    index and amount are always those of the branch just read."""
    moved = row.block_hash != c.block_hash
    more = c.amount > row.amount_base
    changed = moved or row.amount_base != c.amount or row.payment_id != payment.id
    if changed:  # the same transaction on another branch: it lives in its new block
        row.block_number, row.block_hash, row.block_time = c.block_number, c.block_hash, block_time
        row.log_index = c.log_index
        row.amount_base = c.amount
        row.from_address = to_checksum(c.from_address)
        if row.payment_id != payment.id:
            row.payment = payment
            row.to_address = payment.address
            for key, value in _asset(payment, c).items():
                setattr(row, key, value)
    if row.state == TransferState.ORPHANED.value:
        row.state = TransferState.SEEN.value
        row.orphaned_at = None
        row.confirmed_at = None
        return "counted"
    if not changed:
        return None
    if row.state == TransferState.CONFIRMED.value:
        row.state = TransferState.SEEN.value  # its confirmations start again
        row.confirmed_at = None
    return "moved-more" if more else "moved"


def _store_hashes(
    session: Session, chain: str, base: int, headers: Sequence[Header], new_block: int, keep: int
) -> None:
    """Replace stored hashes above `base` with this range's, and prune below the depth kept."""
    session.execute(delete(ScannedBlock).where(ScannedBlock.chain == chain, ScannedBlock.number > base))
    floor = new_block - keep
    rows = [
        {"chain": chain, "number": h.number, "hash": h.hash, "parent_hash": h.parent_hash}
        for h in headers
        if h.number > floor
    ]
    if rows:
        session.execute(insert(ScannedBlock), rows)
    session.execute(delete(ScannedBlock).where(ScannedBlock.chain == chain, ScannedBlock.number <= floor))
