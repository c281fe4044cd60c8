"""Uploaded documents: what is accepted (JPG, PNG, PDF up to 5 MB), images re-encoded without
their metadata, PDFs refused when they carry scripts, actions or attachments, safe file names."""

from __future__ import annotations

import io
import os
import re
import unicodedata

import pikepdf
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
# PDFs are parsed by pikepdf (qpdf), never scanned as bytes: qpdf reads cross-reference
# streams, object streams and damaged files as a viewer does, so what it finds is what a viewer
# would run. A document scan needs none of these: they run code, start programs, submit data or
# carry other files (XFA forms are scripts too).
_PDF_ACTIVE_KEYS = frozenset({"/JS", "/JavaScript", "/EmbeddedFiles", "/EmbeddedFile", "/EF",
                              "/XFA", "/RichMediaContent", "/RichMediaSettings"})
_PDF_ACTIVE_ACTIONS = frozenset({"/JavaScript", "/Launch", "/GoToE", "/ImportData",
                                 "/SubmitForm", "/RichMediaExecute", "/Rendition", "/Sound",
                                 "/Movie", "/Hide"})
_PDF_ACTIVE_TYPES = frozenset({"/EmbeddedFile", "/RichMedia", "/FileAttachment", "/Sound",
                               "/Movie", "/Screen", "/3D"})
# Streams (object streams, where objects may hide compressed) inflate to at most this much
# each: qpdf's own limit, set once for the process.
PDF_INFLATE_LIMIT = 32 * 1024 * 1024
PDF_MAX_NESTING = 64
pikepdf.settings.set_qpdf_limits(flate_max_memory=PDF_INFLATE_LIMIT,
                                 parser_max_nesting=PDF_MAX_NESTING)
# A file with "%PDF-" and no object at all holds no document: nothing a reader could show or
# run (qpdf cannot open it either). Such a file is accepted as inert and stored as sent.
_UNDECODED = re.compile(r"error decoding stream|unfilterable|memory limit")
_PDF_OBJECT = re.compile(rb"\d\s+\d+\s+obj\b")


def clean_upload(data: bytes, content_type: str) -> bytes:
    """Return an accepted upload as it is to be stored, or raise UploadError.

    ``content_type`` is what ``check_upload`` found. JPEG stays JPEG and PNG stays PNG, decoded
    and encoded again: metadata and trailing payloads (a zip or HTML after the image) are gone,
    and a file that only starts like an image is refused. PDFs are stored as sent unless they
    hold scripts, launch actions, attachments, XFA or a password, or cannot be parsed (staff
    are served ``rewrite_pdf``'s copy).
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


def _active(obj: object, depth: int = 0) -> bool:
    """True if a PDF object holds active content, looking into its direct dictionaries and
    arrays (an indirect one is an object of its own, checked in turn)."""
    if depth > PDF_MAX_NESTING:
        return True
    if isinstance(obj, pikepdf.Stream):
        obj = obj.stream_dict
    if isinstance(obj, pikepdf.Dictionary):
        for key, value in obj.items():
            if key in _PDF_ACTIVE_KEYS:
                return True
            if key in ("/S", "/Type", "/Subtype") and isinstance(value, pikepdf.Name) and (
                    str(value) in (_PDF_ACTIVE_ACTIONS if key == "/S" else _PDF_ACTIVE_TYPES)):
                return True
            if not getattr(value, "is_indirect", False) and _active(value, depth + 1):
                return True
    elif isinstance(obj, pikepdf.Array):
        return any(not getattr(item, "is_indirect", False) and _active(item, depth + 1)
                   for item in obj)
    return False


def _open_pdf(data: bytes) -> pikepdf.Pdf:
    """Open and check a PDF, or raise UploadError saying why it cannot be accepted."""
    unchecked = UploadError(_("The selected PDF could not be checked: save it again as a "
                              "plain PDF, or upload a scan"))
    locked = UploadError(_("The selected PDF is protected by a password: upload it without "
                           "one"))
    try:
        document = pikepdf.open(io.BytesIO(data))
    except pikepdf.PasswordError:
        raise locked from None
    except Exception:  # qpdf raises many kinds on hostile bytes; all mean "cannot check"
        raise unchecked from None
    try:
        if document.is_encrypted:
            raise locked
        # Every object of the file, those inside object streams included, whether or not
        # anything refers to it.
        active = any(_active(obj) for obj in document.objects)
        # An object stream qpdf gave up decoding (over the inflate limit, corrupt) may hide
        # objects that a more patient viewer would read: refused, not passed as empty.
        if any(_UNDECODED.search(warning) for warning in document.get_warnings()):
            raise unchecked
    except UploadError:
        document.close()
        raise
    except Exception:
        document.close()
        raise unchecked from None
    if active:
        document.close()
        raise UploadError(_("The selected PDF contains scripts, attachments or actions: save "
                            "it again without them, or upload a scan"))
    return document


def _check_pdf(data: bytes) -> None:
    if not _PDF_OBJECT.search(data):
        return  # no object: no document, nothing to run
    _open_pdf(data).close()


def rewrite_pdf(data: bytes) -> bytes | None:
    """The copy of a stored PDF that staff are served: parsed and written again by qpdf, so
    only the objects the document uses, in plain form, reach their viewer; None when it cannot
    be (a file stored before this check that fails it), to be served as a download only."""
    if not _PDF_OBJECT.search(data):
        return data
    try:
        document = _open_pdf(data)
    except UploadError:
        return None
    out = io.BytesIO()
    try:
        with document:
            document.save(out, object_stream_mode=pikepdf.ObjectStreamMode.disable,
                          deterministic_id=True)
    except Exception:  # written by qpdf's own parser: a failure means "not served inline"
        return None
    return out.getvalue()


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
