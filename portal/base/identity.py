"""Identity documents, codes and numbers: validators that return the normalised value.

Each validator raises ``ValueError`` with a translated message a person can act on.
"""

from __future__ import annotations

import enum
import json
import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from http.client import HTTPException
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

from portal.base import outbound
from portal.base.i18n import gettext as _
from portal.base.i18n import lazy_gettext

log = logging.getLogger("portal.base.identity")

ID_TYPES: tuple[str, ...] = (
    "cn_resident_id",
    "passport",
    "hk_macao_permit",
    "taiwan_permit",
    "foreign_permanent_residence",
)

MIN_AGE = 16
ADULT_AGE = 18
EARLIEST_BIRTH = date(1900, 1, 1)
# China has kept UTC+8 all year since 1991, so a fixed offset needs no time-zone database.
CHINA_TZ = timezone(timedelta(hours=8), "CST")

# GB 11643-1999, ISO 7064 MOD 11-2.
_RESIDENT_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RESIDENT_CHECK = "10X98765432"
_RESIDENT_RE = re.compile(r"[0-9]{17}[0-9X]")

# Formats for the other documents; loose on purpose, as the issuing rules change:
# - passport: 5-17 letters and digits. A Chinese ordinary passport is E or G and 8 digits, but
#   foreign passports vary too much to check more than this.
# - hk_macao_permit (港澳居民来往内地通行证): H (Hong Kong) or M (Macao) and 8 or 10 digits.
# - taiwan_permit (台湾居民来往大陆通行证): 8 digits; older permits add a 2-digit issue count.
# - foreign_permanent_residence: the 2004-2017 card has 15 letters and digits; the 2023 card has
#   18 characters starting with 9, laid out and checked like a resident ID number, with the
#   date of birth in the same place.
_PASSPORT_RE = re.compile(r"[A-Z0-9]{5,17}")
_HK_MACAO_RE = re.compile(r"[HM](?:[0-9]{8}|[0-9]{10})")
_TAIWAN_RE = re.compile(r"[0-9]{8}(?:[0-9]{2})?")
_FPR_OLD_RE = re.compile(r"[A-Z0-9]{15}")
_FPR_NEW_RE = re.compile(r"9[0-9]{16}[0-9X]")

# GB 32100-2015: the code alphabet leaves out I, O, Z, S and V, which look like digits.
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

ICP_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼港澳台"
_ICP_RE = re.compile(rf"([{ICP_PROVINCES}])(?i:ICP)备([0-9]{{4,12}})号(?:-([0-9]+))?")

_CN_MOBILE_RE = re.compile(r"(?:\+86|0086|86)?(1[3-9][0-9]{9})")
_E164_RE = re.compile(r"\+([1-9][0-9]{6,14})")

_ISO_DATE_RE = re.compile(r"([0-9]{4})([-/])([0-9]{1,2})\2([0-9]{1,2})")
_CN_DATE_RE = re.compile(r"([0-9]{4})年([0-9]{1,2})月([0-9]{1,2})日?")


def china_today() -> date:
    """Return today's date in China, where the portal's age rules apply."""
    return datetime.now(CHINA_TZ).date()


def china_date(moment: datetime) -> date:
    """The day a moment falls on in China (a stored UTC moment's own date can be a day early)."""
    return moment.astimezone(CHINA_TZ).date()


def _clean(raw: str | None) -> str:
    # NFKC turns full-width digits and letters, as Chinese input methods type them, into ASCII.
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", raw or ""))


# --- ID documents -------------------------------------------------------------------------


def normalize_id_number(id_type: str, raw: str) -> str:
    """Strip spaces and upper-case an ID number, so a check character x becomes X."""
    return _clean(raw).upper()


def resident_check_char(first17: str) -> str:
    total = sum(int(c) * w for c, w in zip(first17, _RESIDENT_WEIGHTS, strict=True))
    return _RESIDENT_CHECK[total % 11]


def _embedded_birth_date(number: str) -> date | None:
    try:
        return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None


def _check_embedded_birth_date(number: str, today: date) -> None:
    birth = _embedded_birth_date(number)
    if birth is None or not EARLIEST_BIRTH <= birth <= today:
        raise ValueError(_("The date of birth in the ID number must be a real date in the past"))


def _check_mod11_2(number: str) -> None:
    if resident_check_char(number[:17]) != number[17]:
        raise ValueError(_("This ID number is not valid: check it for typing mistakes"))


def _has_embedded_birth_date(id_type: str, number: str) -> bool:
    return id_type == "cn_resident_id" or (
        id_type == "foreign_permanent_residence" and len(number) == 18
    )


def validate_id_number(id_type: str, raw: str, *, today: date | None = None) -> str:
    """Check an ID number's format (and checksum where it has one); return it normalised."""
    number = normalize_id_number(id_type, raw)
    if not number:
        raise ValueError(_("Enter the ID number"))
    if id_type not in ID_TYPES:
        raise ValueError(_("Select the type of ID document"))
    today = today or china_today()
    if id_type == "cn_resident_id":
        if not _RESIDENT_RE.fullmatch(number):
            raise ValueError(
                _("A resident ID number has 18 characters: 17 digits and a final digit or X")
            )
        _check_embedded_birth_date(number, today)
        _check_mod11_2(number)
    elif id_type == "passport":
        if not _PASSPORT_RE.fullmatch(number):
            raise ValueError(_("A passport number has 5 to 17 letters and digits"))
    elif id_type == "hk_macao_permit":
        if not _HK_MACAO_RE.fullmatch(number):
            raise ValueError(
                _("A Hong Kong or Macao permit number is H or M followed by 8 or 10 digits")
            )
    elif id_type == "taiwan_permit":
        if not _TAIWAN_RE.fullmatch(number):
            raise ValueError(_("A Taiwan permit number has 8 or 10 digits"))
    elif _FPR_NEW_RE.fullmatch(number):
        _check_embedded_birth_date(number, today)
        _check_mod11_2(number)
    elif not _FPR_OLD_RE.fullmatch(number):
        raise ValueError(
            _("A permanent residence ID number has 15 letters and digits, or 18 characters "
              "starting with 9")
        )
    return number


def birth_date_from_resident_id(number: str) -> date:
    """Return the date of birth held in an 18-character resident ID number."""
    number = normalize_id_number("cn_resident_id", number)
    birth = _embedded_birth_date(number) if len(number) == 18 else None
    if birth is None:
        raise ValueError(_("The date of birth in the ID number must be a real date in the past"))
    return birth


def make_resident_id(region: str, birth: date, seq: int) -> str:
    """Build a resident ID number with a correct check character (for tests and demo data)."""
    if not re.fullmatch(r"[0-9]{6}", region):
        raise ValueError("region must be 6 digits")
    if not 0 <= seq <= 999:
        raise ValueError("seq must be from 0 to 999")
    first17 = f"{region}{birth:%Y%m%d}{seq:03d}"
    return first17 + resident_check_char(first17)


def check_birth_date(id_type: str, id_number: str, date_of_birth: date) -> None:
    """Check that the date of birth held in an ID number, if it holds one, is the one given."""
    number = normalize_id_number(id_type, id_number)
    if not _has_embedded_birth_date(id_type, number):
        return
    if _embedded_birth_date(number) != date_of_birth:
        raise ValueError(_("The date of birth does not match the ID number"))


# --- ages ---------------------------------------------------------------------------------


class Who(enum.StrEnum):
    """Whose age is checked; each has its own minimum and message."""

    streamer = "streamer"
    guardian = "guardian"
    responsible_person = "responsible_person"


_MINIMUM_AGE = {Who.streamer: MIN_AGE, Who.guardian: ADULT_AGE, Who.responsible_person: ADULT_AGE}


Day = TypeVar("Day", date, datetime)


def years_before(day: Day, years: int) -> Day:
    """The same day (and time) ``years`` calendar years earlier; 29 February becomes the 28th."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year - years, day=28)


def age_on(birth: date, today: date) -> int:
    """Return a person's age in whole years (born on 29 February: a year older on 1 March)."""
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def _too_young(who: Who, minimum: int) -> str:
    if who == Who.guardian:
        return _("The guardian must be %(min)d or older", min=minimum)
    if who == Who.responsible_person:
        return _("The person responsible for an organisation must be %(min)d or older",
                 min=minimum)
    return _("A streamer must be at least %(min)d years old", min=minimum)


def check_age(
    date_of_birth: date,
    *,
    today: date,
    minimum: int | None = None,
    who: Who | str = Who.streamer,
) -> int:
    """Return the age on ``today``; raise when under the minimum for ``who`` (or ``minimum``)."""
    who = Who(who)
    minimum = _MINIMUM_AGE[who] if minimum is None else minimum
    age = age_on(date_of_birth, today)
    if age < minimum:
        raise ValueError(_too_young(who, minimum))
    return age


def parse_date(raw: str) -> date:
    """Read a date typed as 1990-03-27, 1990/03/27 or 1990年3月27日."""
    text = _clean(raw)
    if match := _ISO_DATE_RE.fullmatch(text):
        year, month, day = match.group(1), match.group(3), match.group(4)
    elif match := _CN_DATE_RE.fullmatch(text):
        year, month, day = match.groups()
    else:
        raise ValueError(_("Enter a real date, like 1990-03-27"))
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        raise ValueError(_("Enter a real date, like 1990-03-27")) from None


# --- organisations, sites, phones -----------------------------------------------------------


def validate_uscc(raw: str) -> str:
    """Check a unified social credit code (GB 32100-2015); return it upper-cased."""
    code = _clean(raw).upper()
    if not code:
        raise ValueError(_("Enter the unified social credit code"))
    if len(code) != 18:
        raise ValueError(_("A unified social credit code has 18 characters"))
    if any(c not in _USCC_ALPHABET for c in code):
        raise ValueError(
            _("A unified social credit code has only digits and capital letters, and never "
              "I, O, Z, S or V")
        )
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(code[:17], _USCC_WEIGHTS, strict=True))
    if code[17] != _USCC_ALPHABET[(31 - total % 31) % 31]:
        raise ValueError(
            _("This unified social credit code is not valid: check it for typing mistakes")
        )
    return code


def validate_icp(raw: str) -> str:
    """Check an ICP filing number such as 京ICP备12345678号-1; return it normalised."""
    text = _clean(raw)
    match = _ICP_RE.fullmatch(text)
    if not match:
        raise ValueError(
            _("Enter the ICP filing number as shown on the site, like 京ICP备12345678号")
        )
    province, number, suffix = match.groups()
    return f"{province}ICP备{number}号" + (f"-{suffix}" if suffix else "")


def validate_phone(raw: str) -> str:
    """Check a mobile number; return 11 digits for the mainland, else +digits (E.164)."""
    text = re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", raw or ""))
    if match := _CN_MOBILE_RE.fullmatch(text):
        return match.group(1)
    if text.startswith("00"):
        text = "+" + text[2:]
    match = _E164_RE.fullmatch(text)
    # A +86 number that is not a mainland mobile is a landline or a mistake.
    if not match or match.group(1).startswith("86"):
        raise ValueError(_("Enter a mobile phone number, like 13812345678"))
    return "+" + match.group(1)


# --- identity verification ------------------------------------------------------------------

UNAVAILABLE_MESSAGE = lazy_gettext("We could not verify your identity. Try again later.")
MAX_ANSWER_BYTES = 64 * 1024


@dataclass(frozen=True)
class IdentityClaim:
    id_type: str
    id_number: str
    legal_name: str
    date_of_birth: date


@dataclass(frozen=True)
class VerificationResult:
    verified: bool
    provider: str
    reference: str = ""
    reason: str = ""


class ProviderUnavailable(Exception):
    """The verification service gave no usable answer; the detail is for logs only."""

    @property
    def message(self) -> str:
        """The message to show the applicant, in the current language."""
        return str(UNAVAILABLE_MESSAGE)


class IdentityProvider(Protocol):
    name: str

    def verify(self, claim: IdentityClaim, *, today: date) -> VerificationResult: ...


class FormatProvider:
    """Check format, checksum, date of birth and minimum age; no outside service."""

    name: str = "format"

    def verify(self, claim: IdentityClaim, *, today: date) -> VerificationResult:
        try:
            number = validate_id_number(claim.id_type, claim.id_number, today=today)
            check_birth_date(claim.id_type, number, claim.date_of_birth)
            check_age(claim.date_of_birth, today=today, who=Who.streamer)
        except ValueError as exc:
            return VerificationResult(verified=False, provider=self.name, reason=str(exc))
        return VerificationResult(verified=True, provider=self.name)


class HTTPProvider:
    """Ask a real-name verification service over HTTP(S), after the local format checks."""

    name: str = "http"

    def __init__(self, url: str, *, token: str = "", timeout: float = 5.0,
                 allow: str = "") -> None:
        self.url = url
        self.token = token
        self.timeout = timeout
        self.allow = allow

    def _unavailable(self, why: str) -> ProviderUnavailable:
        # The host only: the URL may carry a key, and the claim is personal data.
        host = urlsplit(self.url).hostname or "?"
        log.warning("identity provider at %s could not answer: %s", host, why)
        return ProviderUnavailable(why)

    def verify(self, claim: IdentityClaim, *, today: date) -> VerificationResult:
        # Format, checksum and age rules hold whatever the service says, and a service that
        # charges per query need not be asked about a number that cannot exist.
        local = FormatProvider().verify(claim, today=today)
        if not local.verified:
            return VerificationResult(verified=False, provider=self.name, reason=local.reason)
        body = json.dumps({
            "id_type": claim.id_type,
            "id_number": normalize_id_number(claim.id_type, claim.id_number),
            "legal_name": claim.legal_name.strip(),
            "date_of_birth": claim.date_of_birth.isoformat(),
        }).encode()
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "livestream-portal",
        }
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            conn, target = outbound.pinned_connection(self.url, self.allow, timeout=self.timeout)
        except outbound.OutboundRefused as exc:
            raise self._unavailable(f"refused: {exc}") from exc
        try:
            conn.request("POST", target, body=body, headers=headers)
            with conn.getresponse() as response:
                status = response.status
                raw = response.read(MAX_ANSWER_BYTES + 1)
        except TimeoutError as exc:
            raise self._unavailable(f"no answer within {self.timeout} s") from exc
        except (OSError, HTTPException) as exc:
            raise self._unavailable(f"{type(exc).__name__}: {exc}") from exc
        finally:
            conn.close()
        if not 200 <= status < 300:
            raise self._unavailable(f"HTTP status {status}")
        if len(raw) > MAX_ANSWER_BYTES:
            raise self._unavailable("answer too long")
        try:
            answer = json.loads(raw)
        except ValueError as exc:
            raise self._unavailable("answer is not JSON") from exc
        if not isinstance(answer, dict) or not isinstance(answer.get("verified"), bool):
            raise self._unavailable('answer has no true or false "verified"')
        reference = answer.get("reference")
        reason = answer.get("reason")
        reference = reference[:200] if isinstance(reference, str) else ""
        reason = reason[:500] if isinstance(reason, str) else ""
        if not answer["verified"] and not reason:
            reason = _("The name and ID number do not match. Check them against your ID document")
        return VerificationResult(
            verified=answer["verified"], provider=self.name, reference=reference, reason=reason
        )


def is_remote(settings: object) -> bool:
    """Whether verifying an identity asks a service over the network."""
    return bool(getattr(settings, "identity_provider_url", "") or "")


def provider_for(settings: object) -> IdentityProvider:
    """Return the HTTP provider when a service URL is set, else the format-only provider."""
    url: str = getattr(settings, "identity_provider_url", "") or ""
    if not url:
        return FormatProvider()
    return HTTPProvider(
        url,
        token=getattr(settings, "identity_provider_token", "") or "",
        timeout=float(getattr(settings, "identity_provider_timeout", 5.0) or 5.0),
        allow=getattr(settings, "outbound_allow", "") or "",
    )
