"""chain/internal.py against real anvil: ETH sent from inside contract calls (a batch
payout, tests/contracts/EthPayout.sol) found by balance reconciliation, bisection and one
trace per block; a node without tracing (a proxy answering -32601) falls back to `balance`
arrivals at the bisected block; never a credit that did not happen."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import Web3

from ctripctl.chain.internal import Arrival, own_outgoing, reconcile
from ctripctl.chain.rpc import RpcClient
from ctripctl.errors import NodeUnavailable
from tests.support.anvil import Anvil
from tests.support.evm import Chain
from tests.support.payouts import pay
from tests.support.rpc_proxy import Answer, RpcProxy, refusing

A, B, C = ("0x" + ch * 40 for ch in "abc")


@pytest.fixture
def rpc(anvil: Anvil) -> Iterator[RpcClient]:
    with RpcClient([anvil.url], attempts=1) as client:
        yield client


def test_a_batch_payout_is_found_in_its_block_with_its_transaction(
    chain: Chain, payout: Any, rpc: RpcClient
) -> None:
    start = chain.head + 1
    chain.mine(3)
    first = pay(chain, payout, [(A, 5 * 10**17), (B, 3 * 10**17)])
    chain.mine(4)
    second = pay(chain, payout, [(A, 2 * 10**17)])
    top = chain.send_eth(C, 10**18)  # a top-level credit the scan recorded itself
    chain.mine(2)
    end = chain.head

    found = reconcile(rpc, start, end, [A, B, C], {C: [(top["blockNumber"], 10**18)]})

    assert sorted(found.arrivals, key=lambda x: (x.block_number, x.address)) == [
        Arrival(
            A,
            first["blockNumber"],
            5 * 10**17,
            "internal",
            first["transactionHash"].to_0x_hex(),
            0,
            payout.address.lower(),
        ),
        Arrival(
            B,
            first["blockNumber"],
            3 * 10**17,
            "internal",
            first["transactionHash"].to_0x_hex(),
            1,
            payout.address.lower(),
        ),
        Arrival(
            A,
            second["blockNumber"],
            2 * 10**17,
            "internal",
            second["transactionHash"].to_0x_hex(),
            0,
            payout.address.lower(),
        ),
    ]
    assert found.skipped == {} and found.traced_blocks == 2
    assert found.balances == {A: 7 * 10**17, B: 3 * 10**17, C: 10**18}


def test_nothing_unseen_costs_two_balance_reads_per_address_and_no_trace(
    chain: Chain, rpc: RpcClient
) -> None:
    start = chain.head + 1
    top = chain.send_eth(A, 10**18)
    chain.mine(5)
    found = reconcile(rpc, start, chain.head, [A, B], {A: [(top["blockNumber"], 10**18)]})
    assert found.arrivals == [] and found.traced_blocks == 0 and found.requests == 2
    assert reconcile(rpc, start, chain.head, [A, B], {}, mode="off").requests == 0


def test_a_reverted_nested_payout_is_no_credit(chain: Chain, payout: Any, rpc: RpcClient) -> None:
    start = chain.head + 1
    tx = payout.functions.payoutThenRevert(Web3.to_checksum_address(A)).transact(
        {"from": chain.payer, "value": 10**17}
    )
    chain.w3.eth.wait_for_transaction_receipt(tx)
    chain.mine(2)
    found = reconcile(rpc, start, chain.head, [A], {})
    assert found.arrivals == [] and chain.w3.eth.get_balance(Web3.to_checksum_address(A)) == 0


@pytest.mark.parametrize("refused", [("debug_",), ("debug_", "trace_")])
def test_a_node_without_tracing_falls_back(
    anvil: Anvil, chain: Chain, payout: Any, refused: tuple[str, ...]
) -> None:
    start = chain.head + 1
    paid = pay(chain, payout, [(A, 4 * 10**17), (B, 10**17)])
    chain.mine(6)
    proxy = RpcProxy(anvil.url, hook=refusing(refused))
    try:
        with RpcClient([proxy.url], attempts=1) as rpc:
            found = reconcile(rpc, start, chain.head, [A, B], {})
            if refused == ("debug_",):  # trace_block answers
                assert {(x.address, x.via, x.tx_hash) for x in found.arrivals} == {
                    (A, "internal", paid["transactionHash"].to_0x_hex()),
                    (B, "internal", paid["transactionHash"].to_0x_hex()),
                }
            else:  # balance arrivals at the bisected block, no transaction
                assert sorted(
                    (x.address, x.block_number, x.amount, x.via, x.tx_hash) for x in found.arrivals
                ) == [
                    (A, paid["blockNumber"], 4 * 10**17, "balance", None),
                    (B, paid["blockNumber"], 10**17, "balance", None),
                ]
                assert any("neither" in note for note in found.notes)
                with pytest.raises(NodeUnavailable, match="trace"):
                    reconcile(rpc, start, chain.head, [A, B], {}, mode="trace")
    finally:
        proxy.stop()


def test_a_balance_change_no_transaction_shows_is_a_balance_arrival(
    chain: Chain, payout: Any, rpc: RpcClient
) -> None:
    start = chain.head + 1
    chain.mine(2)
    paid = pay(chain, payout, [(A, 10**17)])
    # A validator withdrawal: the balance grows in a block without any transaction to it
    # (anvil_setBalance edits the state of its latest block).
    withdrawn = chain.mine(1)
    chain.anvil.rpc("anvil_setBalance", A, hex(10**17 + 3 * 10**16))
    chain.mine(3)
    found = reconcile(rpc, start, chain.head, [A], {})
    assert sorted((x.block_number, x.amount, x.via) for x in found.arrivals) == [
        (paid["blockNumber"], 10**17, "internal"),
        (withdrawn, 3 * 10**16, "balance"),
    ]


def test_an_address_that_sent_what_we_do_not_know_is_skipped(
    chain: Chain, payout: Any, rpc: RpcClient
) -> None:
    own = chain.accounts[5].lower()  # a watched address whose key someone else uses
    start = chain.head + 1
    pay(chain, payout, [(own, 10**18)])
    chain.send_eth(A, 10**17, sender=chain.accounts[5])
    chain.mine(2)
    found = reconcile(rpc, start, chain.head, [own], {})
    assert found.arrivals == [] and "nonce" in found.skipped[own]


def test_our_own_sweep_is_explained_by_the_ledger(chain: Chain, payout: Any, rpc: RpcClient) -> None:
    own = chain.accounts[6].lower()
    start = chain.head + 1
    paid = pay(chain, payout, [(own, 10**18)])
    sweep = chain.send_eth(A, 5 * 10**17, sender=chain.accounts[6])
    chain.mine(2)
    cost = 5 * 10**17 + sweep["gasUsed"] * sweep["effectiveGasPrice"]
    outgoing, sent = own_outgoing(rpc, [sweep["transactionHash"].to_0x_hex(), "0x" + "ee" * 32])
    assert (outgoing, sent) == ({own: [(sweep["blockNumber"], -cost)]}, {own: 1})
    known = {**outgoing, A: [(sweep["blockNumber"], 5 * 10**17)]}
    found = reconcile(rpc, start, chain.head, [own, A], known, sent=sent)
    assert [(x.address, x.block_number, x.amount, x.via) for x in found.arrivals] == [
        (own, paid["blockNumber"], 10**18, "internal")
    ]


def test_our_eip7702_authorizations_explain_nonce_moves_without_ether(chain: Chain, rpc: RpcClient) -> None:
    """A sponsored batch (sent and paid by the tank) carries the deposits' authorizations:
    each mined one is a nonce move of each deposit, with no ETH; an unmined one is none."""
    batch = chain.send_eth(C, 1)  # stands for the tank's type-4 transaction: only its receipt is read
    unmined = "0x" + "ee" * 32
    outgoing, sent = own_outgoing(
        rpc, [], {batch["transactionHash"].to_0x_hex(): [A, B.upper().replace("0X", "0x"), A], unmined: [C]}
    )
    assert outgoing == {A: [(batch["blockNumber"], 0)], B: [(batch["blockNumber"], 0)]}
    assert sent == {A: 1, B: 1}


def test_a_pruned_node_attributes_what_it_cannot_place_to_its_earliest_state(
    anvil: Anvil, chain: Chain, payout: Any
) -> None:
    start = chain.head + 1
    early = pay(chain, payout, [(A, 10**17)])
    chain.mine(5)
    earliest = chain.head  # the node keeps state from here on
    late = pay(chain, payout, [(A, 2 * 10**17)])
    chain.mine(2)

    def pruned(body: Any, forward: Callable[[Any], Answer]) -> Answer:
        calls = body if isinstance(body, list) else [body]
        status, answer = forward(calls)
        for item, call in zip(answer, calls, strict=True):
            if call["method"] == "eth_getBalance" and int(call["params"][1], 16) < earliest:
                item.pop("result", None)
                item["error"] = {"code": -32000, "message": "missing trie node"}
        return status, answer

    proxy = RpcProxy(anvil.url, hook=pruned)
    try:
        with RpcClient([proxy.url], attempts=1) as rpc:
            # The balance before the range is known (kept from the last pass): the early
            # payout cannot be placed, so it is attributed to the earliest state, as balance.
            kept = reconcile(rpc, start, chain.head, [A], {}, bases={A: 0})
            assert sorted((x.block_number, x.amount, x.via) for x in kept.arrivals) == [
                (earliest, 10**17, "balance"),
                (late["blockNumber"], 2 * 10**17, "internal"),
            ]
            assert early["blockNumber"] < earliest
            assert any(f"attributed to block {earliest}" in note for note in kept.notes)
            # Unknown: reconciled from the earliest state on, said in the notes.
            unknown = reconcile(rpc, start, chain.head, [A], {})
            assert [(x.block_number, x.amount) for x in unknown.arrivals] == [
                (late["blockNumber"], 2 * 10**17)
            ]
            assert any(f"no state before block {earliest}" in note for note in unknown.notes)
    finally:
        proxy.stop()


# -- property: every wei that arrives is found once ---------------------------------------

_WATCHED = [A, B, C]
_step = st.one_of(
    st.tuples(st.just("send"), st.sampled_from(_WATCHED), st.integers(1, 10**18)),
    st.tuples(
        st.just("payout"),
        st.lists(st.tuples(st.sampled_from(_WATCHED), st.integers(1, 10**18)), min_size=1, max_size=3),
    ),
    st.tuples(st.just("withdrawal"), st.sampled_from(_WATCHED), st.integers(1, 10**18)),
    st.tuples(st.just("mine"), st.integers(1, 5)),
)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(_step, min_size=1, max_size=6), mode=st.sampled_from(["auto", "balance"]))
def test_known_credits_and_arrivals_add_up_to_the_balance_increase(
    chain: Chain, payout: Any, rpc: RpcClient, steps: list[Any], mode: str
) -> None:
    """For addresses nothing else touches, the top-level credits the scan records plus
    the arrivals reconciliation finds are exactly each balance's increase: none missed,
    none counted twice, whatever mix of transfers, payouts and withdrawals, and however
    they share blocks."""
    base = chain.head
    before = {a: chain.w3.eth.get_balance(Web3.to_checksum_address(a)) for a in _WATCHED}
    known: dict[str, list[tuple[int, int]]] = {}
    for step in steps:
        if step[0] == "send":
            receipt = chain.send_eth(step[1], step[2])
            known.setdefault(step[1], []).append((receipt["blockNumber"], step[2]))
        elif step[0] == "payout":
            pay(chain, payout, step[1])
        elif step[0] == "withdrawal":
            chain.mine(1)  # anvil_setBalance edits the latest block's state: one in the range
            balance = chain.w3.eth.get_balance(Web3.to_checksum_address(step[1]))
            chain.anvil.rpc("anvil_setBalance", step[1], hex(balance + step[2]))
        else:
            chain.mine(step[1])
    end = chain.mine(1)
    found = reconcile(rpc, base + 1, end, _WATCHED, known, mode=mode)
    assert found.skipped == {}
    for a in _WATCHED:
        increase = chain.w3.eth.get_balance(Web3.to_checksum_address(a)) - before[a]
        credited = sum(w for _, w in known.get(a, [])) + sum(
            x.amount for x in found.arrivals if x.address == a
        )
        assert credited == increase, (a, found.arrivals)
    keys = [(x.tx_hash, x.position) for x in found.arrivals if x.via == "internal"]
    assert len(keys) == len(set(keys))
