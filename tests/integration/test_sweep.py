"""`ctripctl sweep` end to end: real anvil, a real ERC-20, SQLite and PostgreSQL.

Every test pays real payments on anvil, lets scan and confirm confirm them, then runs the
sweep pass through the CLI and checks the chain (treasury and deposit balances, nonces)
and the database (sweep rows, payment status, outbox events). The chain needs 3
confirmations (tests/support/config.py); anvil mines each transaction at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ctripctl.db.locks import sweep_lock
from ctripctl.db.session import Database
from ctripctl.domain.sweeping import FeeQuote, FeeType
from ctripctl.evm.keys import Keyring
from ctripctl.evm.transactions import Unsigned, sign
from ctripctl.faults import FAULT_EXIT_CODE
from ctripctl.passes.sweep import FAULT_AFTER_BROADCAST, FAULT_AFTER_RECORD
from tests.support.anvil import Anvil
from tests.support.cli import Cli
from tests.support.config import TEST_XPUB
from tests.support.evm import TEST_MNEMONIC, Chain
from tests.support.queries import event_types
from tests.support.rpc_proxy import RpcProxy
from tests.support.sweeping import (
    ETH,
    TANK,
    TREASURY,
    USDT,
    eth_of,
    mnemonic_file,
    nonce_of,
    paid_and_confirmed,
    strategy_config,
    sweep,
    sweep_config,
    sweep_process,
    sweep_rows,
    tokens_of,
)

GWEI = 10**9


@pytest.fixture
def setup(tmp_path: Path, database_url: str, anvil: Anvil, token: Any, wallet: Path) -> Cli:
    # EIP-7702 batches: test_sweep_7702.py
    return Cli(strategy_config(tmp_path, database_url, anvil.url, token, "topup"))


def test_native_sweep_is_recorded_sent_then_settles_at_depth(
    setup: Cli, chain: Chain, database_url: str
) -> None:
    payment = paid_and_confirmed(setup, chain, "1.5")
    before = eth_of(chain, TREASURY)

    first = sweep(setup)
    assert (first["planned"], first["sent"], first["topups_sent"]) == (1, 1, 0), first
    assert first["fee"]["type"] == "eip1559"
    assert first["fee"]["max_fee_per_gas"] > 0 and first["fee"]["gas_price"] is None
    [item] = first["sweeps"]
    assert item["address"] == payment["address"] and item["status"] == "sent" and item["token"] is None
    moved = int(item["amount_base"])
    assert eth_of(chain, TREASURY) - before == moved  # anvil mined it at once
    # Only the unused part of the max fee stays behind: balance - value - fee paid.
    fee = first["fee"]["max_fee_per_gas"] * 21_000
    assert moved == int(payment["amount_base"]) - fee
    assert 0 <= eth_of(chain, payment["address"]) <= fee

    # Mined but not deep: not settled yet.
    second = sweep(setup)
    assert (second["mined"], second["settled"], second["planned"]) == (1, 0, 0), second
    assert setup.ok("payment", "show", payment["id"])["status"] == "confirmed"

    chain.mine(3)
    third = sweep(setup)
    assert (third["settled"], third["planned"], third["sent"]) == (1, 0, 0), third
    shown = setup.ok("payment", "show", payment["id"])
    assert shown["status"] == "settled"
    assert shown["swept_base"] == str(moved)
    assert event_types(database_url, payment["id"])[-1] == "payment.settled"
    [row] = sweep_rows(database_url)
    assert (row.status, row.nonce, row.kind) == ("confirmed", 0, "native")

    # Nothing left to do, and nothing is sent twice.
    again = sweep(setup)
    assert (again["planned"], again["sent"], again["settled"]) == (0, 0, 0), again
    assert eth_of(chain, TREASURY) - before == moved
    listed = setup.ok("sweep", "list", "--chain", "local")
    assert [s["tx_hash"] for s in listed] == [row.tx_hash]
    assert setup.ok("sweep", "show", row.id)["status"] == "confirmed"


def test_token_sweep_tops_up_gas_exactly_then_sweeps_the_tokens(
    setup: Cli, chain: Chain, token: Any, database_url: str
) -> None:
    payment = paid_and_confirmed(setup, chain, "250", token)
    chain.send_eth(TANK, ETH, sender=chain.accounts[0])

    first = sweep(setup)
    assert (first["planned"], first["topups_sent"], first["sent"]) == (1, 1, 0), first
    [topup] = sweep_rows(database_url)
    assert (topup.kind, topup.from_address, topup.to_address) == ("topup", TANK, payment["address"])
    gas_needed = topup.amount_base
    assert eth_of(chain, payment["address"]) == gas_needed  # exactly gas_limit × max fee

    second = sweep(setup)  # the top-up is mined: the token transfer goes out
    assert (second["sent"], second["topups_sent"]) == (1, 0), second
    assert tokens_of(token, TREASURY) == 250 * USDT
    assert tokens_of(token, payment["address"]) == 0
    token_row = sweep_rows(database_url)[1]
    assert (token_row.kind, token_row.token, token_row.to_address) == ("token", "USDT", TREASURY)
    assert token_row.amount_base == 250 * USDT

    chain.mine(3)
    third = sweep(setup)
    assert third["settled"] == 1, third
    shown = setup.ok("payment", "show", payment["id"])
    assert (shown["status"], shown["swept_base"]) == ("settled", str(250 * USDT))
    assert [r.status for r in sweep_rows(database_url)] == ["confirmed", "confirmed"]


def test_an_empty_tank_holds_token_sweeps_but_not_native_ones(
    setup: Cli, chain: Chain, token: Any, database_url: str
) -> None:
    tokens = paid_and_confirmed(setup, chain, "10", token)
    native = paid_and_confirmed(setup, chain, "0.5")

    first = sweep(setup)
    assert (first["sent"], first["topups_sent"], first["waiting_for_tank"]) == (1, 0, 1), first
    assert int(first["tank_needed_base"]) > 0
    assert [s["address"] for s in first["sweeps"]] == [native["address"]]
    tank = setup.ok("sweep", "tank", "--chain", "local")
    assert tank["address"] == TANK and tank["balance_base"] == "0"
    assert int(tank["needed_base"]) > 0  # at the fee quoted now (the base fee moves every block)
    report = setup("status", "--json")
    assert "gas_tank_low" in {p["code"] for p in report.json()["problems"]}, report

    # Exactly what it asked for: anvil's base fee falls over these near-empty blocks.
    chain.send_eth(TANK, int(tank["needed_base"]), sender=chain.accounts[0])
    second = sweep(setup)
    assert (second["topups_sent"], second["waiting_for_tank"]) == (1, 0), second
    assert sweep(setup)["sent"] == 1
    assert tokens_of(token, TREASURY) == 10 * USDT
    assert tokens_of(token, tokens["address"]) == 0
    codes = {p["code"] for p in setup("status", "--json").json()["problems"]}
    assert "gas_tank_low" not in codes


def test_the_fee_cap_and_the_minimum_hold_sweeps_back(
    tmp_path: Path, database_url: str, anvil: Anvil, chain: Chain, wallet: Path
) -> None:
    capped = Cli(
        sweep_config(
            tmp_path, database_url=database_url, rpc_url=anvil.url, chain_extra='max_fee_gwei = "0.000000001"'
        )
    )
    payment = paid_and_confirmed(capped, chain, "1")
    result = sweep(capped)
    assert (result["skipped_fee_cap"], result["planned"], result["sent"]) == (1, 0, 0), result
    assert sweep_rows(database_url) == []
    assert eth_of(chain, payment["address"]) == ETH

    (tmp_path / "ctrip.toml").unlink()
    high_min = Cli(
        sweep_config(tmp_path, database_url=database_url, rpc_url=anvil.url, chain_extra='sweep_min = "2"')
    )
    result = sweep(high_min)
    assert (result["skipped_below_min"], result["planned"]) == (1, 0), result
    assert sweep_rows(database_url) == []


def test_a_legacy_chain_sweeps_to_exactly_zero(tmp_path: Path, database_url: str, wallet: Path) -> None:
    node = Anvil("--hardfork", "berlin")
    try:
        chain = Chain(node)
        cli = Cli(sweep_config(tmp_path, database_url=database_url, rpc_url=node.url))
        payment = paid_and_confirmed(cli, chain, "0.25")
        result = sweep(cli)
        assert result["fee"]["type"] == "legacy" and result["fee"]["gas_price"] > 0, result
        assert result["fee"]["max_fee_per_gas"] is None
        assert result["sent"] == 1
        assert eth_of(chain, payment["address"]) == 0
        assert eth_of(chain, TREASURY) == int(payment["amount_base"]) - 21_000 * result["fee"]["gas_price"]
    finally:
        node.stop()


def test_only_confirmed_money_is_swept(setup: Cli, chain: Chain, database_url: str) -> None:
    payment = paid_and_confirmed(setup, chain, "1")
    chain.send_eth(payment["address"], 3 * ETH)  # an overpayment, not yet deep
    result = sweep(setup)
    [item] = result["sweeps"]
    fee = result["fee"]["max_fee_per_gas"] * 21_000
    assert int(item["amount_base"]) == ETH - fee  # the fresh 3 ETH stays until it is deep
    assert eth_of(chain, payment["address"]) >= 3 * ETH


def test_a_second_pass_at_once_exits_6_and_changes_nothing(
    setup: Cli, chain: Chain, database_url: str
) -> None:
    paid_and_confirmed(setup, chain, "1")
    with sweep_lock(Database(database_url), "local"):
        run = setup("sweep", "run", "--chain", "local", "--json")
    assert run.exit_code == 6, run
    assert "another sweep pass" in run.stderr
    assert sweep_rows(database_url) == []
    # The scan lock is another lock: scanning goes on beside a sweep.
    with sweep_lock(Database(database_url), "local"):
        assert setup("scan", "--chain", "local", "--json").exit_code == 0


def test_dry_run_signs_sends_and_writes_nothing(
    setup: Cli, chain: Chain, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    payment = paid_and_confirmed(setup, chain, "1")
    monkeypatch.delenv("CTRIP_MNEMONIC_FILE")  # a dry run needs no mnemonic
    result = sweep(setup, "--dry-run")
    assert (result["planned"], result["sent"], result["dry_run"]) == (1, 0, True), result
    assert result["sweeps"][0]["tx_hash"] is None and result["sweeps"][0]["status"] == "planned"
    assert sweep_rows(database_url) == []
    assert eth_of(chain, payment["address"]) == ETH


# -- crashes, lost answers, dropped and reorged transactions -------------------------------
@pytest.mark.parametrize("fault", [FAULT_AFTER_RECORD, FAULT_AFTER_BROADCAST])
def test_a_kill_at_each_crash_point_ends_in_exactly_one_sweep(
    fault: str, tmp_path: Path, setup: Cli, chain: Chain, database_url: str, wallet: Path
) -> None:
    payment = paid_and_confirmed(setup, chain, "2")
    code, _out, err = sweep_process(setup.config, wallet, "--json", fault=fault)
    assert code == FAULT_EXIT_CODE, err
    [row] = sweep_rows(database_url)
    assert row.status == "signed" and row.raw_tx.startswith("0x")  # recorded before the broadcast
    broadcast = fault == FAULT_AFTER_BROADCAST
    assert eth_of(chain, TREASURY) == (row.amount_base if broadcast else 0)

    after = sweep(setup)
    assert after["planned"] == 0 and after["in_flight"] + after["mined"] >= 1, after
    assert after["rebroadcast"] == (0 if broadcast else 1)
    chain.mine(3)
    final = sweep(setup)
    assert final["settled"] == 1, final
    [row] = sweep_rows(database_url)
    assert row.status == "confirmed"
    assert eth_of(chain, TREASURY) == row.amount_base  # moved exactly once
    assert nonce_of(chain, payment["address"]) == 1  # one transaction ever left the deposit
    assert setup.ok("payment", "show", payment["id"])["status"] == "settled"


def test_a_lost_broadcast_answer_is_never_sent_again_under_a_new_nonce(
    tmp_path: Path, database_url: str, anvil: Anvil, chain: Chain, wallet: Path
) -> None:
    def lose_send_answers(body: Any, forward: Any) -> Any:
        status, answer = forward(body)
        calls = body if isinstance(body, list) else [body]
        if any(c.get("method") == "eth_sendRawTransaction" for c in calls):
            return 502, {"error": "connection reset"}  # the node took it; the answer is lost
        return status, answer

    proxy = RpcProxy(anvil.url, hook=lose_send_answers)
    try:
        cli = Cli(sweep_config(tmp_path, database_url=database_url, rpc_url=proxy.url))
        payment = paid_and_confirmed(cli, chain, "1")
        lost = cli("sweep", "run", "--chain", "local", "--json")
        assert lost.exit_code == 5, lost
        [row] = sweep_rows(database_url)
        assert row.status == "signed"
        assert eth_of(chain, TREASURY) == row.amount_base  # it did go out (once)

        proxy.hook = None  # the node answers again
        after = sweep(cli)
        assert (after["mined"], after["planned"], after["rebroadcast"]) == (1, 0, 0), after
    finally:
        proxy.stop()
    assert nonce_of(chain, payment["address"]) == 1
    assert [r.status for r in sweep_rows(database_url)] == ["mined"]


def test_a_transaction_dropped_from_the_mempool_is_re_sent_with_the_same_bytes(
    setup: Cli, chain: Chain, anvil: Anvil, database_url: str
) -> None:
    paid_and_confirmed(setup, chain, "1")
    anvil.rpc("evm_setAutomine", False)
    first = sweep(setup)
    [row] = sweep_rows(database_url)
    assert first["sent"] == 1 and row.status == "sent"
    anvil.rpc("anvil_dropTransaction", row.tx_hash)

    second = sweep(setup)
    assert (second["rebroadcast"], second["planned"], second["dropped"]) == (1, 0, 0), second
    assert anvil.rpc("eth_getTransactionByHash", row.tx_hash) is not None  # back in the pool
    chain.mine(1)
    assert sweep(setup)["mined"] == 1
    [again] = sweep_rows(database_url)
    assert (again.tx_hash, again.raw_tx, again.broadcasts) == (row.tx_hash, row.raw_tx, 2)
    assert eth_of(chain, TREASURY) == row.amount_base


def test_a_nonce_spent_by_another_transaction_marks_the_sweep_dropped_and_replans(
    setup: Cli, chain: Chain, anvil: Anvil, database_url: str
) -> None:
    payment = paid_and_confirmed(setup, chain, "1")
    anvil.rpc("evm_setAutomine", False)
    sweep(setup)
    [row] = sweep_rows(database_url)
    anvil.rpc("anvil_dropTransaction", row.tx_hash)
    # Someone with the deposit key spends nonce 0 elsewhere (1 wei to a stranger).
    key = Keyring(TEST_MNEMONIC, TEST_XPUB).deposit_key(0, payment["address"])
    quote = FeeQuote(FeeType.EIP1559, max_fee_per_gas=10 * GWEI, max_priority_fee_per_gas=GWEI)
    other = sign(Unsigned(31337, 0, chain.accounts[5], 1, 21_000, quote), key)
    anvil.rpc("eth_sendRawTransaction", other.raw)
    chain.mine(1)
    waiting = sweep(setup)  # spent, but not yet deep: it could still be a reorg away from ours
    assert (waiting["dropped"], waiting["planned"]) == (0, 0), waiting
    chain.mine(3)

    result = sweep(setup)
    assert (result["dropped"], result["planned"], result["sent"]) == (1, 1, 1), result
    old, new = sweep_rows(database_url)
    assert (old.status, new.status, new.nonce) == ("dropped", "sent", 1)
    chain.mine(4)
    assert sweep(setup)["settled"] == 1
    assert eth_of(chain, TREASURY) == new.amount_base  # the dropped one never moved money


def test_a_mined_sweep_reorged_away_goes_back_to_sent_and_settles_only_at_depth(
    setup: Cli, chain: Chain, anvil: Anvil, database_url: str
) -> None:
    payment = paid_and_confirmed(setup, chain, "1")
    sweep(setup)
    assert sweep(setup)["mined"] == 1
    [row] = sweep_rows(database_url)
    mined_in = row.block_number
    assert mined_in == chain.head
    anvil.rpc("evm_setAutomine", False)
    chain.reorg(1)  # the sweep's block is replaced by an empty one
    assert anvil.rpc("eth_getTransactionReceipt", row.tx_hash) is None

    result = sweep(setup)
    [row] = sweep_rows(database_url)
    assert row.status == "sent" and row.block_hash is None, result
    assert result["settled"] == 0 and result["planned"] == 0
    assert setup.ok("payment", "show", payment["id"])["status"] == "confirmed"
    chain.mine(1)
    assert sweep(setup)["mined"] == 1
    chain.mine(3)
    assert sweep(setup)["settled"] == 1
    assert eth_of(chain, TREASURY) == row.amount_base
    assert nonce_of(chain, payment["address"]) == 1


# -- refusals ----------------------------------------------------------------------------------
def test_bad_keys_and_config_are_refused_with_exit_2_and_nothing_written(
    tmp_path: Path, setup: Cli, chain: Chain, database_url: str, wallet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paid_and_confirmed(setup, chain, "1")
    wallet.chmod(0o644)
    run = setup("sweep", "run", "--chain", "local")
    assert run.exit_code == 2 and "chmod 600" in run.stderr, run

    other = tmp_path / "other"
    other.mkdir()
    wrong = mnemonic_file(
        other, words="legal winner thank year wave sausage worth useful legal winner thank yellow"
    )
    monkeypatch.setenv("CTRIP_MNEMONIC_FILE", str(wrong))
    run = setup("sweep", "run", "--chain", "local")
    assert run.exit_code == 2 and "does not belong to the configured xpub" in run.stderr, run
    assert "legal" not in run.stderr + run.stdout  # the words are never shown

    monkeypatch.delenv("CTRIP_MNEMONIC_FILE")
    run = setup("sweep", "run", "--chain", "local")
    assert run.exit_code == 2 and "mnemonic" in run.stderr, run
    assert sweep_rows(database_url) == []


@pytest.mark.parametrize(
    ("treasury", "message"),
    [
        ("0x000000000000000000000000000000000000DEAd", "checksum"),
        ("0x1234", "not a 0x-prefixed"),
        (None, "treasury is not set"),
    ],
)
def test_a_bad_or_missing_treasury_is_exit_2(
    tmp_path: Path, sqlite_url: str, anvil: Anvil, wallet: Path, treasury: str | None, message: str
) -> None:
    cli = Cli(sweep_config(tmp_path, database_url=sqlite_url, rpc_url=anvil.url, treasury=treasury))
    run = cli("sweep", "run", "--chain", "local")
    assert run.exit_code == 2 and message in run.stderr, run


def test_money_sent_after_settlement_is_seen_announced_and_swept_too(
    setup: Cli, chain: Chain, database_url: str
) -> None:
    payment = paid_and_confirmed(setup, chain, "1")
    first = int(sweep(setup)["sweeps"][0]["amount_base"])
    chain.mine(3)
    assert sweep(setup)["settled"] == 1

    chain.send_eth(payment["address"], ETH // 2)  # the customer pays again
    chain.mine(3)
    setup.ok("scan", "--chain", "local")
    setup.ok("confirm", "--chain", "local")
    shown = setup.ok("payment", "show", payment["id"])
    assert (shown["status"], shown["overpaid"], shown["confirmed_base"]) == (
        "settled",
        True,
        str(ETH * 3 // 2),
    )
    assert event_types(database_url, payment["id"])[-1] == "payment.detected"  # announced

    again = sweep(setup)
    assert again["sent"] == 1, again
    second = int(again["sweeps"][0]["amount_base"])
    chain.mine(3)
    assert sweep(setup)["settled"] == 0  # already settled: no second payment.settled
    shown = setup.ok("payment", "show", payment["id"])
    assert shown["swept_base"] == str(first + second)
    assert eth_of(chain, TREASURY) == first + second
    assert event_types(database_url, payment["id"]).count("payment.settled") == 1
    assert sweep(setup)["planned"] == 0  # every credit moved once
