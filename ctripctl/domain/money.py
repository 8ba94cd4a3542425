"""Exact money: integers in base units, decimals only at the edges.

A user types "12.5"; the asset has 6 decimals; the database stores 12500000. Parsing is
done on the text itself (never through float, never through Decimal's exponent
arithmetic), so "1e999999999" or "NaN" cannot slip through or blow up.
"""

from __future__ import annotations

import re

from ctripctl.errors import InputError

MAX_UINT256 = 2**256 - 1
MAX_DECIMALS = 36
_AMOUNT = re.compile(r"(?P<whole>[0-9]+)(?:\.(?P<frac>[0-9]+))?")
_MAX_TEXT = 100  # longer than any uint256 amount with 36 decimals


def parse_amount(text: str, decimals: int, *, asset: str = "the asset") -> int:
    """Parse a positive decimal string into base units, exactly.

    Rejects signs, exponents, NaN/inf, separators, zero, more fractional digits than
    `decimals` (trailing zeros excepted: "1.50" is exact) and values above uint256.
    Only text is accepted: a float has already lost exactness, so it is a TypeError.
    """
    if not isinstance(text, str):
        raise TypeError(f"amounts are parsed from text, got {type(text).__name__}")
    raw = text.strip()
    if len(raw) > _MAX_TEXT:
        raise InputError(f"amount is too long ({len(raw)} characters)")
    match = _AMOUNT.fullmatch(raw)
    if match is None:
        raise InputError(f"amount {text!r} is not a plain positive decimal number (like 12.5)")
    whole = match["whole"]
    frac = (match["frac"] or "").rstrip("0")
    if len(frac) > decimals:
        raise InputError(f"amount {text!r} has {len(frac)} decimal places; {asset} has only {decimals}")
    base = int(whole) * 10**decimals + (int(frac.ljust(decimals, "0")) if frac else 0)
    if base == 0:
        raise InputError("amount must be greater than zero")
    if base > MAX_UINT256:
        raise InputError(f"amount {text!r} is too large")
    return base


def format_amount(base: int, decimals: int) -> str:
    """Render base units as a decimal string without trailing zeros ("12.5", "3")."""
    sign = "-" if base < 0 else ""
    whole, frac = divmod(abs(base), 10**decimals)
    if decimals == 0 or frac == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{str(frac).rjust(decimals, '0').rstrip('0')}"
