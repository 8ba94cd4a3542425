"""`ctripctl confirm` end to end: real anvil, SQLite and PostgreSQL, driven through the CLI.

Every test runs the real flow — `payment create`, a real transfer on anvil, `scan`, then
`confirm` — and checks the CLI's output and the database (transfers' states, the
payment row, the outbox). Time never sleeps: an expiry is moved into the past in the
database (state set up through the library), or the library pass is given `now`.
The test chain requires 3 confirmations (tests/support/config.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update

from ctripctl.config import load_config
from ctripctl.db.models import ChainState, Payment, ScannedBlock, Transfer, WebhookEvent
from ctripctl.db.session import get_engine, transaction
from tests.support.anvil import Anvil
from tests.support.cli import Cli
from tests.support.config import write_config
from tests.support.evm import Chain
from tests.support.queries import event_types

ROOT = Path(__file__).resolve().parents[2]
USDT = 10**6
ETH = 10**18
ZERO = {"confirmed": 0, "expired": 0, "orphaned": 0, "payments_updated": 0}


# -- helpers --------------------------------------------------------------------------------
def create(cli: Cli, amount: str, token: str | None = None, *extra: str) -> dict[str, Any]:
    args = ["payment", "create", "--chain", "local", "--amount", amount, *extra]
    if token:
        args += ["--token", token]
    return cli.ok(*args)


def scan(cli: Cli) -> dict[str, Any]:
    return cli.ok("scan", "--chain", "local")


def confirm(cli: Cli) -> dict[str, Any]:
    result = cli.ok("confirm", "--chain", "local")
    assert set(result) == {"chain", "head", "confirmed", "expired", "orphaned", "payments_updated"} | {
        "waiting",  # what a pass that confirmed nothing waits for (issue 15)
        "waiting_from_block",
        "required_depth",
        "confirmable_upto",
    }
    assert result["chain"] == "local"
    return result


def counts(result: dict[str, Any]) -> dict[str, int]:
    return {k: result[k] for k in ZERO}


def show(cli: Cli, payment_id: str) -> dict[str, Any]:
    return cli.ok("payment", "show", payment_id)


def last_event(url: str, payment_id: str) -> dict[str, Any]:
    with transaction(get_engine(url)) as session:
        stmt = (
            select(WebhookEvent.payload)
            .where(WebhookEvent.payment_id == payment_id)
            .order_by(WebhookEvent.seq.desc())
            .limit(1)
        )
        return session.execute(stmt).scalar_one()


def transfer_states(url: str, payment_id: str) -> list[str]:
    with transaction(get_engine(url)) as session:
        stmt = select(Transfer.state).where(Transfer.payment_id == payment_id).order_by(Transfer.id)
        return list(session.execute(stmt).scalars())


def expire_now(url: str, *payment_ids: str, ago: timedelta = timedelta(minutes=5)) -> None:
    """Move the payments' expiry into the past (what waiting would do, without waiting)."""
    with transaction(get_engine(url)) as session:
        session.execute(
            update(Payment).where(Payment.id.in_(payment_ids)).values(expires_at=datetime.now(UTC) - ago)
        )


def chain_state(url: str) -> tuple[int, str | None, datetime | None, int | None, int | None]:
    """(last_block, last_block_hash, last_block_time, head_block, highest stored block hash)."""
    with transaction(get_engine(url)) as session:
        state = session.get(ChainState, "local")
        assert state is not None
        top = session.execute(
            select(func.max(ScannedBlock.number)).where(ScannedBlock.chain == "local")
        ).scalar_one()
        return state.last_block, state.last_block_hash, state.last_block_time, state.head_block, top


def total_events(url: str) -> int:
    with transaction(get_engine(url)) as session:
        return session.execute(select(func.count()).select_from(WebhookEvent)).scalar_one()


# -- confirmation depth -------------------------------------------------------------------------
def test_confirms_exactly_at_the_depth_boundary_token_and_native(
    cli: Cli, chain: Chain, token: Any, database_url: str
) -> None:
    usdt = create(cli, "5", "USDT")
    eth = create(cli, "0.5")
    token_block = chain.send_token(token, usdt["address"], 5 * USDT)["blockNumber"]
    native_block = chain.send_eth(eth["address"], ETH // 2)["blockNumber"]
    assert native_block == token_block + 1
    chain.mine(1)  # head = token_block + 2: token 3 deep (= depth), native 2 deep (depth − 1)
    scanned = scan(cli)
    assert scanned["transfers_found"] == 2
    assert show(cli, eth["id"])["status"] == "detected"

    first = confirm(cli)
    assert first["head"] == token_block + 2
    assert counts(first) == {"confirmed": 1, "expired": 0, "orphaned": 0, "payments_updated": 1}
    assert show(cli, usdt["id"])["status"] == "confirmed"
    assert show(cli, usdt["id"])["confirmed_base"] == str(5 * USDT)
    assert show(cli, eth["id"])["status"] == "detected"  # one block short: not yet
    assert transfer_states(database_url, eth["id"]) == ["seen"]

    chain.mine(1)  # native now exactly 3 deep
    second = confirm(cli)
    assert counts(second) == {"confirmed": 1, "expired": 0, "orphaned": 0, "payments_updated": 1}
    shown = show(cli, eth["id"])
    assert (shown["status"], shown["confirmed_base"]) == ("confirmed", str(ETH // 2))
    assert shown["transfers"][0]["state"] == "confirmed"
    for p in (usdt, eth):
        assert event_types(database_url, p["id"]) == [
            "payment.created",
            "payment.detected",
            "payment.confirmed",
        ]
    payload = last_event(database_url, eth["id"])
    assert payload["type"] == "payment.confirmed"
    assert payload["data"] == show(cli, eth["id"])  # the payload is exactly what show prints

    # A rerun changes nothing and announces nothing.
    before = total_events(database_url)
    assert counts(confirm(cli)) == ZERO
    assert total_events(database_url) == before
    with transaction(get_engine(database_url)) as session:
        state = session.get(ChainState, "local")
        assert state is not None and state.head_block == chain.head and state.last_confirm_at is not None


def test_overpaid_in_two_credits_is_confirmed_with_the_flag(cli: Cli, chain: Chain, token: Any) -> None:
    p = create(cli, "5", "USDT")
    chain.send_token(token, p["address"], 2 * USDT)
    chain.send_token(token, p["address"], 4 * USDT)
    chain.mine(2)
    scan(cli)
    assert show(cli, p["id"])["status"] == "detected"
    result = confirm(cli)
    assert (result["confirmed"], result["payments_updated"]) == (2, 1)
    shown = show(cli, p["id"])
    assert (shown["status"], shown["overpaid"], shown["confirmed_base"]) == ("confirmed", True, str(6 * USDT))


def test_payment_show_lists_transfers_with_confirmations_and_events(cli: Cli, chain: Chain) -> None:
    p = create(cli, "0.25")
    tx = chain.send_eth(p["address"], ETH // 4)
    chain.mine(1)
    scan(cli)
    confirm(cli)  # records the head: the transfer is 2 deep
    run = cli("payment", "show", p["id"])
    assert run.exit_code == 0, run
    row = next(line for line in run.stdout.splitlines() if tx["transactionHash"].to_0x_hex() in line)
    assert "seen" in row and row.rstrip(" │|").endswith("2 of 3"), row  # depth against the required 3
    assert "payment.created" in run.stdout and "payment.detected" in run.stdout
    assert "payment.confirmed" not in run.stdout

    chain.mine(1)
    confirm(cli)
    run = cli("payment", "show", p["id"])
    row = next(line for line in run.stdout.splitlines() if tx["transactionHash"].to_0x_hex() in line)
    assert "confirmed" in row and row.rstrip(" │|").split()[-1] == "3", row
    assert "payment.confirmed" in run.stdout


# -- reorgs --------------------------------------------------------------------------------------
def test_reorg_between_scan_and_confirm_is_never_confirmed(
    cli: Cli, chain: Chain, token: Any, database_url: str
) -> None:
    p = create(cli, "3", "USDT")
    chain.mine(1)
    credit_block = chain.send_token(token, p["address"], 3 * USDT)["blockNumber"]
    scan(cli)
    assert show(cli, p["id"])["status"] == "detected"
    old_hash = chain.block_hash(credit_block)

    chain.reorg(2)  # replace the credit's block (and the one before) with empty blocks
    assert chain.block_hash(credit_block) != old_hash
    chain.mine(3)  # the height is now deep enough: only the hash check stands in the way
    result = confirm(cli)
    assert counts(result) == {"confirmed": 0, "expired": 0, "orphaned": 1, "payments_updated": 1}
    shown = show(cli, p["id"])
    assert (shown["status"], shown["received_base"], shown["confirmed_base"]) == ("pending", "0", "0")
    assert transfer_states(database_url, p["id"]) == ["orphaned"]
    assert event_types(database_url, p["id"])[-1] == "payment.reorged"
    # The scan checkpoint went back to just below the orphaned block, so the scanner
    # re-fetches those blocks from its own node (the verdict may come from a bad node).
    last_block, _hash, last_time, _head, top = chain_state(database_url)
    assert (last_block, last_time) == (credit_block - 1, None)
    assert top is not None and top <= credit_block - 1
    assert counts(confirm(cli)) == ZERO  # idempotent

    # The customer pays again on the new branch: scanned, then confirmed at depth.
    chain.send_token(token, p["address"], 3 * USDT)
    assert scan(cli)["transfers_found"] == 1  # re-covers the rewound blocks, records it once
    assert show(cli, p["id"])["status"] == "detected"
    assert chain_state(database_url)[0] == chain.head
    chain.mine(2)
    assert confirm(cli)["confirmed"] == 1
    shown = show(cli, p["id"])
    assert (shown["status"], shown["confirmed_base"]) == ("confirmed", str(3 * USDT))
    assert sorted(transfer_states(database_url, p["id"])) == ["confirmed", "orphaned"]
    assert event_types(database_url, p["id"]) == [
        "payment.created",
        "payment.detected",
        "payment.reorged",
        "payment.detected",
        "payment.confirmed",
    ]


def test_a_wrong_not_canonical_verdict_is_rechecked_by_the_scanner(
    cli: Cli, chain: Chain, database_url: str
) -> None:
    """Confirm failed over to a node stuck on a minority fork and orphaned a credit that is
    on the scanner's chain: the checkpoint is rewound, and the next scan revives the very
    same transfer (one row, counted once) instead of never looking at its block again."""
    from ctripctl.db import confirm_store

    p = create(cli, "0.3")
    credit_block = chain.send_eth(p["address"], 3 * ETH // 10)["blockNumber"]
    chain.mine(3)
    scan(cli)
    engine = get_engine(database_url)
    candidates = confirm_store.read_candidates(engine, "local", chain.head - 2, 100)
    assert [c.block_number for c in candidates] == [credit_block]
    wrong = {c.id: (c, False) for c in candidates}  # the minority-fork node's verdict
    recorded = confirm_store.record_confirm(
        engine, chain="local", head=chain.head, verdicts=wrong, now=datetime.now(UTC)
    )
    assert recorded.orphaned == 1
    assert show(cli, p["id"])["status"] == "pending"
    last_block, last_hash, last_time, _head, top = chain_state(database_url)
    assert (last_block, last_hash, last_time) == (credit_block - 1, chain.block_hash(credit_block - 1), None)
    assert top == credit_block - 1

    rescanned = scan(cli)
    assert (rescanned["transfers_found"], rescanned["transfers_orphaned"]) == (1, 0)
    assert rescanned["checkpoint"] == chain.head
    shown = show(cli, p["id"])
    assert (shown["status"], shown["received_base"]) == ("detected", str(3 * ETH // 10))
    assert transfer_states(database_url, p["id"]) == ["seen"]  # the same row, revived
    assert scan(cli)["transfers_found"] == 0
    assert confirm(cli)["confirmed"] == 1
    shown = show(cli, p["id"])
    assert (shown["status"], shown["received_base"], shown["overpaid"]) == (
        "confirmed",
        str(3 * ETH // 10),
        False,
    )
    assert event_types(database_url, p["id"]) == [
        "payment.created",
        "payment.detected",
        "payment.reorged",
        "payment.detected",
        "payment.confirmed",
    ]


# -- expiry, late payments, cancellation ----------------------------------------------------------
def test_expiry_of_unpaid_and_partially_paid_payments(
    cli: Cli, chain: Chain, token: Any, database_url: str
) -> None:
    unpaid = create(cli, "1", "USDT")
    partial = create(cli, "10", "USDT")
    fresh = create(cli, "1", "USDT")  # not yet due: must stay pending
    chain.send_token(token, partial["address"], 4 * USDT)
    chain.mine(2)
    scan(cli)
    assert counts(confirm(cli))["confirmed"] == 1
    assert show(cli, partial["id"])["status"] == "partially_paid"

    expire_now(database_url, unpaid["id"], partial["id"])
    result = confirm(cli)
    assert counts(result) == {"confirmed": 0, "expired": 2, "orphaned": 0, "payments_updated": 2}
    u, pp = show(cli, unpaid["id"]), show(cli, partial["id"])
    assert (u["status"], u["underpaid"], u["received_base"]) == ("expired", False, "0")
    assert (pp["status"], pp["underpaid"], pp["received_base"]) == ("expired", True, str(4 * USDT))
    assert show(cli, fresh["id"])["status"] == "pending"
    payload = last_event(database_url, partial["id"])
    assert payload["type"] == "payment.expired"
    assert (payload["data"]["received"], payload["data"]["underpaid"]) == ("4", True)
    assert event_types(database_url, unpaid["id"]) == ["payment.created", "payment.expired"]

    before = total_events(database_url)
    assert counts(confirm(cli)) == ZERO
    assert total_events(database_url) == before


def test_late_payment_is_recorded_confirmed_and_flagged(
    cli: Cli, chain: Chain, token: Any, database_url: str
) -> None:
    p = create(cli, "2", "USDT")
    expire_now(database_url, p["id"])
    scan(cli)
    assert confirm(cli)["expired"] == 1
    assert show(cli, p["id"])["status"] == "expired"

    chain.send_token(token, p["address"], 2 * USDT)  # after expiry: money that arrived anyway
    scan(cli)
    shown = show(cli, p["id"])
    assert (shown["status"], shown["paid_late"]) == ("detected", True)
    detected = last_event(database_url, p["id"])
    assert (detected["type"], detected["data"]["paid_late"]) == ("payment.detected", True)

    chain.mine(2)
    assert counts(confirm(cli)) == {"confirmed": 1, "expired": 0, "orphaned": 0, "payments_updated": 1}
    shown = show(cli, p["id"])
    assert (shown["status"], shown["paid_late"], shown["underpaid"]) == ("confirmed", True, False)
    confirmed = last_event(database_url, p["id"])
    assert (confirmed["type"], confirmed["data"]["paid_late"]) == ("payment.confirmed", True)
    assert event_types(database_url, p["id"]) == [
        "payment.created",
        "payment.expired",
        "payment.detected",
        "payment.confirmed",
    ]


def test_cancelled_payment_is_never_expired_nor_reopened(
    cli: Cli, chain: Chain, token: Any, database_url: str
) -> None:
    p = create(cli, "10", "USDT")
    chain.send_token(token, p["address"], 1 * USDT)
    scan(cli)
    assert cli.ok("payment", "cancel", p["id"])["status"] == "cancelled"
    expire_now(database_url, p["id"])
    chain.mine(2)
    result = confirm(cli)
    # Its credit still reaches depth and is confirmed (money is never ignored) ...
    assert (result["confirmed"], result["expired"]) == (1, 0)
    shown = show(cli, p["id"])
    # ... but the payment stays cancelled, and nobody is told twice.
    assert (shown["status"], shown["confirmed_base"]) == ("cancelled", str(USDT))
    assert event_types(database_url, p["id"]) == [
        "payment.created",
        "payment.partially_paid",
        "payment.cancelled",
    ]
    assert counts(confirm(cli)) == ZERO


def test_expiry_waits_until_the_scan_has_covered_the_expiry_time(
    cli: Cli, chain: Chain, config_file: Path, database_url: str
) -> None:
    """Library level, so the clock can be set: a payment paid on time but not scanned yet
    must not be expired under the customer's feet."""
    from ctripctl.passes.confirm import confirm as confirm_pass

    config = load_config(config_file)
    p = create(cli, "1")
    scan(cli)
    with transaction(get_engine(database_url)) as session:
        state = session.get(ChainState, "local")
        assert state is not None and state.last_block_time is not None
        scanned_until = state.last_block_time
    chain.mine(1)  # the scan is now behind the head ...
    expires_at = scanned_until + timedelta(seconds=1)  # ... and has not covered the expiry time
    with transaction(get_engine(database_url)) as session:
        session.execute(update(Payment).where(Payment.id == p["id"]).values(expires_at=expires_at))
    later = expires_at + timedelta(hours=1)
    assert confirm_pass(config, "local", now=later).expired == 0
    assert show(cli, p["id"])["status"] == "pending"
    assert confirm_pass(config, "local", now=expires_at - timedelta(seconds=1)).expired == 0
    scan(cli)  # caught up with the head: the chain is covered past the expiry
    assert confirm_pass(config, "local", now=later).expired == 1
    assert show(cli, p["id"])["status"] == "expired"


def test_a_lagging_confirm_node_does_not_make_the_scan_look_caught_up(
    cli: Cli, chain: Chain, config_file: Path, database_url: str
) -> None:
    """The primary node is down, the backup lags: its head equals the scanner's stale
    checkpoint, but a higher head was seen before, so nothing is expired on its word."""
    from ctripctl.db import confirm_store
    from ctripctl.passes.confirm import confirm as confirm_pass

    config = load_config(config_file)
    engine = get_engine(database_url)
    p = create(cli, "1")
    scan(cli)
    lagging_head, _hash, scanned_until, _head, _top = chain_state(database_url)
    assert scanned_until is not None
    expires_at = scanned_until + timedelta(seconds=1)  # not covered by the checkpoint's time
    with transaction(engine) as session:
        session.execute(update(Payment).where(Payment.id == p["id"]).values(expires_at=expires_at))
    chain.mine(5)  # the real chain moves on; the scanner has not seen it
    later = expires_at + timedelta(hours=1)
    assert confirm_pass(config, "local", now=expires_at - timedelta(seconds=1)).head == lagging_head + 5
    assert chain_state(database_url)[3] == lagging_head + 5

    # Now confirm's node lags at the scanner's checkpoint.
    recorded = confirm_store.record_confirm(engine, chain="local", head=lagging_head, verdicts={}, now=later)
    assert recorded.expired == 0
    assert show(cli, p["id"])["status"] == "pending"
    assert chain_state(database_url)[3] == lagging_head + 5  # a running maximum

    scan(cli)  # the scanner covers the real chain
    recorded = confirm_store.record_confirm(engine, chain="local", head=lagging_head, verdicts={}, now=later)
    assert recorded.expired == 1
    assert show(cli, p["id"])["status"] == "expired"


def test_a_caught_up_scanner_expires_only_after_a_grace_period(
    cli: Cli, config_file: Path, database_url: str
) -> None:
    """A block stamped before the expiry can reach the node after the clock passed it."""
    from ctripctl.db.confirm_store import EXPIRY_GRACE
    from ctripctl.passes.confirm import confirm as confirm_pass

    config = load_config(config_file)
    p = create(cli, "1")
    scan(cli)
    scanned_until = chain_state(database_url)[2]
    assert scanned_until is not None
    expires_at = scanned_until + timedelta(seconds=1)
    with transaction(get_engine(database_url)) as session:
        session.execute(update(Payment).where(Payment.id == p["id"]).values(expires_at=expires_at))
    # Caught up with the head, past the expiry, but within the grace: not yet.
    assert confirm_pass(config, "local", now=expires_at + timedelta(seconds=30)).expired == 0
    assert confirm_pass(config, "local", now=expires_at + EXPIRY_GRACE - timedelta(seconds=1)).expired == 0
    assert show(cli, p["id"])["status"] == "pending"
    assert confirm_pass(config, "local", now=expires_at + EXPIRY_GRACE).expired == 1
    assert show(cli, p["id"])["status"] == "expired"


# -- finality, crashes, concurrency -------------------------------------------------------------
def test_finalized_tag_instead_of_a_depth(
    tmp_path: Path, database_url: str, anvil: Anvil, chain: Chain
) -> None:
    config = write_config(
        tmp_path / "finalized.toml",
        database_url=database_url,
        rpc_urls=[anvil.url],
        chain_extra='finality = "finalized"',
    )
    cli = Cli(config)
    p = create(cli, "0.1")
    block = chain.send_eth(p["address"], ETH // 10)["blockNumber"]
    chain.mine(10)  # far deeper than `confirmations`, but anvil finalizes head − 64
    scan(cli)
    assert confirm(cli)["confirmed"] == 0

    def finalized() -> int:
        return int(anvil.rpc("eth_getBlockByNumber", "finalized", False)["number"], 16)

    chain.mine(block + 63 - chain.head)  # anvil's finalized block is head − 64: one short
    assert finalized() == block - 1
    assert confirm(cli)["confirmed"] == 0
    chain.mine(1)
    assert finalized() == block
    assert confirm(cli)["confirmed"] == 1
    assert show(cli, p["id"])["status"] == "confirmed"


def test_crash_before_commit_loses_nothing(
    cli: Cli, chain: Chain, config_file: Path, database_url: str
) -> None:
    p = create(cli, "0.3")
    chain.send_eth(p["address"], 3 * ETH // 10)
    chain.mine(2)
    scan(cli)
    events_before = total_events(database_url)
    env = {**os.environ, "CTRIP_TEST_FAULT": "confirm-crash-before-commit"}
    command = [
        sys.executable,
        "-m",
        "ctripctl",
        "confirm",
        "--chain",
        "local",
        "--json",
        "--config",
        str(config_file),
    ]
    crashed = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert crashed.returncode == 86, crashed.stderr
    assert crashed.stdout == ""
    assert show(cli, p["id"])["status"] == "detected"  # nothing of the crashed pass was kept
    assert transfer_states(database_url, p["id"]) == ["seen"]
    assert total_events(database_url) == events_before

    env.pop("CTRIP_TEST_FAULT")
    rerun = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert rerun.returncode == 0, rerun.stderr
    assert counts(__import__("json").loads(rerun.stdout))["confirmed"] == 1
    assert show(cli, p["id"])["status"] == "confirmed"
    assert event_types(database_url, p["id"]).count("payment.confirmed") == 1


def test_two_passes_at_once_confirm_once(
    cli: Cli, chain: Chain, config_file: Path, database_url: str
) -> None:
    from ctripctl.passes.confirm import confirm as confirm_pass

    config = load_config(config_file)
    payments = [create(cli, "0.01") for _ in range(4)]
    for p in payments:
        chain.send_eth(p["address"], ETH // 100)
    chain.mine(2)
    scan(cli)
    expire_now(database_url, create(cli, "1")["id"])
    results: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(confirm_pass(config, "local"))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert sum(r.confirmed for r in results) == 4
    assert sum(r.expired for r in results) == 1
    for p in payments:
        assert event_types(database_url, p["id"]).count("payment.confirmed") == 1


def test_unknown_chain_and_unreachable_node(cli: Cli, tmp_path: Path, database_url: str) -> None:
    bad = cli("confirm", "--chain", "nope")
    assert bad.exit_code == 2 and "unknown chain" in bad.stderr, bad
    from tests.support.anvil import free_port

    down = Cli(
        write_config(
            tmp_path / "down.toml", database_url=database_url, rpc_urls=[f"http://127.0.0.1:{free_port()}"]
        )
    )
    run = down("confirm", "--chain", "local", "--json")
    assert run.exit_code == 5, run
    assert run.stdout == "" and "Error:" in run.stderr


def test_a_stale_verdict_never_overwrites_a_concurrent_orphaning(
    cli: Cli, chain: Chain, database_url: str
) -> None:
    """Confirm judged a credit canonical, then a scan orphaned it before confirm committed:
    the compare-and-set leaves the orphaning alone and the payment is not confirmed."""
    from ctripctl.chain.rpc import RpcClient
    from ctripctl.db import confirm_store
    from ctripctl.passes.confirm import check_canonical

    p = create(cli, "0.2")
    chain.send_eth(p["address"], ETH // 5)
    chain.mine(2)
    scan(cli)
    engine = get_engine(database_url)
    with RpcClient([chain.anvil.url], chain_id=31337) as rpc:
        candidates = confirm_store.read_candidates(engine, "local", chain.head - 2, 100)
        verdicts = check_canonical(rpc, candidates)
    assert [canonical for _c, canonical in verdicts.values()] == [True]

    chain.reorg(3)  # the credit's block leaves the chain; the scan notices and orphans it
    chain.mine(1)
    assert scan(cli)["transfers_orphaned"] == 1
    assert show(cli, p["id"])["status"] == "pending"

    recorded = confirm_store.record_confirm(
        engine, chain="local", head=chain.head, verdicts=verdicts, now=datetime.now(UTC)
    )
    assert (recorded.confirmed, recorded.orphaned, recorded.events) == (0, 0, 0)
    assert transfer_states(database_url, p["id"]) == ["orphaned"]
    assert show(cli, p["id"])["status"] == "pending"
    assert "payment.confirmed" not in event_types(database_url, p["id"])


def test_scan_and_confirm_running_at_the_same_time(
    cli: Cli, chain: Chain, config_file: Path, database_url: str
) -> None:
    """Cron starts scan and confirm together: neither reports busy, none deadlocks, and
    the end state is what running them one after the other gives."""
    from ctripctl.passes.confirm import confirm as confirm_pass
    from ctripctl.passes.scan import scan as scan_pass

    config = load_config(config_file)
    payments = []
    errors: list[BaseException] = []

    def guarded(fn: Any) -> Any:
        def run() -> None:
            try:
                fn()
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        return run

    for _round in range(4):
        p = create(cli, "0.02")
        payments.append(p)
        chain.send_eth(p["address"], ETH // 50)
        chain.mine(1)
        threads = [
            threading.Thread(target=guarded(lambda: scan_pass(config, "local"))),
            threading.Thread(target=guarded(lambda: confirm_pass(config, "local"))),
            threading.Thread(target=guarded(lambda: confirm_pass(config, "local"))),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    assert not errors, errors
    chain.mine(3)
    scan(cli)
    confirm(cli)
    for p in payments:
        assert show(cli, p["id"])["status"] == "confirmed"
        types = event_types(database_url, p["id"])
        assert types == ["payment.created", "payment.detected", "payment.confirmed"], types


def test_a_payment_a_reorg_steps_back_past_its_expiry_expires_once_the_scan_re_covered_it(
    cli: Cli, chain: Chain, token: Any, database_url: str
) -> None:
    p = create(cli, "7", "USDT")
    chain.send_token(token, p["address"], 7 * USDT)
    scan(cli)
    assert show(cli, p["id"])["status"] == "detected"  # paid on time: never expired ...
    expire_now(database_url, p["id"])
    assert confirm(cli)["expired"] == 0
    chain.reorg(1)  # ... until the credit turns out not to be on the chain
    chain.mine(3)
    # Not in the orphaning pass: the checkpoint was rewound below the credit's block, and
    # the chain is not known to be covered until the scanner has re-fetched it.
    assert counts(confirm(cli)) == {"confirmed": 0, "expired": 0, "orphaned": 1, "payments_updated": 1}
    assert show(cli, p["id"])["status"] == "pending"
    assert scan(cli)["transfers_found"] == 0
    assert counts(confirm(cli)) == {"confirmed": 0, "expired": 1, "orphaned": 0, "payments_updated": 1}
    shown = show(cli, p["id"])
    assert (shown["status"], shown["received_base"], shown["underpaid"]) == ("expired", "0", False)
    assert event_types(database_url, p["id"])[-2:] == ["payment.reorged", "payment.expired"]


def test_human_output_metrics_file_and_a_never_scanned_chain(
    cli: Cli, chain: Chain, tmp_path: Path, database_url: str
) -> None:
    first = confirm(cli)  # before any scan: nothing to confirm, nothing may expire
    assert counts(first) == ZERO and first["head"] == chain.head
    p = create(cli, "0.4")
    chain.send_eth(p["address"], 4 * ETH // 10)
    chain.mine(2)
    scan(cli)
    metrics = tmp_path / "confirm.prom"
    run = cli("confirm", "--chain", "local", "--metrics-file", str(metrics))
    assert run.exit_code == 0, run
    assert "confirm local" in run.stdout and "1 credit(s)" in run.stdout
    text = metrics.read_text()
    assert 'ctripctl_confirmed{chain="local",command="confirm"} 1.0' in text
    assert 'ctripctl_last_run_success{chain="local",command="confirm"} 1.0' in text
    assert show(cli, p["id"])["status"] == "confirmed"
