"""ETH that reaches a TOKEN payment's address from inside a contract call (issue 13): a
deposit in the wrong asset that no top-level transaction shows. `ctripctl scan` finds it
by balance reconciliation like contract-sent ETH on a native payment's address, records
it `counted: false` (18 decimals, never in `received`) and announces it once with
`payment.unexpected_asset` — end to end on real anvil, SQLite and PostgreSQL.

A token deposit's own balance changes are ours and must not become credits: the gas
tank's top-up (top-level ETH, recognised by its recorded hash), the gas its token sweep
pays, and — with EIP-7702 — the authorizations it signs for the tank's batch and
clearing transactions, which move its nonce without a transaction of its own (the
reconciliation skips an address whose nonce moved unexplained)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import Web3

from tests.support.anvil import Anvil
from tests.support.cli import Cli
from tests.support.evm import Chain
from tests.support.payouts import deploy_payout, eth_steps, pay, play
from tests.support.queries import event_types
from tests.support.rpc_proxy import RpcProxy, refusing
from tests.support.sweeping import (
    TANK,
    TREASURY,
    USDT,
    eth_of,
    nonce_of,
    paid_and_confirmed,
    sweep,
    sweep_config,
    sweep_rows,
    tokens_of,
)

ETH = 10**18


def create(cli: Cli, amount: str, *args: str) -> dict[str, Any]:
    return cli.ok("payment", "create", "--chain", "local", "--amount", amount, *args)


def show(cli: Cli, payment_id: str) -> dict[str, Any]:
    return cli.ok("payment", "show", payment_id)


@pytest.fixture(params=["tracing", "no tracing"])
def node_url(request: pytest.FixtureRequest, anvil: Anvil) -> Iterator[str]:
    """The node the scan asks: anvil itself, or anvil behind a proxy refusing traces."""
    if request.param == "tracing":
        yield anvil.url
        return
    proxy = RpcProxy(anvil.url, hook=refusing(("debug_", "trace_")))
    try:
        yield proxy.url
    finally:
        proxy.stop()


def test_a_payout_to_a_token_payment_is_recorded_uncounted_and_announced(
    anvil: Anvil, cli: Cli, chain: Chain, payout: Any, config_file: Path, database_url: str, node_url: str
) -> None:
    usdt, native = create(cli, "5", "--token", "USDT"), create(cli, "1")
    chain.mine(2)
    paid = pay(chain, payout, [(usdt["address"], ETH // 4), (native["address"], ETH)])
    chain.mine(3)
    config_file.write_text(config_file.read_text().replace(anvil.url, node_url))
    assert cli.ok("scan", "--chain", "local")["transfers_found"] == 2

    via = "internal" if node_url == anvil.url else "balance"
    shown = show(cli, usdt["id"])
    assert (shown["status"], shown["received_base"]) == ("pending", "0")
    [t] = shown["transfers"]
    assert (t["via"], t["counted"], t["token"], t["amount"], t["amount_base"], t["block_number"]) == (
        via,
        False,
        None,  # ETH, not the payment's USDT
        "0.25",  # in ETH's 18 decimals, not USDT's 6
        str(ETH // 4),
        paid["blockNumber"],
    )
    assert t["tx_hash"] == (paid["transactionHash"].to_0x_hex() if via == "internal" else None)
    assert event_types(database_url, usdt["id"]) == ["payment.created", "payment.unexpected_asset"]
    assert {p["id"] for p in cli.ok("payment", "list", "--unexpected")} == {usdt["id"]}
    # The native payment in the same payout is counted as before.
    shown = show(cli, native["id"])
    assert (shown["status"], shown["received_base"], shown["transfers"][0]["via"]) == (
        "detected",
        str(ETH),
        via,
    )

    # Confirmed like any credit, still not counted; announced once; a rescan adds nothing.
    cli.ok("confirm", "--chain", "local")
    shown = show(cli, usdt["id"])
    assert (shown["status"], shown["received_base"], shown["transfers"][0]["state"]) == (
        "pending",
        "0",
        "confirmed",
    )
    assert cli.ok("scan", "--chain", "local", "--from-block", "0")["transfers_found"] == 0
    assert event_types(database_url, usdt["id"]) == ["payment.created", "payment.unexpected_asset"]
    [local] = cli.ok("status")["chains"]
    assert local["payments"]["unexpected_deposits"] == 1


def test_a_top_up_and_token_sweep_in_the_range_leave_exactly_the_arrival(
    tmp_path: Path, database_url: str, wallet: Path
) -> None:
    """Without EIP-7702 (cancun) a token deposit is swept with gas from the tank: the tank's
    top-up (top-level ETH in), then the deposit's own token transfer (its gas out). Both
    are ours; an internal payout between them is the one credit to record."""
    node = Anvil("--hardfork", "cancun")
    try:
        chain = Chain(node)
        token = chain.deploy_token("USDT", 6)
        payout = deploy_payout(chain)
        cli = Cli(
            sweep_config(tmp_path, database_url=database_url, rpc_url=node.url, token_address=token.address)
        )
        payment = paid_and_confirmed(cli, chain, "4", token)
        deposit = payment["address"]
        chain.send_eth(TANK, ETH, sender=chain.accounts[0])
        assert sweep(cli)["topups_sent"] == 1
        topped = eth_of(chain, deposit)
        assert topped > 0
        paid = pay(chain, payout, [(deposit, 3 * 10**15)])
        assert sweep(cli)["sent"] == 1  # the token sweep, sent by the deposit itself
        chain.mine(3)
        assert tokens_of(token, TREASURY) == 4 * USDT and nonce_of(chain, deposit) == 1
        assert eth_of(chain, deposit) < topped + 3 * 10**15  # its gas came out of the balance
        assert [r.kind for r in sweep_rows(database_url)] == ["topup", "token"]

        assert cli.ok("scan", "--chain", "local")["transfers_found"] == 1
        shown = show(cli, payment["id"])
        assert [
            (t["via"], t["counted"], t["amount_base"], t["tx_hash"])
            for t in shown["transfers"]
            if t["token"] is None
        ] == [("internal", False, str(3 * 10**15), paid["transactionHash"].to_0x_hex())]
        assert shown["received_base"] == str(4 * USDT)
    finally:
        node.stop()


def test_eip7702_authorizations_in_the_range_leave_the_arrivals_to_record(
    tmp_path: Path, database_url: str, anvil: Anvil, chain: Chain, token: Any, payout: Any, wallet: Path
) -> None:
    """The tank's batch and clearing each carry an authorization signed by the deposit:
    its nonce moves twice, with no transaction from it. Those are our own moves, so ETH
    paid to the deposit from a contract in the same range (while delegated, and after)
    is still found."""
    cli = Cli(
        sweep_config(tmp_path, database_url=database_url, rpc_url=anvil.url, token_address=token.address)
    )
    payment = paid_and_confirmed(cli, chain, "6", token)
    deposit = payment["address"]
    chain.send_eth(TANK, ETH, sender=chain.accounts[0])
    assert sweep(cli)["planned"] == 1  # deploys the SweepDelegate
    assert sweep(cli)["batches_sent"] == 1
    assert chain.w3.eth.get_code(Web3.to_checksum_address(deposit)) != b""
    delegated = pay(chain, payout, [(deposit, 2 * 10**15)])  # the delegate's receive() takes it
    assert sweep(cli)["clears_sent"] == 1
    after = pay(chain, payout, [(deposit, 5 * 10**15)])
    chain.mine(3)
    assert nonce_of(chain, deposit) == 2 and tokens_of(token, TREASURY) == 6 * USDT

    assert cli.ok("scan", "--chain", "local")["transfers_found"] == 2
    shown = show(cli, payment["id"])
    found = sorted(
        (t["block_number"], t["via"], t["counted"], t["amount_base"], t["tx_hash"])
        for t in shown["transfers"]
        if t["token"] is None
    )
    assert found == [
        (r["blockNumber"], "internal", False, str(w), r["transactionHash"].to_0x_hex())
        for r, w in ((delegated, 2 * 10**15), (after, 5 * 10**15))
    ]
    assert event_types(database_url, payment["id"]).count("payment.unexpected_asset") == 1


# -- property: every wei on a token deposit is recorded, none counted ----------------------

_step = eth_steps(st.tuples(st.just("tokens"), st.integers(0, 1), st.integers(1, 10 * USDT)))


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(_step, min_size=1, max_size=7))
def test_native_credits_on_a_token_and_an_eth_deposit_add_up_to_their_balance_increase(
    cli: Cli, chain: Chain, token: Any, payout: Any, steps: list[Any]
) -> None:
    """A USDT payment and an ETH payment nothing else touches, sent ETH (top-level, from a
    batch payout, as a withdrawal) and USDT in random order, scanned at random moments:
    each address's live ETH credits equal its ETH balance increase; on the USDT payment
    they are all uncounted, and `received` is its counted USDT only."""
    payments = [create(cli, "100", "--token", "USDT"), create(cli, "100")]
    addresses = [Web3.to_checksum_address(p["address"]) for p in payments]
    before = [chain.w3.eth.get_balance(a) for a in addresses]
    play(cli, chain, payout, addresses, steps, token)
    for i, (p, address, base) in enumerate(zip(payments, addresses, before, strict=True)):
        shown = show(cli, p["id"])
        live = [t for t in shown["transfers"] if t["state"] != "orphaned"]
        eth = [t for t in live if t["token"] is None]
        assert sum(int(t["amount_base"]) for t in eth) == chain.w3.eth.get_balance(address) - base, shown
        assert all(t["counted"] == (i == 1) for t in eth), shown
        assert shown["received_base"] == str(sum(int(t["amount_base"]) for t in live if t["counted"]))
        assert tokens_of(token, address) == sum(int(t["amount_base"]) for t in live if t["token"] == "USDT")
