"""A loopback JSON-RPC proxy in front of anvil that misbehaves on demand.

Modes (settable while running):
    "forward"  pass requests through to the upstream node
    "error"    answer HTTP 500
    "hang"     accept the request and never answer (until the proxy stops)
    "close"    close the connection without answering
    "gate"     hold each request until `release()`, then forward it

`fail_after=N`: forward the first N requests, then answer HTTP 500 (a node dying mid-pass).
`hook=f`: `f(body, forward) -> (status, answer)` decides every answer itself (body and
answer as parsed JSON; `forward(body)` asks the upstream node) — for rewriting answers.
`requests` counts the POSTs received; `arrived` is set when the first one comes in.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

Answer = tuple[int, Any]
Hook = Callable[[Any, Callable[[Any], Answer]], Answer]


class RpcProxy:
    def __init__(
        self,
        upstream: str,
        mode: str = "forward",
        fail_after: int | None = None,
        hook: Hook | None = None,
    ) -> None:
        self.upstream = upstream
        self.hook = hook
        self.mode = mode
        self.fail_after = fail_after
        self.requests = 0
        self.arrived = threading.Event()
        self._gate = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=30)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with proxy._lock:
                    proxy.requests += 1
                    count = proxy.requests
                proxy.arrived.set()
                if proxy.hook is not None:
                    status, answer = proxy.hook(json.loads(body), proxy.forward)
                    self._reply(status, json.dumps(answer).encode())
                    return
                mode = proxy.mode
                if proxy.fail_after is not None and count > proxy.fail_after:
                    mode = "error"
                if mode == "error":
                    self._reply(500, b'{"error": "upstream exploded"}')
                elif mode == "hang":
                    proxy._stopping.wait(60)
                    self.close_connection = True
                elif mode == "close":
                    self.close_connection = True
                else:
                    if mode == "gate":
                        proxy._gate.wait(60)
                    answer = proxy._client.post(
                        proxy.upstream, content=body, headers={"content-type": "application/json"}
                    )
                    self._reply(answer.status_code, answer.content)

            def _reply(self, status: int, content: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def forward(self, body: Any) -> Answer:
        """Ask the upstream node; (HTTP status, parsed JSON answer)."""
        answer = self._client.post(self.upstream, json=body)
        return answer.status_code, answer.json()

    def release(self) -> None:
        """Let gated requests (and all later ones) through."""
        self._gate.set()

    def stop(self) -> None:
        self._stopping.set()
        self._gate.set()
        self.server.shutdown()
        self.server.server_close()
        self._client.close()


def refusing(prefixes: tuple[str, ...]) -> Callable[[Any, Callable[[Any], Answer]], Answer]:
    """A hook for a node without these method families: "method not found" (-32601) for
    them, e.g. refusing(("debug_", "trace_")) for a node without a tracing API."""

    def hook(body: Any, forward: Callable[[Any], Answer]) -> Answer:
        calls = body if isinstance(body, list) else [body]
        status, answer = forward(calls)
        for item, call in zip(answer, calls, strict=True):
            if call["method"].startswith(prefixes):
                item.pop("result", None)
                item["error"] = {"code": -32601, "message": f"the method {call['method']} does not exist"}
        return status, answer

    return hook
