"""Scan passes that crash, overlap, meet a failing node or the wrong chain.

Crashes and overlaps run `python -m ctripctl scan` in real subprocesses: a crash is the
process dying mid-pass (the documented test-only CTRIP_TEST_FAULT hook calls os._exit
right before / after the commit, as a kill -9 would), and overlapping passes are separate
processes contending for the real lock (PostgreSQL advisory lock / SQLite flock).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from ctripctl.db.models import ChainState, Transfer, WebhookEvent
from ctripctl.db.session import get_engine, transaction
from ctripctl.faults import FAULT_ENV, FAULT_EXIT_CODE
from tests.support.anvil import Anvil
from tests.support.cli import Cli
from tests.support.evm import Chain
from tests.support.rpc_proxy import RpcProxy

ETH = 10**18
ROOT = Path(__file__).resolve().parents[2]


def scan_process(config: Path, *args: str, fault: str | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, "COLUMNS": "200"}
    env.pop(FAULT_ENV, None)
    if fault:
        env[FAULT_ENV] = fault
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ctripctl",
            "scan",
            "--chain",
            "local",
            "--json",
            "--config",
            str(config),
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err


def state(url: str) -> tuple[int | None, int, int]:
    """(checkpoint, transfers, webhook events) as stored."""
    with transaction(get_engine(url)) as session:
        cp = session.get(ChainState, "local")
        transfers = session.execute(select(func.count()).select_from(Transfer)).scalar_one()
        events = session.execute(select(func.count()).select_from(WebhookEvent)).scalar_one()
        return (None if cp is None else cp.last_block), transfers, events


def pay_two(cli: Cli, chain: Chain, token: Any) -> list[dict[str, Any]]:
    native = cli.ok("payment", "create", "--chain", "local", "--amount", "1")
    usdt = cli.ok("payment", "create", "--chain", "local", "--amount", "5", "--token", "USDT")
    chain.send_eth(native["address"], ETH)
    chain.send_token(token, usdt["address"], 5 * 10**6)
    return [native, usdt]


def use_urls(config: Path, urls: list[str], chain_id: int | None = None) -> None:
    """Point the test's config at other RPC URLs (and a short timeout)."""
    lines = []
    for line in config.read_text().splitlines():
        if line.startswith("rpc_urls"):
            line = "rpc_urls = [" + ", ".join(f'"{u}"' for u in urls) + "]"
        elif line.startswith("rpc_timeout"):
            line = 'rpc_timeout = "1s"'
        elif line.startswith("chain_id") and chain_id is not None:
            line = f"chain_id = {chain_id}"
        lines.append(line)
    config.write_text("\n".join(lines) + "\n")


def test_crash_before_commit_then_after(
    cli: Cli, chain: Chain, token: Any, config_file: Path, database_url: str
) -> None:
    payments = pay_two(cli, chain, token)
    code, out, err = finish(scan_process(config_file, fault="crash-before-commit"))
    assert code == FAULT_EXIT_CODE, err
    assert out == ""
    assert state(database_url) == (None, 0, 2)  # nothing of the pass was kept

    code, out, err = finish(scan_process(config_file))
    assert code == 0, err
    assert json.loads(out)["transfers_found"] == 2
    assert state(database_url) == (chain.head, 2, 4)

    chain.send_eth(payments[0]["address"], ETH)  # pay again, then die right after the commit
    head = chain.head
    code, _, err = finish(scan_process(config_file, fault="crash-after-commit"))
    assert code == FAULT_EXIT_CODE, err
    assert state(database_url) == (head, 3, 5)  # committed: checkpoint moved with the credit
    code, out, err = finish(scan_process(config_file))
    assert code == 0, err
    redo = json.loads(out)
    assert redo["blocks_scanned"] == 0 and redo["transfers_found"] == 0
    assert state(database_url) == (head, 3, 5)
    shown = cli.ok("payment", "show", payments[0]["id"])
    assert shown["received_base"] == str(2 * ETH) and shown["overpaid"] is True


def test_overlapping_passes_exactly_one_works(
    cli: Cli, chain: Chain, token: Any, anvil: Anvil, config_file: Path, database_url: str
) -> None:
    pay_two(cli, chain, token)
    proxy = RpcProxy(anvil.url, mode="gate")  # holds the winner inside its pass
    try:
        use_urls(config_file, [proxy.url])
        passes = [scan_process(config_file) for _ in range(3)]
        assert proxy.arrived.wait(30), "no pass reached the node"
        # The two losers exit at once, while the winner is still held at the node.
        deadline = time.monotonic() + 30
        while sum(p.poll() is not None for p in passes) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        losers = [p for p in passes if p.poll() is not None]
        assert len(losers) == 2, "the overlapping passes did not exit at once"
        for loser in losers:
            code, out, err = finish(loser)
            assert code == 6, err
            assert out == ""
            assert "another scan pass of chain 'local' is running" in err
        assert state(database_url) == (None, 0, 2)  # the held winner has written nothing yet
        proxy.release()
        [winner] = [p for p in passes if p not in losers]
        code, out, err = finish(winner)
        assert code == 0, err
        assert json.loads(out)["transfers_found"] == 2
        assert state(database_url) == (chain.head, 2, 4)
    finally:
        proxy.stop()
    # The lock was released: the next pass runs.
    use_urls(config_file, [anvil.url])
    assert cli.ok("scan", "--chain", "local")["blocks_scanned"] == 0


@pytest.mark.parametrize("mode", ["error", "hang", "close"])
def test_failing_node_fails_over_to_the_next_url(
    mode: str, cli: Cli, chain: Chain, token: Any, anvil: Anvil, config_file: Path, database_url: str
) -> None:
    payments = pay_two(cli, chain, token)
    proxy = RpcProxy(anvil.url, mode=mode)
    try:
        use_urls(config_file, [proxy.url, anvil.url])
        result = cli.ok("scan", "--chain", "local")
        assert proxy.requests >= 1  # it was tried first
        assert result["transfers_found"] == 2
        for p in payments:
            assert cli.ok("payment", "show", p["id"])["status"] == "detected"
    finally:
        proxy.stop()


def test_all_nodes_failing_leaves_the_checkpoint_untouched(
    cli: Cli, chain: Chain, token: Any, anvil: Anvil, config_file: Path, database_url: str
) -> None:
    pay_two(cli, chain, token)
    cli.ok("scan", "--chain", "local")
    before = state(database_url)
    pay_two(cli, chain, token)
    bad = RpcProxy(anvil.url, mode="error")
    closing = RpcProxy(anvil.url, mode="close")
    try:
        use_urls(config_file, [bad.url, closing.url])
        run = cli("scan", "--chain", "local", "--json")
        assert run.exit_code == 5, run
        assert run.stdout == ""
        assert "no usable RPC URL" in run.stderr and "HTTP 500" in run.stderr
        assert state(database_url) == (before[0], before[1], before[2] + 2)  # only the 2 new `created`
    finally:
        bad.stop()
        closing.stop()
    use_urls(config_file, [anvil.url])
    assert cli.ok("scan", "--chain", "local")["transfers_found"] == 2


def test_wrong_chain_id_is_refused(
    cli: Cli, chain: Chain, anvil: Anvil, config_file: Path, database_url: str
) -> None:
    p = cli.ok("payment", "create", "--chain", "local", "--amount", "1")
    chain.send_eth(p["address"], ETH)
    use_urls(config_file, [anvil.url], chain_id=1)
    run = cli("scan", "--chain", "local")
    assert run.exit_code == 5, run
    assert "node is on chain id 31337, config says 1" in run.stderr
    assert state(database_url) == (None, 0, 1)


@pytest.mark.parametrize("with_engine", [False, True], ids=["url", "engine"])
def test_scan_lock_is_per_chain_and_released(database_url: str, with_engine: bool) -> None:
    """Both ways to the lock: a plain URL (on SQLite: the file, no engine made) and an engine."""
    from ctripctl.db.locks import scan_lock
    from ctripctl.db.session import Database
    from ctripctl.errors import Busy

    def database() -> Database:
        return Database(database_url, get_engine(database_url) if with_engine else None)

    with scan_lock(database(), "eth"):
        with scan_lock(database(), "polygon"):  # another chain: runs in parallel
            pass
        with pytest.raises(Busy, match="another scan pass of chain 'eth'"), scan_lock(database(), "eth"):
            pass
    with scan_lock(database(), "eth"):  # released on exit
        pass


def test_node_dying_mid_pass_is_redone_on_one_node(
    cli: Cli, chain: Chain, token: Any, anvil: Anvil, config_file: Path, database_url: str
) -> None:
    """The first URL answers the head and a few block batches, then fails: the pass must not
    mix answers of two nodes (a lagging second node could miss the last blocks' logs), so it
    is redone on the second URL — and every credit is still counted exactly once."""
    chain.mine(120)
    payments = pay_two(cli, chain, token)  # paid in the last blocks of the range
    chain.mine(40)
    proxy = RpcProxy(anvil.url, fail_after=3)  # chain id, head, one batch; then HTTP 500
    try:
        use_urls(config_file, [proxy.url, anvil.url])
        run = cli("scan", "--chain", "local", "--json")
    finally:
        proxy.stop()
    assert run.exit_code == 0, run
    assert "redoing the pass" in run.stderr
    result = run.json()
    assert proxy.requests > 3
    assert result["blocks_scanned"] == chain.head + 1 and result["transfers_found"] == 2
    assert state(database_url)[1] == 2
    for p in payments:
        assert cli.ok("payment", "show", p["id"])["status"] == "detected"
