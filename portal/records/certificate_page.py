"""The printable certificate: what its page shows, and the QR code of the public verification page.

The QR code encodes exactly ``<issuer>/verify/<number>``: the certificate's own ``issuer`` field
(``PORTAL_ISSUER``), so a printed certificate always points at the registry that signed it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import quote

import segno


def verify_url(certificate: Mapping[str, Any]) -> str:
    """The absolute address of the certificate's public verification page."""
    issuer = str(certificate["issuer"]).rstrip("/")
    return f"{issuer}/verify/{quote(str(certificate['number']), safe='')}"


def qr_svg(url: str, *, label: str = "") -> str:
    """The QR code of ``url`` as inline SVG (no XML declaration), named for screen readers.

    A quiet zone of four modules and a white background keep it scannable on a dark screen
    too; the size comes from CSS (``viewBox`` only).
    """
    name = label or url
    qr = segno.make_qr(url, error="m")
    svg = qr.svg_inline(scale=1, border=4, dark="#000", light="#fff", omitsize=True,
                        svgclass="qr", lineclass=None, title=name)
    if not svg.startswith("<svg "):
        raise ValueError("unexpected SVG from segno")
    return '<svg role="img" aria-label="' + escape(name, quote=True) + '" ' + svg[len("<svg "):]


def _moment(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def page_context(certificate: Mapping[str, Any], *, qr_label: str = "") -> dict[str, Any]:
    """The template's values for one certificate (the signed JSON object, as parsed)."""
    url = verify_url(certificate)
    return {
        "certificate": certificate,
        "issued_at": _moment(certificate.get("issued_at")),
        "valid_until": _moment(certificate.get("valid_until")),
        "verify_url": url,
        "qr_svg": qr_svg(url, label=qr_label),
    }
