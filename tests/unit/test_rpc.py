"""RpcClient and the log fetcher against scripted nodes (httpx.MockTransport): batching,
per-call errors, retries, failover, chain-id refusal, and range splitting."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from ctripctl.chain.fetch import _consistent_prefix
from ctripctl.chain.logs import _log_filters, _logs
from ctripctl.chain.rpc import RpcClient, RpcError, is_range_error
from ctripctl.domain.records import Header, Watch
from ctripctl.errors import NodeUnavailable
from ctripctl.evm.matching import TRANSFER_TOPIC
from ctripctl.evm.matching import token_credits as _token_credits

Handler = Callable[[str, list[dict[str, Any]]], httpx.Response]


class Node:
    """A scripted JSON-RPC endpoint per URL host; records every request it gets."""

    def __init__(self, handlers: dict[str, Handler]) -> None:
        self.handlers = handlers
        self.seen: list[tuple[str, list[str]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        payload = json.loads(request.content)
        self.seen.append((host, [c["method"] for c in payload]))
        return self.handlers[host](host, payload)


def answer(payload: list[dict[str, Any]], fn: Callable[[dict[str, Any]], Any]) -> httpx.Response:
    out = []
    for call in payload:
        result = fn(call)
        if isinstance(result, dict) and "error" in result:
            out.append({"jsonrpc": "2.0", "id": call["id"], "error": result["error"]})
        else:
            out.append({"jsonrpc": "2.0", "id": call["id"], "result": result})
    return httpx.Response(200, json=list(reversed(out)))  # out of order, as nodes may answer


def healthy(chain_id: int = 1) -> Handler:
    def handler(_host: str, payload: list[dict[str, Any]]) -> httpx.Response:
        def one(call: dict[str, Any]) -> Any:
            if call["method"] == "eth_chainId":
                return hex(chain_id)
            if call["method"] == "eth_blockNumber":
                return "0x10"
            if call["method"] == "boom":
                return {"error": {"code": -32000, "message": "execution reverted"}}
            return call["params"]

        return answer(payload, one)

    return handler


def client(node: Node, *urls: str, chain_id: int | None = 1) -> RpcClient:
    return RpcClient(
        [f"http://{u}" for u in urls],
        chain_id=chain_id,
        timeout=1,
        attempts=3,
        backoff_max=0.01,
        transport=httpx.MockTransport(node),
    )


def test_batch_returns_results_in_call_order_with_errors_as_values() -> None:
    node = Node({"a": healthy()})
    with client(node, "a") as rpc:
        results = rpc.batch([("echo", (1,)), ("boom", ()), ("echo", (2,))])
        assert results[0] == [1] and results[2] == [2]
        assert isinstance(results[1], RpcError) and results[1].code == -32000
        with pytest.raises(RpcError):
            rpc.call("boom")
        assert rpc.call("eth_blockNumber") == "0x10"
        # chain id checked once per URL; then one HTTP request per batch
        assert [methods for _, methods in node.seen][:2] == [["eth_chainId"], ["echo", "boom", "echo"]]
        assert rpc.requests_sent == len(node.seen)


@pytest.mark.parametrize("in_flight", [1, 4])
def test_batch_chunked_keeps_call_order_however_many_requests_are_in_flight(in_flight: int) -> None:
    node = Node({"a": healthy()})
    with client(node, "a") as rpc:
        rpc.call("eth_blockNumber")  # the chain id is checked once, before
        before = rpc.requests_sent
        results = rpc.batch_chunked([("echo", (i,)) for i in range(237)], size=10, in_flight=in_flight)
        assert results == [[i] for i in range(237)]
        assert rpc.requests_sent - before == 24  # one request per 10 calls


def test_transient_errors_are_retried_on_the_same_url() -> None:
    failures = iter([500, 429])

    def flaky(host: str, payload: list[dict[str, Any]]) -> httpx.Response:
        if payload[0]["method"] != "eth_chainId":
            code = next(failures, None)
            if code is not None:
                return httpx.Response(code)
        return healthy()(host, payload)

    node = Node({"a": flaky})
    with client(node, "a") as rpc:
        assert rpc.call("eth_blockNumber") == "0x10"
    assert [methods for _, methods in node.seen].count(["eth_blockNumber"]) == 3


def test_fails_over_to_the_next_url_and_stays_there() -> None:
    def down(_host: str, _payload: list[dict[str, Any]]) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    node = Node({"a": down, "b": healthy()})
    with client(node, "a", "b") as rpc:
        assert rpc.call("eth_blockNumber") == "0x10"
        assert rpc.active_url == "http://b"
        tried_a = sum(1 for host, _ in node.seen if host == "a")
        assert tried_a == 3  # bounded retries, then the next URL
        rpc.call("eth_blockNumber")
        assert sum(1 for host, _ in node.seen if host == "a") == tried_a  # the good URL is kept


def test_all_urls_failing_is_node_unavailable() -> None:
    def timeout(_host: str, _payload: list[dict[str, Any]]) -> httpx.Response:
        raise httpx.ReadTimeout("timed out")

    node = Node({"a": timeout, "b": timeout})
    with client(node, "a", "b") as rpc, pytest.raises(NodeUnavailable, match="timed out after 1s"):
        rpc.call("eth_blockNumber")


def test_wrong_chain_id_is_refused() -> None:
    node = Node({"a": healthy(chain_id=5)})
    with (
        client(node, "a", chain_id=1) as rpc,
        pytest.raises(NodeUnavailable, match="chain id 5, config says 1"),
    ):
        rpc.call("eth_blockNumber")
    assert [m for _, m in node.seen] == [["eth_chainId"]]  # nothing else asked of it


def test_range_errors_are_values_not_retries() -> None:
    assert is_range_error("query returned more than 10000 results")
    assert is_range_error("block range is too large")
    assert not is_range_error("execution reverted")

    def limited(host: str, payload: list[dict[str, Any]]) -> httpx.Response:
        def one(call: dict[str, Any]) -> Any:
            if call["method"] == "eth_chainId":
                return "0x1"
            return {"error": {"code": -32005, "message": "query returned more than 10000 results"}}

        return answer(payload, one)

    node = Node({"a": limited})
    with client(node, "a") as rpc:
        [result] = rpc.batch([("eth_getLogs", ({},))])
    assert isinstance(result, RpcError)
    assert len(node.seen) == 2  # chainId + one getLogs: not retried


def test_get_logs_splits_ranges_the_node_refuses() -> None:
    """A node that refuses ranges wider than 4 blocks: the fetcher halves until it passes."""
    asked: list[tuple[int, int, int]] = []

    def logs_node(host: str, payload: list[dict[str, Any]]) -> httpx.Response:
        def one(call: dict[str, Any]) -> Any:
            if call["method"] == "eth_chainId":
                return "0x1"
            f = call["params"][0]
            lo, hi = int(f["fromBlock"], 16), int(f["toBlock"], 16)
            asked.append((lo, hi, len(f["topics"][2])))
            if hi - lo + 1 > 4:
                return {"error": {"code": -32005, "message": "block range too large"}}
            return [{"blockNumber": hex(n)} for n in range(lo, hi + 1)]

        return answer(payload, one)

    node = Node({"a": logs_node})
    targets = [f"0x{i:040x}" for i in range(1, 1201)]
    with client(node, "a") as rpc:
        logs = _logs(rpc, 0, 19, ["0x" + "aa" * 20], _log_filters(targets))
    # every block once per address chunk (3 chunks of ≤ 500), never more
    assert sorted(int(log["blockNumber"], 16) for log in logs) == sorted(list(range(20)) * 3)
    assert {size for _, _, size in asked} == {500, 200}
    assert asked[0][:2] == (0, 19)  # the whole range first, split only when refused
    answered = [(lo, hi) for lo, hi, _ in asked if hi - lo + 1 <= 4]
    assert len(answered) == 3 * len(set(answered))  # each sub-range once per chunk


def test_token_credits_match_address_and_asset() -> None:
    token = "0x" + "aa" * 20
    other = "0x" + "bb" * 20
    watched = {"0x" + "11" * 20: Watch("pay_t", token), "0x" + "22" * 20: Watch("pay_n", None)}

    def log(to: str, address: str = token, value: int = 5, removed: bool = False) -> dict[str, Any]:
        return {
            "address": address,
            "topics": [TRANSFER_TOPIC, "0x" + "00" * 12 + "33" * 20, "0x" + "00" * 12 + to[2:]],
            "data": hex(value),
            "blockNumber": "0x7",
            "blockHash": "0x" + "77" * 32,
            "transactionHash": "0x" + "88" * 32,
            "logIndex": "0x2",
            "removed": removed,
        }

    logs = [
        log("0x" + "11" * 20),  # counted
        log("0x" + "11" * 20, address=other),  # another token
        log("0x" + "22" * 20),  # a native payment's address
        log("0x" + "44" * 20),  # nobody we watch
        log("0x" + "11" * 20, value=0),  # zero
        log("0x" + "11" * 20, removed=True),  # removed by the node
    ]
    [credit] = _token_credits(logs, watched)
    assert (credit.payment_id, credit.amount, credit.log_index, credit.block_number) == ("pay_t", 5, 2, 7)
    assert credit.from_address == "0x" + "33" * 20


def test_consistent_prefix_cuts_at_the_first_broken_link() -> None:
    headers = {
        1: Header(1, "h1", "h0", 0),
        2: Header(2, "h2", "h1", 0),
        3: Header(3, "h3x", "h2-other-branch", 0),
        4: Header(4, "h4", "h3x", 0),
    }
    assert [h.number for h in _consistent_prefix(1, 4, headers, "h0")] == [1, 2]
    assert _consistent_prefix(1, 4, headers, "not-the-checkpoint") == []
    assert [h.number for h in _consistent_prefix(3, 4, headers, None)] == [3, 4]
    del headers[2]
    assert [h.number for h in _consistent_prefix(1, 4, headers, "h0")] == [1]


def test_native_candidates_need_a_successful_receipt_from_the_same_block() -> None:
    from ctripctl.chain.logs import _check_receipts
    from ctripctl.domain.records import Found

    def found(tx: str) -> Found:
        return Found("pay_x", tx, -1, 7, "0xblock7", "0xfrom", "0xto", None, 10)

    receipts = {
        "0xok": {"status": "0x1", "blockHash": "0xblock7"},
        "0xreverted": {"status": "0x0", "blockHash": "0xblock7"},
        "0xmoved": {"status": "0x1", "blockHash": "0xother"},
        "0xgone": None,
    }

    kept = _check_receipts([found(tx) for tx in receipts], list(receipts.values()))
    # reverted: dropped; moved/gone: kept but marked off-branch so the range is cut below them
    assert [(c.tx_hash, c.block_hash == "0xblock7") for c in kept] == [
        ("0xok", True),
        ("0xmoved", False),
        ("0xgone", False),
    ]


def test_failovers_count_url_changes_only() -> None:
    calls = {"a": 0}

    def dies_after_two(host: str, payload: list[dict[str, Any]]) -> httpx.Response:
        calls["a"] += 1
        if calls["a"] > 2:
            return httpx.Response(503)
        return healthy()(host, payload)

    node = Node({"a": dies_after_two, "b": healthy()})
    with client(node, "a", "b") as rpc:
        rpc.call("eth_blockNumber")  # chain id + this: both on a
        assert rpc.failovers == 0
        rpc.call("eth_blockNumber")  # a now fails: b answers
        rpc.call("eth_blockNumber")  # stays on b
        assert rpc.failovers == 1 and rpc.active_url == "http://b"


def test_tls_is_verified_on_every_url_but_plain_http(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a plain-http URL skips the CA bundle (it never speaks TLS); https, in any case, verifies."""
    made: list[Any] = []
    real = httpx.Client

    def client(**kwargs: Any) -> httpx.Client:
        made.append(kwargs["verify"])
        return real(**kwargs)

    monkeypatch.setattr(httpx, "Client", client)
    rpc = RpcClient(["http://127.0.0.1:8545", "https://node.example/v3/key", "HTTPS://NODE.example/"])
    for index in range(3):
        rpc._client(index)
    rpc.close()
    assert made == [False, True, True]


def test_receipts_range_logs_and_logs_by_hash_are_asked_together() -> None:
    """After the blocks: native receipts, the range logs below `by_hash_from` and, for
    each newer header, the block and its logs by its hash, in ONE request. The lowest
    block whose by-hash answers cannot be taken (an unknown hash, as an error or as no
    block; another block's logs) is returned so the range is cut there."""
    from ctripctl.chain.logs import receipts_and_token_logs as _receipts_and_token_logs
    from ctripctl.domain.records import Found

    token = "0x" + "aa" * 20
    chain = [Header(n, f"0xh{n}", f"0xh{n - 1}", 0) for n in range(10, 17)]
    unknown_block = {"error": {"code": -32000, "message": "unknown block"}}

    def log(number: int, block_hash: str) -> dict[str, Any]:
        return {"blockNumber": hex(number), "blockHash": block_hash}

    def node(logs_by_hash: dict[str, Any], blocks: dict[str, Any]) -> Handler:
        def handler(host: str, payload: list[dict[str, Any]]) -> httpx.Response:
            def one(call: dict[str, Any]) -> Any:
                if call["method"] == "eth_chainId":
                    return "0x1"
                if call["method"] == "eth_getTransactionReceipt":
                    return {"status": "0x1", "blockHash": "0xh11"}
                if call["method"] == "eth_getBlockByHash":
                    return blocks.get(call["params"][0], {"hash": call["params"][0]})
                query = call["params"][0]
                if "fromBlock" in query:
                    assert (query["fromBlock"], query["toBlock"]) == ("0xa", "0xc")
                    return [log(11, "0xh11")]
                return logs_by_hash.get(query["blockHash"], [])

            return answer(payload, one)

        return handler

    native = Found("pay_n", "0xtx", -1, 11, "0xh11", "0xfrom", "0xto", None, 10)
    targets = ["0x" + "11" * 20]
    cases = [  # (logs by hash, blocks by hash) -> the lowest block that cannot be read
        ({"0xh13": [log(13, "0xh13")], "0xh14": unknown_block}, {}, 14),
        ({"0xh13": [log(13, "0xh13")]}, {"0xh14": None}, 14),  # `[]` for logs, but no block
        ({"0xh13": [log(13, "0xh13")], "0xh15": [log(15, "0xh15-other-branch")]}, {}, 15),
        ({"0xh13": [log(13, "0xh13")], "0xh16": None}, {}, 16),  # not a list of logs
        ({"0xh13": [log(13, "0xh13")]}, {}, None),
    ]
    for logs_by_hash, blocks, cut in cases:
        seen = Node({"a": node(logs_by_hash, blocks)})
        with client(seen, "a") as rpc:
            credits, logs, unreadable = _receipts_and_token_logs(
                rpc, [native], chain, 10, 16, [token], targets, by_hash_from=13
            )
        assert [methods for _, methods in seen.seen] == [
            ["eth_chainId"],
            [
                "eth_getTransactionReceipt",
                "eth_getLogs",  # 10..12 as one range
                *["eth_getBlockByHash", "eth_getLogs"] * 4,  # 13..16 by hash
            ],
        ]
        assert credits == [native]
        assert unreadable == cut
        assert [int(entry["blockNumber"], 16) for entry in logs] == [11, 13]  # none from the cut up

    # Every block new enough: no range query at all.
    seen = Node({"a": node({"0xh13": [log(13, "0xh13")]}, {})})
    with client(seen, "a") as rpc:
        _, logs, unreadable = _receipts_and_token_logs(rpc, [], chain[3:4], 13, 13, [token], targets, 0)
    assert seen.seen[1][1] == ["eth_getBlockByHash", "eth_getLogs"]
    assert [int(entry["blockNumber"], 16) for entry in logs] == [13] and unreadable is None


def test_calls_after_the_blocks_never_split_a_block_from_its_logs() -> None:
    """CALLS_PER_REQUEST calls per request at most, but a block by hash and its logs
    always travel together (one node answers both); answers come back in call order."""
    from ctripctl.chain.logs import CALLS_PER_REQUEST, _send_grouped

    def echo(host: str, payload: list[dict[str, Any]]) -> httpx.Response:
        return answer(payload, lambda call: "0x1" if call["method"] == "eth_chainId" else call["params"])

    groups = [[("echo", (i,))] for i in range(CALLS_PER_REQUEST - 2)]
    groups += [
        [("echo", (f"block{b}",)), ("echo", (f"logs{b}-1",)), ("echo", (f"logs{b}-2",))] for b in range(3)
    ]
    seen = Node({"a": echo})
    with client(seen, "a") as rpc:
        results = _send_grouped(rpc, groups)
    assert results == [list(call[1]) for group in groups for call in group]
    sizes = [len(methods) for _, methods in seen.seen[1:]]
    assert sizes == [CALLS_PER_REQUEST - 2, 9]  # the first block's three calls did not fit
