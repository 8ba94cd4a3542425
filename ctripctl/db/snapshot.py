"""The payment object: what `payment show --json` prints and every webhook carries.

One function builds it, so the CLI and the outbox can never disagree on its shape. It
reads attributes only, so it takes an ORM `Payment` or a plain `PaymentRow` (db/rows.py,
what `payment create` and `payment show` read without the ORM on a SQLite file) alike,
and imports neither SQLAlchemy nor the models.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from ctripctl.db.rows import NATIVE_LOG_INDEX
from ctripctl.domain.money import format_amount
from ctripctl.evm.payment_uri import payment_uri

if TYPE_CHECKING:
    from ctripctl.db.models import Payment, Transfer
    from ctripctl.db.rows import PaymentRow, TransferRow


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, to the second."""
    if value is None:
        return None
    return value.isoformat(timespec="seconds").replace("+00:00", "Z")


def transfer_object(transfer: Transfer | TransferRow, decimals: int) -> dict[str, Any]:
    """One credit. `via`: "transaction" | "log" | "internal" | "balance" (a balance credit
    has no transaction: `tx_hash` null; the row keeps a synthetic one as its identity).
    `counted` false: a deposit in another asset (`token`, amounts in that asset's
    decimals), not part of `received`."""
    if transfer.decimals is not None:
        decimals = transfer.decimals
    return {
        "tx_hash": None if transfer.via == "balance" else transfer.tx_hash,
        "log_index": None if transfer.log_index == NATIVE_LOG_INDEX else transfer.log_index,
        "block_number": transfer.block_number,
        "block_hash": transfer.block_hash,
        "block_time": iso(transfer.block_time),
        "from": transfer.from_address,
        "to": transfer.to_address,
        "token": transfer.token,
        "amount": format_amount(transfer.amount_base, decimals),
        "amount_base": str(transfer.amount_base),
        "state": transfer.state,
        "via": transfer.via,
        "counted": transfer.counted,
    }


def uri_of(payment: Payment | PaymentRow, chain_id: int | None = None) -> str | None:
    """The payment's EIP-681 URI; None when its chain id is unknown (created before migration 0005)."""
    chain_id = payment.chain_id if payment.chain_id is not None else chain_id
    if chain_id is None:
        return None
    return payment_uri(
        chain_id=chain_id,
        address=payment.address,
        amount_base=payment.amount_base,
        token_address=payment.token_address,
    )


def payment_object(payment: Payment | PaymentRow) -> dict[str, Any]:
    """The public JSON shape of a payment (amounts as decimal and base-unit strings).

    `payment_uri` is the EIP-681 request a wallet scans: the deposit address, the
    amount in base units and the chain id (a wallet on another network refuses it).
    """
    d = payment.decimals
    return {
        "id": payment.id,
        "chain": payment.chain,
        "chain_id": payment.chain_id,
        "token": payment.token,
        "token_address": payment.token_address,
        "address": payment.address,
        "amount": format_amount(payment.amount_base, d),
        "amount_base": str(payment.amount_base),
        "payment_uri": uri_of(payment),
        "received": format_amount(payment.received_base, d),
        "received_base": str(payment.received_base),
        "confirmed": format_amount(payment.confirmed_base, d),
        "confirmed_base": str(payment.confirmed_base),
        "status": payment.status,
        "overpaid": payment.overpaid,
        "underpaid": payment.underpaid,
        "paid_late": payment.paid_late,
        "swept": format_amount(payment.swept_base, d),
        "swept_base": str(payment.swept_base),
        "settled_at": iso(payment.settled_at),
        "reference": payment.reference,
        "webhook_url": payment.webhook_url,
        "metadata": dict(payment.metadata_ or {}),
        "expires_at": iso(payment.expires_at),
        "created_at": iso(payment.created_at),
        "updated_at": iso(payment.updated_at),
        "transfers": [transfer_object(t, d) for t in payment.transfers],
    }
