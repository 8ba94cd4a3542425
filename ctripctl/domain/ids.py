"""Public identifiers: `pay_…` for payments, `evt_…` for webhook events.

Random (not sequential) so ids leak nothing about volume, and URL-safe.
"""

from __future__ import annotations

import secrets

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def new_id(prefix: str, length: int = 20) -> str:
    """Return `prefix_` followed by `length` random base-36 characters (~103 bits)."""
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(length))
