"""Concurrent block fetching: blocks with full transactions, a few requests in flight.

`blocks_per_request` blocks per HTTP request and `in_flight` requests at once (a small
thread pool; the work is I/O plus JSON decoding, and each batch is reduced to its
headers and value transfers as soon as it arrives, so memory stays bounded by the
requests in flight, not by the range).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from typing import Any

from ctripctl.chain.rpc import RpcClient, RpcError
from ctripctl.domain.records import Header
from ctripctl.errors import NodeUnavailable
from ctripctl.evm.matching import Native

BLOCKS_PER_REQUEST = 50
IN_FLIGHT = 4

#: What one block request is reduced to: headers, native transfers, Transfer logs.
Chunk = tuple[list[Header], list[Native], list[dict[str, Any]]]
Worker = Callable[[RpcClient, Sequence[int]], Chunk]


@contextmanager
def fetching(
    rpc: RpcClient, worker: Worker, start: int, end: int, *, blocks_per_request: int, in_flight: int
) -> Iterator[Iterator[Chunk]]:
    """Send every request for blocks `start..end` now; yield their answers as they arrive.

    The requests are all submitted on entry, so the caller can do other work (read the
    watched set) while the node answers, before it iterates.
    """
    numbers = list(range(start, end + 1))
    chunks = [numbers[i : i + blocks_per_request] for i in range(0, len(numbers), blocks_per_request)]
    with ThreadPoolExecutor(max_workers=max(1, in_flight), thread_name_prefix="ctrip-fetch") as pool:
        futures = [pool.submit(worker, rpc, chunk) for chunk in chunks]
        yield (future.result() for future in as_completed(futures))


def fetch_blocks(rpc: RpcClient, numbers: Sequence[int]) -> Chunk:
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
