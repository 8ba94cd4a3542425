"""Watch-only BIP-44 derivation: the BIP-44 test vector, and agreement with bip-utils."""

from __future__ import annotations

import pytest
from bip_utils import Bip44, Bip44Changes, Bip44Coins
from hypothesis import given, settings
from hypothesis import strategies as st

from ctripctl.errors import InputError
from ctripctl.evm.wallet import (
    account_xpub,
    deposit_address,
    deposit_addresses,
    deposit_private_key,
    new_wallet,
    parse_xpub,
)

ABANDON = "abandon " * 11 + "about"
# m/44'/60'/0'/0/0 of the "abandon … about" mnemonic, as every Ethereum wallet derives it.
ABANDON_ADDRESS_0 = "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"
ABANDON_XPUB = account_xpub(ABANDON)


def oracle(xpub: str, index: int) -> str:
    """bip-utils' own derivation of m/44'/60'/0'/0/index from the account xpub."""
    account = Bip44.FromExtendedKey(xpub, Bip44Coins.ETHEREUM)
    return account.Change(Bip44Changes.CHAIN_EXT).AddressIndex(index).PublicKey().ToAddress()


def test_bip44_vector() -> None:
    assert deposit_address(ABANDON_XPUB, 0) == ABANDON_ADDRESS_0


def test_bip44_vector_from_the_seed_side() -> None:
    """The same address from the private side (bip-utils, mnemonic → key → address)."""
    from eth_account import Account

    assert Account.from_key(deposit_private_key(ABANDON, 0)).address == ABANDON_ADDRESS_0


@given(index=st.integers(min_value=0, max_value=2**31 - 1))
@settings(max_examples=25, deadline=None)
def test_matches_bip_utils_at_any_index(index: int) -> None:
    assert deposit_address(ABANDON_XPUB, index) == oracle(ABANDON_XPUB, index)


@pytest.mark.parametrize("count", [1, 3, 40])  # 40: the bulk path (C Keccak)
def test_bulk_equals_one_by_one(count: int) -> None:
    bulk = deposit_addresses(ABANDON_XPUB, 5, count)
    assert bulk == [deposit_address(ABANDON_XPUB, i) for i in range(5, 5 + count)]
    assert bulk[-1] == oracle(ABANDON_XPUB, 4 + count)
    assert len(set(bulk)) == count


def test_fresh_wallet() -> None:
    mnemonic, xpub = new_wallet()
    assert len(mnemonic.split()) == 24
    assert xpub.startswith("xpub")
    assert parse_xpub(xpub).depth == 3
    assert deposit_address(xpub, 7) == oracle(xpub, 7)
    assert new_wallet()[0] != mnemonic


def test_index_out_of_range() -> None:
    with pytest.raises(InputError, match="out of range"):
        deposit_address(ABANDON_XPUB, 2**31)
    with pytest.raises(InputError, match="out of range"):
        deposit_address(ABANDON_XPUB, -1)


@pytest.mark.parametrize(
    ("xpub", "message"),
    [
        ("", "not a valid extended public key"),
        ("xpub" + "0" * 107, "is not base58"),
        (ABANDON_XPUB[:-1] + ("A" if ABANDON_XPUB[-1] != "A" else "B"), "checksum mismatch"),
        (ABANDON_XPUB[:-4], "not a valid extended public key"),
        (ABANDON_XPUB * 2, "characters"),
        (
            # BIP-32 test vector 1, chain m: a private key and a depth-0 public key
            "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi",
            "not an extended public key",
        ),
        (
            "xpub661MyMwAqRbcFtXgS5sYJABqqG9YLmC4Q1Rdap9gSE8NqtwybGhePY2gZ29ESFjqJoCu1Rupje8YtGqsefD265TMg7usUDFdp6W1EGMcet8",
            r"depth 3\), got depth 0",
        ),
    ],
)
def test_bad_xpubs(xpub: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_xpub(xpub)


def _base58check(payload: bytes) -> str:
    import hashlib

    raw = payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    number, text = int.from_bytes(raw, "big"), ""
    while number:
        number, digit = divmod(number, 58)
        text = alphabet[digit] + text
    return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + text


def test_an_xpub_off_the_curve_passes_the_cheap_check_and_fails_derivation() -> None:
    """Config loading runs check_xpub (no coincurve); deriving an address checks the point."""
    from ctripctl.evm.wallet import _base58check_decode, check_xpub

    payload = _base58check_decode(ABANDON_XPUB)
    off_curve = _base58check(payload[:45] + b"\x02" + b"\xff" * 32)  # x >= the field prime
    assert check_xpub(off_curve)[45:] == b"\x02" + b"\xff" * 32
    with pytest.raises(InputError, match="does not hold a valid secp256k1 public key"):
        deposit_address(off_curve, 0)
