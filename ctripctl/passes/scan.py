"""One bounded scan pass of one chain: lock, check for reorgs, fetch, record, report.

    scan(config, "eth")                      # one pass of at most block_batch_size blocks
    scan(config, "eth", batches=10)          # up to 10 passes, stopping once caught up
    scan(config, "eth", from_block=N)        # operator rescan: rewind the checkpoint to N−1

A pass, under the chain's scan lock (db/locks.py; a second pass gets Busy):

1. read the checkpoint (before the first pass: start_block − 1) and ask the node for
   its head and its hash of the checkpoint block, in one request;
2. if the hashes differ, a reorg: walk the stored recent hashes (scanned_blocks) down to
   the highest one the node still agrees with — the common ancestor — and scan from
   there; transfers above it are orphaned in the pass's transaction (a node whose head
   is below the checkpoint is merely behind — a lagging failover URL — not reorganised:
   that pass scans nothing and orphans nothing; a node that answers no block (null) at a
   height at or below its head is unavailable — exit 5, nothing written — not a reorg:
   only another hash at that height is one);
3. read the watched addresses (AFTER the head: a payment created later cannot have been
   paid in a block at or below that head, so no credit can slip between the two reads),
   late windows measured against the block time of the block the range starts from, and
   each new credit against its own block's time (never the wall clock: a scanner down for
   longer than `late_window`, or a rescan of old blocks, still records what came in time);
4. fetch ancestor/checkpoint+1 .. min(+block_batch_size, head) with no database
   transaction open (chain/fetch.py);
5. record everything in ONE transaction that compare-and-sets the checkpoint
   (db/scan_store.py).

Start-up order matters for a cron-run process: on a SQLite file the lock (a file) and
the checkpoint (stdlib sqlite3) need no SQLAlchemy, so the block requests go out first
and SQLAlchemy, the models and the watched set load while the node answers (step 3 is
called by fetch_range once the requests are in flight — still after the head).

`--from-block N` (a rescan) moves the checkpoint back to N − 1 and scans forward from
there: credits already recorded are left alone (unique per chain, tx and place among the
transaction's logs), only missing ones are inserted, a credit whose transaction moved to
another block is moved with it, and a recorded transfer whose block is no longer on the
chain is orphaned — also one above the node's head once the rescan reaches that head
(a reset node, another network: its chain is shorter than our records) — so a rescan
never counts anything twice, nor keeps counting what vanished.

Node failures surface as NodeUnavailable (exit 5) before the write transaction, so the
checkpoint is untouched.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ctripctl.errors import InputError, NodeUnavailable, RuleError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from ctripctl.chain.rpc import RpcClient
    from ctripctl.config import ChainConfig, Config
    from ctripctl.db.checkpoint import Checkpoint
    from ctripctl.db.session import Database
    from ctripctl.domain.records import Found, Header, Watch

#: Called with (blocks fetched so far, blocks in this pass's range) while fetching.
ProgressFn = Callable[[int, int], None]

#: Blocks beyond the confirmation depth still treated as able to change: their token logs
#: are read by block hash (chain/logs.py says why). The hashes kept to walk a reorg back
#: are a separate, wider window: the chain's `reorg_window` (default confirmations + 64).
HASH_MARGIN = 16


@dataclass(frozen=True)
class PassResult:
    """What one pass (or, combined, several) did; `to_json()` is the --json document."""

    chain: str
    from_block: int | None  # None when no block was scanned
    to_block: int | None
    checkpoint: int
    head: int
    blocks_scanned: int
    transfers_found: int
    transfers_orphaned: int
    payments_updated: int
    events: int
    reorg_depth: int
    lag: int
    elapsed_s: float
    rpc_requests: int
    passes: int = 1

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def scan(
    config: Config,
    chain_name: str,
    *,
    batches: int = 1,
    from_block: int | None = None,
    progress: ProgressFn | None = None,
    engine: Engine | None = None,
) -> PassResult:
    """Run up to `batches` passes, stopping early once caught up with the head or after
    a pass that scanned no block (the node is behind, or the range was cut at its first
    block, e.g. a block near the head not readable by hash yet): an immediate retry
    rarely helps, the next cron run tries again."""
    from ctripctl.chain.rpc import RpcClient
    from ctripctl.db.locks import scan_lock
    from ctripctl.db.session import Database

    if batches < 1:
        raise InputError("--batches must be at least 1")
    if from_block is not None and from_block < 0:
        raise InputError("--from-block must be 0 or more")
    chain = config.chain(chain_name)
    # On a SQLite file, the lock and the checkpoint need no engine: the block requests
    # go out before SQLAlchemy is imported (db/checkpoint.py says why that matters).
    database = Database(config.database_url, engine)
    started = time.perf_counter()
    results: list[PassResult] = []
    with scan_lock(database, chain.name), _client(RpcClient, chain) as rpc:
        for index in range(batches):
            rescan_from = from_block if index == 0 else None
            run = functools.partial(
                one_pass, database, rpc, chain, config, progress=progress, rescanning=from_block is not None
            )
            try:
                result = run(rescan_from=rescan_from)
            except _MixedSources:  # redo once, every request now on the URL that answers
                logging.getLogger("ctripctl.scan").warning(
                    "chain %s: the node changed mid-pass (failover to %s); redoing the pass on it",
                    chain.name,
                    rpc.active_url,
                )
                try:
                    result = run(rescan_from=rescan_from)
                except _MixedSources:  # failed over again: still two nodes' answers; record nothing
                    raise NodeUnavailable(
                        f"chain {chain.name}: the node changed twice during one pass "
                        f"(now {rpc.active_url}); nothing was recorded, retry later"
                    ) from None
            results.append(result)
            if result.lag == 0 or result.blocks_scanned == 0:
                break
    return combine(results, time.perf_counter() - started)


class _MixedSources(Exception):
    """The fetch was answered by more than one node; nothing was written; redo the pass."""


def _client(factory: type[RpcClient], chain: ChainConfig) -> RpcClient:
    return factory(chain.rpc_urls, chain_id=chain.chain_id, timeout=chain.rpc_timeout.total_seconds())


def one_pass(
    database: Database,
    rpc: RpcClient,
    chain: ChainConfig,
    config: Config,
    *,
    rescan_from: int | None = None,
    rescanning: bool = False,
    progress: ProgressFn | None = None,
    strict: bool = True,
) -> PassResult:
    """One pass; the caller holds the chain's scan lock.

    `rescanning`: this pass belongs to a `--from-block` run (the first pass or a later one
    of its --batches): if it reaches the node's head, credits recorded above that head are
    orphaned (see the module docstring).

    `strict`: raise _MixedSources (before writing anything) when the client failed over
    to another URL while fetching. Two nodes at different heights can give a consistent
    looking but incomplete answer — blocks from one, eth_getLogs from another that has
    not seen the last blocks yet — and the checkpoint would then move past missed credits.
    The caller redoes the pass once, every request then on one URL; if the client fails
    over again during that redo, the caller gives up (NodeUnavailable) instead of recording.
    """
    from ctripctl.chain.fetch import fetch_range
    from ctripctl.db.checkpoint import read_checkpoint

    started = time.perf_counter()
    requests_before = rpc.requests_sent
    old = read_checkpoint(database, chain.name, chain.start_block)
    base, base_hash = old.last_block, old.hash
    if rescan_from is not None:
        if rescan_from > old.last_block + 1:
            raise InputError(
                f"--from-block {rescan_from} is past the next block to scan ({old.last_block + 1}); "
                "a rescan can only go back"
            )
        base, base_hash = rescan_from - 1, None
        _warn_above_deep_reorg(database, chain, rescan_from)

    # The block the range starts from: its hash is compared with the checkpoint's, and its
    # time bounds the range's block times from below (the late window, read_watched).
    probe = max(base, 0)
    head, block = _head_and_block(rpc, probe)
    failovers = rpc.failovers  # from here on, every answer must come from this one node
    reorg_depth = 0
    orphan_above = None
    if head < base:
        # The node is behind our checkpoint (a lagging failover URL, a node resyncing):
        # that is no evidence of a reorg, so nothing is orphaned; the pass scans nothing
        # and the next pass compares hashes once the node has caught up.
        logging.getLogger("ctripctl.scan").warning(
            "chain %s: node head %d is behind the checkpoint %d; nothing scanned", chain.name, head, base
        )
    elif block is None:
        # The node's head is at or past that block, yet it has no block there: a
        # load-balanced backend that is behind, or a node still syncing. No evidence of a
        # reorg (only another hash at that height is): orphan nothing, record nothing.
        what = "the checkpoint" if base_hash is not None else "the block before the range"
        raise NodeUnavailable(
            f"chain {chain.name}: the node ({rpc.active_url}) reports head {head} but has no block "
            f"{probe} ({what}); nothing was recorded, retry later"
        )
    elif base_hash is not None and block["hash"] != base_hash:
        # Another hash at the checkpoint's height: a reorg. Walk back to the common
        # ancestor (or, deeper than the kept hashes, stop: RuleError, status deep_reorg).
        ancestor, ancestor_hash, block = _common_ancestor(database.engine, rpc, chain, old, datetime.now(UTC))
        reorg_depth = base - ancestor
        base, base_hash, orphan_above = ancestor, ancestor_hash, ancestor

    now = datetime.now(UTC)
    # Block times never go back, so no block of the range is older than this one: payments
    # whose late window ends before it cannot be credited in the range (read_watched).
    # Measured with block times, not the clock: a scanner that was down for longer than
    # the window, or a rescan of old blocks, still records what arrived in time.
    as_of = datetime.fromtimestamp(int(block["timestamp"], 16), UTC) if block else now
    # Every pass (not only a rescan's first): payments with a live credit in or above this
    # range are watched too, so a credit re-mined elsewhere in the range is found again
    # even if its payment is no longer receiving (e.g. confirmed). After a reorg base is
    # the common ancestor, so this is orphan_above + 1. In a normal pass nothing is
    # recorded above the checkpoint, so this adds nothing to the watched set.
    recorded_from = base + 1

    watching: dict[str, Watch] = {}

    def watched() -> dict[str, Watch]:
        # Called by fetch_range once the block requests are in flight: importing the ORM
        # and reading the watched set overlap the node's work. Read AFTER the head.
        from ctripctl.db.scan_store import read_watched

        watching.update(
            read_watched(database.engine, chain.name, as_of, config.late_window, recorded_from=recorded_from)
        )
        return watching

    start, end = base + 1, min(base + chain.block_batch_size, head)
    unsettled = chain.confirmations + HASH_MARGIN  # the top blocks that can still change
    total = max(0, end - start + 1)
    done = 0

    def advance(blocks: int) -> None:
        nonlocal done
        done += blocks
        if progress is not None:
            progress(done, total)

    data = fetch_range(
        rpc,
        start,
        end,
        watched,
        parent_hash=base_hash,
        by_hash_from=head - unsettled + 1,
        progress=advance,
        source=chain.scan_source,
        other_assets=[t.address.lower() for t in chain.tokens.values()],
    )
    credits, balances = _every_coin(chain, rpc, database, data.headers, data.credits, watching)
    if strict and rpc.failovers != failovers:
        raise _MixedSources
    from ctripctl.db import scan_store

    recorded = scan_store.record_pass(
        database.engine,
        chain=chain.name,
        old=old,
        base=base,
        base_hash=base_hash,
        headers=data.headers,
        credits=credits,
        orphan_above=orphan_above,
        head=head,
        keep=chain.hashes_kept,
        now=now,
        late_window=config.late_window,
        # The chain was checked against the node (the checkpoint's hash matched, a reorg
        # was walked back, or a rescan): a deep reorg recorded before is resolved.
        verified=head >= base,
        # A rescan that reached the node's head: the operator asked to trust this node's
        # chain, and it ends there — credits recorded above it (a reset node, another
        # network) are off it. (A regular pass never concludes that: a node whose head is
        # below our records is more likely behind; its later passes check those blocks.)
        vanished_above=head if rescanning and data.last is not None and data.last.number == head else None,
        balances=balances,
    )
    checkpoint = data.last.number if data.last else base
    return PassResult(
        chain=chain.name,
        from_block=start if data.headers else None,
        to_block=checkpoint if data.headers else None,
        checkpoint=checkpoint,
        head=head,
        blocks_scanned=len(data.headers),
        transfers_found=recorded.transfers_found,
        transfers_orphaned=recorded.transfers_orphaned,
        payments_updated=recorded.payments_updated,
        events=recorded.events,
        reorg_depth=reorg_depth,
        lag=max(0, head - checkpoint),
        elapsed_s=round(time.perf_counter() - started, 3),
        rpc_requests=rpc.requests_sent - requests_before,
    )


def _warn_above_deep_reorg(database: Database, chain: ChainConfig, rescan_from: int) -> None:
    """A rescan that starts above the block a deep reorg asked for leaves the blocks
    between as they were recorded (credits of the abandoned branch among them): say so."""
    from ctripctl.db.scan_store import read_deep_reorg

    needed = read_deep_reorg(database.engine, chain.name)
    if needed is not None and rescan_from > needed:
        logging.getLogger("ctripctl.scan").warning(
            "chain %s: the deep reorg needs a rescan from block %d; --from-block %d leaves blocks "
            "%d..%d as they were recorded (credits no longer on the chain stay counted)",
            chain.name,
            needed,
            rescan_from,
            needed,
            rescan_from - 1,
        )


def _every_coin(
    chain: ChainConfig,
    rpc: RpcClient,
    database: Database,
    headers: Sequence[Header],
    found: Sequence[Found],
    watched: Mapping[str, Watch],
) -> tuple[list[Found], dict[str, int] | None]:
    """The range's credits, completed: deposits in another asset carry that asset's symbol
    and decimals; ETH our own transactions sent (a gas top-up from the tank, to a token
    deposit or to a native one holding a token in the wrong asset) is no customer's
    deposit; and (unless `internal_transfers = "off"`) ETH that reached a watched address
    — a native payment's, or a token payment's (a deposit in the wrong asset) — from
    inside a contract call, or with no transaction at all, found by balance
    reconciliation over the range (chain/internal.py). Explained first by the credits just
    found (our own top-ups among them) and by our own transactions: sweeps sent from those
    addresses (their gas and value), and the EIP-7702 authorizations they signed for our
    sponsored batches and clearings (nonce moves without a transaction of theirs).

    Also returns the watched addresses' balances at the range's end (None: not read), for
    the pass to keep with its checkpoint: the next pass starts from them (one balance
    read per address instead of two)."""
    from dataclasses import replace

    from ctripctl.config import NATIVE_DECIMALS
    from ctripctl.db.scan_store import read_own_hashes
    from ctripctl.evm.matching import arrival_credits

    by_address = {t.address.lower(): t for t in chain.tokens.values()}

    def labelled(c: Found) -> Found:
        """A deposit in another asset carries that asset's symbol and decimals."""
        if c.counted:
            return c
        token = by_address.get(c.token_address or "")
        symbol, decimals = (token.symbol, token.decimals) if token else (None, NATIVE_DECIMALS)
        return replace(c, symbol=symbol, decimals=decimals)

    # Our own sends are recognised by their hash: every transaction the sweep signs is
    # recorded (sweeps table) before it is broadcast, so it is known before any scan sees it.
    native = [c.tx_hash for c in found if c.token_address is None]
    own = read_own_hashes(database.engine, chain.name, native) if native else set()
    credits: list[Found] = []
    ours: list[Found] = []  # top-level ETH from our own transactions: explained, not credited
    for c in found:
        if c.token_address is None and c.tx_hash.lower() in own:
            ours.append(c)
            continue
        credits.append(labelled(c))
    if chain.internal_transfers == "off" or not headers or not watched:
        return credits, None
    from ctripctl.chain.internal import own_outgoing, reconcile
    from ctripctl.db.scan_store import read_balances, read_own_authorizations, read_own_sends

    start, end = headers[0].number, headers[-1].number
    addresses = sorted(watched)
    known: dict[str, list[tuple[int, int]]] = {}
    for c in [*credits, *ours]:
        if c.token_address is None:
            known.setdefault(c.to_address, []).append((c.block_number, c.amount))
    payment_ids = [w.payment_id for w in watched.values()]
    outgoing, _ = own_outgoing(
        rpc,
        read_own_sends(database.engine, chain.name, payment_ids, start),
        read_own_authorizations(database.engine, chain.name, payment_ids, start),
    )
    sent: dict[str, int] = {}  # our own nonce moves of each address within the range
    for address, changes in outgoing.items():
        inside = [(b, w) for b, w in changes if start <= b <= end]
        known.setdefault(address, []).extend(inside)
        sent[address] = len(inside)
    kept = read_balances(database.engine, chain.name, start - 1)
    bases = {a: kept[a] for a in addresses if a in kept}
    result = reconcile(
        rpc, start, end, addresses, known, mode=chain.internal_transfers, bases=bases, sent=sent
    )
    log = logging.getLogger("ctripctl.scan")
    for note in result.notes:
        log.warning("chain %s: %s", chain.name, note)
    for address, why in sorted(result.skipped.items()):
        log.warning(
            "chain %s: ETH on %s not reconciled in blocks %d..%d: %s", chain.name, address, start, end, why
        )
    hashes = {h.number: h.hash for h in headers}
    arrivals = [labelled(c) for c in arrival_credits(result.arrivals, hashes, watched)]
    return credits + arrivals, result.balances


def _head_and_block(rpc: RpcClient, number: int) -> tuple[int, dict[str, Any] | None]:
    """The node's head, and its block `number` (None: it has none), in one request."""
    from ctripctl.chain.rpc import RpcError
    from ctripctl.errors import NodeUnavailable

    results = rpc.batch([("eth_blockNumber", ()), ("eth_getBlockByNumber", (hex(number), False))])
    for result in results:
        if isinstance(result, RpcError):
            raise NodeUnavailable(f"the node refused {result.method}: {result.message}")
    return int(results[0], 16), results[1] or None


def _common_ancestor(
    engine: Engine, rpc: RpcClient, chain: ChainConfig, old: Checkpoint, now: datetime
) -> tuple[int, str, dict[str, Any]]:
    """The highest stored block at or below the checkpoint whose hash the node still has
    (number, hash, the node's block).

    The stored hashes (the last `reorg_window` scanned blocks) are compared newest first,
    CALLS_PER_REQUEST per request — providers cap a batch near 50-100 calls — and the walk
    stops at the first match, so a shallow reorg costs one request. When none matches, the
    reorg is deeper than the window: see `_deep_reorg`."""
    from ctripctl.chain.logs import CALLS_PER_REQUEST
    from ctripctl.db.scan_store import read_recent_blocks

    below = old.last_block
    stored = read_recent_blocks(engine, chain.name, below)
    for i in range(0, len(stored), CALLS_PER_REQUEST):
        chunk = stored[i : i + CALLS_PER_REQUEST]
        answers = rpc.batch([("eth_getBlockByNumber", (hex(n), False)) for n, _ in chunk])
        for (number, stored_hash), block in zip(chunk, answers, strict=True):
            _check_block(rpc, chain, number, block)
            if block["hash"] == stored_hash:
                return number, stored_hash, block
    lowest = stored[-1][0] if stored else below
    raise _deep_reorg(engine, rpc, chain, old, lowest, now)


def _check_block(rpc: RpcClient, chain: ChainConfig, number: int, block: Any) -> None:
    """A block the node must have (at or below its head): an error or null is NodeUnavailable."""
    from ctripctl.chain.rpc import RpcError

    if isinstance(block, RpcError):
        raise NodeUnavailable(f"eth_getBlockByNumber({number}) failed: {block.message}")
    if block is None:  # below the head it reported: a node behind, not a reorg
        raise NodeUnavailable(
            f"chain {chain.name}: the node ({rpc.active_url}) has no block {number} while "
            "looking for the common ancestor of a reorg; nothing was recorded, retry later"
        )


#: Recorded credit blocks below the kept hashes asked for, newest first (at most
#: DEEP_EVIDENCE / CALLS_PER_REQUEST requests) when a reorg is deeper than the window.
DEEP_EVIDENCE = 500


def _deep_reorg(
    engine: Engine, rpc: RpcClient, chain: ChainConfig, old: Checkpoint, lowest: int, now: datetime
) -> RuleError:
    """The error for a reorg deeper than the kept hashes, with the exact rescan command.

    The common ancestor lies below every kept hash, where only the blocks of recorded
    credits are known. The highest of those (live ones: on the branch this database
    followed) that the node still has proves both chains agree up to it, so a rescan from
    the block after it covers everything the reorg can have changed; without one, the
    rescan starts at `start_block`. The condition is recorded on the chain's row in a
    short transaction (`status` raises deep_reorg) and nothing else is written."""
    from ctripctl.chain.logs import CALLS_PER_REQUEST
    from ctripctl.db.scan_store import read_credit_blocks, record_deep_reorg

    known = read_credit_blocks(engine, chain.name, lowest, DEEP_EVIDENCE)
    agreed: int | None = None
    for i in range(0, len(known), CALLS_PER_REQUEST):
        chunk = known[i : i + CALLS_PER_REQUEST]
        answers = rpc.batch([("eth_getBlockByNumber", (hex(n), False)) for n, _ in chunk])
        for (number, recorded_hash), block in zip(chunk, answers, strict=True):
            _check_block(rpc, chain, number, block)
            if block["hash"] == recorded_hash:
                agreed = number
                break
        if agreed is not None:
            break
    from_block = agreed + 1 if agreed is not None else chain.start_block
    why = (
        f"block {agreed}, of a recorded credit, is the highest earlier block the node still has"
        if agreed is not None
        else "no earlier block is known to match the node: from the chain's start_block"
    )
    record_deep_reorg(engine, chain.name, old.last_block, from_block, now)
    return RuleError(
        f"chain {chain.name!r} reorganised deeper than the {chain.hashes_kept} block hashes kept "
        f"(reorg_window; none of blocks {lowest}..{old.last_block} matches the node); nothing was "
        f"recorded and the scan stops here. Check that the node is on the right network, then run "
        f"`ctripctl scan --chain {chain.name} --from-block {from_block}` ({why})"
    )


def combine(results: list[PassResult], elapsed: float) -> PassResult:
    """Summarise several passes as one document (first range start to last range end)."""
    if len(results) == 1:
        return results[0]
    scanned = [r for r in results if r.blocks_scanned]
    last = results[-1]
    return PassResult(
        chain=last.chain,
        from_block=scanned[0].from_block if scanned else None,
        to_block=scanned[-1].to_block if scanned else None,
        checkpoint=last.checkpoint,
        head=last.head,
        blocks_scanned=sum(r.blocks_scanned for r in results),
        transfers_found=sum(r.transfers_found for r in results),
        transfers_orphaned=sum(r.transfers_orphaned for r in results),
        payments_updated=sum(r.payments_updated for r in results),
        events=sum(r.events for r in results),
        reorg_depth=max(r.reorg_depth for r in results),
        lag=last.lag,
        elapsed_s=round(elapsed, 3),
        rpc_requests=sum(r.rpc_requests for r in results),
        passes=len(results),
    )
