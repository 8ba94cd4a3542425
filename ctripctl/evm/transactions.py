"""Building and signing transactions: ERC-20 call data and EIP-1559 / legacy envelopes.

No I/O: the sweep pass hands in nonces and fees it read from the node and gets signed
bytes back, which it records before anything is broadcast. Signing is eth-account's
(`Account.sign_transaction`, imported on first use: ~0.7 s, so only sweeps pay it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ctripctl.domain.sweeping import FeeQuote, FeeType

#: keccak("transfer(address,uint256)")[:4] and keccak("balanceOf(address)")[:4].
TRANSFER_SELECTOR = "a9059cbb"
BALANCE_OF_SELECTOR = "70a08231"


def _word(value: int) -> str:
    if not 0 <= value < 2**256:
        raise ValueError(f"{value} does not fit a uint256")
    return f"{value:064x}"


def _address_word(address: str) -> str:
    body = address.lower().removeprefix("0x")
    if len(body) != 40:
        raise ValueError(f"{address!r} is not a 20-byte address")
    return body.rjust(64, "0")


def transfer_data(to: str, amount: int) -> str:
    """Call data of ERC-20 `transfer(to, amount)`."""
    return "0x" + TRANSFER_SELECTOR + _address_word(to) + _word(amount)


def balance_of_data(owner: str) -> str:
    """Call data of ERC-20 `balanceOf(owner)`."""
    return "0x" + BALANCE_OF_SELECTOR + _address_word(owner)


def decode_uint(result: str | None) -> int:
    """An eth_call / eth_getBalance answer as an int ("0x" alone, or None, is an error)."""
    if not isinstance(result, str) or not result.startswith("0x") or len(result) < 3:
        raise ValueError(f"not a quantity: {result!r}")
    return int(result[:66] if len(result) > 66 else result, 16)


@dataclass(frozen=True)
class Unsigned:
    """One transaction to sign; `to` is the checksummed recipient (treasury, token or deposit)."""

    chain_id: int
    nonce: int
    to: str
    value: int
    gas: int
    fee: FeeQuote
    data: str = "0x"

    def fields(self) -> dict[str, Any]:
        tx: dict[str, Any] = {
            "chainId": self.chain_id,
            "nonce": self.nonce,
            "to": self.to,
            "value": self.value,
            "gas": self.gas,
            "data": self.data,
        }
        if self.fee.type is FeeType.EIP1559:
            tx["type"] = 2
            tx["maxFeePerGas"] = self.fee.max_fee_per_gas
            tx["maxPriorityFeePerGas"] = self.fee.max_priority_fee_per_gas
        else:
            tx["gasPrice"] = self.fee.gas_price
        return tx


@dataclass(frozen=True)
class Signed:
    raw: str  # 0x-hex, exactly what eth_sendRawTransaction gets (then and on every re-send)
    tx_hash: str  # 0x-hex, lowercase


def sign(tx: Unsigned, private_key: bytes) -> Signed:
    """Sign `tx` with `private_key` (evm/keys.Keyring checked the key's address already)."""
    from eth_account import Account

    if tx.value < 0:
        raise ValueError("a transaction value cannot be negative")
    signed = Account.sign_transaction(tx.fields(), private_key)
    return Signed(
        raw="0x" + signed.raw_transaction.hex().removeprefix("0x"),
        tx_hash="0x" + signed.hash.hex().removeprefix("0x").lower(),
    )
