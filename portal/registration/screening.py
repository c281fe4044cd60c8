"""Screening at submission: the flags a moderator sees before deciding (DESIGN §5)."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from rapidfuzz.distance import JaroWinkler
from sqlalchemy import JSON, Column, delete
from sqlmodel import Field, Session, SQLModel, col, select

from portal.base import crypto
from portal.base.db import UTCDateTime
from portal.base.i18n import LazyString, lazy_gettext
from portal.base.settings import Settings
from portal.registration import attestations, linking, steps
from portal.registration.blocklist import active_entries
from portal.registration.models import ENDED, Registration
from portal.registration.sanctions import Sanction

FLAGS: dict[str, LazyString] = {
    "blocklist_identity": lazy_gettext("Identity on the person blocklist"),
    "blocklist_name": lazy_gettext("Name close to a name on the blocklist"),
    "blocklist_person": lazy_gettext(
        "May be a blacklisted person under another document: same date of birth and "
        "nationality, same or close name"),
    "blocklist_representative": lazy_gettext(
        "The legal representative's name is on the blocklist"),
    "prior_registrations": lazy_gettext(
        "Earlier registrations of the same document, person or organisation"),
    "duplicate_identity": lazy_gettext("Same identity in another registration"),
    "minor": lazy_gettext("Streamer aged 16 or 17"),
    "attestation_no": lazy_gettext("\u201cNo\u201d answers in the security attestation"),
    "professional_topics": lazy_gettext("Professional topics"),
    "restricted_products": lazy_gettext("Restricted products"),
    "banned_terms": lazy_gettext("Banned terms in channels or avatar"),
    "identity_unverified": lazy_gettext("Identity not confirmed by the verification service"),
    "site_probe": lazy_gettext("Shop site failed the security probe"),
}

# Flags that hold a submission: no approval until a moderator has compared both records and
# cleared the flag with a reason.
HOLDS = frozenset({"blocklist_person", "blocklist_representative"})


class ScreeningFlag(SQLModel, table=True):
    """One finding of the screening of a registration's latest submission."""

    __tablename__ = "screening_flags"

    id: int | None = Field(default=None, primary_key=True)
    registration_id: int = Field(foreign_key="registrations.id", index=True)
    code: str = Field(max_length=32, index=True)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # A hold (HOLDS) blocks approval until a moderator clears it, with a reason.
    cleared_by: int | None = Field(default=None, foreign_key="users.id")
    cleared_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    clear_reason: str = Field(default="")


def banned_terms(settings: Settings) -> list[str]:
    return [folded for t in settings.banned_terms.split(",") if (folded := crypto.fold(t))]


def find_banned_terms(settings: Settings, texts: dict[str, str]) -> list[dict[str, str]]:
    """Which banned terms appear in which of the given texts, both folded (``crypto.fold``):
    a zero-width space, a full-width letter or a capital hides nothing."""
    found = []
    terms = banned_terms(settings)
    for where, text in texts.items():
        folded = crypto.fold(text or "")
        for term in terms:
            if term in folded:
                found.append({"term": term, "where": where})
    return found


def screen(
    session: Session, settings: Settings, registration: Any, *, today: date,
    site_probe: dict[str, Any] | None = None,
) -> list[str]:
    """Replace the registration's flags with those of its current answers; returns the codes.

    A hold a moderator cleared stays cleared when the same finding comes back on the next
    submission; a new finding holds again."""
    cleared = {_finding(f.code, f.detail): f for f in flags_of(session, registration.id)
               if f.cleared_at is not None}
    session.exec(delete(ScreeningFlag).where(
        col(ScreeningFlag.registration_id) == registration.id))
    flags = findings(session, settings, registration, today=today, site_probe=site_probe)
    for code, detail in flags:
        flag = ScreeningFlag(registration_id=registration.id, code=code, detail=detail)
        if (earlier := cleared.get(_finding(code, detail))) is not None:
            flag.cleared_by, flag.cleared_at = earlier.cleared_by, earlier.cleared_at
            flag.clear_reason = earlier.clear_reason
        session.add(flag)
    registration.flag_count = len(flags)
    session.add(registration)
    session.flush()
    return [code for code, _detail in flags]


def findings(
    session: Session, settings: Settings, registration: Any, *, today: date,
    site_probe: dict[str, Any] | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """What screening finds in a registration's answers (or in the answers of a change to an
    approved one, with its own identity index and linking keys), without writing anything."""
    answers = registration.answers
    identity = answers.get("identity") or {}
    flags: list[tuple[str, dict[str, Any]]] = []

    entries = active_entries(session)
    index = registration.identity_index
    exact = [e.id for e in entries if index and e.identity_index == index]
    if exact:
        flags.append(("blocklist_identity", {"entries": exact}))
    name = crypto.name_key(identity.get("legal_name", ""))
    close = []
    for entry in entries:
        if entry.name_key and name:
            score = JaroWinkler.normalized_similarity(name, entry.name_key)
            if score >= settings.name_match_threshold:
                close.append({"entry": entry.id, "score": round(score * 100)})
    if close:
        flags.append(("blocklist_name", {"matches": close}))

    persons = linking.person_matches(session, settings, registration)
    if persons:
        flags.append(("blocklist_person", {"entries": [
            {"entry": m.entry.id, "same_name": m.same_name} for m in persons]}))
    representatives = linking.representative_matches(registration, entries)
    if representatives:
        flags.append(("blocklist_representative",
                      {"entries": [e.id for e in representatives]}))
    past = history(session, registration)
    if past.registrations:
        flags.append(("prior_registrations", past.detail()))

    if index:
        others = session.exec(
            select(Registration.number).where(
                Registration.identity_index == index,
                Registration.id != registration.id,
                Registration.status.not_in([*ENDED, "draft"]),  # type: ignore[attr-defined]
            )
        ).all()
        if others:
            flags.append(("duplicate_identity", {"numbers": sorted(n for n in others if n)}))

    age = steps.age_of(answers, today)
    if identity.get("subject_kind") == "person" and age is not None and age < 18:
        flags.append(("minor", {"age": age}))

    security = answers.get("security") or {}
    noes = [item for item in attestations.SECURITY_ITEMS if security.get(item) is False]
    if security.get("own_site") and security.get("https_only") is False:
        noes.append("https_only")
    if noes:
        flags.append(("attestation_no", {"items": noes}))

    content = answers.get("content") or {}
    if content.get("professional_topics"):
        flags.append(("professional_topics", {"codes": content["professional_topics"]}))
    if content.get("restricted_products"):
        flags.append(("restricted_products", {"codes": content["restricted_products"]}))

    roles = answers.get("roles") or {}
    texts = {}
    for i, channel in enumerate(roles.get("channels") or [], start=1):
        texts[f"channel {i} handle"] = channel.get("handle") or ""
        texts[f"channel {i} bio"] = channel.get("bio") or ""
    texts["avatar"] = roles.get("avatar_name") or ""
    if found := find_banned_terms(settings, texts):
        flags.append(("banned_terms", {"found": found}))

    if site_probe is not None and not site_probe.get("ok"):
        failed = [f["check"] for f in site_probe.get("findings", []) if not f.get("ok")]
        flags.append(("site_probe", {"domain": site_probe.get("domain"), "failed": failed}))

    if (identity.get("verification") or {}).get("status") != "verified":
        flags.append(("identity_unverified", {}))
    return flags


def _finding(code: str, detail: dict[str, Any]) -> str:
    return code + json.dumps(detail, sort_keys=True)


def history(session: Session, registration: Registration) -> linking.History:
    """The registrations linked to this one and the sanctions they received (overturned ones
    and warnings left out, as in the risk level)."""
    others = linking.linked(session, registration)
    count = 0
    if others:
        count = len(session.exec(select(Sanction.id).where(
            col(Sanction.registration_id).in_([r.id for r in others]),
            col(Sanction.state) != "overturned", col(Sanction.kind) != "warning")).all())
    return linking.History(others, count)


def add_hold(session: Session, registration: Registration, code: str, detail: dict[str, Any]
             ) -> ScreeningFlag:
    """Hold a submission waiting for a decision on a finding made after it was screened (a
    blocklist entry added since); the caller commits."""
    flag = ScreeningFlag(registration_id=registration.id,  # type: ignore[arg-type]
                        code=code, detail=detail)
    session.add(flag)
    registration.flag_count += 1
    session.add(registration)
    session.flush()
    return flag


def open_holds(session: Session, registration_id: int) -> list[ScreeningFlag]:
    """The holds on a registration that no moderator has cleared."""
    return [f for f in flags_of(session, registration_id)
            if f.code in HOLDS and f.cleared_at is None]


def flags_of(session: Session, registration_id: int | None) -> list[ScreeningFlag]:
    query = select(ScreeningFlag).where(ScreeningFlag.registration_id == registration_id)
    return list(session.exec(query.order_by(ScreeningFlag.id)))  # type: ignore[arg-type]
