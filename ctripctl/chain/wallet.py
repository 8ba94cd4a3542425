"""HD wallet: watch-only deposit addresses from the account xpub (BIP-44, m/44'/60'/0').

Payment i gets the address at m/44'/60'/0'/0/i. Only the xpub is needed to derive
addresses; the mnemonic (written by `init` to a 0600 file) is needed only to move funds.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ctripctl.errors import InputError

if TYPE_CHECKING:
    from bip_utils import Bip44


@lru_cache(maxsize=4)
def _account(xpub: str) -> Bip44:
    from bip_utils import Bip44, Bip44Coins, Bip44Levels

    try:
        account = Bip44.FromExtendedKey(xpub, Bip44Coins.ETHEREUM)
    except Exception as exc:  # bip-utils raises several unrelated types for bad keys
        raise InputError(f"wallet.xpub is not a valid extended public key: {exc}") from None
    if account.Level() is not Bip44Levels.ACCOUNT:
        raise InputError(
            "wallet.xpub must be the account-level key (m/44'/60'/0'), "
            f"got a {account.Level().name.lower()}-level key"
        )
    return account


def _external_chain(xpub: str) -> Any:
    from bip_utils import Bip44Changes

    return _account(xpub).Change(Bip44Changes.CHAIN_EXT)


def deposit_address(xpub: str, index: int) -> str:
    """The checksummed address of m/44'/60'/0'/0/index."""
    return _external_chain(xpub).AddressIndex(index).PublicKey().ToAddress()


def deposit_addresses(xpub: str, start: int, count: int) -> list[str]:
    """Addresses for indexes start..start+count-1 (bulk import derives many at once)."""
    chain = _external_chain(xpub)
    return [chain.AddressIndex(i).PublicKey().ToAddress() for i in range(start, start + count)]


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
