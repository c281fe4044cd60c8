"""Uploads are opened, not only sniffed: images are re-encoded in their own format without their
metadata (GPS position included), decompression bombs and files that only look like images are
refused, and PDFs that could act on their own are refused."""

from __future__ import annotations

import hashlib
import io
import struct
import warnings
import zlib

import pikepdf
import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin
from sqlmodel import select

from portal.base import uploads
from portal.base.uploads import UploadError, check_upload, clean_upload
from portal.lifecycle.wizard import Upload, keep_uploads
from portal.registration import models
from portal.registration.models import Document, Registration
from tests.unit.base.test_pdf import real_pdf, smuggling_pdf
from tests.unit.http_wizard import PDF, PNG, Wizard, field_errors, identity_form, verify_email

GPS_IFD = 0x8825
ORIENTATION = 0x0112
SECRET_PLACE = {1: "N", 2: (39.0, 54.0, 27.0), 3: "E", 4: (116.0, 23.0, 17.0)}


def exif(orientation: int = 1) -> bytes:
    tags = Image.Exif()
    tags[0x010F] = "PhoneMaker"  # camera make
    tags[0x0132] = "2026:05:01 08:00:00"
    tags[ORIENTATION] = orientation
    tags[GPS_IFD] = SECRET_PLACE
    return tags.tobytes()


def jpeg(size: tuple[int, int] = (16, 8), **params: object) -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", size, (30, 120, 200))
    image.putpixel((0, 0), (250, 10, 10))
    image.save(out, "JPEG", quality=90, **params)
    return out.getvalue()


def png(size: tuple[int, int] = (16, 8), **params: object) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", size, (30, 120, 200, 128)).save(out, "PNG", **params)
    return out.getvalue()


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge image (a decompression bomb)."""
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                              0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# --- images ------------------------------------------------------------------------------------


def test_a_jpeg_loses_its_exif_and_gps_and_stays_a_jpeg() -> None:
    original = jpeg(exif=exif())
    assert opened(original).getexif().get_ifd(GPS_IFD) == SECRET_PLACE
    assert b"PhoneMaker" in original
    cleaned = clean_upload(original, check_upload(original))
    image = opened(cleaned)
    assert image.format == "JPEG" and image.size == (16, 8)
    assert not image.getexif() and "exif" not in image.info
    assert b"Exif" not in cleaned and b"PhoneMaker" not in cleaned
    # Still the same picture: the same quantisation tables, so barely a change.
    before, after = opened(original).getpixel((8, 4)), image.getpixel((8, 4))
    assert all(abs(x - y) <= 3 for x, y in zip(before, after, strict=True))


def test_a_png_loses_its_text_and_exif_chunks_and_stays_a_png() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "张三 13812345678")
    original = png(pnginfo=info, exif=exif())
    assert opened(original).getexif().get_ifd(GPS_IFD) == SECRET_PLACE
    cleaned = clean_upload(original, check_upload(original))
    image = opened(cleaned)
    assert image.format == "PNG" and image.mode == "RGBA" and image.size == (16, 8)
    assert not image.getexif() and not image.text
    assert b"13812345678" not in cleaned and b"eXIf" not in cleaned
    assert image.getpixel((3, 3)) == (30, 120, 200, 128)  # lossless


def test_a_photo_turned_by_its_exif_tag_is_stored_upright() -> None:
    cleaned = clean_upload(jpeg((16, 8), exif=exif(orientation=6)), "image/jpeg")
    assert opened(cleaned).size == (8, 16) and not opened(cleaned).getexif()


def test_an_image_without_metadata_comes_back_byte_for_byte() -> None:
    assert clean_upload(PNG, "image/png") == PNG


def test_a_decompression_bomb_is_refused() -> None:
    bomb = png_claiming(100_000, 100_000)
    assert len(bomb) < 200 and check_upload(bomb) == "image/png"
    with pytest.raises(UploadError, match="This image is too large"):
        clean_upload(bomb, "image/png")


def test_an_image_just_over_the_bound_is_refused_before_it_is_decoded() -> None:
    side = int(uploads.MAX_IMAGE_PIXELS ** 0.5) + 10
    with warnings.catch_warnings():
        # In production Pillow only warns between its bound and twice it; ours refuses.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with pytest.raises(UploadError, match="This image is too large"):
            clean_upload(png_claiming(side, side), "image/png")
    with pytest.raises(UploadError, match="This image is too large"):
        clean_upload(png_claiming(side, side), "image/png")  # and with warnings as errors


@pytest.mark.parametrize("data", [
    b"\xff\xd8\xff\xe0" + b"\x00" * 64,  # starts like a JPEG, is not one
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9",
    jpeg()[:300],  # cut short
    b"\xff\xd8\xff<html><script>alert(1)</script></html>",
])
def test_a_file_that_says_jpeg_but_does_not_decode_is_refused(data: bytes) -> None:
    assert check_upload(data) == "image/jpeg"
    with pytest.raises(UploadError, match="damaged or is not really a JPG or PNG image"):
        clean_upload(data, "image/jpeg")


def test_a_png_with_a_broken_chunk_is_refused() -> None:
    good = png()
    broken = good[:40] + bytes([good[40] ^ 0xFF]) + good[41:]
    with pytest.raises(UploadError, match="damaged"):
        clean_upload(broken, "image/png")


def test_a_jpeg_with_an_appended_zip_or_html_is_stored_without_it() -> None:
    payload = b"PK\x03\x04" + b"evil.html" + b"<html><script>alert(document.cookie)</script>"
    cleaned = clean_upload(jpeg() + payload, "image/jpeg")
    assert b"PK\x03\x04" not in cleaned and b"<script>" not in cleaned
    assert cleaned.endswith(b"\xff\xd9") and opened(cleaned).format == "JPEG"


# --- PDFs ----------------------------------------------------------------------------------------


def pdf(*objects: bytes, trailer: bytes = b"") -> bytes:
    """A PDF a reader opens: ``objects`` numbered from 1, then a catalog with an empty page
    tree (the root unless ``trailer`` names another) and a cross-reference table."""
    parts = [*objects, b"<</Type/Catalog/Pages %d 0 R>>" % (len(objects) + 2),
             b"<</Type/Pages/Kids[]/Count 0>>"]
    out = b"%PDF-1.7\n"
    offsets = []
    for number, obj in enumerate(parts, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(parts) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    trailer = trailer or b"<</Root %d 0 R>>" % (len(objects) + 1)
    trailer = trailer[:-2] + b"/Size %d>>" % (len(parts) + 1)
    return out + b"trailer\n" + trailer + b"\nstartxref\n%d\n%%%%EOF\n" % xref


def test_a_plain_pdf_is_kept_as_sent() -> None:
    plain = pdf(b"<</Length 5>>\nstream\n/JS x\nendstream")  # a content stream is not read
    assert clean_upload(plain, "application/pdf") == plain
    assert clean_upload(PDF, "application/pdf") == PDF  # no object at all: nothing to run


@pytest.mark.parametrize("active", [
    b"<</Type/Catalog/OpenAction<</S/JavaScript/JS(app.alert(1))>>>>",
    b"<</Type/Catalog/OpenAction<</S/J#61vaScript/J#53(app.alert(1))>>>>",  # escaped names
    b"<</Type/Action/S/Launch/F(cmd.exe)>>",
    b"<</Type/Catalog/Names<</EmbeddedFiles 2 0 R>>>>",
    b"<</Type/Filespec/EF<</F 3 0 R>>/Type/EmbeddedFile>>",
    b"<</Type/Annot/Subtype/RichMedia>>",
    b"<</Type/Catalog/AcroForm<</XFA 5 0 R>>>>",
])
def test_a_pdf_that_could_act_on_its_own_is_refused(active: bytes) -> None:
    with pytest.raises(UploadError, match="scripts, attachments or actions"):
        clean_upload(pdf(active), "application/pdf")


def test_javascript_hidden_in_a_compressed_object_stream_is_found() -> None:
    hidden = real_pdf(OpenAction=pikepdf.Dictionary(S=pikepdf.Name.JavaScript,
                                                    JS=pikepdf.String("alert(1)")))
    assert b"JavaScript" not in hidden
    with pytest.raises(UploadError, match="scripts, attachments or actions"):
        clean_upload(hidden, "application/pdf")
    fine = real_pdf(PageMode=pikepdf.Name.UseNone)
    assert clean_upload(fine, "application/pdf") == fine


def test_a_password_protected_pdf_is_refused() -> None:
    document = pikepdf.new()
    document.add_blank_page()
    for password in ("secret", ""):  # an owner password alone hides nothing, but is refused
        locked = io.BytesIO()
        document.save(locked, encryption=pikepdf.Encryption(user=password, owner="owner"))
        with pytest.raises(UploadError, match="protected by a password"):
            clean_upload(locked.getvalue(), "application/pdf")


def test_an_object_stream_that_cannot_be_read_is_refused() -> None:
    garbled = smuggling_pdf(packed=b"not zlib")
    with pytest.raises(UploadError, match="could not be checked"):
        clean_upload(garbled, "application/pdf")
    bomb = zlib.compress(b" " * (uploads.PDF_INFLATE_LIMIT + 1), 9)
    with pytest.raises(UploadError, match="could not be checked"):
        clean_upload(smuggling_pdf(packed=bomb), "application/pdf")


def test_a_pdf_header_before_jpeg_bytes_is_a_pdf() -> None:
    # It opens as a PDF or not at all, and is always served as application/pdf.
    polyglot = b"%PDF-1.4\n" + jpeg()
    assert check_upload(polyglot) == "application/pdf"
    assert clean_upload(polyglot, "application/pdf") == polyglot


# --- through the wizard -------------------------------------------------------------------------


@pytest.fixture
def wizard(client, auth, session) -> Wizard:  # type: ignore[no-untyped-def]
    auth.sign_up("applicant@example.com")
    verify_email(session, "applicant@example.com")
    w = Wizard(client)
    w.start()
    return w


def test_the_stored_document_has_no_gps_position(wizard, session, settings) -> None:
    photo = jpeg(exif=exif())
    response = wizard.post("identity", identity_form(), {
        "id_front": ("IMG_0001.jpg", photo, "image/jpeg"),
        "id_back": ("back.png", png(exif=exif()), "image/png")})
    assert response.status_code == 303, field_errors(response.text)
    session.rollback()
    documents = {d.kind: d for d in session.exec(select(Document))}
    front = models.read_document(settings, documents["id_front"])
    assert documents["id_front"].content_type == "image/jpeg"
    assert opened(front).format == "JPEG" and not opened(front).getexif()
    assert b"Exif" not in front and front != photo
    assert documents["id_front"].size == len(front)
    assert documents["id_front"].sha256 == hashlib.sha256(front).hexdigest()
    back = models.read_document(settings, documents["id_back"])
    assert opened(back).format == "PNG" and not opened(back).getexif()


@pytest.mark.parametrize(("content", "message"), [
    (png_claiming(100_000, 100_000), "This image is too large"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 64, "damaged or is not really a JPG or PNG image"),
    (pdf(b"<</S/JavaScript/JS(app.alert(1))>>"), "scripts, attachments or actions"),
])
def test_refused_uploads_say_why_and_store_nothing(wizard, session, content, message) -> None:
    response = wizard.post("identity", identity_form(), {
        "id_front": ("photo.jpg", content, "image/jpeg"),
        "id_back": ("back.png", PNG, "image/png")})
    assert response.status_code == 422
    assert message in field_errors(response.text)["id_front"]
    session.rollback()
    assert [d.kind for d in session.exec(select(Document))] == ["id_back"]


def test_files_stored_by_other_callers_are_cleaned_too(wizard, session, settings) -> None:
    session.rollback()
    registration = session.exec(select(Registration)).one()
    keep_uploads(session, settings, registration=registration, step="identity",
                 uploads=[Upload("id_front", "x.jpg", "image/jpeg",
                                 jpeg(exif=exif()))])
    document = session.exec(select(Document)).one()
    assert not opened(models.read_document(settings, document)).getexif()
    with pytest.raises(UploadError):
        keep_uploads(session, settings, registration=registration,
                     step="identity",
                     uploads=[Upload("id_back", "x.png", "image/png",
                                     png_claiming(100_000, 100_000))])


# --- hostile bytes ------------------------------------------------------------------------------

_SEEDS = {"image/jpeg": jpeg(exif=exif()), "image/png": png(), "application/pdf": PDF}


@hyp_settings(max_examples=150, deadline=None)
@given(kind=st.sampled_from(sorted(_SEEDS)), data=st.data())
def test_hostile_bytes_are_refused_with_a_message_or_stored_clean(kind: str, data) -> None:  # type: ignore[no-untyped-def]
    """Bit flips, cuts and junk in real files: an UploadError or clean bytes, never a crash."""
    seed = bytearray(_SEEDS[kind])
    for _ in range(data.draw(st.integers(0, 6))):
        at = data.draw(st.integers(len(seed) // 8, len(seed) - 1))
        seed[at] = data.draw(st.integers(0, 255))
    blob = bytes(seed[: data.draw(st.integers(8, len(seed)))]) + data.draw(st.binary(max_size=64))
    try:
        content_type = check_upload(blob)
        cleaned = clean_upload(blob, content_type)
    except UploadError as exc:
        assert str(exc)
        return
    if content_type != "application/pdf":
        image = opened(cleaned)
        assert not image.getexif() and b"Exif" not in cleaned
