"""The SSRF guard fails closed: every refused category, at creation, at delivery and at connect.

The connect-time guard is the last line: it must be in the path of every request the
webhook client makes, whatever the check before sending decided. These tests POST
through the real client and transport to a real receiver on loopback, so a request that
got past the guard would arrive there (or fail with another error than the refusal).
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ctripctl.webhooks.delivery import make_client
from ctripctl.webhooks.targets import check_target, is_forbidden
from ctripctl.webhooks.transport import GuardedBackend, WebhookTransport, make_transport
from tests.support.cli import Cli
from tests.support.receiver import Receiver
from tests.support.webhooks import events, hook_config, load, make_payments, run_flush

# category -> literal addresses; the first of each reaches this host's loopback where it can,
# so that without the guard the request would arrive at the test's receiver
REFUSED = {
    "loopback": ["127.0.0.1", "127.8.9.10", "::1"],
    "rfc1918": ["10.0.0.5", "172.16.0.1", "192.168.1.1"],
    "link-local": ["169.254.1.1", "fe80::1"],
    "metadata": ["169.254.169.254", "fd00:ec2::254", "100.100.100.200"],
    "cgnat": ["100.64.0.1", "100.127.255.254"],
    "unique-local": ["fc00::1", "fd12:3456:789a::1"],
    "ipv4-mapped": ["::ffff:127.0.0.1", "::ffff:10.1.2.3", "::ffff:169.254.169.254"],
    "nat64": ["64:ff9b::7f00:1", "64:ff9b::a00:1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::808:808"],
    "6to4": ["2002:7f00:1::1", "2002:a00:1::1", "2002:808:808::1"],
    "site-local": ["fec0::1", "feff::1"],
}
CASES = [(category, address) for category, addresses in REFUSED.items() for address in addresses]
PUBLIC = ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]


def url_for(address: str, port: int = 80) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"http://{host}:{port}/hook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


@pytest.mark.parametrize(("category", "address"), CASES)
def test_every_category_is_forbidden(category: str, address: str) -> None:
    assert is_forbidden(ipaddress.ip_address(address)), category


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert not is_forbidden(ipaddress.ip_address(address))
    assert check_target(url_for(address), allow_private=False) == url_for(address)


@pytest.mark.parametrize(("category", "address"), CASES)
def test_refused_at_creation(tmp_path: Path, sqlite_url: str, category: str, address: str) -> None:
    strict = Cli(hook_config(tmp_path / "strict.toml", sqlite_url, allow_private=False))
    run = strict("payment", "create", "--chain", "local", "--amount", "1", "--webhook-url", url_for(address))
    assert run.exit_code == 2, run
    assert "private or internal address" in run.stderr, (category, run)
    assert strict.ok("payment", "list") == []


async def post(url: str, *, allow_private: bool) -> int:
    async with make_client(concurrency=2, timeout=2, allow_private=allow_private) as client:
        return (await client.post(url, content=b"{}")).status_code


@pytest.mark.parametrize(("category", "address"), CASES)
def test_refused_at_connect(receiver: Receiver, category: str, address: str) -> None:
    """The client refuses before any packet leaves: not a timeout, not 'unreachable'."""
    with pytest.raises(httpx.ConnectError, match="private or internal"):
        asyncio.run(post(url_for(address, receiver.port), allow_private=False))
    assert receiver.requests == [], category


def test_the_guard_is_in_the_path_of_every_connection(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fails if any httpx/httpcore release (or a change here) opens a connection another way."""
    assert isinstance(make_transport(max_connections=2), WebhookTransport)
    connects: list[tuple[str, int]] = []
    connect_tcp = GuardedBackend.connect_tcp

    async def counting(self: GuardedBackend, host: str, port: int, *args: object, **kwargs: object) -> object:
        connects.append((host, port))
        return await connect_tcp(self, host, port, *args, **kwargs)

    monkeypatch.setattr(GuardedBackend, "connect_tcp", counting)
    # allowed: the request arrives (unsigned, so the receiver answers 401) through the guard
    assert asyncio.run(post(receiver.url(), allow_private=True)) == 401
    assert connects == [("127.0.0.1", receiver.port)]
    assert len(receiver.requests) == 1


def test_a_flush_whose_precheck_is_fooled_still_sends_nothing_inside(
    tmp_path: Path, sqlite_url: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding in effect: the check before sending passes, the connect must still refuse."""
    from ctripctl.webhooks import delivery

    lax = load(hook_config(tmp_path / "lax.toml", sqlite_url))
    make_payments(lax, 1, receiver.url())
    make_payments(lax, 1, f"http://localhost:{receiver.port}/by-name")
    make_payments(lax, 1, f"http://[::ffff:127.0.0.1]:{receiver.port}/mapped")
    monkeypatch.setattr(delivery, "check_target", lambda url, *, allow_private: url)
    strict = load(hook_config(tmp_path / "strict.toml", sqlite_url, allow_private=False))
    result = run_flush(strict)
    assert (result.attempted, result.failed, result.delivered) == (3, 3, 0)
    assert receiver.requests == []
    for e in events(strict):
        assert e.status == "pending" and "private or internal" in e.last_error, e.last_error
