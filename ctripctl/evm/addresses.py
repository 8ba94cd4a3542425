"""EVM addresses: validation and EIP-55 checksums, without importing web3 (fast start-up)."""

from __future__ import annotations

import re
from collections.abc import Callable

from ctripctl.errors import InputError
from ctripctl.evm.keccak import keccak256

_HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def to_checksum(address: str, keccak: Callable[[bytes], bytes] = keccak256) -> str:
    """EIP-55 checksummed form of a 20-byte hex address (any case accepted)."""
    lower = address.lower().removeprefix("0x")
    digest = keccak(lower.encode()).hex()
    return "0x" + "".join(
        ch.upper() if ch.isalpha() and int(digest[i], 16) >= 8 else ch for i, ch in enumerate(lower)
    )


def parse_address(text: str, *, what: str = "address") -> str:
    """Validate an address; mixed case must carry a correct checksum. Returns checksummed."""
    if not _HEX_ADDRESS.fullmatch(text):
        raise InputError(f"{what} {text!r} is not a 0x-prefixed 40-hex-digit address")
    body = text[2:]
    checksummed = to_checksum(text)
    if body != body.lower() and body != body.upper() and checksummed != text:
        raise InputError(f"{what} {text!r} has a wrong EIP-55 checksum")
    return checksummed
