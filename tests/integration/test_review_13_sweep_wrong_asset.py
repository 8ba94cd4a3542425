"""Review of issue 13 (deposits in another asset are swept): defects found, as failing tests.

Real anvil, SQLite and PostgreSQL, through the CLI. Each test is xfail(strict) until the
defect it shows is fixed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ctripctl.db.models import Transfer
from ctripctl.db.session import get_engine, transaction
from tests.support.anvil import Anvil
from tests.support.cli import Cli
from tests.support.evm import Chain
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


def _config(tmp_path: Path, database_url: str, anvil: Anvil, token: Any, strategy: str = "topup") -> Path:
    return strategy_config(tmp_path, database_url, anvil.url, token, strategy)


@pytest.fixture
def topup(tmp_path: Path, database_url: str, anvil: Anvil, token: Any, wallet: Path) -> Cli:
    return Cli(_config(tmp_path, database_url, anvil, token))


def uncounted(url: str, payment_id: str) -> list[tuple[str | None, bool]]:
    """(token, swept) of each live uncounted credit of the payment."""
    with transaction(get_engine(url)) as session:
        rows = session.execute(
            select(Transfer.token, Transfer.swept_at).where(
                Transfer.payment_id == payment_id,
                Transfer.counted.is_(False),
                Transfer.state != "orphaned",
            )
        ).all()
    return [(t, s is not None) for t, s in rows]


def test_eth_on_a_token_payment_is_swept_while_the_tank_is_empty(
    topup: Cli, chain: Chain, token: Any, database_url: str
) -> None:
    """README: "With an empty tank token sweeps wait ... native sweeps go on". A native
    sweep of ETH sent by mistake to a USDT payment's address needs no gas from the tank,
    yet the payment's own USDT (first in the plan, waiting for a top-up the empty tank
    cannot pay) takes the address for the pass, every pass: the ETH is never swept."""
    payment = paid_and_confirmed(topup, chain, "250", token)
    chain.send_eth(payment["address"], ETH // 4)  # ETH by mistake
    scan_and_confirm(topup, chain)
    assert eth_of(chain, TANK) == 0  # nobody funded the tank

    for _ in range(3):  # pass after pass, nothing changes
        result = sweep(topup)
        chain.mine(3)
    assert result["waiting_for_tank"] == 1, result
    # The ETH could have gone in a native sweep long ago (it pays its own gas).
    assert eth_of(chain, TREASURY) > 0, result
    assert uncounted(database_url, payment["id"]) == [(None, True)]


def test_a_topup_for_a_wrong_asset_token_is_never_swept_as_the_payments_eth(
    topup: Cli, chain: Chain, token: Any, database_url: str
) -> None:
    """A native payment not paid yet gets USDT by mistake: the sweep tops its address up
    with the tank's ETH for the USDT transfer. The customer then pays; the payment's own
    ETH goes first — and the native sweep takes the whole balance, the tank's top-up with
    it: `swept_base` now says the treasury got more from this payment than it received,
    and the USDT needs a second top-up (the tank pays twice)."""
    payment = topup.ok("payment", "create", "--chain", "local", "--amount", "1")
    chain.send_token(token, payment["address"], 7 * USDT)
    scan_and_confirm(topup, chain)
    chain.send_eth(TANK, ETH, sender=chain.accounts[0])

    first = sweep(topup)  # the USDT's gas first
    assert first["topups_sent"] == 1, first
    [top] = sweep_rows(database_url)
    chain.mine(3)
    chain.send_eth(payment["address"], ETH)  # the customer pays, meanwhile
    scan_and_confirm(topup, chain)
    assert topup.ok("payment", "show", payment["id"])["status"] == "confirmed"

    for _ in range(6):
        sweep(topup)
        chain.mine(3)
    shown = topup.ok("payment", "show", payment["id"])
    assert shown["status"] == "settled", shown
    assert tokens_of(token, TREASURY) == 7 * USDT
    # The payment's swept ETH is at most what the customer sent (less the gas).
    kinds = [r.kind for r in sweep_rows(database_url)]
    assert kinds.count("topup") == 1, kinds  # the tank paid the USDT's gas once
    assert int(shown["swept_base"]) <= int(shown["received_base"]), (shown["swept_base"], top.amount_base)


def _renamed(path: Path, new_symbol: str) -> None:
    text = path.read_text().replace("[chains.local.tokens.USDT]", f"[chains.local.tokens.{new_symbol}]")
    path.write_text(text)


def test_a_wrong_asset_token_is_swept_after_its_symbol_is_renamed(
    tmp_path: Path, database_url: str, anvil: Anvil, chain: Chain, token: Any, wallet: Path
) -> None:
    """The operator renames the token's section (USDT -> USDT0, the same contract): the
    payments in it keep their contract (payments.token_address) and are swept; the
    deposit in the wrong asset was recorded with the symbol alone, so the sweep looks the
    old symbol up, finds no contract and skips it for ever ("not a configured token any
    more") although that very contract is configured."""
    config = _config(tmp_path, database_url, anvil, token)
    cli = Cli(config)
    payment = cli.ok("payment", "create", "--chain", "local", "--amount", "1")
    chain.send_token(token, payment["address"], 7 * USDT)
    scan_and_confirm(cli, chain)
    chain.send_eth(TANK, ETH, sender=chain.accounts[0])
    _renamed(config, "USDT0")

    for _ in range(4):
        sweep(cli)
        chain.mine(3)
    assert tokens_of(token, TREASURY) == 7 * USDT
    assert uncounted(database_url, payment["id"]) == [("USDT", True)]


def test_a_symbol_moved_to_another_contract_never_marks_the_old_tokens_swept(
    tmp_path: Path, database_url: str, anvil: Anvil, chain: Chain, token: Any, wallet: Path
) -> None:
    """USDT (contract A) arrives on an ETH payment's address by mistake. The operator
    moves the symbol USDT to a new contract B (a token migration) and keeps A as
    USDT_OLD. USDT of contract B then arrives on the same address. Both wrong-asset
    credits are recorded as token "USDT" (no contract kept), so the sweep makes ONE
    candidate of them, moves B's balance only, and marks A's credit swept too: A's
    tokens stay on the deposit, hidden (no candidate, no warning) for ever."""
    config = _config(tmp_path, database_url, anvil, token)
    cli = Cli(config)
    payment = cli.ok("payment", "create", "--chain", "local", "--amount", "1")
    chain.send_token(token, payment["address"], 7 * USDT)  # contract A, as USDT
    scan_and_confirm(cli, chain)
    new = chain.deploy_token("USDT", 6)
    text = config.read_text().replace("[chains.local.tokens.USDT]", "[chains.local.tokens.USDT_OLD]")
    text += f'\n[chains.local.tokens.USDT]\naddress = "{new.address}"\ndecimals = 6\n'
    config.write_text(text)
    chain.send_token(new, payment["address"], 3 * USDT)  # contract B, as USDT
    scan_and_confirm(cli, chain)
    chain.send_eth(TANK, ETH, sender=chain.accounts[0])

    for _ in range(8):
        sweep(cli)
        chain.mine(3)
    assert tokens_of(new, TREASURY) == 3 * USDT
    moved_all = tokens_of(token, payment["address"]) == 0
    marked = [swept for _, swept in uncounted(database_url, payment["id"])]
    # Never "swept" while the money is still on the deposit.
    assert moved_all or not all(marked), (tokens_of(token, payment["address"]), marked)
    assert moved_all


def test_eth_not_scanned_yet_is_never_spent_on_a_wrong_asset_tokens_gas(
    topup: Cli, chain: Chain, token: Any, database_url: str
) -> None:
    """README: "The customers' ETH on a deposit is never spent on a token sweep's gas".
    read_reserved knows only the recorded credits; the gas is planned from the balance at
    `latest`. An ETH payment got USDT by mistake (confirmed); the customer then pays the
    ETH, and the sweep runs before the scan (cron order, or a lagging scanner): the
    deposit "holds its gas", no top-up is sent, and the USDT transfer is paid from the
    customer's payment."""
    payment = topup.ok("payment", "create", "--chain", "local", "--amount", "1")
    chain.send_token(token, payment["address"], 7 * USDT)
    scan_and_confirm(topup, chain)
    chain.send_eth(TANK, ETH, sender=chain.accounts[0])
    chain.send_eth(payment["address"], ETH)  # paid, not scanned yet
    chain.mine(3)

    first = sweep(topup)
    chain.mine(3)
    sweep(topup)
    assert tokens_of(token, TREASURY) == 7 * USDT or first["topups_sent"] == 1, first
    assert first["topups_sent"] == 1, first  # the tank pays the USDT's gas
    assert eth_of(chain, payment["address"]) >= ETH  # the customer's ETH is all there
