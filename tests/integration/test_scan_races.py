"""Scan passes against a node that answers from different states within one pass.

A loopback proxy in front of the real anvil reorganises the chain between two requests
of one pass, or answers one request from another branch, or fails over twice: the pass
must never move its checkpoint past a credit it did not see, never count a transaction
twice, and never record answers of two nodes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from web3 import Web3

from ctripctl.db.models import ChainState, Payment, Transfer, WebhookEvent
from ctripctl.db.session import get_engine, transaction
from tests.support.anvil import Anvil
from tests.support.cli import Cli
from tests.support.evm import Chain
from tests.support.rpc_proxy import Answer, RpcProxy

ETH = 10**18
USDT = 10**6
OTHER = "0x00000000000000000000000000000000DeaDBeef"
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)  # past any late window: not watched for that


def calls(body: Any) -> list[dict[str, Any]]:
    return body if isinstance(body, list) else [body]


def methods(body: Any) -> set[str]:
    return {c["method"] for c in calls(body)}


def set_config(config: Path, **values: str) -> None:
    lines = []
    for line in config.read_text().splitlines():
        key = line.split(" = ")[0]
        if key in values:
            line = f"{key} = {values[key]}"
        lines.append(line)
    config.write_text("\n".join(lines) + "\n")


def create(cli: Cli, amount: str, *args: str) -> dict[str, Any]:
    return cli.ok("payment", "create", "--chain", "local", "--amount", amount, *args)


def scan(cli: Cli, *args: str) -> dict[str, Any]:
    return cli.ok("scan", "--chain", "local", *args)


def standing(cli: Cli, payment: dict[str, Any]) -> tuple[str, str]:
    """The payment's (status, received_base) as `payment show` reports them now."""
    shown = cli.ok("payment", "show", payment["id"])
    return shown["status"], shown["received_base"]


def hexed(tx: dict[str, Any]) -> dict[str, Any]:
    """A transaction request for anvil_reorg (numbers as hex quantities)."""
    return {k: hex(v) if isinstance(v, int) else v for k, v in tx.items()}


def token_transfer(chain: Chain, token: Any, to: str, amount: int, nonce: int) -> dict[str, Any]:
    tx = token.functions.transfer(Web3.to_checksum_address(to), amount).build_transaction(
        {"from": chain.payer, "nonce": nonce, "gas": 100_000}
    )
    tx["input"] = tx.pop("data")
    tx.pop("chainId", None)
    return hexed(dict(tx))


def test_tip_replaced_after_its_logs_were_read(
    cli: Cli, chain: Chain, token: Any, anvil: Anvil, config_file: Path, database_url: str
) -> None:
    """The node answers the tip's logs on branch A, then replaces the tip by a block of
    branch B that holds a USDT credit. The pass records A's tip (its logs were read by
    A's hash, so they are A's), and the next pass sees the checkpoint's hash gone, walks
    back and finds the credit on B."""
    p = create(cli, "5", "--token", "USDT")
    chain.mine(3)
    credit = token_transfer(
        chain, token, p["address"], 5 * USDT, chain.w3.eth.get_transaction_count(chain.payer)
    )
    reorged = threading.Event()

    def hook(body: Any, forward: Callable[[Any], Answer]) -> Answer:
        answer = forward(body)
        if "eth_getLogs" in methods(body) and not reorged.is_set():
            chain.reorg(1, [(credit, 0)])  # the tip is replaced by a block with the credit
            reorged.set()
        return answer

    proxy = RpcProxy(anvil.url, hook=hook)
    try:
        set_config(config_file, rpc_urls=f'["{proxy.url}"]')
        first = scan(cli)
    finally:
        proxy.stop()
    assert reorged.is_set() and first["transfers_found"] == 0
    set_config(config_file, rpc_urls=f'["{anvil.url}"]')
    second = scan(cli)
    assert second["reorg_depth"] == 1 and second["transfers_found"] == 1
    assert standing(cli, p) == ("detected", str(5 * USDT))


@pytest.mark.parametrize("unknown_hash", ["error", "empty"])
def test_logs_from_a_backend_behind_the_headers(
    unknown_hash: str,
    cli: Cli,
    chain: Chain,
    token: Any,
    anvil: Anvil,
    config_file: Path,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A load-balanced provider answers the block requests from an up-to-date backend and
    the logs from one a block behind, which (as geth and anvil do past their head)
    returns the range's logs up to ITS head and, without an error, nothing for the newest
    block. Read as one range, the tip's USDT credit would be missed for good: the
    checkpoint would move past it. The blocks that can still change are read by hash,
    which the lagging backend does not know. `error`: its eth_getLogs by hash says so
    (the block itself, asked alongside, comes from an up-to-date backend); `empty`: it
    answers `[]` for the logs, as some nodes do, and no block for eth_getBlockByHash.
    Either way the pass stops before the tip, and the next one finds the credit."""
    p = create(cli, "5", "--token", "USDT")
    chain.mine(150)  # older than the by-hash window (logs read as one range); 4 block requests
    tip = chain.send_token(token, p["address"], 5 * USDT)["blockNumber"]
    tip_hash = anvil.rpc("eth_getBlockByNumber", hex(tip), False)["hash"]
    seen: list[str] = []  # in order: "head" (a pass starts), "blocks answered", "range", "hash"

    def lagging(call: dict[str, Any]) -> Any:
        """The lagging backend's own answer to a call about the tip, or None: forward it."""
        method, params = call["method"], call["params"]
        if method == "eth_getBlockByHash" and params[0] == tip_hash and unknown_hash == "empty":
            return {"result": None}
        if method == "eth_getLogs" and params[0].get("blockHash") == tip_hash:
            return (
                {"error": {"code": -32000, "message": "unknown block"}}
                if unknown_hash == "error"
                else {"result": []}
            )
        return None

    def hook(body: Any, forward: Callable[[Any], Answer]) -> Answer:
        if not isinstance(body, list):
            return forward(body)
        if "eth_blockNumber" in methods(body):
            seen.append("head")
        own: dict[Any, dict[str, Any]] = {}
        for call in body:
            if call["method"] == "eth_getLogs":
                query = call["params"][0]
                seen.append("hash" if "blockHash" in query else "range")
                if "toBlock" in query:
                    query["toBlock"] = hex(min(int(query["toBlock"], 16), tip - 1))  # its head
            answer = lagging(call)
            if answer is not None:
                own[call["id"]] = {"jsonrpc": "2.0", "id": call["id"], **answer}
        rest = [c for c in body if c["id"] not in own]
        status, answers = forward(rest) if rest else (200, [])
        if any(c["method"] == "eth_getBlockByNumber" and c["params"][1] is True for c in body):
            seen.append("blocks answered")
        return status, [*answers, *own.values()]

    proxy = RpcProxy(anvil.url, hook=hook)
    try:
        set_config(config_file, rpc_urls=f'["{proxy.url}"]')
        first = scan(cli, "--batches", "5")
    finally:
        proxy.stop()
    passes = [i for i, event in enumerate(seen) if event == "head"]
    first_pass = seen[: passes[1]] if len(passes) > 1 else seen
    assert "range" in first_pass and "hash" in first_pass
    # The range logs are asked only once every block request has been answered.
    assert first_pass.index("range") > max(i for i, e in enumerate(first_pass) if e == "blocks answered")
    assert first["checkpoint"] == tip - 1 and first["transfers_found"] == 0
    assert first["passes"] == 2  # the second pass scanned nothing: no use in a third
    reason = {
        "error": "eth_getLogs by block hash failed: unknown block",
        "empty": "the node does not know this block (eth_getBlockByHash)",
    }[unknown_hash]
    assert f"block {tip} ({tip_hash}): {reason}; the pass stops before it" in caplog.messages
    assert standing(cli, p) == ("pending", "0")
    set_config(config_file, rpc_urls=f'["{anvil.url}"]')
    second = scan(cli)
    assert second["from_block"] == tip and second["transfers_found"] == 1
    assert standing(cli, p) == ("detected", str(5 * USDT))


@pytest.mark.parametrize("answer", ["missing", "other-block"])
def test_receipts_of_another_block_cut_the_range(
    answer: str, cli: Cli, chain: Chain, token: Any, anvil: Anvil, config_file: Path, database_url: str
) -> None:
    """Receipts mode: the node answers the tip header of one branch and the receipts of
    another (here: without the credit's receipt, or another block's receipts). The block
    must be left out of the pass, not recorded as empty."""
    p = create(cli, "5", "--token", "USDT")
    chain.send_eth(OTHER, 1)  # the block below holds one unrelated transaction
    tip = chain.send_token(token, p["address"], 5 * USDT)["blockNumber"]
    below = anvil.rpc("eth_getBlockReceipts", hex(tip - 1))
    assert len(below) == 1
    tampered = threading.Event()

    def hook(body: Any, forward: Callable[[Any], Answer]) -> Answer:
        status, result = forward(body)
        for call in calls(body):
            if call["method"] == "eth_getBlockReceipts" and call["params"][0] == hex(tip):
                for item in result if isinstance(result, list) else [result]:
                    if item["id"] == call["id"]:
                        item["result"] = [] if answer == "missing" else below
                        tampered.set()
        return status, result

    proxy = RpcProxy(anvil.url, hook=hook)
    text = config_file.read_text()
    config_file.write_text(text.replace('rpc_timeout = "5s"', 'rpc_timeout = "5s"\nscan_source = "receipts"'))
    set_config(config_file, rpc_urls=f'["{proxy.url}"]')
    try:
        first = scan(cli)
    finally:
        proxy.stop()
    assert tampered.is_set()
    assert first["checkpoint"] == tip - 1 and first["transfers_found"] == 0
    set_config(config_file, rpc_urls=f'["{anvil.url}"]')
    assert scan(cli)["transfers_found"] == 1
    assert standing(cli, p) == ("detected", str(5 * USDT))


def test_rescan_ending_between_two_blocks_of_one_transaction(
    cli: Cli, chain: Chain, token: Any, config_file: Path, database_url: str
) -> None:
    """A credit re-mined on the new branch in a LOWER block, with another log index; a
    rescan whose range ends between the two blocks finds the new one. The old record (of
    the same transaction, above the range) is off the chain: it must not count as well —
    it is the same credit (same place among its transaction's logs), moved to its new block."""
    p = create(cli, "5", "--token", "USDT")
    chain.mine(3)
    sent = chain.send_token(token, p["address"], 5 * USDT)
    old_block = sent["blockNumber"]
    chain.mine(2)
    assert scan(cli)["transfers_found"] == 1
    # New branch from old_block − 1: a mint (one log) first, then the same transfer.
    mint = token.functions.mint(chain.payer, 1).build_transaction(
        {
            "from": chain.accounts[0],
            "nonce": chain.w3.eth.get_transaction_count(chain.accounts[0]),
            "gas": 100_000,
        }
    )
    mint["input"] = mint.pop("data")
    mint.pop("chainId", None)
    chain.reorg(
        chain.head - old_block + 2,
        [(hexed(dict(mint)), 0), (chain.same_transaction(sent["transactionHash"]), 0)],
    )
    moved = chain.w3.eth.get_transaction_receipt(sent["transactionHash"])
    assert moved["blockNumber"] == old_block - 1 and moved["logs"][0]["logIndex"] == 1

    set_config(config_file, block_batch_size="1")
    result = scan(cli, "--from-block", str(old_block - 1))  # the range is old_block − 1 only
    assert result["to_block"] == old_block - 1
    shown = cli.ok("payment", "show", p["id"])
    assert shown["received_base"] == str(5 * USDT) and shown["overpaid"] is False
    states = sorted((t["block_number"], t["state"]) for t in shown["transfers"])
    assert states == [(old_block - 1, "seen")]
    with transaction(get_engine(database_url)) as session:
        types = list(
            session.execute(select(WebhookEvent.type).where(WebhookEvent.payment_id == p["id"])).scalars()
        )
    assert types.count("payment.detected") == 1


def test_later_rescan_pass_finds_a_moved_credit_of_a_confirmed_payment(
    cli: Cli, chain: Chain, config_file: Path, database_url: str
) -> None:
    """A multi-pass rescan: the second pass's range holds a credit, moved one block up, of a
    payment confirmed long ago (so not watched as receiving). It must be found there, not
    orphaned."""
    p = create(cli, "1")
    chain.mine(4)
    sent = chain.send_eth(p["address"], ETH)
    block = sent["blockNumber"]
    chain.mine(2)
    scan(cli)
    with transaction(get_engine(database_url)) as session:  # what `confirm` would have done, long ago
        session.execute(update(Transfer).values(state="confirmed"))
        session.execute(
            update(Payment)
            .where(Payment.id == p["id"])
            .values(status="confirmed", confirmed_base=ETH, updated_at=LONG_AGO)
        )
    chain.reorg(3, [(chain.same_transaction(sent["transactionHash"]), 1)])
    assert chain.w3.eth.get_transaction_receipt(sent["transactionHash"])["blockNumber"] == block + 1

    set_config(config_file, block_batch_size="2")
    result = scan(cli, "--from-block", str(block - 2), "--batches", "5")
    assert result["passes"] >= 2 and result["checkpoint"] == chain.head
    shown = cli.ok("payment", "show", p["id"])
    assert shown["received_base"] == str(ETH)
    [t] = shown["transfers"]
    assert (t["block_number"], t["state"]) == (block + 1, "seen")


def test_second_failover_during_the_redo_records_nothing(
    cli: Cli, chain: Chain, token: Any, anvil: Anvil, config_file: Path, database_url: str
) -> None:
    """The first URL dies mid-pass (the pass is redone on the second); the second dies
    during the redo: the answers would again come from two nodes, so nothing is recorded."""
    chain.mine(120)
    p = create(cli, "5", "--token", "USDT")
    chain.send_token(token, p["address"], 5 * USDT)
    chain.mine(40)
    first = RpcProxy(anvil.url, fail_after=3)  # chain id, head, one batch; then HTTP 500
    heads = []

    def hook(body: Any, forward: Callable[[Any], Answer]) -> Answer:
        if heads:  # the redo has started on this URL: it dies after its first request
            return 500, {"error": "upstream exploded"}
        if "eth_blockNumber" in methods(body):
            heads.append(body)
        return forward(body)

    second = RpcProxy(anvil.url, hook=hook)
    set_config(config_file, rpc_urls=f'["{first.url}", "{second.url}", "{anvil.url}"]', rpc_timeout='"1s"')
    try:
        run = cli("scan", "--chain", "local", "--json")
    finally:
        first.stop()
        second.stop()
    assert heads, "the redo never reached the second URL"
    assert run.exit_code == 5, run
    assert run.stdout == ""
    with transaction(get_engine(database_url)) as session:
        assert session.get(ChainState, "local") is None
        assert session.execute(select(Transfer)).first() is None
    set_config(config_file, rpc_urls=f'["{anvil.url}"]')
    assert scan(cli)["transfers_found"] == 1


def test_head_block_never_goes_down(cli: Cli, chain: Chain, database_url: str) -> None:
    """A lagging node (head below what was seen before) does not lower chain_states.head_block."""
    snapshot = chain.snapshot()
    chain.mine(5)
    seen = scan(cli)["head"]
    chain.revert(snapshot)
    assert chain.head < seen
    scan(cli)
    with transaction(get_engine(database_url)) as session:
        state = session.get(ChainState, "local")
        assert state is not None and state.head_block == seen
