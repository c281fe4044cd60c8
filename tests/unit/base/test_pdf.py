"""PDFs are parsed by a real PDF library (pikepdf), never scanned as bytes: active content is
found wherever a viewer would find it, and staff are served a copy written again."""

from __future__ import annotations

import io
import struct
import zlib

import pikepdf
import pytest

from portal.base import uploads
from portal.base.uploads import UploadError, clean_upload, rewrite_pdf
from portal.web.core import stored_file

ACTIVE = "scripts, attachments or actions"
CATALOG = b"<</Type/Catalog/Pages 2 0 R/OpenAction 5 0 R>>"
PAGES = b"<</Type/Pages/Kids[3 0 R]/Count 1>>"
PAGE = b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>"


def _stored_then_deflated(head: bytes, tail: bytes) -> bytes:
    """A zlib stream whose first block is stored (``head`` literally, readable in the file)
    and whose second is compressed (``tail``, unreadable without inflating)."""
    block = b"\x00" + struct.pack("<HH", len(head), len(head) ^ 0xFFFF) + head
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    rest = squeeze.compress(tail) + squeeze.flush()
    return b"\x78\x01" + block + rest + struct.pack(">I", zlib.adler32(head + tail))


def smuggling_pdf(action: bytes = b"<</S/JavaScript/JS(app.alert\\(1\\))>>",
                  packed: bytes | None = None) -> bytes:
    """The report's file: object 5, the catalog's /OpenAction, sits in an object stream whose
    data starts with a stored deflate block holding ``endstream``; a byte scan stops there and
    never inflates the block that holds ``/S/JavaScript``. A cross-reference stream points at
    it, as any PDF 1.5 writer's would."""
    head = b"5 0 %endstream endobj\n"
    packed = packed or _stored_then_deflated(head, action)
    objects = {
        1: CATALOG, 2: PAGES, 3: PAGE,
        4: b"<</Type/ObjStm/N 1/First %d/Filter/FlateDecode/Length %d>>\nstream\n"
           % (len(head), len(packed)) + packed + b"\nendstream",
    }
    out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
    offsets = {}
    for number, body in objects.items():
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    offsets[6] = len(out)
    rows = [struct.pack(">BIH", 0, 0, 65535)]
    rows += [struct.pack(">BIH", 1, offsets[n], 0) for n in (1, 2, 3, 4)]
    rows += [struct.pack(">BIH", 2, 4, 0), struct.pack(">BIH", 1, offsets[6], 0)]
    table = b"".join(rows)
    out += (b"6 0 obj\n<</Type/XRef/Size 7/W[1 4 2]/Root 1 0 R/Length %d>>\nstream\n"
            % len(table) + table + b"\nendstream\nendobj\n")
    return out + b"startxref\n%d\n%%%%EOF\n" % offsets[6]


def real_pdf(**catalog: object) -> bytes:
    """A one-page document written by pikepdf, with extra entries in its catalog."""
    document = pikepdf.new()
    document.add_blank_page()
    for key, value in catalog.items():
        document.Root[f"/{key}"] = value
    out = io.BytesIO()
    document.save(out, object_stream_mode=pikepdf.ObjectStreamMode.generate)
    return out.getvalue()


def test_the_smuggled_open_action_is_found() -> None:
    smuggled = smuggling_pdf()
    assert b"JavaScript" not in smuggled and b"endstream endobj" in smuggled
    opened = pikepdf.open(io.BytesIO(smuggled))  # a real reader finds the script...
    assert str(opened.Root.OpenAction.S) == "/JavaScript"
    with pytest.raises(UploadError, match=ACTIVE):  # ...and so does the check
        clean_upload(smuggled, "application/pdf")
    harmless = smuggling_pdf(b"<</S/GoTo/D[3 0 R/Fit]>>")
    assert clean_upload(harmless, "application/pdf") == harmless


@pytest.mark.parametrize("catalog", [
    {"OpenAction": pikepdf.Dictionary(S=pikepdf.Name.Launch, F=pikepdf.String("cmd.exe"))},
    {"Names": pikepdf.Dictionary(JavaScript=pikepdf.Dictionary(Names=pikepdf.Array()))},
    {"Names": pikepdf.Dictionary(EmbeddedFiles=pikepdf.Dictionary(Names=pikepdf.Array()))},
    {"AcroForm": pikepdf.Dictionary(Fields=pikepdf.Array(), XFA=pikepdf.Array())},
    {"AA": pikepdf.Dictionary(WC=pikepdf.Dictionary(S=pikepdf.Name.JavaScript,
                                                    JS=pikepdf.String("x")))},
])
def test_active_content_in_an_object_stream_is_refused(catalog: dict[str, object]) -> None:
    active = real_pdf(**catalog)
    assert b"/Type /ObjStm" in active or b"/Type/ObjStm" in active
    with pytest.raises(UploadError, match=ACTIVE):
        clean_upload(active, "application/pdf")


def test_a_plain_document_is_stored_as_sent_and_served_rewritten() -> None:
    plain = real_pdf()
    assert clean_upload(plain, "application/pdf") == plain
    copy = rewrite_pdf(plain)
    assert copy is not None and copy.startswith(b"%PDF-")
    assert len(pikepdf.open(io.BytesIO(copy)).pages) == 1
    # Objects nothing refers to are not written again.
    padded = plain.replace(b"%%EOF", b"") + b"99 0 obj\n(a leftover)\nendobj\n%%EOF\n"
    assert b"leftover" not in (rewrite_pdf(padded) or b"leftover")


def test_files_the_library_cannot_open_are_refused() -> None:
    deep = b"%PDF-1.7\n1 0 obj\n" + b"[" * 100 + b"]" * 100 + b"\nendobj\ntrailer<</Root 1 0 R>>"
    for broken in (b"%PDF-1.7\n1 0 obj\n<</Type/Catalog\nendobj\n", deep):
        with pytest.raises(UploadError, match="could not be checked"):
            clean_upload(broken, "application/pdf")
    bomb = zlib.compress(b" " * (uploads.PDF_INFLATE_LIMIT + 1), 9)
    with pytest.raises(UploadError, match="could not be checked"):
        clean_upload(smuggling_pdf(packed=bomb), "application/pdf")


def test_staff_are_served_the_rewritten_copy() -> None:
    plain = real_pdf()
    served = stored_file(plain, filename="scan.pdf", content_type="application/pdf")
    assert served.body == rewrite_pdf(plain) and served.body != plain
    assert served.headers["content-disposition"].startswith("inline")
    # A file stored before this check that fails it now is only ever a download.
    legacy = stored_file(smuggling_pdf(), filename="old.pdf", content_type="application/pdf")
    assert legacy.headers["content-disposition"].startswith("attachment")
    assert legacy.media_type == "application/octet-stream"
    assert "sandbox" in legacy.headers["content-security-policy"]
