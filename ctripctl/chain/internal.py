"""ETH that arrived without a top-level transaction: found by balance reconciliation.

For the watched addresses of one scanned range `start..end` (native payments', and token
payments' too: ETH there is a deposit in the wrong asset): read each balance at
`start - 1` and `end` (batched eth_getBalance), compare the change with what the scan's
recorded native credits and the project's own outgoing transactions explain
(domain/reconcile.Ledger), and, for an address where more arrived, bisect the range with
eth_getBalance at block heights — one batched request per step for all such addresses —
to the first block with an unexplained jump. That one block is traced
(`debug_traceBlockByNumber` with callTracer; `trace_block` when the node answers
"method not found"), each nested value transfer to the address becomes an `Arrival`
with `via="internal"`, and whatever of the jump the traces do not explain (a validator
withdrawal, a selfdestruct on a node that cannot trace, any node without a tracing API)
an `Arrival` with `via="balance"`. Then the search goes on above that block until the
address's balance at `end` is explained.

The cost grows with the number of watched addresses (2 balances each, 50 per request),
not with chain traffic; bisection and traces are paid only where ETH actually arrived
unseen.

Never invents a credit: an address whose balance fell below what the ledger explains (it
sent something we did not record) is checked for its nonce; if its nonce moved by more
than our own recorded transactions explain — those it sent, and the EIP-7702
authorizations it signed for our sponsored sweeps (each moves its nonce by one without a
transaction from it) — it cannot be reconciled and is skipped for this range (logged by
the caller from `Reconciled.skipped`; its ETH there is not credited). A nonce the node
cannot answer is NodeUnavailable: the pass records nothing and the range is read again.

A pruned node that cannot answer a balance at `start - 1` is not an error: the earliest
height it can answer (found by bisection over the range) is used instead; with a known
base balance (`bases`, e.g. kept from the previous pass), what arrived before that height
is attributed to it, and `Reconciled.notes` says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ctripctl.chain.rpc import Call, RpcClient, RpcError, quantity
from ctripctl.domain.reconcile import Ledger, Search, remainder
from ctripctl.domain.records import Arrival
from ctripctl.errors import InputError, NodeUnavailable
from ctripctl.evm.traces import InternalTransfer, from_call_tracer, from_parity

#: JSON-RPC "method not found".
METHOD_NOT_FOUND = -32601
#: chain config `internal_transfers`.
MODES = ("auto", "trace", "balance", "off")
#: Balance requests (50 reads each) sent at once, like the block fetch: a remote node's
#: round trips overlap. On a local anvil (no network latency, CPU-bound) it made no
#: consistent difference (benchmarks/bench_internal.py, 10,000 addresses: 1.54 vs 1.75 s
#: in one run, 1.65 vs 1.61 s in another); what halves the cost is the kept balances.
BALANCE_IN_FLIGHT = 4
#: Arrivals found per address in one pass before the rest is left for a later look: a
#: bound on the requests a single address can cost (each arrival is a bisection).
MAX_ARRIVALS = 64


@dataclass
class Reconciled:
    """What one reconciliation found, and what it could not do."""

    arrivals: list[Arrival] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # address -> why
    notes: list[str] = field(default_factory=list)  # log lines (pruned state, no tracer)
    balances: dict[str, int] = field(default_factory=dict)  # address -> balance at `end`
    traced_blocks: int = 0
    requests: int = 0


class Tracer:
    """Traces one block's internal value transfers with whatever the node offers.

    Remembers what the node refused, so a node without `debug_*` is asked once per
    pass, not once per block. `mode`: "auto" (debug, then trace, then none), "trace"
    (a node that can trace neither is unavailable), "balance" (never traces)."""

    def __init__(self, rpc: RpcClient, mode: str) -> None:
        self.rpc = rpc
        self.mode = mode
        self.methods = [] if mode == "balance" else ["debug_traceBlockByNumber", "trace_block"]

    def trace(self, blocks: Sequence[int]) -> dict[int, list[InternalTransfer] | None]:
        """Per block, its nested value transfers, or None when the node cannot trace."""
        result: dict[int, list[InternalTransfer] | None] = {n: None for n in blocks}
        todo = list(blocks)
        while todo and self.methods:
            method = self.methods[0]
            calls: list[Call] = [(method, _trace_params(method, n)) for n in todo]
            answers = self.rpc.batch_chunked(calls)
            refused = False
            for n, answer in zip(todo, answers, strict=True):
                if isinstance(answer, RpcError):
                    if _not_offered(answer):
                        refused = True
                        continue
                    raise NodeUnavailable(f"{method} of block {n}: {answer.message}")
                parse = from_call_tracer if method == "debug_traceBlockByNumber" else from_parity
                result[n] = parse(answer if isinstance(answer, list) else [])
            if not refused:
                return result
            self.methods.pop(0)
            todo = [n for n in todo if result[n] is None]
        if todo and self.mode == "trace":
            raise NodeUnavailable(
                'internal_transfers = "trace": the node answers neither '
                "debug_traceBlockByNumber nor trace_block"
            )
        return result


def _trace_params(method: str, number: int) -> tuple[Any, ...]:
    if method == "debug_traceBlockByNumber":
        return (hex(number), {"tracer": "callTracer"})
    return (hex(number),)


def _not_offered(error: RpcError) -> bool:
    text = error.message.lower()
    return (
        error.code == METHOD_NOT_FOUND
        or "not found" in text
        or "not supported" in text
        or "unsupported" in text
    )


def own_outgoing(
    rpc: RpcClient, tx_hashes: Sequence[str], authorized: Mapping[str, Sequence[str]] | None = None
) -> tuple[dict[str, list[tuple[int, int]]], dict[str, int]]:
    """Our own transactions (sweeps, gas top-ups) as ledger changes of their senders:
    per sender, (block, -(value + gasUsed x effectiveGasPrice)) for each that was mined
    (failed ones pay their fee too), and how many of them landed (the expected nonce
    change). Unmined hashes are ignored: they moved nothing yet.

    `authorized`: our own EIP-7702 transactions (batch sweeps, clearings; the gas tank
    sends and pays them) -> the deposits whose authorizations they carry. Each such
    deposit gets (block, 0) per mined one: its nonce moved (an authorization is applied
    even when the transaction reverts), no ETH did. Only their receipts are read."""
    authorized = {h.lower(): list(a) for h, a in (authorized or {}).items()}
    own = [h.lower() for h in tx_hashes]
    receipts_only = [h for h in authorized if h not in own]
    calls: list[Call] = []
    for h in own:
        calls.append(("eth_getTransactionByHash", (h,)))
        calls.append(("eth_getTransactionReceipt", (h,)))
    calls += [("eth_getTransactionReceipt", (h,)) for h in receipts_only]
    answers = iter(rpc.batch_chunked(calls))
    changes: dict[str, list[tuple[int, int]]] = {}
    sent: dict[str, int] = {}
    mined: dict[str, int] = {}  # hash -> its block

    def failed(h: str, answer: Any) -> None:
        if isinstance(answer, RpcError):
            raise NodeUnavailable(f"transaction {h}: {answer.message}")

    def landed(address: str, block: int, wei: int) -> None:
        changes.setdefault(address, []).append((block, wei))
        sent[address] = sent.get(address, 0) + 1

    for h in own:
        tx, receipt = next(answers), next(answers)
        failed(h, tx)
        failed(h, receipt)
        if not tx or not receipt or receipt.get("blockNumber") is None:
            continue
        block = mined[h] = int(receipt["blockNumber"], 16)
        fee = int(receipt["gasUsed"], 16) * int(
            receipt.get("effectiveGasPrice") or tx.get("gasPrice") or "0x0", 16
        )
        value = int(tx.get("value") or "0x0", 16) if receipt.get("status") == "0x1" else 0
        landed(str(tx["from"]).lower(), block, -(value + fee))
    for h in receipts_only:
        receipt = next(answers)
        failed(h, receipt)
        if receipt and receipt.get("blockNumber") is not None:
            mined[h] = int(receipt["blockNumber"], 16)
    for h, addresses in authorized.items():
        if h in mined:
            for address in dict.fromkeys(a.lower() for a in addresses):
                landed(address, mined[h], 0)
    return changes, sent


def balances_at(rpc: RpcClient, addresses: Sequence[str], block: int) -> list[int | RpcError]:
    """eth_getBalance of each address at `block` (an RpcError in its slot if refused)."""
    calls: list[Call] = [("eth_getBalance", (a, hex(block))) for a in addresses]
    answers = rpc.batch_chunked(calls, in_flight=BALANCE_IN_FLIGHT)
    return [a if isinstance(a, RpcError) else quantity(a, f"balance at block {block}") for a in answers]


def _earliest_state(rpc: RpcClient, probe: str, lo: int, hi: int) -> int:
    """The lowest height in (lo, hi] at which the node answers a balance (it does at hi)."""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        [answer] = rpc.batch([("eth_getBalance", (probe, hex(mid)))])
        if isinstance(answer, RpcError):
            lo = mid
        else:
            hi = mid
    return hi


def reconcile(
    rpc: RpcClient,
    start: int,
    end: int,
    addresses: Sequence[str],
    known: Mapping[str, Sequence[tuple[int, int]]],
    *,
    mode: str = "auto",
    bases: Mapping[str, int] | None = None,
    sent: Mapping[str, int] | None = None,
    tracer: Tracer | None = None,
) -> Reconciled:
    """Find the ETH that arrived on `addresses` in blocks `start..end` unseen.

    `known[address]`: (block, signed wei) already explained — + every native credit the
    scan recorded to it in the range (counted or not), − each of our own transactions
    from it (value + gasUsed × effectiveGasPrice). `bases[address]`: its balance at the
    end of `start - 1` if known (saves one read per address). `sent[address]`: how many
    of our transactions from it, and of its authorizations our EIP-7702 sweeps carried,
    landed in the range (its expected nonce change)."""
    if mode not in MODES:
        raise InputError(f"internal_transfers must be one of {', '.join(MODES)}, not {mode!r}")
    out = Reconciled()
    if mode == "off" or not addresses or end < start:
        return out
    before = rpc.requests_sent
    tracer = tracer or Tracer(rpc, mode)
    addresses = [a.lower() for a in addresses]
    bases = dict(bases or {})

    ends = balances_at(rpc, addresses, end)
    for address, balance in zip(addresses, ends, strict=True):
        if isinstance(balance, RpcError):
            raise NodeUnavailable(f"balance of {address} at block {end}: {balance.message}")
        out.balances[address] = balance

    # The base: balance at start - 1, or the earliest height the node still has state for.
    base_block = start - 1
    missing = [a for a in addresses if a not in bases]
    if missing and base_block >= 0:
        answers = balances_at(rpc, missing, base_block)
        if any(isinstance(a, RpcError) for a in answers):
            earliest = _earliest_state(rpc, missing[0], base_block, end)
            out.notes.append(
                f"the node has no state before block {earliest} (pruned): balances of "
                f"{len(missing)} address(es) are read from block {earliest}, ETH that arrived "
                f"on them unseen in blocks {start}..{earliest} is attributed to block {earliest}"
                if any(a in bases for a in addresses)
                else f"the node has no state before block {earliest} (pruned): ETH that arrived "
                f"unseen in blocks {start}..{earliest - 1} cannot be found; reconciled from block {earliest}"
            )
            answers = balances_at(rpc, missing, earliest)
            for address, balance in zip(missing, answers, strict=True):
                if isinstance(balance, RpcError):
                    raise NodeUnavailable(f"balance of {address} at block {earliest}: {balance.message}")
                # Known changes up to `earliest` are already inside this balance.
                bases[address] = balance - sum(w for b, w in known.get(address, ()) if start <= b <= earliest)
            floor = earliest
        else:
            bases.update({a: int(b) for a, b in zip(missing, answers, strict=True)})  # type: ignore[arg-type]
            floor = start
    else:
        for a in missing:
            bases[a] = 0
        floor = start

    ledgers = {a: Ledger(base_block, bases[a], sorted(known.get(a, ()))) for a in addresses}
    suspects = [a for a in addresses if ledgers[a].unexplained(end, out.balances[a]) != 0]
    if not suspects:
        out.requests = rpc.requests_sent - before
        return out

    # An address that paid out more than we know of (its nonce moved beyond our own
    # transactions) cannot be reconciled: skip it, never invent a credit.
    nonce_calls: list[Call] = []
    for a in suspects:
        nonce_calls.append(("eth_getTransactionCount", (a, hex(end))))
        nonce_calls.append(
            ("eth_getTransactionCount", (a, hex(max(floor - 1 if floor == start else floor, 0))))
        )
    nonces = iter(rpc.batch_chunked(nonce_calls))
    active: list[str] = []
    for a in suspects:
        high, low = next(nonces), next(nonces)
        if isinstance(high, RpcError) or isinstance(low, RpcError):
            # Transient, not proof of an unknown send: fail the pass (nothing recorded) so
            # the next one redoes the range — skipping would put this ETH in the next base.
            error = high if isinstance(high, RpcError) else low
            raise NodeUnavailable(f"the nonce of {a} (reconciling ETH): {error.message}")
        moved = int(high, 16) - int(low, 16)
        if moved > (sent or {}).get(a, 0):
            out.skipped[a] = (
                f"its nonce moved by {moved}, our recorded transactions explain {(sent or {}).get(a, 0)}"
            )
            continue
        if ledgers[a].unexplained(end, out.balances[a]) > 0:
            active.append(a)

    known_at: dict[tuple[str, int], int] = {}  # (address, block) -> balance read

    def unexplained(a: str, block: int) -> int:
        return ledgers[a].unexplained(block, known_at[(a, block)])

    for a in active:
        known_at[(a, end)] = out.balances[a]
        known_at[(a, floor - 1)] = ledgers[a].expected(floor - 1) if floor > start else bases[a]
    searches = {a: Search(floor - 1, end) for a in active}
    found_count = {a: 0 for a in active}
    while searches:
        # One batched request per bisection step, for every address still searching.
        probes = {a: s.probe() for a, s in searches.items()}
        asks = [(a, p) for a, p in probes.items() if p is not None and (a, p) not in known_at]
        pruned_at: list[tuple[str, int]] = []
        if asks:
            answers = rpc.batch_chunked(
                [("eth_getBalance", (a, hex(p))) for a, p in asks], in_flight=BALANCE_IN_FLIGHT
            )
            for (a, p), answer in zip(asks, answers, strict=True):
                if isinstance(answer, RpcError):
                    pruned_at.append((a, p))  # no state there: handled below
                else:
                    known_at[(a, p)] = quantity(answer, f"balance of {a} at block {p}")
        for a, p in pruned_at:
            # The node has no state at `p` (pruned): search from its earliest state on; what
            # arrived before it is attributed to that block (the jump measured from the ledger).
            earliest = _earliest_state(rpc, a, p, searches[a].hi)
            known_at[(a, earliest - 1)] = ledgers[a].expected(earliest - 1)
            searches[a].lo = earliest - 1
            probes[a] = None
            note = (
                f"the node has no state before block {earliest} (pruned): ETH that arrived unseen "
                f"before it is attributed to block {earliest}"
            )
            if note not in out.notes:
                out.notes.append(note)
        for a, p in probes.items():
            if p is not None:
                searches[a].feed(p, unexplained(a, p))
        done = {a: s.block for a, s in searches.items() if s.probe() is None}
        if not done:
            continue
        traces = tracer.trace(sorted(set(done.values())))
        out.traced_blocks += sum(1 for n in set(done.values()) if traces.get(n) is not None)
        for a, block in done.items():
            lo = searches[a].lo
            jump = unexplained(a, block) - (unexplained(a, lo) if (a, lo) in known_at else 0)
            transfers = [t for t in traces.get(block) or [] if t.recipient == a]
            for t in transfers:
                out.arrivals.append(Arrival(a, block, t.amount, "internal", t.tx_hash, t.position, t.sender))
                ledgers[a].add(block, t.amount)
            rest = remainder(jump, (t.amount for t in transfers))
            if rest:
                out.arrivals.append(Arrival(a, block, rest, "balance"))
                ledgers[a].add(block, rest)
            found_count[a] += 1
            del searches[a]
            if ledgers[a].unexplained(end, out.balances[a]) > 0 and block < end:
                if found_count[a] >= MAX_ARRIVALS:
                    out.skipped[a] = f"more than {MAX_ARRIVALS} unseen arrivals in one pass; the rest waits"
                    continue
                searches[a] = Search(block, end)
    if tracer.mode != "balance" and not tracer.methods and out.arrivals:
        out.notes.append(
            "the node traces neither debug_traceBlockByNumber nor trace_block: "
            "unseen ETH is recorded as via balance"
        )
    out.requests = rpc.requests_sent - before
    return out
