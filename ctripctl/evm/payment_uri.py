"""EIP-681 payment request URIs: what a wallet scans to pay a payment exactly.

    native:  ethereum:0xDEPOSIT@CHAINID?value=WEI
    token:   ethereum:0xTOKEN@CHAINID/transfer?address=0xDEPOSIT&uint256=BASE

The chain id is always present, so a wallet on another network refuses the request
instead of sending the money where nobody watches. Amounts are integers in base units
(EIP-681 also allows `2.014e18`-style numbers; plain digits are what every wallet reads).
Pure string building, no I/O.
"""

from __future__ import annotations

import re

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def payment_uri(*, chain_id: int, address: str, amount_base: int, token_address: str | None = None) -> str:
    """The EIP-681 URI paying `amount_base` to `address`: native coin, or the token at `token_address`."""
    if chain_id < 1:
        raise ValueError(f"chain id must be positive, got {chain_id}")
    if amount_base < 0:
        raise ValueError(f"amount must not be negative, got {amount_base}")
    for value in (address, token_address):
        if value is not None and not _ADDRESS.fullmatch(value):
            raise ValueError(f"not a 0x-prefixed 20-byte address: {value!r}")
    if token_address is None:
        return f"ethereum:{address}@{chain_id}?value={amount_base}"
    return f"ethereum:{token_address}@{chain_id}/transfer?address={address}&uint256={amount_base}"
