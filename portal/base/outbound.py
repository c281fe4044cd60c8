"""Guard outbound requests: refuse private, loopback and link-local addresses unless allowed."""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[..., Sequence[tuple[Any, ...]]]

SCHEMES = frozenset({"http", "https"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
# RFC 6052 NAT64 prefix: a NAT64 gateway would forward these to the embedded IPv4 address.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class OutboundRefused(Exception):
    """An outbound URL is not allowed; the message says why in plain words."""


def parse_allow(allow: str) -> list[IPNetwork]:
    """Parse a comma-separated list of networks such as ``127.0.0.0/8, ::1``."""
    networks: list[IPNetwork] = []
    for item in allow.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP network, like 127.0.0.0/8") from None
    return networks


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4 or NAT64), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _is_forbidden(address: IPAddress) -> bool:
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        # Judge where the packets would really go, so ::ffff:10.0.0.1 is as private as 10.0.0.1.
        return _is_forbidden(embedded)
    return bool(
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        # Also catches shared (100.64.0.0/10), documentation and benchmarking ranges.
        or not address.is_global
    )


def _is_allowed(address: IPAddress, networks: Sequence[IPNetwork]) -> bool:
    candidates = [address]
    if (embedded := _embedded_ipv4(address)) is not None:
        candidates.append(embedded)
    return any(a in net for a in candidates for net in networks if a.version == net.version)


def check_url(
    url: str, allow: str = "", *, resolve: Resolver = socket.getaddrinfo
) -> list[str]:
    """Check an outbound URL and return the addresses its host resolves to."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise OutboundRefused("the URL is not well formed") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise OutboundRefused("only http and https URLs are allowed")
    if "@" in parts.netloc:
        raise OutboundRefused("the URL must not contain a user name or password")
    host = parts.hostname
    if not host:
        raise OutboundRefused("the URL has no host")
    try:
        networks = parse_allow(allow)
    except ValueError as exc:
        raise OutboundRefused(f"PORTAL_OUTBOUND_ALLOW is not valid: {exc}") from None
    try:
        infos = resolve(host, port or _DEFAULT_PORTS[scheme], type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise OutboundRefused(f"the host {host!r} cannot be resolved") from None
    addresses: list[str] = []
    for info in infos:
        text = str(info[4][0])
        if text not in addresses:
            addresses.append(text)
    if not addresses:
        raise OutboundRefused(f"the host {host!r} cannot be resolved")
    for text in addresses:
        try:
            address = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            raise OutboundRefused(f"the host {host!r} resolved to {text!r}") from None
        if _is_forbidden(address) and not _is_allowed(address, networks):
            # Every address must pass: a client may connect to any of them.
            raise OutboundRefused(
                f"the host {host!r} resolves to the non-public address {text}"
            )
    return addresses


class _PinnedMixin:
    """Connect only to addresses already checked, so a second DNS answer cannot differ."""

    _addresses: Sequence[str]

    def _pin(self, addresses: Sequence[str]) -> None:
        self._addresses = addresses
        self._create_connection = self._connect_checked

    def _connect_checked(
        self,
        address: tuple[str, int],
        timeout: Any = None,
        source_address: tuple[str, int] | None = None,
    ) -> socket.socket:
        error: OSError | None = None
        for ip in self._addresses:
            try:
                return socket.create_connection((ip, address[1]), timeout, source_address)
            except OSError as exc:
                error = exc
        raise error or OSError("no address to connect to")


class PinnedHTTPConnection(_PinnedMixin, http.client.HTTPConnection):
    def __init__(self, host: str, port: int | None, addresses: Sequence[str],
                 *, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._pin(addresses)


class PinnedHTTPSConnection(_PinnedMixin, http.client.HTTPSConnection):
    def __init__(self, host: str, port: int | None, addresses: Sequence[str],
                 *, timeout: float) -> None:
        # TLS still verifies the certificate against the host name, not the pinned address.
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._pin(addresses)


def pinned_connection(
    url: str, allow: str = "", *, timeout: float, resolve: Resolver = socket.getaddrinfo
) -> tuple[http.client.HTTPConnection, str]:
    """Check a URL and return an unopened connection to its checked addresses and the target.

    Plain ``http.client`` rather than ``urllib``: urllib follows redirects, honours proxy
    variables and resolves the host again, each a way around the check.
    """
    addresses = check_url(url, allow, resolve=resolve)
    parts = urlsplit(url)
    host = parts.hostname or ""
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    cls = PinnedHTTPSConnection if parts.scheme.lower() == "https" else PinnedHTTPConnection
    return cls(host, parts.port, addresses, timeout=timeout), target
