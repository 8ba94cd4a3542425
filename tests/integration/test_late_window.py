"""The late window is measured with the credit's block time, never the wall clock.

Expired, cancelled and confirmed payments stay watched for `late_window` (7 days by
default) after their moment. A credit whose block time is inside that window is recorded
whenever it is scanned — the scanner may have been down for longer than the window, or an
operator rescans old blocks — and one whose block time is past it is not, in a live scan or
a late one alike. The chain here runs 30 days behind the wall clock (anvil --timestamp),
so every block is scanned "much later" than it was mined. Real anvil, SQLite, PostgreSQL.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from ctripctl.db.models import Payment
from ctripctl.db.session import get_engine, transaction
from tests.support.anvil import Anvil
from tests.support.cli import Cli
from tests.support.evm import Chain
from tests.support.queries import event_types
from tests.support.rpc_proxy import Answer, RpcProxy

USDT = 10**6
LATE_WINDOW = timedelta(days=7)  # the default; tests/support/config.py does not set it
BEHIND = timedelta(days=30)


@pytest.fixture
def anvil() -> Iterator[Anvil]:
    """This module's node: its blocks are stamped 30 days before the wall clock."""
    node = Anvil("--timestamp", str(int(time.time() - BEHIND.total_seconds())))
    yield node
    node.stop()


def block_time(chain: Chain, number: int | str = "latest") -> datetime:
    return datetime.fromtimestamp(chain.w3.eth.get_block(number)["timestamp"], UTC)


def create(cli: Cli, amount: str) -> dict[str, Any]:
    return cli.ok("payment", "create", "--chain", "local", "--amount", amount, "--token", "USDT")


def show(cli: Cli, payment_id: str) -> dict[str, Any]:
    return cli.ok("payment", "show", payment_id)


def set_payment(url: str, payment_id: str, **values: Any) -> None:
    with transaction(get_engine(url)) as session:
        session.execute(update(Payment).where(Payment.id == payment_id).values(**values))


def set_config(config: Path, **values: str) -> None:
    lines = []
    for line in config.read_text().splitlines():
        key = line.split(" = ")[0]
        if key in values:
            line = f"{key} = {values[key]}"
        lines.append(line)
    config.write_text("\n".join(lines) + "\n")


def test_credits_inside_the_window_by_block_time_are_recorded_when_scanned_late(
    cli: Cli, chain: Chain, token: Any, database_url: str
) -> None:
    """The scanner was down: every block is scanned 30 days after it was mined, long
    after the wall-clock window of each payment below has closed."""
    assert block_time(chain) < datetime.now(UTC) - BEHIND + timedelta(hours=1)
    confirmed = create(cli, "5")
    chain.send_token(token, confirmed["address"], 5 * USDT)
    chain.mine(3)
    cli.ok("scan", "--chain", "local")
    assert cli.ok("confirm", "--chain", "local")["confirmed"] == 1
    t = block_time(chain)
    # Each payment's moment an hour before the credits below (in chain time): inside the
    # window. `outside` expired 8 days before them: its window closed a day before.
    set_payment(database_url, confirmed["id"], updated_at=t - timedelta(hours=1))
    expired, cancelled, outside = create(cli, "5"), create(cli, "5"), create(cli, "5")
    set_payment(
        database_url, expired["id"], status="expired", expires_at=t - timedelta(hours=1), expired_at=t
    )
    set_payment(
        database_url,
        cancelled["id"],
        status="cancelled",
        expires_at=t + timedelta(hours=1),
        cancelled_at=t - timedelta(hours=1),
    )
    set_payment(database_url, outside["id"], status="expired", expires_at=t - timedelta(days=8), expired_at=t)
    for p in (confirmed, expired, cancelled, outside):
        chain.send_token(token, p["address"], 5 * USDT)

    assert cli.ok("scan", "--chain", "local")["transfers_found"] == 3
    shown = show(cli, confirmed["id"])
    assert (shown["status"], shown["received_base"], shown["overpaid"]) == ("confirmed", str(10 * USDT), True)
    shown = show(cli, expired["id"])
    assert (shown["status"], shown["received_base"], shown["paid_late"]) == ("detected", str(5 * USDT), True)
    shown = show(cli, cancelled["id"])
    assert (shown["status"], shown["received_base"]) == ("cancelled", str(5 * USDT))
    assert show(cli, outside["id"])["transfers"] == []
    for p in (confirmed, expired, cancelled):
        assert event_types(database_url, p["id"])[-1] == "payment.detected"


def test_window_ends_at_the_credits_block_time_within_one_range(
    cli: Cli, chain: Chain, token: Any, database_url: str
) -> None:
    """One pass covers blocks on both sides of a payment's window end: the credit before
    it is recorded, the one after it is not — each judged by its own block's time."""
    p = create(cli, "5")
    t = block_time(chain)
    set_payment(
        database_url, p["id"], status="expired", expires_at=t - LATE_WINDOW + timedelta(hours=1), expired_at=t
    )
    inside = chain.send_token(token, p["address"], 2 * USDT)
    chain.anvil.rpc("evm_increaseTime", 2 * 3600)  # the next blocks are two hours later
    chain.send_token(token, p["address"], 3 * USDT)
    assert cli.ok("scan", "--chain", "local")["transfers_found"] == 1
    shown = show(cli, p["id"])
    assert [(t["block_number"], t["amount_base"]) for t in shown["transfers"]] == [
        (inside["blockNumber"], str(2 * USDT))
    ]
    assert (shown["status"], shown["received_base"], shown["underpaid"]) == ("expired", str(2 * USDT), True)


def test_rescan_of_old_blocks_records_what_came_in_time(
    cli: Cli, chain: Chain, token: Any, anvil: Anvil, config_file: Path, database_url: str
) -> None:
    """A node served no logs (a bad backend), so the checkpoint moved past a credit paid
    in time; the operator rescans weeks later, when the payment has long expired by the
    wall clock. The credit is recorded: its block time is before the expiry."""
    p = create(cli, "5")
    set_payment(database_url, p["id"], expires_at=block_time(chain) + timedelta(hours=1))
    paid = chain.send_token(token, p["address"], 5 * USDT)
    chain.mine(5)

    def no_logs(body: Any, forward: Callable[[Any], Answer]) -> Answer:
        status, answer = forward(body)
        calls = {c["id"]: c["method"] for c in (body if isinstance(body, list) else [body])}
        for item in answer if isinstance(answer, list) else [answer]:
            if calls.get(item.get("id")) == "eth_getLogs":
                item["result"] = []
        return status, answer

    proxy = RpcProxy(anvil.url, hook=no_logs)
    try:
        set_config(config_file, rpc_urls=f'["{proxy.url}"]')
        missed = cli.ok("scan", "--chain", "local")
    finally:
        proxy.stop()
    set_config(config_file, rpc_urls=f'["{anvil.url}"]')
    assert missed["transfers_found"] == 0 and missed["checkpoint"] > paid["blockNumber"]
    chain.anvil.rpc("evm_increaseTime", 3 * 3600)
    chain.mine(1)
    cli.ok("scan", "--chain", "local")
    cli.ok("confirm", "--chain", "local")  # the chain passed its expiry: expired
    assert show(cli, p["id"])["status"] == "expired"

    rescan = cli.ok("scan", "--chain", "local", "--from-block", str(paid["blockNumber"]))
    assert rescan["transfers_found"] == 1
    shown = show(cli, p["id"])
    assert (shown["status"], shown["received_base"], shown["paid_late"]) == ("detected", str(5 * USDT), False)
    assert event_types(database_url, p["id"])[-1] == "payment.detected"
