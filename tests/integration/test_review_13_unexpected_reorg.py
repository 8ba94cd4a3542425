"""Review of issue 13: a deposit in another asset that a reorg takes away is never announced.

Real anvil, SQLite and PostgreSQL, through the CLI (found by review, fixed: payment.reorged).
"""

from __future__ import annotations

from typing import Any

from tests.support.cli import Cli
from tests.support.evm import Chain
from tests.support.queries import event_types

USDT = 10**6


def test_a_reorg_that_removes_a_wrong_asset_deposit_is_announced(
    cli: Cli, chain: Chain, token: Any, database_url: str
) -> None:
    """The merchant was told (payment.unexpected_asset) that 7 USDT arrived on an ETH
    payment's address and may start a refund; a reorg then takes the deposit away. The
    scan orphans it, `payment list --unexpected` and `status` forget it, but no webhook
    says so: the lifecycle only announces lost *counted* money (payment.reorged), so the
    refund goes out for money that never arrived."""
    payment = cli.ok("payment", "create", "--chain", "local", "--amount", "1")
    chain.send_token(token, payment["address"], 7 * USDT)
    chain.mine(2)
    assert cli.ok("scan", "--chain", "local")["transfers_found"] == 1
    assert event_types(database_url, payment["id"])[-1] == "payment.unexpected_asset"
    assert [p["id"] for p in cli.ok("payment", "list", "--unexpected")] == [payment["id"]]

    chain.reorg(3)  # the deposit's block and the two above it, without the deposit
    result = cli.ok("scan", "--chain", "local")
    assert (result["reorg_depth"], result["transfers_orphaned"]) == (3, 1), result
    shown = cli.ok("payment", "show", payment["id"])
    assert [t["state"] for t in shown["transfers"]] == ["orphaned"]
    assert cli.ok("payment", "list", "--unexpected") == []
    # Something must tell the webhook consumer the announced deposit is gone.
    assert event_types(database_url, payment["id"])[-1] == "payment.reorged"


def test_a_wrong_asset_deposit_the_confirm_pass_orphans_is_announced_too(
    cli: Cli, chain: Chain, token: Any, database_url: str
) -> None:
    """The confirm pass finds the reorg first (its block hash changed before any scan)."""
    payment = cli.ok("payment", "create", "--chain", "local", "--amount", "1")
    chain.send_token(token, payment["address"], 7 * USDT)
    chain.mine(1)
    assert cli.ok("scan", "--chain", "local")["transfers_found"] == 1
    chain.reorg(2)
    chain.mine(3)
    assert cli.ok("confirm", "--chain", "local")["orphaned"] == 1
    assert event_types(database_url, payment["id"]) == [
        "payment.created",
        "payment.unexpected_asset",
        "payment.reorged",
    ]
    assert cli.ok("payment", "show", payment["id"])["status"] == "pending"
