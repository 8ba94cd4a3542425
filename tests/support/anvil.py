"""A real anvil node on a free loopback port, started and stopped by the tests."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
ANVIL = Path(os.environ.get("CTRIP_ANVIL", ROOT / "tools" / "node_modules" / ".bin" / "anvil"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Anvil:
    """One anvil process. `rpc()` speaks raw JSON-RPC (for anvil_* and evm_* methods)."""

    def __init__(self, *args: str, chain_id: int = 31337) -> None:
        if not ANVIL.exists():
            raise RuntimeError(f"anvil not found at {ANVIL}; run `make tools` (scripts/setup-tools.sh)")
        self.port = free_port()
        self.chain_id = chain_id
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [str(ANVIL), "--port", str(self.port), "--chain-id", str(chain_id), "--silent", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._client = httpx.Client(timeout=10)
        deadline = time.monotonic() + 20
        while True:
            try:
                self.rpc("eth_chainId")
                break
            except httpx.TransportError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("anvil did not start") from None
                time.sleep(0.01)

    def rpc(self, method: str, *params: Any) -> Any:
        response = self._client.post(
            self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        )
        body = response.json()
        if "error" in body:
            raise RuntimeError(f"{method}: {body['error']}")
        return body["result"]

    def stop(self) -> None:
        self._client.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
