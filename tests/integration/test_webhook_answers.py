"""Odd answers from real receivers on loopback: no answer can stop a flush or lose an outcome.

Each test puts several payments in one pass, each to a receiver path with its own odd
answer, plus one well-behaved path; the pass must finish (exit 0), record every outcome
(the well-behaved one delivered), and schedule each failure by the normal schedule or a
usable Retry-After. SQLite and PostgreSQL both (PostgreSQL refuses NUL in text).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from ctripctl.config import Config
from ctripctl.webhooks.delivery import BODY_KEEP, ERROR_KEEP
from tests.support.cli import Cli
from tests.support.receiver import Receiver, Reply
from tests.support.webhooks import attempts, events, hook_config, load, make_payments, run_flush

FIRST_DELAY = (timedelta(seconds=4.4), timedelta(seconds=5.6))  # the schedule's 5 s, ±10 % jitter


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def config_path(tmp_path: Path, database_url: str) -> Path:
    return hook_config(tmp_path / "ctrip.toml", database_url, timeout="2s")


def by_path(receiver: Receiver, answers: dict[str, Reply]) -> None:
    """Answer each path as given; anything else (the well-behaved "/ok") gets 200."""
    receiver.script = lambda d: answers.get(d.path, Reply())


def one_payment_per_path(config: Config, urls: dict[str, str]) -> dict[str, str]:
    """path -> payment id, one payment (and so one payment.created event) per URL."""
    return {path: make_payments(config, 1, url)[0] for path, url in urls.items()}


def flush_cli(config_path: Path) -> dict[str, int]:
    return Cli(config_path).ok("webhooks", "flush")  # asserts exit 0


def delay_after_attempt(config: Config, payment_id: str) -> tuple[timedelta, str | None, int | None]:
    [event] = events(config, payment_id)
    [attempt] = attempts(config, event.id)
    assert event.status == "pending" and event.lease_until is None, (event.status, event.lease_until)
    return event.next_attempt_at - attempt.started_at, event.last_error, event.last_status_code


RETRY_AFTERS_ON_THE_SCHEDULE = {
    "/twenty-nines": "99999999999999999999",  # OverflowError before the fix
    "/five-thousand": "9" * 5000,  # ValueError (int max str digits) before the fix
    "/eleven-digits": "12345678901",
    "/negative": "-5",
    "/fraction": "1.5",
    "/plus": "+30",
    "/superscript": "²",  # str.isdigit() is true, int() is not
    "/arabic-indic": "١٢٣".encode().decode("latin-1"),  # sent as UTF-8 bytes, which httpx decodes
    "/garbage": "soon, please",
    "/past-date": "Sun, 06 Nov 1994 08:49:37 GMT",
    "/bad-date": "Sun, 99 Foo 2094 08:49:37 GMT",
    "/year-99999": "Sun, 06 Nov 99999 08:49:37 GMT",
    "/two-headers": "120, 130",
}


def test_unusable_retry_after_values_fall_back_to_the_schedule(config_path: Path, receiver: Receiver) -> None:
    config = load(config_path)
    answers = {
        path: Reply(429, {"retry-after": value}, b"slow down")
        for path, value in RETRY_AFTERS_ON_THE_SCHEDULE.items()
    }
    answers["/five-thousand"] = Reply(503, {"retry-after": "9" * 5000}, b"")
    by_path(receiver, answers)
    ids = one_payment_per_path(config, {path: receiver.url(path) for path in [*answers, "/ok"]})
    result = flush_cli(config_path)
    assert (result["attempted"], result["delivered"], result["failed"]) == (len(ids), 1, len(answers))
    for path in answers:
        delay, error, code = delay_after_attempt(config, ids[path])
        assert FIRST_DELAY[0] <= delay <= FIRST_DELAY[1], (path, delay)
        assert code == answers[path].status and error == f"HTTP {code}", path
    assert [e.status for e in events(config, ids["/ok"])] == ["delivered"]


def test_usable_retry_after_values_are_clamped_to_one_second_and_a_day(
    config_path: Path, receiver: Receiver
) -> None:
    config = load(config_path)
    in_ten_minutes = format_datetime(datetime.now(UTC) + timedelta(minutes=10), usegmt=True)
    answers = {
        "/zero": (Reply(429, {"retry-after": "0"}), timedelta(seconds=1)),
        "/two-minutes": (Reply(503, {"retry-after": " 120 "}), timedelta(seconds=120)),
        "/ten-digits": (Reply(429, {"retry-after": "9999999999"}), timedelta(hours=24)),
        "/date": (Reply(503, {"retry-after": in_ten_minutes}), timedelta(minutes=10)),
    }
    by_path(receiver, {path: reply for path, (reply, _) in answers.items()})
    ids = one_payment_per_path(config, {path: receiver.url(path) for path in [*answers, "/ok"]})
    result = flush_cli(config_path)
    assert (result["delivered"], result["failed"]) == (1, len(answers))
    for path, (_, expected) in answers.items():
        delay, _, _ = delay_after_attempt(config, ids[path])
        assert expected - timedelta(seconds=3) <= delay <= expected + timedelta(seconds=1), (path, delay)


def test_bodies_headers_statuses_and_redirects_of_any_kind(config_path: Path, receiver: Receiver) -> None:
    config = load(config_path)
    answers = {
        "/nul-and-binary": Reply(500, {}, b"\x00\xff\xfe bad \x00 \xc3\x28" * 100),
        "/huge-body": Reply(500, {}, b"z" * 5_000_000),
        "/huge-ok-body": Reply(200, {}, b"k" * 3_000_000),
        "/claims-gzip": Reply(500, {"content-encoding": "gzip"}, b"not gzip at all"),
        "/latin1-header": Reply(503, {"retry-after": "\xff\xfe120", "x-odd": "\x80\x81"}, b""),
        "/status-999": Reply(999, {}, b"?"),
        "/status-599": Reply(599, {}, b""),
        "/many-headers": Reply(500, {f"x-h{i}": "v" * 100 for i in range(80)}, b""),
        "/redirect-307": Reply(307, {"location": receiver.url("/elsewhere")}, b""),
        "/redirect-308-nowhere": Reply(308, {"location": "http://169.254.169.254/latest"}, b""),
        "/redirect-no-location": Reply(301, {}, b""),
    }
    by_path(receiver, answers)
    ids = one_payment_per_path(config, {path: receiver.url(path) for path in [*answers, "/ok"]})
    result = flush_cli(config_path)
    assert (result["attempted"], result["delivered"]) == (len(ids), 2), result
    assert [d.path for d in receiver.requests if d.path == "/elsewhere"] == []  # never followed
    for path in ("/ok", "/huge-ok-body"):
        assert [e.status for e in events(config, ids[path])] == ["delivered"], path
    for path, reply in answers.items():
        if reply.status == 200:
            continue
        delay, error, code = delay_after_attempt(config, ids[path])
        assert code == reply.status and error.startswith(f"HTTP {reply.status}"), (path, error)
        assert FIRST_DELAY[0] <= delay <= FIRST_DELAY[1], (path, delay)
    [stored] = attempts(config, events(config, ids["/nul-and-binary"])[0].id)
    assert "\x00" not in stored.response_body and stored.response_body.startswith("\ufffd\ufffd\ufffd bad")
    [huge] = attempts(config, events(config, ids["/huge-body"])[0].id)
    assert huge.response_body == "z" * BODY_KEEP


class RawServer:
    """A TCP server on loopback that reads one request and answers fixed bytes per path."""

    def __init__(self, answers: dict[str, bytes]) -> None:
        self.answers = answers
        self.paths: list[str] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            path = data.split(b" ", 2)[1].decode()
            self.paths.append(path)
            try:
                conn.sendall(self.answers[path])
                conn.shutdown(socket.SHUT_WR)
                conn.recv(1)  # let the client close first
            except OSError:
                pass

    def close(self) -> None:
        self.sock.close()


RAW_ANSWERS: dict[str, bytes] = {
    "/no-answer": b"",
    "/garbage-status-line": b"HTTP/1.1 abc Nope\r\ncontent-length: 0\r\n\r\n",
    "/not-http": b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
    "/binary": b"\x00\x01\x02\xff\r\n\r\n",
    "/two-digit-status": b"HTTP/1.1 42 Odd\r\ncontent-length: 0\r\n\r\n",
    "/negative-length": b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n",
    "/bad-chunks": b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n",
    "/short-body": b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly this",
    "/huge-header": b"HTTP/1.1 429 Busy\r\nretry-after: " + b"9" * 200_000 + b"\r\n\r\n",
    "/header-no-colon": b"HTTP/1.1 500 Oops\r\nthis is not a header\r\n\r\n",
    "/nul-in-reason": b"HTTP/1.1 500 Oo\x00ps\r\ncontent-length: 0\r\n\r\n",
    "/http-0.9": b"hello, this is just a body\n",
}


@pytest.fixture
def raw() -> Iterator[RawServer]:
    server = RawServer(RAW_ANSWERS)
    yield server
    server.close()


def test_garbage_on_the_wire_is_a_failed_attempt(
    config_path: Path, receiver: Receiver, raw: RawServer
) -> None:
    config = load(config_path)
    urls = {path: raw.url(path) for path in RAW_ANSWERS} | {"/ok": receiver.url("/ok")}
    ids = one_payment_per_path(config, urls)
    result = flush_cli(config_path)
    assert (result["attempted"], result["delivered"], result["failed"]) == (len(urls), 1, len(RAW_ANSWERS))
    assert sorted(raw.paths) == sorted(RAW_ANSWERS)
    for path in RAW_ANSWERS:
        delay, error, code = delay_after_attempt(config, ids[path])
        assert FIRST_DELAY[0] <= delay <= FIRST_DELAY[1], (path, delay)
        assert error and "\x00" not in error and len(error) <= ERROR_KEEP, (path, error)
        assert code is None or path == "/short-body", (path, code)


def test_a_failure_inside_one_attempt_loses_no_other_outcome(
    config_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever goes wrong with one event (here: an injected bug), the others are recorded."""
    from ctripctl.webhooks import schedule

    config = load(config_path)
    ids = one_payment_per_path(config, {path: receiver.url(path) for path in ("/a", "/bug", "/b", "/c")})
    decide: Callable[..., schedule.Decision] = schedule.decide

    def buggy(attempt: int, now: datetime, **kwargs: object) -> schedule.Decision:
        if kwargs["status_code"] == 418:
            raise RuntimeError("a bug while deciding")
        return decide(attempt, now, **kwargs)

    by_path(receiver, {"/bug": Reply(418, {}, b"teapot")})
    monkeypatch.setattr(schedule, "decide", buggy)
    result = run_flush(config)
    assert (result.delivered, result.attempted) == (3, 3)
    for path in ("/a", "/b", "/c"):
        assert [e.status for e in events(config, ids[path])] == ["delivered"], path
    [stuck] = events(config, ids["/bug"])  # waits out its lease, then is tried again
    assert stuck.status == "pending" and stuck.lease_until is not None and stuck.attempts == 1
    assert attempts(config, stuck.id) == []
