"""Deposits in the wrong asset are swept too (issue 13), on real anvil, SQLite and PostgreSQL.

A token sent to a native payment's address, or ETH to a token payment's, is recorded
uncounted by the scan; the sweep moves it to the treasury like any deposit — but never
adds it to the payment's `swept_base`, never settles the payment with it, never spends
the customer's ETH on gas (the tank pays), and moves one asset per deposit per pass (the
payment's own first: two transactions from one address would spend the same nonce).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text, update

from ctripctl.db import migrate
from ctripctl.db.models import Payment, Transfer
from ctripctl.db.session import get_engine, transaction
from tests.support.anvil import Anvil
from tests.support.cli import Cli
from tests.support.databases import postgres_schema, sqlite_file
from tests.support.evm import Chain
from tests.support.queries import event_types
from tests.support.sweeping import (
    ETH,
    TANK,
    TREASURY,
    USDT,
    eth_of,
    paid_and_confirmed,
    scan_and_confirm,
    strategy_config,
    sweep,
    sweep_rows,
    tokens_of,
)


def _cli(tmp_path: Path, database_url: str, anvil: Anvil, token: Any, strategy: str) -> Cli:
    return Cli(strategy_config(tmp_path, database_url, anvil.url, token, strategy))


@pytest.fixture
def topup(tmp_path: Path, database_url: str, anvil: Anvil, token: Any, wallet: Path) -> Cli:
    return _cli(tmp_path, database_url, anvil, token, "topup")


def swept_at(url: str, payment_id: str) -> dict[tuple[bool, str | None], bool]:
    """(counted, token) of each live credit of the payment → whether a sweep moved it."""
    with transaction(get_engine(url)) as session:
        rows = session.execute(
            select(Transfer.counted, Transfer.token, Transfer.swept_at).where(
                Transfer.payment_id == payment_id, Transfer.state != "orphaned"
            )
        ).all()
    return {(bool(c), t): s is not None for c, t, s in rows}


def test_a_token_on_a_native_payment_is_swept_after_its_eth_without_touching_the_payment(
    topup: Cli, chain: Chain, token: Any, database_url: str
) -> None:
    payment = paid_and_confirmed(topup, chain, "1")
    chain.send_token(token, payment["address"], 7 * USDT)  # and USDT by mistake
    scan_and_confirm(topup, chain)
    chain.send_eth(TANK, ETH, sender=chain.accounts[0])

    first = sweep(topup)  # one transaction per deposit: the payment's own ETH first
    assert (first["sent"], first["topups_sent"], first["in_flight"]) == (1, 0, 1), first
    [native] = first["sweeps"]
    assert native["token"] is None
    chain.mine(3)
    second = sweep(topup)  # settles on its ETH; the USDT gets its gas from the tank
    assert (second["settled"], second["topups_sent"]) == (1, 1), second

    # The top-up reaches a payment's address: our own transaction, never a customer's deposit.
    scan_and_confirm(topup, chain)
    shown = topup.ok("payment", "show", payment["id"])
    assert (shown["status"], shown["received_base"], shown["overpaid"]) == ("settled", str(ETH), False)
    assert len(shown["transfers"]) == 2

    third = sweep(topup)
    assert third["sent"] == 1, third
    assert third["sweeps"][0]["token"] == "USDT"
    assert tokens_of(token, TREASURY) == 7 * USDT and tokens_of(token, payment["address"]) == 0
    chain.mine(3)
    assert sweep(topup)["settled"] == 0  # moved, but it does not settle anything
    shown = topup.ok("payment", "show", payment["id"])
    assert (shown["status"], shown["swept_base"]) == ("settled", native["amount_base"])
    assert event_types(database_url, payment["id"]).count("payment.settled") == 1
    assert swept_at(database_url, payment["id"]) == {(True, None): True, (False, "USDT"): True}
    assert sweep(topup)["planned"] == 0  # everything moved once
    assert [r.kind for r in sweep_rows(database_url)] == ["native", "topup", "token"]


def test_eth_on_a_token_payment_is_never_spent_on_gas_and_is_swept_after_the_tokens(
    topup: Cli, chain: Chain, token: Any, database_url: str
) -> None:
    payment = paid_and_confirmed(topup, chain, "250", token)
    wrong = ETH // 4
    chain.send_eth(payment["address"], wrong)  # ETH by mistake: it would pay the gas twice over
    scan_and_confirm(topup, chain)
    chain.send_eth(TANK, ETH, sender=chain.accounts[0])

    first = sweep(topup)  # the tokens first, with a top-up: the customer's ETH is not gas money
    assert (first["topups_sent"], first["in_flight"]) == (1, 1), first
    [row] = sweep_rows(database_url)
    assert eth_of(chain, payment["address"]) == wrong + row.amount_base
    second = sweep(topup)
    assert second["sent"] == 1 and second["sweeps"][0]["token"] == "USDT", second
    chain.mine(3)
    third = sweep(topup)  # the token sweep settles; the ETH goes next (its address is free)
    assert (third["settled"], third["sent"]) == (1, 1), third
    [eth_sweep] = third["sweeps"]
    assert eth_sweep["token"] is None
    # All the ETH left (the customer's and the top-up's unused part) less the sweep's gas.
    fee = third["fee"]["max_fee_per_gas"] * 21_000
    assert int(eth_sweep["amount_base"]) > wrong - fee
    assert 0 <= eth_of(chain, payment["address"]) <= fee
    chain.mine(3)
    assert sweep(topup)["settled"] == 0
    shown = topup.ok("payment", "show", payment["id"])
    assert (shown["status"], shown["swept_base"]) == ("settled", str(250 * USDT))
    assert swept_at(database_url, payment["id"]) == {(True, "USDT"): True, (False, None): True}
    assert sweep(topup)["planned"] == 0


def test_a_wrong_asset_on_an_unpaid_payment_is_swept_and_the_payment_stays_as_it_is(
    topup: Cli, chain: Chain, token: Any, database_url: str
) -> None:
    expired = topup.ok("payment", "create", "--chain", "local", "--amount", "1")
    pending = topup.ok("payment", "create", "--chain", "local", "--amount", "5", "--token", "USDT")
    with transaction(get_engine(database_url)) as session:  # as `confirm` marks it
        session.execute(
            update(Payment)
            .where(Payment.id == expired["id"])
            .values(status="expired", expired_at=datetime.now(UTC))
        )
    chain.send_token(token, expired["address"], 3 * USDT)
    chain.send_eth(pending["address"], ETH // 2)
    scan_and_confirm(topup, chain)
    chain.send_eth(TANK, ETH, sender=chain.accounts[0])

    first = sweep(topup)  # the ETH goes at once; the USDT gets its gas first
    assert (first["sent"], first["topups_sent"]) == (1, 1), first
    scan_and_confirm(topup, chain)  # the top-up is seen: not a payment to the expired one
    assert sweep(topup)["sent"] == 1
    chain.mine(3)
    assert sweep(topup)["settled"] == 0
    assert tokens_of(token, TREASURY) == 3 * USDT and tokens_of(token, expired["address"]) == 0
    assert eth_of(chain, pending["address"]) < 10**15  # only the unused part of a max fee
    for p, status in ((expired, "expired"), (pending, "pending")):
        shown = topup.ok("payment", "show", p["id"])
        assert (shown["status"], shown["received_base"], shown["swept_base"]) == (status, "0", "0")
        assert all(swept_at(database_url, p["id"]).values())
    assert sweep(topup)["planned"] == 0


@pytest.mark.parametrize("paid_first", [False, True])
def test_a_token_on_a_native_payment_is_never_delegated(
    tmp_path: Path, database_url: str, anvil: Anvil, chain: Chain, token: Any, wallet: Path, paid_first: bool
) -> None:
    """While delegated (EIP-7702), an address refuses a plain 21,000-gas ETH transfer — what
    a native payment's customers send, the payment itself or a late one: its wrong-asset
    token is swept with a gas top-up even where the node takes type-4 transactions."""
    cli = _cli(tmp_path, database_url, anvil, token, "auto")
    if paid_first:  # confirmed, swept and settled first: still watched for late payments
        payment = paid_and_confirmed(cli, chain, "1")
        chain.send_eth(TANK, ETH, sender=chain.accounts[0])
        assert sweep(cli)["sent"] == 1
        chain.mine(3)
        assert sweep(cli)["settled"] == 1
    else:
        payment = cli.ok("payment", "create", "--chain", "local", "--amount", "1")
        chain.send_eth(TANK, ETH, sender=chain.accounts[0])
    chain.send_token(token, payment["address"], 4 * USDT)
    scan_and_confirm(cli, chain)

    first = sweep(cli)
    assert (first["topups_sent"], first["batches_sent"], first["waiting_for_delegate"]) == (1, 0, 0), first
    assert sweep(cli)["sent"] == 1  # the token transfer, paid by the top-up
    assert tokens_of(token, TREASURY) == 4 * USDT
    assert chain.w3.eth.get_code(chain.w3.to_checksum_address(payment["address"])) == b""
    chain.send_eth(payment["address"], ETH)  # a plain transfer: it arrives
    scan_and_confirm(cli, chain)
    shown = cli.ok("payment", "show", payment["id"])
    expected = ("settled", str(2 * ETH)) if paid_first else ("confirmed", str(ETH))
    assert (shown["status"], shown["received_base"]) == expected
    assert [r.kind for r in sweep_rows(database_url)].count("batch7702") == 0


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_migration_0010_gives_counted_token_credits_their_payments_contract(
    kind: str, tmp_path: Path
) -> None:
    """Existing counted token credits take their payment's contract (lowercase); ETH and
    uncounted credits stay NULL (an uncounted token is looked up by symbol, as before)."""
    maker = postgres_schema() if kind == "postgresql" else sqlite_file(tmp_path)
    with maker as url:
        migrate.upgrade(url, "0009")
        engine = get_engine(url)
        now = "2026-01-01 00:00:00+00:00"
        with engine.begin() as conn:
            for index, (pid, token, contract) in enumerate(
                (("pay_t", "'USDT'", "'0xAbC'"), ("pay_n", "NULL", "NULL"))
            ):
                conn.execute(
                    text(
                        "INSERT INTO payments (id, chain, token, token_address, decimals, amount_base,"
                        " address, derivation_index, status, received_base, confirmed_base, overpaid,"
                        " underpaid, paid_late, metadata, expires_at, created_at, updated_at, swept_base)"
                        f" VALUES (:pid, 'local', {token}, {contract}, 6, 105, :pid, {index}, 'detected',"
                        " 105, 0, false, false, false, '{}', :now, :now, :now, 0)"
                    ),
                    {"pid": pid, "now": now},
                )
            rows = (("0xt1", "pay_t", "'USDT'", "true"), ("0xt2", "pay_t", "NULL", "false"))
            rows += (("0xt3", "pay_n", "'USDT'", "false"), ("0xt4", "pay_n", "NULL", "true"))
            for tx, pid, token, counted in rows:
                conn.execute(
                    text(
                        "INSERT INTO transfers (chain, tx_hash, log_index, tx_log_position, block_number,"
                        " block_hash, block_time, from_address, to_address, token, amount_base, payment_id,"
                        f" state, created_at, counted) VALUES ('local', :tx, -1, -1, 9, '0xb9', :now, '0xF',"
                        f" :pid, {token}, 5, :pid, 'confirmed', :now, {counted})"
                    ),
                    {"tx": tx, "pid": pid, "now": now},
                )
        migrate.upgrade(url)
        with engine.begin() as conn:
            found = conn.execute(text("SELECT tx_hash, token_address FROM transfers ORDER BY tx_hash")).all()
        assert [tuple(r) for r in found] == [
            ("0xt1", "0xabc"),
            ("0xt2", None),
            ("0xt3", None),
            ("0xt4", None),
        ]
