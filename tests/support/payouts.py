"""A batch payout contract (tests/contracts/EthPayout.sol): ETH sent to several addresses
from inside one contract call — what a Safe or an exchange's batch withdrawal does, and
what only the balance reconciliation (chain/internal.py) can find."""

from __future__ import annotations

import json
from typing import Any

from web3 import Web3

from tests.support.evm import CONTRACTS, Chain

PAYOUT = json.loads((CONTRACTS / "EthPayout.json").read_text())


def deploy_payout(chain: Chain) -> Any:
    factory = chain.w3.eth.contract(abi=PAYOUT["abi"], bytecode=PAYOUT["bytecode"])
    receipt = chain.w3.eth.wait_for_transaction_receipt(
        factory.constructor().transact({"from": chain.accounts[0]})
    )
    return chain.w3.eth.contract(address=receipt["contractAddress"], abi=PAYOUT["abi"])


def pay(chain: Chain, payout: Any, pairs: list[tuple[str, int]]) -> dict[str, Any]:
    """One payout transaction: each (address, wei) paid from inside the contract call."""
    call = payout.functions.payout([Web3.to_checksum_address(a) for a, _ in pairs], [w for _, w in pairs])
    tx = call.transact({"from": chain.payer, "value": sum(w for _, w in pairs)})
    receipt = chain.w3.eth.wait_for_transaction_receipt(tx)
    assert receipt["status"] == 1, receipt
    return receipt


def eth_steps(*extra: Any) -> Any:
    """A hypothesis strategy of one step on two watched addresses (index 0 or 1): ETH sent
    top-level, by a batch payout or as a withdrawal (a balance change with no
    transaction), blocks mined, a scan — plus `extra` strategies (e.g. token sends)."""
    from hypothesis import strategies as st

    eth = 10**18
    return st.one_of(
        st.tuples(st.just("send"), st.integers(0, 1), st.integers(1, eth)),
        st.tuples(
            st.just("payout"),
            st.lists(st.tuples(st.integers(0, 1), st.integers(1, eth)), min_size=1, max_size=3),
        ),
        st.tuples(st.just("withdrawal"), st.integers(0, 1), st.integers(1, eth)),
        *extra,
        st.tuples(st.just("mine"), st.integers(1, 4)),
        st.just(("scan",)),
    )


def play(
    cli: Any, chain: Chain, payout: Any, addresses: list[str], steps: list[Any], token: Any = None
) -> None:
    """Carry out eth_steps' steps (a ("tokens", i, amount) step sends `token`), then mine a
    block and scan, so every step is recorded."""
    for step in steps:
        if step[0] == "send":
            chain.send_eth(addresses[step[1]], step[2])
        elif step[0] == "payout":
            pay(chain, payout, [(addresses[i], w) for i, w in step[1]])
        elif step[0] == "withdrawal":
            chain.mine(1)  # anvil_setBalance edits the latest block: one not scanned yet
            balance = chain.w3.eth.get_balance(addresses[step[1]])
            chain.anvil.rpc("anvil_setBalance", addresses[step[1]], hex(balance + step[2]))
        elif step[0] == "tokens":
            chain.send_token(token, addresses[step[1]], step[2])
        elif step[0] == "mine":
            chain.mine(step[1])
        else:
            chain.mine(1)
            cli.ok("scan", "--chain", "local")
    chain.mine(1)
    cli.ok("scan", "--chain", "local")
