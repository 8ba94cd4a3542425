"""Pay a payment on a local dev node (anvil) the way a customer's wallet would.

Reads a payment — the JSON that `ctripctl payment create|show --json` prints — on stdin,
takes its EIP-681 `payment_uri` and sends exactly what it asks for from anvil's first dev
account (anvil's accounts are unlocked, so `eth_sendTransaction` needs no key), then waits
until the transaction is mined. The node is the payment's chain's first `rpc_urls` entry
in the config (`--config`, else $CTRIP_CONFIG, else ./ctrip.toml). Like a wallet, it
refuses a URI for another chain id than the node's. Standard library only: it needs
nothing beyond Python itself.

    ctripctl payment create --amount 0.1 --json | python3 scripts/pay.py

For development only: it pays with anvil's well-known test account.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

URI = re.compile(
    r"ethereum:(?P<target>0x[0-9a-fA-F]{40})@(?P<chain_id>[0-9]+)"
    r"(?:\?value=(?P<value>[0-9]+)|/transfer\?address=(?P<to>0x[0-9a-fA-F]{40})&uint256=(?P<amount>[0-9]+))"
)
TRANSFER = "0xa9059cbb"  # transfer(address,uint256)


def rpc(url: str, method: str, *params: Any) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
    request = urllib.request.Request(url, body, {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.load(response)
    if "error" in answer:
        raise SystemExit(f"pay: {method} failed: {answer['error'].get('message', answer['error'])}")
    return answer["result"]


def node_url(config: Path, chain: str) -> str:
    try:
        settings = tomllib.loads(config.read_text())
    except OSError as exc:
        raise SystemExit(f"pay: cannot read {config}: {exc.strerror}") from None
    try:
        return settings["chains"][chain]["rpc_urls"][0]
    except (KeyError, IndexError):
        raise SystemExit(f"pay: {config} has no rpc_urls for chain {chain!r}") from None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", type=Path, default=Path(os.environ.get("CTRIP_CONFIG", "ctrip.toml")))
    options = parser.parse_args()
    payment = json.load(sys.stdin)
    match = URI.fullmatch(payment.get("payment_uri") or "")
    if match is None:
        raise SystemExit(f"pay: not a payment URI this script can pay: {payment.get('payment_uri')!r}")
    url = node_url(options.config, payment["chain"])
    if int(rpc(url, "eth_chainId"), 16) != int(match["chain_id"]):
        raise SystemExit(f"pay: the node at {url} is not on chain id {match['chain_id']}; refusing")
    payer = rpc(url, "eth_accounts")[0]
    if match["value"] is not None:  # the native coin: value to the deposit address
        tx = {"from": payer, "to": match["target"], "value": hex(int(match["value"]))}
    else:  # a token: transfer(deposit, amount) on the token contract
        data = TRANSFER + match["to"][2:].lower().rjust(64, "0") + f"{int(match['amount']):064x}"
        tx = {"from": payer, "to": match["target"], "data": data}
    tx_hash = rpc(url, "eth_sendTransaction", tx)
    deadline = time.monotonic() + 60
    while (receipt := rpc(url, "eth_getTransactionReceipt", tx_hash)) is None:
        if time.monotonic() > deadline:
            raise SystemExit(f"pay: {tx_hash} was not mined within 60 s: is the node mining?")
        time.sleep(0.2)
    if int(receipt["status"], 16) != 1:
        raise SystemExit(f"pay: {tx_hash} reverted")
    print(f"paid {payment['id']}: tx {tx_hash} in block {int(receipt['blockNumber'], 16)}")


if __name__ == "__main__":
    main()
