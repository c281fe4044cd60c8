"""Personal data at rest and on screen: encryption with rotating keys, the identity index
(a keyed hash that finds a person without storing their number in clear), and masking."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import os
import re
import unicodedata
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from portal.base.settings import Settings, SettingsError

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
    key = _index_key(settings_or_key)
    if ":" in id_type:
        # The type and number are joined with ":"; a type containing one could mimic another pair.
        raise ValueError("id_type must not contain ':'")
    message = f"{id_type}:{normalize_id_number(id_number)}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _index_key(settings_or_key: Settings | bytes) -> bytes:
    if isinstance(settings_or_key, Settings):
        return _decode_key(settings_or_key.secret("index_key"), "PORTAL_INDEX_KEY", exact=False)
    return settings_or_key


def person_key(settings_or_key: Settings | bytes, legal_name: str, date_of_birth: str,
               nationality: str) -> str | None:
    """The keyed hash that links one person's documents (DESIGN §5): a resident ID card, a
    passport and a travel permit of the same person share it. Made of the legal name as
    screening compares it with no spaces at all ("李 四" is "李四", "LI Si" is "lisi"), the
    date of birth (ISO 8601) and the nationality code; None when any of them is missing.
    Two people may share one: a match is a reason to look, never a proof."""
    name = "".join(fold(legal_name).split())
    if not name or not date_of_birth or not nationality:
        return None
    message = f"person:{name}:{date_of_birth}:{nationality.strip().upper()}".encode()
    return hmac.new(_index_key(settings_or_key), message, hashlib.sha256).hexdigest()


def org_key(settings_or_key: Settings | bytes, uscc: str) -> str | None:
    """The keyed hash that finds an organisation by its unified social credit code, whoever
    represents it; None without a code."""
    code = normalize_id_number(uscc or "")
    if not code:
        return None
    return hmac.new(_index_key(settings_or_key), f"org:uscc:{code}".encode(),
                    hashlib.sha256).hexdigest()


def name_hash(settings_or_key: Settings | bytes, name: str) -> str | None:
    """The keyed hash of a name alone, folded and without spaces: how an organisation's legal
    representative (named on the form, never identified) is found by a blacklisted name."""
    compact = "".join(fold(name).split())
    if not compact:
        return None
    return hmac.new(_index_key(settings_or_key), f"name:{compact}".encode(),
                    hashlib.sha256).hexdigest()


def birth_key(settings_or_key: Settings | bytes, date_of_birth: str, nationality: str
              ) -> str | None:
    """The keyed hash of a date of birth and a nationality: the people whose names screening
    compares closely with a blacklisted person's (a name one character different, or written
    another way, under another document)."""
    if not date_of_birth or not nationality:
        return None
    message = f"birth:{date_of_birth}:{nationality.strip().upper()}".encode()
    return hmac.new(_index_key(settings_or_key), message, hashlib.sha256).hexdigest()


def fold(text: str) -> str:
    """Text as screening compares it: compatibility forms unified (full-width ``ｃａｓｉｎｏ``
    is ``casino``), format characters removed (zero-width spaces and joiners, soft hyphens,
    direction marks), case folded, spaces collapsed to one. ``李\u200b四`` folds to ``李四``."""
    unified = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    visible = "".join(ch for ch in unified if unicodedata.category(ch) != "Cf")
    return " ".join(visible.split())


def has_format_characters(text: str) -> bool:
    """Whether the text holds characters that change nothing one sees (category Cf)."""
    return any(unicodedata.category(ch) == "Cf" for ch in text)


def name_key(name: str) -> str:
    """Return a legal name folded for comparison (``fold``)."""
    return fold(name)


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


_PHONE_IN_TEXT = re.compile(r"\+?\d[\d \t-]{5,22}\d")


def mask_phones_in_text(text: str) -> str:
    """Free text with each phone number in it (seven digits or more, spaces and dashes
    allowed) masked as ``mask_phone`` does: "李四 139 1234 5678" is "李四 139****5678"."""
    def masked(match: re.Match[str]) -> str:
        found = match.group(0)
        return mask_phone(found) if sum(c.isdigit() for c in found) >= 7 else found
    return _PHONE_IN_TEXT.sub(masked, text)


def is_cjk(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith(("CJK ", "HANGUL ", "HIRAGANA ", "KATAKANA "))


def mask_name(name: str) -> str:
    """Return a name with only the first character of each word (CJK: of the name) shown."""
    name = " ".join(unicodedata.normalize("NFC", name).split())
    if len(name) <= 1:
        return name
    if any(is_cjk(ch) for ch in name):
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
