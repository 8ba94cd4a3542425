"""Which deposit addresses the scanner watches: money is never silently dropped.

Real anvil, SQLite and PostgreSQL, through the CLI. Cancelled and confirmed payments stay
watched for `late_window` after they became so (as expired ones do): a payment made
before a cancel but scanned after it, or a second send to a confirmed payment, is
recorded and announced; the status itself does not change.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from ctripctl.db.models import Payment, WebhookEvent
from ctripctl.db.session import get_engine, transaction
from tests.support.cli import Cli
from tests.support.evm import Chain

USDT = 10**6
LATE_WINDOW = timedelta(days=7)  # the default; tests/support/config.py does not set it


def create(cli: Cli, amount: str) -> dict[str, Any]:
    return cli.ok("payment", "create", "--chain", "local", "--amount", amount, "--token", "USDT")


def scan(cli: Cli) -> dict[str, Any]:
    return cli.ok("scan", "--chain", "local")


def show(cli: Cli, payment_id: str) -> dict[str, Any]:
    return cli.ok("payment", "show", payment_id)


def events(url: str, payment_id: str) -> list[dict[str, Any]]:
    with transaction(get_engine(url)) as session:
        stmt = (
            select(WebhookEvent.payload)
            .where(WebhookEvent.payment_id == payment_id)
            .order_by(WebhookEvent.seq)
        )
        return list(session.execute(stmt).scalars())


def types(url: str, payment_id: str) -> list[str]:
    return [e["type"] for e in events(url, payment_id)]


def test_paid_then_cancelled_before_the_scan_is_recorded_and_announced(
    cli: Cli, chain: Chain, token: Any, database_url: str
) -> None:
    """Trigger A: the customer pays in block N, support cancels while the payment still
    shows pending (cron has not scanned N yet); the next scan still records the credit."""
    p = create(cli, "5")
    block = chain.send_token(token, p["address"], 5 * USDT)["blockNumber"]
    assert cli.ok("payment", "cancel", p["id"])["status"] == "cancelled"  # cancel stays allowed

    scanned = scan(cli)
    assert scanned["transfers_found"] == 1
    shown = show(cli, p["id"])
    assert (shown["status"], shown["received_base"]) == ("cancelled", str(5 * USDT))
    assert [t["block_number"] for t in shown["transfers"]] == [block]
    assert types(database_url, p["id"]) == ["payment.created", "payment.cancelled", "payment.detected"]
    detected = events(database_url, p["id"])[-1]
    assert detected["data"]["status"] == "cancelled"
    assert detected["data"] == show(cli, p["id"])

    # Short of the amount: announced as partially paid, still cancelled.
    q = create(cli, "5")
    chain.send_token(token, q["address"], 2 * USDT)
    cli.ok("payment", "cancel", q["id"])
    scan(cli)
    assert show(cli, q["id"])["received_base"] == str(2 * USDT)
    assert types(database_url, q["id"])[-1] == "payment.partially_paid"
    assert events(database_url, q["id"])[-1]["data"]["status"] == "cancelled"

    # Its credit is confirmed at depth without a second announcement.
    chain.mine(3)
    assert cli.ok("confirm", "--chain", "local")["confirmed"] == 2
    assert show(cli, p["id"])["confirmed_base"] == str(5 * USDT)
    assert types(database_url, p["id"])[-1] == "payment.detected"


def test_a_second_send_to_a_confirmed_payment_is_recorded_overpaid_and_announced(
    cli: Cli, chain: Chain, token: Any, database_url: str
) -> None:
    """Trigger B: the customer pays again after the payment is confirmed (double send)."""
    p = create(cli, "3")
    chain.send_token(token, p["address"], 3 * USDT)
    chain.mine(2)
    scan(cli)
    assert cli.ok("confirm", "--chain", "local")["confirmed"] == 1
    assert show(cli, p["id"])["status"] == "confirmed"

    chain.send_token(token, p["address"], 3 * USDT)
    assert scan(cli)["transfers_found"] == 1
    shown = show(cli, p["id"])
    assert (shown["status"], shown["received_base"], shown["overpaid"]) == ("confirmed", str(6 * USDT), True)
    assert len(shown["transfers"]) == 2
    assert types(database_url, p["id"]) == [
        "payment.created",
        "payment.detected",
        "payment.confirmed",
        "payment.detected",
    ]
    last = events(database_url, p["id"])[-1]
    assert (last["data"]["status"], last["data"]["overpaid"]) == ("confirmed", True)


def test_watching_ends_after_the_late_window(cli: Cli, chain: Chain, token: Any, database_url: str) -> None:
    """The watched set stays bounded: long-cancelled and long-confirmed payments drop out."""
    cancelled = create(cli, "1")
    cli.ok("payment", "cancel", cancelled["id"])
    confirmed = create(cli, "1")
    chain.send_token(token, confirmed["address"], USDT)
    chain.mine(2)
    scan(cli)
    cli.ok("confirm", "--chain", "local")
    assert show(cli, confirmed["id"])["status"] == "confirmed"
    long_ago = datetime.now(UTC) - LATE_WINDOW - timedelta(hours=1)
    with transaction(get_engine(database_url)) as session:
        session.execute(update(Payment).where(Payment.id == cancelled["id"]).values(cancelled_at=long_ago))
        session.execute(update(Payment).where(Payment.id == confirmed["id"]).values(updated_at=long_ago))

    chain.send_token(token, cancelled["address"], USDT)
    chain.send_token(token, confirmed["address"], USDT)
    assert scan(cli)["transfers_found"] == 0
    assert show(cli, cancelled["id"])["transfers"] == []
    assert len(show(cli, confirmed["id"])["transfers"]) == 1
