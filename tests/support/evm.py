"""Drive a real chain from tests with web3.py: fund, pay, deploy the ERC-20, mine, reorg."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from web3 import Web3
from web3.types import TxReceipt

from tests.support.anvil import Anvil

CONTRACTS = Path(__file__).resolve().parents[1] / "contracts"
ARTIFACT = json.loads((CONTRACTS / "TestToken.json").read_text())
DISPERSE = json.loads((CONTRACTS / "Disperse.json").read_text())

#: The BIP-39 test vector mnemonic; its account xpub is the tests' wallet.
TEST_MNEMONIC = (
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
)


class Chain:
    """A web3 view of one anvil node, with the helpers payment tests need."""

    def __init__(self, anvil: Anvil) -> None:
        self.anvil = anvil
        self.w3 = Web3(Web3.HTTPProvider(anvil.url, request_kwargs={"timeout": 20}))
        self.accounts = self.w3.eth.accounts  # anvil's ten funded, unlocked accounts
        self.payer = self.accounts[1]

    # -- blocks -----------------------------------------------------------------------
    @property
    def head(self) -> int:
        return self.w3.eth.block_number

    def mine(self, blocks: int = 1) -> int:
        self.anvil.rpc("anvil_mine", hex(blocks))
        return self.head

    def snapshot(self) -> str:
        return self.anvil.rpc("evm_snapshot")

    def revert(self, snapshot_id: str) -> None:
        assert self.anvil.rpc("evm_revert", snapshot_id) is True

    def reorg(self, depth: int, txs: list[tuple[dict[str, Any], int]] | None = None) -> None:
        """anvil_reorg: replace the last `depth` blocks (optionally with [(tx, block_offset)])."""
        self.anvil.rpc("anvil_reorg", depth, [list(pair) for pair in txs or []])

    def same_transaction(self, tx_hash: Any) -> dict[str, Any]:
        """The request that re-mines exactly this transaction (same nonce, fees, data: same
        hash), for `reorg(depth, [(request, block_offset)])`."""
        tx = self.w3.eth.get_transaction(tx_hash)
        return {
            "from": tx["from"],
            "to": tx["to"],
            "value": hex(tx["value"]),
            "input": tx["input"].to_0x_hex(),
            "nonce": hex(tx["nonce"]),
            "gas": hex(tx["gas"]),
            "maxFeePerGas": hex(tx["maxFeePerGas"]),
            "maxPriorityFeePerGas": hex(tx["maxPriorityFeePerGas"]),
        }

    def request(self, call: Any, sender: str, gas: int = 500_000) -> dict[str, Any]:
        """A contract call as a transaction request for `reorg(depth, [(request, offset)])`,
        with the sender's next nonce (numbers as hex quantities)."""
        tx = call.build_transaction(
            {"from": sender, "nonce": self.w3.eth.get_transaction_count(sender), "gas": gas}
        )
        tx["input"] = tx.pop("data")
        tx.pop("chainId", None)
        return {k: hex(v) if isinstance(v, int) else v for k, v in tx.items()}

    def block_hash(self, number: int) -> str:
        return self.w3.eth.get_block(number)["hash"].to_0x_hex()

    @functools.cached_property
    def legacy(self) -> bool:
        """A chain without EIP-1559 (e.g. `anvil --hardfork berlin`)."""
        return "baseFeePerGas" not in self.w3.eth.get_block("latest")

    # -- native -----------------------------------------------------------------------
    def send_eth(self, to: str, wei: int, sender: str | None = None) -> TxReceipt:
        tx: dict[str, Any] = {"from": sender or self.payer, "to": Web3.to_checksum_address(to), "value": wei}
        if self.legacy:  # web3 would add EIP-1559 fields, which a pre-London node refuses
            tx["gasPrice"] = self.w3.eth.gas_price
        tx_hash = self.w3.eth.send_transaction(tx)
        return self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=20)

    # -- tokens -----------------------------------------------------------------------
    def deploy_token(self, symbol: str = "USDT", decimals: int = 6) -> Any:
        factory = self.w3.eth.contract(abi=ARTIFACT["abi"], bytecode=ARTIFACT["bytecode"])
        tx = factory.constructor(f"Test {symbol}", symbol, decimals).transact({"from": self.accounts[0]})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx, timeout=20)
        token = self.w3.eth.contract(address=receipt["contractAddress"], abi=ARTIFACT["abi"])
        mint = token.functions.mint(self.payer, 10**30).transact({"from": self.accounts[0]})
        self.w3.eth.wait_for_transaction_receipt(mint, timeout=20)
        return token

    def deploy_disperse(self, token: Any) -> Any:
        """A disperse.app-style batch payout contract; the payer lets it spend its tokens."""
        factory = self.w3.eth.contract(abi=DISPERSE["abi"], bytecode=DISPERSE["bytecode"])
        tx = factory.constructor().transact({"from": self.accounts[0]})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx, timeout=20)
        disperse = self.w3.eth.contract(address=receipt["contractAddress"], abi=DISPERSE["abi"])
        approve = token.functions.approve(disperse.address, 2**256 - 1).transact({"from": self.payer})
        self.w3.eth.wait_for_transaction_receipt(approve, timeout=20)
        return disperse

    def disperse_call(self, disperse: Any, token: Any, payouts: list[tuple[str, int]]) -> Any:
        """disperseToken(token, recipients, values): one transaction, one Transfer log per payout."""
        return disperse.functions.disperseToken(
            token.address,
            [Web3.to_checksum_address(to) for to, _ in payouts],
            [amount for _, amount in payouts],
        )

    def send_token(self, token: Any, to: str, amount: int, sender: str | None = None) -> TxReceipt:
        tx = token.functions.transfer(Web3.to_checksum_address(to), amount).transact(
            {"from": sender or self.payer}
        )
        return self.w3.eth.wait_for_transaction_receipt(tx, timeout=20)
