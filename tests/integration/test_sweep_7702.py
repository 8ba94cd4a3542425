"""Token sweeps as sponsored EIP-7702 batches, on real anvil (Prague: type 4 accepted),
SQLite and PostgreSQL: the tank deploys the SweepDelegate once, then one type-4
transaction per `max_batch` deposits moves their tokens to the treasury; the deposits
never hold gas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ctripctl.evm.transactions import DELEGATE_ARTIFACT
from ctripctl.faults import FAULT_EXIT_CODE
from ctripctl.passes.sweep import FAULT_AFTER_RECORD
from tests.support.anvil import Anvil
from tests.support.cli import Cli
from tests.support.evm import Chain
from tests.support.queries import event_types
from tests.support.sweeping import (
    ETH,
    TANK,
    TREASURY,
    USDT,
    eth_of,
    paid_and_confirmed,
    sweep,
    sweep_config,
    sweep_process,
    sweep_rows,
    tokens_of,
)

DELEGATE_ABI = json.loads(DELEGATE_ARTIFACT.read_text())["abi"]


def config(tmp_path: Path, url: str, rpc_url: str, token: Any, extra: str = "") -> Cli:
    return Cli(
        sweep_config(
            tmp_path, database_url=url, rpc_url=rpc_url, token_address=token.address, chain_extra=extra
        )
    )


def deploy_pausable(chain: Chain) -> Any:
    artifact = json.loads((Path(__file__).parents[1] / "contracts" / "PausableToken.json").read_text())
    factory = chain.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = chain.w3.eth.wait_for_transaction_receipt(
        factory.constructor().transact({"from": chain.accounts[0]})
    )
    return chain.w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])


def deploy_delegate(cli: Cli, chain: Chain, database_url: str, waiting: int) -> str:
    """The first pass deploys the SweepDelegate (the token sweeps wait for it)."""
    first = sweep(cli)
    assert (first["planned"], first["sent"], first["waiting_for_delegate"]) == (1, 0, waiting), first
    [deploy] = [r for r in sweep_rows(database_url) if r.kind == "deploy"]
    assert chain.w3.eth.get_code(chain.w3.to_checksum_address(deploy.to_address)) != b""
    return deploy.to_address


def test_one_sponsored_transaction_per_batch_sweeps_every_deposit_without_dust(
    tmp_path: Path, database_url: str, anvil: Anvil, chain: Chain, token: Any, wallet: Path
) -> None:
    cli = config(tmp_path, database_url, anvil.url, token, "max_batch = 3")
    payments = [paid_and_confirmed(cli, chain, str(10 + i), token) for i in range(5)]
    chain.send_eth(TANK, ETH, sender=chain.accounts[0])
    delegate = deploy_delegate(cli, chain, database_url, waiting=5)

    result = sweep(cli)
    assert (result["batches_sent"], result["sent"], result["topups_sent"]) == (2, 5, 0), result
    assert {s["address"] for s in result["sweeps"]} == {p["address"] for p in payments}
    assert sum(tokens_of(token, p["address"]) for p in payments) == 0
    assert tokens_of(token, TREASURY) == sum(int(p["amount_base"]) for p in payments)
    for p in payments:
        assert eth_of(chain, p["address"]) == 0  # no gas ever sent to a deposit: no dust
        code = chain.w3.eth.get_code(chain.w3.to_checksum_address(p["address"]))
        assert code.hex() == "ef0100" + delegate[2:].lower()  # kept delegated (see the contract)
    batches = [r for r in sweep_rows(database_url) if r.kind == "batch7702"]
    assert len(batches) == 2 and all(r.from_address == TANK for r in batches)
    shown = cli.ok("sweep", "show", batches[0].id)
    assert [i["status"] for i in shown["items"]] == ["pending"] * 3

    chain.mine(3)
    settled = sweep(cli)
    assert settled["settled"] == 5, settled
    for p in payments:
        shown = cli.ok("payment", "show", p["id"])
        assert (shown["status"], shown["swept_base"]) == ("settled", p["amount_base"])
        assert event_types(database_url, p["id"])[-1] == "payment.settled"
    assert sweep(cli)["planned"] == 0
    items = cli.ok("sweep", "show", batches[0].id)["items"]
    assert [(i["status"], i["moved_base"]) for i in items] == [("moved", i["amount_base"]) for i in items]


def test_a_token_that_reverts_inside_the_batch_loses_no_other_deposit(
    tmp_path: Path, database_url: str, anvil: Anvil, chain: Chain, token: Any, wallet: Path
) -> None:
    paused = deploy_pausable(chain)
    extra = f'\n[chains.local.tokens.PAUSE]\naddress = "{paused.address}"\ndecimals = 6\n'
    path = sweep_config(tmp_path, database_url=database_url, rpc_url=anvil.url, token_address=token.address)
    path.write_text(path.read_text() + extra)
    cli = Cli(path)
    good = [paid_and_confirmed(cli, chain, "5", token) for _ in range(2)]
    bad_payment = cli.ok("payment", "create", "--chain", "local", "--amount", "7", "--token", "PAUSE")
    paused.functions.mint(bad_payment["address"], 7 * USDT).transact({"from": chain.accounts[0]})
    chain.mine(3)
    cli.ok("scan", "--chain", "local")
    cli.ok("confirm", "--chain", "local")
    assert cli.ok("payment", "show", bad_payment["id"])["status"] == "confirmed"
    chain.send_eth(TANK, ETH, sender=chain.accounts[0])
    deploy_delegate(cli, chain, database_url, waiting=3)

    paused.functions.setPaused(True).transact({"from": chain.accounts[0]})
    result = sweep(cli)
    assert (result["batches_sent"], result["sent"]) == (1, 3), result
    chain.mine(3)
    after = sweep(cli)
    assert after["settled"] == 2, after  # the two good deposits, each on its own logs
    assert tokens_of(token, TREASURY) == 10 * USDT
    assert cli.ok("payment", "show", bad_payment["id"])["status"] == "confirmed"
    assert tokens_of(paused, bad_payment["address"]) == 7 * USDT  # still there, still tracked
    assert after["clears_sent"] == 1  # the batch is mined: its deposits' delegations are cleared

    paused.functions.setPaused(False).transact({"from": chain.accounts[0]})
    chain.mine(3)
    again = sweep(cli)  # the clearing is deep: the failed deposit is planned again, alone
    assert (again["planned"], again["sent"]) == (1, 1), again
    assert {s["address"] for s in again["sweeps"]} == {bad_payment["address"]}
    chain.mine(3)
    assert sweep(cli)["settled"] == 1
    assert tokens_of(paused, TREASURY) == 7 * USDT
    for p in good:
        assert cli.ok("payment", "show", p["id"])["status"] == "settled"


def test_a_crash_between_signing_and_broadcast_resends_the_same_batch(
    tmp_path: Path, database_url: str, anvil: Anvil, chain: Chain, token: Any, wallet: Path
) -> None:
    cli = config(tmp_path, database_url, anvil.url, token)
    payments = [paid_and_confirmed(cli, chain, "3", token) for _ in range(3)]
    chain.send_eth(TANK, ETH, sender=chain.accounts[0])
    deploy_delegate(cli, chain, database_url, waiting=3)

    code, _, err = sweep_process(cli.config, wallet, "--json", fault=FAULT_AFTER_RECORD)
    assert code == FAULT_EXIT_CODE, err
    [batch] = [r for r in sweep_rows(database_url) if r.kind == "batch7702"]
    assert batch.status == "signed" and tokens_of(token, TREASURY) == 0

    resent = sweep(cli)
    assert (resent["rebroadcast"], resent["planned"]) == (1, 0), resent
    chain.mine(3)
    assert sweep(cli)["settled"] == 3
    assert tokens_of(token, TREASURY) == 9 * USDT
    # One batch, ever (then the transaction that clears the deposits' delegations).
    assert [r.kind for r in sweep_rows(database_url)] == ["deploy", "batch7702", "clear7702"]
    for p in payments:
        assert cli.ok("payment", "show", p["id"])["swept_base"] == str(3 * USDT)


def test_a_node_without_eip7702_falls_back_to_top_ups(
    tmp_path: Path, database_url: str, wallet: Path
) -> None:
    node = Anvil("--hardfork", "cancun")
    try:
        chain = Chain(node)
        token = chain.deploy_token("USDT", 6)
        cli = config(tmp_path, database_url, node.url, token)
        payment = paid_and_confirmed(cli, chain, "4", token)
        chain.send_eth(TANK, ETH, sender=chain.accounts[0])
        result = sweep(cli)
        assert (result["topups_sent"], result["batches_sent"], result["waiting_for_delegate"]) == (1, 0, 0)
        assert sweep(cli)["sent"] == 1
        assert tokens_of(token, TREASURY) == 4 * USDT and tokens_of(token, payment["address"]) == 0

        (tmp_path / "ctrip.toml").unlink()
        strict = config(tmp_path, database_url, node.url, token, 'sweep_strategy = "eip7702"')
        run = strict("sweep", "run", "--chain", "local")
        assert run.exit_code == 2 and "refuses EIP-7702" in run.stderr, run
    finally:
        node.stop()


def test_a_delegated_deposit_still_takes_payments_and_only_the_sponsor_can_drive_it(
    tmp_path: Path, database_url: str, anvil: Anvil, chain: Chain, token: Any, wallet: Path
) -> None:
    cli = config(tmp_path, database_url, anvil.url, token)
    payment = paid_and_confirmed(cli, chain, "6", token)
    chain.send_eth(TANK, ETH, sender=chain.accounts[0])
    delegate = deploy_delegate(cli, chain, database_url, waiting=1)
    assert sweep(cli)["batches_sent"] == 1
    deposit = chain.w3.to_checksum_address(payment["address"])
    assert chain.w3.eth.get_code(deposit).hex() == "ef0100" + delegate[2:].lower()

    # While delegated, nobody but the sponsor can make it move tokens, even to the treasury.
    stranger = chain.accounts[4]
    as_deposit = chain.w3.eth.contract(address=deposit, abi=DELEGATE_ABI)
    with pytest.raises(Exception, match="not the sponsor"):
        as_deposit.functions.sweep(token.address, 1).call({"from": stranger})
    at_delegate = chain.w3.eth.contract(address=chain.w3.to_checksum_address(delegate), abi=DELEGATE_ABI)
    with pytest.raises(Exception, match="not the sponsor"):
        at_delegate.functions.sweepMany([deposit], [token.address], [1]).call({"from": stranger})
    assert at_delegate.functions.TREASURY().call() == TREASURY

    # The next pass clears the delegation; at depth the payment settles.
    assert sweep(cli)["clears_sent"] == 1
    assert chain.w3.eth.get_code(deposit) == b""
    chain.mine(3)
    assert sweep(cli)["settled"] == 1

    # A late payment after all that: a plain 21,000-gas ETH send goes through (no code is
    # left to run), and late tokens are detected and swept.
    eth_tx = chain.w3.eth.send_transaction(
        {"from": chain.payer, "to": deposit, "value": 10**15, "gas": 21_000}
    )
    assert chain.w3.eth.wait_for_transaction_receipt(eth_tx)["status"] == 1
    chain.send_token(token, deposit, 2 * USDT)
    chain.mine(3)
    cli.ok("scan", "--chain", "local")
    cli.ok("confirm", "--chain", "local")
    shown = cli.ok("payment", "show", payment["id"])
    assert (shown["overpaid"], shown["confirmed_base"]) == (True, str(8 * USDT))
    # The late ETH is another asset than the payment's (USDT): recorded, announced, not counted.
    assert event_types(database_url, payment["id"])[-2:] == ["payment.detected", "payment.unexpected_asset"]
    assert sweep(cli)["sent"] == 1
    chain.mine(3)
    sweep(cli)  # mined at depth: settles (already settled: only swept_base grows); and clears
    assert cli.ok("payment", "show", payment["id"])["swept_base"] == str(8 * USDT)
    assert tokens_of(token, TREASURY) == 8 * USDT
