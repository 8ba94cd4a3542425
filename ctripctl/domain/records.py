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

    @property
    def key(self) -> tuple[str, int | None]:
        return (self.tx_hash, self.tx_log_position)
