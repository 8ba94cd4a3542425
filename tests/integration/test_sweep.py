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

from tests.support.anvil import Anvil
from tests.support.cli import Cli
from tests.support.evm import Chain
from tests.support.queries import event_types
from tests.support.sweeping import (
    TREASURY,
    mnemonic_file,
    paid_and_confirmed,
    sweep,
    sweep_config,
    sweep_rows,
)

GWEI = 10**9


@pytest.fixture
def wallet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = mnemonic_file(tmp_path)
    monkeypatch.setenv("CTRIP_MNEMONIC_FILE", str(path))
    return path


@pytest.fixture
def setup(tmp_path: Path, database_url: str, anvil: Anvil, token: Any, wallet: Path) -> Cli:
    return Cli(
        sweep_config(tmp_path, database_url=database_url, rpc_url=anvil.url, token_address=token.address)
    )


def balance(chain: Chain, address: str) -> int:
    return chain.w3.eth.get_balance(chain.w3.to_checksum_address(address))


def token_balance(token: Any, address: str) -> int:
    return token.functions.balanceOf(token.w3.to_checksum_address(address)).call()


def test_native_sweep_is_recorded_sent_then_settles_at_depth(
    setup: Cli, chain: Chain, database_url: str
) -> None:
    payment = paid_and_confirmed(setup, chain, "1.5")
    before = balance(chain, TREASURY)

    first = sweep(setup)
    assert (first["planned"], first["sent"], first["topups_sent"]) == (1, 1, 0), first
    assert first["fee"]["type"] == "eip1559"
    assert first["fee"]["max_fee_per_gas"] > 0 and first["fee"]["gas_price"] is None
    [item] = first["sweeps"]
    assert item["address"] == payment["address"] and item["status"] == "sent" and item["token"] is None
    moved = int(item["amount_base"])
    assert balance(chain, TREASURY) - before == moved  # anvil mined it at once
    # Only the unused part of the max fee stays behind: balance - value - fee paid.
    fee = first["fee"]["max_fee_per_gas"] * 21_000
    assert moved == int(payment["amount_base"]) - fee
    assert 0 <= balance(chain, payment["address"]) <= fee

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
    assert balance(chain, TREASURY) - before == moved
    listed = setup.ok("sweep", "list", "--chain", "local")
    assert [s["tx_hash"] for s in listed] == [row.tx_hash]
    assert setup.ok("sweep", "show", row.id)["status"] == "confirmed"
