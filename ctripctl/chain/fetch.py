"""Fetch one block range from the node and keep only the credits to watched addresses.

The orchestrator of a scan's reads, all raw JSON-RPC batches over the RpcClient's one
pooled keep-alive httpx client:

1. the blocks, concurrently (chain/blocks.py; or headers plus block receipts in the
   receipts mode, chain/receipts.py), matched against the watched set as they arrive
   (evm/matching.py);
2. once every block request has been answered, the native receipts and the token logs
   (chain/logs.py), or in the receipts mode the native values;
3. the receipts of the transactions with token credits, for each credit's place among
   its transaction's logs — its identity, which a reorg does not shift as it shifts log
   indexes (domain/records.py; the receipts mode has them already).

Raw batches rather than web3.py: web3 would format every field of every transaction
into objects the scanner throws away (docs/scan-pass.md has the measurement).

The result is also checked for consistency: every block's parent hash must be the
previous block's hash (and the first block's parent the checkpoint's hash), and every
log/receipt must come from the block hash we fetched. The range is cut before the first
break (or the first block whose logs could not be read by hash), so a reorg that happens
while fetching never mixes two branches in one pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ctripctl.chain.blocks import BLOCKS_PER_REQUEST, IN_FLIGHT, fetch_blocks, fetching
from ctripctl.chain.logs import receipts_and_token_logs, with_log_positions
from ctripctl.chain.receipts import TX_LOG_POSITION, fetch_receipts, valued_native
from ctripctl.chain.rpc import RpcClient
from ctripctl.domain.records import NATIVE_POSITION, Found, Header
from ctripctl.evm.matching import Watched, native_credits, token_credits


@dataclass
class RangeData:
    """The consistent prefix of a fetched range: its headers (contiguous) and credits."""

    headers: list[Header] = field(default_factory=list)
    credits: list[Found] = field(default_factory=list)

    @property
    def last(self) -> Header | None:
        return self.headers[-1] if self.headers else None


Progress = Callable[[int], None]


def fetch_range(
    rpc: RpcClient,
    start: int,
    end: int,
    watched: Watched | Callable[[], Watched],
    *,
    parent_hash: str | None = None,
    by_hash_from: int | None = None,
    blocks_per_request: int = BLOCKS_PER_REQUEST,
    in_flight: int = IN_FLIGHT,
    progress: Progress | None = None,
    source: str = "blocks",
    other_assets: Sequence[str] | None = None,
) -> RangeData:
    """Blocks `start..end` (inclusive): headers plus the credits to `watched` addresses.

    `watched` may be a function: it is then called once the block requests are in
    flight, so reading the watched set (and importing what that needs) overlaps the
    node's work instead of delaying it. Block workers therefore keep every native
    transfer with value > 0 (a few compact tuples per block) and the matching against
    `watched` happens here, once it is known.

    `by_hash_from`: the token logs of blocks from this number on are read by block hash
    (the blocks that can still change; chain/logs.py says why); None: all as one range.

    `source="receipts"` (chain config `scan_source`): per block, its header and
    eth_getBlockReceipts instead of the full transactions. Receipts carry sender,
    recipient, status and the token logs (so no eth_getLogs and no receipt round trip),
    but not the value: the few native matches are read with eth_getTransactionByHash.
    Cheaper for anvil, dearer on paid providers: "blocks" stays the default.

    `other_assets`: the chain's configured tokens (lowercase). Given, deposits in another
    asset than their payment's are kept too, with `counted=False` (evm/matching.py): ETH
    to a token payment's address, and these tokens' logs to every watched address.
    """
    if end < start:
        return RangeData()
    headers: dict[int, Header] = {}
    candidates: list[Found] = []
    logs: list[dict[str, Any]] = []
    worker = fetch_receipts if source == "receipts" else fetch_blocks
    with fetching(
        rpc, worker, start, end, blocks_per_request=blocks_per_request, in_flight=in_flight
    ) as answers:
        if callable(watched):
            watched = watched()
        for chunk_headers, natives, chunk_logs in answers:
            for header in chunk_headers:
                headers[header.number] = header
            candidates.extend(native_credits(natives, watched, other_assets=other_assets is not None))
            logs.extend(chunk_logs)
            if progress is not None:
                progress(len(chunk_headers))
    chain = _consistent_prefix(start, end, headers, parent_hash)
    hashes = {h.number: h.hash for h in chain}
    in_chain = [c for c in candidates if c.block_number in hashes]
    unreadable: int | None = None
    if source == "receipts":
        credits = valued_native(rpc, in_chain)
    else:
        # Only once every header is in: range logs then describe a state at least as new
        # as the headers. A credit on the headers' branch that the logs miss (logs read
        # from an older branch, tip served from a newer one) could otherwise be skipped
        # for good; a log from a newer branch shows as a block-hash mismatch (cut below).
        tokens = sorted({w.token_address for w in watched.values() if w.token_address is not None})
        token_targets = sorted(a for a, w in watched.items() if w.token_address is not None)
        if other_assets is not None and other_assets:
            tokens = sorted({*tokens, *other_assets})
            token_targets = sorted(watched)
        credits, token_logs, unreadable = receipts_and_token_logs(
            rpc, in_chain, chain, start, end, tokens, token_targets, by_hash_from
        )
        logs.extend(token_logs)
    credits = [replace(c, tx_log_position=NATIVE_POSITION) for c in credits]
    credits += _placed(token_credits(logs, watched, other_assets=set(other_assets or ())), logs)
    # Anything that does not come from the block we fetched at that height belongs to
    # another branch, and a block whose logs could not be read by its hash is unknown:
    # cut the range below it.
    chain, credits = _cut(chain, credits, unreadable)
    # Each token credit's place among its transaction's logs (its identity): from the
    # transaction's receipt, asked only for the credits kept; a receipt of another block
    # cuts the range again.
    chain, credits = _cut(chain, with_log_positions(rpc, credits), None)
    credits.sort(key=lambda c: (c.block_number, c.tx_hash, c.log_index))
    return RangeData(headers=chain, credits=credits)


def _cut(
    chain: list[Header], credits: list[Found], unreadable: int | None
) -> tuple[list[Header], list[Found]]:
    """Cut the range below the first block whose credits (or logs) do not belong to it."""
    hashes = {h.number: h.hash for h in chain}
    breaks = [c.block_number for c in credits if hashes.get(c.block_number, c.block_hash) != c.block_hash]
    if unreadable is not None:
        breaks.append(unreadable)
    cut = min(breaks, default=None)
    if cut is not None:
        chain = [h for h in chain if h.number < cut]
        hashes = {h.number: h.hash for h in chain}
    return chain, [c for c in credits if c.block_number in hashes]


def _placed(credits: list[Found], logs: list[dict[str, Any]]) -> list[Found]:
    """Token credits with the position their log carries (logs from receipts do, see
    chain/receipts.py); the others keep None and are placed from their receipt."""
    positions = {
        (log["transactionHash"], int(log["logIndex"], 16)): log[TX_LOG_POSITION]
        for log in logs
        if TX_LOG_POSITION in log
    }
    return [replace(c, tx_log_position=positions.get((c.tx_hash, c.log_index))) for c in credits]


def _consistent_prefix(
    start: int, end: int, headers: Mapping[int, Header], parent_hash: str | None
) -> list[Header]:
    """The longest run start, start+1, … whose parent hashes link up (to `parent_hash` first)."""
    chain: list[Header] = []
    expected_parent = parent_hash
    for number in range(start, end + 1):
        header = headers.get(number)
        if header is None:
            break
        if expected_parent is not None and header.parent_hash != expected_parent:
            break
        chain.append(header)
        expected_parent = header.hash
    return chain
