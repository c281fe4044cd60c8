"""Probe an operator's own shop site: HTTPS only, a valid certificate, HSTS, security headers.

The operator attests that the site is served over HTTPS only; the portal checks what can be
checked and attaches the findings to the attestation. Every connection goes only to addresses
``portal.base.outbound.check_url`` accepted, so a domain that resolves to a private or loopback
address is refused unless ``PORTAL_OUTBOUND_ALLOW`` covers it.

The probe never follows a redirect (it only reads the Location header), never reads a body and
reads at most 64 KiB of any answer. ``timeout`` bounds the whole probe, not each step, except
for the name look-up itself, which the system resolver times.
"""

from __future__ import annotations

import io
import logging
import re
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from http.client import HTTPException, HTTPMessage, parse_headers
from typing import Any
from urllib.parse import urlsplit

from portal.base import outbound

log = logging.getLogger("portal.registration.site_probe")

# Check names, as stored with the attestation.
DOMAIN_VALID = "domain_valid"
OUTBOUND_ALLOWED = "outbound_allowed"
HTTPS_REACHABLE = "https_reachable"
CERTIFICATE_VALID = "certificate_valid"
HTTP_REDIRECTS_TO_HTTPS = "http_redirects_to_https"
HSTS = "hsts"
SECURITY_HEADERS = "security_headers"

HSTS_MIN_AGE = 180 * 24 * 60 * 60  # 15552000 s: the minimum the HSTS preload list asks for
MAX_READ_BYTES = 64 * 1024
REDIRECT_STATUSES = frozenset({301, 302, 307, 308})
USER_AGENT = "livestream-portal-probe"

_LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# IDNA 2003 (Python's "idna" codec) maps these to other letters or drops them, while IDNA 2008
# (what registries use) keeps them: the codec would give another domain, so refuse them.
_IDNA_DEVIATIONS = frozenset("\u00df\u03c2\u200c\u200d")
_STATUS_RE = re.compile(rb"HTTP/1\.[01] ([1-5][0-9]{2})(?: [^\r\n]*)?")
_MAX_SHOWN = 200


@dataclass
class Finding:
    check: str
    ok: bool
    detail: str


@dataclass
class ProbeResult:
    domain: str
    checked_at: str  # RFC 3339, UTC
    findings: list[Finding]
    # True when a TCP connection to the HTTPS or HTTP port could be opened.
    reachable: bool

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return bool(self.findings) and all(f.ok for f in self.findings)

    def finding(self, check: str) -> Finding | None:
        """Return the finding for one check, if the probe got that far."""
        return next((f for f in self.findings if f.check == check), None)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-safe copy (only str, bool, list and dict) for storing with the attestation."""
        return {
            "domain": self.domain,
            "checked_at": self.checked_at,
            "reachable": self.reachable,
            "ok": self.ok,
            "findings": [asdict(f) for f in self.findings],
        }


class _BadAnswer(Exception):
    """The server's answer is not usable HTTP; the message says why in plain words."""


class _NoAnswer(_BadAnswer):
    """The server closed the connection without sending a byte."""


# --- domain names ---------------------------------------------------------------------------


def normalize_domain(raw: str) -> str:
    """Check a plain host name (Unicode IDNs allowed); return it lower-case in ASCII form."""
    text = raw.strip().lower()
    if text.endswith("."):
        text = text[:-1]
    if not text:
        raise ValueError("enter the site's domain name, like shop.example.com")
    if not text.isascii():
        if any(c in _IDNA_DEVIATIONS for c in text):
            raise ValueError(
                "the domain name has ß, ς or an invisible joiner, which IDN rules convert in "
                "more than one way: enter its xn-- form"
            )
        try:
            text = text.encode("idna").decode("ascii").lower()
        except UnicodeError:
            raise ValueError("the domain name is not a valid internationalised name") from None
    labels = text.split(".")
    if (
        len(text) > 253
        or len(labels) < 2
        or not all(_LABEL_RE.fullmatch(label) for label in labels)
    ):
        raise ValueError(
            "a domain name has only letters, digits, hyphens and dots, like shop.example.com"
        )
    if labels[-1].isdigit():
        raise ValueError("enter the site's domain name, not an IP address")
    return text


# --- connections ----------------------------------------------------------------------------


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the probe's time limit was reached")
    return left


def _connect(addresses: Sequence[str], port: int, deadline: float) -> socket.socket:
    """Connect to the first checked address that answers, before the deadline."""
    errors: list[OSError] = []
    for ip in addresses:
        try:
            return socket.create_connection((ip, port), timeout=_remaining(deadline))
        except OSError as exc:
            errors.append(exc)
    if not errors:
        raise OSError("no address to connect to")
    # Refused everywhere means nothing listens; any other error says more than a refusal.
    raise next((e for e in errors if not isinstance(e, ConnectionRefusedError)), errors[0])


def _parse_head(head: bytes) -> tuple[int, HTTPMessage]:
    status_line, _, rest = head.partition(b"\r\n")
    match = _STATUS_RE.fullmatch(status_line)
    if not match:
        raise _BadAnswer("the answer is not HTTP")
    try:
        headers = parse_headers(io.BytesIO(rest + b"\r\n\r\n"))
    except HTTPException:
        raise _BadAnswer("the answer's headers are not valid HTTP") from None
    return int(match.group(1)), headers


def _read_head(sock: socket.socket, deadline: float) -> tuple[int, HTTPMessage]:
    """Read the status and headers of the final answer (skipping 1xx), never the body."""
    data = b""
    total = 0
    while True:
        end = data.find(b"\r\n\r\n")
        if end >= 0:
            status, headers = _parse_head(data[:end])
            if status >= 200:
                return status, headers
            data = data[end + 4 :]
            continue
        if total >= MAX_READ_BYTES:
            raise _BadAnswer("the answer's headers are longer than 64 KiB")
        sock.settimeout(_remaining(deadline))
        try:
            chunk = sock.recv(min(16 * 1024, MAX_READ_BYTES - total))
        except ConnectionResetError:
            if total:
                raise
            raise _NoAnswer("the server closed the connection without an answer") from None
        if not chunk:
            if total:
                raise _BadAnswer("the server closed the connection in the middle of its answer")
            raise _NoAnswer("the server closed the connection without an answer")
        data += chunk
        total += len(chunk)


def _get(sock: socket.socket, host: str, port: int, default_port: int,
         deadline: float) -> tuple[int, HTTPMessage]:
    host_header = host if port == default_port else f"{host}:{port}"
    request = (
        f"GET / HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: {USER_AGENT}\r\n"
        "Accept: text/html, */*\r\nConnection: close\r\n\r\n"
    ).encode("ascii")
    sock.settimeout(_remaining(deadline))
    sock.sendall(request)  # the timeout bounds the whole send
    return _read_head(sock, deadline)


def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    # Verifies the chain and the host name; with ca_file, trusts only that file.
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    return context


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def _shown(value: str) -> str:
    return value if len(value) <= _MAX_SHOWN else value[:_MAX_SHOWN] + "…"


def _not_checked(check: str, why: str) -> Finding:
    return Finding(check, False, f"not checked: {why}")


# --- the checks -----------------------------------------------------------------------------


@dataclass
class _HTTPSOutcome:
    reachable: Finding
    certificate: Finding
    connected: bool
    headers: HTTPMessage | None = None


def _certificate_detail(tls: ssl.SSLSocket, host: str) -> str:
    cert = tls.getpeercert()
    not_after = cert.get("notAfter") if cert else None
    if not isinstance(not_after, str):
        return f"valid for {host}"
    try:
        seconds = ssl.cert_time_to_seconds(not_after)
        expires = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        expires = not_after
    return f"valid for {host} until {expires}"


def _check_https(host: str, port: int, addresses: Sequence[str], context: ssl.SSLContext,
                 deadline: float, limit: str) -> _HTTPSOutcome:
    try:
        raw = _connect(addresses, port, deadline)
    except TimeoutError:
        return _HTTPSOutcome(
            Finding(HTTPS_REACHABLE, False, f"no connection to port {port} {limit}"),
            _not_checked(CERTIFICATE_VALID, "no HTTPS connection"),
            connected=False,
        )
    except OSError as exc:
        return _HTTPSOutcome(
            Finding(HTTPS_REACHABLE, False, f"cannot connect to port {port}: {_reason(exc)}"),
            _not_checked(CERTIFICATE_VALID, "no HTTPS connection"),
            connected=False,
        )
    certificate = _not_checked(CERTIFICATE_VALID, "the TLS handshake did not finish")
    why: str
    try:
        with raw, context.wrap_socket(
            raw, server_hostname=host, do_handshake_on_connect=False
        ) as tls:
            tls.settimeout(_remaining(deadline))
            tls.do_handshake()  # the timeout bounds the whole handshake
            certificate = Finding(CERTIFICATE_VALID, True, _certificate_detail(tls, host))
            status, headers = _get(tls, host, port, 443, deadline)
    except ssl.SSLCertVerificationError as exc:
        reason = exc.verify_message or exc.reason or str(exc)
        return _HTTPSOutcome(
            Finding(HTTPS_REACHABLE, False, f"the certificate was not accepted: {reason}"),
            Finding(CERTIFICATE_VALID, False, reason),
            connected=True,
        )
    except ssl.SSLError as exc:
        stage = "TLS error" if certificate.ok else "the TLS handshake failed"
        why = f"{stage}: {exc.reason or exc}"
    except TimeoutError:
        why = f"no answer {limit}"
    except _BadAnswer as exc:
        why = str(exc)
    except OSError as exc:
        why = f"the connection failed: {_reason(exc)}"
    else:
        return _HTTPSOutcome(
            Finding(HTTPS_REACHABLE, True, f"HTTP {status}"), certificate, True, headers
        )
    return _HTTPSOutcome(Finding(HTTPS_REACHABLE, False, why), certificate, connected=True)


def _judge_plain_http(host: str, status: int, headers: HTTPMessage) -> Finding:
    if status in REDIRECT_STATUSES:
        location = (headers.get("Location") or "").strip()
        try:
            parts = urlsplit(location)
            target_host = (parts.hostname or "").rstrip(".")
        except ValueError:
            parts, target_host = None, ""
        if parts is not None and parts.scheme.lower() == "https" and target_host == host:
            return Finding(HTTP_REDIRECTS_TO_HTTPS, True, f"HTTP {status} to {_shown(location)}")
        return Finding(
            HTTP_REDIRECTS_TO_HTTPS,
            False,
            f"HTTP {status} to {_shown(location) or 'nowhere'}, not to https://{host}/",
        )
    if 200 <= status < 300:
        return Finding(
            HTTP_REDIRECTS_TO_HTTPS, False, f"serves content over plain HTTP (HTTP {status})"
        )
    return Finding(
        HTTP_REDIRECTS_TO_HTTPS,
        False,
        f"answers over plain HTTP with HTTP {status} instead of a redirect to HTTPS",
    )


def _check_http(host: str, port: int, addresses: Sequence[str], deadline: float,
                limit: str) -> tuple[Finding, bool]:
    """Return the finding and whether a connection could be opened."""
    if time.monotonic() >= deadline:
        return _not_checked(HTTP_REDIRECTS_TO_HTTPS, "the probe's time limit was reached"), False
    try:
        raw = _connect(addresses, port, deadline)
    except ConnectionRefusedError:
        return Finding(
            HTTP_REDIRECTS_TO_HTTPS, True, f"HTTP not served: port {port} refuses connections"
        ), False
    except TimeoutError:
        return Finding(
            HTTP_REDIRECTS_TO_HTTPS, False, f"no connection to port {port} {limit}"
        ), False
    except OSError as exc:
        return Finding(
            HTTP_REDIRECTS_TO_HTTPS, False, f"cannot connect to port {port}: {_reason(exc)}"
        ), False
    try:
        with raw:
            status, headers = _get(raw, host, port, 80, deadline)
    except _NoAnswer:
        return Finding(
            HTTP_REDIRECTS_TO_HTTPS,
            True,
            f"HTTP not served: port {port} closes connections without an answer",
        ), True
    except TimeoutError:
        why = f"port {port} accepts connections but gave no answer {limit}"
    except _BadAnswer as exc:
        why = f"port {port}: {exc}"
    except OSError as exc:
        why = f"port {port}: the connection failed: {_reason(exc)}"
    else:
        return _judge_plain_http(host, status, headers), True
    return Finding(HTTP_REDIRECTS_TO_HTTPS, False, why), True


def _check_hsts(headers: HTTPMessage) -> Finding:
    # Browsers heed only the first Strict-Transport-Security header (RFC 6797, 8.1).
    value = headers.get("Strict-Transport-Security")
    if value is None:
        return Finding(HSTS, False, "no Strict-Transport-Security header")
    max_age: int | None = None
    for directive in value.split(";"):
        name, _, argument = directive.partition("=")
        if name.strip().lower() == "max-age":
            argument = argument.strip().strip('"')
            if re.fullmatch(r"[0-9]{1,12}", argument):
                max_age = int(argument)
            break
    shown = _shown(value.strip())
    if max_age is None:
        return Finding(HSTS, False, f"Strict-Transport-Security has no valid max-age: {shown}")
    days = max_age // 86400
    span = f"{days} day" if days == 1 else f"{days} days"
    if max_age < HSTS_MIN_AGE:
        return Finding(HSTS, False, f"max-age is {span}, under 180: {shown}")
    return Finding(HSTS, True, f"max-age is {span}: {shown}")


def _csp_has_frame_ancestors(headers: HTTPMessage) -> bool:
    # Every enforced policy applies, so one with frame-ancestors is enough; Report-Only is not.
    for policy in headers.get_all("Content-Security-Policy") or []:
        for directive in policy.split(";"):
            words = directive.split()
            if words and words[0].lower() == "frame-ancestors":
                return True
    return False


def _check_security_headers(headers: HTTPMessage) -> Finding:
    present: list[str] = []
    missing: list[str] = []
    nosniff = (headers.get("X-Content-Type-Options") or "").split(",")[0].strip().lower()
    if nosniff == "nosniff":
        present.append("X-Content-Type-Options: nosniff")
    else:
        missing.append("X-Content-Type-Options: nosniff")
    frame_options = (headers.get("X-Frame-Options") or "").strip().upper()
    if _csp_has_frame_ancestors(headers):
        present.append("Content-Security-Policy frame-ancestors")
    elif frame_options in {"DENY", "SAMEORIGIN"}:
        # ALLOW-FROM and other values are ignored by browsers, so they protect nothing.
        present.append(f"X-Frame-Options: {frame_options}")
    else:
        missing.append(
            "frame protection (Content-Security-Policy frame-ancestors, or X-Frame-Options "
            "DENY or SAMEORIGIN)"
        )
    if missing:
        return Finding(SECURITY_HEADERS, False, "missing: " + "; ".join(missing))
    return Finding(SECURITY_HEADERS, True, "; ".join(present))


# --- the probe ------------------------------------------------------------------------------


def probe_site(
    domain: str,
    *,
    allow: str = "",
    timeout: float = 5.0,
    https_port: int = 443,
    http_port: int = 80,
    ca_file: str | None = None,
    resolve: outbound.Resolver = socket.getaddrinfo,
) -> ProbeResult:
    """Probe a shop site; network problems become failed findings, never exceptions.

    ``allow`` is the outbound allow list (``PORTAL_OUTBOUND_ALLOW``); ``ca_file`` replaces the
    system trust store (for tests). ``timeout`` is the time limit for the whole probe.
    """
    checked_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        host = normalize_domain(domain)
    except ValueError as exc:
        return ProbeResult(
            _shown(domain), checked_at, [Finding(DOMAIN_VALID, False, str(exc))], reachable=False
        )
    context = _tls_context(ca_file)
    deadline = time.monotonic() + timeout
    limit = f"within the time limit of {timeout:g} s"
    log.info("probing the site %s", host)

    resolved = False

    def resolve_noted(*args: Any, **kwargs: Any) -> Sequence[tuple[Any, ...]]:
        nonlocal resolved
        infos = resolve(*args, **kwargs)
        resolved = bool(infos)
        return infos

    try:
        # Resolved and checked once: both ports connect to the same checked addresses.
        addresses = outbound.check_url(
            f"https://{host}:{https_port}/", allow, resolve=resolve_noted
        )
    except outbound.OutboundRefused as exc:
        if not resolved:
            log.info("site probe for %s: the domain cannot be resolved", host)
            why = "the domain cannot be resolved"
            return ProbeResult(host, checked_at, [
                Finding(HTTPS_REACHABLE, False, why),
                _not_checked(CERTIFICATE_VALID, why),
                _not_checked(HTTP_REDIRECTS_TO_HTTPS, why),
                _not_checked(HSTS, why),
                _not_checked(SECURITY_HEADERS, why),
            ], reachable=False)
        log.info("site probe for %s refused: %s", host, exc)
        return ProbeResult(
            host, checked_at, [Finding(OUTBOUND_ALLOWED, False, str(exc))], reachable=False
        )

    https = _check_https(host, https_port, addresses, context, deadline, limit)
    http, http_connected = _check_http(host, http_port, addresses, deadline, limit)
    headers = https.headers
    findings = [
        https.reachable,
        https.certificate,
        http,
        _check_hsts(headers) if headers is not None else _not_checked(HSTS, "no HTTPS answer"),
        _check_security_headers(headers)
        if headers is not None
        else _not_checked(SECURITY_HEADERS, "no HTTPS answer"),
    ]
    result = ProbeResult(host, checked_at, findings, reachable=https.connected or http_connected)
    log.info(
        "site probe for %s: %d of %d checks passed",
        host, sum(f.ok for f in findings), len(findings),
    )
    return result
