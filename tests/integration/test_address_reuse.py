"""A used wallet on a new database: the first payment looks at indexes 0–19 on the chain.

Real anvil (behind tests/support/rpc_proxy.py, which counts the HTTP requests), real
SQLite and PostgreSQL. The wallet is the tests' (TEST_XPUB); anvil's own accounts come
from another mnemonic, so on a fresh node its addresses are unused until a test uses one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from ctripctl.db.models import AddressCounter, Payment, WebhookEvent
from ctripctl.db.session import get_engine, transaction
from ctripctl.evm.wallet import deposit_address
from tests.support.anvil import Anvil
from tests.support.cli import Cli, Run
from tests.support.config import TEST_XPUB, write_config
from tests.support.evm import Chain
from tests.support.rpc_proxy import RpcProxy

INDEX = 3  # the used address: not the first, so the whole range has to be looked at
ADDRESS = deposit_address(TEST_XPUB, INDEX)


@pytest.fixture
def proxy(anvil: Anvil) -> Iterator[RpcProxy]:
    node = RpcProxy(anvil.url)
    yield node
    node.stop()


def config(
    tmp_path: Path, database_url: str, proxy: RpcProxy, token: Any = None, first_index: int | None = None
) -> Cli:
    path = write_config(
        tmp_path / "ctrip.toml",
        database_url=database_url,
        rpc_urls=[proxy.url],
        token_address=None if token is None else token.address,
        first_index=first_index,
    )
    return Cli(path)


def stored(database_url: str) -> tuple[int, int, int]:
    """(payments, outbox events, the address counter's next index)."""
    with transaction(get_engine(database_url)) as session:
        payments = session.execute(select(func.count()).select_from(Payment)).scalar_one()
        events = session.execute(select(func.count()).select_from(WebhookEvent)).scalar_one()
        counter = session.execute(select(AddressCounter.next_index)).scalar_one()
    return payments, events, counter


def one_error_line(run: Run, code: int) -> str:
    assert run.exit_code == code, run
    assert run.stdout == "", run
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), run
    return lines[0]


def use(chain: Chain, anvil: Anvil, how: str, token: Any) -> None:
    if how == "balance":
        chain.send_eth(ADDRESS, 10**15)
    elif how == "nonce":  # it sent a transaction once and holds nothing now
        anvil.rpc("anvil_setNonce", ADDRESS, "0x1")
    else:
        chain.send_token(token, ADDRESS, 5 * 10**6)


@pytest.mark.parametrize("how", ["balance", "nonce", "token"])
def test_a_used_address_refuses_the_first_payment(
    tmp_path: Path, database_url: str, anvil: Anvil, chain: Chain, token: Any, proxy: RpcProxy, how: str
) -> None:
    use(chain, anvil, how, token)
    cli = config(tmp_path, database_url, proxy, token)
    csv = tmp_path / "orders.csv"
    csv.write_text("chain,amount\nlocal,1\nlocal,2\n")
    for args in (
        ("payment", "create", "--chain", "local", "--amount", "1"),
        ("payment", "create", "--chain", "local", "--amount", "1", "--token", "USDT", "--json"),
        ("payment", "import", str(csv)),
    ):
        before = proxy.requests
        message = one_error_line(cli(*args), 3)
        assert f"index {INDEX} ({ADDRESS})" in message, message
        assert "[wallet] first_index" in message and f"at least {INDEX + 1}" in message, message
        expected = {"balance": "holds 0.001 ETH", "nonce": "sent 1 transaction", "token": "holds 5 USDT"}[how]
        assert expected in message, message
        assert proxy.requests - before == 1  # chain id, then per index 0-19 balance, nonce, token
        assert stored(database_url) == (0, 0, 0)  # nothing written, the counter untouched

    # Set where this database starts: no lookup, the first payment gets that index.
    cli = config(tmp_path, database_url, proxy, token, first_index=100)
    before = proxy.requests
    first = cli.ok("payment", "create", "--chain", "local", "--amount", "1")
    assert (first["address"], proxy.requests) == (deposit_address(TEST_XPUB, 100), before)
    imported = cli.ok("payment", "import", str(csv))
    assert [p["address"] for p in imported] == [deposit_address(TEST_XPUB, i) for i in (101, 102)]
    assert stored(database_url) == (3, 3, 103)


def test_an_unused_wallet_is_looked_up_once(
    tmp_path: Path, database_url: str, chain: Chain, anvil: Anvil, token: Any, proxy: RpcProxy
) -> None:
    cli = config(tmp_path, database_url, proxy, token)
    first = cli.ok("payment", "create", "--chain", "local", "--amount", "1")
    assert first["address"] == deposit_address(TEST_XPUB, 0)
    assert proxy.requests == 1  # the chain id and indexes 0-19, one batch

    # From now on payment create never asks the node, even if an address gets used later.
    chain.send_eth(ADDRESS, 10**15)
    second = cli.ok("payment", "create", "--chain", "local", "--amount", "1")
    assert second["address"] == deposit_address(TEST_XPUB, 1)
    assert proxy.requests == 1


def test_a_node_that_is_down_writes_nothing(tmp_path: Path, database_url: str, proxy: RpcProxy) -> None:
    cli = config(tmp_path, database_url, proxy)
    proxy.mode = "error"
    message = one_error_line(cli("payment", "create", "--chain", "local", "--amount", "1"), 5)
    assert "no usable RPC URL" in message, message
    assert stored(database_url) == (0, 0, 0)
    proxy.mode = "forward"
    assert cli.ok("payment", "create", "--chain", "local", "--amount", "1")["address"] == deposit_address(
        TEST_XPUB, 0
    )


def test_first_index_never_moves_the_counter_back(tmp_path: Path, database_url: str, proxy: RpcProxy) -> None:
    cli = config(tmp_path, database_url, proxy, first_index=5)
    assert cli.ok("payment", "create", "--chain", "local", "--amount", "1")["address"] == deposit_address(
        TEST_XPUB, 5
    )
    cli = config(tmp_path, database_url, proxy, first_index=2)
    assert cli.ok("payment", "create", "--chain", "local", "--amount", "1")["address"] == deposit_address(
        TEST_XPUB, 6
    )
    cli = config(tmp_path, database_url, proxy, first_index=0)  # 0: start at 0, unchecked
    assert cli.ok("payment", "create", "--chain", "local", "--amount", "1")["address"] == deposit_address(
        TEST_XPUB, 7
    )
    assert proxy.requests == 0
