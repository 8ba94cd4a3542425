"""The starter configuration `ctripctl init` writes: works on the first run, no editing."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ctripctl.errors import InputError, RuleError
from ctripctl.urls import mask_url

TEMPLATE = """\
# ctripctl configuration — written by `ctripctl init`.
# Every value can be overridden from the environment (CTRIP_DATABASE_URL, CTRIP_XPUB,
# CTRIP_WEBHOOK_SECRET, CTRIP_RPC_URLS_<CHAIN>). See README.md "Configuration".

database_url = "{database_url}"   # PostgreSQL: "postgresql+psycopg://user@host/db"

[payments]
default_expires_in = "60m"
late_window = "7d"

[wallet]
# Account-level xpub (m/44'/60'/0'): deposit addresses are derived watch-only from it.
xpub = "{xpub}"
# The mnemonic behind it (keep it secret, back it up; only needed to move funds).
mnemonic_file = "{mnemonic_file}"
# A new database starts at index 0 after checking the wallet's first 20 addresses were
# never used. An xpub that served payments before (another database) needs a start past
# every index it handed out:
# first_index = 1000

[webhooks]
secret_file = "{secret_file}"       # Standard Webhooks secret (whsec_...)
# default_url = "https://merchant.example/hooks/ctrip"
allow_private_targets = {allow_private}

[chains.{chain}]
chain_id = {chain_id}
rpc_urls = ["{rpc_url}"]
confirmations = {confirmations}
block_batch_size = 500
start_block = 0

# [chains.{chain}.tokens.USDT]
# address = "0x..."
# decimals = 6
"""


@dataclass(frozen=True)
class StarterFiles:
    config: Path
    mnemonic: Path
    secret: Path


def write_starter(
    config_path: Path,
    *,
    database_url: str = "sqlite:///ctrip.db",
    chain: str = "local",
    chain_id: int = 31337,
    rpc_url: str = "http://127.0.0.1:8545",
    confirmations: int = 2,
    allow_private_targets: bool = True,
) -> StarterFiles:
    """Write ctrip.toml plus 0600 mnemonic and webhook-secret files; refuse to overwrite."""
    from ctripctl.config import check_database_url
    from ctripctl.domain.signing import new_secret
    from ctripctl.evm.wallet import new_wallet

    base = config_path.parent
    mnemonic_path = base / (config_path.stem + ".mnemonic")
    secret_path = base / (config_path.stem + ".whsec")
    for path in (config_path, mnemonic_path, secret_path):
        if path.exists():
            raise RuleError(f"{path} already exists; refusing to overwrite it")
    if not chain.replace("_", "").replace("-", "").isalnum():
        raise InputError(f"chain name {chain!r} must be letters, digits, '-' or '_'")
    for name, value in (("rpc-url", rpc_url), ("database-url", database_url)):
        if any(ch in value for ch in '"\\\n\r'):  # the value goes into a TOML string
            raise InputError(f"{name} {mask_url(value)!r} must not contain quotes, backslashes or newlines")
    if not rpc_url.startswith(("http://", "https://")):
        raise InputError(f"rpc-url {mask_url(rpc_url)!r} must start with http:// or https://")
    check_database_url(database_url)
    base.mkdir(parents=True, exist_ok=True)
    mnemonic, xpub = new_wallet()
    _write_private(mnemonic_path, mnemonic + "\n")
    _write_private(secret_path, new_secret() + "\n")
    text = TEMPLATE.format(
        database_url=database_url,
        xpub=xpub,
        mnemonic_file=mnemonic_path.name,
        secret_file=secret_path.name,
        allow_private="true" if allow_private_targets else "false",
        chain=chain,
        chain_id=chain_id,
        rpc_url=rpc_url,
        confirmations=confirmations,
    )
    _write_private(config_path, text)
    return StarterFiles(config_path, mnemonic_path, secret_path)


def _write_private(path: Path, text: str) -> None:
    """Create a file readable by its owner only (O_EXCL: never clobber)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
