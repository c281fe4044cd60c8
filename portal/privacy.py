"""Personal data at rest and on screen: encryption, the identity index, masking and uploads."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import io
import os
import re
import unicodedata
import zlib
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from PIL import Image, ImageOps
from sqlmodel import Field, Session, SQLModel, col, select

from portal.db import UTCDateTime, utcnow
from portal.i18n import gettext as _
from portal.settings import Settings, SettingsError

# --- Encryption ------------------------------------------------------------------------------

VERSION = b"\x01"
KEY_BYTES = 32  # AES-256
KID_BYTES = 4
NONCE_BYTES = 12
TAG_BYTES = 16
_HEADER = len(VERSION) + KID_BYTES + NONCE_BYTES


class DecryptionError(Exception):
    """A ciphertext is malformed, under an unknown key, tampered with or for another context."""


def key_id(key: bytes) -> bytes:
    """Return the id stored in ciphertexts made with a data key."""
    # A hash with a fixed label, not the key's own bytes, so the id tells nothing about the key.
    return hashlib.sha256(b"portal-data-key" + key).digest()[:KID_BYTES]


class DataCipher:
    """AES-256-GCM with a current key for encrypting and older keys still accepted for reading."""

    def __init__(self, current: bytes, old: Sequence[bytes] = ()) -> None:
        self._keys: dict[bytes, AESGCM] = {}
        # The raw keys are kept only to tell a key listed twice from two keys sharing an id.
        self._raw: dict[bytes, bytes] = {}
        self._kid = self._add(current)
        for key in old:
            self._add(key)

    def _add(self, key: bytes) -> bytes:
        if len(key) != KEY_BYTES:
            raise ValueError(f"a data key must be {KEY_BYTES} bytes, not {len(key)}")
        kid = key_id(key)
        if kid in self._raw:
            if not hmac.compare_digest(self._raw[kid], key):
                raise ValueError("two different data keys have the same key id; replace one")
            return kid
        self._keys[kid] = AESGCM(key)
        self._raw[kid] = key
        return kid

    @property
    def current_kid(self) -> str:
        return self._kid.hex()

    def encrypt(self, plaintext: bytes, *, context: bytes = b"") -> bytes:
        """Encrypt under the current key, binding the ciphertext to ``context``."""
        # Random 96-bit nonces stay safe for far more values than one key will ever protect.
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[self._kid].encrypt(nonce, plaintext, context)
        return VERSION + self._kid + nonce + sealed

    def decrypt(self, blob: bytes, *, context: bytes = b"") -> bytes:
        """Decrypt with whichever known key made ``blob``; the context must match."""
        kid = self._kid_of(blob)
        aead = self._keys.get(kid)
        if aead is None:
            raise DecryptionError(f"unknown data key id {kid.hex()}")
        nonce = blob[len(VERSION) + KID_BYTES : _HEADER]
        try:
            return aead.decrypt(nonce, blob[_HEADER:], context)
        except InvalidTag:
            raise DecryptionError("ciphertext failed authentication") from None

    def encrypt_text(self, text: str, *, context: bytes = b"") -> bytes:
        return self.encrypt(text.encode("utf-8"), context=context)

    def decrypt_text(self, blob: bytes, *, context: bytes = b"") -> str:
        try:
            return self.decrypt(blob, context=context).decode("utf-8")
        except UnicodeDecodeError:
            raise DecryptionError("decrypted value is not UTF-8 text") from None

    def needs_rotation(self, blob: bytes) -> bool:
        """Say whether ``blob`` was made with a key other than the current one."""
        return self._kid_of(blob) != self._kid

    def reencrypt(self, blob: bytes, *, context: bytes = b"") -> bytes:
        """Return ``blob`` encrypted under the current key (unchanged if it already is)."""
        if not self.needs_rotation(blob):
            return blob
        return self.encrypt(self.decrypt(blob, context=context), context=context)

    @staticmethod
    def _kid_of(blob: bytes) -> bytes:
        if len(blob) < _HEADER + TAG_BYTES:
            raise DecryptionError("ciphertext is too short")
        if blob[:1] != VERSION:
            raise DecryptionError(f"unknown ciphertext version {blob[0]}")
        return bytes(blob[1 : 1 + KID_BYTES])


def _decode_key(value: str, setting: str, *, exact: bool = True) -> bytes:
    try:
        key = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if (len(key) != KEY_BYTES) if exact else (len(key) < KEY_BYTES):
        size = f"{KEY_BYTES} bytes" if exact else f"at least {KEY_BYTES} bytes"
        raise SettingsError(f"{setting} must be {size}, base64-encoded")
    return key


def cipher_for(settings: Settings) -> DataCipher:
    """Build the cipher from PORTAL_DATA_KEY and the retired keys in PORTAL_OLD_DATA_KEYS."""
    old_setting: str = getattr(settings, "old_data_keys", "") or ""
    return _cipher(settings.secret("data_key"), old_setting)


@functools.lru_cache(maxsize=8)
def _cipher(data_key: str, old_setting: str) -> DataCipher:
    # A DataCipher never changes once built; one per key setting saves deriving it per field.
    current = _decode_key(data_key, "PORTAL_DATA_KEY")
    old = [
        _decode_key(part, "Each key in PORTAL_OLD_DATA_KEYS")
        for part in old_setting.split(",")
        if part.strip()
    ]
    return DataCipher(current, old)


# --- Identity index --------------------------------------------------------------------------


def normalize_id_number(number: str) -> str:
    """Return an ID number as compared: full-width forms folded, no whitespace, upper case."""
    # NFKC turns full-width digits and letters typed with a Chinese input method into ASCII.
    return "".join(unicodedata.normalize("NFKC", number).split()).upper()


def identity_index(settings_or_key: Settings | bytes, id_type: str, id_number: str) -> str:
    """Return the keyed hash that finds a person by ID without storing the number in clear."""
    if isinstance(settings_or_key, Settings):
        key = _decode_key(settings_or_key.secret("index_key"), "PORTAL_INDEX_KEY", exact=False)
    else:
        key = settings_or_key
    if ":" in id_type:
        # The type and number are joined with ":"; a type containing one could mimic another pair.
        raise ValueError("id_type must not contain ':'")
    message = f"{id_type}:{normalize_id_number(id_number)}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def name_key(name: str) -> str:
    """Return a legal name folded for comparison: NFKC, case-folded, single spaces."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


# --- Masking ---------------------------------------------------------------------------------


def _mask_middle(text: str, head: int, tail: int) -> str:
    return text[:head] + "*" * (len(text) - head - tail) + text[len(text) - tail :]


def mask_id_number(number: str) -> str:
    """Return an ID number with all but its first and last few characters starred."""
    number = "".join(number.split())
    n = len(number)
    # Keep fewer characters as numbers get shorter so that most of each one stays hidden.
    if n >= 15:  # mainland resident IDs (18, formerly 15)
        return _mask_middle(number, 4, 4)
    if n >= 8:  # passports, Hong Kong, Macao and Taiwan documents
        return _mask_middle(number, 2, 2)
    if n >= 5:
        return _mask_middle(number, 1, 1)
    return _mask_middle(number, 0, min(n, 1))


def mask_phone(phone: str) -> str:
    """Return a phone number's digits with all but the first 3 and last 4 starred."""
    phone = phone.strip()
    plus = "+" if phone.startswith("+") else ""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) >= 8:
        return plus + _mask_middle(digits, 3, 4)
    # Too short to keep 3 + 4 digits and still hide some: show at most the last two.
    return plus + _mask_middle(digits, 0, min(2, max(len(digits) - 1, 0)))


def _is_cjk(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith(("CJK ", "HANGUL ", "HIRAGANA ", "KATAKANA "))


def mask_name(name: str) -> str:
    """Return a name with only the first character of each word (CJK: of the name) shown."""
    name = " ".join(unicodedata.normalize("NFC", name).split())
    if len(name) <= 1:
        return name
    if any(_is_cjk(ch) for ch in name):
        # Chinese names are not split into words: the family name alone is shown.
        return name[0] + "*" * (len(name) - 1)
    return " ".join(word[0] + "*" * (len(word) - 1) for word in name.split(" "))


def mask_email(email: str) -> str:
    """Return an email address with its local part reduced to the first character."""
    email = email.strip()
    local, at, domain = email.rpartition("@")
    if not at:
        local, domain = email, ""
    if not local:
        return email
    # A fixed number of stars so that the mask does not reveal the local part's length.
    return f"{local[0]}*****{at}{domain}"


# --- Uploads ---------------------------------------------------------------------------------

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
_PDF_INFLATE_LIMIT = 32 * 1024 * 1024


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
                if inflated >= _PDF_INFLATE_LIMIT:
                    raise unchecked
                inflater = zlib.decompressobj()
                try:
                    body = inflater.decompress(body, _PDF_INFLATE_LIMIT - inflated)
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


# --- Access log ------------------------------------------------------------------------------


class PiiAccess(SQLModel, table=True):
    """One reveal of clear personal data: who, what, why, when (auditors read this log)."""

    __tablename__ = "pii_access_log"

    id: int | None = Field(default=None, primary_key=True)
    actor_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    actor_role: str = Field(max_length=16)
    registration_id: int | None = Field(default=None, foreign_key="registrations.id", index=True)
    field: str = Field(max_length=40)
    reason: str
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # An API client's access (a platform's identity match, an authority's reveal).
    client_id: int | None = Field(default=None, foreign_key="api_clients.id", index=True)


# --- Download my data (PIPL Art. 45) ---------------------------------------------------------

EXPORT_FIELD = "data_export"
EXPORT_REASON = "download my data"


def log_data_export(session: Session, user: Any) -> None:
    """Record that a person downloaded their own data, once per registration; commit."""
    from portal.registrations import registrations_of

    ids = [r.id for r in registrations_of(session, user)] or [None]
    for registration_id in ids:
        session.add(PiiAccess(actor_id=user.id, actor_role=str(user.role),
                              registration_id=registration_id, field=EXPORT_FIELD,
                              reason=EXPORT_REASON))
    session.commit()


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _clear_answers(cipher: DataCipher, answers: dict[str, Any], registration_id: int | None
                   ) -> dict[str, Any]:
    """Answers with each ``<field>_enc`` replaced by the clear ``<field>`` (the owner's own)."""
    from portal.registrations import secret_context

    out: dict[str, Any] = {}
    for step, data in answers.items():
        if not isinstance(data, dict):
            out[step] = data
            continue
        clear: dict[str, Any] = {}
        for key, value in data.items():
            if not key.endswith("_enc"):
                clear[key] = value
                continue
            name = key[: -len("_enc")]
            try:
                clear[name] = cipher.decrypt_text(
                    base64.b64decode(value), context=secret_context(registration_id, step, name))
            except (DecryptionError, binascii.Error, ValueError, TypeError):
                clear[name] = None  # under a key no longer configured
        out[step] = clear
    return out


def personal_data_export(session: Session, settings: Settings, user: Any, *,
                         document_url: Callable[[int], str]) -> dict[str, Any]:
    """Everything the portal holds about an applicant, as they may take it away."""
    from portal import records
    from portal.attestations import Attestation, Declaration
    from portal.events import history_of
    from portal.notify import Notification
    from portal.registrations import PURGED, Document, RosterLink, Submission, registrations_of
    from portal.review import Decision
    from portal.sanctions import Appeal, Sanction
    from portal.tlog import rfc3339

    cipher = cipher_for(settings)

    def rows(model: Any, registration_id: int | None, order: Any) -> list[Any]:
        query = select(model).where(model.registration_id == registration_id)
        return list(session.exec(query.order_by(order)))

    def registration_data(registration: Any) -> dict[str, Any]:
        rid = registration.id
        appeals = {a.sanction_id: a for a in rows(Appeal, rid, Appeal.id)}
        numbers = {}
        links = list(session.exec(select(RosterLink).where(
            (RosterLink.manager_id == rid) | (RosterLink.streamer_id == rid))))
        for other_id in {link.manager_id for link in links} | {link.streamer_id for link in links}:
            other = session.get(type(registration), other_id)
            numbers[other_id] = other.number if other is not None else None
        return {
            "number": registration.number,
            "status": registration.status,
            "subject_kind": registration.subject_kind,
            "roles": [r for r in registration.roles.split(",") if r],
            "region": registration.region,
            "risk_level": registration.risk_level,
            "age_band": registration.age_band,
            "created_at": _iso(registration.created_at),
            "updated_at": _iso(registration.updated_at),
            "submitted_at": _iso(registration.submitted_at),
            "decided_at": _iso(registration.decided_at),
            "valid_from": _iso(registration.valid_from),
            "valid_until": _iso(registration.valid_until),
            "data_confirmed_at": _iso(registration.data_confirmed_at),
            "personal_data_erased_at": registration.answers.get(PURGED),
            "answers": _clear_answers(cipher, registration.answers, rid),
            "submissions": [{
                "version": s.version, "submitted_at": _iso(s.submitted_at),
                "signed_name": s.signed_name, "ip": s.ip, "user_agent": s.user_agent,
                "answers": _clear_answers(cipher, s.answers, rid),
            } for s in rows(Submission, rid, Submission.version)],
            "attestations": [{
                "version": a.version, "sha256": a.sha256, "signed_name": a.signed_name,
                "signed_at": _iso(a.signed_at), "data": a.data,
            } for a in rows(Attestation, rid, Attestation.version)],
            "declarations": [{"version": d.version, "sha256": d.sha256, "data": d.data}
                             for d in rows(Declaration, rid, Declaration.version)],
            "documents": [{
                "id": d.id, "kind": d.kind, "filename": d.filename,
                "content_type": d.content_type, "size": d.size, "sha256": d.sha256,
                "uploaded_at": _iso(d.created_at), "erased": not d.ciphertext,
                "url": document_url(d.id) if d.ciphertext else None,
            } for d in rows(Document, rid, Document.id)],
            # What moderators told the applicant; their internal notes are their own.
            "decisions": [{
                "kind": d.kind, "at": _iso(d.at), "reason_code": d.reason_code,
                "message": d.message, "steps": d.steps,
            } for d in rows(Decision, rid, Decision.id)],
            "sanctions": [{
                "kind": s.kind, "facts": s.facts, "reason": s.reason,
                "legal_basis": s.legal_basis, "until": _iso(s.until),
                "appeal_channel": s.appeal_channel, "created_at": _iso(s.created_at),
                "state": s.state, "ended_at": _iso(s.ended_at),
                "appeal": None if (a := appeals.get(s.id)) is None else {
                    "text": a.text, "created_at": _iso(a.created_at), "outcome": a.outcome,
                    "decided_at": _iso(a.decided_at), "decision_reason": a.decision_reason,
                },
            } for s in rows(Sanction, rid, Sanction.id)],
            # As on the applicant's timeline: an authority's inspection is not theirs to follow.
            "history": [{
                "at": _iso(e.at), "action": e.action, "by": e.actor_role,
                "from_status": e.from_status, "to_status": e.to_status, "reason": e.reason,
                "data": e.data,
            } for e in history_of(session, rid) if not e.action.startswith("inspection_")],
            "certificates": [{
                "serial": c.serial, "issued_at": _iso(c.issued_at), "log_index": c.log_index,
                "certificate": records.certificate_json(c),
            } for c in session.exec(select(records.Certificate)
                                    .where(records.Certificate.registration_id == rid)
                                    .order_by(col(records.Certificate.issued_at)))],
            "roster": {
                "manages": [{"number": numbers.get(link.streamer_id),
                             "confirmed_at": _iso(link.confirmed_at)}
                            for link in links if link.manager_id == rid],
                "managed_by": [{"number": numbers.get(link.manager_id),
                                "confirmed_at": _iso(link.confirmed_at)}
                               for link in links if link.streamer_id == rid],
            },
        }

    notifications = session.exec(select(Notification).where(Notification.user_id == user.id)
                                 .order_by(col(Notification.id)))
    return {
        "exported_at": rfc3339(utcnow()),
        "account": {
            "email": user.email,
            "role": str(user.role),
            "created_at": _iso(user.created_at),
            "email_verified": user.email_verified_at is not None,
            "email_verified_at": _iso(user.email_verified_at),
        },
        "registrations": [registration_data(r) for r in
                          reversed(registrations_of(session, user))],
        "notifications": [{
            "subject": n.subject, "body": n.body, "created_at": _iso(n.created_at),
            "read_at": _iso(n.read_at),
        } for n in notifications],
    }
