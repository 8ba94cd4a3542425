"""Where a webhook may be sent: refuse private, loopback, link-local and metadata targets.

A payment gateway that POSTs to merchant-supplied URLs must not become a way to reach
the operator's internal network (SSRF). The URL's host is resolved and every address
it resolves to is checked, at creation and again at delivery (DNS can change), and once
more at connect time (`transport.GuardedBackend`).
`[webhooks] allow_private_targets = true` lifts the check (local development, tests).

Refused: loopback, RFC 1918, link-local, cloud metadata, CGNAT (100.64.0.0/10), IPv6
unique-local (fc00::/7) and site-local (fec0::/10), multicast, reserved and unspecified
addresses; IPv4 embedded in IPv6 is judged as that IPv4 (IPv4-mapped ::ffff:0:0/96 and NAT64
64:ff9b::/96, where DNS64 puts IPv4-only hosts); 6to4 (2002::/16) and local-use NAT64
(64:ff9b:1::/48) are refused outright, since their relays reach whatever IPv4 address
they embed.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from ctripctl.domain.inputs import check_webhook_url
from ctripctl.errors import InputError

_METADATA = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack
    ipaddress.ip_address("fd00:ec2::254"),  # AWS IPv6
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnresolvableTarget(InputError):
    """The webhook host does not resolve (now): at delivery a transient failure, not a refusal."""


_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # DNS64 maps IPv4-only hosts here: judge the IPv4
_REFUSED_V6 = (
    ipaddress.ip_network("fec0::/10"),  # site-local (deprecated, still routed inside some networks)
    ipaddress.ip_network("2002::/16"),  # 6to4: the relay reaches the IPv4 address it embeds
    ipaddress.ip_network("64:ff9b:1::/48"),  # NAT64 for local use: translates into the local network
)


def is_forbidden(ip: IPAddress) -> bool:
    """True for addresses a public webhook must never reach (see the module doc)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if any(ip in net for net in _REFUSED_V6):
            return True
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return (
        ip in _METADATA
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT)
    )


def resolve(host: str, port: int) -> list[IPAddress]:
    """All addresses `host` resolves to (a literal IP resolves to itself)."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnresolvableTarget(f"webhook host {host!r} does not resolve: {exc}") from None
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


def check_target(url: str, *, allow_private: bool) -> str:
    """Validate a webhook URL's syntax and, unless allowed, that it is publicly routable."""
    check_webhook_url(url)
    if allow_private:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    for ip in resolve(host, port):
        if is_forbidden(ip):
            raise InputError(
                f"webhook URL {url!r} points to a private or internal address ({ip}); "
                "set [webhooks] allow_private_targets = true to allow it"
            )
    return url


class HostChecks:
    """`check_target` for many URLs at once (a CSV import): each distinct host is resolved once."""

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private
        self._passed: set[str] = set()

    def __call__(self, url: str) -> str:
        check_webhook_url(url)
        if self.allow_private:
            return url
        host = (urlsplit(url).hostname or "").lower()
        if host not in self._passed:
            check_target(url, allow_private=False)
            self._passed.add(host)
        return url
