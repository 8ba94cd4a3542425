"""Plain records passed between layers: what the chain layer reads, what the database stores.

Frozen dataclasses with no behaviour beyond a key, so `chain/` can return them and `db/`
can take them without either importing the other. Addresses are lowercase hex strings.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Watch:
    """A watched deposit address: which payment, in which asset (None: the native coin)."""

    payment_id: str
    token_address: str | None  # lowercase


@dataclass(frozen=True)
class Header:
    number: int
    hash: str
    parent_hash: str
    timestamp: int


#: Found.tx_log_position of a native credit (a transaction's value, not a log).
NATIVE_POSITION = -1
#: Found.tx_log_position of a `balance` credit (its tx hash is synthetic, see evm/matching).
BALANCE_POSITION = -2
#: Found.tx_log_position of ETH sent inside a transaction: INTERNAL_POSITION - its place
#: among the transaction's internal value transfers (evm/traces.py), so it never collides
#: with the native credit (-1) or a log (>= 0) of the same transaction.
INTERNAL_POSITION = -1000


@dataclass(frozen=True)
class Found:
    """One credit to a watched address, as read from the node (addresses lowercase).

    Its identity is (tx hash, `tx_log_position`): the log's place among its own
    transaction's logs, which a reorg cannot change — `log_index` counts across the whole
    block, so it shifts when the transaction is re-mined in another block.
    """

    payment_id: str
    tx_hash: str
    log_index: int  # -1 (db.models.NATIVE_LOG_INDEX) for a native credit
    block_number: int
    block_hash: str
    from_address: str
    to_address: str
    token_address: str | None
    amount: int
    # NATIVE_POSITION for a native credit; None until the transaction's receipt was read
    tx_log_position: int | None = None
    # How it was found: "transaction" (a top-level value), "log" (an ERC-20 Transfer),
    # "internal" (ETH sent inside a contract call), "balance" (a balance change no
    # transaction shows).
    via: str = "transaction"
    # False for a deposit in another asset than the payment's: recorded, never counted.
    counted: bool = True
    # The asset's symbol and decimals (set by the scan for an uncounted credit: its asset
    # is not the payment's; None: the payment's).
    symbol: str | None = None
    decimals: int | None = None

    @property
    def key(self) -> tuple[str, int | None]:
        return (self.tx_hash, self.tx_log_position)


@dataclass(frozen=True)
class Arrival:
    """ETH that arrived on a watched address in `block_number` without a top-level
    transaction to it (chain/internal.py finds it by balance reconciliation).
    `tx_hash`, `position` and `sender` only for `via == "internal"`."""

    address: str
    block_number: int
    amount: int
    via: str  # "internal" | "balance"
    tx_hash: str | None = None
    position: int | None = None
    sender: str | None = None
