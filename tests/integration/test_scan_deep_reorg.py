"""Reorgs deeper than the kept block hashes (`reorg_window`, default confirmations + 64).

Within the window a reorg is walked back to its common ancestor, in requests of at most
50 calls (providers cap batches). Deeper, the scan stops with the exact command to run,
`status` raises deep_reorg, and that rescan orphans the credits — confirmed ones too —
that are no longer on the chain, so their payments step back (payment.reorged) and
receivers learn the truth. Real anvil (evm_snapshot/evm_revert), SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ctripctl.db.models import ChainState, Transfer, WebhookEvent
from ctripctl.db.session import get_engine, transaction
from tests.support.anvil import Anvil
from tests.support.cli import Cli
from tests.support.config import write_config
from tests.support.evm import Chain
from tests.support.queries import event_types
from tests.support.rpc_proxy import Answer, RpcProxy

ETH = 10**18


def create(cli: Cli, amount: str) -> dict[str, Any]:
    return cli.ok("payment", "create", "--chain", "local", "--amount", amount)


def scan(cli: Cli, *args: str) -> dict[str, Any]:
    return cli.ok("scan", "--chain", "local", *args)


def show(cli: Cli, payment_id: str) -> dict[str, Any]:
    return cli.ok("payment", "show", payment_id)


def written(url: str) -> tuple[Any, ...]:
    """Transfers and events: what a refused pass must leave alone."""
    with transaction(get_engine(url)) as session:
        return (
            session.execute(
                select(Transfer.id, Transfer.block_hash, Transfer.state).order_by(Transfer.id)
            ).all(),
            session.execute(select(WebhookEvent.id).order_by(WebhookEvent.seq)).all(),
        )


def deep_reorg_state(url: str) -> tuple[Any, Any, int]:
    with transaction(get_engine(url)) as session:
        state = session.get(ChainState, "local")
        assert state is not None
        return state.deep_reorg_at, state.deep_reorg_from, state.last_block


def test_reorg_inside_a_wide_window_is_walked_back_50_calls_at_a_time(
    tmp_path: Path, database_url: str, anvil: Anvil, chain: Chain
) -> None:
    """reorg_window = 150: a 121-block reorg is walked back to its common ancestor, and no
    request carries more than 50 calls (the walk takes three of them)."""
    config = write_config(
        tmp_path / "ctrip.toml",
        database_url=database_url,
        rpc_urls=[anvil.url],
        chain_extra="reorg_window = 150",
    )
    cli = Cli(config)
    p = create(cli, "1")
    fork = chain.head
    snapshot = chain.snapshot()
    chain.mine(20)
    chain.send_eth(p["address"], ETH)
    chain.mine(100)
    first = scan(cli)
    assert first["transfers_found"] == 1 and first["checkpoint"] == fork + 121
    chain.revert(snapshot)
    chain.mine(130)  # a longer branch without the credit

    sizes: list[int] = []
    walks: list[int] = []
    lock = threading.Lock()

    def count(body: Any, forward: Callable[[Any], Answer]) -> Answer:
        calls = body if isinstance(body, list) else [body]
        with lock:
            sizes.append(len(calls))
            if all(c["method"] == "eth_getBlockByNumber" and c["params"][1] is False for c in calls):
                walks.append(len(calls))
        return forward(body)

    proxy = RpcProxy(anvil.url, hook=count)
    try:
        config.write_text(config.read_text().replace(anvil.url, proxy.url))
        result = scan(cli)
    finally:
        proxy.stop()
    assert (result["reorg_depth"], result["transfers_orphaned"]) == (121, 1)
    assert max(sizes) <= 50, sizes
    assert len([w for w in walks if w > 1]) >= 3, walks
    assert show(cli, p["id"])["status"] == "pending"


def test_deeper_than_the_window_names_the_rescan_status_says_so_and_it_orphans_confirmed_credits(
    cli: Cli, chain: Chain, database_url: str
) -> None:
    """Default window (confirmations 3 + 64 = 67 hashes). A 101-block reorg drops a
    confirmed credit: the scan stops with the exact command (from the block after the
    highest recorded credit the node still has), status raises deep_reorg, nothing else is
    written; the named rescan orphans the credit, the payment steps back with
    payment.reorged, and scanning goes on."""
    kept = create(cli, "1")
    chain.send_eth(kept["address"], ETH)
    fork = chain.head  # the block of `kept`'s credit: the last block both branches share
    snapshot = chain.snapshot()
    lost = create(cli, "1")
    chain.send_eth(lost["address"], ETH)
    chain.mine(100)
    assert scan(cli)["transfers_found"] == 2
    assert cli.ok("confirm", "--chain", "local")["confirmed"] == 2
    assert show(cli, lost["id"])["status"] == show(cli, kept["id"])["status"] == "confirmed"

    chain.revert(snapshot)
    chain.mine(120)  # a longer branch: `lost`'s transaction never happened on it
    before = written(database_url)
    run = cli("scan", "--chain", "local", "--json")
    assert run.exit_code == 3, run
    command = f"ctripctl scan --chain local --from-block {fork + 1}"
    assert "reorganised deeper than the 67 block hashes kept" in run.stderr
    assert f"`{command}`" in run.stderr, run.stderr
    assert written(database_url) == before
    since, from_block, checkpoint = deep_reorg_state(database_url)
    assert since is not None and from_block == fork + 1

    status = cli("status", "--json")
    assert status.exit_code == 7, status
    [problem] = [p for p in status.json()["problems"] if p["code"] == "deep_reorg"]
    assert problem["chain"] == "local" and f"`{command}`" in problem["message"]
    [local] = status.json()["chains"]
    assert local["deep_reorg"]["from_block"] == fork + 1

    again = cli("scan", "--chain", "local")
    assert again.exit_code == 3 and f"`{command}`" in again.stderr
    assert deep_reorg_state(database_url) == (since, from_block, checkpoint)  # first sighting kept

    # The operator runs exactly what it said.
    args = re.search(r"`ctripctl (scan [^`]+)`", run.stderr)
    assert args is not None
    rescan = cli.ok(*args.group(1).split(), "--batches", "5")
    assert rescan["transfers_orphaned"] == 1 and rescan["checkpoint"] == chain.head
    shown = show(cli, lost["id"])
    assert (shown["status"], shown["received_base"], shown["confirmed_base"]) == ("pending", "0", "0")
    assert [t["state"] for t in shown["transfers"]] == ["orphaned"]
    assert event_types(database_url, lost["id"])[-1] == "payment.reorged"
    shown = show(cli, kept["id"])
    assert (shown["status"], [t["state"] for t in shown["transfers"]]) == ("confirmed", ["confirmed"])
    assert event_types(database_url, kept["id"])[-1] == "payment.confirmed"
    assert deep_reorg_state(database_url)[:2] == (None, None)
    assert "deep_reorg" not in [p["code"] for p in cli("status", "--json").json()["problems"]]

    chain.mine(3)
    assert cli("scan", "--chain", "local").exit_code == 0


def test_deep_reorg_without_any_known_earlier_block_rescans_from_start_block(
    cli: Cli, chain: Chain, database_url: str
) -> None:
    """No recorded credit below the kept hashes matches the node: the only safe rescan is
    from the chain's start_block (0 here), and the message says why."""
    snapshot = chain.snapshot()
    p = create(cli, "1")
    chain.send_eth(p["address"], ETH)
    chain.mine(100)
    scan(cli)
    chain.revert(snapshot)
    chain.mine(120)
    run = cli("scan", "--chain", "local")
    assert run.exit_code == 3, run
    assert "`ctripctl scan --chain local --from-block 0`" in run.stderr
    assert "start_block" in run.stderr
    rescan = cli.ok("scan", "--chain", "local", "--from-block", "0")
    assert rescan["transfers_orphaned"] == 1
    assert show(cli, p["id"])["status"] == "pending"


def test_rescan_of_a_node_shorter_than_the_records_orphans_the_vanished_confirmed_credit(
    cli: Cli, chain: Chain, database_url: str
) -> None:
    """The node was reset below a confirmed credit (its chain now ends before that block).
    A regular pass sees a node behind and orphans nothing; the rescan the operator runs
    reaches the node's head, and the credit above it — on no chain this node has — is
    orphaned, its payment steps back with payment.reorged. Once the new chain grows past
    that height, nothing comes back."""
    p = create(cli, "1")
    snapshot = chain.snapshot()
    chain.send_eth(p["address"], ETH)
    chain.mine(5)
    checkpoint = scan(cli)["checkpoint"]
    assert cli.ok("confirm", "--chain", "local")["confirmed"] == 1
    chain.revert(snapshot)
    assert chain.head < checkpoint

    behind = scan(cli)
    assert (behind["blocks_scanned"], behind["transfers_orphaned"]) == (0, 0)
    assert show(cli, p["id"])["status"] == "confirmed"

    rescan = scan(cli, "--from-block", "0")
    assert rescan["transfers_orphaned"] == 1 and rescan["checkpoint"] == chain.head
    shown = show(cli, p["id"])
    assert (shown["status"], shown["received_base"], [t["state"] for t in shown["transfers"]]) == (
        "pending",
        "0",
        ["orphaned"],
    )
    assert event_types(database_url, p["id"])[-1] == "payment.reorged"

    chain.mine(10)
    later = scan(cli)
    assert (later["transfers_found"], later["transfers_orphaned"]) == (0, 0)
    assert show(cli, p["id"])["status"] == "pending"
