"""Building and signing transactions: ERC-20 and SweepDelegate call data, EIP-1559 /
legacy / EIP-7702 (type-4) envelopes and the authorizations type 4 carries.

No I/O: the sweep pass hands in nonces and fees it read from the node and gets signed
bytes back, which it records before anything is broadcast. Signing is eth-account's
(`Account.sign_transaction`, imported on first use: ~0.7 s, so only sweeps pay it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from ctripctl.domain.sweeping import FeeQuote, FeeType
from ctripctl.evm.addresses import to_checksum
from ctripctl.evm.keccak import keccak256

#: keccak("transfer(address,uint256)")[:4] and keccak("balanceOf(address)")[:4].
TRANSFER_SELECTOR = "a9059cbb"
BALANCE_OF_SELECTOR = "70a08231"
#: keccak("sweepMany(address[],address[],uint256[])")[:4] (tests/unit/test_sweeping.py checks it).
SWEEP_MANY_SELECTOR = "d4c66742"
#: An authorization to this address clears a delegation (EIP-7702: code becomes empty).
NO_DELEGATE = "0x0000000000000000000000000000000000000000"
DELEGATE_ARTIFACT = Path(__file__).with_name("contracts") / "SweepDelegate.json"


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


def sweep_many_data(deposits: list[str], tokens: list[str], amounts: list[int]) -> str:
    """Call data of SweepDelegate `sweepMany(deposits, tokens, amounts)` (three dynamic arrays)."""
    if not len(deposits) == len(tokens) == len(amounts):
        raise ValueError("one token and one amount per deposit")
    arrays = [
        _word(len(deposits)) + "".join(_address_word(a) for a in deposits),
        _word(len(tokens)) + "".join(_address_word(t) for t in tokens),
        _word(len(amounts)) + "".join(_word(a) for a in amounts),
    ]
    offset, head = 3 * 32, ""
    for array in arrays:
        head += _word(offset)
        offset += len(array) // 2
    return "0x" + SWEEP_MANY_SELECTOR + head + "".join(arrays)


@cache
def delegate_bytecode() -> str:
    """The compiled SweepDelegate (scripts/build-contracts.sh builds it from its source)."""
    return json.loads(DELEGATE_ARTIFACT.read_text())["bytecode"]


def delegate_deploy_data(sponsor: str, treasury: str) -> str:
    """Init code of a SweepDelegate for `sponsor` and `treasury` (constructor arguments)."""
    return delegate_bytecode() + _address_word(sponsor) + _address_word(treasury)


def create_address(sender: str, nonce: int) -> str:
    """The address a contract created by `sender` at `nonce` gets: keccak(rlp([sender, nonce]))."""
    if nonce == 0:
        encoded_nonce = b"\x80"
    elif nonce < 0x80:
        encoded_nonce = bytes([nonce])
    else:
        raw = nonce.to_bytes((nonce.bit_length() + 7) // 8, "big")
        encoded_nonce = bytes([0x80 + len(raw)]) + raw
    payload = b"\x94" + bytes.fromhex(sender.lower().removeprefix("0x")) + encoded_nonce
    return to_checksum("0x" + keccak256(bytes([0xC0 + len(payload)]) + payload)[-20:].hex())


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
    authorizations: tuple[Authorization, ...] = field(default=())  # type 4 when given

    def fields(self) -> dict[str, Any]:
        tx: dict[str, Any] = {
            "chainId": self.chain_id,
            "nonce": self.nonce,
            "value": self.value,
            "gas": self.gas,
            "data": self.data,
        }
        if self.to:  # none: a contract creation (the SweepDelegate's deployment)
            tx["to"] = to_checksum(self.to)
        if self.authorizations:
            if self.fee.type is not FeeType.EIP1559:
                raise ValueError("a type-4 transaction needs EIP-1559 fees")
            tx["authorizationList"] = [a.signed for a in self.authorizations]
        if self.fee.type is FeeType.EIP1559:
            tx["type"] = 4 if self.authorizations else 2
            tx["maxFeePerGas"] = self.fee.max_fee_per_gas
            tx["maxPriorityFeePerGas"] = self.fee.max_priority_fee_per_gas
        else:
            tx["gasPrice"] = self.fee.gas_price
        return tx


@dataclass(frozen=True)
class Authorization:
    """An EIP-7702 authorization: `authority` lets its code be `delegate`'s, at `nonce`."""

    authority: str
    delegate: str
    nonce: int
    signed: Any  # eth_account's SignedSetCodeAuthorization, as sign_transaction takes it

    def to_rpc(self) -> dict[str, str]:
        """The JSON-RPC form (eth_estimateGas's authorizationList)."""
        s = self.signed
        return {
            "chainId": hex(s.chain_id),
            "address": self.delegate,
            "nonce": hex(s.nonce),
            "yParity": hex(s.y_parity),
            "r": hex(s.r),
            "s": hex(s.s),
        }


def authorize(chain_id: int, delegate: str, nonce: int, private_key: bytes, authority: str) -> Authorization:
    """Sign an authorization that delegates `authority`'s code to `delegate` (chain-bound)."""
    from eth_account import Account

    signed = Account.sign_authorization(
        {"chainId": chain_id, "address": delegate, "nonce": nonce}, private_key
    )
    return Authorization(authority, delegate, nonce, signed)


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
