"""Write a ctrip.toml for one test: its database, its anvil, the test token, the test wallet."""

from __future__ import annotations

from pathlib import Path

from ctripctl.evm.wallet import account_xpub
from tests.support.evm import TEST_MNEMONIC

TEST_XPUB = account_xpub(TEST_MNEMONIC)
TEST_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def write_config(
    path: Path,
    *,
    database_url: str,
    rpc_urls: list[str],
    chain_id: int = 31337,
    token_address: str | None = None,
    token_decimals: int = 6,
    confirmations: int = 3,
    block_batch_size: int = 500,
    start_block: int = 0,
    extra: str = "",
    chain_extra: str = "",
    first_index: int | None = None,
) -> Path:
    """`first_index` set: the first payment asks no node (ops/address_reuse.py)."""
    urls = ", ".join(f'"{u}"' for u in rpc_urls)
    wallet = "" if first_index is None else f"first_index = {first_index}\n"
    text = f"""
database_url = "{database_url}"

[wallet]
xpub = "{TEST_XPUB}"
{wallet}
[webhooks]
secret = "{TEST_SECRET}"
allow_private_targets = true
{extra}

[chains.local]
chain_id = {chain_id}
rpc_urls = [{urls}]
confirmations = {confirmations}
block_batch_size = {block_batch_size}
start_block = {start_block}
rpc_timeout = "5s"
{chain_extra}
"""
    if token_address:
        text += f"""
[chains.local.tokens.USDT]
address = "{token_address}"
decimals = {token_decimals}
"""
    path.write_text(text)
    return path
