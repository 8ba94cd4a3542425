"""HD wallet: watch-only deposit addresses from the account xpub (BIP-44, m/44'/60'/0').

Payment i gets the address at m/44'/60'/0'/0/i. Only the xpub is needed to derive
addresses; the mnemonic (written by `init` to a 0600 file) is needed only to move funds.

Two halves, on purpose:

- Watch-only derivation (`deposit_address(es)`, `parse_xpub`) is BIP-32 public child
  derivation written out here: base58check, HMAC-SHA512 and one secp256k1 point
  addition (coincurve, the libsecp256k1 binding bip-utils itself uses). It runs on every
  `payment create`, and `import bip_utils` alone costs ~140 ms (its package root imports
  every coin it supports) plus ~150 ms of coin set-up on first use — most of the
  start-up budget. The tests check this derivation against bip-utils and the BIP-44
  test vector.
- Everything that touches the mnemonic or private keys (`new_wallet`, `account_xpub`,
  `deposit_private_key`) uses bip-utils: rare (`init`, sweeps, tests), so its import
  cost does not matter there.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from ctripctl.errors import InputError
from ctripctl.evm.addresses import to_checksum
from ctripctl.evm.keccak import bulk_keccak256, keccak256

if TYPE_CHECKING:
    from bip_utils import Bip44

_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BASE58_INDEX = {ch: i for i, ch in enumerate(_BASE58)}
# BIP-32 version bytes of public extended keys: mainnet xpub and testnet tpub.
_PUBLIC_VERSIONS = {bytes.fromhex("0488b21e"): "xpub", bytes.fromhex("043587cf"): "tpub"}
_ACCOUNT_DEPTH = 3  # m / 44' / 60' / 0'
_HARDENED = 0x80000000
_CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_EXTERNAL_CHAIN = 0  # BIP-44 change level: 0 = receiving addresses
_BULK = 20  # above this many addresses, the C Keccak repays its ~40 ms import


@dataclass(frozen=True)
class PublicNode:
    """A BIP-32 public node: compressed secp256k1 key + chain code."""

    key: bytes  # 33 bytes, 0x02/0x03 prefix
    chain_code: bytes  # 32 bytes
    depth: int

    def child(self, index: int) -> PublicNode:
        """CKDpub: the non-hardened child `index` (BIP-32)."""
        from coincurve import PublicKey

        if not 0 <= index < _HARDENED:
            raise InputError(f"derivation index {index} is out of range (0..{_HARDENED - 1})")
        digest = hmac.new(self.chain_code, self.key + index.to_bytes(4, "big"), hashlib.sha512).digest()
        tweak, chain_code = digest[:32], digest[32:]
        if int.from_bytes(tweak, "big") >= _CURVE_ORDER:  # probability ~2^-127; BIP-32 says skip
            raise InputError(f"derivation index {index} is invalid for this key; skip it")
        key = PublicKey(self.key).add(tweak).format(compressed=True)
        return PublicNode(key, chain_code, self.depth + 1)

    def address(self, keccak: Callable[[bytes], bytes] = keccak256) -> str:
        """The EIP-55 checksummed Ethereum address of this node's key."""
        from coincurve import PublicKey

        uncompressed = PublicKey(self.key).format(compressed=False)
        return to_checksum("0x" + keccak(uncompressed[1:])[-20:].hex(), keccak)


def _base58check_decode(text: str) -> bytes:
    number = 0
    for ch in text:
        digit = _BASE58_INDEX.get(ch)
        if digit is None:
            raise ValueError(f"character {ch!r} is not base58")
        number = number * 58 + digit
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    raw = b"\x00" * (len(text) - len(text.lstrip("1"))) + raw
    payload, checksum = raw[:-4], raw[-4:]
    if hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] != checksum:
        raise ValueError("checksum mismatch")
    return payload


def check_xpub(xpub: str) -> bytes:
    """The 78-byte payload of an account-level extended public key (InputError if unusable).

    The checks that catch a wrong value in a config: a public (not private) key, a valid
    base58 checksum, and depth 3 — the account level m/44'/60'/0' — so payment i lands at
    m/44'/60'/0'/0/i like every BIP-44 wallet expects. Standard library only: config
    loading runs it for every command, including those that never derive an address.
    """
    if len(xpub) > 120:  # an xpub is 111 characters
        raise InputError(f"not a valid extended public key ({len(xpub)} characters)")
    try:
        payload = _base58check_decode(xpub)
    except ValueError as exc:
        raise InputError(f"not a valid extended public key ({exc})") from None
    if len(payload) != 78:
        raise InputError(f"not a valid extended public key ({len(payload)} bytes, not 78)")
    if payload[:4] not in _PUBLIC_VERSIONS:
        raise InputError("not an extended public key (xpub/tpub); never put a private key in the config")
    depth = payload[4]
    if depth != _ACCOUNT_DEPTH:
        raise InputError(f"must be the account-level key (m/44'/60'/0', depth 3), got depth {depth}")
    return payload


@lru_cache(maxsize=8)
def parse_xpub(xpub: str) -> PublicNode:
    """`check_xpub`, plus a valid secp256k1 point: the node addresses are derived from."""
    from coincurve import PublicKey

    payload = check_xpub(xpub)
    key = payload[45:]
    try:
        PublicKey(key)
    except ValueError:
        raise InputError(
            "the wallet xpub (wallet.xpub or CTRIP_XPUB) does not hold a valid secp256k1 public key"
        ) from None
    return PublicNode(key=key, chain_code=payload[13:45], depth=payload[4])


@lru_cache(maxsize=8)
def _receiving_chain(xpub: str) -> PublicNode:
    return parse_xpub(xpub).child(_EXTERNAL_CHAIN)


def deposit_address(xpub: str, index: int) -> str:
    """The checksummed address of m/44'/60'/0'/0/index."""
    return _receiving_chain(xpub).child(index).address()


def deposit_addresses(xpub: str, start: int, count: int) -> list[str]:
    """Addresses for indexes start..start+count-1 (bulk import derives many at once)."""
    chain = _receiving_chain(xpub)
    keccak = bulk_keccak256() if count > _BULK else keccak256
    return [chain.child(i).address(keccak) for i in range(start, start + count)]


def new_wallet() -> tuple[str, str]:
    """Generate a fresh 24-word mnemonic; return (mnemonic, account xpub)."""
    from bip_utils import Bip39MnemonicGenerator, Bip39WordsNum

    mnemonic = str(Bip39MnemonicGenerator().FromWordsNumber(Bip39WordsNum.WORDS_NUM_24))
    return mnemonic, account_xpub(mnemonic)


def _account_from_mnemonic(mnemonic: str) -> Bip44:
    from bip_utils import Bip39SeedGenerator, Bip44, Bip44Coins

    seed = Bip39SeedGenerator(mnemonic).Generate()
    return Bip44.FromSeed(seed, Bip44Coins.ETHEREUM).Purpose().Coin().Account(0)


def account_xpub(mnemonic: str) -> str:
    """The account-level xpub of a mnemonic (what goes into ctrip.toml)."""
    return _account_from_mnemonic(mnemonic).PublicKey().ToExtended()


def deposit_private_key(mnemonic: str, index: int) -> str:
    """The 0x-hex private key of deposit address `index` (for sweeping and tests)."""
    from bip_utils import Bip44Changes

    node = _account_from_mnemonic(mnemonic).Change(Bip44Changes.CHAIN_EXT).AddressIndex(index)
    return "0x" + node.PrivateKey().Raw().ToHex()
