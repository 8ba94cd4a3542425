"""chain/fetch.fetch_range on real anvil: deposits in the wrong asset, both directions, are
kept uncounted when `other_assets` names the configured tokens, in both scan sources."""

from __future__ import annotations

from typing import Any

import pytest

from ctripctl.chain.fetch import fetch_range
from ctripctl.chain.rpc import RpcClient
from ctripctl.domain.records import Watch
from tests.support.evm import Chain

ETH_PAY, TOKEN_PAY = "0x" + "e1" * 20, "0x" + "70" * 20


@pytest.mark.parametrize("source", ["blocks", "receipts"])
def test_wrong_asset_deposits_both_ways(chain: Chain, token: Any, source: str) -> None:
    usdt = token.address.lower()
    watched = {ETH_PAY: Watch("p_eth", None), TOKEN_PAY: Watch("p_usdt", usdt)}
    start = chain.head + 1
    chain.send_eth(ETH_PAY, 10**17)  # right
    chain.send_token(token, TOKEN_PAY, 5 * 10**6)  # right
    chain.send_eth(TOKEN_PAY, 3 * 10**17)  # ETH to a token payment
    chain.send_token(token, ETH_PAY, 7 * 10**6)  # a token to an ETH payment
    end = chain.mine(1)
    with RpcClient([chain.anvil.url]) as rpc:
        before = fetch_range(rpc, start, end, watched, source=source)
        after = fetch_range(rpc, start, end, watched, source=source, other_assets=[usdt])
    assert sorted((c.payment_id, c.amount, c.counted) for c in before.credits) == [
        ("p_eth", 10**17, True),
        ("p_usdt", 5 * 10**6, True),
    ]
    assert sorted(
        (c.payment_id, c.token_address or "", c.amount, c.counted, c.via) for c in after.credits
    ) == [
        ("p_eth", "", 10**17, True, "transaction"),
        ("p_eth", usdt, 7 * 10**6, False, "log"),
        ("p_usdt", "", 3 * 10**17, False, "transaction"),
        ("p_usdt", usdt, 5 * 10**6, True, "log"),
    ]
    assert all(c.tx_log_position is not None for c in after.credits)
