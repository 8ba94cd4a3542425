"""Plain rows: a payment and its transfers as read without the ORM (db/sqlite_payments.py).

Their attributes are named as the ORM's (`db/models.py`), so `snapshot.payment_object`
takes either. Standard library only: importing this module costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from ctripctl.errors import RuleError

if TYPE_CHECKING:
    from ctripctl.payment_request import PaymentRequest  # a plain dataclass: types only

NATIVE_LOG_INDEX = -1  # transfers.log_index of a native (non-log) credit


@dataclass(frozen=True)
class TransferRow:
    tx_hash: str
    log_index: int
    block_number: int
    block_hash: str
    block_time: datetime
    from_address: str
    to_address: str
    token: str | None
    amount_base: int
    state: str
    via: str = "transaction"
    counted: bool = True
    decimals: int | None = None  # None: the payment's


@dataclass(frozen=True)
class PaymentRow:
    id: str
    chain: str
    chain_id: int | None
    token: str | None
    token_address: str | None
    decimals: int
    amount_base: int
    address: str
    derivation_index: int
    status: str
    received_base: int
    confirmed_base: int
    overpaid: bool
    underpaid: bool
    paid_late: bool
    reference: str | None
    webhook_url: str | None
    metadata_: dict[str, Any]
    expires_at: datetime
    created_at: datetime
    updated_at: datetime
    settled_at: datetime | None = None
    swept_base: int = 0
    transfers: list[TransferRow] = field(default_factory=list)


class _Terms(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def chain(self) -> str: ...
    @property
    def token(self) -> str | None: ...
    @property
    def amount_base(self) -> int: ...


def check_terms(payment: _Terms, request: PaymentRequest) -> None:
    """A reference is an idempotency key: the same request returns the same payment. A
    different chain, token or amount under a used reference is a conflict, not a retry."""
    same = (
        payment.chain == request.chain
        and payment.token == (None if request.asset.is_native else request.asset.symbol)
        and payment.amount_base == request.amount_base
    )
    if not same:
        raise RuleError(
            f"reference {request.reference!r} already belongs to {payment.id} "
            f"with different terms ({payment.chain} {payment.amount_base} base units "
            f"of {payment.token or 'the native coin'})"
        )
