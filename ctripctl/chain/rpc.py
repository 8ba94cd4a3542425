"""JSON-RPC over httpx: batches, timeouts, bounded retries, failover across rpc_urls.

One pooled keep-alive connection per URL. Every call has a timeout; transient failures
(connection errors, timeouts, 5xx, 429, JSON-RPC "internal"/rate-limit errors) are retried
with tenacity (bounded, exponential, jitter); then the next URL in `rpc_urls` is tried;
when all fail, NodeUnavailable is raised and the caller commits nothing. URLs are named
in messages only through `mask_url` (scheme, host and port): a hosted node's API key sits
in its path or query.

A node that reports another chain id than the config is refused (NodeUnavailable with
a clear message) — scanning the wrong chain would record payments that never happened.

The client is safe to share between threads: the scanner keeps a few batches in flight
from a small thread pool over the same pooled keep-alive httpx.Client (httpx.Client is
thread-safe; the request-id counter and `requests_sent` are guarded by a lock).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from ctripctl.errors import NodeUnavailable
from ctripctl.urls import mask_url, mask_urls_in

Call = tuple[str, Sequence[Any]]
#: Calls per HTTP request when a caller has many: public providers cap batches (some at 100).
CALLS_PER_REQUEST = 50


class TransientRpcError(Exception):
    """A failure worth retrying on the same URL (network, 5xx, rate limit)."""


class RpcError(Exception):
    """The node answered with a JSON-RPC error that retrying will not fix."""

    def __init__(self, method: str, code: int | None, message: str) -> None:
        super().__init__(f"{method}: {message} (code {code})")
        self.method = method
        self.code = code
        self.message = message


_TRANSIENT_CODES = {-32603, -32005, 429}  # internal error, limit exceeded, rate limited


class RpcClient:
    """A JSON-RPC client for one chain, failing over across its URLs in order."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        chain_id: int | None = None,
        timeout: float = 10.0,
        attempts: int = 3,
        backoff_max: float = 2.0,
        max_connections: int = 4,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """`timeout` bounds every HTTP request (connect, read, write, pool) in seconds;
        `transport` replaces the network in unit tests (httpx.MockTransport)."""
        if not urls:
            raise ValueError("at least one RPC URL is needed")
        self.urls = list(urls)
        self.expected_chain_id = chain_id
        self.timeout = timeout
        self.attempts = attempts
        self.backoff_max = backoff_max
        self.requests_sent = 0  # HTTP requests, for benchmarks and pass summaries
        self.failovers = 0  # times the working URL changed (callers may distrust a mixed answer)
        self._active = 0  # index of the URL that last worked
        self._verified: set[int] = set()
        self._ids = itertools.count(1)
        self.max_connections = max_connections
        self._transport = transport
        self._lock = threading.Lock()
        self._clients: dict[int, httpx.Client] = {}

    # -- public ---------------------------------------------------------------------------
    def call(self, method: str, *params: Any) -> Any:
        """One request; returns its result or raises RpcError / NodeUnavailable."""
        [result] = self.batch([(method, params)])
        if isinstance(result, RpcError):
            raise result
        return result

    def batch(self, calls: Sequence[Call]) -> list[Any]:
        """Send calls as one JSON-RPC batch (one HTTP request). Results in call order;
        a per-call JSON-RPC error comes back as an RpcError *value* in its slot."""
        if not calls:
            return []
        return self._with_failover(lambda index: self._send(index, calls))

    def batch_chunked(
        self, calls: Sequence[Call], size: int = CALLS_PER_REQUEST, *, in_flight: int = 1
    ) -> list[Any]:
        """`batch` for any number of calls: one request per `size` calls, up to `in_flight`
        of them at once (the node answers them on several cores), results in order."""
        chunks = [calls[start : start + size] for start in range(0, len(calls), size)]
        if in_flight <= 1 or len(chunks) <= 1:
            return [result for chunk in chunks for result in self.batch(chunk)]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(
            max_workers=min(in_flight, len(chunks)), thread_name_prefix="ctrip-rpc"
        ) as pool:
            return [result for answers in pool.map(self.batch, chunks) for result in answers]

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def __enter__(self) -> RpcClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def active_url(self) -> str:
        return mask_url(self.urls[self._active])

    # -- internals ------------------------------------------------------------------------
    def _client(self, index: int) -> httpx.Client:
        with self._lock:
            client = self._clients.get(index)
            if client is None:
                client = httpx.Client(
                    # A plain-http URL (a node on this host or a private network) never
                    # speaks TLS (redirects are not followed), so it gets no CA bundle:
                    # loading certifi's into an SSL context costs 50-90 ms of a cron run.
                    verify=urlsplit(self.urls[index]).scheme != "http",
                    timeout=self.timeout,
                    limits=httpx.Limits(
                        max_connections=self.max_connections,
                        max_keepalive_connections=self.max_connections,
                    ),
                    headers={"content-type": "application/json"},
                    transport=self._transport,
                )
                self._clients[index] = client
            return client

    def _with_failover(self, attempt: Any) -> Any:
        errors = []
        order = [self._active, *[i for i in range(len(self.urls)) if i != self._active]]
        for index in order:
            try:
                self._verify_chain(index)
                result = self._retrying(lambda index=index: attempt(index))
            except (TransientRpcError, _WrongChain) as exc:
                errors.append(f"{mask_url(self.urls[index])}: {mask_urls_in(str(exc))}")
                continue
            if index != self._active:
                self._active = index
                self.failovers += 1
            return result
        raise NodeUnavailable("no usable RPC URL: " + "; ".join(errors))

    def _retrying(self, fn: Any) -> Any:
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential_jitter(multiplier=0.1, max=self.backoff_max, jitter=0.2),
            retry=retry_if_exception_type(TransientRpcError),
            reraise=True,
        )
        try:
            return retrying(fn)
        except RetryError as exc:  # pragma: no cover - reraise=True re-raises the last error
            raise TransientRpcError(str(exc)) from None

    def _verify_chain(self, index: int) -> None:
        if self.expected_chain_id is None or index in self._verified:
            return
        [result] = self._retrying(lambda: self._send(index, [("eth_chainId", ())]))
        if isinstance(result, RpcError):
            raise TransientRpcError(f"eth_chainId failed: {result.message}")
        actual = int(result, 16)
        if actual != self.expected_chain_id:
            raise _WrongChain(f"node is on chain id {actual}, config says {self.expected_chain_id}")
        self._verified.add(index)

    def _send(self, index: int, calls: Sequence[Call]) -> list[Any]:
        with self._lock:
            first_id = next(self._ids)
            self._ids = itertools.count(first_id + len(calls))
            self.requests_sent += 1
        ids = range(first_id, first_id + len(calls))
        payload = [
            {"jsonrpc": "2.0", "id": i, "method": m, "params": list(p)}
            for i, (m, p) in zip(ids, calls, strict=True)
        ]
        try:
            response = self._client(index).post(self.urls[index], json=payload)
        except httpx.TimeoutException:
            raise TransientRpcError(f"timed out after {self.timeout:g}s") from None
        except httpx.TransportError as exc:
            # Never the URL itself: its path or query may hold the provider's API key.
            raise TransientRpcError(f"{type(exc).__name__}: {mask_urls_in(str(exc))}") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientRpcError(f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise TransientRpcError(f"HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise TransientRpcError("response is not JSON") from None
        if isinstance(body, dict) and "error" not in body:
            raise TransientRpcError("batch answered with a single non-error object")
        if isinstance(body, dict):  # some nodes answer a whole batch with one error object
            error = body.get("error") or {}
            raise TransientRpcError(f"batch refused: {error.get('message', body)}")
        by_id = {item.get("id"): item for item in body if isinstance(item, dict)}
        results: list[Any] = []
        for i, (method, _params) in zip(ids, calls, strict=True):
            item = by_id.get(i)
            if item is None:
                raise TransientRpcError(f"no answer for {method} in batch")
            if "error" in item:
                error = item["error"] or {}
                code, message = error.get("code"), str(error.get("message", error))
                if code in _TRANSIENT_CODES and not is_range_error(message):
                    raise TransientRpcError(f"{method}: {message}")
                results.append(RpcError(method, code, message))
            else:
                results.append(item.get("result"))
        return results


class _WrongChain(Exception):
    pass


def is_range_error(message: str) -> bool:
    """'Query returned more than 10000 results' / 'block range too large': split, don't retry."""
    text = message.lower()
    return any(
        marker in text
        for marker in ("too many", "range", "more than", "limit exceeded", "response size", "too large")
    )


def quantity(answer: Any, what: str) -> int:
    """A QUANTITY answer (balance, nonce, chain id) as an int; an error or anything else the
    node answered is NodeUnavailable naming `what`."""
    from ctripctl.evm.transactions import decode_uint

    if isinstance(answer, RpcError):
        raise NodeUnavailable(f"{what}: {answer.message}")
    try:
        return decode_uint(answer)
    except ValueError:
        raise NodeUnavailable(f"{what}: the node answered {str(answer)[:80]!r}") from None
