"""`payment create/show/list/cancel` against real SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import func, select

from ctripctl.db.models import Payment, WebhookEvent
from ctripctl.db.session import get_engine, transaction
from tests.support.cli import Cli
from tests.support.config import TEST_XPUB


def count(url: str, model: type) -> int:
    with transaction(get_engine(url)) as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def test_create_native_payment(cli: Cli, database_url: str) -> None:
    from ctripctl.evm.wallet import deposit_address

    p = cli.ok("payment", "create", "--chain", "local", "--amount", "1.25", "--metadata", "order=7")
    assert p["id"].startswith("pay_")
    assert p["amount_base"] == str(125 * 10**16)
    assert p["amount"] == "1.25"
    assert p["token"] is None
    assert p["status"] == "pending"
    assert p["metadata"] == {"order": "7"}
    assert p["address"] == deposit_address(TEST_XPUB, 0)
    shown = cli.ok("payment", "show", p["id"])
    assert shown == p
    assert count(database_url, WebhookEvent) == 1


def test_reference_is_idempotent(cli: Cli, database_url: str) -> None:
    first = cli.ok(
        "payment", "create", "--chain", "local", "--amount", "5", "--token", "USDT", "--reference", "ORDER-1"
    )
    again = cli.ok(
        "payment", "create", "--chain", "local", "--amount", "5", "--token", "usdt", "--reference", "ORDER-1"
    )
    assert again["id"] == first["id"]
    assert again["amount_base"] == "5000000"
    assert count(database_url, Payment) == 1
    conflict = cli(
        "payment", "create", "--chain", "local", "--amount", "6", "--token", "USDT", "--reference", "ORDER-1"
    )
    assert conflict.exit_code == 3, conflict
    assert "ORDER-1" in conflict.stderr
    assert count(database_url, Payment) == 1
