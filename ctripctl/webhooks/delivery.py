"""Sending one signed attempt over a shared, pooled `httpx.AsyncClient`.

Each attempt serialises the stored payload once, signs exactly those bytes (Standard
Webhooks: `webhook-id` = the event id, the same on every retry; `webhook-timestamp` =
this attempt's Unix time; `webhook-signature` = `v1,<HMAC>`), and POSTs them. The whole
attempt — target check, connect, send, reading the (truncated) answer — is bounded by
one deadline, the configured timeout. Redirects are never followed (a 3xx is a failed
attempt): following one would send a signed payment to a URL nobody vetted.

Before sending, the target is checked again (`targets.check_target`), because DNS may
have changed since the payment was created; a refusal there makes the event dead with a
clear reason. The connection itself is opened through `transport.GuardedBackend`, which
checks the addresses again at connect time and connects to the one it vetted, so a DNS
answer that flips between the two (DNS rebinding) cannot reach an internal address.

This module never raises for a failed attempt: every failure becomes an `Attempt` with
an error text, which `schedule.decide` turns into the event's next state. Whatever the
receiver answers (any status, any headers, a body of any size or encoding, a redirect),
the `Attempt` holds only what the database stores as is: at most `BODY_READ` bytes are
read, undecoded (compression is not asked for, and a compressed body is not inflated),
and the kept texts are short and free of NUL characters, which PostgreSQL refuses and
which would otherwise lose the outcomes recorded with this one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ctripctl import __version__
from ctripctl.domain.signing import sign
from ctripctl.errors import InputError
from ctripctl.webhooks.targets import UnresolvableTarget, check_target

if TYPE_CHECKING:
    import httpx

    from ctripctl.domain.events import Claimed

log = logging.getLogger("ctripctl.webhooks")

USER_AGENT = f"ctripctl/{__version__} (+https://www.standardwebhooks.com/)"
BODY_KEEP = 1024  # characters of the response body stored per attempt
BODY_READ = 64 * 1024  # bytes read at most before the response is abandoned
ERROR_KEEP = 500  # characters of an error text stored per attempt


@dataclass(frozen=True)
class Attempt:
    """What came back from one POST (or why nothing did)."""

    status_code: int | None
    error: str | None
    response_body: str | None
    latency_ms: int
    retry_after: str | None = None
    refused: bool = False


def body_bytes(payload: dict[str, Any]) -> bytes:
    """The request body: the stored outbox payload as compact UTF-8 JSON."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def signed_headers(key: bytes, event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(key, event_id, timestamp, body),
        "content-type": "application/json",
    }


def make_client(*, concurrency: int, timeout: float, allow_private: bool = False) -> httpx.AsyncClient:
    """One pooled client per flush: keep-alive connections shared by all attempts (see transport.py)."""
    import httpx

    from ctripctl.webhooks.transport import make_transport

    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout),
        transport=make_transport(max_connections=concurrency, allow_private=allow_private),
        follow_redirects=False,
        trust_env=False,  # no proxies from the environment: the target check must see the real host
        headers={"user-agent": USER_AGENT, "accept-encoding": "identity"},
    )


class TargetGuard:
    """Runs the SSRF check once per host and port per flush (off the event loop: it resolves DNS)."""

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private
        self._verdicts: dict[tuple[str, str, int | None], asyncio.Future[str | None]] = {}

    async def refusal(self, url: str) -> str | None:
        """None if `url` may be used; else why it is refused. Raises UnresolvableTarget."""
        parts = urlsplit(url)
        host_key = (parts.scheme, parts.hostname or "", parts.port)
        if self.allow_private:
            return self._syntax(url)
        verdict = self._verdicts.get(host_key)
        if verdict is None:
            verdict = asyncio.ensure_future(asyncio.to_thread(self._check, url))
            self._verdicts[host_key] = verdict
        try:
            refused = await asyncio.shield(verdict)
        except UnresolvableTarget:
            self._verdicts.pop(host_key, None)  # DNS may recover; ask again next time
            raise
        return refused or self._syntax(url)

    def _check(self, url: str) -> str | None:
        try:
            check_target(url, allow_private=False)
        except UnresolvableTarget:
            raise
        except InputError as exc:
            return str(exc)
        return None

    @staticmethod
    def _syntax(url: str) -> str | None:
        try:
            check_target(url, allow_private=True)
        except InputError as exc:
            return str(exc)
        return None


async def send(
    client: httpx.AsyncClient,
    guard: TargetGuard,
    key: bytes,
    event: Claimed,
    *,
    timeout: float,
    wall_clock: Callable[[], float] = time.time,
) -> Attempt:
    """Make one attempt at delivering `event`; never raises for a failed attempt."""
    attempt = await _send(client, guard, key, event, timeout=timeout, wall_clock=wall_clock)
    return replace(
        attempt,
        error=_storable(attempt.error, ERROR_KEEP),
        response_body=_storable(attempt.response_body, BODY_KEEP),
    )


async def _send(
    client: httpx.AsyncClient,
    guard: TargetGuard,
    key: bytes,
    event: Claimed,
    *,
    timeout: float,
    wall_clock: Callable[[], float],
) -> Attempt:
    import httpx

    started = time.perf_counter()

    def elapsed_ms() -> int:
        return round((time.perf_counter() - started) * 1000)

    try:
        async with asyncio.timeout(timeout):
            refused = await guard.refusal(event.url)
            if refused is not None:
                return Attempt(None, f"refused: {refused}", None, elapsed_ms(), refused=True)
            body = body_bytes(event.payload)
            headers = signed_headers(key, event.id, int(wall_clock()), body)
            async with client.stream("POST", event.url, content=body, headers=headers) as response:
                received = bytearray()
                async for chunk in response.aiter_raw():
                    received += chunk
                    if len(received) >= BODY_READ:
                        break
                text = received[: 4 * BODY_KEEP].decode("utf-8", "replace")
                code = response.status_code
                error = None if 200 <= code < 300 else _status_error(response)
                return Attempt(code, error, text, elapsed_ms(), response.headers.get("retry-after"))
    except (TimeoutError, httpx.TimeoutException):
        return Attempt(None, f"timeout after {timeout:g}s", None, elapsed_ms())
    except UnresolvableTarget as exc:
        return Attempt(None, str(exc), None, elapsed_ms())
    except httpx.ConnectError as exc:
        return Attempt(None, f"cannot connect: {_detail(exc)}", None, elapsed_ms())
    except httpx.RemoteProtocolError as exc:
        return Attempt(
            None, f"connection closed without a valid response: {_detail(exc)}", None, elapsed_ms()
        )
    except httpx.HTTPError as exc:
        return Attempt(None, f"{type(exc).__name__}: {_detail(exc)}", None, elapsed_ms())
    except Exception as exc:  # one odd receiver must not abort the whole pass (and strand its leases)
        log.exception("webhook %s: unexpected error while sending", event.id)
        return Attempt(None, f"unexpected error: {type(exc).__name__}: {_detail(exc)}", None, elapsed_ms())


def _storable(text: str | None, keep: int) -> str | None:
    """At most `keep` characters of `text` that any database stores: no NUL, valid UTF-8."""
    if text is None:
        return None
    text = text[:keep].replace("\x00", "\ufffd")
    return text.encode("utf-8", "replace").decode("utf-8")  # a lone surrogate becomes "?"


def _status_error(response: httpx.Response) -> str:
    if response.is_redirect:
        return f"HTTP {response.status_code} redirect (not followed)"
    return f"HTTP {response.status_code}"


def _detail(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
