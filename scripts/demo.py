"""`make demo`: the whole job end to end on the embedded default (local anvil + SQLite).

Starts anvil on a free port and a webhook receiver on loopback, then runs the real CLI:
init → payment create → pay it from an anvil account → scan (detected) → mine the
confirmations → confirm (confirmed) → webhooks flush → the receiver verifies every
signature with the reference `standardwebhooks` library → sweep the deposit to a
treasury → at depth the payment is settled (payment.settled delivered too) → prints
what it got.
Everything lives in ./demo (recreated on each run).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "demo"
ANVIL = ROOT / "tools" / "node_modules" / ".bin" / "anvil"
CTRIPCTL = [sys.executable, "-m", "ctripctl"]
TREASURY = "0x000000000000000000000000000000000000dEaD"  # the merchant's main wallet, in a real setup


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Receiver(ThreadingHTTPServer):
    """A merchant endpoint: verifies each delivery's Standard Webhooks signature."""

    def __init__(self, secret: str) -> None:
        self.verifier = Webhook(secret)
        self.received: list[dict[str, Any]] = []
        super().__init__(("127.0.0.1", free_port()), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        try:
            payload = self.server.verifier.verify(body, dict(self.headers.items()))
            verified = True
        except Exception:
            payload, verified = json.loads(body), False
        self.server.received.append(
            {
                "id": self.headers["webhook-id"],
                "type": payload["type"],
                "verified": verified,
                "status": payload["data"]["status"],
            }
        )
        self.send_response(204 if verified else 401)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def step(title: str) -> None:
    # Bold only on a terminal: `make demo > demo.log` gets no escape codes.
    bold, plain = ("\033[1m", "\033[0m") if sys.stdout.isatty() and "NO_COLOR" not in os.environ else ("", "")
    print(f"\n{bold}== {title}{plain}", flush=True)


def ctripctl(*args: str) -> Any:
    """Run the real CLI; show the command; return its --json document."""
    shown = " ".join(["ctripctl", *args])
    print(f"$ {shown}", flush=True)
    done = subprocess.run(
        [*CTRIPCTL, *args, "--config", str(DEMO / "ctrip.toml"), "--json"],
        capture_output=True,
        text=True,
        cwd=DEMO,
        check=False,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"demo failed: `{shown}` exited {done.returncode}")
    return json.loads(done.stdout)


def rpc(url: str, method: str, *params: Any) -> Any:
    body = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).json()
    if "error" in body:
        raise SystemExit(f"{method}: {body['error']}")
    return body["result"]


def main() -> None:
    if not ANVIL.exists():
        raise SystemExit("anvil is missing: run `make tools` (make demo does it for you)")
    shutil.rmtree(DEMO, ignore_errors=True)
    DEMO.mkdir()
    port = free_port()
    node = f"http://127.0.0.1:{port}"
    anvil = subprocess.Popen(
        [str(ANVIL), "--port", str(port), "--silent"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                rpc(node, "eth_chainId")
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise SystemExit("anvil did not start") from None
                time.sleep(0.05)
        run(node)
    finally:
        anvil.terminate()
        anvil.wait()


def run(node: str) -> None:
    step(f"Set up: a fresh config, wallet and SQLite database in {DEMO.relative_to(ROOT)}/ (anvil at {node})")
    setup = ctripctl("init", "--rpc-url", node, "--confirmations", "2")
    print(f"  config {setup['config']}, database at revision {setup['revision']}")
    secret = (DEMO / "ctrip.whsec").read_text().strip()
    receiver = Receiver(secret)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{receiver.server_address[1]}/hooks/ctrip"

    step("A customer orders: create a payment of 0.05 ETH")
    payment = ctripctl(
        "payment",
        "create",
        "--chain",
        "local",
        "--amount",
        "0.05",
        "--reference",
        "DEMO-ORDER-1",
        "--webhook-url",
        hook,
        "--metadata",
        "customer=alice",
    )
    print(f"  {payment['id']}: pay {payment['amount']} ETH to {payment['address']} ({payment['status']})")

    step("The customer pays from an anvil account")
    payer = rpc(node, "eth_accounts")[1]
    tx = rpc(
        node,
        "eth_sendTransaction",
        {"from": payer, "to": payment["address"], "value": hex(int(payment["amount_base"]))},
    )
    print(f"  tx {tx}")

    step("Cron runs a scan pass: the credit is detected")
    scan = ctripctl("scan", "--chain", "local")
    print(f"  blocks {scan['from_block']}..{scan['to_block']}, {scan['transfers_found']} credit(s) found")
    print(f"  status: {ctripctl('payment', 'show', payment['id'])['status']}")

    step("Two more blocks are mined; cron runs a confirm pass")
    rpc(node, "anvil_mine", "0x2")
    confirm = ctripctl("confirm", "--chain", "local")
    print(f"  head {confirm['head']}, {confirm['confirmed']} transfer(s) confirmed")
    final = ctripctl("payment", "show", payment["id"])
    print(f"  status: {final['status']}, received {final['received']} ETH")

    step("Money out: the sweeping host moves the deposit to the treasury")
    config = DEMO / "ctrip.toml"
    text = config.read_text()
    config.write_text(text.replace("[chains.local]\n", f'[chains.local]\ntreasury = "{TREASURY}"\n', 1))
    sent = ctripctl("sweep", "run", "--chain", "local")
    [swept] = sent["sweeps"]
    print(f"  sweep {swept['id']}: {swept['amount_base']} wei to {TREASURY}, tx {swept['tx_hash']}")
    rpc(node, "anvil_mine", "0x2")
    settled = ctripctl("sweep", "run", "--chain", "local")
    final = ctripctl("payment", "show", payment["id"])
    print(f"  at depth: {settled['settled']} payment settled; status: {final['status']}")
    print(f"  treasury balance: {int(rpc(node, 'eth_getBalance', TREASURY, 'latest'), 16)} wei")

    step("Cron flushes the webhook outbox to the merchant")
    flush = ctripctl("webhooks", "flush")
    print(f"  attempted {flush['attempted']}, delivered {flush['delivered']}")
    for event in receiver.received:
        mark = "signature verified" if event["verified"] else "SIGNATURE INVALID"
        print(f"  received {event['type']:<24} {event['id']}  status={event['status']}  ({mark})")
    receiver.shutdown()

    types = [e["type"] for e in receiver.received]
    ok = (
        final["status"] == "settled"
        and all(e["verified"] for e in receiver.received)
        and {"payment.detected", "payment.confirmed", "payment.settled"} <= set(types)
    )
    step("Result")
    print(
        json.dumps(
            {
                "payment": final["id"],
                "status": final["status"],
                "received": final["received"],
                "swept_base": final["swept_base"],
                "webhooks": types,
            },
            indent=2,
        )
    )
    if not ok:
        raise SystemExit("demo did not reach a settled payment with verified webhooks")
    print("\nDemo complete: payment confirmed, swept to the treasury, settled; every webhook verified.")


if __name__ == "__main__":
    os.environ.pop("CTRIP_CONFIG", None)
    main()
