"""The recovery recipes of the README's "Running in production" section, run for real: status goes
red, the documented commands bring it back to green, and nothing is counted twice. Also the log options.

Real anvil, SQLite and PostgreSQL, a real webhook receiver.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update

from ctripctl.db.models import Transfer, WebhookEvent
from ctripctl.db.session import get_engine, transaction
from tests.support.cli import Cli
from tests.support.evm import Chain
from tests.support.receiver import Receiver, always

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "README.md"


def documented_requeue_all() -> str:
    """The 're-queue all dead events' pipeline exactly as the README's "Running in production" prints it."""
    match = re.search(
        r"^ctripctl webhooks list --status dead .*?xargs -n1 ctripctl webhooks retry",
        DOC.read_text(),
        re.M | re.S,
    )
    assert match, "the re-queue-all recipe is missing from the README's 'Running in production'"
    return match.group(0)


def passes(cli: Cli) -> None:
    cli.ok("scan", "--chain", "local", "--batches", "10")
    cli.ok("confirm", "--chain", "local")


def status_codes(cli: Cli) -> tuple[int, list[str]]:
    run = cli("status", "--json")
    return run.exit_code, [p["code"] for p in run.json()["problems"]]


def test_dead_webhooks_requeued_with_the_documented_pipeline(
    cli: Cli, chain: Chain, database_url: str
) -> None:
    with Receiver() as receiver:
        receiver.script = always(410)  # "gone": dead at the first attempt
        p = cli.ok("payment", "create", "--chain", "local", "--amount", "1", "--webhook-url", receiver.url())
        chain.send_eth(p["address"], 10**18)
        chain.mine(3)
        passes(cli)
        cli.ok("webhooks", "flush")
        assert status_codes(cli) == (7, ["dead_webhooks"])

        receiver.script = always(200)  # the merchant fixed the endpoint
        env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "CTRIP_CONFIG": str(cli.config)}
        done = subprocess.run(
            ["/bin/sh", "-c", documented_requeue_all().replace("python3", sys.executable)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.count("re-queued") == 3  # created, detected, confirmed
        code, problems = status_codes(cli)
        assert (code, problems) == (0, [])
        flushed = cli.ok("webhooks", "flush")
        assert flushed["delivered"] == 3
    with transaction(get_engine(database_url)) as session:
        statuses = session.execute(select(WebhookEvent.status)).scalars().all()
    assert sorted(statuses) == ["delivered"] * 3


def test_rescan_from_block_counts_nothing_twice(
    cli: Cli, chain: Chain, token: Any, database_url: str
) -> None:
    p = cli.ok("payment", "create", "--chain", "local", "--amount", "5", "--token", "USDT")
    receipt = chain.send_token(token, p["address"], 5 * 10**6)
    chain.mine(3)
    passes(cli)
    before = cli.ok("payment", "show", p["id"])
    assert before["status"] == "confirmed"

    rescan = cli.ok("scan", "--chain", "local", "--from-block", str(receipt["blockNumber"] - 1))
    assert rescan["from_block"] == receipt["blockNumber"] - 1
    assert rescan["transfers_found"] in (0, 1)  # found again or not: never inserted twice
    cli.ok("confirm", "--chain", "local")
    after = cli.ok("payment", "show", p["id"])
    assert after["received"] == before["received"] == "5"
    assert after["status"] == "confirmed" and len(after["transfers"]) == 1
    with transaction(get_engine(database_url)) as session:
        assert session.execute(select(func.count()).select_from(Transfer)).scalar_one() == 1
        session.execute(update(WebhookEvent).values(status="delivered"))
    assert status_codes(cli) == (0, [])


def test_log_format_and_levels(cli: Cli) -> None:
    cli.ok("payment", "create", "--chain", "local", "--amount", "1")
    text = cli("scan", "--chain", "local")
    assert text.exit_code == 0, text
    [line] = [x for x in text.stderr.splitlines() if "ctripctl.pass" in x]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ INFO ctripctl.pass scan chain=local ok=true ", line)
    assert "blocks_scanned=" in line and "from_block=" in line and "duration_s=" in line

    as_json = cli("--log-format", "json", "scan", "--chain", "local", "--json")
    assert as_json.exit_code == 0, as_json
    records = [json.loads(x) for x in as_json.stderr.splitlines()]
    [summary] = [r for r in records if r["logger"] == "ctripctl.pass"]
    assert summary["command"] == "scan" and summary["chain"] == "local" and summary["ok"] is True
    assert summary["level"] == "info" and isinstance(summary["blocks_scanned"], int)
    assert json.loads(as_json.stdout)["chain"] == "local"  # stdout stays the one JSON document

    quiet = cli("-q", "scan", "--chain", "local")
    assert quiet.exit_code == 0 and "ctripctl.pass" not in quiet.stderr

    # With JSON logs the error line is JSON too: every stderr line parses for the log shipper.
    failing = cli("-q", "--log-format", "json", "scan", "--chain", "nope")
    assert failing.exit_code == 2
    [error] = [json.loads(x) for x in failing.stderr.splitlines() if json.loads(x)["level"] == "error"]
    assert error["msg"].startswith("Error: unknown chain 'nope'")
    assert error["exit_code"] == 2 and error["error"] == "InputError"
    text_error = cli("scan", "--chain", "nope")
    assert text_error.exit_code == 2 and text_error.stderr.startswith("Error: unknown chain 'nope'")
