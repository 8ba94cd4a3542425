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
   with a live sweep is left alone until that sweep is final.
4. One fee quote (chain/fees.FeeOracle) serves the pass; above `max_fee_gwei` nothing
   is signed. Token deposits without gas get an exact top-up from the tank first; their
   transfer follows in a later pass, once the top-up is mined.
5. Sign, commit every signed transaction, THEN broadcast, then record the answers. A
   crash between any two steps leaves rows the next pass resolves in step 2.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ctripctl.domain import sweeping
from ctripctl.domain.sweeping import SweepKind, SweepStatus
from ctripctl.errors import InputError
from ctripctl.faults import crash_point

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from ctripctl.chain.fees import FeeOracle
    from ctripctl.chain.rpc import RpcClient
    from ctripctl.config import ChainConfig, Config
    from ctripctl.db.sweeps import Candidate, NewSweep, State
    from ctripctl.domain.sweeping import FeeQuote
    from ctripctl.evm.keys import Keyring

log = logging.getLogger("ctripctl.sweep")

#: Crash points for the kill -9 tests (CTRIP_TEST_FAULT).
FAULT_AFTER_RECORD = "sweep-after-record"  # signed rows committed, nothing broadcast
FAULT_AFTER_BROADCAST = "sweep-after-broadcast"  # the node answered, the answers not recorded
#: Payments considered per pass; the rest wait for the next one.
CANDIDATE_LIMIT = 5_000
DEFAULT_MAX = 1_000


@dataclass
class SweepResult:
    """What one pass did; `to_json()` is the --json document."""

    chain: str
    dry_run: bool = False
    planned: int = 0
    sent: int = 0
    topups_sent: int = 0
    rebroadcast: int = 0
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
    candidate: Candidate


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
    from ctripctl.passes.confirm import read_head

    result = SweepResult(chain=chain.name, dry_run=dry_run)
    head, finalized = read_head(rpc, finalized=chain.finality == "finalized")
    depth_block = finalized if finalized is not None else deepest_confirmable(head, chain.confirmations)
    _reconcile(engine, rpc, chain, depth_block, result, dry_run, now)

    oracle = FeeOracle(rpc, ttl=chain.fee_cache_ttl.total_seconds())
    state = store.read_state(engine, chain.name)
    candidates = store.read_candidates(engine, chain.name, CANDIDATE_LIMIT)
    planned = _plan(rpc, chain, xpub, state, candidates, max(0, depth_block), oracle, result, max_sweeps)
    if not dry_run:
        store.record_tank(engine, chain.name, result.tank_balance_base, result.tank_needed_base, _now(now))
    if not planned:
        return result
    quote = oracle.quote()
    if dry_run:
        result.sweeps = [_plan_object(p, None, "planned") for p in planned]
        return result
    assert keyring is not None
    signed = _sign(rpc, chain, keyring, state, planned, quote)
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
        else:
            result.sent += 1
        result.sweeps.append(
            {
                "id": s.id,
                "kind": s.kind.value,
                "address": s.to_address if s.kind is SweepKind.TOPUP else s.from_address,
                "token": s.token,
                "amount_base": str(s.amount_base),
                "tx_hash": s.tx_hash,
                "status": (SweepStatus.SIGNED if error else SweepStatus.SENT).value,
            }
        )
    return result


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
    used = nonces(rpc, [s.from_address for s in live], "latest")  # asked BEFORE the receipts
    found = receipts(rpc, [s.tx_hash for s in live])
    verdicts = {}
    for s in live:
        receipt = found[s.tx_hash]
        verdicts[s.id] = (
            s.status,
            sweeping.judge(
                s.status,
                s.nonce,
                receipt=receipt,
                nonce_used=used[s.from_address],
                deep_enough=receipt is not None and receipt.block_number <= depth_block,
            ),
        )
    if dry_run:
        return
    resend = [s for s in live if verdicts[s.id][1].rebroadcast]
    outcomes: dict[str, str | None] = {}
    if resend:
        errors = broadcast(rpc, [s.raw_tx for s in resend])
        outcomes = {s.id: _refused(e) for s, e in zip(resend, errors, strict=True)}
        result.rebroadcast = sum(1 for e in outcomes.values() if e is None)
    recorded = store.record_verdicts(engine, chain.name, verdicts, _now(now))
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
    rpc: RpcClient,
    chain: ChainConfig,
    xpub: str,
    state: State,
    candidates: list[Candidate],
    depth_block: int,
    oracle: FeeOracle,
    result: SweepResult,
    max_sweeps: int,
) -> list[_Planned]:
    """Step 3 and 4: what to send, within the fee cap, the minimums, the tank and --max."""
    from ctripctl.chain.accounts import estimate_gas, has_code, native_balance, read_holdings
    from ctripctl.evm.keys import tank_address
    from ctripctl.evm.transactions import transfer_data

    busy = {s.from_address.lower() for s in state.live}
    topping = {s.to_address.lower() for s in state.live if s.kind is SweepKind.TOPUP}
    ready: list[Candidate] = []
    for c in candidates:
        if c.address.lower() in busy:
            result.in_flight += 1
        elif state.reverts[c.address] >= sweeping.MAX_REVERTS:
            result.skipped_failing += 1
        else:
            ready.append(c)
    if not ready:
        return []
    holdings = read_holdings(rpc, [(c.address, c.token_address) for c in ready], depth_block)
    minimums = [_minimum(chain, c) for c in ready]
    worth = [
        (c, h)
        for c, h, low in zip(ready, holdings, minimums, strict=True)
        if sweeping.spendable(h.latest, h.at_depth) >= max(low, 1)
    ]
    result.skipped_below_min += len(ready) - len(worth)
    if not worth:
        return []
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
        return []

    treasury = chain.treasury
    assert treasury is not None
    native_gas = sweeping.NATIVE_GAS
    tokens = [(c, h) for c, h in worth if c.token_address is not None]
    natives = [(c, h) for c, h in worth if c.token_address is None]
    if natives and has_code(rpc, treasury):  # a contract treasury may run code on receipt
        first = natives[0][0].address
        [estimate] = estimate_gas(rpc, [{"from": first, "to": treasury, "value": hex(1)}])
        native_gas = sweeping.with_margin(estimate or native_gas)
    planned: list[_Planned] = []
    for c, h in natives:
        value = sweeping.native_sweep_value(sweeping.spendable(h.latest, h.at_depth), native_gas, quote)
        if value < max(_minimum(chain, c), 1):
            result.skipped_below_min += 1
            continue
        planned.append(
            _Planned(
                SweepKind.NATIVE,
                c.address,
                (c.derivation_index, c.address),
                treasury,
                value,
                value,
                native_gas,
                "0x",
                c,
            )
        )

    amounts = [sweeping.spendable(h.latest, h.at_depth) for _, h in tokens]
    estimates = estimate_gas(
        rpc,
        [
            {"from": c.address, "to": c.token_address, "data": transfer_data(treasury, amount)}
            for (c, _), amount in zip(tokens, amounts, strict=True)
        ],
    )
    tank = tank_address(xpub)
    tank_free = native_balance(rpc, tank)
    result.tank_balance_base = str(tank_free)
    needed = 0
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
            planned.append(
                _Planned(
                    SweepKind.TOKEN,
                    c.address,
                    (c.derivation_index, c.address),
                    c.token_address,
                    0,
                    amount,
                    gas,
                    data,
                    c,
                )
            )
        elif c.address.lower() in topping:
            result.in_flight += 1  # its top-up is on the way
        else:
            cost = topup + sweeping.max_gas_cost(native_gas, quote)
            needed += cost
            if cost > tank_free:
                result.waiting_for_tank += 1
                continue
            tank_free -= cost
            planned.append(
                _Planned(SweepKind.TOPUP, tank, None, c.address, topup, topup, native_gas, "0x", c)
            )
    result.tank_needed_base = str(needed)
    if result.waiting_for_tank:
        log.warning(
            "chain %s: the gas tank %s cannot pay %d top-up(s); fund it (needed: %d wei)",
            chain.name,
            tank,
            result.waiting_for_tank,
            needed,
        )
    planned = planned[:max_sweeps]
    result.planned = len(planned)
    return planned


def _minimum(chain: ChainConfig, c: Candidate) -> int:
    if c.token is None:
        return chain.sweep_min_base
    return chain.tokens[c.token].sweep_min_base if c.token in chain.tokens else 1


def _sign(
    rpc: RpcClient,
    chain: ChainConfig,
    keyring: Keyring,
    state: State,
    planned: list[_Planned],
    quote: FeeQuote,
) -> list[NewSweep]:
    """Nonces from the node ("pending") and from our own records, whichever is higher;
    then one signature per transaction, with the key the Keyring derived AND checked
    against the xpub's address for that index (the tank's: m/44'/60'/0'/1/0)."""
    from ctripctl.chain.accounts import nonces
    from ctripctl.db.sweeps import NewSweep
    from ctripctl.evm.transactions import Unsigned, sign

    pending = nonces(rpc, [p.sender for p in planned], "pending")
    next_nonce = {a: max(n, state.next_nonce.get(a, 0)) for a, n in pending.items()}
    tank_key = None
    signed: list[NewSweep] = []
    for p in planned:
        if p.key is None:
            tank_key = tank_key or keyring.tank_key()
            key = tank_key
        else:
            key = keyring.deposit_key(*p.key)
        nonce = next_nonce[p.sender]
        next_nonce[p.sender] = nonce + 1
        tx = sign(Unsigned(chain.chain_id, nonce, p.to, p.value, p.gas, quote, p.data), key)
        c = p.candidate
        signed.append(
            NewSweep(
                kind=p.kind,
                from_address=p.sender,
                to_address=p.to if p.kind is not SweepKind.TOKEN else chain.treasury or "",
                token=c.token if p.kind is SweepKind.TOKEN else None,
                token_address=c.token_address if p.kind is SweepKind.TOKEN else None,
                amount_base=p.amount,
                nonce=nonce,
                gas_limit=p.gas,
                fee=quote.to_json(),
                tx_hash=tx.tx_hash,
                raw_tx=tx.raw,
                payment_ids=(c.payment_id,),
                transfer_ids=c.transfer_ids if p.kind is not SweepKind.TOPUP else (),
            )
        )
    return signed


def _plan_object(p: _Planned, tx_hash: str | None, status: str) -> dict[str, Any]:
    return {
        "id": None,
        "kind": p.kind.value,
        "address": p.to if p.kind is SweepKind.TOPUP else p.sender,
        "token": p.candidate.token if p.kind is SweepKind.TOKEN else None,
        "amount_base": str(p.amount),
        "tx_hash": tx_hash,
        "status": status,
    }


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)
