"""`ctripctl status`: healthy, lagging, idle, unreachable-node and dead-webhook states.

Real anvil, real SQLite and PostgreSQL, the real scan and confirm commands. Unhealthy
states are made the way they happen in production: blocks mined without scanning (lag),
a node that is not listening (unreachable), an event the flusher gave up on (dead), a
pass that stopped running (its timestamp moved back through the library).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from ctripctl.db.models import ChainState, WebhookEvent
from ctripctl.db.session import get_engine, transaction
from tests.support.anvil import Anvil, free_port
from tests.support.cli import Cli, Run
from tests.support.config import write_config
from tests.support.evm import Chain

MAX_LAG = 5


@pytest.fixture
def config_file(tmp_path: Path, database_url: str, anvil: Anvil, token: Any) -> Path:
    """The shared test config with a small max_lag_blocks, so lag is cheap to create."""
    return write_config(
        tmp_path / "ctrip.toml",
        database_url=database_url,
        rpc_urls=[anvil.url],
        token_address=token.address,
        chain_extra=f'max_lag_blocks = {MAX_LAG}\nmax_idle = "10m"',
    )


def passes(cli: Cli) -> None:
    """One scan and one confirm pass, as cron would run them."""
    cli.ok("scan", "--chain", "local", "--batches", "10")
    cli.ok("confirm", "--chain", "local")


def status(cli: Cli) -> tuple[Run, dict[str, Any]]:
    run = cli("status", "--json")
    return run, run.json()


def codes(report: dict[str, Any]) -> list[str]:
    return [p["code"] for p in report["problems"]]


def set_rows(url: str, statement: Any) -> None:
    with transaction(get_engine(url)) as session:
        session.execute(statement)


def test_healthy(cli: Cli, chain: Chain, database_url: str) -> None:
    cli.ok("payment", "create", "--chain", "local", "--amount", "5", "--token", "USDT")  # stays open
    passes(cli)
    run, report = status(cli)
    assert run.exit_code == 0, run
    assert report["healthy"] is True and report["problems"] == []
    [local] = report["chains"]
    assert local["chain"] == "local"
    assert local["node"]["reachable"] is True
    assert local["node"]["head"] == chain.head
    assert local["checkpoint"] == chain.head
    assert local["lag"] == 0
    assert 0 <= local["since_last_scan_s"] < 600
    assert 0 <= local["since_last_confirm_s"] < 600
    assert local["payments"]["last_24h"]["pending"] == 1
    assert local["payments"]["open"] == {"pending": 1, "partially_paid": 0, "detected": 0}
    assert report["webhooks"]["pending"] == 1  # payment.created, not flushed in this test
    assert report["webhooks"]["dead"] == 0
    assert report["webhooks"]["oldest_pending_age_s"] is not None
    # The people's screen says the same.
    screen = cli("status")
    assert screen.exit_code == 0, screen
    assert "healthy" in screen.stdout and "UNHEALTHY" not in screen.stdout
    assert "local" in screen.stdout and "Webhooks: 1 pending" in screen.stdout


def test_lagging_chain_exits_7_and_still_prints_the_report(cli: Cli, chain: Chain) -> None:
    passes(cli)
    checkpoint = chain.head
    chain.mine(MAX_LAG + 1)  # blocks nobody scanned
    run, report = status(cli)
    assert run.exit_code == 7, run
    assert codes(report) == ["lag"]
    assert report["healthy"] is False
    assert report["chains"][0]["lag"] == MAX_LAG + 1
    assert report["chains"][0]["checkpoint"] == checkpoint
    assert "Error: unhealthy (1)" in run.stderr and f"{MAX_LAG + 1} blocks behind" in run.stderr
    screen = cli("status")
    assert screen.exit_code == 7
    assert "UNHEALTHY" in screen.stdout and "Problems:" in screen.stdout and "lag:" in screen.stdout
    # One more scan catches up: healthy again.
    passes(cli)
    run, report = status(cli)
    assert run.exit_code == 0, run


def test_lag_at_the_threshold_is_healthy(cli: Cli, chain: Chain) -> None:
    passes(cli)
    chain.mine(MAX_LAG)
    run, report = status(cli)
    assert run.exit_code == 0, run
    assert report["chains"][0]["lag"] == MAX_LAG


def test_unreachable_node(cli: Cli, tmp_path: Path, database_url: str, token: Any) -> None:
    passes(cli)  # the database says all is well ...
    dead_port = write_config(  # ... but now the only RPC URL is a port nobody listens on
        tmp_path / "down.toml",
        database_url=database_url,
        rpc_urls=[f"http://127.0.0.1:{free_port()}"],
        token_address=token.address,
    )
    run, report = status(Cli(dead_port))
    assert run.exit_code == 7, run
    assert codes(report) == ["node_unreachable"]
    node = report["chains"][0]["node"]
    assert node["reachable"] is False and node["head"] is None and node["error"]
    assert report["chains"][0]["lag"] is None
    assert report["chains"][0]["checkpoint"] is not None
    screen = Cli(dead_port)("status")
    assert screen.exit_code == 7 and "unreachable" in screen.stdout


def test_node_on_another_chain_counts_as_unreachable(
    cli: Cli, tmp_path: Path, database_url: str, anvil: Anvil
) -> None:
    passes(cli)
    wrong = write_config(tmp_path / "wrong.toml", database_url=database_url, rpc_urls=[anvil.url], chain_id=1)
    run, report = status(Cli(wrong))
    assert run.exit_code == 7, run
    assert codes(report) == ["node_unreachable"]
    assert "node is on chain id 31337, config says 1" in report["chains"][0]["node"]["error"]


def test_dead_webhook(cli: Cli, database_url: str) -> None:
    payment = cli.ok("payment", "create", "--chain", "local", "--amount", "1")
    passes(cli)
    set_rows(
        database_url,
        update(WebhookEvent)
        .where(WebhookEvent.payment_id == payment["id"])
        .values(status="dead", attempts=8, last_error="HTTP 500"),
    )
    run, report = status(cli)
    assert run.exit_code == 7, run
    assert codes(report) == ["dead_webhooks"]
    assert report["webhooks"] == {
        **report["webhooks"],
        "dead": 1,
        "pending": 0,
        "oldest_pending_age_s": None,
    }
    assert "1 webhook event is dead" in run.stderr


def test_idle_passes(cli: Cli, database_url: str) -> None:
    passes(cli)
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    set_rows(database_url, update(ChainState).values(last_scan_at=long_ago, last_confirm_at=long_ago))
    run, report = status(cli)
    assert run.exit_code == 7, run
    assert codes(report) == ["scan_idle", "confirm_idle"]
    assert report["chains"][0]["since_last_scan_s"] >= 3600


def test_never_scanned(cli: Cli) -> None:
    run, report = status(cli)
    assert run.exit_code == 7, run
    assert codes(report) == ["never_scanned", "confirm_idle"]
    assert report["chains"][0]["checkpoint"] is None
    assert report["chains"][0]["last_scan_at"] is None


def test_webhooks_nobody_flushes(cli: Cli, database_url: str) -> None:
    cli.ok("payment", "create", "--chain", "local", "--amount", "1")
    passes(cli)
    overdue = datetime.now(UTC) - timedelta(minutes=30)
    set_rows(database_url, update(WebhookEvent).values(next_attempt_at=overdue, created_at=overdue))
    run, report = status(cli)
    assert run.exit_code == 7, run
    assert codes(report) == ["webhooks_stalled"]
    assert report["webhooks"]["oldest_due_age_s"] >= 1800


def test_status_needs_a_database_schema(tmp_path: Path, anvil: Anvil) -> None:
    config = write_config(
        tmp_path / "empty.toml", database_url=f"sqlite:///{tmp_path / 'none.db'}", rpc_urls=[anvil.url]
    )
    metrics = tmp_path / "status.prom"
    run = Cli(config)("status", "--json", "--metrics-file", str(metrics))
    assert run.exit_code == 5, run
    assert run.stdout == ""
    assert "db upgrade" in run.stderr
    assert 'ctripctl_last_run_success{chain="",command="status"} 0.0' in metrics.read_text()
