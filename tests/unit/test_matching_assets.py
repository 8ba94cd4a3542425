"""evm/matching: deposits in another asset than the payment's are returned, not counted,
when asked (`other_assets`); without it matching is unchanged."""

from __future__ import annotations

from typing import Any

from ctripctl.domain.records import Watch
from ctripctl.evm.matching import TRANSFER_TOPIC, native_credits, token_credits

USDT, DAI, SPAM = ("0x" + c * 40 for c in "abc")
NATIVE_PAY, USDT_PAY, DAI_PAY = ("0x" + c * 40 for c in "123")
WATCHED = {NATIVE_PAY: Watch("p_eth", None), USDT_PAY: Watch("p_usdt", USDT), DAI_PAY: Watch("p_dai", DAI)}


def log(to: str, token: str, value: int = 5, index: int = 0) -> dict[str, Any]:
    return {
        "address": token,
        "topics": [TRANSFER_TOPIC, "0x" + "00" * 12 + "99" * 20, "0x" + "00" * 12 + to[2:]],
        "data": hex(value),
        "blockNumber": "0x7",
        "blockHash": "0x" + "77" * 32,
        "transactionHash": "0x" + f"{index:02x}" * 32,
        "logIndex": hex(index),
    }


def test_eth_to_a_token_payment_is_recorded_uncounted_when_asked() -> None:
    natives = [(NATIVE_PAY, 10, "0xt1", "0xs", 7, "0xb"), (USDT_PAY, 20, "0xt2", "0xs", 7, "0xb")]
    assert [(f.payment_id, f.counted, f.via) for f in native_credits(natives, WATCHED)] == [
        ("p_eth", True, "transaction")
    ]
    found = native_credits(natives, WATCHED, other_assets=True)
    assert [(f.payment_id, f.amount, f.counted, f.token_address) for f in found] == [
        ("p_eth", 10, True, None),
        ("p_usdt", 20, False, None),
    ]


def test_a_configured_token_to_another_assets_payment_is_recorded_uncounted() -> None:
    logs = [
        log(USDT_PAY, USDT, index=1),  # the payment's own asset
        log(NATIVE_PAY, USDT, index=2),  # a token to a native payment
        log(DAI_PAY, USDT, index=3),  # another configured token
        log(NATIVE_PAY, SPAM, index=4),  # a token nobody configured: noise
    ]
    assert [(f.payment_id, f.counted) for f in token_credits(logs, WATCHED)] == [("p_usdt", True)]
    found = token_credits(logs, WATCHED, other_assets={USDT, DAI})
    assert [(f.payment_id, f.token_address, f.counted, f.via) for f in found] == [
        ("p_usdt", USDT, True, "log"),
        ("p_eth", USDT, False, "log"),
        ("p_dai", USDT, False, "log"),
    ]


def test_arrivals_become_credits_with_their_own_identity() -> None:
    from ctripctl.domain.records import BALANCE_POSITION, INTERNAL_POSITION, NATIVE_POSITION, Arrival
    from ctripctl.evm.matching import arrival_credits, balance_tx_hash

    arrivals = [
        Arrival(NATIVE_PAY, 7, 5, "internal", "0xt1", 0, "0xc0"),
        Arrival(NATIVE_PAY, 7, 6, "internal", "0xt1", 2, "0xc0"),
        Arrival(NATIVE_PAY, 8, 9, "balance"),
        Arrival(USDT_PAY, 8, 4, "internal", "0xt2", 1, "0xc0"),  # ETH to a token payment
        Arrival(NATIVE_PAY, 99, 1, "balance"),  # a block not in the range read: dropped
    ]
    hashes = {7: "0x" + "07" * 32, 8: "0x" + "08" * 32}
    found = arrival_credits(arrivals, hashes, WATCHED)
    assert [(f.payment_id, f.tx_hash, f.tx_log_position, f.via, f.counted, f.amount) for f in found] == [
        ("p_eth", "0xt1", INTERNAL_POSITION, "internal", True, 5),
        ("p_eth", "0xt1", INTERNAL_POSITION - 2, "internal", True, 6),
        ("p_eth", balance_tx_hash(hashes[8], NATIVE_PAY), BALANCE_POSITION, "balance", True, 9),
        ("p_usdt", "0xt2", INTERNAL_POSITION - 1, "internal", False, 4),
    ]
    positions = {f.tx_log_position for f in found}
    assert NATIVE_POSITION not in positions and all(p < 0 for p in positions)
    # Another branch's block: another synthetic hash, never the same credit.
    assert balance_tx_hash("0x" + "09" * 32, NATIVE_PAY) != found[2].tx_hash
    assert len(found[2].tx_hash) == 66
