"""Uploaded documents: what is accepted (JPG, PNG, PDF up to 5 MB), images re-encoded without
their metadata, PDFs refused when they carry scripts, actions or attachments, safe file names."""

from __future__ import annotations

import io
import os
import re
import unicodedata
import zlib

from PIL import Image, ImageOps

from portal.base.i18n import gettext as _

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
ALLOWED_TYPES = {"image/jpeg": ".jpg", "image/png": ".png", "application/pdf": ".pdf"}
FILENAME_MAX = 120

_MAGIC = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    # Readers accept "%PDF-" anywhere in the first 1024 bytes; requiring it at offset 0 refuses
    # polyglots that are, say, HTML or a script before the PDF header.
    (b"%PDF-", "application/pdf"),
)


class UploadError(ValueError):
    """An uploaded file is empty, too large or not an accepted type; the message says which."""


def sniff_content_type(data: bytes) -> str | None:
    """Return the content type that a file's leading bytes show, or None if not an allowed one."""
    for magic, content_type in _MAGIC:
        if data.startswith(magic):
            return content_type
    return None


def check_upload(data: bytes, filename: str = "") -> str:
    """Return the type of an acceptable upload, or raise UploadError saying what is wrong."""
    # ``filename`` (like the browser's declared type) is deliberately not used: both are chosen
    # by the sender, so only the bytes decide.
    del filename
    if not data:
        raise UploadError(_("The selected file is empty"))
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadError(_("The selected file must be smaller than %(size)s", size="5 MB"))
    content_type = sniff_content_type(data)
    if content_type is None:
        raise UploadError(_("The selected file must be a JPG, PNG or PDF"))
    return content_type


# Uploads are opened by their content too (clean_upload): an image is decoded, bounded in size
# and re-encoded in its own format, which drops its metadata (EXIF with GPS position, XMP, ICC,
# comments) and anything appended after it; a PDF is refused when it could act on its own.
MAX_IMAGE_PIXELS = 50_000_000  # a 50-megapixel phone photo; about 150 MB decoded
# Pillow refuses twice its bound outright (DecompressionBombError) and warns above it; the
# bound itself is checked below before any pixel is decoded.
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
_IMAGE_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG"}
EXIF_ORIENTATION = 0x0112
# PDF names that run code, start programs or carry other files, and a password (which hides
# the rest from this check): a document scan needs none of them.
_PDF_ACTIVE = frozenset({b"JavaScript", b"JS", b"Launch", b"EmbeddedFile", b"EmbeddedFiles",
                         b"RichMedia", b"XFA"})
_PDF_NAME = re.compile(rb"/([^\s/\[\]()<>{}%]*)")
_PDF_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_PDF_STREAM = re.compile(rb"(?<![A-Za-z])stream(?:\r\n|\n|\r)")
# Object streams (where /JS may hide, compressed) are inflated to at most this much in all.
PDF_INFLATE_LIMIT = 32 * 1024 * 1024


def clean_upload(data: bytes, content_type: str) -> bytes:
    """Return an accepted upload as it is to be stored, or raise UploadError.

    ``content_type`` is what ``check_upload`` found. JPEG stays JPEG and PNG stays PNG, decoded
    and encoded again: metadata and trailing payloads (a zip or HTML after the image) are gone,
    and a file that only starts like an image is refused. PDFs are stored as sent unless they
    hold scripts, launch actions, attachments or a password.
    """
    if content_type in _IMAGE_FORMATS:
        return _reencode_image(data, _IMAGE_FORMATS[content_type])
    if content_type == "application/pdf":
        _check_pdf(data)
        return data
    raise UploadError(_("The selected file must be a JPG, PNG or PDF"))


def _reencode_image(data: bytes, fmt: str) -> bytes:
    too_large = UploadError(_(
        "This image is too large: choose a photo or scan of at most %(count)d million pixels",
        count=MAX_IMAGE_PIXELS // 1_000_000))
    unreadable = UploadError(_("The selected file is damaged or is not really a JPG or PNG "
                               "image"))
    try:
        image: Image.Image = Image.open(io.BytesIO(data), formats=[fmt])
        if image.width * image.height > MAX_IMAGE_PIXELS:
            raise too_large
        image.load()
        orientation = image.getexif().get(EXIF_ORIENTATION, 1)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise too_large from None
    except UploadError:
        raise
    except Exception:  # Pillow raises many kinds on hostile bytes; all mean "not an image"
        raise unreadable from None
    params: dict[str, object] = {}
    if orientation not in (None, 1):
        # A phone's photo stands upright through its EXIF tag, which is about to go.
        image = ImageOps.exif_transpose(image)
    if fmt == "JPEG":
        if image.format == "JPEG" and image.mode in ("L", "RGB", "CMYK"):
            params["quality"] = "keep"  # the same quantisation: no visible loss
        else:
            params["quality"] = 95
            if image.mode not in ("L", "RGB", "CMYK"):
                image = image.convert("RGB")
    elif image.info.get("transparency") is not None:
        params["transparency"] = image.info["transparency"]
    # Nothing of the original's metadata goes along: no exif, xmp, icc_profile or comment.
    image.info = {}
    out = io.BytesIO()
    try:
        image.save(out, fmt, **params)
    except (OSError, ValueError, KeyError):
        out = io.BytesIO()
        image.convert("RGBA" if fmt == "PNG" else "RGB").save(out, fmt)
    return out.getvalue()


def _pdf_names(text: bytes) -> set[bytes]:
    return {_PDF_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), name)
            for name in _PDF_NAME.findall(text)}


def _check_pdf(data: bytes) -> None:
    """Refuse a PDF with active content; names are read outside streams and inside object
    streams, with #xx escapes decoded (``/J#61vaScript`` is ``/JavaScript``)."""
    unchecked = UploadError(_("The selected PDF could not be checked: save it again as a "
                              "plain PDF, or upload a scan"))
    names: set[bytes] = set()
    inflated = 0
    pos = 0
    while True:
        match = _PDF_STREAM.search(data, pos)
        if match is None:
            names |= _pdf_names(data[pos:])
            break
        header = data[pos:match.start()]
        names |= _pdf_names(header)
        end = data.find(b"endstream", match.end())
        end = len(data) if end < 0 else end
        obj = header.rfind(b"obj")
        own = _pdf_names(header[obj + 3:] if obj >= 0 else header)
        if b"ObjStm" in own:
            if b"Encrypt" in names or (own & {b"Filter"} and b"FlateDecode" not in own):
                raise unchecked
            body = data[match.end():end]
            if b"FlateDecode" in own:
                if inflated >= PDF_INFLATE_LIMIT:
                    raise unchecked
                inflater = zlib.decompressobj()
                try:
                    body = inflater.decompress(body, PDF_INFLATE_LIMIT - inflated)
                except zlib.error:
                    raise unchecked from None
                if inflater.unconsumed_tail:
                    raise unchecked
                inflated += len(body)
            names |= _pdf_names(body)
        pos = end + len(b"endstream")
    if b"Encrypt" in names:
        raise UploadError(_("The selected PDF is protected by a password: upload it without "
                            "one"))
    if names & _PDF_ACTIVE:
        raise UploadError(_("The selected PDF contains scripts, attachments or actions: save "
                            "it again without them, or upload a scan"))


def safe_filename(name: str) -> str:
    """Return a file name fit to store and show: base name only, no control characters."""
    # Browsers on Windows may send the whole path, with either separator.
    base = re.split(r"[/\\]", name)[-1]
    # Format characters (Cf) go too: a right-to-left override can make "fdp.exe" read as "exe.pdf".
    base = "".join(ch for ch in base if unicodedata.category(ch) not in {"Cc", "Cf"}).strip()
    if base in {"", ".", ".."}:
        return "document"
    if len(base) <= FILENAME_MAX:
        return base
    stem, ext = os.path.splitext(base)
    # Keep a short extension so that a shortened name still says what kind of file it is.
    if 0 < len(ext) <= 16:
        return stem[: FILENAME_MAX - len(ext)] + ext
    return base[:FILENAME_MAX]
