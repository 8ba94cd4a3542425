"""Payment requests: validate what the user typed, before anything touches the database.

`PaymentRequest` is the checked, exact form of `payment create` options or one CSV row.
Creating it does all validation (amount, asset, URL, duration, metadata), so a bad
value is refused before a transaction even starts — nothing is written.

A CSV import is read as a stream, one physical line at a time, so memory is bounded by
the row cap (`MAX_IMPORT_ROWS`) and the line cap (`MAX_LINE`), not by the file. Each
line must be UTF-8 without NUL characters (a leading BOM and `\r\n` endings are fine),
and each cell at most `MAX_CELL` characters; an error names the file line it is on.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import BinaryIO

from ctripctl.config import Asset, Config
from ctripctl.domain.durations import parse_duration
from ctripctl.domain.inputs import check_reference, parse_metadata
from ctripctl.domain.money import parse_amount
from ctripctl.errors import InputError

CSV_COLUMNS = ("chain", "amount", "token", "reference", "webhook_url", "expires_in")
MAX_IMPORT_ROWS = 100_000
MAX_CELL = 4096  # characters; the longest column, webhook_url, takes at most 2,048
MAX_LINE = 64 * 1024  # bytes of one line of the file, its line ending included


@dataclass(frozen=True)
class PaymentRequest:
    chain: str
    chain_id: int  # the configured chain's id, stored with the payment (its payment URI names it)
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
    check_url: Callable[[str], str] | None = None,
) -> PaymentRequest:
    """Validate one payment's options into a PaymentRequest (raises InputError).

    `check_url` vets the webhook URL (default: `targets.check_target` under the config's
    policy); an import passes one that resolves each host once.
    """
    chain_cfg = config.chain(chain)
    asset = chain_cfg.asset(token or None)
    amount_base = parse_amount(amount, asset.decimals, asset=asset.symbol)
    expiry = parse_duration(expires_in, what="expires-in") if expires_in else config.default_expires_in
    if reference is not None:
        check_reference(reference)
    if webhook_url:
        if check_url is None:
            from ctripctl.webhooks.targets import HostChecks

            check_url = HostChecks(allow_private=config.webhooks.allow_private_targets)
        check_url(webhook_url)
    return PaymentRequest(
        chain=chain,
        chain_id=chain_cfg.chain_id,
        asset=asset,
        amount_base=amount_base,
        expires_in=expiry,
        reference=reference,
        webhook_url=webhook_url or None,
        metadata=parse_metadata(metadata or []),
    )


def parse_import(config: Config, source: BinaryIO) -> list[PaymentRequest]:
    """Validate a whole CSV (header row = create options) before creating anything.

    Every row is checked; the error names the first bad line (and column). References
    must be unique within the file. `source` is read as a stream of bytes.
    """
    from ctripctl.webhooks.targets import HostChecks

    lines = _Lines(source)
    reader = csv.reader(lines)
    header = _next_row(reader, lines) or []
    if not header:
        raise InputError("CSV is empty: expected a header row like " + ",".join(CSV_COLUMNS))
    unknown = [c[:40] for c in header if c not in CSV_COLUMNS]
    if unknown:
        raise InputError(
            f"CSV has unknown column(s) {', '.join(unknown)} (allowed: {', '.join(CSV_COLUMNS)})"
        )
    for required in ("chain", "amount"):
        if required not in header:
            raise InputError(f"CSV has no {required!r} column")
    check_url = HostChecks(allow_private=config.webhooks.allow_private_targets)
    requests: list[PaymentRequest] = []
    seen_refs: dict[str, int] = {}
    while True:
        number = lines.number + 1  # the line this row starts on
        row = _next_row(reader, lines)
        if row is None:
            break
        if not row:  # a blank line
            continue
        if len(requests) >= MAX_IMPORT_ROWS:
            raise InputError(f"CSV has more than {MAX_IMPORT_ROWS} rows; split it")
        if len(row) > len(header):
            raise InputError(f"CSV line {number}: more cells than header columns")
        cells = dict(zip(header, (cell.strip() for cell in row), strict=False))
        for name, cell in cells.items():
            if len(cell) > MAX_CELL:
                raise InputError(f"CSV line {number}: the {name} cell is over {MAX_CELL} characters")
        try:
            request = build_request(
                config,
                chain=cells.get("chain", ""),
                amount=cells.get("amount", ""),
                token=cells.get("token") or None,
                reference=cells.get("reference") or None,
                webhook_url=cells.get("webhook_url") or None,
                expires_in=cells.get("expires_in") or None,
                check_url=check_url,
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


def _next_row(reader: Iterator[list[str]], lines: _Lines) -> list[str] | None:
    """The next parsed row, or None at the end; the csv module's errors name the line."""
    number = lines.number + 1
    try:
        return next(reader)
    except StopIteration:
        return None
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise InputError(f"CSV line {number}: a cell is over {MAX_CELL} characters") from None
        raise InputError(f"CSV line {number}: {exc}") from None


class _Lines:
    """The file's lines as text, counted, each refused if no CSV row of ours could hold it."""

    def __init__(self, source: BinaryIO) -> None:
        self._source = source
        self.number = 0  # lines read so far

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        try:
            raw = self._source.readline(MAX_LINE + 1)
        except OSError as exc:
            raise InputError(f"cannot read the CSV after line {self.number}: {exc}") from None
        if not raw:
            raise StopIteration
        self.number += 1
        if len(raw) > MAX_LINE:
            raise InputError(
                f"CSV line {self.number}: longer than {MAX_LINE} bytes "
                f"(a cell holds at most {MAX_CELL} characters)"
            )
        if self.number == 1:
            raw = raw.removeprefix(codecs.BOM_UTF8)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(
                f"CSV line {self.number}: not UTF-8 text (byte 0x{raw[exc.start]:02x} "
                f"at position {exc.start + 1}); save the file as UTF-8"
            ) from None
        if "\x00" in text:
            raise InputError(f"CSV line {self.number}: contains a NUL character")
        return text
