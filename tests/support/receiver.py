"""A real webhook receiver on loopback that verifies every request with `standardwebhooks`.

It is what a merchant would run: an HTTP/1.1 server (keep-alive, a thread per
connection) whose requests are checked with the reference Standard Webhooks library.
A request that fails verification is answered 401 and recorded as unverified, so tests
can assert that every delivery verified. Tests script the answers::

    with Receiver() as r:
        r.script = fail_first(2, status=500)      # per webhook-id: 500, 500, then 200
        r.script = always(410)
        r.script = always(429, {"retry-after": "120"})
        r.script = hang(5)                        # answer only after 5 s (client times out)
        r.script = close()                        # drop the connection without an answer

Standalone (for benchmarks and multi-process tests)::

    python -m tests.support.receiver --delay 0.02   # prints "PORT <n>", serves GET /stats
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.support.config import TEST_SECRET


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"


@dataclass(frozen=True)
class Hang:
    seconds: float


@dataclass(frozen=True)
class Close:
    pass


Answer = Reply | Hang | Close


@dataclass
class Delivery:
    """One request as received, and the status it was answered with (None: no answer)."""

    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    nth: int  # how many requests with this webhook-id arrived so far, this one included
    received_at: float
    client_port: int = 0  # tells connections apart: keep-alive reuse shows as repeats
    answered: int | None = None

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")

    @property
    def payload(self) -> Any:
        return json.loads(self.body)


Script = Callable[[Delivery], Answer]


def ok() -> Script:
    return lambda d: Reply()


def always(status: int, headers: dict[str, str] | None = None, body: bytes = b"nope") -> Script:
    return lambda d: Reply(status, headers or {}, body)


def fail_first(n: int, status: int = 500) -> Script:
    """For each webhook-id, answer `status` to the first n requests, then 200."""
    return lambda d: Reply(status, {}, b"not yet") if d.nth <= n else Reply()


def hang(seconds: float) -> Script:
    return lambda d: Hang(seconds)


def close() -> Script:
    return lambda d: Close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # listen backlog: a flusher opens dozens of connections at once


class Receiver:
    """A verifying HTTP receiver on 127.0.0.1 (free port), served from a background thread."""

    def __init__(self, secret: str = TEST_SECRET, *, delay: float = 0.0, port: int = 0) -> None:
        self.webhook = Webhook(secret)
        self.delay = delay
        self.script: Script = ok()
        self.requests: list[Delivery] = []
        self._lock = threading.Lock()
        self._seen: Counter[str] = Counter()
        self._stopping = threading.Event()
        self.server = _Server(("127.0.0.1", port), self._handler_class())
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    # --- what arrived -------------------------------------------------------------------
    @property
    def accepted(self) -> list[Delivery]:
        """Verified requests that were answered 2xx (i.e. deliveries), in arrival order."""
        with self._lock:
            return [d for d in self.requests if d.verified and d.answered is not None and d.answered < 300]

    def delivered_ids(self) -> Counter[str]:
        """webhook-id → how many times it was delivered (2xx)."""
        return Counter(d.webhook_id for d in self.accepted)

    def unverified(self) -> list[Delivery]:
        with self._lock:
            return [d for d in self.requests if not d.verified]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"receiver: condition not met within {timeout}s")
            time.sleep(0.01)

    def stats(self) -> dict[str, Any]:
        ids = self.delivered_ids()
        return {
            "requests": len(self.requests),
            "delivered": sum(ids.values()),
            "unique": len(ids),
            "duplicates": sum(n - 1 for n in ids.values() if n > 1),
            "unverified": len(self.unverified()),
        }

    # --- lifecycle ----------------------------------------------------------------------
    def stop(self) -> None:
        self._stopping.set()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the HTTP side ------------------------------------------------------------------
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else headers and body wait on the client's delayed ACK

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path != "/stats":
                    self._reply(Reply(404, {}, b"not found"))
                    return
                self._reply(
                    Reply(200, {"content-type": "application/json"}, json.dumps(receiver.stats()).encode())
                )

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    receiver.webhook.verify(body, headers)
                    verified = True
                except (WebhookVerificationError, ValueError):
                    verified = False
                with receiver._lock:
                    receiver._seen[headers.get("webhook-id", "")] += 1
                    delivery = Delivery(
                        self.path,
                        headers,
                        body,
                        verified,
                        receiver._seen[headers.get("webhook-id", "")],
                        time.time(),
                        self.client_address[1],
                    )
                    receiver.requests.append(delivery)
                answer: Answer = receiver.script(delivery) if verified else Reply(401, {}, b"bad signature")
                if receiver.delay:
                    time.sleep(receiver.delay)
                if isinstance(answer, Close):
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if isinstance(answer, Hang):
                    if receiver._stopping.wait(answer.seconds):
                        self.close_connection = True
                        return
                    answer = Reply()
                with receiver._lock:  # before writing: the client must not see it first
                    delivery.answered = answer.status
                if not self._reply(answer):
                    with receiver._lock:
                        delivery.answered = None

            def _reply(self, answer: Reply) -> bool:
                try:
                    self.send_response(answer.status)
                    for key, value in answer.headers.items():
                        self.send_header(key, value)
                    self.send_header("content-length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True
                    return False
                return True

        return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    args = parser.parse_args()
    receiver = Receiver(delay=args.delay, port=args.port)
    print(f"PORT {receiver.port}", flush=True)
    try:
        sys.stdin.read()  # runs until stdin closes (the parent exits or closes the pipe)
    finally:
        receiver.stop()


if __name__ == "__main__":
    main()
