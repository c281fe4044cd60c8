from __future__ import annotations

import base64
import hashlib
import os

import pytest

from portal.base import uploads
from portal.base.crypto import (
    DataCipher,
    DecryptionError,
    cipher_for,
    identity_index,
    mask_email,
    mask_id_number,
    mask_name,
    mask_phone,
    name_key,
)
from portal.base.settings import Settings, SettingsError
from portal.base.uploads import (
    MAX_UPLOAD_BYTES,
    UploadError,
    check_upload,
    safe_filename,
    sniff_content_type,
)

KEY_A = bytes(range(32))
KEY_B = bytes(range(32, 64))
CONTEXT = b"registration:12:id_number"

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
PNG = (
    b"\x89PNG\r\n\x1a\n"
    b"\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)
PDF = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


# --- Encryption ------------------------------------------------------------------------------


def test_decrypt_returns_what_was_encrypted() -> None:
    cipher = DataCipher(KEY_A)
    blob = cipher.encrypt(b"\x00secret\xff", context=CONTEXT)
    assert cipher.decrypt(blob, context=CONTEXT) == b"\x00secret\xff"


def test_decrypt_text_returns_unicode_text() -> None:
    cipher = DataCipher(KEY_A)
    blob = cipher.encrypt_text("张三 110105198503128794", context=CONTEXT)
    assert cipher.decrypt_text(blob, context=CONTEXT) == "张三 110105198503128794"


def test_encrypt_lays_out_version_kid_nonce_and_tag() -> None:
    cipher = DataCipher(KEY_A)
    blob = cipher.encrypt(b"abc")
    assert blob[:1] == b"\x01"
    assert blob[1:5].hex() == cipher.current_kid
    assert len(blob) == 1 + 4 + 12 + 3 + 16
    assert b"abc" not in blob


def test_encrypt_twice_gives_different_ciphertexts() -> None:
    cipher = DataCipher(KEY_A)
    first = cipher.encrypt(b"same", context=CONTEXT)
    second = cipher.encrypt(b"same", context=CONTEXT)
    assert first != second
    assert first[5:17] != second[5:17]  # the nonces


def test_decrypt_refuses_another_context() -> None:
    cipher = DataCipher(KEY_A)
    blob = cipher.encrypt(b"110105198503128794", context=CONTEXT)
    with pytest.raises(DecryptionError):
        cipher.decrypt(blob, context=b"registration:13:id_number")
    with pytest.raises(DecryptionError):
        cipher.decrypt(blob)


@pytest.mark.parametrize("position", [5, 17, -1])  # a nonce byte, a ciphertext byte, the tag
def test_decrypt_refuses_a_tampered_byte(position: int) -> None:
    cipher = DataCipher(KEY_A)
    blob = bytearray(cipher.encrypt(b"hello world", context=CONTEXT))
    blob[position] ^= 0x01
    with pytest.raises(DecryptionError, match="authentication"):
        cipher.decrypt(bytes(blob), context=CONTEXT)


def test_decrypt_refuses_an_unknown_kid() -> None:
    blob = DataCipher(KEY_B).encrypt(b"hello")
    with pytest.raises(DecryptionError, match="unknown data key"):
        DataCipher(KEY_A).decrypt(blob)


def test_decrypt_refuses_an_unknown_version() -> None:
    cipher = DataCipher(KEY_A)
    blob = b"\x02" + cipher.encrypt(b"hello")[1:]
    with pytest.raises(DecryptionError, match="version"):
        cipher.decrypt(blob)


@pytest.mark.parametrize("blob", [b"", b"\x01", b"\x01" + b"\x00" * 31])
def test_decrypt_refuses_a_truncated_blob(blob: bytes) -> None:
    with pytest.raises(DecryptionError, match="too short"):
        DataCipher(KEY_A).decrypt(blob)


def test_decrypt_text_refuses_bytes_that_are_not_utf8() -> None:
    cipher = DataCipher(KEY_A)
    with pytest.raises(DecryptionError, match="UTF-8"):
        cipher.decrypt_text(cipher.encrypt(b"\xff\xfe"))


def test_decrypt_with_old_key_after_rotation() -> None:
    blob = DataCipher(KEY_A).encrypt(b"old data", context=CONTEXT)
    rotated = DataCipher(KEY_B, old=[KEY_A])
    assert rotated.decrypt(blob, context=CONTEXT) == b"old data"
    assert rotated.needs_rotation(blob)
    assert not rotated.needs_rotation(rotated.encrypt(b"new data"))


def test_reencrypt_moves_data_to_the_current_key() -> None:
    blob = DataCipher(KEY_A).encrypt(b"old data", context=CONTEXT)
    rotated = DataCipher(KEY_B, old=[KEY_A])
    fresh = rotated.reencrypt(blob, context=CONTEXT)
    assert not rotated.needs_rotation(fresh)
    assert DataCipher(KEY_B).decrypt(fresh, context=CONTEXT) == b"old data"
    assert rotated.reencrypt(fresh, context=CONTEXT) is fresh


def test_kid_does_not_reveal_the_key() -> None:
    cipher = DataCipher(KEY_A)
    kid = bytes.fromhex(cipher.current_kid)
    assert len(kid) == 4
    assert kid != KEY_A[:4]
    assert kid not in KEY_A
    assert cipher.current_kid != DataCipher(KEY_B).current_kid


@pytest.mark.parametrize("key", [b"", b"k" * 16, b"k" * 24, b"k" * 33])
def test_data_cipher_refuses_a_key_that_is_not_32_bytes(key: bytes) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        DataCipher(key)
    with pytest.raises(ValueError, match="32 bytes"):
        DataCipher(KEY_A, old=[key])


def test_data_cipher_accepts_the_current_key_listed_again_as_old() -> None:
    cipher = DataCipher(KEY_A, old=[KEY_A, KEY_B])
    assert cipher.decrypt(cipher.encrypt(b"x")) == b"x"


def test_cipher_for_generates_and_shares_a_development_key(tmp_path) -> None:
    cipher = cipher_for(Settings(data_dir=tmp_path))
    blob = cipher.encrypt_text("110105198503128794", context=CONTEXT)
    assert (tmp_path / "data_key.txt").exists()
    again = cipher_for(Settings(data_dir=tmp_path))
    assert again.decrypt_text(blob, context=CONTEXT) == "110105198503128794"


@pytest.mark.parametrize("data_key", [b64(b"k" * 16), b64(b"k" * 33), "not base64!"])
def test_cipher_for_refuses_a_bad_data_key(tmp_path, data_key: str) -> None:
    with pytest.raises(SettingsError, match="PORTAL_DATA_KEY must be 32 bytes"):
        cipher_for(Settings(data_dir=tmp_path, data_key=data_key))


def test_cipher_for_reads_old_data_keys(tmp_path) -> None:
    blob = DataCipher(KEY_A).encrypt(b"old data")
    old_keys = f" {b64(os.urandom(32))} , {b64(KEY_A)}"
    settings = Settings(data_dir=tmp_path, data_key=b64(KEY_B), old_data_keys=old_keys)
    cipher = cipher_for(settings)
    assert cipher.decrypt(blob) == b"old data"
    assert cipher.needs_rotation(blob)
    assert cipher.current_kid == DataCipher(KEY_B).current_kid


def test_cipher_for_refuses_a_bad_old_data_key(tmp_path) -> None:
    settings = Settings(
        data_dir=tmp_path, data_key=b64(KEY_B), old_data_keys=f"{b64(KEY_A)},{b64(b'short')}"
    )
    with pytest.raises(SettingsError, match="PORTAL_OLD_DATA_KEYS"):
        cipher_for(settings)


# --- Identity index --------------------------------------------------------------------------


def test_identity_index_is_stable_for_the_same_settings(tmp_path) -> None:
    first = identity_index(Settings(data_dir=tmp_path), "cn_resident", "11010519850312879X")
    second = identity_index(Settings(data_dir=tmp_path), "cn_resident", "11010519850312879X")
    assert first == second
    assert len(first) == 64
    assert int(first, 16) >= 0


def test_identity_index_differs_by_id_type() -> None:
    assert identity_index(KEY_A, "cn_resident", "E12345678") != identity_index(
        KEY_A, "passport", "E12345678"
    )


@pytest.mark.parametrize(
    "variant",
    ["11010519850312879x", " 1101 0519 8503 1287 9X ", "１１０１０５１９８５０３１２８７９Ｘ"],
)
def test_identity_index_ignores_case_and_spaces_in_the_number(variant: str) -> None:
    expected = identity_index(KEY_A, "cn_resident", "11010519850312879X")
    assert identity_index(KEY_A, "cn_resident", variant) == expected


def test_identity_index_differs_with_another_index_key() -> None:
    assert identity_index(KEY_A, "passport", "E12345678") != identity_index(
        KEY_B, "passport", "E12345678"
    )


def test_identity_index_does_not_contain_the_number() -> None:
    index = identity_index(KEY_A, "cn_resident", "110105198503128794")
    assert "110105198503128794" not in index
    # Keyed: an unkeyed hash could be reversed by hashing every possible ID number.
    assert index != hashlib.sha256(b"cn_resident:110105198503128794").hexdigest()


def test_identity_index_refuses_a_type_with_a_colon() -> None:
    with pytest.raises(ValueError, match="':'"):
        identity_index(KEY_A, "cn:resident", "110105198503128794")


def test_identity_index_refuses_a_short_index_key(tmp_path) -> None:
    with pytest.raises(SettingsError, match="PORTAL_INDEX_KEY"):
        identity_index(Settings(data_dir=tmp_path, index_key=b64(b"short")), "passport", "E1")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("John  Smith", " john smith "),
        ("ＪＯＨＮ ＳＭＩＴＨ", "john smith"),
        ("STRASSE", "straße"),
        ("张三", " 张三\u3000"),
    ],
)
def test_name_key_matches_variants_of_the_same_name(a: str, b: str) -> None:
    assert name_key(a) == name_key(b)


def test_name_key_keeps_different_names_apart() -> None:
    assert name_key("张三") != name_key("张 三")
    assert name_key("John Smith") != name_key("Jon Smith")


# --- Masking ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("110105198503128794", "1101**********8794"),
        ("11010519850312002X", "1101**********002X"),
        ("110105850312879", "1101*******2879"),  # 15-digit mainland ID
        ("E12345678", "E1*****78"),  # passport, 9
        ("K1234567", "K1****67"),  # passport, 8
        ("A123456789", "A1******89"),  # Taiwan, 10
        ("12345", "1***5"),
        ("1234", "***4"),
        ("7", "7"),
        ("", ""),
        (" 1101 0519 8503 1287 94 ", "1101**********8794"),
    ],
)
def test_mask_id_number_keeps_only_its_ends(number: str, masked: str) -> None:
    assert mask_id_number(number) == masked


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("13812345678", "138****5678"),
        ("138 1234 5678", "138****5678"),
        ("+8613812345678", "+861******5678"),
        ("+1 (415) 555-0132", "+141****0132"),
        ("+44 20 7946 0958", "+442*****0958"),
        ("12345", "***45"),
        ("", ""),
    ],
)
def test_mask_phone_keeps_first_three_and_last_four_digits(phone: str, masked: str) -> None:
    assert mask_phone(phone) == masked


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三", "张*"),
        ("欧阳娜娜", "欧***"),
        ("王小明", "王**"),
        ("张", "张"),
        (" 张三 ", "张*"),
        ("김민수", "김**"),
        ("John Smith", "J*** S****"),
        ("john  smith", "j*** s****"),
        ("Mary-Jane O'Neil", "M******** O*****"),
        ("José Álvarez", "J*** Á******"),
        ("J", "J"),
        ("Jo", "J*"),
        ("", ""),
    ],
)
def test_mask_name_keeps_first_characters(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_mask_name_counts_a_decomposed_accent_as_one_character() -> None:
    assert mask_name("Jose\u0301") == "J***"


@pytest.mark.parametrize(
    ("email", "masked"),
    [
        ("someone@example.com", "s*****@example.com"),
        ("s@example.com", "s*****@example.com"),
        ("a.very.long.name@example.com", "a*****@example.com"),
        ("not-an-email", "n*****"),
        ("", ""),
    ],
)
def test_mask_email_keeps_first_character_and_domain(email: str, masked: str) -> None:
    assert mask_email(email) == masked


# --- Uploads ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "content_type"),
    [(JPEG, "image/jpeg"), (PNG, "image/png"), (PDF, "application/pdf")],
)
def test_check_upload_accepts_jpeg_png_and_pdf(data: bytes, content_type: str) -> None:
    assert check_upload(data, "scan.bin") == content_type
    assert content_type in uploads.ALLOWED_TYPES


def test_check_upload_detects_a_png_renamed_pdf() -> None:
    assert check_upload(PNG, "passport.pdf") == "image/png"


def test_sniff_content_type_detects_pdf_bytes_declared_as_png() -> None:
    # The browser said image/png; only the bytes count.
    assert sniff_content_type(PDF) == "application/pdf"
    assert check_upload(PDF, "photo.png") == "application/pdf"


@pytest.mark.parametrize(
    "data",
    [
        b"<!DOCTYPE html><html><script>alert(1)</script></html>",
        b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff",  # Windows executable
        b"GIF89a\x01\x00\x01\x00\x80\x00\x00",
        b"just some text\n",
        b"\xef\xbb\xbf%PDF-1.7\n",  # PDF header not at offset 0
        b"<html>%PDF-1.4",
        b"%PDF",  # the bare word, without the version that follows the dash
        b"\x89PNG\r\n",  # truncated PNG signature
    ],
)
def test_check_upload_refuses_other_types(data: bytes) -> None:
    with pytest.raises(UploadError, match="must be a JPG, PNG or PDF"):
        check_upload(data, "document.pdf")
    assert sniff_content_type(data) is None


def test_check_upload_accepts_exactly_5_mb() -> None:
    data = PNG + b"\x00" * (MAX_UPLOAD_BYTES - len(PNG))
    assert len(data) == 5 * 1024 * 1024
    assert check_upload(data) == "image/png"


def test_check_upload_refuses_5_mb_plus_one_byte() -> None:
    data = PNG + b"\x00" * (MAX_UPLOAD_BYTES - len(PNG) + 1)
    with pytest.raises(UploadError, match="smaller than 5 MB"):
        check_upload(data)


def test_check_upload_refuses_an_empty_file() -> None:
    with pytest.raises(UploadError, match="The selected file is empty"):
        check_upload(b"", "empty.pdf")


def test_upload_error_is_a_value_error() -> None:
    assert issubclass(UploadError, ValueError)


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("passport.pdf", "passport.pdf"),
        ("/etc/passwd", "passwd"),
        ("../../secret.png", "secret.png"),
        ("C:\\Users\\me\\Desktop\\身份证.jpg", "身份证.jpg"),
        ("bad\x00na\nme\x7f.pdf", "badname.pdf"),
        ("invoice\u202egpj.exe", "invoicegpj.exe"),
        ("", "document"),
        ("   ", "document"),
        ("uploads/", "document"),
        ("..", "document"),
    ],
)
def test_safe_filename_keeps_a_clean_base_name(name: str, safe: str) -> None:
    assert safe_filename(name) == safe


def test_safe_filename_shortens_long_names_keeping_the_extension() -> None:
    safe = safe_filename("a" * 300 + ".pdf")
    assert len(safe) == 120
    assert safe.endswith(".pdf")
    assert len(safe_filename("b" * 300)) == 120
