"""Account state and transactions for the sweep pass: balances, nonces, receipts, gas
estimates and broadcasts, each as a few JSON-RPC batches however many addresses there are.

Returns plain records; every decision about them is in domain/sweeping.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ctripctl.chain.rpc import Call, RpcClient, RpcError, quantity
from ctripctl.domain.sweeping import Receipt
from ctripctl.errors import NodeUnavailable
from ctripctl.evm.matching import token_move
from ctripctl.evm.transactions import Authorization, balance_of_data, decode_uint


@dataclass(frozen=True)
class Holding:
    """What a deposit address holds of its asset, now and at the confirmation depth."""

    address: str
    token_address: str | None
    latest: int
    at_depth: int
    native_latest: int  # the gas money on the address (== latest for a native asset)


def read_holdings(
    rpc: RpcClient, items: Sequence[tuple[str, str | None]], depth_block: int
) -> list[Holding | None]:
    """Balances of (address, token address or None) pairs at "latest" and at `depth_block`.

    None where a token's balanceOf call fails (a broken or self-destructed contract): that
    deposit is skipped, the others go on. A failing eth_getBalance is the node's problem
    (NodeUnavailable)."""
    depth = hex(depth_block)
    calls: list[Call] = []
    for address, token in items:
        calls.append(("eth_getBalance", (address, "latest")))
        if token is None:
            calls.append(("eth_getBalance", (address, depth)))
        else:
            data = balance_of_data(address)
            calls.append(("eth_call", ({"to": token, "data": data}, "latest")))
            calls.append(("eth_call", ({"to": token, "data": data}, depth)))
    answers = iter(rpc.batch_chunked(calls))
    holdings: list[Holding | None] = []
    for address, token in items:
        native = quantity(next(answers), f"balance of {address}")
        if token is None:
            at_depth = quantity(next(answers), f"balance of {address} at block {depth_block}")
            holdings.append(Holding(address, None, native, at_depth, native))
            continue
        latest, at_depth = _token_amount(next(answers)), _token_amount(next(answers))
        if latest is None or at_depth is None:
            holdings.append(None)
        else:
            holdings.append(Holding(address, token, latest, at_depth, native))
    return holdings


def _token_amount(answer: Any) -> int | None:
    if isinstance(answer, RpcError):
        return None
    try:
        return decode_uint(answer)
    except ValueError:
        return None


def native_balance(rpc: RpcClient, address: str) -> int:
    return quantity(rpc.call("eth_getBalance", address, "latest"), f"balance of {address}")


def nonces(rpc: RpcClient, addresses: Sequence[str], tag: str) -> dict[str, int]:
    """eth_getTransactionCount per address at `tag` ("latest": mined; "pending": + mempool)."""
    unique = list(dict.fromkeys(addresses))
    answers = rpc.batch_chunked([("eth_getTransactionCount", (a, tag)) for a in unique])
    return {a: quantity(r, f"nonce of {a}") for a, r in zip(unique, answers, strict=True)}


def receipts(rpc: RpcClient, tx_hashes: Sequence[str]) -> dict[str, Receipt | None]:
    """The receipt of each transaction, None where the node has none (not mined, or reorged away)."""
    answers = rpc.batch_chunked([("eth_getTransactionReceipt", (h,)) for h in tx_hashes])
    found: dict[str, Receipt | None] = {}
    for tx_hash, answer in zip(tx_hashes, answers, strict=True):
        if isinstance(answer, RpcError):
            raise NodeUnavailable(f"eth_getTransactionReceipt({tx_hash}): {answer.message}")
        if not answer or answer.get("blockHash") is None or answer.get("blockNumber") is None:
            found[tx_hash] = None
            continue
        if str(answer.get("transactionHash", "")).lower() != tx_hash.lower():
            raise NodeUnavailable(f"the node answered the receipt of another transaction for {tx_hash}")
        found[tx_hash] = Receipt(
            block_number=int(answer["blockNumber"], 16),
            block_hash=answer["blockHash"].lower(),
            success=answer.get("status") == "0x1",
            moves=tuple(m for m in map(token_move, answer.get("logs") or []) if m is not None),
        )
    return found


def has_code(rpc: RpcClient, address: str) -> bool:
    code = rpc.call("eth_getCode", address, "latest")
    return isinstance(code, str) and code not in ("0x", "0x0", "")


def estimate_gas(rpc: RpcClient, requests: Sequence[dict[str, Any]]) -> list[int | None]:
    """eth_estimateGas per call object; None where the node says the call would fail."""
    answers = rpc.batch_chunked([("eth_estimateGas", (r,)) for r in requests])
    return [None if isinstance(a, RpcError) else quantity(a, "eth_estimateGas") for a in answers]


def accepts_type4(rpc: RpcClient, probe: Authorization, sender: str) -> bool:
    """Does the node take EIP-7702 transactions? Asked as eth_estimateGas of a type-4 call
    carrying `probe` (an authorization by a throwaway key): a pre-Prague node refuses it."""
    [answer] = rpc.batch(
        [("eth_estimateGas", ({"from": sender, "to": sender, "authorizationList": [probe.to_rpc()]},))]
    )
    return not isinstance(answer, RpcError)


def broadcast(rpc: RpcClient, raws: Sequence[str]) -> list[str | None]:
    """eth_sendRawTransaction for each; None where the node accepted it, else its error text."""
    answers = rpc.batch_chunked([("eth_sendRawTransaction", (raw,)) for raw in raws])
    return [a.message if isinstance(a, RpcError) else None for a in answers]
