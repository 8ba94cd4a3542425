"""EIP-55 addresses and the pure-Python Keccak-256 behind them (checked against pycryptodome)."""

from __future__ import annotations

import pytest
from Crypto.Hash import keccak as reference_keccak
from hypothesis import given
from hypothesis import strategies as st

from ctripctl.errors import InputError
from ctripctl.evm.addresses import parse_address, to_checksum
from ctripctl.evm.keccak import keccak256

# The EIP-55 specification's own test vectors.
EIP55 = [
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    "0x52908400098527886E0F7030069857D2E4169EE7",
    "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
    "0xde709f2102306220921060314715629080e2fb77",
    "0x27b1fdb04752bbc536007a920d24acb045561c26",
]


def reference(data: bytes) -> bytes:
    return reference_keccak.new(digest_bits=256, data=data).digest()


def test_keccak_known_values() -> None:
    assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    # the ERC-20 Transfer event topic
    assert (
        keccak256(b"Transfer(address,address,uint256)").hex()
        == "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
    )


@pytest.mark.parametrize("size", [0, 1, 55, 64, 135, 136, 137, 271, 272, 273, 1000])
def test_keccak_block_boundaries(size: int) -> None:
    data = bytes(range(256)) * 4
    assert keccak256(data[:size]) == reference(data[:size])


@given(st.binary(max_size=600))
def test_keccak_matches_pycryptodome(data: bytes) -> None:
    assert keccak256(data) == reference(data)


@pytest.mark.parametrize("address", EIP55)
def test_eip55_vectors(address: str) -> None:
    assert to_checksum(address.lower()) == address
    assert to_checksum(address.upper().replace("0X", "0x")) == address
    assert parse_address(address) == address


def test_all_lower_or_upper_is_accepted_and_checksummed() -> None:
    address = EIP55[0]
    assert parse_address(address.lower()) == address
    assert parse_address("0x" + address[2:].upper()) == address


def test_wrong_checksum() -> None:
    address = EIP55[0]
    i = next(i for i, ch in enumerate(address) if i > 1 and ch.isalpha())
    wrong = address[:i] + address[i].swapcase() + address[i + 1 :]  # flip the case of one letter
    with pytest.raises(InputError, match="wrong EIP-55 checksum"):
        parse_address(wrong)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0x",
        "0x1234",
        EIP55[0][2:],
        "0X" + EIP55[0][2:],
        EIP55[0] + "0",
        EIP55[0][:-1] + "g",
        " " + EIP55[0],
    ],
)
def test_malformed(text: str) -> None:
    with pytest.raises(InputError, match="not a 0x-prefixed 40-hex-digit address"):
        parse_address(text, what="token address")


@given(st.binary(min_size=20, max_size=20))
def test_checksum_matches_web3(raw: bytes) -> None:
    from eth_utils import to_checksum_address

    assert to_checksum("0x" + raw.hex()) == to_checksum_address("0x" + raw.hex())
