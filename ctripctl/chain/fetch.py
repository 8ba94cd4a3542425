"""Fetch one block range from the node and keep only the credits to watched addresses.

Two kinds of requests, all raw JSON-RPC batches over the RpcClient's one pooled
keep-alive httpx client:

* blocks with full transactions, `blocks_per_request` blocks per HTTP request and
  `in_flight` requests at once (a small thread pool; the work is I/O plus JSON decoding,
  and each batch is reduced to its headers and matches as soon as it arrives, so memory
  stays bounded by the requests in flight, not by the range);
* once every block request has been answered, requests of at most CALLS_PER_REQUEST
  calls, one after another (usually one; more in a catch-up pass that reaches the head,
  or to split a refused range): the receipts of the native matches, so a
  reverted transaction is never counted (status must be 0x1), and `eth_getLogs` for the
  ERC-20 Transfer topic of the configured tokens with the watched addresses in topic 2
  — in chunks of `ADDRESS_CHUNK` addresses, or, above `FETCH_ALL_THRESHOLD` addresses,
  all Transfer logs of those tokens filtered locally.
  Blocks deeper than `by_hash_from` are read as one block range: sent after the headers,
  those logs describe a state at least as new as the headers, and when the node answers
  that a range is too large or has too many results, it is split in halves until it
  passes. Blocks from `by_hash_from` on (the ones that can still change: within the
  confirmation depth plus a margin) are read by block hash (EIP-234 `blockHash`), one
  call per block beside `eth_getBlockByHash`, so their logs are the logs of exactly the
  header fetched. A range query cannot promise that: a load-balanced provider may
  answer it from a backend a few blocks behind (which returns the logs up to ITS head
  and nothing for the rest, without an error), or from a node that left the headers'
  branch and came back to it (B → C → B); the checkpoint would then move past a credit
  that no later pass looks for. A node that does not know the hash says so (an error,
  or no block): the range is cut before that block and the next pass reads it again.
  The window is counted in blocks: a backend further behind than it still goes unseen.

Measured (benchmarks/bench_scan.py): these raw batches beat web3.py's `batch_requests()`
over the same blocks, because web3 formats every field of every transaction of every
block into AttributeDicts that the scanner would throw away.

Matching is a dict lookup per transaction / log (`watched[to]`), so the cost per block
does not grow with the number of open payments. A credit counts only when its asset is
the payment's asset: ETH sent to a USDT payment's address (or another token) is noise.

The result is also checked for consistency: every block's parent hash must be the
previous block's hash (and the first block's parent the checkpoint's hash), and every
log/receipt must come from the block hash we fetched. The range is cut before the first
break (or the first block whose logs could not be read by hash), so a reorg that happens
while fetching never mixes two branches in one pass.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from typing import Any

from ctripctl.chain.rpc import Call, RpcClient, RpcError, is_range_error
from ctripctl.domain.records import Found, Header, Watch
from ctripctl.errors import NodeUnavailable

TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
BLOCKS_PER_REQUEST = 50
IN_FLIGHT = 4
ADDRESS_CHUNK = 500  # addresses per eth_getLogs topic-2 list (providers cap OR-lists near 1,000)
FETCH_ALL_THRESHOLD = 2_000  # above this, fetch all Transfer logs of the tokens and filter here
CALLS_PER_REQUEST = BLOCKS_PER_REQUEST  # receipts + logs calls per request: the same batch cap
NATIVE = None


@dataclass
class RangeData:
    """The consistent prefix of a fetched range: its headers (contiguous) and credits."""

    headers: list[Header] = field(default_factory=list)
    credits: list[Found] = field(default_factory=list)

    @property
    def last(self) -> Header | None:
        return self.headers[-1] if self.headers else None


Progress = Callable[[int], None]


Watched = Mapping[str, Watch]


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
) -> RangeData:
    """Blocks `start..end` (inclusive): headers plus the credits to `watched` addresses.

    `watched` may be a function: it is then called once the block requests are in
    flight, so reading the watched set (and importing what that needs) overlaps the
    node's work instead of delaying it. Block workers therefore keep every native
    transfer with value > 0 (a few compact tuples per block) and the matching against
    `watched` happens here, once it is known.

    `by_hash_from`: the token logs of blocks from this number on are read by block hash
    (the blocks that can still change; see the module docstring); None: all as one range.

    `source="receipts"` (chain config `scan_source`): per block, its header and
    eth_getBlockReceipts instead of the full transactions. Receipts carry sender,
    recipient, status and the token logs (so no eth_getLogs and no receipt round trip),
    but not the value: the few native matches are read with eth_getTransactionByHash.
    On anvil this is ~7x cheaper for the node than full blocks (bench_scan.py); on
    mainnet receipts are the larger payload and paid providers bill them higher, hence
    "blocks" stays the default.
    """
    if end < start:
        return RangeData()
    numbers = list(range(start, end + 1))
    chunks = [numbers[i : i + blocks_per_request] for i in range(0, len(numbers), blocks_per_request)]

    headers: dict[int, Header] = {}
    candidates: list[Found] = []
    logs: list[dict[str, Any]] = []
    with ThreadPoolExecutor(max_workers=max(1, in_flight), thread_name_prefix="ctrip-fetch") as pool:
        worker = _fetch_receipts if source == "receipts" else _fetch_blocks
        futures = [pool.submit(worker, rpc, chunk) for chunk in chunks]
        if callable(watched):
            watched = watched()
        for future in as_completed(futures):
            chunk_headers, natives, chunk_logs = future.result()
            for header in chunk_headers:
                headers[header.number] = header
            candidates.extend(_native_credits(natives, watched))
            logs.extend(chunk_logs)
            if progress is not None:
                progress(len(chunk_headers))
    chain = _consistent_prefix(start, end, headers, parent_hash)
    hashes = {h.number: h.hash for h in chain}
    in_chain = [c for c in candidates if c.block_number in hashes]
    unreadable: int | None = None
    if source == "receipts":
        credits = _valued_native(rpc, in_chain)
    else:
        # Only once every header is in: range logs then describe a state at least as new
        # as the headers. A credit on the headers' branch that the logs miss (logs read
        # from an older branch, tip served from a newer one) could otherwise be skipped
        # for good; a log from a newer branch shows as a block-hash mismatch (cut below).
        tokens = sorted({w.token_address for w in watched.values() if w.token_address is not None})
        token_targets = sorted(a for a, w in watched.items() if w.token_address is not None)
        credits, token_logs, unreadable = _receipts_and_token_logs(
            rpc, in_chain, chain, start, end, tokens, token_targets, by_hash_from
        )
        logs.extend(token_logs)
    credits += _token_credits(logs, watched)
    # Anything that does not come from the block we fetched at that height belongs to
    # another branch, and a block whose logs could not be read by its hash is unknown:
    # cut the range below it.
    breaks = [c.block_number for c in credits if hashes.get(c.block_number, c.block_hash) != c.block_hash]
    if unreadable is not None:
        breaks.append(unreadable)
    cut = min(breaks, default=None)
    if cut is not None:
        chain = [h for h in chain if h.number < cut]
        hashes = {h.number: h.hash for h in chain}
    credits = [c for c in credits if c.block_number in hashes]
    credits.sort(key=lambda c: (c.block_number, c.tx_hash, c.log_index))
    return RangeData(headers=chain, credits=credits)


#: A native transfer as the block workers keep it: (to, value, tx hash, from, block number,
#: block hash), addresses lowercase; value -1 = not known yet (receipts carry no value).
Native = tuple[str, int, str, str, int, str]
Chunk = tuple[list[Header], list[Native], list[dict[str, Any]]]
UNKNOWN_VALUE = -1


def _fetch_receipts(rpc: RpcClient, numbers: Sequence[int]) -> Chunk:
    """One HTTP request: headers and block receipts; keep successful calls and Transfer logs."""
    calls = [("eth_getBlockByNumber", (hex(n), False)) for n in numbers]
    calls += [("eth_getBlockReceipts", (hex(n),)) for n in numbers]
    results = rpc.batch(calls)
    headers: list[Header] = []
    natives: list[Native] = []
    logs: list[dict[str, Any]] = []
    count = len(numbers)
    for number, block, receipts in zip(numbers, results[:count], results[count:], strict=True):
        for answer in (block, receipts):
            if isinstance(answer, RpcError):
                raise NodeUnavailable(f"{answer.method}({number}) failed: {answer.message}")
        if block is None or receipts is None:  # past the node's head: the range ends before it
            continue
        block_hash = block["hash"]
        if len(receipts) != len(block["transactions"]) or any(
            r.get("blockHash") != block_hash for r in receipts
        ):
            # The receipts are not (all) the receipts of this header's block — the node
            # answered them from another branch: leave the block out, so the range is cut
            # before it and the next pass reads it again.
            continue
        headers.append(Header(number, block_hash, block["parentHash"], int(block["timestamp"], 16)))
        for receipt in receipts:
            seen_in = block_hash
            if receipt.get("status") != "0x1":
                continue
            to = receipt.get("to")
            if to is not None:
                tx_hash, sender = receipt["transactionHash"], receipt["from"].lower()
                natives.append((to.lower(), UNKNOWN_VALUE, tx_hash, sender, number, seen_in))
            for log in receipt.get("logs") or ():
                topics = log.get("topics") or ()
                if len(topics) == 3 and topics[0] == TRANSFER_TOPIC:
                    logs.append(log)
    return headers, natives, logs


def _valued_native(rpc: RpcClient, candidates: list[Found]) -> list[Found]:
    """Receipts mode: read the value of the native matches (one batch); drop zero values."""
    if not candidates:
        return []
    txs = rpc.batch([("eth_getTransactionByHash", (c.tx_hash,)) for c in candidates])
    kept = []
    for candidate, tx in zip(candidates, txs, strict=True):
        if isinstance(tx, RpcError):
            raise NodeUnavailable(f"eth_getTransactionByHash failed: {tx.message}")
        if tx is None or tx.get("blockHash") != candidate.block_hash:
            kept.append(_moved(candidate))
            continue
        value = int(tx["value"], 16)
        if value > 0:
            kept.append(replace(candidate, amount=value))
    return kept


def _fetch_blocks(rpc: RpcClient, numbers: Sequence[int]) -> Chunk:
    """One HTTP request for a chunk of blocks; reduce each to its header and value transfers."""
    results = rpc.batch([("eth_getBlockByNumber", (hex(n), True)) for n in numbers])
    headers: list[Header] = []
    natives: list[Native] = []
    for number, block in zip(numbers, results, strict=True):
        if isinstance(block, RpcError):
            raise NodeUnavailable(f"eth_getBlockByNumber({number}) failed: {block.message}")
        if block is None:  # past the node's head (it moved back): the range ends before it
            continue
        block_hash = block["hash"]
        headers.append(Header(number, block_hash, block["parentHash"], int(block["timestamp"], 16)))
        for tx in block["transactions"]:
            to, value = tx.get("to"), tx.get("value", "0x0")
            if to is not None and value != "0x0":
                natives.append(
                    (to.lower(), int(value, 16), tx["hash"], tx["from"].lower(), number, block_hash)
                )
    return headers, natives, []


def _native_credits(natives: Sequence[Native], watched: Watched) -> list[Found]:
    """The native transfers to watched addresses of native-coin payments (a dict lookup each)."""
    found = []
    for to, value, tx_hash, sender, number, block_hash in natives:
        watch = watched.get(to)
        if watch is None or watch.token_address is not NATIVE or value == 0:
            continue
        found.append(
            Found(
                payment_id=watch.payment_id,
                tx_hash=tx_hash,
                log_index=-1,
                block_number=number,
                block_hash=block_hash,
                from_address=sender,
                to_address=to,
                token_address=None,
                amount=value,
            )
        )
    return found


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


def _receipts_and_token_logs(
    rpc: RpcClient,
    candidates: list[Found],
    chain: Sequence[Header],
    start: int,
    end: int,
    tokens: Sequence[str],
    targets: Sequence[str],
    by_hash_from: int | None,
) -> tuple[list[Found], list[dict[str, Any]], int | None]:
    """After the blocks, in requests of CALLS_PER_REQUEST calls: the receipts of the
    native candidates, the range logs below `by_hash_from`, and for each header from
    `by_hash_from` on, the block by its hash plus its logs by its hash. Returns
    (successful native credits, token logs, the lowest block whose logs could not be read
    by hash, or None).

    The block by hash is asked beside its logs because some nodes answer `[]`, not an
    error, for the logs of a hash they do not know (reth until March 2024, Besu 24.10,
    anvil until April 2026, Frontier-based chains: reported in their issue trackers). The
    two travel in one request (`_send_grouped`). That closes the gap on the assumptions
    that one node answers one request, and that a node which serves a block has executed
    it (so its logs are there) — true of the clients and providers we know, not promised
    by any spec. A check of the block's logsBloom would not depend on them, but a busy
    block (hundreds of logs) sets most of the bloom's 2,048 bits, so the bloom would
    "match" some watched address in nearly every block and hold every pass a window behind."""
    filters = _log_filters(targets) if tokens and targets else []
    tokens = list(tokens)
    range_end = end if by_hash_from is None else min(end, by_hash_from - 1)
    ranged = filters if range_end >= start else []
    recent = [h for h in chain if by_hash_from is not None and h.number >= by_hash_from] if filters else []
    groups: list[list[Call]] = [[("eth_getTransactionReceipt", (c.tx_hash,))] for c in candidates]
    groups += [[_range_call(start, range_end, tokens, f)] for f in ranged]
    groups += [
        [
            ("eth_getBlockByHash", (h.hash, False)),
            *(("eth_getLogs", ({"blockHash": h.hash, "address": tokens, "topics": f},)) for f in filters),
        ]
        for h in recent
    ]
    answers = iter(_send_grouped(rpc, groups))
    credits = _check_receipts(candidates, [next(answers) for _ in candidates])
    range_results = [next(answers) for _ in ranged]
    logs = _range_answers(rpc, start, range_end, tokens, ranged, range_results) if ranged else []
    for header in recent:  # ascending: the first problem is the lowest unreadable block
        block = next(answers)
        results = [next(answers) for _ in filters]
        problem = _by_hash_problem(header, block, results)
        if problem is not None:
            logging.getLogger("ctripctl.scan").warning(
                "block %d (%s): %s; the pass stops before it", header.number, header.hash, problem
            )
            return credits, logs, header.number
        for result in results:
            logs.extend(result)
    return credits, logs, None


def _by_hash_problem(header: Header, block: Any, results: Sequence[Any]) -> str | None:
    """Why a block's by-hash answers cannot be taken as its logs (None: they can)."""
    if isinstance(block, RpcError):
        return f"eth_getBlockByHash failed: {block.message}"
    if not isinstance(block, dict) or block.get("hash") != header.hash:
        return "the node does not know this block (eth_getBlockByHash)"
    for result in results:
        if isinstance(result, RpcError):
            return f"eth_getLogs by block hash failed: {result.message}"
        if not isinstance(result, list):
            return f"eth_getLogs by block hash answered {result!r}, not a list"
        if any(log.get("blockHash") != header.hash for log in result):
            return "eth_getLogs by block hash answered logs of another block"
    return None


def _send_grouped(rpc: RpcClient, groups: Sequence[Sequence[Call]]) -> list[Any]:
    """Send the calls in order, at most CALLS_PER_REQUEST per request, never splitting a
    group (a block by hash and its logs are answered by the same node)."""
    results: list[Any] = []
    request: list[Call] = []
    for group in groups:
        if request and len(request) + len(group) > CALLS_PER_REQUEST:
            results += rpc.batch(request)
            request = []
        request += group
    if request:
        results += rpc.batch(request)
    return results


def _check_receipts(candidates: list[Found], receipts: Sequence[Any]) -> list[Found]:
    """The candidates whose receipt (same order) says success, in the block we fetched."""
    kept = []
    for candidate, receipt in zip(candidates, receipts, strict=True):
        if isinstance(receipt, RpcError):
            raise NodeUnavailable(f"eth_getTransactionReceipt failed: {receipt.message}")
        if receipt is None:  # the transaction left the chain since we read its block
            kept.append(_moved(candidate))
            continue
        if receipt.get("status") != "0x1":
            continue
        if receipt.get("blockHash") != candidate.block_hash:
            kept.append(_moved(candidate))
            continue
        kept.append(candidate)
    return kept


def _moved(candidate: Found) -> Found:
    """Mark a candidate as inconsistent so the range is cut below its block."""
    return replace(candidate, block_hash="0x" + "0" * 64)


def _token_credits(logs: list[dict[str, Any]], watched: Watched) -> list[Found]:
    found = []
    for log in logs:
        topics = log.get("topics") or []
        if log.get("removed") or len(topics) != 3 or topics[0] != TRANSFER_TOPIC:
            continue
        to = "0x" + topics[2][-40:].lower()
        watch = watched.get(to)
        token = log["address"].lower()
        if watch is None or watch.token_address != token:
            continue
        data = log.get("data") or "0x"
        amount = int(data[:66], 16) if len(data) > 2 else 0
        if amount <= 0:
            continue
        found.append(
            Found(
                payment_id=watch.payment_id,
                tx_hash=log["transactionHash"],
                log_index=int(log["logIndex"], 16),
                block_number=int(log["blockNumber"], 16),
                block_hash=log["blockHash"],
                from_address="0x" + topics[1][-40:].lower(),
                to_address=to,
                token_address=token,
                amount=amount,
            )
        )
    return found


def _topic(address: str) -> str:
    return "0x" + "0" * 24 + address.lower().removeprefix("0x")


def _log_filters(targets: Sequence[str]) -> list[list[Any]]:
    """Topic filters: watched addresses in topic 2, ADDRESS_CHUNK per list, or none at all."""
    if len(targets) > FETCH_ALL_THRESHOLD:
        return [[TRANSFER_TOPIC]]
    return [
        [TRANSFER_TOPIC, None, [_topic(a) for a in targets[i : i + ADDRESS_CHUNK]]]
        for i in range(0, len(targets), ADDRESS_CHUNK)
    ]


def _range_call(start: int, end: int, tokens: list[str], topics: list[Any]) -> Call:
    return (
        "eth_getLogs",
        ({"fromBlock": hex(start), "toBlock": hex(end), "address": tokens, "topics": topics},),
    )


def _logs(
    rpc: RpcClient, start: int, end: int, tokens: list[str], filters: list[list[Any]]
) -> list[dict[str, Any]]:
    results = rpc.batch([_range_call(start, end, tokens, f) for f in filters])
    return _range_answers(rpc, start, end, tokens, filters, results)


def _range_answers(
    rpc: RpcClient, start: int, end: int, tokens: list[str], filters: list[list[Any]], results: list[Any]
) -> list[dict[str, Any]]:
    """The logs of answered filters; refused ranges are split in halves and asked again."""
    logs: list[dict[str, Any]] = []
    refused: list[list[Any]] = []
    for topics, result in zip(filters, results, strict=True):
        if isinstance(result, RpcError):
            if not is_range_error(result.message) or start == end:
                raise NodeUnavailable(f"eth_getLogs {start}..{end} failed: {result.message}")
            refused.append(topics)
        elif not isinstance(result, list):
            raise NodeUnavailable(f"eth_getLogs {start}..{end} answered {result!r}, not a list")
        else:
            logs.extend(result)
    if refused:
        middle = (start + end) // 2
        logs += _logs(rpc, start, middle, tokens, refused)
        logs += _logs(rpc, middle + 1, end, tokens, refused)
    return logs
