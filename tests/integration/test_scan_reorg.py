"""Reorgs on a real anvil: evm_snapshot/evm_revert + a longer branch, and anvil_reorg.

After each reorg the next scan pass must find the common ancestor, orphan what was
credited above it, step the payments back (payment.reorged), and scan the new branch.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from ctripctl.db.models import Payment, Transfer
from ctripctl.db.session import get_engine, transaction
from tests.support.cli import Cli
from tests.support.evm import Chain
from tests.support.queries import event_types

ETH = 10**18
USDT = 10**6


def create(cli: Cli, amount: str, *args: str) -> dict[str, Any]:
    return cli.ok("payment", "create", "--chain", "local", "--amount", amount, *args)


def scan(cli: Cli, *args: str) -> dict[str, Any]:
    return cli.ok("scan", "--chain", "local", *args)


def status(cli: Cli, payment_id: str) -> str:
    return cli.ok("payment", "show", payment_id)["status"]


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
    chain.mine(30)  # deeper than confirmations (3) + the 16-block margin of kept hashes
    assert scan(cli)["transfers_found"] == 1
    chain.revert(snapshot)
    chain.mine(40)
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
