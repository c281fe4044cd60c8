"""The printable certificate: the current certificate's facts, masked, and a QR code that decodes
to the public verification page named by the certificate's issuer."""

from __future__ import annotations

import io
import json
import re

import pytest
import segno
import zxingcpp
from bs4 import BeautifulSoup
from PIL import Image, ImageDraw
from starlette.testclient import TestClient

from portal.records.certificate_page import qr_svg, verify_url
from portal.records.certificates import Certificate
from tests.unit.http_wizard import ADULT_ID, fresh

# Not the test server's own address, with a path and a trailing slash: the QR code must be built
# from the certificate's issuer, not from the request.
ISSUER = "https://registry.example.cn/portal/"


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    settings.issuer = ISSUER
    return settings


def served_svg(html: str) -> str:
    svgs = BeautifulSoup(html, "html.parser").find_all("svg")
    assert len(svgs) == 1, "the page has exactly one QR code"
    return str(svgs[0])


def dark_modules(svg: str) -> list[list[bool]]:
    """The QR matrix an SVG from segno draws: rows of horizontal strokes (M, m, h commands)."""
    root = BeautifulSoup(svg, "html.parser").find("svg")
    _x, _y, width, height = (int(v) for v in root["viewbox"].split())
    path = root.find("path", attrs={"stroke": True})
    grid = [[False] * width for _ in range(height)]
    x = y = 0.0
    commands = re.findall(r"([A-Za-z])\s*(-?[\d.]+)(?:\s+(-?[\d.]+))?", path["d"])
    assert commands and "".join(c for c, _a, _b in commands).strip("Mmh") == ""
    for command, a, b in commands:
        if command == "M":
            x, y = float(a), float(b)
        elif command == "m":
            x, y = x + float(a), y + float(b)
        else:  # h: a dark run on the row whose middle is y
            for column in range(int(x), int(x + float(a))):
                grid[int(y)][column] = True
            x += float(a)
    return grid


def decode(modules: list[list[bool]], scale: int = 8) -> str:
    """Rasterise a module matrix (its quiet zone included) and read it as a scanner would."""
    image = Image.new("L", (len(modules[0]) * scale, len(modules) * scale), 255)
    draw = ImageDraw.Draw(image)
    for row, cells in enumerate(modules):
        for column, dark in enumerate(cells):
            if dark:
                draw.rectangle((column * scale, row * scale,
                                (column + 1) * scale - 1, (row + 1) * scale - 1), fill=0)
    found = zxingcpp.read_barcodes(image)
    assert len(found) == 1 and found[0].format == zxingcpp.BarcodeFormat.QRCode
    return str(found[0].text)


def text_of(html: str) -> str:
    return BeautifulSoup(html, "html.parser").get_text(" ", strip=True)


def test_page_shows_the_current_certificate_masked(approved, client, session) -> None:
    number, _moderator = approved
    body = json.loads(fresh(session, Certificate)[0].document)
    response = client.get("/me/certificate")
    assert response.status_code == 200
    text = text_of(response.text)
    assert "Registration certificate" in text and number in text
    assert "Status Approved" in text
    assert "Name 张*" in text and "ID number 1101**********8794" in text
    assert "Type of ID document Resident identity card" in text
    assert "Registered as Person" in text and "Age group Adult (18 or over)" in text
    assert "Roles Streamer (livestream marketer)" in text and "Douyin: zhangsan_live" in text
    assert "Risk level Low" in text and "Virtual avatar None" in text
    for field in ("serial", "kid", "attestation_sha256", "declaration_sha256"):
        assert body[field] in text
    # No clear personal data: not the ID number, not the full name.
    assert ADULT_ID not in response.text and "张三" not in response.text
    assert "use your browser's print command" in text
    assert 'href="/static/css/print.css"' in response.text


def test_account_page_links_to_the_printable_certificate(approved, client) -> None:
    links = BeautifulSoup(client.get("/me").text, "html.parser").find_all("a")
    assert {"Printable certificate": "/me/certificate"}.items() <= {
        a.get_text(strip=True): a["href"] for a in links}.items()


def test_dates_follow_the_page_language(approved, client) -> None:
    english = BeautifulSoup(client.get("/me/certificate").text, "html.parser")
    client.get("/lang/zh-Hans?next=/me/certificate")
    chinese = BeautifulSoup(client.get("/me/certificate").text, "html.parser")
    assert [t["datetime"] for t in english.find_all("time")] == \
        [t["datetime"] for t in chinese.find_all("time")]
    assert "年" not in english.find("time").get_text()
    assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日", chinese.find("time").get_text())


def test_qr_code_decodes_to_the_verification_page(approved, client, settings) -> None:
    number, _moderator = approved
    expected = f"https://registry.example.cn/portal/verify/{number}"
    html = client.get("/me/certificate").text
    svg = served_svg(html)
    # What the page serves, scanned: exactly the issuer's verification address.
    assert decode(dark_modules(svg)) == expected
    # The same matrix qr_svg makes for that address, and segno's own rendering scans the same.
    assert dark_modules(svg) == dark_modules(qr_svg(expected))
    png = io.BytesIO()
    segno.make_qr(expected, error="m").save(png, kind="png", scale=6, border=4)
    png.seek(0)
    found = zxingcpp.read_barcodes(Image.open(png))
    assert [r.text for r in found] == [expected]
    # The caption under the code says the same address, as text and as a link.
    caption = BeautifulSoup(html, "html.parser").find("figcaption")
    assert caption.find("a")["href"] == expected and expected in caption.get_text()
    # Named for screen readers.
    root = BeautifulSoup(svg, "html.parser").find("svg")
    assert root["role"] == "img" and number in root["aria-label"]
    assert number in root.find("title").get_text()


def test_verify_url_and_svg_markup() -> None:
    assert verify_url({"issuer": "http://localhost:8000", "number": "LR-2026-0000001"}) == \
        "http://localhost:8000/verify/LR-2026-0000001"
    assert verify_url({"issuer": "https://r.example/x/", "number": "LR-2026-0000001"}) == \
        "https://r.example/x/verify/LR-2026-0000001"
    svg = qr_svg("http://localhost:8000/verify/LR-2026-0000001", label='QR "a" & <b>')
    assert svg.startswith('<svg role="img" aria-label="QR &quot;a&quot; &amp; &lt;b&gt;" ')
    assert "<?xml" not in svg and "<title>QR \"a\" &amp; &lt;b&gt;</title>" in svg
    assert "style=" not in svg  # the CSP allows no inline styles
    unnamed = qr_svg("http://localhost:8000/verify/LR-2026-0000001")
    assert 'aria-label="http://localhost:8000/verify/LR-2026-0000001"' in unnamed


def test_no_certificate_gives_404(submitted, client, auth) -> None:
    assert client.get("/me/certificate").status_code == 404
    auth.log_out()
    auth.sign_up("nobody@example.com")
    assert client.get("/me/certificate").status_code == 404


def test_visitor_is_sent_to_log_in(approved, app) -> None:
    with TestClient(app, follow_redirects=False) as visitor:
        response = visitor.get("/me/certificate")
    assert response.status_code in (302, 303)
    assert response.headers["location"] == "/login?next=%2Fme%2Fcertificate"
