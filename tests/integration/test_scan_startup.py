"""How a cron-run scan process starts: on a SQLite file, blocks are requested first.

The pass takes its lock and reads its checkpoint without SQLAlchemy (db/checkpoint.py),
so its block requests reach the node before SQLAlchemy is imported; the import then
overlaps the node's work. Checked in a fresh interpreter (an in-process test has
SQLAlchemy loaded already), against a real anvil and a real SQLite file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.anvil import Anvil
from tests.support.cli import Cli
from tests.support.config import write_config
from tests.support.evm import Chain

ROOT = Path(__file__).resolve().parents[2]

#: Runs the real CLI, noting for every JSON-RPC request whether SQLAlchemy was loaded.
PROBE = """
import json, sys
import ctripctl.chain.rpc as rpc

sent = []
original = rpc.RpcClient._send

def send(self, index, calls):
    sent.append([calls[0][0], list(calls[0][1]), "sqlalchemy" in sys.modules])
    return original(self, index, calls)

rpc.RpcClient._send = send
from ctripctl.cli.app import app
try:
    app(sys.argv[1:])
finally:
    unused = {name: name in sys.modules for name in ("rich", "coincurve", "web3")}
    print(json.dumps({"sent": sent, "loaded": unused}), file=sys.stderr)
"""


def probe_scan(config: Path) -> tuple[int, dict[str, Any] | None, dict[str, Any]]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, "scan", "--chain", "local", "--json", "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "CTRIP_LOG_FORMAT": "text"},
        timeout=120,
    )
    probe = json.loads(out.stderr.strip().splitlines()[-1])
    return out.returncode, json.loads(out.stdout) if out.returncode == 0 else None, probe


def test_sqlite_pass_asks_for_blocks_before_importing_sqlalchemy(
    tmp_path: Path, sqlite_url: str, anvil: Anvil, chain: Chain, token: Any
) -> None:
    config = write_config(
        tmp_path / "ctrip.toml", database_url=sqlite_url, rpc_urls=[anvil.url], token_address=token.address
    )
    cli = Cli(config)
    native = cli.ok("payment", "create", "--chain", "local", "--amount", "1")
    usdt = cli.ok("payment", "create", "--chain", "local", "--amount", "5", "--token", "USDT")
    chain.send_eth(native["address"], 10**18)
    chain.send_token(token, usdt["address"], 5 * 10**6)

    code, result, probe = probe_scan(config)
    sent = probe["sent"]

    assert code == 0 and result is not None
    assert result["transfers_found"] == 2 and result["to_block"] == chain.head
    full_blocks = [on for method, params, on in sent if method == "eth_getBlockByNumber" and params[1]]
    assert full_blocks, sent
    assert full_blocks[0] is False, "SQLAlchemy was imported before the first block request"
    assert sent[-1][2] is True  # it was needed later (watched set, the write): the pass did both
    assert [cli.ok("payment", "show", p["id"])["status"] for p in (native, usdt)] == ["detected", "detected"]
    # A --json pass renders nothing with rich and derives no address: neither is imported.
    assert probe["loaded"] == {"rich": False, "coincurve": False, "web3": False}


def test_scan_of_a_missing_sqlite_file_creates_nothing(tmp_path: Path, anvil: Anvil) -> None:
    missing = tmp_path / "nowhere.db"
    config = write_config(tmp_path / "ctrip.toml", database_url=f"sqlite:///{missing}", rpc_urls=[anvil.url])
    run = Cli(config)("scan", "--chain", "local")
    assert run.exit_code == 5, run
    assert f"the database file {missing} does not exist" in run.stderr and "db upgrade" in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ctrip.toml"]  # no database, no lock file


def test_scan_of_an_unmigrated_sqlite_file_says_upgrade(tmp_path: Path, anvil: Anvil) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    config = write_config(tmp_path / "ctrip.toml", database_url=f"sqlite:///{empty}", rpc_urls=[anvil.url])
    run = Cli(config)("scan", "--chain", "local")
    assert run.exit_code == 5, run
    assert "has no ctripctl schema or an old one" in run.stderr and "run `ctripctl db upgrade`" in run.stderr


def test_a_path_written_with_a_double_slash_scans(tmp_path: Path, sqlite_url: str, anvil: Anvil) -> None:
    """sqlite://///tmp/x.db names //tmp/x.db, which POSIX reads as /tmp/x.db (as SQLAlchemy does)."""
    assert sqlite_url.startswith("sqlite:////")
    doubled = sqlite_url.replace("sqlite:////", "sqlite://///", 1)
    config = write_config(tmp_path / "ctrip.toml", database_url=doubled, rpc_urls=[anvil.url])
    first = Cli(config).ok("scan", "--chain", "local")
    again = Cli(config).ok("scan", "--chain", "local")
    assert first["checkpoint"] >= 0 and again["from_block"] is None  # the checkpoint was read back
