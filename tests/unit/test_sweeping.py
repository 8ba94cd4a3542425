"""Sweep decisions (domain/sweeping.py) and transaction building (evm/transactions.py):
pure, so every rule that guards money is tried over the whole input space."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.typed_transactions import TypedTransaction
from hexbytes import HexBytes
from hypothesis import given
from hypothesis import strategies as st

from ctripctl.domain import sweeping
from ctripctl.domain.sweeping import (
    LIVE,
    FeeQuote,
    FeeType,
    Receipt,
    SweepStatus,
    Verdict,
    eip1559_quote,
    judge,
    legacy_quote,
)
from ctripctl.evm.keys import Keyring, tank_address
from ctripctl.evm.transactions import Unsigned, balance_of_data, decode_uint, sign, transfer_data
from ctripctl.evm.wallet import deposit_address
from tests.support.config import TEST_XPUB
from tests.support.evm import TEST_MNEMONIC

wei = st.integers(min_value=0, max_value=10**30)
gas = st.integers(min_value=21_000, max_value=10_000_000)
per_gas = st.integers(min_value=1, max_value=10**13)
quotes = st.one_of(
    st.builds(eip1559_quote, per_gas, st.integers(min_value=0, max_value=10**11)),
    st.builds(legacy_quote, per_gas),
)
RECEIPT = Receipt(block_number=10, block_hash="0xab", success=True)


# -- fees --------------------------------------------------------------------------------------
def test_the_tip_is_the_median_of_the_blocks_that_paid_one() -> None:
    assert sweeping.percentile_tip([[3], [0], [1], [2]]) == 2  # the empty block is left out
    assert sweeping.percentile_tip([[0], [0]], fallback=7) == 7
    assert sweeping.percentile_tip([], fallback=5) == 5


def test_max_fee_is_twice_the_next_base_fee_plus_the_tip() -> None:
    quote = eip1559_quote(next_base_fee=30, tip=2)
    assert (quote.max_fee_per_gas, quote.max_priority_fee_per_gas, quote.max_per_gas) == (62, 2, 62)
    assert legacy_quote(9).max_per_gas == 9


@given(quotes, per_gas)
def test_the_cap_compares_the_most_a_gas_unit_can_cost(quote: FeeQuote, cap: int) -> None:
    assert sweeping.over_cap(quote, cap) is (quote.max_per_gas > cap)
    assert sweeping.over_cap(quote, None) is False


@given(st.integers(min_value=1, max_value=10**8))
def test_the_gas_margin_is_twenty_percent_rounded_up(estimate: int) -> None:
    limit = sweeping.with_margin(estimate)
    assert limit * 100 >= estimate * 120 > (limit - 1) * 100


# -- what is sent ------------------------------------------------------------------------------
@given(wei, wei, gas, quotes)
def test_a_native_sweep_never_spends_more_than_the_address_holds(
    latest: int, at_depth: int, limit: int, quote: FeeQuote
) -> None:
    value = sweeping.native_sweep_value(sweeping.spendable(latest, at_depth), limit, quote)
    if value > 0:
        assert value + limit * quote.max_per_gas <= latest  # value + the most gas can cost
        assert value <= at_depth  # and only money that is already deep


@given(wei, gas)
def test_a_legacy_native_sweep_leaves_exactly_zero(balance: int, gas_price_units: int) -> None:
    quote = legacy_quote(gas_price_units)
    value = sweeping.native_sweep_value(balance, sweeping.NATIVE_GAS, quote)
    if value > 0:  # the fee charged is exactly 21,000 × gas price
        assert balance - value - sweeping.NATIVE_GAS * gas_price_units == 0


@given(gas, quotes, wei)
def test_a_top_up_brings_the_address_to_exactly_the_gas_it_may_need(
    limit: int, quote: FeeQuote, held: int
) -> None:
    topup = sweeping.topup_value(limit, quote, held)
    needed = limit * quote.max_per_gas
    assert topup >= 0
    assert held + topup >= needed
    assert topup == 0 or held + topup == needed
    if held == 0:
        assert topup == needed


# -- verdicts ----------------------------------------------------------------------------------
statuses = st.sampled_from(list(SweepStatus))
receipts = st.one_of(st.none(), st.builds(Receipt, st.integers(0, 10**6), st.just("0xab"), st.booleans()))


@given(statuses, st.integers(0, 50), receipts, st.integers(0, 60), st.integers(0, 60), st.booleans())
def test_a_verdict_never_lets_a_transaction_that_may_still_be_mined_go(
    status: SweepStatus, nonce: int, receipt: Receipt | None, used: int, deep_count: int, deep: bool
) -> None:
    deep_count = min(deep_count, used)  # the count at depth never exceeds the latest one
    verdict = judge(
        status,
        nonce,
        receipt=receipt,
        nonce_used=used,
        nonce_deep=deep_count,
        deep_enough=deep and receipt is not None,
    )
    if status not in LIVE:
        assert verdict.status is status and not verdict.rebroadcast  # final stays final
        return
    if verdict.status is SweepStatus.DROPPED:
        assert receipt is None and deep_count > nonce  # only when its nonce is spent for good
    if verdict.status in (SweepStatus.CONFIRMED, SweepStatus.REVERTED):
        assert receipt is not None and deep
    if verdict.rebroadcast:
        assert receipt is None and used <= nonce and verdict.status in LIVE
    if receipt is None and used <= nonce:
        assert verdict.rebroadcast  # never left unsent, never replaced by a new transaction
    if receipt is None and deep_count <= nonce < used:
        assert verdict.status is status and not verdict.rebroadcast  # spent above depth: wait


def test_verdicts_follow_the_evidence() -> None:
    signed, sent, mined = SweepStatus.SIGNED, SweepStatus.SENT, SweepStatus.MINED

    def verdict(
        status: SweepStatus, nonce: int, receipt: Receipt | None, used: int, deep_count: int, deep: bool
    ):
        return judge(status, nonce, receipt=receipt, nonce_used=used, nonce_deep=deep_count, deep_enough=deep)

    assert verdict(signed, 0, None, 0, 0, False).rebroadcast
    assert verdict(signed, 0, None, 0, 0, False).status is signed
    assert verdict(sent, 3, None, 4, 4, False).status is SweepStatus.DROPPED
    assert verdict(sent, 3, None, 4, 3, False) == Verdict(sent)  # spent only above the depth: wait
    assert verdict(sent, 3, RECEIPT, 4, 3, False).status is mined
    assert verdict(mined, 3, RECEIPT, 4, 4, True).status is SweepStatus.CONFIRMED
    failed = Receipt(10, "0xab", success=False)
    assert verdict(mined, 3, failed, 4, 4, True).status is SweepStatus.REVERTED
    reorged = verdict(mined, 3, None, 3, 3, False)
    assert (reorged.status, reorged.rebroadcast, reorged.block_hash) == (sent, True, None)


@pytest.mark.parametrize(
    ("message", "known"),
    [("already known", True), ("Known transaction: 0xab", True), ("nonce too low", False), ("", False)],
)
def test_already_known_means_the_node_holds_it(message: str, known: bool) -> None:
    assert sweeping.accepted(message) is known


# -- transactions and keys ---------------------------------------------------------------------
def test_erc20_call_data_matches_the_abi() -> None:
    to = "0x000000000000000000000000000000000000dEaD"
    assert transfer_data(to, 5) == "0xa9059cbb" + "0" * 24 + to[2:].lower() + f"{5:064x}"
    assert balance_of_data(to) == "0x70a08231" + "0" * 24 + to[2:].lower()
    with pytest.raises(ValueError):
        transfer_data(to, -1)
    assert decode_uint("0x" + f"{7:064x}") == 7
    for bad in (None, "0x", "12"):
        with pytest.raises(ValueError):
            decode_uint(bad)


@pytest.mark.parametrize(
    "quote", [eip1559_quote(next_base_fee=7 * 10**9, tip=10**9), legacy_quote(gas_price=3 * 10**9)]
)
def test_a_signed_sweep_decodes_to_exactly_what_was_planned(quote: FeeQuote) -> None:
    keyring = Keyring(TEST_MNEMONIC, TEST_XPUB)
    address = deposit_address(TEST_XPUB, 4)
    tx = Unsigned(31337, 9, "0x000000000000000000000000000000000000dEaD", 123, 21_000, quote)
    signed = sign(tx, keyring.deposit_key(4, address))
    assert Account.recover_transaction(signed.raw) == address
    raw = bytes.fromhex(signed.raw[2:])
    if quote.type is FeeType.EIP1559:
        decoded = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
        assert (decoded["maxFeePerGas"], decoded["maxPriorityFeePerGas"]) == (15 * 10**9, 10**9)
        assert decoded["chainId"] == 31337
    else:
        assert raw[0] >= 0xC0  # an RLP list: a legacy (EIP-155) transaction, not a typed one
    assert signed.tx_hash.startswith("0x") and len(signed.tx_hash) == 66


def test_the_keyring_refuses_another_wallet_and_another_index() -> None:
    from ctripctl.errors import InputError

    with pytest.raises(InputError, match="does not belong"):
        Keyring("legal winner thank year wave sausage worth useful legal winner thank yellow", TEST_XPUB)
    keyring = Keyring(TEST_MNEMONIC, TEST_XPUB)
    with pytest.raises(InputError, match="is not index 1"):
        keyring.deposit_key(1, deposit_address(TEST_XPUB, 2))
    assert "abandon" not in repr(keyring)
    tank = Account.from_key(keyring.tank_key()).address
    assert tank == tank_address(TEST_XPUB) == "0x399Db6Ed32539fbDF44c3e7678b5b428e378F666"


def test_strikes_are_counted_per_asset_and_a_top_up_holds_back_only_tokens() -> None:
    from collections import Counter

    from ctripctl.db.sweeps import GAS, Candidate, State
    from ctripctl.passes.sweep import _strikes

    deposit, usdt = "0x" + "ab" * 20, "0x" + "CD" * 20
    eth = Candidate("pay_1", deposit, 0, None, None, 18, (1,))
    token = Candidate("pay_1", deposit, 0, "USDT", usdt, 6, (2,), own=False)
    other = Candidate("pay_2", "0x" + "ef" * 20, 1, "USDT", usdt, 6, (3,))
    reverts = Counter({(deposit, usdt.lower()): 3, (deposit, GAS): 1})
    state = State([], reverts, frozenset(), frozenset())
    assert (_strikes(state, eth), _strikes(state, token), _strikes(state, other)) == (0, 4, 0)
