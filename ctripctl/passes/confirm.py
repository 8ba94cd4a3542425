"""One bounded confirm pass of one chain: head, depth, canonical check, record.

    confirm(config, "eth")                   # what `ctripctl confirm --chain eth` runs
    confirm(config, "eth", now=t)            # tests move the clock, never sleep

A pass:

1. ask the node for its head (`eth_blockNumber`); with `finality = "finalized"` also
   for the `finalized` block, in the same request. The deepest confirmable block is
   head − confirmations + 1 (lifecycle.deepest_confirmable), or the finalized block;
2. read the `seen` transfers at or below it (db/confirm_store.py; at most
   CANDIDATE_LIMIT, oldest first, so the pass stays bounded);
3. re-check, in one JSON-RPC batch per BLOCKS_PER_REQUEST blocks (one request in
   practice), that each candidate's block hash is still the node's block at that
   height: a credit a reorg removed must never be confirmed. A block the node does not
   have (e.g. after failing over to a node that lags) is not judged: the transfer stays
   `seen` for the next pass rather than being orphaned on a guess;
4. record everything in one transaction: confirmations, orphanings, expiries, status
   recomputation and outbox events, the head and `last_confirm_at`.

No network call happens with a transaction open, and nothing is written before the
node has answered: an unreachable node is NodeUnavailable (exit 5) with nothing changed.
There is no pass-long lock: every write is a compare-and-set under short row locks (see
db/confirm_store.py), so two passes at once are harmless and never report "busy".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ctripctl.errors import NodeUnavailable

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from ctripctl.chain.rpc import RpcClient
    from ctripctl.config import ChainConfig, Config
    from ctripctl.db.confirm_store import Candidate

#: Seen transfers judged per pass; the rest wait for the next pass.
CANDIDATE_LIMIT = 5_000
#: Block-hash checks per JSON-RPC batch. Public providers cap batches (some at 100 calls);
#: a pass usually checks a handful of blocks, so this is one request in practice.
BLOCKS_PER_REQUEST = 100


@dataclass(frozen=True)
class ConfirmResult:
    """What one pass did; `to_json()` is the --json document."""

    chain: str
    head: int
    confirmed: int
    expired: int
    orphaned: int
    payments_updated: int
    #: Seen credits not deep enough yet (why a pass may confirm nothing), the block the
    #: first of them is in, and the depth that confirms (None: the finalized tag decides,
    #: then `confirmable_upto` is the node's finalized block).
    waiting: int = 0
    waiting_from_block: int | None = None
    required_depth: int | None = None
    confirmable_upto: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def confirm(
    config: Config,
    chain_name: str,
    *,
    now: datetime | None = None,
    engine: Engine | None = None,
    rpc: RpcClient | None = None,
) -> ConfirmResult:
    """Run one confirm pass of `chain_name` (InputError if it is not configured)."""
    from ctripctl.chain.rpc import RpcClient
    from ctripctl.db.session import get_existing_engine

    chain = config.chain(chain_name)
    engine = engine or get_existing_engine(config.database_url)
    if rpc is not None:
        return one_pass(engine, rpc, chain, now=now)
    with RpcClient(
        chain.rpc_urls, chain_id=chain.chain_id, timeout=chain.rpc_timeout.total_seconds()
    ) as client:
        return one_pass(engine, client, chain, now=now)


def one_pass(
    engine: Engine, rpc: RpcClient, chain: ChainConfig, *, now: datetime | None = None
) -> ConfirmResult:
    """One pass with a given engine and client (the library entry point tests use)."""
    from ctripctl.db import confirm_store
    from ctripctl.domain.lifecycle import deepest_confirmable

    head, finalized = read_head(rpc, finalized=chain.finality == "finalized")
    upto = finalized if finalized is not None else deepest_confirmable(head, chain.confirmations)
    candidates = confirm_store.read_candidates(engine, chain.name, upto, CANDIDATE_LIMIT) if upto >= 0 else []
    verdicts = check_canonical(rpc, candidates)
    # The clock is read after the node answered: expiry is judged at commit time.
    recorded = confirm_store.record_confirm(
        engine, chain=chain.name, head=head, verdicts=verdicts, now=now or datetime.now(UTC)
    )
    waiting, waiting_from = confirm_store.read_waiting(engine, chain.name, upto)
    return ConfirmResult(
        chain=chain.name,
        head=head,
        confirmed=recorded.confirmed,
        expired=recorded.expired,
        orphaned=recorded.orphaned,
        payments_updated=recorded.payments_updated,
        waiting=waiting,
        waiting_from_block=waiting_from,
        required_depth=chain.confirmations if finalized is None else None,
        confirmable_upto=upto,
    )


def read_head(rpc: RpcClient, *, finalized: bool) -> tuple[int, int | None]:
    """The node's head and (when asked) its finalized block number, in one request."""
    from ctripctl.chain.rpc import RpcError

    calls: list[tuple[str, tuple[Any, ...]]] = [("eth_blockNumber", ())]
    if finalized:
        calls.append(("eth_getBlockByNumber", ("finalized", False)))
    results = rpc.batch(calls)
    for result in results:
        if isinstance(result, RpcError):
            hint = (
                ' (set finality = "confirmations" for this chain)'
                if result.method != "eth_blockNumber"
                else ""
            )
            raise NodeUnavailable(f"the node refused {result.method}: {result.message}{hint}")
    head = int(results[0], 16)
    if not finalized:
        return head, None
    block = results[1]
    if not block:
        raise NodeUnavailable("the node has no finalized block yet; nothing can be confirmed by finality")
    return head, int(block["number"], 16)


def check_canonical(rpc: RpcClient, candidates: list[Candidate]) -> dict[int, tuple[Candidate, bool]]:
    """transfer id → (candidate, still canonical?) for each candidate the node could judge."""
    from ctripctl.chain.rpc import RpcError

    numbers = sorted({c.block_number for c in candidates})
    canonical: dict[int, str] = {}
    for i in range(0, len(numbers), BLOCKS_PER_REQUEST):
        chunk = numbers[i : i + BLOCKS_PER_REQUEST]
        answers = rpc.batch([("eth_getBlockByNumber", (hex(n), False)) for n in chunk])
        for number, block in zip(chunk, answers, strict=True):
            if isinstance(block, RpcError):
                raise NodeUnavailable(f"eth_getBlockByNumber({number}) failed: {block.message}")
            if block is not None and int(block["number"], 16) == number:
                canonical[number] = block["hash"].lower()
    return {
        c.id: (c, canonical[c.block_number] == c.block_hash.lower())
        for c in candidates
        if c.block_number in canonical
    }
