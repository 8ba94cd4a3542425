"""Validation of small user inputs that are not money: metadata pairs, URLs, references."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from ctripctl.errors import InputError

_KEY = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_REFERENCE = re.compile(r"[\x21-\x7e]{1,128}")  # printable ASCII, no spaces
MAX_METADATA_VALUE = 500
MAX_METADATA_PAIRS = 50
MAX_URL = 2048


def parse_metadata(pairs: list[str]) -> dict[str, str]:
    """Turn `["k=v", ...]` into a dict; keys are simple identifiers and appear once."""
    if len(pairs) > MAX_METADATA_PAIRS:
        raise InputError(f"at most {MAX_METADATA_PAIRS} metadata pairs are allowed")
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise InputError(f"metadata {pair!r} is not of the form key=value")
        if not _KEY.fullmatch(key):
            raise InputError(f"metadata key {key!r} must be 1-64 letters, digits, '_', '.' or '-'")
        if key in result:
            raise InputError(f"metadata key {key!r} is given twice")
        if len(value) > MAX_METADATA_VALUE:
            raise InputError(f"metadata value for {key!r} is over {MAX_METADATA_VALUE} chars")
        result[key] = value
    return result


def check_reference(reference: str) -> str:
    """A reference is an idempotency key: 1-128 printable ASCII characters, no spaces."""
    if not _REFERENCE.fullmatch(reference):
        raise InputError(f"reference {reference!r} must be 1-128 printable ASCII characters without spaces")
    return reference


def check_webhook_url(url: str) -> str:
    """Syntax check only: absolute http(s) URL with a host, no credentials.

    Whether the host resolves to a private address is an I/O question answered in
    `ctripctl.webhooks.targets`.
    """
    if len(url) > MAX_URL:
        raise InputError(f"webhook URL is longer than {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InputError(f"webhook URL {url!r} is malformed") from None
    if parts.scheme not in ("http", "https"):
        raise InputError(f"webhook URL {url!r} must start with http:// or https://")
    if not parts.hostname:
        raise InputError(f"webhook URL {url!r} has no host")
    if parts.username or parts.password:
        raise InputError("webhook URL must not contain credentials")
    if any(ch.isspace() for ch in url):
        raise InputError(f"webhook URL {url!r} contains whitespace")
    del port
    return url
