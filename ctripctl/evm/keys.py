"""Signing keys for sweeps, derived from the mnemonic and checked against the xpub.

Deposit address i signs with m/44'/60'/0'/0/i; the gas tank is m/44'/60'/0'/1/0 (the
account's first "change" address), so the xpub alone tells where the tank is and the
operator can fund it from a host that never sees the mnemonic. Only `sweep run` builds a
Keyring; the mnemonic string lives in it and is never printed, logged or put in an error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ctripctl.errors import InputError
from ctripctl.evm.keccak import bulk_keccak256
from ctripctl.evm.wallet import parse_xpub

if TYPE_CHECKING:
    from bip_utils import Bip44

_TANK_CHAIN = 1  # BIP-44 change level 1
_TANK_INDEX = 0


def tank_address(xpub: str) -> str:
    """The checksummed gas-tank address m/44'/60'/0'/1/0, watch-only."""
    return parse_xpub(xpub).child(_TANK_CHAIN).child(_TANK_INDEX).address()


class Keyring:
    """Private keys of one wallet; refuses a mnemonic that is not the config's xpub's."""

    def __init__(self, mnemonic: str, xpub: str) -> None:
        from bip_utils import Bip39SeedGenerator, Bip44, Bip44Coins

        words = " ".join(mnemonic.split())
        from bip_utils import MnemonicChecksumError

        try:
            seed = Bip39SeedGenerator(words).Generate()
        except (ValueError, MnemonicChecksumError):  # the words are never quoted
            raise InputError(
                "the wallet mnemonic is not a valid BIP-39 phrase (a word or its checksum)"
            ) from None
        self._account: Bip44 = Bip44.FromSeed(seed, Bip44Coins.ETHEREUM).Purpose().Coin().Account(0)
        if self._account.PublicKey().ToExtended() != xpub:
            raise InputError(
                "the wallet mnemonic does not belong to the configured xpub (wallet.xpub / CTRIP_XPUB); "
                "nothing was signed"
            )
        self.xpub = xpub
        self._receiving = parse_xpub(xpub).child(0)
        self._keccak = bulk_keccak256()  # ~0.4 ms less per address than ours, over 1,000 keys

    def __repr__(self) -> str:  # never show key material, even in a traceback with locals
        return "Keyring(<redacted>)"

    def deposit_key(self, index: int, address: str) -> bytes:
        """The key of deposit address `index`, which must be `address` (the payment's)."""
        expected = self._receiving.child(index).address(self._keccak)
        if expected.lower() != address.lower():
            raise InputError(f"deposit address {address} is not index {index} of the configured xpub")
        return self._key(0, index, expected)

    def tank_key(self) -> bytes:
        return self._key(_TANK_CHAIN, _TANK_INDEX, tank_address(self.xpub))

    def _key(self, change: int, index: int, expected: str) -> bytes:
        from bip_utils import Bip44Changes

        level = Bip44Changes.CHAIN_EXT if change == 0 else Bip44Changes.CHAIN_INT
        node = self._account.Change(level).AddressIndex(index)
        if node.PublicKey().ToAddress().lower() != expected.lower():  # never sign for another address
            raise InputError(f"the key derived for {expected} does not match its address; nothing was signed")
        return node.PrivateKey().Raw().ToBytes()
