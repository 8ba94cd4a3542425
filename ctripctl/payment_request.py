"""Payment requests: validate what the user typed, before anything touches the database.

`PaymentRequest` is the checked, exact form of `payment create` options or one CSV row.
Creating it does all validation (amount, asset, URL, duration, metadata), so a bad
value is refused before a transaction even starts — nothing is written.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import timedelta

from ctripctl.config import Asset, Config
from ctripctl.domain.durations import parse_duration
from ctripctl.domain.inputs import check_reference, parse_metadata
from ctripctl.domain.money import parse_amount
from ctripctl.errors import InputError

CSV_COLUMNS = ("chain", "amount", "token", "reference", "webhook_url", "expires_in")
MAX_IMPORT_ROWS = 100_000


@dataclass(frozen=True)
class PaymentRequest:
    chain: str
    asset: Asset
    amount_base: int
    expires_in: timedelta
    reference: str | None = None
    webhook_url: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


def build_request(
    config: Config,
    *,
    chain: str,
    amount: str,
    token: str | None = None,
    reference: str | None = None,
    webhook_url: str | None = None,
    expires_in: str | None = None,
    metadata: list[str] | None = None,
) -> PaymentRequest:
    """Validate one payment's options into a PaymentRequest (raises InputError)."""
    from ctripctl.webhooks.targets import check_target

    chain_cfg = config.chain(chain)
    asset = chain_cfg.asset(token or None)
    amount_base = parse_amount(amount, asset.decimals, asset=asset.symbol)
    expiry = parse_duration(expires_in, what="expires-in") if expires_in else config.default_expires_in
    if reference is not None:
        check_reference(reference)
    if webhook_url:
        check_target(webhook_url, allow_private=config.webhooks.allow_private_targets)
    return PaymentRequest(
        chain=chain,
        asset=asset,
        amount_base=amount_base,
        expires_in=expiry,
        reference=reference,
        webhook_url=webhook_url or None,
        metadata=parse_metadata(metadata or []),
    )


def parse_import(config: Config, text: str) -> list[PaymentRequest]:
    """Validate a whole CSV (header row = create options) before creating anything.

    Every row is checked; the error names the first bad row and column. References
    must be unique within the file.
    """
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))  # stdin keeps Excel's BOM
    header = reader.fieldnames or []
    if not header:
        raise InputError("CSV is empty: expected a header row like " + ",".join(CSV_COLUMNS))
    unknown = [c for c in header if c not in CSV_COLUMNS]
    if unknown:
        raise InputError(
            f"CSV has unknown column(s) {', '.join(unknown)} (allowed: {', '.join(CSV_COLUMNS)})"
        )
    for required in ("chain", "amount"):
        if required not in header:
            raise InputError(f"CSV has no {required!r} column")
    requests: list[PaymentRequest] = []
    seen_refs: dict[str, int] = {}
    for number, row in enumerate(reader, start=2):
        if len(requests) >= MAX_IMPORT_ROWS:
            raise InputError(f"CSV has more than {MAX_IMPORT_ROWS} rows; split it")
        if None in row:
            raise InputError(f"CSV line {number}: more cells than header columns")
        cells = {k: (v or "").strip() for k, v in row.items()}
        try:
            request = build_request(
                config,
                chain=cells.get("chain", ""),
                amount=cells.get("amount", ""),
                token=cells.get("token") or None,
                reference=cells.get("reference") or None,
                webhook_url=cells.get("webhook_url") or None,
                expires_in=cells.get("expires_in") or None,
            )
        except InputError as exc:
            raise InputError(f"CSV line {number}: {exc}") from None
        if request.reference is not None:
            if request.reference in seen_refs:
                raise InputError(
                    f"CSV line {number}: reference {request.reference!r} repeats line "
                    f"{seen_refs[request.reference]}"
                )
            seen_refs[request.reference] = number
        requests.append(request)
    if not requests:
        raise InputError("CSV has a header but no rows")
    return requests
