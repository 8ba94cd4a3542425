"""Sweep decisions as pure functions: fee arithmetic, what to send from an address, and
what a recorded sweep's on-chain evidence means.

The sweep pass (passes/sweep.py) reads balances, nonces and receipts from the node and
asks these functions what to do; nothing here does I/O, so every rule that guards money
(never send more than the balance, never re-plan a transaction that may still be mined)
is tested exhaustively in tests/unit/test_sweeping.py.

A sweep row moves through::

    signed ──broadcast──▶ sent ──in a block──▶ mined ──at depth──▶ confirmed (final)
      │                    ▲                     │   └─at depth, status 0─▶ reverted (final)
      │                    └──block reorged away─┘
      └─(or sent) its nonce used by another transaction─▶ dropped (final)

Only a final row lets the planner send again from the same address, and `dropped` is
decided only when the nonce is provably spent by another transaction, so one deposit is
never paid out twice: while a row is live, its exact signed bytes are re-broadcast.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

#: Gas of a plain value transfer to an address without code.
NATIVE_GAS = 21_000
#: Margin on eth_estimateGas for token transfers and contract treasuries (percent).
GAS_MARGIN_PERCENT = 20
#: Gas of one sponsored batch when the node cannot estimate it: the transaction, plus per
#: deposit an authorization (PER_EMPTY_ACCOUNT_COST 25,000) and a cold token transfer.
BATCH_BASE_GAS = 60_000
BATCH_ITEM_GAS = 25_000 + 80_000
#: Gas per deposit of a clearing transaction: one authorization (PER_EMPTY_ACCOUNT_COST).
CLEAR_ITEM_GAS = 25_000
#: A deposit address whose token sweep reverted this many times is no longer planned:
#: each attempt burns the tank's gas, and a token that always reverts needs a person.
MAX_REVERTS = 3


class FeeType(StrEnum):
    EIP1559 = "eip1559"
    LEGACY = "legacy"


class SweepKind(StrEnum):
    NATIVE = "native"  # the deposit's native coin to the treasury
    TOKEN = "token"  # the deposit's token balance to the treasury
    TOPUP = "topup"  # gas from the tank to a token deposit address
    BATCH = "batch7702"  # one sponsored type-4 transaction sweeping many token deposits
    DEPLOY = "deploy"  # the tank deploying the SweepDelegate contract
    CLEAR = "clear7702"  # one sponsored type-4 transaction clearing swept deposits' delegations


class Strategy(StrEnum):
    """How token deposits get their gas (`[chains.X] sweep_strategy`)."""

    AUTO = "auto"  # eip7702 when the node accepts type-4 transactions, else topup
    TOPUP = "topup"  # the tank sends each deposit its gas; the deposit sends its tokens
    EIP7702 = "eip7702"  # the tank sends one type-4 transaction per batch of deposits


class ItemStatus(StrEnum):
    PENDING = "pending"  # its batch is not final yet
    MOVED = "moved"  # the batch is confirmed and its Transfer log moved the tokens
    FAILED = "failed"  # the batch is final and moved nothing for this deposit
    DROPPED = "dropped"  # the batch never made it into the chain (its nonce was spent)


class SweepStatus(StrEnum):
    SIGNED = "signed"  # recorded, broadcast not yet confirmed by a node answer
    SENT = "sent"  # a node accepted it (or already knew it)
    MINED = "mined"  # in a block, not yet at depth
    CONFIRMED = "confirmed"  # in a block at depth, succeeded
    REVERTED = "reverted"  # in a block at depth, failed (nothing moved but gas)
    DROPPED = "dropped"  # its nonce was used by another transaction: it can never be mined


#: Rows whose transaction may still be mined: the planner never sends again from their address.
LIVE = frozenset({SweepStatus.SIGNED, SweepStatus.SENT, SweepStatus.MINED})


@dataclass(frozen=True)
class FeeQuote:
    """What every transaction of a pass pays per gas. Integers in wei."""

    type: FeeType
    max_fee_per_gas: int | None = None
    max_priority_fee_per_gas: int | None = None
    gas_price: int | None = None

    @property
    def max_per_gas(self) -> int:
        """The most one unit of gas can cost: what balances and the cap are checked against."""
        value = self.max_fee_per_gas if self.type is FeeType.EIP1559 else self.gas_price
        assert value is not None
        return value

    def to_json(self) -> dict[str, int | str | None]:
        return {
            "type": self.type.value,
            "max_fee_per_gas": self.max_fee_per_gas,
            "max_priority_fee_per_gas": self.max_priority_fee_per_gas,
            "gas_price": self.gas_price,
        }


def percentile_tip(rewards: list[list[int]], fallback: int = 0) -> int:
    """The median over recent blocks of each block's reward percentile (eth_feeHistory's
    `reward` column); blocks without transactions report 0 and are left out. No block
    with a reward: `fallback` (the node's eth_maxPriorityFeePerGas)."""
    values = sorted(row[0] for row in rewards if row and row[0] > 0)
    if not values:
        return fallback
    return values[len(values) // 2]


def eip1559_quote(next_base_fee: int, tip: int) -> FeeQuote:
    """max fee = 2 × the next block's base fee + tip: room for six full blocks in a row."""
    return FeeQuote(FeeType.EIP1559, max_fee_per_gas=2 * next_base_fee + tip, max_priority_fee_per_gas=tip)


def legacy_quote(gas_price: int) -> FeeQuote:
    return FeeQuote(FeeType.LEGACY, gas_price=gas_price)


def over_cap(quote: FeeQuote, cap_wei: int | None) -> bool:
    return cap_wei is not None and quote.max_per_gas > cap_wei


def with_margin(estimate: int) -> int:
    """eth_estimateGas plus the margin, rounded up."""
    return -(-estimate * (100 + GAS_MARGIN_PERCENT) // 100)


def max_gas_cost(gas_limit: int, quote: FeeQuote) -> int:
    """The most a transaction can be charged: what must be in the sender's balance."""
    return gas_limit * quote.max_per_gas


def native_sweep_value(balance: int, gas_limit: int, quote: FeeQuote) -> int:
    """Value of a native sweep: everything but the gas it may cost (≤ 0: nothing to send).

    Legacy: the fee charged is exactly gas_limit × gas price for a plain transfer, so the
    address ends at 0. EIP-1559: the unused part of the max fee stays behind.
    """
    return balance - max_gas_cost(gas_limit, quote)


def topup_value(gas_limit: int, quote: FeeQuote, native_balance: int) -> int:
    """What the tank must send so a token transfer of `gas_limit` can be paid (0: none).

    Exactly gas_limit × max fee for an empty address; less what it already holds.
    """
    return max(0, max_gas_cost(gas_limit, quote) - native_balance)


def spendable(balance_latest: int, balance_at_depth: int) -> int:
    """What may be swept: only money that is already `confirmations` deep (the balance at
    the deepest confirmable block), and never more than the address holds now."""
    return max(0, min(balance_latest, balance_at_depth))


@dataclass(frozen=True)
class TokenMove:
    """One ERC-20 Transfer log of a receipt (addresses lowercase)."""

    token: str
    sender: str
    recipient: str
    amount: int


@dataclass(frozen=True)
class Receipt:
    """The part of a transaction receipt a verdict needs."""

    block_number: int
    block_hash: str
    success: bool
    moves: tuple[TokenMove, ...] = ()  # its ERC-20 Transfer logs


def moved_by(moves: tuple[TokenMove, ...], *, token: str, sender: str, recipient: str) -> int:
    """What the logs moved of `token` from `sender` to `recipient` (one batch item's outcome)."""
    token, sender, recipient = token.lower(), sender.lower(), recipient.lower()
    return sum(m.amount for m in moves if (m.token, m.sender, m.recipient) == (token, sender, recipient))


@dataclass(frozen=True)
class Verdict:
    status: SweepStatus
    rebroadcast: bool = False  # send the recorded raw bytes again
    block_number: int | None = None
    block_hash: str | None = None


def judge(
    status: SweepStatus,
    nonce: int,
    *,
    receipt: Receipt | None,
    nonce_used: int,
    nonce_deep: int,
    deep_enough: bool,
) -> Verdict:
    """What a live sweep's evidence says: the sender's mined nonce count (`nonce_used`,
    asked first), the receipt (asked after it), and the nonce count at the confirmation
    depth (`nonce_deep`).

    * A receipt: mined; at depth it is final (confirmed, or reverted when it failed).
    * No receipt and the nonce spent at depth: another transaction took it, and that one
      cannot be reorged away any more: dropped (final; its money is planned again).
    * No receipt and the nonce spent only above the depth: wait. Ours may be the one
      (a lagging or load-balanced node can miss a receipt it has the nonce for), and a
      recent block can still change.
    * Otherwise the transaction is not in the chain (never sent, lost, evicted from the
      mempool, or its block was reorged away): the same bytes are sent again — never a new
      transaction, so a lost answer can never become a second payment.
    """
    if status not in LIVE:
        return Verdict(status)
    if receipt is not None:
        if deep_enough:
            final = SweepStatus.CONFIRMED if receipt.success else SweepStatus.REVERTED
            return Verdict(final, block_number=receipt.block_number, block_hash=receipt.block_hash)
        return Verdict(SweepStatus.MINED, block_number=receipt.block_number, block_hash=receipt.block_hash)
    if nonce_deep > nonce:
        return Verdict(SweepStatus.DROPPED)
    if nonce_used > nonce:
        return Verdict(status)  # spent, but not deep: judge again next pass
    next_status = SweepStatus.SENT if status is SweepStatus.MINED else status
    return Verdict(next_status, rebroadcast=True)


def underpriced(message: str) -> bool:
    """Did a node refuse a transaction for its fee (the base fee rose past its max fee)?"""
    text = message.lower()
    return "underpriced" in text or "base fee" in text or "fee cap" in text


def accepted(message: str) -> bool:
    """Does a broadcast error mean the node already has this very transaction?"""
    text = message.lower()
    return "already known" in text or "known transaction" in text or "already imported" in text
