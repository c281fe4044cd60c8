from __future__ import annotations

import socket

import pytest

from portal.base.outbound import OutboundRefused, check_url, parse_allow, pinned_connection


def resolver(*addresses: str):  # type: ignore[no-untyped-def]
    """A fake getaddrinfo answering with the given addresses and recording what it was asked."""
    asked: list[tuple[object, ...]] = []

    def resolve(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        asked.append((host, port))
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
             (a, port, 0, 0) if ":" in a else (a, port))
            for a in addresses
        ]

    resolve.asked = asked  # type: ignore[attr-defined]
    return resolve


def failing_resolve(*args, **kwargs):  # type: ignore[no-untyped-def]
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def test_check_url_allows_public_address() -> None:
    resolve = resolver("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946")
    addresses = check_url("https://example.com/verify?x=1", resolve=resolve)
    assert addresses == ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]
    assert resolve.asked == [("example.com", 443)]


def test_check_url_uses_port_from_url_or_scheme() -> None:
    resolve = resolver("93.184.216.34")
    check_url("http://example.com/", resolve=resolve)
    check_url("https://example.com:8443/", resolve=resolve)
    assert resolve.asked == [("example.com", 80), ("example.com", 8443)]


def test_check_url_removes_duplicate_addresses() -> None:
    assert check_url("http://example.com/", resolve=resolver("1.1.1.1", "1.1.1.1")) == ["1.1.1.1"]


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",  # loopback
        "127.8.9.10",
        "10.1.2.3",  # private
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # link-local: cloud metadata
        "100.64.0.1",  # shared address space (carrier-grade NAT)
        "0.0.0.0",  # noqa: S104  unspecified
        "224.0.0.1",  # multicast
        "233.252.0.1",
        "240.0.0.1",  # reserved
        "255.255.255.255",
        "192.0.2.10",  # documentation
        "::1",
        "::",
        "fc00::1",  # unique local
        "fd12:3456:789a::1",
        "fe80::1",  # link-local
        "ff02::1",  # multicast
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "2002:7f00:1::",  # 6to4 for 127.0.0.1
        "2002:a00:1::",  # 6to4 for 10.0.0.1
        "64:ff9b::7f00:1",  # NAT64 for 127.0.0.1
        "2001:db8::1",  # documentation
    ],
)
def test_check_url_refuses_non_public_address(address: str) -> None:
    with pytest.raises(OutboundRefused, match="non-public address"):
        check_url("https://example.com/", resolve=resolver(address))


def test_check_url_refuses_when_any_address_is_private() -> None:
    with pytest.raises(OutboundRefused, match=r"10\.0\.0\.5"):
        check_url("https://example.com/", resolve=resolver("93.184.216.34", "10.0.0.5"))


@pytest.mark.parametrize("address", ["::ffff:93.184.216.34", "2002:5db8:d822::1"])
def test_check_url_allows_ipv6_forms_of_public_ipv4(address: str) -> None:
    assert check_url("https://example.com/", resolve=resolver(address)) == [address]


@pytest.mark.parametrize(
    ("allow", "address"),
    [
        ("127.0.0.0/8", "127.0.0.1"),
        ("127.0.0.0/8", "::ffff:127.0.0.1"),
        ("10.0.0.0/8, ::1", "::1"),
        (" 192.168.0.0/16 ,", "192.168.4.5"),
        ("fd00::/8", "fd12::7"),
        ("169.254.169.254", "169.254.169.254"),
    ],
)
def test_check_url_allows_address_in_allow_list(allow: str, address: str) -> None:
    assert check_url("http://internal/", allow, resolve=resolver(address)) == [address]


def test_check_url_refuses_address_outside_allow_list() -> None:
    with pytest.raises(OutboundRefused):
        check_url("http://internal/", "127.0.0.0/8", resolve=resolver("10.0.0.1"))


def test_check_url_resolves_ip_literals_without_dns() -> None:
    assert check_url("http://127.0.0.1:8080/x", "127.0.0.0/8") == ["127.0.0.1"]
    with pytest.raises(OutboundRefused):
        check_url("http://127.0.0.1:8080/x")
    with pytest.raises(OutboundRefused):
        check_url("http://[::1]/")
    # inet_aton reads a bare number as an IPv4 address.
    with pytest.raises(OutboundRefused):
        check_url("http://2130706433/")


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/", "file:///etc/passwd", "gopher://example.com/", "javascript:alert(1)",
     "example.com/path", "//example.com/", ""],
)
def test_check_url_refuses_other_schemes(url: str) -> None:
    with pytest.raises(OutboundRefused, match="only http and https"):
        check_url(url, resolve=resolver("93.184.216.34"))


@pytest.mark.parametrize(
    "url",
    ["https://user:pass@example.com/", "https://user@example.com/",
     "http://example.com@127.0.0.1/", "http://:@example.com/"],
)
def test_check_url_refuses_userinfo(url: str) -> None:
    with pytest.raises(OutboundRefused, match="user name or password"):
        check_url(url, resolve=resolver("93.184.216.34"))


@pytest.mark.parametrize("url", ["http://", "https:///path", "http://:80/"])
def test_check_url_refuses_missing_host(url: str) -> None:
    with pytest.raises(OutboundRefused, match="no host"):
        check_url(url, resolve=resolver("93.184.216.34"))


def test_check_url_refuses_bad_port() -> None:
    with pytest.raises(OutboundRefused, match="not well formed"):
        check_url("http://example.com:99999/", resolve=resolver("93.184.216.34"))


def test_check_url_refuses_unresolvable_host() -> None:
    with pytest.raises(OutboundRefused, match="cannot be resolved"):
        check_url("https://no-such-host.invalid/", resolve=failing_resolve)


def test_check_url_refuses_empty_resolution() -> None:
    with pytest.raises(OutboundRefused, match="cannot be resolved"):
        check_url("https://example.com/", resolve=resolver())


def test_check_url_refuses_bad_allow_list() -> None:
    with pytest.raises(OutboundRefused, match="PORTAL_OUTBOUND_ALLOW"):
        check_url("https://example.com/", "localhost", resolve=resolver("93.184.216.34"))


def test_parse_allow_reads_networks_and_skips_blanks() -> None:
    networks = parse_allow(" 127.0.0.0/8, ,::1,10.1.2.3/8 ")
    assert [str(n) for n in networks] == ["127.0.0.0/8", "::1/128", "10.0.0.0/8"]
    assert parse_allow("") == []


def test_parse_allow_refuses_non_network() -> None:
    with pytest.raises(ValueError, match="not an IP network"):
        parse_allow("127.0.0.0/8,intranet")


def test_pinned_connection_connects_to_checked_address_only() -> None:
    """The host name is not looked up again at connect time (no DNS rebinding)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        resolve = resolver("127.0.0.1")
        conn, target = pinned_connection(
            f"http://rebind.example:{port}/v1/check?a=b", "127.0.0.0/8", timeout=2,
            resolve=resolve,
        )
        try:
            assert target == "/v1/check?a=b"
            assert conn.host == "rebind.example"
            conn.connect()  # rebind.example does not exist: only the pinned address works
            accepted, _ = server.accept()
            accepted.close()
        finally:
            conn.close()
        assert resolve.asked == [("rebind.example", port)]


def test_pinned_connection_refuses_before_connecting() -> None:
    with pytest.raises(OutboundRefused):
        pinned_connection("http://127.0.0.1:9/", timeout=1)
