"""FeeOracle against a scripted node (httpx.MockTransport): EIP-1559 from fee history,
the legacy fallback, and one lookup per TTL however many transactions a pass signs."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from ctripctl.chain.fees import FeeOracle
from ctripctl.chain.rpc import RpcClient
from ctripctl.domain.sweeping import FeeType
from ctripctl.errors import NodeUnavailable


def node(*, base_fee: int | None, rewards: list[int], tip: int = 5, gas_price: int = 9) -> RpcClient:
    def result(method: str) -> Any:
        if method == "eth_getBlockByNumber":
            block: dict[str, Any] = {"number": "0x10", "hash": "0x" + "a" * 64}
            if base_fee is not None:
                block["baseFeePerGas"] = hex(base_fee)
            return block
        if method == "eth_feeHistory":
            if base_fee is None:
                return {"error": {"code": -32601, "message": "method not found"}}
            return {
                "oldestBlock": "0x7",
                "baseFeePerGas": [hex(base_fee)] * len(rewards) + [hex(base_fee + 1)],
                "reward": [[hex(r)] for r in rewards],
            }
        return {"eth_maxPriorityFeePerGas": hex(tip), "eth_gasPrice": hex(gas_price)}[method]

    def handle(request: httpx.Request) -> httpx.Response:
        out = []
        for call in json.loads(request.content):
            answer = result(call["method"])
            if isinstance(answer, dict) and "error" in answer:
                out.append({"jsonrpc": "2.0", "id": call["id"], **answer})
            else:
                out.append({"jsonrpc": "2.0", "id": call["id"], "result": answer})
        return httpx.Response(200, json=out)

    return RpcClient(["http://node.test"], transport=httpx.MockTransport(handle), attempts=1)


def test_eip1559_quote_from_fee_history() -> None:
    oracle = FeeOracle(node(base_fee=100, rewards=[0, 3, 7, 2]), ttl=10)
    quote = oracle.quote()
    assert quote.type is FeeType.EIP1559
    # next base fee 101 (the extra last entry), tip = median of the paying blocks' rewards
    assert (quote.max_fee_per_gas, quote.max_priority_fee_per_gas, quote.gas_price) == (2 * 101 + 3, 3, None)


def test_empty_blocks_fall_back_to_the_node_tip() -> None:
    quote = FeeOracle(node(base_fee=100, rewards=[0, 0], tip=11), ttl=10).quote()
    assert quote.max_priority_fee_per_gas == 11 and quote.max_fee_per_gas == 2 * 101 + 11


def test_a_chain_without_base_fee_is_legacy() -> None:
    quote = FeeOracle(node(base_fee=None, rewards=[], gas_price=42), ttl=10).quote()
    assert (quote.type, quote.gas_price, quote.max_fee_per_gas) == (FeeType.LEGACY, 42, None)


def test_one_lookup_serves_until_the_ttl_runs_out() -> None:
    now = [0.0]
    oracle = FeeOracle(node(base_fee=100, rewards=[1]), ttl=10, clock=lambda: now[0])
    for _ in range(1_000):
        oracle.quote()
    assert oracle.lookups == 1
    now[0] = 9.9
    oracle.quote()
    assert oracle.lookups == 1
    now[0] = 10.0
    oracle.quote()
    assert oracle.lookups == 2


def test_a_node_that_answers_nonsense_is_unavailable() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        calls = json.loads(request.content)
        return httpx.Response(200, json=[{"jsonrpc": "2.0", "id": c["id"], "result": None} for c in calls])

    rpc = RpcClient(["http://node.test"], transport=httpx.MockTransport(handle), attempts=1)
    with pytest.raises(NodeUnavailable):
        FeeOracle(rpc, ttl=1).quote()
