"""`ctripctl scan` finds ETH sent from inside contract calls (issue 13), end to end on
real anvil, SQLite and PostgreSQL: a batch payout (tests/contracts/EthPayout.sol) paying
one payment in full and another in part; a node without tracing (a proxy answering
-32601), where the credit is recorded `via: "balance"` without a transaction; a reorg
that removes an internal credit; an internal credit to an expired payment."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update
from web3 import Web3

from ctripctl.db.models import Payment
from ctripctl.db.session import get_engine, transaction
from tests.support.anvil import Anvil
from tests.support.cli import Cli
from tests.support.evm import Chain
from tests.support.payouts import eth_steps, pay, play
from tests.support.queries import event_types
from tests.support.rpc_proxy import RpcProxy, refusing

ETH = 10**18


def create(cli: Cli, amount: str, *args: str) -> dict[str, Any]:
    return cli.ok("payment", "create", "--chain", "local", "--amount", amount, *args)


def show(cli: Cli, payment_id: str) -> dict[str, Any]:
    return cli.ok("payment", "show", payment_id)


def test_a_batch_payout_pays_one_in_full_and_one_in_part(
    cli: Cli, chain: Chain, payout: Any, database_url: str
) -> None:
    full, part = create(cli, "1"), create(cli, "2")
    paid = pay(chain, payout, [(full["address"], ETH), (part["address"], ETH // 2)])
    chain.mine(3)
    result = cli.ok("scan", "--chain", "local")
    assert result["transfers_found"] == 2
    shown = show(cli, full["id"])
    assert (shown["status"], shown["received_base"]) == ("detected", str(ETH))
    [t] = shown["transfers"]
    assert (t["via"], t["counted"], t["tx_hash"], t["block_number"]) == (
        "internal",
        True,
        paid["transactionHash"].to_0x_hex(),
        paid["blockNumber"],
    )
    assert t["from"].lower() == payout.address.lower()
    shown = show(cli, part["id"])
    assert (shown["status"], shown["received_base"]) == ("partially_paid", str(ETH // 2))
    # Confirmation as for any credit; a rescan counts nothing twice.
    cli.ok("confirm", "--chain", "local")
    assert show(cli, full["id"])["status"] == "confirmed"
    assert cli.ok("scan", "--chain", "local", "--from-block", "0")["transfers_found"] == 0
    assert show(cli, full["id"])["received_base"] == str(ETH)
    assert event_types(database_url, full["id"]) == [
        "payment.created",
        "payment.detected",
        "payment.confirmed",
    ]


def test_a_node_without_tracing_records_the_balance_change(
    anvil: Anvil, cli: Cli, chain: Chain, payout: Any, config_file: Path
) -> None:
    p = create(cli, "1")
    chain.mine(4)
    paid = pay(chain, payout, [(p["address"], ETH)])
    chain.mine(4)
    proxy = RpcProxy(anvil.url, hook=refusing(("debug_", "trace_")))
    try:
        config_file.write_text(config_file.read_text().replace(anvil.url, proxy.url))
        assert cli.ok("scan", "--chain", "local")["transfers_found"] == 1
    finally:
        proxy.stop()
    shown = show(cli, p["id"])
    assert (shown["status"], shown["received_base"]) == ("detected", str(ETH))
    [t] = shown["transfers"]
    assert (t["via"], t["tx_hash"], t["block_number"], t["counted"]) == (
        "balance",
        None,
        paid["blockNumber"],
        True,
    )


def test_a_reorg_removes_an_internal_credit(cli: Cli, chain: Chain, payout: Any, database_url: str) -> None:
    p = create(cli, "1")
    pay(chain, payout, [(p["address"], ETH)])
    chain.mine(2)
    assert cli.ok("scan", "--chain", "local")["transfers_found"] == 1
    assert show(cli, p["id"])["status"] == "detected"
    chain.reorg(3)  # the payout's block and the two above it, without the payout
    result = cli.ok("scan", "--chain", "local")
    assert (result["reorg_depth"], result["transfers_orphaned"], result["transfers_found"]) == (3, 1, 0)
    shown = show(cli, p["id"])
    assert (shown["status"], shown["received_base"]) == ("pending", "0")
    assert shown["transfers"][0]["state"] == "orphaned"
    assert event_types(database_url, p["id"])[-1] == "payment.reorged"


def test_an_internal_credit_to_an_expired_payment_is_paid_late(
    cli: Cli, chain: Chain, payout: Any, database_url: str
) -> None:
    p = create(cli, "1", "--expires-in", "1m")
    with transaction(get_engine(database_url)) as session:  # as `confirm` marks it
        session.execute(
            update(Payment)
            .where(Payment.id == p["id"])
            .values(status="expired", expired_at=datetime.now(UTC))
        )
    chain.anvil.rpc("evm_increaseTime", 600)  # the next blocks are 10 minutes later
    pay(chain, payout, [(p["address"], ETH)])
    assert cli.ok("scan", "--chain", "local")["transfers_found"] == 1
    shown = show(cli, p["id"])
    assert (shown["status"], shown["paid_late"], shown["transfers"][0]["via"]) == (
        "detected",
        True,
        "internal",
    )


def test_wrong_asset_deposits_are_listed_shown_apart_and_never_counted(
    cli: Cli, chain: Chain, token: Any, database_url: str
) -> None:
    native, usdt, clean = create(cli, "1"), create(cli, "5", "--token", "USDT"), create(cli, "1")
    chain.send_token(token, native["address"], 7 * 10**6)  # USDT to an ETH payment
    chain.send_eth(usdt["address"], ETH // 4)  # ETH to a USDT payment
    chain.send_eth(native["address"], ETH)  # and the ETH payment paid in full
    chain.mine(3)
    assert cli.ok("scan", "--chain", "local")["transfers_found"] == 3
    cli.ok("confirm", "--chain", "local")
    shown = show(cli, native["id"])
    assert (shown["status"], shown["received_base"], shown["overpaid"]) == ("confirmed", str(ETH), False)
    assert sorted((t["counted"], t["state"]) for t in shown["transfers"]) == [
        (False, "confirmed"),
        (True, "confirmed"),
    ]
    listed = cli.ok("payment", "list", "--unexpected")
    assert {p["id"] for p in listed} == {native["id"], usdt["id"]} and clean["id"] not in {
        p["id"] for p in listed
    }
    text = cli("payment", "show", native["id"])
    assert text.exit_code == 0 and "Deposits in another asset: not counted" in text.stdout
    assert "USDT" in text.stdout  # the asset column of the other-asset table
    assert event_types(database_url, usdt["id"]) == ["payment.created", "payment.unexpected_asset"]
    [local] = cli.ok("status")["chains"]
    assert local["payments"]["unexpected_deposits"] == 2


_step = eth_steps()


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(_step, min_size=1, max_size=7))
def test_recorded_native_credits_add_up_to_the_balance_increase(
    cli: Cli, chain: Chain, payout: Any, database_url: str, steps: list[Any]
) -> None:
    """Two ETH payments nothing else touches, paid by random top-level transfers, batch
    payouts and withdrawals, scanned at random moments (credits on both sides of a pass
    boundary): the live credits recorded for each equal its balance increase exactly."""
    payments = [create(cli, "100"), create(cli, "100")]
    addresses = [Web3.to_checksum_address(p["address"]) for p in payments]
    before = [chain.w3.eth.get_balance(a) for a in addresses]
    play(cli, chain, payout, addresses, steps)
    for p, address, base in zip(payments, addresses, before, strict=True):
        shown = show(cli, p["id"])
        live = [t for t in shown["transfers"] if t["state"] != "orphaned"]
        assert sum(int(t["amount_base"]) for t in live) == chain.w3.eth.get_balance(address) - base, shown
        assert shown["received_base"] == str(sum(int(t["amount_base"]) for t in live if t["counted"]))
