"""One bounded sweep pass of one chain: reconcile what was sent, plan, sign, record, broadcast.

    sweep(config, "eth", mnemonic=words)            # what `ctripctl sweep run --chain eth` runs
    sweep(config, "eth", mnemonic=None, dry_run=True)

1. Lock the chain's sweep lock (a second pass exits 6, changing nothing).
2. Reconcile every live sweep (domain/sweeping.judge): mined nonce counts in one
   request, then receipts in the next; a row the chain does not hold is re-sent with its
   recorded bytes, a row whose nonce another transaction spent is `dropped`, a row at
   depth is final — and a confirmed sweep settles its payment in the same transaction
   as the `payment.settled` event.
3. Plan from balances read at "latest" AND at the confirmation depth: only money that
   is already deep can be swept (an unconfirmed credit may still vanish). An address
   with a live sweep is left alone until that sweep is final. A deposit in another asset
   (db/sweeps.Candidate.own False) is swept like the rest, one asset per address per pass.
4. One fee quote (chain/fees.FeeOracle) serves the pass; above `max_fee_gwei` nothing
   is signed. Token deposits without gas get an exact top-up from the tank first; their
   transfer follows in a later pass, once the top-up is mined.
5. Sign, commit every signed transaction, THEN broadcast, then record the answers. A
   crash between any two steps leaves rows the next pass resolves in step 2.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ctripctl.domain import sweeping
from ctripctl.domain.sweeping import Strategy, SweepKind, SweepStatus
from ctripctl.errors import InputError, NodeUnavailable
from ctripctl.faults import crash_point

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from ctripctl.chain.accounts import Holding
    from ctripctl.chain.fees import FeeOracle
    from ctripctl.chain.rpc import RpcClient
    from ctripctl.config import ChainConfig, Config
    from ctripctl.db.sweeps import Candidate, DelegateState, NewSweep, State
    from ctripctl.domain.sweeping import FeeQuote
    from ctripctl.evm.keys import Keyring
    from ctripctl.evm.transactions import Authorization

log = logging.getLogger("ctripctl.sweep")

#: Crash points for the kill -9 tests (CTRIP_TEST_FAULT).
FAULT_AFTER_RECORD = "sweep-after-record"  # signed rows committed, nothing broadcast
FAULT_AFTER_BROADCAST = "sweep-after-broadcast"  # the node answered, the answers not recorded
#: Payments considered per pass; the rest wait for the next one.
CANDIDATE_LIMIT = 5_000
DEFAULT_MAX = 1_000
#: Kinds sent as EIP-7702 (type-4) transactions, with their deposits' authorizations.
_TYPED = (SweepKind.BATCH, SweepKind.CLEAR)


@dataclass
class SweepResult:
    """What one pass did; `to_json()` is the --json document."""

    chain: str
    dry_run: bool = False
    planned: int = 0
    sent: int = 0
    topups_sent: int = 0
    rebroadcast: int = 0
    replaced: int = 0  # native sweeps re-signed with the same nonce at a fee the node takes
    mined: int = 0
    confirmed: int = 0
    settled: int = 0
    dropped: int = 0
    reverted: int = 0
    in_flight: int = 0
    skipped_fee_cap: int = 0
    skipped_below_min: int = 0
    skipped_failing: int = 0
    waiting_for_tank: int = 0
    waiting_for_delegate: int = 0  # token sweeps waiting for the SweepDelegate to be deployed
    batches_sent: int = 0  # sponsored EIP-7702 transactions (each sweeps many deposits)
    clears_sent: int = 0  # sponsored transactions clearing swept deposits' delegations
    tank_balance_base: str | None = None  # read when planning; None: nothing was planned
    tank_needed_base: str = "0"  # top-ups (and their gas) the token sweeps planned need
    fee: dict[str, Any] | None = None
    sweeps: list[dict[str, Any]] = field(default_factory=list)
    elapsed_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Planned:
    """A transaction the pass intends to sign (before nonces are assigned)."""

    kind: SweepKind
    sender: str
    key: tuple[int, str] | None  # (derivation index, address) of a deposit; None: the tank
    to: str
    value: int  # native value of the transaction
    amount: int  # what it moves: token amount for token sweeps, else == value
    gas: int
    data: str
    candidates: tuple[tuple[Candidate, int], ...]  # whose money, and how much each (a batch: many)


def sweep(
    config: Config,
    chain_name: str,
    *,
    mnemonic: str | None,
    max_sweeps: int = DEFAULT_MAX,
    dry_run: bool = False,
    now: datetime | None = None,
    engine: Engine | None = None,
    rpc: RpcClient | None = None,
) -> SweepResult:
    """Run one sweep pass of `chain_name` (see the module docstring)."""
    from ctripctl.chain.rpc import RpcClient
    from ctripctl.db.locks import sweep_lock
    from ctripctl.db.session import Database, get_existing_engine

    chain = config.chain(chain_name)
    if chain.treasury is None:
        raise InputError(f"chains.{chain.name}.treasury is not set: there is nowhere to sweep to")
    if config.xpub is None:
        raise InputError("wallet.xpub is not set: the deposit addresses are unknown")
    keyring = None
    if not dry_run:
        from ctripctl.evm.keys import Keyring

        if mnemonic is None:
            raise InputError("sweeping signs transactions: set [wallet] mnemonic_file or CTRIP_MNEMONIC_FILE")
        keyring = Keyring(mnemonic, config.xpub)
    engine = engine or get_existing_engine(config.database_url)
    database = Database(config.database_url, engine)
    started = time.perf_counter()
    # A dry run writes nothing, so it needs no lock: it may look while a real pass runs.
    with contextlib.nullcontext() if dry_run else sweep_lock(database, chain.name):
        if rpc is not None:
            result = _one_pass(engine, rpc, chain, config.xpub, keyring, max_sweeps, dry_run, now)
        else:
            with RpcClient(
                chain.rpc_urls, chain_id=chain.chain_id, timeout=chain.rpc_timeout.total_seconds()
            ) as client:
                result = _one_pass(engine, client, chain, config.xpub, keyring, max_sweeps, dry_run, now)
    result.elapsed_s = round(time.perf_counter() - started, 3)
    return result


def tank_report(config: Config, chain_name: str) -> dict[str, Any]:
    """`sweep tank`: the tank's address and balance, and what the waiting token sweeps need
    (a dry-run plan: nothing is signed, sent or written, and no mnemonic is read)."""
    from ctripctl.config import NATIVE_DECIMALS
    from ctripctl.domain.money import format_amount
    from ctripctl.evm.keys import tank_address

    planned = sweep(config, chain_name, mnemonic=None, dry_run=True)
    assert config.xpub is not None  # sweep() refused a config without one
    balance = int(planned.tank_balance_base or 0)
    return {
        "chain": chain_name,
        "address": tank_address(config.xpub),
        "balance": format_amount(balance, NATIVE_DECIMALS),
        "balance_base": str(balance),
        "needed_base": planned.tank_needed_base,
    }


def _one_pass(
    engine: Engine,
    rpc: RpcClient,
    chain: ChainConfig,
    xpub: str,
    keyring: Keyring | None,
    max_sweeps: int,
    dry_run: bool,
    now: datetime | None,
) -> SweepResult:
    from ctripctl.chain.fees import FeeOracle
    from ctripctl.db import sweeps as store
    from ctripctl.domain.lifecycle import deepest_confirmable
    from ctripctl.evm.keys import tank_address
    from ctripctl.passes.confirm import read_head

    result = SweepResult(chain=chain.name, dry_run=dry_run)
    head, finalized = read_head(rpc, finalized=chain.finality == "finalized")
    depth_block = finalized if finalized is not None else deepest_confirmable(head, chain.confirmations)
    _reconcile(engine, rpc, chain, depth_block, result, dry_run, now)

    oracle = FeeOracle(rpc, ttl=chain.fee_cache_ttl.total_seconds())
    if keyring is not None:
        _replace_underpriced(engine, rpc, chain, keyring, oracle, max(0, depth_block), result, now)
    state = store.read_state(engine, chain.name)
    tokens = {t.symbol: t.address for t in chain.tokens.values()}
    candidates = store.read_candidates(
        engine, chain.name, CANDIDATE_LIMIT, store.read_cursor(engine, chain.name), tokens
    )
    # Whether token gas goes through EIP-7702: asked of the node at most once per pass.
    type4 = functools.cache(lambda: _uses_eip7702(rpc, chain, tank_address(xpub), oracle.quote()))
    if chain.sweep_strategy == Strategy.EIP7702:  # refuse a node that cannot, before anything
        type4()
    delegate = store.read_delegate(engine, chain.name, tank_address(xpub), chain.treasury or "")
    delegated = store.read_to_clear(engine, chain.name, None) if delegate is not None else []
    to_clear = delegated[: chain.max_batch]  # one clearing transaction at a time
    # A deposit still delegated waits for its clearing before its next sweep — every one,
    # not only those this pass clears (its nonce would race the clearing's authorization).
    state = replace(state, busy=state.busy | {address.lower() for _, _, address in delegated})
    planned, quote = _plan(
        engine,
        rpc,
        chain,
        xpub,
        state,
        delegate,
        candidates,
        max(0, depth_block),
        oracle,
        type4,
        result,
        max_sweeps,
    )
    # Resume after the last candidate read; from the start once the read came up short.
    cursor = None
    if len(candidates) >= CANDIDATE_LIMIT and candidates[-1].created_at is not None:
        cursor = (candidates[-1].created_at, candidates[-1].payment_id)
    if not dry_run:
        store.record_tank(
            engine, chain.name, result.tank_balance_base, result.tank_needed_base, _now(now), cursor
        )
    if to_clear and not any(s.kind is SweepKind.CLEAR for s in state.live):
        quote = quote or oracle.quote()
        # A node that lost type-4 support cannot clear; the next pass tries again.
        clear = _plan_clear(rpc, chain, xpub, to_clear, quote, result) if type4() else []
        planned += clear[: max(0, max_sweeps - len(planned))]
    if not planned or quote is None:
        return result
    if dry_run:
        result.sweeps = [entry for p in planned for entry in _plan_object(p, None, "planned")]
        return result
    assert keyring is not None
    signed = _sign(engine, rpc, chain, keyring, planned, quote)
    stored = store.record_signed(engine, chain.name, signed, _now(now))
    crash_point(FAULT_AFTER_RECORD)
    from ctripctl.chain.accounts import broadcast

    errors = broadcast(rpc, [s.raw_tx for s in stored])
    crash_point(FAULT_AFTER_BROADCAST)
    outcomes = {s.id: _refused(e) for s, e in zip(stored, errors, strict=True)}
    store.record_broadcasts(engine, outcomes, _now(now))
    for s in stored:
        error = outcomes[s.id]
        if error is not None:
            log.warning(
                "chain %s: the node refused sweep %s (%s); the next pass retries it", chain.name, s.id, error
            )
        elif s.kind is SweepKind.TOPUP:
            result.topups_sent += 1
        elif s.kind is SweepKind.BATCH:
            result.batches_sent += 1
            result.sent += len(s.items)
        elif s.kind is SweepKind.CLEAR:
            result.clears_sent += 1
        elif s.kind is not SweepKind.DEPLOY:
            result.sent += 1
        status = (SweepStatus.SIGNED if error else SweepStatus.SENT).value
        result.sweeps.extend({"id": s.id, **entry, "status": status} for entry in _sent_objects(s))
    return result


def _replace_underpriced(
    engine: Engine,
    rpc: RpcClient,
    chain: ChainConfig,
    keyring: Keyring,
    oracle: FeeOracle,
    depth_block: int,
    result: SweepResult,
    now: datetime | None,
) -> None:
    """A native sweep the node refuses because the base fee rose past its max fee gets a
    replacement at today's quote with the SAME nonce: at most one of the two can ever be
    mined, both stay live, and the next passes judge both (one mined, the other dropped).
    Token sweeps, top-ups and batches are not replaced: they wait for the fee to fall."""
    from ctripctl.chain.accounts import broadcast, read_holdings
    from ctripctl.db import sweeps as store
    from ctripctl.evm.transactions import Unsigned, sign

    stuck = store.read_underpriced(engine, chain.name)
    if not stuck:
        return
    quote = oracle.quote()
    if sweeping.over_cap(quote, chain.max_fee_wei):
        return
    treasury = chain.treasury
    assert treasury is not None
    holdings = read_holdings(rpc, [(s.from_address, None) for s in stuck], depth_block)
    replacements = []
    for s, h in zip(stuck, holdings, strict=True):
        assert h is not None  # native balances either answer or raise
        value = sweeping.native_sweep_value(sweeping.spendable(h.latest, h.at_depth), s.gas_limit, quote)
        if value <= 0:
            continue
        c = s.candidate
        tx = sign(
            Unsigned(chain.chain_id, s.nonce, treasury, value, s.gas_limit, quote),
            keyring.deposit_key(c.derivation_index, c.address),
        )
        replacement = _Planned(
            SweepKind.NATIVE,
            s.from_address,
            (c.derivation_index, c.address),
            treasury,
            value,
            value,
            s.gas_limit,
            "0x",
            ((c, value),),
        )
        replacements.append(_recorded(replacement, chain, s.nonce, quote, tx.tx_hash, tx.raw))
    stored = store.record_signed(engine, chain.name, replacements, _now(now))
    errors = broadcast(rpc, [r.raw_tx for r in stored])
    store.record_broadcasts(
        engine, {r.id: _refused(e) for r, e in zip(stored, errors, strict=True)}, _now(now)
    )
    result.replaced += len(stored)
    if stored:
        log.warning("chain %s: %d sweep(s) re-signed at a higher fee (same nonce)", chain.name, len(stored))


def _refused(error: str | None) -> str | None:
    """None when the node has the transaction (accepted now, or it already knew it)."""
    return None if error is None or sweeping.accepted(error) else error


def _reconcile(
    engine: Engine,
    rpc: RpcClient,
    chain: ChainConfig,
    depth_block: int,
    result: SweepResult,
    dry_run: bool,
    now: datetime | None,
) -> None:
    """Step 2: judge every live sweep, re-send what the chain does not hold, record."""
    from ctripctl.chain.accounts import broadcast, nonces, receipts
    from ctripctl.db import sweeps as store

    live = store.read_state(engine, chain.name).live
    if not live:
        return
    failovers = rpc.failovers
    senders = [s.from_address for s in live]
    used = nonces(rpc, senders, "latest")  # asked BEFORE the receipts
    found = receipts(rpc, [s.tx_hash for s in live])
    deep = nonces(rpc, senders, hex(max(0, depth_block)))

    def judged(s: Any) -> sweeping.Verdict:
        receipt = found[s.tx_hash]
        return sweeping.judge(
            s.status,
            s.nonce,
            receipt=receipt,
            nonce_used=used[s.from_address],
            nonce_deep=deep[s.from_address],
            deep_enough=receipt is not None and receipt.block_number <= depth_block,
        )

    verdicts = {s.id: (s.status, judged(s)) for s in live}
    doubtful = [s for s in live if verdicts[s.id][1].status is SweepStatus.DROPPED]
    if doubtful:  # final: ask for the receipt once more before giving a transaction up
        found.update(receipts(rpc, [s.tx_hash for s in doubtful]))
        verdicts.update({s.id: (s.status, judged(s)) for s in doubtful})
    if rpc.failovers != failovers:
        log.warning("chain %s: the node changed during the reconcile; nothing judged this pass", chain.name)
        return
    if dry_run:
        return
    resend = [s for s in live if verdicts[s.id][1].rebroadcast]
    outcomes: dict[str, str | None] = {}
    if resend:
        errors = broadcast(rpc, [s.raw_tx for s in resend])
        outcomes = {s.id: _refused(e) for s, e in zip(resend, errors, strict=True)}
        result.rebroadcast = sum(1 for e in outcomes.values() if e is None)
    moves = {s.id: receipt.moves for s in live if (receipt := found[s.tx_hash]) is not None}
    recorded = store.record_verdicts(engine, chain.name, verdicts, _now(now), moves)
    store.record_broadcasts(engine, outcomes, _now(now))
    result.mined += recorded.mined + recorded.confirmed + recorded.reverted
    result.confirmed += recorded.confirmed
    result.reverted += recorded.reverted
    result.dropped += recorded.dropped
    result.settled += recorded.settled
    if recorded.dropped:
        log.warning(
            "chain %s: %d sweep(s) dropped (nonce used by another transaction); re-planned",
            chain.name,
            recorded.dropped,
        )


def _plan(
    engine: Engine,
    rpc: RpcClient,
    chain: ChainConfig,
    xpub: str,
    state: State,
    delegate: DelegateState | None,
    candidates: list[Candidate],
    depth_block: int,
    oracle: FeeOracle,
    type4: Callable[[], bool],
    result: SweepResult,
    max_sweeps: int,
) -> tuple[list[_Planned], FeeQuote | None]:
    """Steps 3 and 4: what to send, within the fee cap, the minimums, the tank and --max;
    and the ONE fee quote every value was computed with (signing must use it too: a
    newer, higher quote would make a native sweep spend more than the balance).

    A deposit may hold two assets (its payment's, and one sent by mistake) but sends one
    transaction per pass (two would spend the same nonce). Its assets are planned in
    rounds: the first round tries each deposit's first asset — a token whose mined
    top-up waits to be spent, else the payment's own asset; an asset that yields no
    transaction (an empty tank, a failing estimate) lets the next one go in the next
    round. Only our own top-ups' ETH is gas money (db/sweeps.read_gas_money): customers'
    ETH on a deposit, recorded or not yet scanned, never pays a token sweep's gas."""
    from ctripctl.chain.accounts import native_balance, read_holdings
    from ctripctl.db.sweeps import read_gas_money
    from ctripctl.evm.keys import tank_address

    ready: list[Candidate] = []
    for c in candidates:
        address = c.address.lower()
        if address in state.busy or (c.token_address is None and address in state.topping):
            result.in_flight += 1  # a live transaction sends from it, or ETH is on its way to it
        elif _strikes(state, c) >= sweeping.MAX_REVERTS:
            result.skipped_failing += 1
        elif c.token is not None and c.token_address is None:
            result.skipped_failing += 1
            log.warning(
                "chain %s: %s on %s is not a configured token any more; not swept",
                chain.name,
                c.token,
                c.address,
            )
        else:
            ready.append(c)
    if not ready:
        return [], None
    holdings = read_holdings(rpc, [(c.address, c.token_address) for c in ready], depth_block)
    readable = [(c, h) for c, h in zip(ready, holdings, strict=True) if h is not None]
    if len(readable) < len(ready):  # one broken token contract must not hold up the rest
        result.skipped_failing += len(ready) - len(readable)
        log.warning(
            "chain %s: %d token balance(s) unreadable; skipped", chain.name, len(ready) - len(readable)
        )
    worth = [
        (c, h) for c, h in readable if sweeping.spendable(h.latest, h.at_depth) >= max(_minimum(chain, c), 1)
    ]
    result.skipped_below_min += len(readable) - len(worth)
    if not worth:
        return [], None
    quote = oracle.quote()
    result.fee = quote.to_json()
    if sweeping.over_cap(quote, chain.max_fee_wei):
        result.skipped_fee_cap = len(worth)
        log.warning(
            "chain %s: fee %d wei/gas is above max_fee_gwei; %d sweep(s) wait for the next pass",
            chain.name,
            quote.max_per_gas,
            len(worth),
        )
        return [], None

    gas = _native_gas(rpc, chain, worth)
    token_deposits = [c.address for c, _ in worth if c.token_address is not None]
    gas_money = read_gas_money(engine, chain.name, token_deposits) if token_deposits else {}
    queues: dict[str, list[tuple[Candidate, Holding]]] = {}
    for c, h in worth:
        if c.token_address is None and not _native_value(chain, c, h, gas, quote):
            result.skipped_below_min += 1  # its gas would eat it
            continue
        if c.token_address is not None:  # only our top-ups' ETH may pay its gas
            h = replace(h, native_latest=min(h.native_latest, gas_money.get(c.address.lower(), 0)))
        queues.setdefault(c.address.lower(), []).append((c, h))
    for queue in queues.values():
        queue.sort(key=lambda ch: _first(ch[0], gas_money))
    tank = None
    if token_deposits:
        tank = _Tank(tank_address(xpub), native_balance(rpc, tank_address(xpub)))
        result.tank_balance_base = str(tank.free)
    planned: list[_Planned] = []
    while queues:
        # One round: the next asset of each deposit no planned transaction uses yet.
        round_ = [queue.pop(0) for queue in queues.values()]
        queues = {address: queue for address, queue in queues.items() if queue}
        natives = [(c, h) for c, h in round_ if c.token_address is None]
        tokens = [(c, h) for c, h in round_ if c.token_address is not None]
        new = _plan_natives(chain, natives, gas, quote)
        if tokens:
            assert tank is not None
            new += _plan_tokens(rpc, chain, state, delegate, tokens, quote, tank, type4, planned, result)
        planned += new
        for address in {a.lower() for p in new for a in _deposits(p)}:
            result.in_flight += len(queues.pop(address, []))  # its other assets wait their turn
    if tank is not None:
        result.tank_needed_base = str(tank.needed)
        if result.waiting_for_tank:
            log.warning(
                "chain %s: the gas tank %s cannot pay for %d token sweep(s); fund it (needed: %d wei)",
                chain.name,
                tank.address,
                result.waiting_for_tank,
                tank.needed,
            )
    planned = planned[:max_sweeps]
    result.planned = len(planned)
    return planned, quote


def _first(c: Candidate, gas_money: Mapping[str, int]) -> int:
    """A deposit's order of assets: a token whose top-up is mined and waiting (else the
    next native sweep would carry the tank's ETH away), then the payment's own asset."""
    if c.token_address is not None and gas_money.get(c.address.lower(), 0) > 0:
        return 0
    return 1 if c.own else 2


def _deposits(p: _Planned) -> list[str]:
    """The deposits a planned transaction sends from, tops up or authorizes for."""
    if p.kind is SweepKind.TOPUP:
        return [p.to]
    if p.kind is SweepKind.BATCH:
        return [c.address for c, _ in p.candidates]
    return [p.sender] if p.key is not None else []


def _plan_tokens(
    rpc: RpcClient,
    chain: ChainConfig,
    state: State,
    delegate: DelegateState | None,
    tokens: list[tuple[Candidate, Holding]],
    quote: FeeQuote,
    tank: _Tank,
    type4: Callable[[], bool],
    planned: list[_Planned],
    result: SweepResult,
) -> list[_Planned]:
    """One round's token sweeps: sponsored EIP-7702 batches where the node takes them —
    except on a native payment's address (while delegated it would refuse a plain ETH
    transfer, and ETH is what its customers send) — else gas top-ups from the tank."""
    batched = type4()
    batchable = [(c, h) for c, h in tokens if batched and not c.expects_eth]
    topped = [(c, h) for c, h in tokens if not batched or c.expects_eth]
    waiting = [(c, h) for c, h in batchable if c.address.lower() in state.topping]
    result.in_flight += len(waiting)  # a top-up is on its way to it: never delegate under it
    batchable = [(c, h) for c, h in batchable if c.address.lower() not in state.topping]
    new: list[_Planned] = []
    if batchable:
        if any(p.kind is SweepKind.DEPLOY for p in planned):  # an earlier round deploys it
            result.waiting_for_delegate += len(batchable)
        else:
            new += _plan_batches(rpc, chain, state, delegate, batchable, quote, tank, result)
    if topped:
        new += _plan_topups(rpc, chain, state, topped, quote, tank, result)
    return new


@dataclass
class _Tank:
    """The gas tank while planning: what it holds and what the plan needs of it."""

    address: str
    free: int
    needed: int = 0

    def pay(self, cost: int) -> bool:
        """Book `cost` if the tank still holds it (the need is counted either way)."""
        self.needed += cost
        if cost > self.free:
            return False
        self.free -= cost
        return True


def _native_gas(rpc: RpcClient, chain: ChainConfig, worth: list[tuple[Candidate, Holding]]) -> int:
    """The gas of a native sweep to the treasury: 21,000, or an estimate (with a margin)
    when the treasury is a contract that may run code on receipt."""
    from ctripctl.chain.accounts import estimate_gas, has_code

    natives = [c for c, _ in worth if c.token_address is None]
    if not natives or not has_code(rpc, chain.treasury or ""):
        return sweeping.NATIVE_GAS
    [estimate] = estimate_gas(rpc, [{"from": natives[0].address, "to": chain.treasury, "value": hex(1)}])
    return sweeping.with_margin(estimate or sweeping.NATIVE_GAS)


def _native_value(chain: ChainConfig, c: Candidate, h: Holding, gas: int, quote: FeeQuote) -> int:
    """What a native sweep of this deposit would move (0: not worth its gas or the minimum):
    its balance at depth less the gas — but never more than its recorded credits. ETH the
    scan has not recorded yet (or a top-up's remainder) stays for a later sweep, so each
    credit is marked swept only by the sweep that moved it."""
    value = sweeping.native_sweep_value(sweeping.spendable(h.latest, h.at_depth), gas, quote)
    value = min(value, c.credited)
    return value if value >= max(_minimum(chain, c), 1) else 0


def _plan_natives(
    chain: ChainConfig,
    natives: list[tuple[Candidate, Holding]],
    gas: int,
    quote: FeeQuote,
) -> list[_Planned]:
    """Each deposit's whole ETH balance (at depth) to the treasury, less its own gas."""
    treasury = chain.treasury
    assert treasury is not None
    planned = []
    for c, h in natives:
        value = _native_value(chain, c, h, gas, quote)
        key = (c.derivation_index, c.address)
        planned.append(
            _Planned(SweepKind.NATIVE, c.address, key, treasury, value, value, gas, "0x", ((c, value),))
        )
    return planned


def _plan_topups(
    rpc: RpcClient,
    chain: ChainConfig,
    state: State,
    tokens: list[tuple[Candidate, Holding]],
    quote: FeeQuote,
    tank: _Tank,
    result: SweepResult,
) -> list[_Planned]:
    """Token deposits that hold their gas send their tokens; the others get an exact top-up."""
    from ctripctl.chain.accounts import estimate_gas
    from ctripctl.evm.transactions import transfer_data

    treasury = chain.treasury
    assert treasury is not None
    amounts = [sweeping.spendable(h.latest, h.at_depth) for _, h in tokens]
    estimates = estimate_gas(
        rpc,
        [
            {"from": c.address, "to": c.token_address, "data": transfer_data(treasury, amount)}
            for (c, _), amount in zip(tokens, amounts, strict=True)
        ],
    )
    planned = []
    for (c, h), amount, estimate in zip(tokens, amounts, estimates, strict=True):
        assert c.token_address is not None
        if estimate is None:
            log.warning(
                "chain %s: a transfer of %s from %s would fail; skipped", chain.name, c.token, c.address
            )
            result.skipped_failing += 1
            continue
        gas = sweeping.with_margin(estimate)
        topup = sweeping.topup_value(gas, quote, h.native_latest)
        if topup == 0:
            data = transfer_data(treasury, amount)
            key = (c.derivation_index, c.address)
            planned.append(
                _Planned(
                    SweepKind.TOKEN, c.address, key, c.token_address, 0, amount, gas, data, ((c, amount),)
                )
            )
        elif c.address.lower() in state.topping:
            result.in_flight += 1  # its top-up is on the way
        elif tank.pay(topup + sweeping.max_gas_cost(sweeping.NATIVE_GAS, quote)):
            planned.append(
                _Planned(
                    SweepKind.TOPUP,
                    tank.address,
                    None,
                    c.address,
                    topup,
                    topup,
                    sweeping.NATIVE_GAS,
                    "0x",
                    ((c, topup),),
                )
            )
        else:
            result.waiting_for_tank += 1
    return planned


def _uses_eip7702(rpc: RpcClient, chain: ChainConfig, tank: str, quote: FeeQuote) -> bool:
    """`sweep_strategy`: topup, eip7702 (refused, exit 2, where the node cannot), or auto."""
    from ctripctl.chain.accounts import accepts_type4
    from ctripctl.domain.sweeping import FeeType

    strategy = Strategy(chain.sweep_strategy)
    if strategy is Strategy.TOPUP:
        return False
    capable = quote.type is FeeType.EIP1559 and accepts_type4(rpc, _probe(chain.chain_id), tank)
    if strategy is Strategy.EIP7702 and not capable:
        raise InputError(
            f'chains.{chain.name}.sweep_strategy = "eip7702", but the node refuses EIP-7702 (type-4) '
            'transactions; use "auto" or "topup"'
        )
    return capable


def _probe(chain_id: int) -> Authorization:
    """An authorization by a throwaway key (it holds nothing), to ask a node about type 4."""
    from ctripctl.evm.keccak import keccak256
    from ctripctl.evm.transactions import authorize

    key = keccak256(b"ctripctl eip-7702 probe")
    return authorize(chain_id, "0x000000000000000000000000000000000000dEaD", 0, key, "probe")


def _plan_batches(
    rpc: RpcClient,
    chain: ChainConfig,
    state: State,
    delegate: DelegateState | None,
    tokens: list[tuple[Candidate, Holding]],
    quote: FeeQuote,
    tank: _Tank,
    result: SweepResult,
) -> list[_Planned]:
    """Token deposits swept by sponsored type-4 transactions of up to `max_batch` each,
    through the chain's SweepDelegate — deployed first (by the tank) where there is none."""
    from ctripctl.chain.accounts import estimate_gas
    from ctripctl.evm.transactions import delegate_deploy_data

    treasury = chain.treasury
    assert treasury is not None
    if delegate is None or not delegate.ready:
        result.waiting_for_delegate += len(tokens)
        if delegate is not None or any(s.kind is SweepKind.DEPLOY for s in state.live):
            return []  # its deployment is on the way
        data = delegate_deploy_data(tank.address, treasury)
        [estimate] = estimate_gas(rpc, [{"from": tank.address, "data": data}])
        if estimate is None:
            raise NodeUnavailable("the node cannot estimate the SweepDelegate deployment")
        gas = sweeping.with_margin(estimate)
        if not tank.pay(sweeping.max_gas_cost(gas, quote)):
            result.waiting_for_tank += 1
            return []
        return [_Planned(SweepKind.DEPLOY, tank.address, None, "", 0, 0, gas, data, ())]
    planned = []
    items = [(c, sweeping.spendable(h.latest, h.at_depth)) for c, h in tokens]
    for i in range(0, len(items), chain.max_batch):
        batch = tuple(items[i : i + chain.max_batch])
        gas = sweeping.BATCH_BASE_GAS + sweeping.BATCH_ITEM_GAS * len(batch)  # the signer refines it
        if not tank.pay(sweeping.max_gas_cost(gas, quote)):
            result.waiting_for_tank += len(batch)
            continue
        amount = sum(a for _, a in batch)
        planned.append(
            _Planned(SweepKind.BATCH, tank.address, None, delegate.address, 0, amount, gas, "", batch)
        )
    return planned


def _plan_clear(
    rpc: RpcClient,
    chain: ChainConfig,
    xpub: str,
    to_clear: list[tuple[str, int, str]],
    quote: FeeQuote,
    result: SweepResult,
) -> list[_Planned]:
    """One sponsored type-4 transaction (tank to itself) whose authorizations point each
    swept deposit back to no code: while it has code, a 21,000-gas ETH transfer to it —
    what wallets and exchanges send — runs out of gas."""
    from ctripctl.chain.accounts import native_balance
    from ctripctl.db.sweeps import Candidate
    from ctripctl.evm.keys import tank_address

    tank = tank_address(xpub)
    gas = sweeping.NATIVE_GAS + sweeping.CLEAR_ITEM_GAS * len(to_clear)
    if native_balance(rpc, tank) < sweeping.max_gas_cost(gas, quote):
        result.waiting_for_tank += len(to_clear)
        return []
    items = tuple((Candidate(pid, address, index, None, None, 18, ()), 0) for pid, index, address in to_clear)
    return [_Planned(SweepKind.CLEAR, tank, None, tank, 0, 0, gas, "0x", items)]


def _strikes(state: State, c: Candidate) -> int:
    """Failed attempts to sweep this asset from this deposit (its top-ups' too, for a token)."""
    from ctripctl.db.sweeps import GAS

    asset = c.token_address.lower() if c.token_address else None
    return state.reverts[(c.address, asset)] + (state.reverts[(c.address, GAS)] if asset else 0)


def _minimum(chain: ChainConfig, c: Candidate) -> int:
    if c.token is None:
        return chain.sweep_min_base
    return chain.tokens[c.token].sweep_min_base if c.token in chain.tokens else 1


def _sign(
    engine: Engine,
    rpc: RpcClient,
    chain: ChainConfig,
    keyring: Keyring,
    planned: list[_Planned],
    quote: FeeQuote,
) -> list[NewSweep]:
    """Nonces from the node ("pending") and from our own records, whichever is higher;
    then one signature per transaction, with the key the Keyring derived AND checked
    against the xpub's address for that index (the tank's: m/44'/60'/0'/1/0). The
    deposits of a batch or a clearing transaction each sign an authorization. A deposit
    the configured xpub does not derive (the xpub was changed) is left out, with a warning."""
    from ctripctl.chain.accounts import nonces
    from ctripctl.db import sweeps as store
    from ctripctl.evm.transactions import Unsigned, sign

    planned = [
        q for p in _authorize(rpc, chain, keyring, planned) if (q := _with_key(p, keyring, chain)) is not None
    ]
    pending = nonces(rpc, [p.sender for p, _, _ in planned], "pending")
    recorded = store.next_nonces(engine, chain.name, list(pending))
    next_nonce = {a: max(n, recorded.get(a, 0)) for a, n in pending.items()}
    signed: list[NewSweep] = []
    for p, key, authorizations in planned:
        nonce = next_nonce[p.sender]
        next_nonce[p.sender] = nonce + 1
        tx = sign(Unsigned(chain.chain_id, nonce, p.to, p.value, p.gas, quote, p.data, authorizations), key)
        signed.append(_recorded(p, chain, nonce, quote, tx.tx_hash, tx.raw))
    return signed


def _with_key(
    p: tuple[_Planned, tuple[Authorization, ...]], keyring: Keyring, chain: ChainConfig
) -> tuple[_Planned, bytes, tuple[Authorization, ...]] | None:
    planned, authorizations = p
    if planned.key is None:
        return planned, keyring.tank_key(), authorizations
    try:
        return planned, keyring.deposit_key(*planned.key), authorizations
    except InputError as exc:
        log.warning("chain %s: %s; its sweep is skipped", chain.name, exc)
        return None


def _recorded(
    p: _Planned, chain: ChainConfig, nonce: int, quote: FeeQuote, tx_hash: str, raw: str
) -> NewSweep:
    """The sweeps row of one signed transaction."""
    from ctripctl.db.sweeps import NewItem, NewSweep
    from ctripctl.evm.transactions import create_address

    c = p.candidates[0][0] if p.candidates else None
    if p.kind is SweepKind.DEPLOY:
        to = create_address(p.sender, nonce)
    elif p.kind is SweepKind.TOKEN:
        to = chain.treasury or ""
    else:
        to = p.to
    with_items = p.kind in (SweepKind.BATCH, SweepKind.CLEAR)
    return NewSweep(
        kind=p.kind,
        from_address=p.sender,
        to_address=to,
        token=c.token if c is not None and p.kind is SweepKind.TOKEN else None,
        token_address=c.token_address if c is not None and p.kind is SweepKind.TOKEN else None,
        amount_base=p.amount,
        nonce=nonce,
        gas_limit=p.gas,
        fee=quote.to_json(),
        tx_hash=tx_hash,
        raw_tx=raw,
        payment_ids=tuple(c.payment_id for c, _ in p.candidates),
        transfer_ids=c.transfer_ids
        if c is not None and p.kind in (SweepKind.NATIVE, SweepKind.TOKEN)
        else (),
        items=tuple(
            NewItem(c.payment_id, c.address, c.token, c.token_address, amount, c.transfer_ids)
            for c, amount in p.candidates
        )
        if with_items
        else (),
        treasury=chain.treasury if p.kind is SweepKind.DEPLOY else None,
    )


def _authorize(
    rpc: RpcClient, chain: ChainConfig, keyring: Keyring, planned: list[_Planned]
) -> list[tuple[_Planned, tuple[Authorization, ...]]]:
    """Each planned transaction with its EIP-7702 authorizations (none for most kinds).

    A batch's deposits delegate to the SweepDelegate, a clearing transaction's to no code,
    each at its mined nonce (deposits never send transactions themselves in this mode).
    A batch's call data names each deposit's planned amount; its gas is eth_estimateGas
    with the authorizations plus the margin, never above the planned bound (which is what
    the tank was checked for)."""
    from ctripctl.chain.accounts import estimate_gas, nonces
    from ctripctl.evm.transactions import NO_DELEGATE, authorize, sweep_many_data

    typed = [p for p in planned if p.kind in _TYPED]
    if not typed:
        return [(p, ()) for p in planned]
    used = nonces(rpc, [c.address for p in typed for c, _ in p.candidates], "latest")
    ready: dict[int, tuple[_Planned, tuple[Authorization, ...]]] = {}
    for p in typed:
        delegate = p.to if p.kind is SweepKind.BATCH else NO_DELEGATE
        items, auths = [], []
        for c, amount in p.candidates:
            try:
                key = keyring.deposit_key(c.derivation_index, c.address)
            except InputError as exc:
                log.warning("chain %s: %s; left out of the batch", chain.name, exc)
                continue
            items.append((c, amount))
            auths.append(authorize(chain.chain_id, delegate, used[c.address], key, c.address))
        if not items:
            continue
        data = "0x"
        if p.kind is SweepKind.BATCH:
            data = sweep_many_data(
                [c.address for c, _ in items],
                [c.token_address or "" for c, _ in items],
                [a for _, a in items],
            )
        amount = sum(a for _, a in items)
        ready[id(p)] = (replace(p, candidates=tuple(items), data=data, amount=amount), tuple(auths))
    estimates = estimate_gas(
        rpc,
        [
            {"from": q.sender, "to": q.to, "data": q.data, "authorizationList": [a.to_rpc() for a in auths]}
            for q, auths in ready.values()
        ],
    )
    for key, estimate in zip(list(ready), estimates, strict=True):
        q, auths = ready[key]
        if estimate:
            ready[key] = (replace(q, gas=min(q.gas, sweeping.with_margin(estimate))), auths)
    # A typed transaction whose every deposit was left out is dropped from the plan.
    return [ready.get(id(p), (p, ())) for p in planned if id(p) in ready or p.kind not in _TYPED]


def _plan_object(p: _Planned, tx_hash: str | None, status: str) -> list[dict[str, Any]]:
    """The `sweeps` entries of one planned transaction: one per deposit it sweeps."""
    kind = p.kind.value
    if p.kind is SweepKind.DEPLOY:
        return [
            {
                "id": None,
                "kind": kind,
                "address": p.sender,
                "token": None,
                "amount_base": "0",
                "tx_hash": tx_hash,
                "status": status,
            }
        ]
    return [
        {
            "id": None,
            "kind": kind,
            "address": c.address,
            "token": c.token if p.kind in (SweepKind.TOKEN, SweepKind.BATCH) else None,
            "amount_base": str(amount),
            "tx_hash": tx_hash,
            "status": status,
        }
        for c, amount in p.candidates
    ]


def _sent_objects(s: NewSweep) -> list[dict[str, Any]]:
    """The `sweeps` entries of one recorded transaction (a batch: one per deposit)."""
    base = {"kind": s.kind.value, "tx_hash": s.tx_hash}
    if s.kind in _TYPED:
        return [
            {**base, "address": i.address, "token": i.token, "amount_base": str(i.amount_base)}
            for i in s.items
        ]
    address = s.to_address if s.kind is SweepKind.TOPUP else s.from_address
    return [{**base, "address": address, "token": s.token, "amount_base": str(s.amount_base)}]


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)
