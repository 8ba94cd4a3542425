"""`ctripctl chain list` and `chain status C` against real anvil nodes and both databases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ctripctl.evm.addresses import to_checksum
from tests.support.anvil import Anvil, free_port
from tests.support.cli import Cli
from tests.support.config import write_config
from tests.support.evm import Chain

SECRET = "s3cr3t-rpc-password"


def with_urls(
    tmp_path: Path, database_url: str, urls: list[str], token: Any = None, chain_id: int = 31337
) -> Cli:
    path = write_config(
        tmp_path / "chains.toml",
        database_url=database_url,
        rpc_urls=urls,
        token_address=None if token is None else token.address,
        chain_id=chain_id,
    )
    return Cli(path)


def test_chain_list_masks_credentials(tmp_path: Path, database_url: str, anvil: Anvil, token: Any) -> None:
    authed = anvil.url.replace("http://", f"http://ops:{SECRET}@")
    cli = with_urls(tmp_path, database_url, [authed, anvil.url], token)
    [local] = cli.ok("chain", "list")
    assert local["chain"] == "local" and local["chain_id"] == 31337
    assert local["rpc_urls"] == [anvil.url, anvil.url]  # scheme, host and port only
    assert local["tokens"] == [{"symbol": "USDT", "address": to_checksum(token.address), "decimals": 6}]
    assert local["confirmations"] == 3 and local["native_symbol"] == "ETH"
    # the defaults in force: hashes kept = confirmations + margin, ETH from contracts found
    assert (local["reorg_window"], local["internal_transfers"], local["scan_source"]) == (
        3 + 64,
        "auto",
        "blocks",
    )
    assert (local["treasury"], local["sweep_strategy"]) == (None, "auto")
    screen = cli("chain", "list")
    assert screen.exit_code == 0, screen
    assert SECRET not in screen.stdout + screen.stderr
    assert "USDT" in screen.stdout and anvil.url in screen.stdout and "ops" not in screen.stdout


def test_chain_status_reports_each_url(tmp_path: Path, database_url: str, anvil: Anvil, chain: Chain) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    authed = anvil.url.replace("http://", f"http://ops:{SECRET}@")
    cli = with_urls(tmp_path, database_url, [authed, closed])
    chain.mine(7)
    before = cli.ok("chain", "status", "local")
    assert before["checkpoint"] is None and before["lag"] is None
    assert before["last_scan_at"] is None
    cli.ok("scan", "--chain", "local")
    chain.mine(4)
    report = cli.ok("chain", "status", "local")
    good, bad = report["nodes"]
    assert good == {**good, "chain_id": 31337, "head": chain.head, "ok": True, "error": None}
    assert isinstance(good["latency_ms"], int) and bad["latency_ms"] is None
    assert good["url"] == anvil.url
    assert bad["ok"] is False and bad["head"] is None and bad["error"]
    assert report["head"] == chain.head
    assert report["checkpoint"] == chain.head - 4
    assert report["lag"] == 4
    assert report["since_last_scan_s"] is not None
    screen = cli("chain", "status", "local")
    assert screen.exit_code == 0, screen
    assert SECRET not in screen.stdout + screen.stderr
    assert "lag: 4 blocks" in screen.stdout


def test_wrong_chain_id_is_unavailable_but_reported(tmp_path: Path, database_url: str, anvil: Anvil) -> None:
    cli = with_urls(tmp_path, database_url, [anvil.url], chain_id=1)
    run = cli("chain", "status", "local", "--json")
    assert run.exit_code == 5, run
    [node] = run.json()["nodes"]
    assert node["chain_id"] == 31337 and node["ok"] is False
    assert "config says 1" in node["error"]
    assert "Error: no RPC URL of chain 'local' answered: " in run.stderr
    assert node["latency_ms"] is not None  # it answered, with the wrong chain id


def test_unreachable_chain_exits_5(tmp_path: Path, database_url: str) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    cli = with_urls(tmp_path, database_url, [closed])
    run = cli("chain", "status", "local")
    assert run.exit_code == 5, run
    assert "Chain local" in run.stdout  # the table is still printed
    # One clean line: the URL once, the reason once, no "no usable RPC URL" echo, no class name.
    assert run.stderr.strip() == f"Error: no RPC URL of chain 'local' answered: {closed}: Connection refused"
    [row] = [line for line in run.stdout.splitlines() if closed in line]
    assert " ms" not in row  # a refused connection has no latency
    [node] = cli("chain", "status", "--json").json()["nodes"]  # no CHAIN: the only one configured
    assert node["latency_ms"] is None and node["error"] == "Connection refused"


def test_unknown_chain_is_bad_input(tmp_path: Path, database_url: str, anvil: Anvil) -> None:
    cli = with_urls(tmp_path, database_url, [anvil.url])
    run = cli("chain", "status", "nope")
    assert run.exit_code == 2, run
    assert "unknown chain 'nope'" in run.stderr and run.stdout == ""
