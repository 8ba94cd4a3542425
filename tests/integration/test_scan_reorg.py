"""Reorgs on a real anvil: evm_snapshot/evm_revert + a longer branch, and anvil_reorg.

After each reorg the next scan pass must find the common ancestor, orphan what was
credited above it, step the payments back (payment.reorged), and scan the new branch.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from ctripctl.db.models import ChainState, Payment, ScannedBlock, Transfer, WebhookEvent
from ctripctl.db.session import get_engine, transaction
from tests.support.anvil import Anvil
from tests.support.cli import Cli
from tests.support.evm import Chain
from tests.support.queries import event_types
from tests.support.rpc_proxy import Answer, Hook, RpcProxy

ETH = 10**18
USDT = 10**6


def create(cli: Cli, amount: str, *args: str) -> dict[str, Any]:
    return cli.ok("payment", "create", "--chain", "local", "--amount", amount, *args)


def scan(cli: Cli, *args: str) -> dict[str, Any]:
    return cli.ok("scan", "--chain", "local", *args)


def status(cli: Cli, payment_id: str) -> str:
    return cli.ok("payment", "show", payment_id)["status"]


def set_config(config: Path, **values: str) -> None:
    lines = []
    for line in config.read_text().splitlines():
        key = line.split(" = ")[0]
        if key in values:
            line = f"{key} = {values[key]}"
        lines.append(line)
    config.write_text("\n".join(lines) + "\n")


def transfers(url: str) -> list[tuple[str, int, str, str]]:
    """(payment_id, block_number, block_hash, state) of every stored transfer."""
    with transaction(get_engine(url)) as session:
        rows = session.execute(
            select(Transfer.payment_id, Transfer.block_number, Transfer.block_hash, Transfer.state).order_by(
                Transfer.id
            )
        ).all()
        return [tuple(r) for r in rows]  # type: ignore[misc]


def test_snapshot_revert_then_longer_branch(cli: Cli, chain: Chain, token: Any, database_url: str) -> None:
    native = create(cli, "1")
    usdt = create(cli, "5", "--token", "USDT")
    fork = chain.head
    snapshot = chain.snapshot()
    chain.send_eth(native["address"], ETH)
    chain.send_token(token, usdt["address"], 5 * USDT)
    chain.mine(2)
    first = scan(cli)
    assert first["transfers_found"] == 2
    assert status(cli, native["id"]) == status(cli, usdt["id"]) == "detected"

    chain.revert(snapshot)  # the two payments' blocks are gone …
    chain.mine(first["checkpoint"] - fork + 3)  # … and a longer branch without them wins
    second = scan(cli)
    assert second["reorg_depth"] == first["checkpoint"] - fork
    assert second["transfers_orphaned"] == 2 and second["transfers_found"] == 0
    assert second["checkpoint"] == chain.head and second["lag"] == 0
    for p in (native, usdt):
        shown = cli.ok("payment", "show", p["id"])
        assert shown["status"] == "pending" and shown["received_base"] == "0"
        assert [t["state"] for t in shown["transfers"]] == ["orphaned"]
        assert event_types(database_url, p["id"]) == [
            "payment.created",
            "payment.detected",
            "payment.reorged",
        ]

    # Paid again on the surviving branch: detected again, the old credit stays orphaned.
    chain.send_eth(native["address"], ETH)
    assert scan(cli)["transfers_found"] == 1
    shown = cli.ok("payment", "show", native["id"])
    assert shown["status"] == "detected" and shown["received_base"] == str(ETH)
    assert sorted(t["state"] for t in shown["transfers"]) == ["orphaned", "seen"]


def test_anvil_reorg_removes_a_credit(cli: Cli, chain: Chain, database_url: str) -> None:
    p = create(cli, "1")
    receipt = chain.send_eth(p["address"], ETH)
    chain.mine(2)
    assert scan(cli)["transfers_found"] == 1
    assert status(cli, p["id"]) == "detected"
    chain.reorg(3)  # replaces the payment's block and the two above it, without the payment
    result = scan(cli)
    assert result["reorg_depth"] == 3
    assert result["transfers_orphaned"] == 1
    assert status(cli, p["id"]) == "pending"
    [(payment_id, number, block_hash, state)] = transfers(database_url)
    assert (payment_id, number, state) == (p["id"], receipt["blockNumber"], "orphaned")
    assert block_hash != chain.block_hash(number)
    assert event_types(database_url, p["id"])[-1] == "payment.reorged"


def test_anvil_reorg_moving_a_credit_to_another_block(cli: Cli, chain: Chain, database_url: str) -> None:
    p = create(cli, "1")
    receipt = chain.send_eth(p["address"], ETH)
    chain.mine(2)
    scan(cli)
    # The same signed transaction (same nonce and fees: same hash) lands one block later.
    same = chain.same_transaction(receipt["transactionHash"])
    chain.reorg(3, [(same, 1)])
    moved = chain.w3.eth.get_transaction_receipt(receipt["transactionHash"])
    assert moved["blockNumber"] == receipt["blockNumber"] + 1
    result = scan(cli)
    assert result["reorg_depth"] == 3
    shown = cli.ok("payment", "show", p["id"])
    assert shown["status"] == "detected" and shown["received_base"] == str(ETH)  # never twice
    [(_, number, block_hash, state)] = transfers(database_url)
    assert (number, block_hash, state) == (moved["blockNumber"], moved["blockHash"].to_0x_hex(), "seen")
    # No money was lost and the status did not change: nothing to announce (lifecycle rule).
    assert event_types(database_url, p["id"]) == ["payment.created", "payment.detected"]


def test_reorg_moving_a_confirmed_credit_finds_it_again(cli: Cli, chain: Chain, database_url: str) -> None:
    """A confirmed payment is no longer watched; a reorg that moves its credit must still
    find it on the new branch (not orphan it for good)."""
    p = create(cli, "1")
    receipt = chain.send_eth(p["address"], ETH)
    chain.mine(2)
    scan(cli)
    with transaction(get_engine(database_url)) as session:  # what `confirm` would have done
        session.execute(update(Transfer).values(state="confirmed"))
        session.execute(
            update(Payment).where(Payment.id == p["id"]).values(status="confirmed", confirmed_base=ETH)
        )
    same = chain.same_transaction(receipt["transactionHash"])
    chain.reorg(3, [(same, 2)])
    result = scan(cli)
    assert result["reorg_depth"] == 3 and result["payments_updated"] == 1
    shown = cli.ok("payment", "show", p["id"])
    # Still paid in full, but its confirmations start again on the new block.
    assert shown["status"] == "detected" and shown["received_base"] == str(ETH)
    assert shown["confirmed_base"] == "0"
    [t] = shown["transfers"]
    assert (t["state"], t["block_number"]) == ("seen", receipt["blockNumber"] + 2)
    assert event_types(database_url, p["id"])[-1] == "payment.reorged"


def test_reorg_deeper_than_kept_hashes_needs_a_rescan(cli: Cli, chain: Chain, database_url: str) -> None:
    p = create(cli, "1")
    fork = chain.head
    snapshot = chain.snapshot()
    chain.send_eth(p["address"], ETH)
    chain.mine(80)  # deeper than the kept hashes: reorg_window, confirmations (3) + 64
    assert scan(cli)["transfers_found"] == 1
    chain.revert(snapshot)
    chain.mine(90)
    before = transfers(database_url)
    deep = cli("scan", "--chain", "local")
    assert deep.exit_code == 3, deep
    assert "reorganised deeper" in deep.stderr and "--from-block" in deep.stderr
    assert transfers(database_url) == before  # refused: nothing changed
    rescan = scan(cli, "--from-block", str(fork + 1))
    assert rescan["transfers_orphaned"] == 1 and rescan["checkpoint"] == chain.head
    assert status(cli, p["id"]) == "pending"
    assert transfers(database_url)[0][3] == "orphaned"


def test_reorg_counts_orphaned_transfers_and_payments(cli: Cli, chain: Chain, database_url: str) -> None:
    p = create(cli, "1")
    chain.send_eth(p["address"], ETH // 2)
    chain.send_eth(p["address"], ETH // 2)
    assert scan(cli)["transfers_found"] == 2
    assert status(cli, p["id"]) == "detected"
    chain.reorg(2)  # both credits' blocks replaced by empty ones
    result = scan(cli)
    assert (result["transfers_orphaned"], result["payments_updated"], result["reorg_depth"]) == (2, 1, 2)
    assert status(cli, p["id"]) == "pending"
    assert [state for *_, state in transfers(database_url)] == ["orphaned", "orphaned"]


def test_node_behind_the_checkpoint_is_not_a_reorg(cli: Cli, chain: Chain, database_url: str) -> None:
    """A node whose head is below our checkpoint (a lagging failover URL, a resync) is no
    evidence of a reorg: nothing is orphaned until its chain passes the checkpoint."""
    p = create(cli, "1")
    snapshot = chain.snapshot()
    chain.send_eth(p["address"], ETH)
    chain.mine(3)
    first = scan(cli)
    chain.revert(snapshot)  # the node now reports a head below our checkpoint
    assert chain.head < first["checkpoint"]
    behind = scan(cli)
    assert behind["blocks_scanned"] == 0 and behind["transfers_orphaned"] == 0
    assert behind["checkpoint"] == first["checkpoint"] and behind["reorg_depth"] == 0
    assert status(cli, p["id"]) == "detected"
    chain.mine(10)  # once its (different) chain passes the checkpoint, the reorg shows
    after = scan(cli)
    assert after["reorg_depth"] > 0 and after["transfers_orphaned"] == 1
    assert status(cli, p["id"]) == "pending"


def null_blocks(numbers: set[int]) -> Hook:
    """A proxy hook: the node answers `null` for eth_getBlockByNumber of these heights
    (a load-balanced backend that is behind), everything else as it is."""

    def hook(body: Any, forward: Callable[[Any], Answer]) -> Answer:
        status, answer = forward(body)
        calls = body if isinstance(body, list) else [body]
        wanted = {
            c["id"]
            for c in calls
            if c["method"] == "eth_getBlockByNumber" and str(c["params"][0]).startswith("0x")
            if int(c["params"][0], 16) in numbers
        }
        for item in answer if isinstance(answer, list) else [answer]:
            if item.get("id") in wanted:
                item["result"] = None
        return status, answer

    return hook


def snapshot_of(url: str) -> tuple[Any, ...]:
    """Everything a pass could write: checkpoint row, stored hashes, transfers, events."""
    with transaction(get_engine(url)) as session:
        state = session.get(ChainState, "local")
        assert state is not None
        written = (
            (state.last_block, state.last_block_hash, state.last_scan_at),
            session.execute(
                select(ScannedBlock.number, ScannedBlock.hash).order_by(ScannedBlock.number)
            ).all(),
            session.execute(select(WebhookEvent.id).order_by(WebhookEvent.seq)).all(),
        )
    return (*written, transfers(url))


def test_null_for_the_checkpoint_block_is_node_unavailable_not_a_reorg(
    cli: Cli, chain: Chain, anvil: Anvil, config_file: Path, database_url: str
) -> None:
    """A node whose head is past the checkpoint but answers null for the checkpoint block
    is behind (a load-balanced backend), not reorganised: exit 5, nothing written — no
    credit orphaned, no payment.reorged. Only another hash at that height is a reorg."""
    p = create(cli, "1")
    chain.send_eth(p["address"], ETH)
    checkpoint = scan(cli)["checkpoint"]  # the credit's block
    chain.mine(3)
    before = snapshot_of(database_url)
    proxy = RpcProxy(anvil.url, hook=null_blocks({checkpoint}))
    try:
        set_config(config_file, rpc_urls=f'["{proxy.url}"]')
        run = cli("scan", "--chain", "local", "--json")
    finally:
        proxy.stop()
    assert run.exit_code == 5, run
    assert run.stdout == "" and f"has no block {checkpoint}" in run.stderr
    assert snapshot_of(database_url) == before
    set_config(config_file, rpc_urls=f'["{anvil.url}"]')
    result = scan(cli)
    assert (result["reorg_depth"], result["transfers_orphaned"], result["checkpoint"]) == (0, 0, chain.head)
    assert status(cli, p["id"]) == "detected"
    assert event_types(database_url, p["id"]) == ["payment.created", "payment.detected"]


def test_null_while_walking_back_a_reorg_is_node_unavailable(
    cli: Cli, chain: Chain, anvil: Anvil, config_file: Path, database_url: str
) -> None:
    """During a real reorg, a block the walk back needs answered null is not a fork point
    further down: exit 5, nothing written; the next pass walks back to the right ancestor."""
    p = create(cli, "1")
    chain.mine(2)
    receipt = chain.send_eth(p["address"], ETH)
    chain.mine(3)
    scan(cli)
    chain.reorg(2)  # the credit's block stays; the two blocks above it are replaced
    before = snapshot_of(database_url)
    proxy = RpcProxy(anvil.url, hook=null_blocks({receipt["blockNumber"] + 1}))
    try:
        set_config(config_file, rpc_urls=f'["{proxy.url}"]')
        run = cli("scan", "--chain", "local", "--json")
    finally:
        proxy.stop()
    assert run.exit_code == 5, run
    assert snapshot_of(database_url) == before
    set_config(config_file, rpc_urls=f'["{anvil.url}"]')
    result = scan(cli)
    assert (result["reorg_depth"], result["transfers_orphaned"]) == (2, 0)
    assert event_types(database_url, p["id"]) == ["payment.created", "payment.detected"]
