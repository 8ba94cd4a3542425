"""The receipts mode (chain config `scan_source = "receipts"`): headers plus block receipts.

Per block, its header and eth_getBlockReceipts instead of the full transactions.
Receipts carry sender, recipient, status and the token logs (so no eth_getLogs and no
receipt round trip), but not the value: the few native matches are read afterwards with
eth_getTransactionByHash (`valued_native`). Each kept log carries its place among its
transaction's logs (TX_LOG_POSITION), the credit's identity (domain/records.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ctripctl.chain.rpc import RpcClient, RpcError
from ctripctl.domain.records import Found, Header
from ctripctl.errors import NodeUnavailable
from ctripctl.evm.matching import TRANSFER_TOPIC, UNKNOWN_VALUE, Native, moved

if TYPE_CHECKING:
    from ctripctl.chain.blocks import Chunk

#: The key under which a log from a receipt carries its index in that receipt's logs.
TX_LOG_POSITION = "ctripTxLogPosition"


def fetch_receipts(rpc: RpcClient, numbers: Sequence[int]) -> Chunk:
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
            for position, log in enumerate(receipt.get("logs") or ()):
                topics = log.get("topics") or ()
                if len(topics) == 3 and topics[0] == TRANSFER_TOPIC:
                    logs.append({**log, TX_LOG_POSITION: position})
    return headers, natives, logs


def valued_native(rpc: RpcClient, candidates: list[Found]) -> list[Found]:
    """Read the value of the native matches (one batch); drop zero values."""
    if not candidates:
        return []
    txs = rpc.batch([("eth_getTransactionByHash", (c.tx_hash,)) for c in candidates])
    kept = []
    for candidate, tx in zip(candidates, txs, strict=True):
        if isinstance(tx, RpcError):
            raise NodeUnavailable(f"eth_getTransactionByHash failed: {tx.message}")
        if tx is None or tx.get("blockHash") != candidate.block_hash:
            kept.append(moved(candidate))
            continue
        value = int(tx["value"], 16)
        if value > 0:
            kept.append(replace(candidate, amount=value))
    return kept
