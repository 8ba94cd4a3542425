"""The README's Quick start runs as written and reaches `confirmed`.

The commands are read from the ```sh block under "## Quick start" and run one by one
through /bin/sh, as a person pastes them, in a fresh directory laid out like a clone
(`tools/` and `scripts/` are this checkout's). Only what cannot be repeated on a test
machine is changed: `pip install .` and `make tools` are what this environment already did
(this virtualenv is first on PATH; anvil is in tools/), and the node gets a free port
instead of 8545 (anvil's `--port`, `init --rpc-url`). A line ending in `&` is started in
the background, and the next line waits until the node answers, as a person would.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.anvil import ANVIL, free_port

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
VENV_BIN = Path(sys.executable).parent
ALREADY_DONE = ("pip install", "make tools")  # this environment's own set-up did these


def quick_start_commands(text: str) -> list[str]:
    """The command lines of the README's Quick start block (comments kept: sh drops them)."""
    section = text.split("## Quick start", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None, "no ```sh block under ## Quick start"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def test_the_block_is_the_quick_start_we_test() -> None:
    commands = quick_start_commands(README.read_text())
    words = [c.split("#")[0].strip() for c in commands]
    assert words[0].startswith("pip install") and "make tools" in words
    assert any(
        w.startswith("tools/node_modules/.bin/anvil") and "--block-time" in w and w.endswith("&")
        for w in words
    )
    assert any("scripts/pay.py" in w for w in words)
    assert all("--chain" not in w for w in words)  # one chain configured: --chain may be left out


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A directory that looks like a fresh clone to the Quick start's relative paths."""
    if not ANVIL.exists():
        pytest.fail(f"anvil not found at {ANVIL}; run `make tools`")
    work = tmp_path / "clone"
    work.mkdir()
    (work / "tools").symlink_to(ANVIL.parents[2])
    (work / "scripts").symlink_to(ROOT / "scripts")
    return work


def wait_for_node(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
            return
        except httpx.TransportError:
            assert process.poll() is None and time.monotonic() < deadline, "the node did not start"
            time.sleep(0.05)


def test_quick_start_reaches_confirmed(clone: Path) -> None:
    port = free_port()
    node = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTRIP_")}
    env["PATH"] = f"{VENV_BIN}:{env['PATH']}"
    background: list[subprocess.Popen[bytes]] = []
    outputs: dict[str, subprocess.CompletedProcess[str]] = {}
    try:
        for line in quick_start_commands(README.read_text()):
            command = line.split("#")[0].strip()
            if command.startswith(ALREADY_DONE):
                continue
            if command.startswith("ctripctl init"):
                line = line.replace("ctripctl init", f"ctripctl init --rpc-url {node}", 1)
            if command.endswith("&"):
                assert command.startswith("tools/node_modules/.bin/anvil"), command
                started = command.removesuffix("&").replace("anvil", f"anvil --port {port}", 1)
                process = subprocess.Popen(["/bin/sh", "-c", f"exec {started}"], cwd=clone, env=env)
                background.append(process)
                wait_for_node(node, process)
                continue
            done = subprocess.run(
                ["/bin/sh", "-c", line], cwd=clone, env=env, capture_output=True, text=True, timeout=120
            )
            assert done.returncode == 0, (line, done.stdout, done.stderr)
            outputs[command] = done
    finally:
        for process in background:
            process.terminate()
            process.wait(timeout=10)

    paid = next(o for c, o in outputs.items() if "scripts/pay.py" in c)
    assert paid.stdout.startswith("paid pay_"), paid.stdout
    listed = outputs["ctripctl payment list"].stdout
    assert "ORDER-1" in listed and "confirmed" in listed, listed
    # The database says so too: one payment, confirmed, its one credit confirmed.
    with sqlite3.connect(clone / "ctrip.db") as db:
        assert db.execute("SELECT reference, status FROM payments").fetchall() == [("ORDER-1", "confirmed")]
        assert db.execute("SELECT state FROM transfers").fetchall() == [("confirmed",)]
        events = [t for (t,) in db.execute("SELECT type FROM webhook_events ORDER BY seq")]
    assert events == ["payment.created", "payment.detected", "payment.confirmed"]
    created = json.loads(
        subprocess.run(
            ["ctripctl", "payment", "list", "--json"],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert created[0]["payment_uri"].startswith(f"ethereum:{created[0]['address']}@31337?value=")
