from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from portal.base import identity
from portal.base.identity import (
    FormatProvider,
    HTTPProvider,
    IdentityClaim,
    ProviderUnavailable,
    VerificationResult,
    Who,
)
from portal.base.settings import Settings

DATA = json.loads((Path(__file__).parents[2] / "data" / "identities.json").read_text("utf-8"))
TODAY = date(2025, 6, 15)

LENGTH = "18 characters: 17 digits and a final digit or X"
BIRTH = "date of birth in the ID number must be a real date"
CHECKSUM = "not valid: check it for typing mistakes"
EMPTY = "Enter the ID number"


def years_before(day: date, years: int, *, missing_leap_day: tuple[int, int] = (2, 28)) -> date:
    """The same day ``years`` earlier; a missing 29 February becomes ``missing_leap_day``."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return date(day.year - years, *missing_leap_day)


# --- resident ID numbers from the test data ---------------------------------------------------


@pytest.mark.parametrize(
    "case", DATA["cn_resident_id"]["valid"], ids=lambda c: c["id_number"]
)
def test_validate_id_number_accepts_valid_resident_id(case: dict[str, str]) -> None:
    number = identity.validate_id_number("cn_resident_id", case["id_number"])
    assert number == case["id_number"]
    dob = date.fromisoformat(case["date_of_birth"])
    assert identity.birth_date_from_resident_id(number) == dob
    identity.check_birth_date("cn_resident_id", number, dob)


EXPECTED_KIND = {
    "wrong check character": CHECKSUM,
    "no such date (30 February)": BIRTH,
    "birth date in the future": BIRTH,
    "17 characters": LENGTH,
    "19 characters": LENGTH,
    "letter inside the digits": LENGTH,
    "empty": EMPTY,
    "injection attempt": LENGTH,
}


@pytest.mark.parametrize("case", DATA["cn_resident_id"]["invalid"], ids=lambda c: c["why"])
def test_validate_id_number_refuses_invalid_resident_id(case: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=EXPECTED_KIND[case["why"]]):
        identity.validate_id_number(case["id_type"], case["id_number"], today=TODAY)


def test_validate_id_number_normalises_lower_case_x_and_spaces() -> None:
    assert identity.validate_id_number("cn_resident_id", " 110101 19880808 108x ") == (
        "11010119880808108X"
    )
    assert identity.normalize_id_number("cn_resident_id", "11010119880808108x") == (
        "11010119880808108X"
    )


def test_validate_id_number_accepts_full_width_digits() -> None:
    full_width = "１１０１０５１９８５０３１２８７９４"
    assert identity.validate_id_number("cn_resident_id", full_width) == "110105198503128794"


def test_validate_id_number_refuses_birth_before_1900() -> None:
    number = identity.make_resident_id("110105", date(1899, 12, 31), 1)
    with pytest.raises(ValueError, match=BIRTH):
        identity.validate_id_number("cn_resident_id", number, today=TODAY)


def test_validate_id_number_refuses_birth_after_today() -> None:
    number = identity.make_resident_id("110105", TODAY + timedelta(days=1), 1)
    with pytest.raises(ValueError, match=BIRTH):
        identity.validate_id_number("cn_resident_id", number, today=TODAY)
    assert identity.validate_id_number(
        "cn_resident_id", identity.make_resident_id("110105", TODAY, 1), today=TODAY
    )


def test_validate_id_number_refuses_unknown_type() -> None:
    with pytest.raises(ValueError, match="Select the type of ID document"):
        identity.validate_id_number("library_card", "12345678")


def test_check_birth_date_refuses_mismatch() -> None:
    with pytest.raises(ValueError, match="The date of birth does not match the ID number"):
        identity.check_birth_date("cn_resident_id", "110105198503128794", date(1985, 3, 13))
    identity.check_birth_date("cn_resident_id", "110105198503128794", date(1985, 3, 12))


def test_check_birth_date_ignores_documents_without_a_birth_date() -> None:
    identity.check_birth_date("passport", "E12345678", date(1985, 3, 13))
    identity.check_birth_date("foreign_permanent_residence", "USA110085031201", date(1990, 1, 1))


def test_birth_date_from_resident_id_refuses_impossible_date() -> None:
    with pytest.raises(ValueError, match=BIRTH):
        identity.birth_date_from_resident_id("110105199902301237")


def test_make_resident_id_builds_valid_numbers() -> None:
    number = identity.make_resident_id("110105", date(1985, 3, 12), 879)
    assert number == "110105198503128794"
    assert identity.make_resident_id("110101", date(1988, 8, 8), 108) == "11010119880808108X"
    with pytest.raises(ValueError):
        identity.make_resident_id("1101", date(1988, 8, 8), 1)
    with pytest.raises(ValueError):
        identity.make_resident_id("110101", date(1988, 8, 8), 1000)


# --- ages -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("birth", "today", "age"),
    [
        (date(2000, 6, 15), date(2016, 6, 15), 16),
        (date(2000, 6, 16), date(2016, 6, 15), 15),
        (date(2000, 6, 14), date(2016, 6, 15), 16),
        (date(2008, 2, 29), date(2024, 2, 28), 15),
        (date(2008, 2, 29), date(2024, 2, 29), 16),
        (date(2008, 2, 29), date(2025, 2, 28), 16),
        (date(2008, 2, 29), date(2025, 3, 1), 17),
        (date(2007, 3, 1), date(2024, 2, 29), 16),
        (date(2007, 3, 1), date(2024, 3, 1), 17),
    ],
)
def test_age_on_counts_whole_years(birth: date, today: date, age: int) -> None:
    assert identity.age_on(birth, today) == age


def test_check_age_29_february_birthday_comes_on_1_march_in_common_years() -> None:
    number = "330106200002291582"  # born 2000-02-29, from the test data
    born = identity.birth_date_from_resident_id(number)
    with pytest.raises(ValueError, match="The guardian must be 18 or older"):
        identity.check_age(born, today=date(2018, 2, 28), who=Who.guardian)
    assert identity.check_age(born, today=date(2018, 3, 1), who=Who.guardian) == 18


def claim_for_age(years: int, today: date, *, birthday_tomorrow: bool = False) -> IdentityClaim:
    """A resident whose birthday number ``years`` is today (or tomorrow)."""
    if birthday_tomorrow:
        # Born on 1 March when tomorrow is a 29 February their birth year lacked.
        dob = years_before(today + timedelta(days=1), years, missing_leap_day=(3, 1))
    else:
        dob = years_before(today, years)
    number = identity.make_resident_id("110105", dob, 17)
    return IdentityClaim("cn_resident_id", number, "张三", dob)


@pytest.mark.parametrize(
    ("years", "birthday_tomorrow", "age"),
    [
        (15, False, 15),
        (16, True, 15),
        (16, False, 16),
        (17, True, 16),
        (17, False, 17),
        (18, True, 17),
        (18, False, 18),
    ],
)
def test_check_age_counts_from_today(years: int, birthday_tomorrow: bool, age: int) -> None:
    today = identity.china_today()
    claim = claim_for_age(years, today, birthday_tomorrow=birthday_tomorrow)
    number = identity.validate_id_number("cn_resident_id", claim.id_number, today=today)
    identity.check_birth_date("cn_resident_id", number, claim.date_of_birth)
    assert identity.age_on(claim.date_of_birth, today) == age
    if age < identity.MIN_AGE:
        with pytest.raises(ValueError, match="at least 16"):
            identity.check_age(claim.date_of_birth, today=today)
    else:
        assert identity.check_age(claim.date_of_birth, today=today) == age


@pytest.mark.parametrize(
    ("who", "message"),
    [
        (Who.guardian, "The guardian must be 18 or older"),
        ("responsible_person", "The person responsible for an organisation must be 18 or older"),
    ],
)
def test_check_age_refuses_adult_roles_under_18(who: Who | str, message: str) -> None:
    today = identity.china_today()
    seventeen = claim_for_age(18, today, birthday_tomorrow=True).date_of_birth
    with pytest.raises(ValueError, match=message):
        identity.check_age(seventeen, today=today, who=who)
    eighteen = years_before(today, 18)
    assert identity.check_age(eighteen, today=today, who=who) == 18


def test_check_age_takes_an_explicit_minimum() -> None:
    with pytest.raises(ValueError, match="A streamer must be at least 18 years old"):
        identity.check_age(date(2000, 1, 2), today=date(2018, 1, 1), minimum=identity.ADULT_AGE)
    assert identity.check_age(date(2000, 1, 2), today=date(2010, 1, 2), minimum=0) == 10


def test_check_age_refuses_birth_date_in_future() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        identity.check_age(date(2030, 1, 1), today=TODAY)


# --- other ID documents -----------------------------------------------------------------------

FPR_NEW = identity.make_resident_id("911840", date(1985, 3, 12), 123)


@pytest.mark.parametrize(
    ("id_type", "raw", "expected"),
    [
        ("passport", "E12345678", "E12345678"),
        ("passport", "g1234 5678", "G12345678"),
        ("passport", "AB123", "AB123"),
        ("passport", "X1234567890123456", "X1234567890123456"),
        ("hk_macao_permit", "H12345678", "H12345678"),
        ("hk_macao_permit", "m 1234567890", "M1234567890"),
        ("taiwan_permit", "12345678", "12345678"),
        ("taiwan_permit", "1234567801", "1234567801"),
        ("foreign_permanent_residence", "usa110085031201", "USA110085031201"),
        ("foreign_permanent_residence", FPR_NEW.lower(), FPR_NEW),
    ],
)
def test_validate_id_number_accepts_other_documents(id_type: str, raw: str, expected: str) -> None:
    assert identity.validate_id_number(id_type, raw, today=TODAY) == expected


@pytest.mark.parametrize(
    ("id_type", "raw", "message"),
    [
        ("passport", "", EMPTY),
        ("passport", "E123", "5 to 17 letters and digits"),
        ("passport", "X12345678901234567", "5 to 17 letters and digits"),
        ("passport", "E1234-5678", "5 to 17 letters and digits"),
        ("passport", "护照12345678", "5 to 17 letters and digits"),
        ("hk_macao_permit", "H1234567", "H or M followed by 8 or 10 digits"),
        ("hk_macao_permit", "H123456789", "H or M followed by 8 or 10 digits"),
        ("hk_macao_permit", "K12345678", "H or M followed by 8 or 10 digits"),
        ("hk_macao_permit", "12345678", "H or M followed by 8 or 10 digits"),
        ("taiwan_permit", "1234567", "8 or 10 digits"),
        ("taiwan_permit", "123456789", "8 or 10 digits"),
        ("taiwan_permit", "T1234567", "8 or 10 digits"),
        ("foreign_permanent_residence", "USA11008503120", "15 letters and digits"),
        ("foreign_permanent_residence", "811840198503121234", "15 letters and digits"),
        ("foreign_permanent_residence", "USA-1008503120", "15 letters and digits"),
        ("foreign_permanent_residence", FPR_NEW[:17] + ("0" if FPR_NEW[17] != "0" else "1"),
         CHECKSUM),
        ("foreign_permanent_residence", identity.make_resident_id("911840", date(2030, 1, 1), 1),
         BIRTH),
    ],
)
def test_validate_id_number_refuses_bad_other_documents(
    id_type: str, raw: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        identity.validate_id_number(id_type, raw, today=TODAY)


def test_check_birth_date_compares_new_permanent_residence_number() -> None:
    identity.check_birth_date("foreign_permanent_residence", FPR_NEW, date(1985, 3, 12))
    with pytest.raises(ValueError, match="does not match"):
        identity.check_birth_date("foreign_permanent_residence", FPR_NEW, date(1985, 3, 11))


def test_id_types_are_the_five_documents() -> None:
    assert identity.ID_TYPES == (
        "cn_resident_id", "passport", "hk_macao_permit", "taiwan_permit",
        "foreign_permanent_residence",
    )


# --- dates ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ["1990-03-27", "1990/03/27", "1990年03月27日", "1990年3月27日", " 1990-3-27 ", "1990/3/27",
     "１９９０－０３－２７"],
)
def test_parse_date_reads_accepted_forms(raw: str) -> None:
    assert identity.parse_date(raw) == date(1990, 3, 27)


def test_parse_date_reads_29_february_in_leap_year() -> None:
    assert identity.parse_date("2000-02-29") == date(2000, 2, 29)


@pytest.mark.parametrize(
    "raw",
    ["", "   ", "27/03/1990", "1990-02-30", "1990-13-01", "1990-03-27T00:00", "1990-03/27",
     "yesterday", "0000-01-01", "1990-3", "1900-02-29", "90-03-27"],
)
def test_parse_date_refuses_other_input(raw: str) -> None:
    with pytest.raises(ValueError, match="Enter a real date, like 1990-03-27"):
        identity.parse_date(raw)


# --- unified social credit codes and ICP numbers ----------------------------------------------


@pytest.mark.parametrize("case", DATA["uscc"]["valid"], ids=lambda c: c["uscc"])
def test_validate_uscc_accepts_valid_code(case: dict[str, str]) -> None:
    assert identity.validate_uscc(case["uscc"]) == case["uscc"]
    assert identity.validate_uscc(f"  {case['uscc'].lower()} ") == case["uscc"]


@pytest.mark.parametrize(
    ("good", "bad"),
    [("91110000MA01000090", "91110000MA0100009Y"), ("91110000MA0100028Y", "91110000MA01000280")],
)
def test_validate_uscc_maps_check_values_30_and_31(good: str, bad: str) -> None:
    """A check value of 31 is written 0; 30 is Y, the last letter of the alphabet."""
    assert identity.validate_uscc(good) == good
    with pytest.raises(ValueError, match="not valid"):
        identity.validate_uscc(bad)


USCC_KIND = {
    "wrong check character": "not valid: check it for typing mistakes",
    "letter I is not in the alphabet": "never I, O, Z, S or V",
    "17 characters": "has 18 characters",
}


@pytest.mark.parametrize("case", DATA["uscc"]["invalid"], ids=lambda c: c["why"])
def test_validate_uscc_refuses_invalid_code(case: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=USCC_KIND[case["why"]]):
        identity.validate_uscc(case["uscc"])


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "Enter the unified social credit code"),
        ("91110000MA01ABCD1M0", "has 18 characters"),
        ("91110000MA01ABCDOM", "never I, O, Z, S or V"),
        ("91110000MA01ABCD1-", "never I, O, Z, S or V"),
    ],
)
def test_validate_uscc_refuses_other_bad_codes(raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        identity.validate_uscc(raw)


@pytest.mark.parametrize("raw", DATA["icp"]["valid"])
def test_validate_icp_accepts_valid_number(raw: str) -> None:
    assert identity.validate_icp(raw) == raw
    assert identity.validate_icp(f" {raw.replace('ICP', 'icp')} ") == raw


@pytest.mark.parametrize(
    "raw",
    [*DATA["icp"]["invalid"], "", "京ICP备123号", "京ICP备1234567890123号", "京ICP备12345678号-",
     "京ICP证12345678号", "北ICP备12345678号", "京ICP备12345678号-3a", "京京ICP备12345678号"],
)
def test_validate_icp_refuses_invalid_number(raw: str) -> None:
    with pytest.raises(ValueError, match="like 京ICP备12345678号"):
        identity.validate_icp(raw)


def test_validate_icp_knows_34_provinces() -> None:
    assert len(set(identity.ICP_PROVINCES)) == 34
    for province in identity.ICP_PROVINCES:
        assert identity.validate_icp(f"{province}ICP备1234号-12") == f"{province}ICP备1234号-12"


# --- phone numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13812345678", "13812345678"),
        (" 138 1234 5678 ", "13812345678"),
        ("138-1234-5678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("8613812345678", "13812345678"),
        ("0086 13812345678", "13812345678"),
        ("19912345678", "19912345678"),
        ("１３８１２３４５６７８", "13812345678"),
        ("+44 7911 123456", "+447911123456"),
        ("0044 7911 123456", "+447911123456"),
        ("+852 9123 4567", "+85291234567"),
        ("+1-202-555-0143", "+12025550143"),
    ],
)
def test_validate_phone_normalises_number(raw: str, expected: str) -> None:
    assert identity.validate_phone(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "12812345678", "1381234567", "138123456789", "+86 10 1234 5678", "+86 12812345678",
     "010-12345678", "+123456", "+1234567890123456", "+0123456789", "tel:13812345678",
     "138 1234 567a", "+44 (0)7911 123456"],
)
def test_validate_phone_refuses_other_input(raw: str) -> None:
    with pytest.raises(ValueError, match="Enter a mobile phone number, like 13812345678"):
        identity.validate_phone(raw)


# --- format provider --------------------------------------------------------------------------

ADULT = IdentityClaim("cn_resident_id", "11010119880808108x", "王五", date(1988, 8, 8))


def test_format_provider_verifies_good_claim() -> None:
    assert FormatProvider().verify(ADULT, today=TODAY) == VerificationResult(True, "format")


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"id_number": "110105198503128793"}, CHECKSUM),
        ({"id_number": ""}, EMPTY),
        ({"date_of_birth": date(1988, 8, 9)}, "does not match"),
        ({"id_type": "unknown"}, "Select the type of ID document"),
    ],
)
def test_format_provider_refuses_bad_claim(changes: dict[str, Any], reason: str) -> None:
    claim = IdentityClaim(**{**ADULT.__dict__, **changes})
    result = FormatProvider().verify(claim, today=TODAY)
    assert not result.verified and result.provider == "format"
    assert reason in result.reason


def test_format_provider_refuses_under_16() -> None:
    today = identity.china_today()
    result = FormatProvider().verify(claim_for_age(16, today, birthday_tomorrow=True), today=today)
    assert not result.verified and "at least 16" in result.reason
    result = FormatProvider().verify(claim_for_age(16, today), today=today)
    assert result.verified


def test_format_provider_accepts_passport_without_birth_date_in_number() -> None:
    claim = IdentityClaim("passport", "E12345678", "Jane Doe", date(1990, 1, 1))
    assert FormatProvider().verify(claim, today=TODAY).verified


# --- HTTP provider against a fake verification service ----------------------------------------

ANSWERS: dict[str, tuple[int, bytes]] = {
    "/ok": (200, b'{"verified": true, "reference": "REF-123"}'),
    "/no": (200, b'{"verified": false, "reason": "Name and number do not match"}'),
    "/no-reason": (200, b'{"verified": false}'),
    "/slow": (200, b'{"verified": true}'),
    "/error": (500, b'{"error": "internal"}'),
    "/html": (200, b"<html><body>Welcome</body></html>"),
    "/no-verified": (200, b'{"result": "ok"}'),
    "/string-verified": (200, b'{"verified": "true"}'),
    "/list": (200, b"[true]"),
    "/redirect": (302, b""),
    "/created": (201, b'{"verified": true}'),
}


class _FakeServer(ThreadingHTTPServer):
    # Join handler threads on close, so nothing outlives the test.
    daemon_threads = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _FakeHandler)
        self.received: list[dict[str, Any]] = []
        self.release = threading.Event()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The slow answer is written after the client gave up; a broken pipe is expected.
        pass


class _FakeHandler(BaseHTTPRequestHandler):
    server: _FakeServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.received.append(
            {"path": self.path, "headers": dict(self.headers.items()), "body": body}
        )
        path = self.path.partition("?")[0]
        if path == "/slow":
            self.server.release.wait(5)
        status, payload = ANSWERS[path]
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "/ok")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class FakeService:
    base: str
    server: _FakeServer
    received: list[dict[str, Any]] = field(default_factory=list)

    def provider(self, path: str, **kwargs: Any) -> HTTPProvider:
        kwargs.setdefault("allow", "127.0.0.0/8")
        kwargs.setdefault("timeout", 2.0)
        return HTTPProvider(self.base + path, **kwargs)


@pytest.fixture
def service() -> Iterator[FakeService]:
    server = _FakeServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield FakeService(f"http://{host!s}:{port}", server, server.received)
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_http_provider_sends_claim_and_reads_verified(service: FakeService) -> None:
    result = service.provider("/ok", token="s3cret").verify(ADULT, today=TODAY)
    assert result == VerificationResult(True, "http", reference="REF-123")
    [request] = service.received
    assert request["path"] == "/ok"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["Authorization"] == "Bearer s3cret"
    assert json.loads(request["body"]) == {
        "id_type": "cn_resident_id",
        "id_number": "11010119880808108X",
        "legal_name": "王五",
        "date_of_birth": "1988-08-08",
    }


def test_http_provider_sends_no_authorization_without_token(service: FakeService) -> None:
    assert service.provider("/ok").verify(ADULT, today=TODAY).verified
    assert "Authorization" not in service.received[0]["headers"]


def test_http_provider_accepts_any_2xx(service: FakeService) -> None:
    assert service.provider("/created").verify(ADULT, today=TODAY).verified


def test_http_provider_reports_refusal_with_reason(service: FakeService) -> None:
    result = service.provider("/no").verify(ADULT, today=TODAY)
    assert result == VerificationResult(False, "http", reason="Name and number do not match")


def test_http_provider_gives_a_reason_when_service_gives_none(service: FakeService) -> None:
    result = service.provider("/no-reason").verify(ADULT, today=TODAY)
    assert not result.verified and "do not match" in result.reason


def test_http_provider_does_not_ask_about_impossible_claim(service: FakeService) -> None:
    claim = IdentityClaim("cn_resident_id", "110105198503128793", "王五", date(1985, 3, 12))
    result = service.provider("/ok").verify(claim, today=TODAY)
    assert not result.verified and CHECKSUM in result.reason and result.provider == "http"
    assert service.received == []


def test_http_provider_times_out_on_slow_answer(service: FakeService) -> None:
    with pytest.raises(ProviderUnavailable, match=r"no answer within 0\.3 s"):
        service.provider("/slow", timeout=0.3).verify(ADULT, today=TODAY)
    assert len(service.received) == 1


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("/error", "HTTP status 500"),
        ("/redirect", "HTTP status 302"),
        ("/html", "not JSON"),
        ("/no-verified", '"verified"'),
        ("/string-verified", '"verified"'),
        ("/list", '"verified"'),
    ],
)
def test_http_provider_unavailable_on_bad_answer(
    service: FakeService, path: str, detail: str
) -> None:
    with pytest.raises(ProviderUnavailable, match=detail):
        service.provider(path).verify(ADULT, today=TODAY)
    # A redirect is not followed.
    assert [r["path"] for r in service.received] == [path]


def test_http_provider_unavailable_when_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = HTTPProvider(f"http://127.0.0.1:{port}/ok", allow="127.0.0.0/8", timeout=2)
    with pytest.raises(ProviderUnavailable, match="ConnectionRefusedError"):
        provider.verify(ADULT, today=TODAY)


def test_http_provider_refuses_loopback_unless_allowed(
    service: FakeService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="portal.base.identity")
    with pytest.raises(ProviderUnavailable, match="non-public address"):
        service.provider("/ok", allow="").verify(ADULT, today=TODAY)
    assert service.received == []
    assert "non-public address" in caplog.text
    assert ADULT.id_number.upper() not in caplog.text and ADULT.legal_name not in caplog.text


def test_http_provider_logs_failures_without_personal_data(
    service: FakeService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="portal.base.identity")
    with pytest.raises(ProviderUnavailable):
        service.provider("/error?key=topsecret").verify(ADULT, today=TODAY)
    [record] = caplog.records
    assert record.levelno == logging.WARNING and "HTTP status 500" in record.getMessage()
    assert service.received[0]["path"] == "/error?key=topsecret"
    for secret in (ADULT.id_number.upper(), ADULT.legal_name, "topsecret"):
        assert secret not in caplog.text


def test_provider_unavailable_has_message_for_applicant() -> None:
    error = ProviderUnavailable("timeout")
    assert error.message == "We could not verify your identity. Try again later."
    assert str(identity.UNAVAILABLE_MESSAGE) == error.message


# --- choosing a provider ----------------------------------------------------------------------


def test_provider_for_uses_format_provider_without_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PORTAL_IDENTITY_PROVIDER_URL", raising=False)
    settings = Settings(data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    assert isinstance(identity.provider_for(settings), FormatProvider)
    assert isinstance(identity.provider_for(SimpleNamespace()), FormatProvider)


def test_provider_for_uses_http_provider_with_url() -> None:
    settings = SimpleNamespace(
        identity_provider_url="https://idv.example/verify",
        identity_provider_token="tok",
        identity_provider_timeout=2.5,
        outbound_allow="10.0.0.0/8",
    )
    provider = identity.provider_for(settings)
    assert isinstance(provider, HTTPProvider)
    assert (provider.url, provider.token, provider.timeout, provider.allow) == (
        "https://idv.example/verify", "tok", 2.5, "10.0.0.0/8"
    )


def test_years_before_keeps_the_day_and_time_and_moves_29_february() -> None:
    assert identity.years_before(date(2026, 11, 30), 18) == date(2008, 11, 30)
    assert identity.years_before(date(2024, 2, 29), 1) == date(2023, 2, 28)
    assert identity.years_before(date(2024, 2, 29), 4) == date(2020, 2, 29)
    moment = datetime(2028, 2, 29, 8, 30, tzinfo=UTC)
    assert identity.years_before(moment, 3) == datetime(2025, 2, 28, 8, 30, tzinfo=UTC)
    for day in (date(2026, 3, 1), date(2025, 12, 31), date(2024, 2, 29)):
        assert identity.years_before(day, 17) == years_before(day, 17)


def test_china_date_is_the_next_day_from_16_00_utc() -> None:
    assert identity.china_date(datetime(2026, 12, 2, 15, 59, tzinfo=UTC)) == date(2026, 12, 2)
    assert identity.china_date(datetime(2026, 12, 2, 16, 0, tzinfo=UTC)) == date(2026, 12, 3)
