"""A chain set up for sweeping: a treasury, the test mnemonic in a 0600 file, paid and
confirmed payments, and read-backs of balances and sweep rows."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ctripctl.db.models import Sweep
from ctripctl.db.session import get_engine, transaction
from ctripctl.evm.keys import tank_address
from ctripctl.faults import FAULT_ENV
from tests.support.cli import Cli
from tests.support.config import TEST_XPUB, write_config
from tests.support.evm import TEST_MNEMONIC, Chain

ROOT = Path(__file__).resolve().parents[2]
#: An address nobody holds a key of: anvil's accounts never touch it.
TREASURY = "0x000000000000000000000000000000000000dEaD"
TANK = tank_address(TEST_XPUB)
ETH = 10**18
USDT = 10**6


def mnemonic_file(directory: Path, mode: int = 0o600, words: str = TEST_MNEMONIC) -> Path:
    path = directory / "wallet.mnemonic"
    path.write_text(words + "\n")
    path.chmod(mode)
    return path


def sweep_config(
    directory: Path,
    *,
    database_url: str,
    rpc_url: str,
    token_address: str | None = None,
    chain_extra: str = "",
    treasury: str | None = TREASURY,
) -> Path:
    keys = f'treasury = "{treasury}"\n' if treasury else ""
    return write_config(
        directory / "ctrip.toml",
        database_url=database_url,
        rpc_urls=[rpc_url],
        token_address=token_address,
        chain_extra=keys + chain_extra,
    )


def strategy_config(
    tmp_path: Path, database_url: str, rpc_url: str, token: Any, strategy: str, extra: str = ""
) -> Path:
    """sweep_config with a token and `sweep_strategy` set (topup, eip7702 or auto), plus
    `extra` chain settings."""
    return sweep_config(
        tmp_path,
        database_url=database_url,
        rpc_url=rpc_url,
        token_address=token.address,
        chain_extra=f'sweep_strategy = "{strategy}"\n{extra}',
    )


def scan_and_confirm(cli: Cli, chain: Chain) -> None:
    """Three blocks on, then a scan and a confirm pass: what is paid becomes confirmed."""
    chain.mine(3)
    cli.ok("scan", "--chain", "local")
    cli.ok("confirm", "--chain", "local")


def paid_and_confirmed(cli: Cli, chain: Chain, amount: str, token: Any = None) -> dict[str, Any]:
    """Create a payment, pay it in full, and let scan + confirm confirm it."""
    args = ["payment", "create", "--chain", "local", "--amount", amount]
    if token is not None:
        args += ["--token", "USDT"]
    payment = cli.ok(*args)
    if token is None:
        chain.send_eth(payment["address"], int(payment["amount_base"]))
    else:
        chain.send_token(token, payment["address"], int(payment["amount_base"]))
    chain.mine(3)
    cli.ok("scan", "--chain", "local")
    cli.ok("confirm", "--chain", "local")
    shown = cli.ok("payment", "show", payment["id"])
    assert shown["status"] == "confirmed", shown
    return shown


def eth_of(chain: Chain, address: str) -> int:
    return chain.w3.eth.get_balance(chain.w3.to_checksum_address(address))


def tokens_of(token: Any, address: str) -> int:
    return token.functions.balanceOf(token.w3.to_checksum_address(address)).call()


def nonce_of(chain: Chain, address: str) -> int:
    return chain.w3.eth.get_transaction_count(chain.w3.to_checksum_address(address))


def sweep(cli: Cli, *extra: str) -> dict[str, Any]:
    """`sweep run --chain local`, then wait until anvil has mined what it sent: automine
    answers eth_sendRawTransaction before the block exists, and under load a test reading
    the chain right after the pass could see the state before it."""
    result = cli.ok("sweep", "run", "--chain", "local", *extra)
    sent = {s["tx_hash"] for s in result.get("sweeps", []) if s.get("status") == "sent" and s.get("tx_hash")}
    if sent:
        import tomllib

        import httpx

        url = tomllib.loads(cli.config.read_text())["chains"]["local"]["rpc_urls"][0]
        deadline = time.monotonic() + 30
        with httpx.Client(timeout=10) as client:
            automine = {"jsonrpc": "2.0", "id": 1, "method": "anvil_getAutomine", "params": []}
            if client.post(url, json=automine).json().get("result") is not True:
                return result  # blocks are mined by the test itself
            for tx_hash in sorted(sent):
                while True:
                    body = {
                        "jsonrpc": "2.0",
                        "id": 1,
                        "method": "eth_getTransactionReceipt",
                        "params": [tx_hash],
                    }
                    if client.post(url, json=body).json().get("result") is not None:
                        break
                    assert time.monotonic() < deadline, f"{tx_hash} not mined"
                    time.sleep(0.01)
    return result


def sweep_rows(url: str) -> list[Sweep]:
    with transaction(get_engine(url)) as session:
        return list(session.execute(select(Sweep).order_by(Sweep.seq)).scalars())


def sweep_process(config: Path, mnemonic: Path, *args: str, fault: str | None = None) -> tuple[int, str, str]:
    """`python -m ctripctl sweep run` in a real process (a fault kills it like kill -9)."""
    env = {**os.environ, "CTRIP_MNEMONIC_FILE": str(mnemonic)}
    env.pop(FAULT_ENV, None)
    if fault:
        env[FAULT_ENV] = fault
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ctripctl",
            "sweep",
            "run",
            "--chain",
            "local",
            "--config",
            str(config),
            *args,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout, done.stderr
