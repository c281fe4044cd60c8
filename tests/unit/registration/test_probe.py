"""The shop-site probe, against real TLS and HTTP servers on 127.0.0.1 and a test CA."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme

from portal.registration.site_probe import (
    CERTIFICATE_VALID,
    DOMAIN_VALID,
    HSTS,
    HTTP_REDIRECTS_TO_HTTPS,
    HTTPS_REACHABLE,
    OUTBOUND_ALLOWED,
    SECURITY_HEADERS,
    Finding,
    ProbeResult,
    normalize_domain,
    probe_site,
)

HOST = "shop.test"
IDN_HOST = "xn--bcher-kva.test"  # bücher.test
ALLOW = "127.0.0.0/8"
CHECKS = [HTTPS_REACHABLE, CERTIFICATE_VALID, HTTP_REDIRECTS_TO_HTTPS, HSTS, SECURITY_HEADERS]
GOOD_UNTIL = datetime(2099, 6, 30, 12, 0, tzinfo=UTC)
GOOD_HEADERS = {
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
}


def resolve(host: str, port: int, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
    """A fake getaddrinfo: the test host names live on 127.0.0.1, nothing else exists."""
    if host not in {HOST, IDN_HOST}:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- certificates ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="module")
def certs(ca: trustme.CA) -> dict[str, trustme.LeafCert]:
    now = datetime.now(UTC)
    return {
        "good": ca.issue_cert(HOST, not_after=GOOD_UNTIL),
        "idn": ca.issue_cert(IDN_HOST),
        "other_host": ca.issue_cert("other.test"),
        "expired": ca.issue_cert(
            HOST, not_before=now - timedelta(days=30), not_after=now - timedelta(days=1)
        ),
        "untrusted": trustme.CA().issue_cert(HOST),
    }


# --- servers --------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    # Join handler threads on close, so nothing outlives the test.
    daemon_threads = False

    def __init__(self, status: int, headers: dict[str, str], tls: ssl.SSLContext | None):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.status = status
        self.answer_headers = headers
        self.tls = tls
        self.hosts: list[str] = []

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        if self.tls is not None:
            # Handshake in the handler thread, so a client refusing the certificate cannot
            # stall the accept loop.
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that refuses the certificate aborts the handshake: expected here.
        pass


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self.server.hosts.append(self.headers.get("Host", ""))
        body = b"<!doctype html><title>shop</title>"
        self.send_response(self.server.status)
        for name, value in self.server.answer_headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Site:
    https_port: int
    http_port: int
    https: _Server | None = None
    http: _Server | None = None

    def probe(self, domain: str = HOST, **kwargs: Any) -> ProbeResult:
        kwargs.setdefault("allow", ALLOW)
        kwargs.setdefault("timeout", 3.0)
        kwargs.setdefault("resolve", resolve)
        return probe_site(
            domain, https_port=self.https_port, http_port=self.http_port, **kwargs
        )


SiteFactory = Callable[..., Site]


@pytest.fixture
def site(certs: dict[str, trustme.LeafCert], ca_file: str) -> Iterator[SiteFactory]:
    """Start an HTTPS server and, unless ``http`` is None, a plain HTTP server beside it."""
    started: list[tuple[_Server, threading.Thread]] = []

    def start(status: int, headers: dict[str, str], tls: ssl.SSLContext | None) -> _Server:
        server = _Server(status, headers, tls)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        started.append((server, thread))
        return server

    def make(
        *,
        cert: str = "good",
        headers: dict[str, str] | None = None,
        http: str | None = "redirect",
        location: str | None = None,
    ) -> Site:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        certs[cert].configure_cert(context)
        https = start(200, GOOD_HEADERS if headers is None else headers, context)
        result = Site(https.port, free_port(), https=https)
        if http == "redirect":
            target = location or f"https://{HOST}:{https.port}/"
            result.http = start(301, {"Location": target}, None)
        elif http == "serve":
            result.http = start(200, {}, None)
        if result.http is not None:
            result.http_port = result.http.port
        return result

    yield make
    for server, thread in started:
        server.shutdown()
        server.server_close()
        thread.join(5)


def by_check(result: ProbeResult) -> dict[str, Finding]:
    return {f.check: f for f in result.findings}


def assert_json_safe(value: object) -> None:
    if isinstance(value, dict):
        assert all(isinstance(k, str) for k in value)
        for item in value.values():
            assert_json_safe(item)
    elif isinstance(value, list):
        for item in value:
            assert_json_safe(item)
    else:
        assert type(value) in (str, bool), value


# --- a good site ----------------------------------------------------------------------------


def test_good_site_passes_every_check(site: SiteFactory, ca_file: str) -> None:
    s = site()
    result = s.probe(ca_file=ca_file)
    assert [f.check for f in result.findings] == CHECKS
    assert all(f.ok for f in result.findings), result.findings
    assert result.ok and result.reachable
    assert result.domain == HOST
    found = by_check(result)
    assert found[HTTPS_REACHABLE].detail == "HTTP 200"
    assert found[CERTIFICATE_VALID].detail == f"valid for {HOST} until 2099-06-30T12:00:00Z"
    assert found[HTTP_REDIRECTS_TO_HTTPS].detail == f"HTTP 301 to https://{HOST}:{s.https_port}/"
    assert found[HSTS].detail.startswith("max-age is 365 days")
    assert "nosniff" in found[SECURITY_HEADERS].detail
    # The servers were asked for the site by name, not by address.
    assert s.https is not None and s.http is not None
    assert s.https.hosts == [f"{HOST}:{s.https_port}"]
    assert s.http.hosts == [f"{HOST}:{s.http_port}"]


def test_result_as_dict_is_json_safe(site: SiteFactory, ca_file: str) -> None:
    result = site(headers={}).probe(ca_file=ca_file)
    data = result.as_dict()
    assert_json_safe(data)
    assert json.loads(json.dumps(data)) == data
    assert data["ok"] is False and data["reachable"] is True
    assert data["domain"] == HOST
    assert datetime.strptime(data["checked_at"], "%Y-%m-%dT%H:%M:%SZ")
    assert [f["check"] for f in data["findings"]] == CHECKS
    assert result.finding(HSTS) == Finding(HSTS, False, "no Strict-Transport-Security header")
    assert result.finding(OUTBOUND_ALLOWED) is None


def test_idn_domain_is_probed_in_ascii_form(site: SiteFactory, ca_file: str) -> None:
    s = site(cert="idn", location=f"https://{IDN_HOST}/")
    result = s.probe("Bücher.test", ca_file=ca_file)
    assert result.domain == IDN_HOST
    assert result.ok, result.findings


def test_x_frame_options_is_enough_frame_protection(site: SiteFactory, ca_file: str) -> None:
    headers = {**GOOD_HEADERS, "X-Frame-Options": "SAMEORIGIN"}
    del headers["Content-Security-Policy"]
    result = site(headers=headers).probe(ca_file=ca_file)
    assert result.ok, result.findings
    assert "X-Frame-Options: SAMEORIGIN" in by_check(result)[SECURITY_HEADERS].detail


# --- bad certificates -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cert", "reason"),
    [
        ("other_host", "Hostname mismatch"),
        ("expired", "certificate has expired"),
        ("untrusted", "unable to get local issuer certificate"),
    ],
)
def test_bad_certificate_fails(site: SiteFactory, ca_file: str, cert: str, reason: str) -> None:
    result = site(cert=cert).probe(ca_file=ca_file)
    found = by_check(result)
    assert not found[HTTPS_REACHABLE].ok
    assert reason in found[HTTPS_REACHABLE].detail
    assert not found[CERTIFICATE_VALID].ok
    assert reason in found[CERTIFICATE_VALID].detail
    # Without an answer there are no headers to judge; nothing retries without verification.
    assert found[HSTS].detail == "not checked: no HTTPS answer"
    assert found[SECURITY_HEADERS].detail == "not checked: no HTTPS answer"
    assert found[HTTP_REDIRECTS_TO_HTTPS].ok
    assert result.reachable and not result.ok


def test_system_trust_store_does_not_trust_the_test_ca(site: SiteFactory) -> None:
    found = by_check(site().probe())
    assert not found[CERTIFICATE_VALID].ok
    assert not found[HTTPS_REACHABLE].ok


def test_plain_http_on_the_https_port_fails_the_handshake(site: SiteFactory,
                                                          ca_file: str) -> None:
    s = site(http="serve")
    assert s.http is not None
    s.https_port = s.http.port
    found = by_check(s.probe(ca_file=ca_file))
    assert not found[HTTPS_REACHABLE].ok
    assert "TLS handshake failed" in found[HTTPS_REACHABLE].detail
    assert found[CERTIFICATE_VALID].detail == "not checked: the TLS handshake did not finish"


# --- headers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hsts", "detail"),
    [
        (None, "no Strict-Transport-Security header"),
        ("max-age=86400", "max-age is 1 day, under 180: max-age=86400"),
        ("max-age=15551999; preload", "max-age is 179 days, under 180"),
        ("includeSubDomains", "has no valid max-age"),
        ('max-age="abc"', "has no valid max-age"),
    ],
)
def test_missing_or_short_hsts_fails(site: SiteFactory, ca_file: str, hsts: str | None,
                                     detail: str) -> None:
    headers = {k: v for k, v in GOOD_HEADERS.items() if k != "Strict-Transport-Security"}
    if hsts is not None:
        headers["Strict-Transport-Security"] = hsts
    found = by_check(site(headers=headers).probe(ca_file=ca_file))
    assert not found[HSTS].ok
    assert detail in found[HSTS].detail
    assert all(f.ok for f in found.values() if f.check != HSTS)


def test_hsts_of_exactly_180_days_passes(site: SiteFactory, ca_file: str) -> None:
    headers = {**GOOD_HEADERS, "Strict-Transport-Security": 'max-age="15552000"'}
    assert by_check(site(headers=headers).probe(ca_file=ca_file))[HSTS].ok


@pytest.mark.parametrize(
    ("drop", "add", "missing"),
    [
        (["X-Content-Type-Options"], {}, ["X-Content-Type-Options: nosniff"]),
        (["Content-Security-Policy"], {}, ["frame protection"]),
        (
            ["Content-Security-Policy", "X-Content-Type-Options"],
            {},
            ["X-Content-Type-Options: nosniff", "frame protection"],
        ),
        (
            ["Content-Security-Policy"],
            {"Content-Security-Policy": "default-src 'self'", "X-Frame-Options": "ALLOW-FROM x"},
            ["frame protection"],
        ),
        (
            ["Content-Security-Policy"],
            {"Content-Security-Policy-Report-Only": "frame-ancestors 'none'"},
            ["frame protection"],
        ),
    ],
)
def test_missing_security_headers_fail(site: SiteFactory, ca_file: str, drop: list[str],
                                       add: dict[str, str], missing: list[str]) -> None:
    headers = {k: v for k, v in GOOD_HEADERS.items() if k not in drop} | add
    found = by_check(site(headers=headers).probe(ca_file=ca_file))
    finding = found[SECURITY_HEADERS]
    assert not finding.ok
    assert finding.detail.startswith("missing: ")
    for item in missing:
        assert item in finding.detail
    if len(missing) == 1:
        assert finding.detail.count(";") == 0
    assert found[HSTS].ok


# --- plain HTTP -----------------------------------------------------------------------------


def test_plain_http_serving_content_fails(site: SiteFactory, ca_file: str) -> None:
    found = by_check(site(http="serve").probe(ca_file=ca_file))
    assert not found[HTTP_REDIRECTS_TO_HTTPS].ok
    assert found[HTTP_REDIRECTS_TO_HTTPS].detail == "serves content over plain HTTP (HTTP 200)"


@pytest.mark.parametrize(
    "location",
    [f"http://{HOST}/", "https://elsewhere.test/", f"//{HOST}/", f"https://{HOST}@evil.test/"],
)
def test_redirect_not_to_https_on_the_same_host_fails(site: SiteFactory, ca_file: str,
                                                      location: str) -> None:
    found = by_check(site(location=location).probe(ca_file=ca_file))
    assert not found[HTTP_REDIRECTS_TO_HTTPS].ok
    assert f"not to https://{HOST}/" in found[HTTP_REDIRECTS_TO_HTTPS].detail


def test_http_port_closed_counts_as_not_served(site: SiteFactory, ca_file: str) -> None:
    result = site(http=None).probe(ca_file=ca_file)
    finding = by_check(result)[HTTP_REDIRECTS_TO_HTTPS]
    assert finding.ok
    assert finding.detail.startswith("HTTP not served")
    assert result.ok


# --- refusals and failures ------------------------------------------------------------------


def test_loopback_is_refused_without_allow(site: SiteFactory, ca_file: str) -> None:
    s = site()
    result = s.probe(ca_file=ca_file, allow="")
    assert result.reachable is False
    assert [f.check for f in result.findings] == [OUTBOUND_ALLOWED]
    assert not result.findings[0].ok
    assert "non-public address 127.0.0.1" in result.findings[0].detail
    assert not result.ok
    assert s.https is not None and s.http is not None
    assert s.https.hosts == [] and s.http.hosts == []


def _must_not_resolve(*args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
    raise AssertionError("an invalid domain must not be looked up")


@pytest.mark.parametrize(
    "domain",
    [
        "shop.test/evil",
        "user@shop.test",
        "-bad-.test",
        "",
        "   ",
        "shop.test:8443",
        "https://shop.test",
        "shop..test",
        "shop_test.test",
        "localhost",
        "127.0.0.1",
        "shöp.test/evil",
        "straße.test",
        "a" * 64 + ".test",
        "shop.test\nHost: evil",
    ],
)
def test_invalid_domain_is_not_probed(domain: str) -> None:
    result = probe_site(domain, allow=ALLOW, resolve=_must_not_resolve)
    assert result.reachable is False
    assert [f.check for f in result.findings] == [DOMAIN_VALID]
    assert not result.findings[0].ok and result.findings[0].detail
    assert not result.ok


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("shop.test", "shop.test"),
        (" Shop.Example.COM. ", "shop.example.com"),
        ("Bücher.test", IDN_HOST),
        ("商店。例子.cn", "xn--czrs0t.xn--fsqu00a.cn"),
        ("xn--bcher-kva.test", IDN_HOST),
    ],
)
def test_normalize_domain(raw: str, expected: str) -> None:
    assert normalize_domain(raw) == expected


def test_unresolvable_domain_is_unreachable() -> None:
    result = probe_site("nowhere.test", allow=ALLOW, resolve=resolve)
    assert result.reachable is False
    assert [f.check for f in result.findings] == CHECKS
    assert by_check(result)[HTTPS_REACHABLE].detail == "the domain cannot be resolved"
    assert not any(f.ok for f in result.findings)


def test_nothing_open_fails_quickly() -> None:
    start = time.monotonic()
    result = probe_site(
        HOST, allow=ALLOW, resolve=resolve, timeout=2.0,
        https_port=free_port(), http_port=free_port(),
    )
    assert time.monotonic() - start < 2.0
    found = by_check(result)
    assert not found[HTTPS_REACHABLE].ok
    assert found[HTTPS_REACHABLE].detail.startswith("cannot connect to port")
    assert found[CERTIFICATE_VALID].detail == "not checked: no HTTPS connection"
    assert found[HTTP_REDIRECTS_TO_HTTPS].ok  # nothing serves plain HTTP either
    assert result.reachable is False and not result.ok


def test_silent_server_is_given_up_on_within_the_timeout(tmp_path: Path, ca_file: str) -> None:
    # A socket that listens but never accepts: the kernel completes the TCP handshake, then
    # nothing ever answers the TLS hello or the HTTP request.
    with (
        socket.create_server(("127.0.0.1", 0), backlog=4) as silent_https,
        socket.create_server(("127.0.0.1", 0), backlog=4) as silent_http,
    ):
        start = time.monotonic()
        result = probe_site(
            HOST, allow=ALLOW, resolve=resolve, timeout=0.5, ca_file=ca_file,
            https_port=silent_https.getsockname()[1], http_port=silent_http.getsockname()[1],
        )
        elapsed = time.monotonic() - start
    assert 0.4 < elapsed < 1.0
    found = by_check(result)
    assert found[HTTPS_REACHABLE].detail == "no answer within the time limit of 0.5 s"
    assert found[CERTIFICATE_VALID].detail == "not checked: the TLS handshake did not finish"
    assert not found[HTTP_REDIRECTS_TO_HTTPS].ok
    assert found[HTTP_REDIRECTS_TO_HTTPS].detail == (
        "not checked: the probe's time limit was reached"
    )
    assert result.reachable is True and not result.ok
