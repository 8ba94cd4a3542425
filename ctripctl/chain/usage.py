"""Has an address ever been used on this chain? Its native balance, its nonce and its
balance of each given token, for a handful of addresses in one JSON-RPC batch.

A fresh database asks this of the wallet's first deposit addresses before it hands out
index 0 (ops/address_reuse.py): a used address there means the xpub served payments
before, from another database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ctripctl.chain.rpc import Call, RpcClient, RpcError, quantity
from ctripctl.errors import NodeUnavailable
from ctripctl.evm.transactions import balance_of_data, decode_uint

#: Calls per JSON-RPC request. Public providers cap batches (some at 100); 20 addresses
#: with their balance and nonce (40 calls) plus up to 3 tokens fit in one request.
MAX_CALLS_PER_REQUEST = 100


@dataclass(frozen=True)
class Usage:
    """What one address holds and has sent on the chain."""

    address: str
    balance: int  # native coin, base units
    nonce: int  # transactions sent from it
    tokens: Mapping[str, int] = field(default_factory=dict)  # token address -> balance (base units)

    @property
    def used(self) -> bool:
        return self.balance > 0 or self.nonce > 0 or any(self.tokens.values())


def read_usage(
    rpc: RpcClient, addresses: Sequence[str], tokens: Sequence[str] = (), *, chain_id: int | None = None
) -> list[Usage]:
    """Balance, nonce and token balances of each address at "latest".

    One HTTP request up to MAX_CALLS_PER_REQUEST calls; with `chain_id`, the node's chain
    id is asked in the same request (give the client no chain id then: it would ask in a
    request of its own) and another one is NodeUnavailable. A node that cannot say the
    balance or nonce is NodeUnavailable (nothing can be concluded); a token whose
    `balanceOf` fails or answers nothing (no contract at that address on this node)
    counts as 0 for that token.
    """
    calls: list[Call] = [] if chain_id is None else [("eth_chainId", ())]
    for address in addresses:
        calls.append(("eth_getBalance", (address, "latest")))
        calls.append(("eth_getTransactionCount", (address, "latest")))
        data = balance_of_data(address)
        calls.extend(("eth_call", ({"to": token, "data": data}, "latest")) for token in tokens)
    answers = rpc.batch_chunked(calls, MAX_CALLS_PER_REQUEST)
    found = iter(answers)
    if chain_id is not None:
        actual = quantity(next(found), "eth_chainId")
        if actual != chain_id:
            raise NodeUnavailable(f"the node is on chain id {actual}, the config says {chain_id}")
    usage = []
    for address in addresses:
        balance = quantity(next(found), f"balance of {address}")
        nonce = quantity(next(found), f"nonce of {address}")
        held = {token: _token_balance(next(found)) for token in tokens}
        usage.append(Usage(address, balance, nonce, held))
    return usage


def _token_balance(answer: Any) -> int:
    if isinstance(answer, RpcError):
        return 0
    try:
        return decode_uint(answer)
    except ValueError:  # "0x": no contract there
        return 0
