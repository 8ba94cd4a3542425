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
