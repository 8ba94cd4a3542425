"""Standard Webhooks signatures (https://www.standardwebhooks.com/), pure and constant-time.

    webhook-signature: v1,<base64 HMAC-SHA256(key, f"{id}.{timestamp}.{body}")>

The secret is `whsec_` + base64 of the key bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from ctripctl.errors import InputError

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A fresh 32-byte secret in Standard Webhooks form."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_key(secret: str) -> bytes:
    """Decode a `whsec_…` secret into its key bytes."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except ValueError:
        raise InputError("webhook secret is not a whsec_ followed by base64") from None
    if len(key) < 16:
        raise InputError("webhook secret is too short (need at least 16 key bytes)")
    return key


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return the `webhook-signature` header value for one attempt."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(
    key: bytes,
    msg_id: str,
    timestamp: int,
    body: bytes,
    header: str,
    *,
    now: int,
    tolerance: int = 300,
) -> bool:
    """True if any `v1,` signature in `header` matches and the timestamp is fresh."""
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(key, msg_id, timestamp, body)
    return any(
        hmac.compare_digest(candidate, expected)
        for candidate in header.split(" ")
        if candidate.startswith("v1,")
    )
