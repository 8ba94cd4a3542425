"""EIP-681 payment URIs: the exact strings wallets read, and what is refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctripctl.evm.payment_uri import payment_uri

DEPOSIT = "0xfDE6Af53d72605A1528717404C5FF6455e598a44"
USDT = "0xdAC17F958D2ee523a2206206994597C13D831ec7"


def test_native() -> None:
    uri = payment_uri(chain_id=1, address=DEPOSIT, amount_base=12_500_000_000_000_000_000)
    assert uri == f"ethereum:{DEPOSIT}@1?value=12500000000000000000"


def test_token_transfer() -> None:
    uri = payment_uri(chain_id=8453, address=DEPOSIT, amount_base=12_500_000, token_address=USDT)
    assert uri == f"ethereum:{USDT}@8453/transfer?address={DEPOSIT}&uint256=12500000"


@given(
    chain_id=st.integers(min_value=1, max_value=2**63),
    amount=st.integers(min_value=0, max_value=2**256 - 1),
    token=st.sampled_from([None, USDT]),
)
def test_amounts_are_plain_integers_and_the_chain_id_is_always_there(
    chain_id: int, amount: int, token: str | None
) -> None:
    uri = payment_uri(chain_id=chain_id, address=DEPOSIT, amount_base=amount, token_address=token)
    assert f"@{chain_id}" in uri
    assert uri.endswith(f"={amount}")
    assert "e" not in uri.rsplit("=", 1)[1]  # never 1.2e18: digits only


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"chain_id": 0}, "chain id must be positive"),
        ({"amount_base": -1}, "must not be negative"),
        ({"address": "0x1234"}, "not a 0x-prefixed 20-byte address"),
        ({"token_address": "USDT"}, "not a 0x-prefixed 20-byte address"),
    ],
)
def test_refuses_what_no_wallet_could_pay(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"chain_id": 1, "address": DEPOSIT, "amount_base": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        payment_uri(**args)  # type: ignore[arg-type]
