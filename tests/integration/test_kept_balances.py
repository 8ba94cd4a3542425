"""The reconciliation's balances kept at the checkpoint (watch_balances, migration 0011).

A pass reads every watched address's ETH balance at the end of its range and keeps it
with the checkpoint; the next pass starts from those instead of asking the node again.
Real anvil behind a counting proxy, SQLite and PostgreSQL: the second pass reads each
balance once, contract-sent ETH is still found exactly, and a pass whose range does not
start where the kept balances were read (a reorg rewound the checkpoint) asks the node.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_token_address_eth import create, show
from tests.support.anvil import Anvil
from tests.support.cli import Cli
from tests.support.evm import Chain
from tests.support.payouts import deploy_payout, pay
from tests.support.rpc_proxy import Answer, RpcProxy

ETH = 10**18


class Counter:
    """Counts the eth_getBalance calls that pass through the proxy."""

    def __init__(self) -> None:
        self.balances = 0
        self._lock = threading.Lock()

    def hook(self, body: Any, forward: Callable[[Any], Answer]) -> Answer:
        calls = body if isinstance(body, list) else [body]
        with self._lock:
            self.balances += sum(1 for c in calls if c.get("method") == "eth_getBalance")
        return forward(body)

    def reads(self, cli: Cli, *args: str) -> tuple[int, dict[str, Any]]:
        before = self.balances
        result = cli.ok("scan", "--chain", "local", *args)
        return self.balances - before, result


@pytest.fixture
def counted(anvil: Anvil, cli: Cli, config_file: Path) -> Iterator[Counter]:
    counter = Counter()
    proxy = RpcProxy(anvil.url, hook=counter.hook)
    try:
        config_file.write_text(config_file.read_text().replace(anvil.url, proxy.url))
        yield counter
    finally:
        proxy.stop()


def test_the_next_pass_starts_from_the_kept_balances_and_still_finds_contract_sent_eth(
    cli: Cli, chain: Chain, counted: Counter
) -> None:
    payout = deploy_payout(chain)
    payments = [create(cli, "1") for _ in range(3)]
    chain.mine(2)
    first, _ = counted.reads(cli)
    assert first == 3  # the range starts at block 0: only the end of each address
    chain.mine(2)
    quiet, _ = counted.reads(cli)
    assert quiet == 3  # nothing arrived: the end of each; the start is the kept one (not 6)

    late = create(cli, "1")  # a new address: no kept balance, its start is read
    pay(chain, payout, [(payments[0]["address"], ETH), (late["address"], ETH // 4)])
    chain.mine(2)
    second, result = counted.reads(cli)
    assert result["transfers_found"] == 2
    # 4 ends + the new address's start + the bisection's probes for the two arrivals
    assert 5 < second < 5 + 2 * 4, second
    assert (show(cli, payments[0]["id"])["received_base"], show(cli, late["id"])["received_base"]) == (
        str(ETH),
        str(ETH // 4),
    )
    chain.mine(2)
    assert counted.reads(cli)[0] == 4


def test_a_rewound_checkpoint_reads_its_start_from_the_node(cli: Cli, chain: Chain, counted: Counter) -> None:
    payout = deploy_payout(chain)
    payment = create(cli, "1")
    chain.mine(2)
    counted.reads(cli)
    chain.reorg(2)  # the checkpoint's block is replaced: the kept balance is of the old branch
    pay(chain, payout, [(payment["address"], ETH // 2)])
    chain.mine(1)
    reads, result = counted.reads(cli)
    assert result["reorg_depth"] >= 1, result
    assert reads >= 2  # its start's balance from the node, not the kept one
    assert show(cli, payment["id"])["received_base"] == str(ETH // 2)
