"""The log strategy: after the blocks, the native receipts and the token logs.

Requests of at most CALLS_PER_REQUEST calls, one after another: the receipts of the
native matches (status must be 0x1, so a reverted transaction never counts), and
`eth_getLogs` for the ERC-20 Transfer topic of the configured tokens with the watched
addresses in topic 2 (ADDRESS_CHUNK per list; above FETCH_ALL_THRESHOLD addresses, all
Transfer logs of those tokens, filtered here).

Blocks below `by_hash_from` are read as one range, split in halves while the node
refuses it as too large. The blocks that can still change are read by block hash
(EIP-234) beside `eth_getBlockByHash`, so their logs are those of exactly the header
fetched: a range query may be answered, with no error, by a backend that has not seen
the last blocks, and the checkpoint would move past a credit for good. A block the node
cannot serve by hash cuts the range before it. docs/scan-pass.md has the details.

Last, `with_log_positions`: the receipts of the transactions that credited a token, for
each credit's place among its transaction's logs (its identity across reorgs).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ctripctl.chain.blocks import BLOCKS_PER_REQUEST
from ctripctl.chain.rpc import Call, RpcClient, RpcError, is_range_error
from ctripctl.domain.records import Found, Header
from ctripctl.errors import NodeUnavailable
from ctripctl.evm.matching import TRANSFER_TOPIC, moved

ADDRESS_CHUNK = 500  # addresses per eth_getLogs topic-2 list (providers cap OR-lists near 1,000)
FETCH_ALL_THRESHOLD = 2_000  # above this, fetch all Transfer logs of the tokens and filter here
CALLS_PER_REQUEST = BLOCKS_PER_REQUEST  # receipts + logs calls per request: the same batch cap


def receipts_and_token_logs(
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

    The block by hash is asked beside its logs, in one request (`_send_grouped`), because
    some nodes answer `[]`, not an error, for the logs of a hash they do not know
    (docs/scan-pass.md names them and the assumptions this rests on)."""
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


def with_log_positions(rpc: RpcClient, credits: Sequence[Found]) -> list[Found]:
    """The credits, each with its `tx_log_position`: the index of its log in its
    transaction's receipt (CALLS_PER_REQUEST receipts per request, one per transaction).

    A receipt that is missing, from another block, or without the log (the transaction
    moved since its log was read) marks the credit `moved`, so the range is cut below it
    and the next pass reads the block again. Credits that already know their position
    (native ones; the receipts mode's) cost nothing."""
    unknown = sorted({c.tx_hash for c in credits if c.tx_log_position is None})
    if not unknown:
        return list(credits)
    answers = _send_grouped(rpc, [[("eth_getTransactionReceipt", (tx_hash,))] for tx_hash in unknown])
    receipts = dict(zip(unknown, answers, strict=True))
    placed: list[Found] = []
    for credit in credits:
        if credit.tx_log_position is not None:
            placed.append(credit)
            continue
        receipt = receipts[credit.tx_hash]
        if isinstance(receipt, RpcError):
            raise NodeUnavailable(f"eth_getTransactionReceipt failed: {receipt.message}")
        position = _position(receipt, credit)
        placed.append(moved(credit) if position is None else replace(credit, tx_log_position=position))
    return placed


def _position(receipt: Any, credit: Found) -> int | None:
    """The index of the credit's log in the receipt (None: not this block's receipt, or no such log)."""
    if not isinstance(receipt, dict) or receipt.get("blockHash") != credit.block_hash:
        return None
    for position, log in enumerate(receipt.get("logs") or ()):
        if int(log.get("logIndex", "-0x1"), 16) == credit.log_index:
            return position
    return None


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
            kept.append(moved(candidate))
            continue
        if receipt.get("status") != "0x1":
            continue
        if receipt.get("blockHash") != candidate.block_hash:
            kept.append(moved(candidate))
            continue
        kept.append(candidate)
    return kept


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
