"""Review 2 of the sweep planner in rounds (8900dfd): failing tests for defects found.

Each test is xfail(strict=True): it fails today for the reason given and passes once the
defect is fixed (then drop the mark)."""

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
from tests.support.sweeping import ETH, TANK, eth_of, paid_and_confirmed, strategy_config, sweep


@pytest.fixture
def cli(tmp_path: Path, database_url: str, anvil: Anvil, token: Any, wallet: Path) -> Cli:
    return Cli(strategy_config(tmp_path, database_url, anvil.url, token, "topup"))


def _unswept(url: str, payment_id: str) -> list[int]:
    with transaction(get_engine(url)) as session:
        return list(
            session.execute(
                select(Transfer.amount_base).where(
                    Transfer.payment_id == payment_id,
                    Transfer.state == "confirmed",
                    Transfer.swept_at.is_(None),
                )
            ).scalars()
        )


def test_a_second_payment_swept_before_it_was_scanned_is_never_accounted(
    cli: Cli, chain: Chain, database_url: str
) -> None:
    """ETH that is already deep but not yet recorded (the scan lags, or reconciliation
    finds it later) must not leave with a sweep planned for the recorded credits: its
    credit would then wait for ever for a sweep of an empty deposit, and `swept_base`
    would miss money the treasury holds. (Fixed: a native sweep moves at most its
    credits; the rest is swept once it is recorded.)"""
    payment = paid_and_confirmed(cli, chain, "1")
    chain.send_eth(payment["address"], ETH // 2)  # a second payment (overpaid)
    chain.mine(3)  # deep, but no scan yet
    first = sweep(cli)
    [native] = first["sweeps"]
    moved = int(native["amount_base"])
    assert moved == ETH  # the recorded credit only
    assert eth_of(chain, payment["address"]) > ETH // 2 - 10**15
    chain.mine(3)
    cli.ok("scan", "--chain", "local")
    cli.ok("confirm", "--chain", "local")
    later = sweep(cli)  # the first settles; the second payment, now recorded, goes
    assert (later["settled"], later["sent"]) == (1, 1), later
    shown = cli.ok("payment", "show", payment["id"])
    assert shown["received_base"] == str(ETH + ETH // 2)
    second = int(later["sweeps"][0]["amount_base"])
    assert ETH // 2 - 10**15 < second <= ETH // 2
    chain.mine(3)
    sweep(cli)
    # The money is in the treasury; the books say so.
    assert _unswept(database_url, payment["id"]) == [], "a credit whose ETH was swept waits for ever"
    assert int(cli.ok("payment", "show", payment["id"])["swept_base"]) == moved + second
    assert sweep(cli)["planned"] == 0


def test_a_delegated_deposit_waits_for_its_clearing_even_beyond_max_batch(
    tmp_path: Path, database_url: str, anvil: Anvil, chain: Chain, token: Any, wallet: Path
) -> None:
    """passes/sweep.py: "A deposit whose delegation is about to be cleared waits for that
    before its next sweep" — but only the first `max_batch` deposits read_to_clear returns
    are made busy. The others are planned at once: a native sweep from an address that is
    still delegated, whose nonce the clearing's authorization (signed at the "latest"
    nonce in a later pass, with no check for a live sweep from it) then races: if the sweep
    lands first the authorization is void, the clearing is recorded anyway, and the
    address keeps code for ever (plain 21,000-gas ETH transfers to it fail)."""
    cli = Cli(strategy_config(tmp_path, database_url, anvil.url, token, "eip7702", "max_batch = 1"))
    a = paid_and_confirmed(cli, chain, "10", token)
    b = paid_and_confirmed(cli, chain, "10", token)
    chain.send_eth(TANK, ETH, sender=chain.accounts[0])
    sweep(cli)  # the SweepDelegate
    second = sweep(cli)  # one batch per deposit
    assert second["batches_sent"] == 2, second
    for p in (a, b):  # ETH by mistake, while both are delegated (a wallet that estimates gas)
        chain.send_eth(p["address"], ETH // 10)
    chain.mine(3)
    cli.ok("scan", "--chain", "local")
    cli.ok("confirm", "--chain", "local")
    third = sweep(cli)
    assert third["clears_sent"] == 1, third
    coded = {
        s["address"].lower()
        for s in third["sweeps"]
        if s["kind"] == "native" and chain.w3.eth.get_code(chain.w3.to_checksum_address(s["address"])) != b""
    }
    assert coded == set(), "a native sweep was sent from a deposit still delegated"
