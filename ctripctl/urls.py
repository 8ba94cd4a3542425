"""Masking URLs for display: what may be printed or logged of a URL that can hold a secret.

Standard library only, at the bottom of the layers, so every layer that shows a node,
database or webhook URL imports it from here rather than from the configuration.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit


def mask_url(url: str) -> str:
    """Hide the password (and API-key-like path/query secrets stay as given) in a URL."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:  # unparseable: hide whatever sits between // and @
        return re.sub(r"//[^/]*@", "//***@", url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:***@{host}" if parts.username else f"***@{host}"
    return urlunsplit(parts._replace(netloc=netloc))
