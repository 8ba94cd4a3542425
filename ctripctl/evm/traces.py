"""ETH moved inside contract calls, read from a block's traces.

Pure: the answer of `debug_traceBlockByNumber` (geth's callTracer) or `trace_block`
(OpenEthereum/Erigon/reth/anvil "parity" traces) in, one record per value transfer made
by a NESTED call (a top-level transaction's own value is found from the block itself)
out. A frame that reverted moves nothing, and neither do the frames below it, nor
anything in a transaction whose top level failed.

Each record carries its position among the value transfers of its transaction, counted
in execution order: it stays the same when a reorg puts the transaction in another block,
so it can serve as the credit's identity next to the transaction hash.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

#: Frame types that carry value to `to` (callTracer), and the parity equivalents.
_VALUE_FRAMES = {"CALL", "CREATE", "CREATE2", "SELFDESTRUCT"}
_PARITY_VALUE = {"call", "create", "suicide"}


@dataclass(frozen=True)
class InternalTransfer:
    """ETH sent from inside a transaction (addresses lowercase)."""

    tx_hash: str
    position: int  # its index among the transaction's internal value transfers
    sender: str
    recipient: str
    amount: int


def _int(value: Any) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.startswith("0x") and len(value) > 2:
        return int(value, 16)
    return 0


def from_call_tracer(answer: Sequence[Any]) -> list[InternalTransfer]:
    """Parse geth's `debug_traceBlockByNumber(n, {"tracer": "callTracer"})` answer."""
    found: list[InternalTransfer] = []
    for item in answer:
        root = item.get("result") if isinstance(item, dict) else None
        tx_hash = str(item.get("txHash", "")).lower() if isinstance(item, dict) else ""
        if not isinstance(root, dict) or root.get("error"):
            continue  # a failed transaction moved no value at all
        moves = [(frm, to, value) for frm, to, value in _walk(root.get("calls") or [])]
        found.extend(InternalTransfer(tx_hash, i, frm, to, value) for i, (frm, to, value) in enumerate(moves))
    return found


def _walk(calls: Sequence[Any]) -> Iterator[tuple[str, str, int]]:
    """Depth-first, in execution order, skipping reverted frames and everything below them."""
    for call in calls:
        if not isinstance(call, dict) or call.get("error"):
            continue
        value = _int(call.get("value"))
        if value > 0 and str(call.get("type", "")).upper() in _VALUE_FRAMES and call.get("to"):
            yield str(call.get("from", "")).lower(), str(call["to"]).lower(), value
        yield from _walk(call.get("calls") or [])


def from_parity(answer: Sequence[Any]) -> list[InternalTransfer]:
    """Parse a `trace_block` answer (flat frames with traceAddress paths)."""
    failed: dict[str, list[tuple[int, ...]]] = {}
    for t in answer:
        if isinstance(t, dict) and t.get("error"):
            failed.setdefault(str(t.get("transactionHash", "")).lower(), []).append(
                tuple(t.get("traceAddress") or [])
            )
    positions: dict[str, int] = {}
    found: list[InternalTransfer] = []
    for t in answer:
        if not isinstance(t, dict) or t.get("type") not in _PARITY_VALUE:
            continue
        tx_hash = str(t.get("transactionHash", "")).lower()
        path = tuple(t.get("traceAddress") or [])
        if not path or any(path[: len(bad)] == bad for bad in failed.get(tx_hash, [])):
            continue  # top level (found from the block), or inside a reverted frame
        if () in failed.get(tx_hash, []):
            continue
        action = t.get("action") or {}
        if t["type"] == "suicide":
            sender, recipient, value = (
                action.get("address"),
                action.get("refundAddress"),
                action.get("balance"),
            )
        elif t["type"] == "create":
            sender, recipient, value = (
                action.get("from"),
                (t.get("result") or {}).get("address"),
                action.get("value"),
            )
        else:
            if action.get("callType", "call") not in ("call",):
                continue  # delegatecall / staticcall / callcode move no value to `to`
            sender, recipient, value = action.get("from"), action.get("to"), action.get("value")
        amount = _int(value)
        if amount <= 0 or not recipient:
            continue
        position = positions.get(tx_hash, 0)
        positions[tx_hash] = position + 1
        found.append(InternalTransfer(tx_hash, position, str(sender).lower(), str(recipient).lower(), amount))
    return found
