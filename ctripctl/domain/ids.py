"""Public identifiers: `pay_…` for payments, `evt_…` for webhook events.

Random (not sequential) so ids leak nothing about volume, and URL-safe.
"""

from __future__ import annotations

import secrets

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def new_id(prefix: str, length: int = 20) -> str:
    """Return `prefix_` followed by `length` random base-36 characters (~103 bits).

    One uniform draw below 36**length, written in base 36: about 1.5 reads of the OS's
    random source per id (randbelow redraws out-of-range values) instead of one per
    character (a scan pass makes an id per event).
    """
    number = secrets.randbelow(36**length)
    digits = []
    for _ in range(length):
        number, digit = divmod(number, 36)
        digits.append(_ALPHABET[digit])
    return f"{prefix}_" + "".join(reversed(digits))
