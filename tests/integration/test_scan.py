"""`ctripctl scan` against a real anvil, a real ERC-20, SQLite and PostgreSQL.

Each test sets up payments through the CLI, moves real money on the chain with web3,
runs the real scan command and checks both its output and the database.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update

from ctripctl.db.models import ChainState, Payment, ScannedBlock, Transfer, WebhookEvent
from ctripctl.db.session import get_engine, transaction
from tests.support.cli import Cli
from tests.support.evm import Chain
from tests.support.queries import event_types

ETH = 10**18
USDT = 10**6
OTHER = "0x00000000000000000000000000000000DeaDBeef"


def create(cli: Cli, amount: str, *args: str) -> dict[str, Any]:
    return cli.ok("payment", "create", "--chain", "local", "--amount", amount, *args)


def scan(cli: Cli, *args: str) -> dict[str, Any]:
    return cli.ok("scan", "--chain", "local", *args)


def show(cli: Cli, payment_id: str) -> dict[str, Any]:
    return cli.ok("payment", "show", payment_id)


def count(url: str, model: type) -> int:
    with transaction(get_engine(url)) as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def checkpoint(url: str) -> int | None:
    with transaction(get_engine(url)) as session:
        state = session.get(ChainState, "local")
        return None if state is None else state.last_block


def test_native_credit_is_detected(cli: Cli, chain: Chain, database_url: str) -> None:
    p = create(cli, "1")
    receipt = chain.send_eth(p["address"], ETH)
    result = scan(cli)
    assert result["transfers_found"] == 1
    assert result["payments_updated"] == 1
    assert result["to_block"] == chain.head == result["head"] == result["checkpoint"]
    assert result["from_block"] == 0
    assert result["lag"] == 0 and result["reorg_depth"] == 0
    shown = show(cli, p["id"])
    assert shown["status"] == "detected"
    assert shown["received_base"] == str(ETH)
    assert not shown["overpaid"] and not shown["paid_late"]
    [t] = shown["transfers"]
    assert t["tx_hash"] == receipt["transactionHash"].to_0x_hex()
    assert t["block_number"] == receipt["blockNumber"]
    assert t["block_hash"] == chain.block_hash(receipt["blockNumber"])
    assert t["log_index"] is None and t["token"] is None and t["state"] == "seen"
    assert t["from"] == chain.payer and t["to"] == p["address"]
    block_time = chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert t["block_time"] == datetime.fromtimestamp(block_time, UTC).isoformat().replace("+00:00", "Z")
    assert event_types(database_url, p["id"]) == ["payment.created", "payment.detected"]
    assert checkpoint(database_url) == chain.head


def test_token_credit_is_detected(cli: Cli, chain: Chain, token: Any, database_url: str) -> None:
    p = create(cli, "5", "--token", "USDT")
    receipt = chain.send_token(token, p["address"], 5 * USDT)
    assert scan(cli)["transfers_found"] == 1
    shown = show(cli, p["id"])
    assert shown["status"] == "detected" and shown["received"] == "5"
    [t] = shown["transfers"]
    assert t["token"] == "USDT" and t["amount_base"] == str(5 * USDT)
    assert t["log_index"] == receipt["logs"][0]["logIndex"]
    assert event_types(database_url, p["id"]) == ["payment.created", "payment.detected"]


def test_partial_then_completed(cli: Cli, chain: Chain, token: Any, database_url: str) -> None:
    native = create(cli, "1")
    usdt = create(cli, "10", "--token", "USDT")
    chain.send_eth(native["address"], 4 * ETH // 10)
    chain.send_token(token, usdt["address"], 3 * USDT)
    assert scan(cli)["transfers_found"] == 2
    assert show(cli, native["id"])["status"] == "partially_paid"
    assert show(cli, usdt["id"])["status"] == "partially_paid"
    chain.send_eth(native["address"], 6 * ETH // 10)
    chain.send_token(token, usdt["address"], 7 * USDT)
    assert scan(cli)["transfers_found"] == 2
    for p, received in ((native, str(ETH)), (usdt, str(10 * USDT))):
        shown = show(cli, p["id"])
        assert shown["status"] == "detected" and shown["received_base"] == received
        assert not shown["overpaid"]
        assert len(shown["transfers"]) == 2
        assert event_types(database_url, p["id"]) == [
            "payment.created",
            "payment.partially_paid",
            "payment.detected",
        ]


def test_overpaid(cli: Cli, chain: Chain, token: Any) -> None:
    p = create(cli, "5", "--token", "USDT")
    chain.send_token(token, p["address"], 7 * USDT)
    scan(cli)
    shown = show(cli, p["id"])
    assert shown["status"] == "detected" and shown["overpaid"] is True
    assert shown["received_base"] == str(7 * USDT)


def test_late_credit_is_recorded_and_flagged(cli: Cli, chain: Chain, database_url: str) -> None:
    on_time = create(cli, "1", "--expires-in", "1h")
    late = create(cli, "1", "--expires-in", "1m")
    expired = create(cli, "1", "--expires-in", "1m")
    # `confirm` (another command) would mark this one expired; the scanner keeps watching
    # it within the late window.
    with transaction(get_engine(database_url)) as session:
        session.execute(
            update(Payment)
            .where(Payment.id == expired["id"])
            .values(status="expired", expired_at=datetime.now(UTC))
        )
    chain.anvil.rpc("evm_increaseTime", 600)  # the next blocks are 10 minutes later
    for p in (on_time, late, expired):
        chain.send_eth(p["address"], ETH)
    assert scan(cli)["transfers_found"] == 3
    assert show(cli, on_time["id"])["paid_late"] is False
    for p in (late, expired):
        shown = show(cli, p["id"])
        assert shown["status"] == "detected", shown
        assert shown["paid_late"] is True
        assert shown["transfers"][0]["block_time"] > shown["expires_at"]


def test_noise_is_ignored(cli: Cli, chain: Chain, token: Any, database_url: str) -> None:
    """Noise is ignored; a deposit in another (configured) asset is not noise since issue
    13: it is recorded uncounted and announced once (payment.unexpected_asset)."""
    native = create(cli, "1")
    usdt = create(cli, "5", "--token", "USDT")
    other_token = chain.deploy_token("DAI", 18)
    chain.send_eth(OTHER, ETH)  # to nobody we watch
    chain.send_token(token, OTHER, 5 * USDT)
    wrong_eth = chain.send_eth(usdt["address"], ETH)  # ETH to a USDT payment: not its asset
    chain.send_token(other_token, usdt["address"], 5 * 10**18)  # a token nobody configured
    wrong_usdt = chain.send_token(token, native["address"], 5 * USDT)  # USDT to an ETH payment
    chain.send_eth(native["address"], 0)  # zero value
    result = scan(cli)
    assert result["transfers_found"] == 2 and result["payments_updated"] == 2
    assert result["blocks_scanned"] == chain.head + 1
    assert count(database_url, Transfer) == 2
    for p, receipt, token_symbol, amount in (
        (native, wrong_usdt, "USDT", "5"),
        (usdt, wrong_eth, None, "1"),
    ):
        shown = show(cli, p["id"])
        assert (shown["status"], shown["received_base"]) == ("pending", "0"), shown
        [t] = shown["transfers"]
        assert (t["counted"], t["token"], t["amount"], t["tx_hash"]) == (
            False,
            token_symbol,
            amount,
            receipt["transactionHash"].to_0x_hex(),
        )
        assert t["via"] == ("log" if token_symbol else "transaction")
        assert event_types(database_url, p["id"]) == ["payment.created", "payment.unexpected_asset"]
    assert scan(cli, "--from-block", "0")["transfers_found"] == 0  # announced once
    assert event_types(database_url, native["id"])[-1] == "payment.unexpected_asset"
    assert len(event_types(database_url, native["id"])) == 2


def test_rescan_is_idempotent(cli: Cli, chain: Chain, token: Any, database_url: str) -> None:
    native = create(cli, "1")
    usdt = create(cli, "5", "--token", "USDT")
    chain.send_eth(native["address"], ETH // 2)
    chain.send_token(token, usdt["address"], 5 * USDT)
    assert scan(cli)["transfers_found"] == 2
    events_before = count(database_url, WebhookEvent)
    again = scan(cli)
    assert again["blocks_scanned"] == 0 and again["transfers_found"] == 0
    assert again["from_block"] is None and again["to_block"] is None
    rescan = scan(cli, "--from-block", "0")
    assert rescan["from_block"] == 0 and rescan["to_block"] == chain.head
    assert rescan["transfers_found"] == 0 and rescan["payments_updated"] == 0
    assert count(database_url, Transfer) == 2
    assert count(database_url, WebhookEvent) == events_before
    assert show(cli, native["id"])["received_base"] == str(ETH // 2)
    # A rescan from a block that is not yet recorded cannot skip ahead.
    ahead = cli("scan", "--chain", "local", "--from-block", str(chain.head + 5))
    assert ahead.exit_code == 2, ahead
    assert "only go back" in ahead.stderr


def test_batches_are_bounded_and_summarised(
    cli: Cli, chain: Chain, config_file: Any, database_url: str
) -> None:
    p = create(cli, "1")
    chain.mine(30)
    chain.send_eth(p["address"], ETH)
    chain.mine(80)
    head = chain.head
    text = config_file.read_text().replace("block_batch_size = 500", "block_batch_size = 10")
    config_file.write_text(text)
    one = scan(cli)
    assert (one["from_block"], one["to_block"], one["blocks_scanned"]) == (0, 9, 10)
    assert one["lag"] == head - 9
    many = scan(cli, "--batches", "100")
    assert many["from_block"] == 10 and many["to_block"] == head
    assert many["blocks_scanned"] == head - 9
    assert many["passes"] == -(-(head - 9) // 10)
    assert many["transfers_found"] == 1 and many["lag"] == 0
    assert show(cli, p["id"])["status"] == "detected"
    with transaction(get_engine(database_url)) as session:
        kept = session.execute(select(ScannedBlock.number).order_by(ScannedBlock.number)).scalars().all()
    # reorg_window hashes kept, by default confirmations (3) + 64: a reorg that deep is
    # walked back to its common ancestor; older ones are pruned.
    assert kept == list(range(head - 66, head + 1))


def test_metrics_file_and_human_output(cli: Cli, chain: Chain, tmp_path: Any) -> None:
    p = create(cli, "1")
    chain.send_eth(p["address"], ETH)
    metrics = tmp_path / "scan_local.prom"
    run = cli("scan", "--chain", "local", "--metrics-file", str(metrics))
    assert run.exit_code == 0, run
    assert "scan local" in run.stdout and "credits found" in run.stdout
    text = metrics.read_text()
    assert f'ctripctl_blocks_scanned{{chain="local",command="scan"}} {chain.head + 1}.0' in text
    assert 'ctripctl_transfers_found{chain="local",command="scan"} 1.0' in text
    assert 'ctripctl_last_run_success{chain="local",command="scan"} 1.0' in text
    # A failed pass still writes the file, saying so.
    config = cli.config
    config.write_text(config.read_text().replace("chain_id = 31337", "chain_id = 1"))
    failed = cli("scan", "--chain", "local", "--metrics-file", str(metrics))
    assert failed.exit_code == 5, failed
    assert 'ctripctl_last_run_success{chain="local",command="scan"} 0.0' in metrics.read_text()
