"""Masking URLs for display: what may be printed or logged of a URL that can hold a secret.

Hosted RPC providers put the API key in the path (`/v2/KEY`, `/v3/KEY`) or the query
(`?apikey=KEY`), database URLs carry passwords and `?password=` options, webhook URLs
carry tokens. So a displayed URL is only `scheme://host[:port]`, followed by `/***`
when the URL had a path, a query or a fragment; the user-info (`user:password@`) is
never shown. An unparseable URL shows its scheme and `***`.

One exception: a SQLite URL names a file on this host, not a server, and no credential,
so `sqlite:///PATH` keeps its path (any query still becomes `?***`).

`mask_urls_in(text)` masks every URL inside a free text (a library's log line, an error
message). Standard library only, at the bottom of the layers, so every layer that shows
a node, database or webhook URL imports it from here.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

#: What replaces a path, query or fragment.
MARKER = "***"

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
_SQLITE = re.compile(r"(?P<prefix>sqlite(?:\+[A-Za-z0-9_]+)?:///)(?P<path>[^?#]*)(?P<rest>.*)", re.DOTALL)
#: A URL inside free text: a scheme, `://`, then everything up to whitespace or a quote.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s\"'<>`\\]*")
#: Punctuation that usually ends a sentence rather than the URL ("(see http://h/x).").
_TRAILING = ".,;:!?)]}"


def mask_url(url: str) -> str:
    """`scheme://host[:port]`, plus `/***` if the URL had a path, query or fragment.

    >>> mask_url("https://eth-mainnet.example/v2/KEY?apikey=K")
    'https://eth-mainnet.example/***'
    >>> mask_url("postgresql+psycopg://ctrip:pw@db:5432/ctrip")
    'postgresql+psycopg://db:5432/***'
    >>> mask_url("http://127.0.0.1:8545")
    'http://127.0.0.1:8545'
    """
    sqlite = _SQLITE.fullmatch(url)
    if sqlite is not None:
        return sqlite["prefix"] + sqlite["path"] + ("?" + MARKER if sqlite["rest"] else "")
    scheme, sep, _ = url.partition("://")
    if not sep or not _SCHEME.fullmatch(scheme):
        return MARKER  # not a URL we can read: show nothing of it
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError:  # a bad port or bracket: only the scheme is safe to show
        return f"{scheme}://{MARKER}"
    if not host:
        return f"{scheme}://{MARKER}"
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    hidden = parts.path not in ("", "/") or parts.query or parts.fragment or url.endswith(("?", "#"))
    return f"{parts.scheme.lower()}://{netloc}" + ("/" + MARKER if hidden else "")


def mask_urls_in(text: str) -> str:
    """Every URL in `text` replaced by `mask_url` of it (idempotent)."""
    if "://" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        found = match.group(0)
        url = found.rstrip(_TRAILING)
        # An IPv6 host ends in "]": keep brackets that belong to the URL.
        if url.count("[") > url.count("]") and found[len(url) :].startswith("]"):
            url += "]"
        return mask_url(url) + found[len(url) :]

    return _URL_IN_TEXT.sub(replace, text)
