"""Identities linked across documents and accounts (DESIGN §5).

A registration carries, besides the exact index of its document (``identity_index``), three keys
made when it is submitted:

- the *person key* (folded legal name, date of birth, nationality): the same person under a
  resident ID card, a passport or a travel permit;
- the *birth key* (date of birth, nationality): within it, names are compared closely, so a
  name one character different is looked at too;
- the *organisation key* (the USCC): an organisation under any representative.

Blocklist entries carry the same keys. An exact match of the document or the organisation
refuses; a match of the person (same or close name within the birth key) holds the submission
for a moderator, since two people may share a name and a birthday.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rapidfuzz.distance import JaroWinkler, Levenshtein
from sqlalchemy import or_
from sqlmodel import Session, col, select

from portal.base import crypto, identity
from portal.base.settings import Settings
from portal.registration.blocklist import BlocklistEntry, active_conditions
from portal.registration.models import Registration

# Names as compared within a birth key: no spaces at all.
NAME_DISTANCE = 1


@dataclass(frozen=True)
class Keys:
    person_key: str | None = None
    birth_key: str | None = None
    org_key: str | None = None
    representative_key: str | None = None


def keys_of(settings: Settings, answers: dict[str, Any]) -> Keys:
    """The keys of a registration's answers (an organisation's only with its USCC)."""
    ident = answers.get("identity") or {}
    roles = answers.get("roles") or {}
    # A resident ID card is held by Chinese nationals, whatever was chosen beside it.
    nationality = "CN" if ident.get("id_type") == "cn_resident_id" else (
        ident.get("nationality") or "")
    birth = ident.get("date_of_birth") or ""
    uscc = (roles.get("uscc") or "") if ident.get("subject_kind") == "organization" else ""
    return Keys(
        person_key=crypto.person_key(settings, ident.get("legal_name") or "", birth,
                                     nationality),
        birth_key=crypto.birth_key(settings, birth, nationality),
        org_key=crypto.org_key(settings, uscc),
        representative_key=crypto.name_hash(settings, roles.get("legal_representative") or "")
        if uscc else None,
    )


def entry_keys(settings: Settings, *, id_type: str | None, id_number: str, legal_name: str
               ) -> Keys:
    """The keys of a person blacklisted by hand: a resident ID number holds the date of birth,
    other documents do not, so only their exact index finds them."""
    if id_type != "cn_resident_id" or not id_number:
        return Keys()
    try:
        birth = identity.birth_date_from_resident_id(id_number).isoformat()
    except ValueError:
        return Keys()
    return Keys(person_key=crypto.person_key(settings, legal_name, birth, "CN"),
                birth_key=crypto.birth_key(settings, birth, "CN"))


def set_keys(settings: Settings, registration: Registration) -> None:
    """Store the keys of the registration's current answers on it; the caller flushes."""
    keys = keys_of(settings, registration.answers)
    registration.person_key = keys.person_key
    registration.birth_key = keys.birth_key
    registration.org_key = keys.org_key
    registration.representative_key = keys.representative_key


def compact_name(name: str) -> str:
    """A name as compared within a birth key: folded, without spaces."""
    return "".join(crypto.fold(name).split())


def names_close(settings: Settings, one: str, other: str) -> bool:
    """Whether two folded names are the same or close: one character different (typed, left
    out or added), or as close as the fuzzy screening's threshold."""
    a, b = compact_name(one), compact_name(other)
    if not a or not b:
        return False
    return (a == b or Levenshtein.distance(a, b) <= NAME_DISTANCE
            or JaroWinkler.normalized_similarity(a, b) >= settings.name_match_threshold)


@dataclass
class PersonMatch:
    """A blocklist entry that may be the registration's person under another document."""

    entry: BlocklistEntry
    same_name: bool


def person_matches(session: Session, settings: Settings, registration: Registration
                   ) -> list[PersonMatch]:
    """Entries in force with the registration's birth key and the same or a close name, other
    than its own document (which refuses outright)."""
    if not registration.birth_key:
        return []
    name = (registration.answers.get("identity") or {}).get("legal_name") or ""
    query = select(BlocklistEntry).where(BlocklistEntry.birth_key == registration.birth_key,
                                         *active_conditions())
    found = []
    for entry in session.exec(query.order_by(col(BlocklistEntry.id))):
        if registration.identity_index and entry.identity_index == registration.identity_index:
            continue
        same = bool(entry.person_key) and entry.person_key == registration.person_key
        if same or names_close(settings, name, entry.legal_name or entry.name_key):
            found.append(PersonMatch(entry, same))
    return found


def representative_matches(registration: Registration, entries: list[BlocklistEntry]
                           ) -> list[BlocklistEntry]:
    """The entries (those in force, as screening reads them) whose name is the organisation's
    legal representative's (the representative is named, not identified, so the name is all
    there is to compare)."""
    roles = registration.answers.get("roles") or {}
    if (registration.answers.get("identity") or {}).get("subject_kind") != "organization":
        return []
    name = compact_name(roles.get("legal_representative") or "")
    if not name:
        return []
    return [e for e in entries if compact_name(e.legal_name or e.name_key) == name]


def _link_conditions(identity_index: str | None, person_key: str | None,
                     org_key: str | None) -> list[Any]:
    conditions = []
    if identity_index:
        conditions.append(col(Registration.identity_index) == identity_index)
    if person_key:
        conditions.append(col(Registration.person_key) == person_key)
    if org_key:
        conditions.append(col(Registration.org_key) == org_key)
    return conditions


def linked(session: Session, registration: Registration) -> list[Registration]:
    """The other registrations of the same document, person or organisation, under any account,
    submitted at least once (drafts are nobody's business), oldest first."""
    conditions = _link_conditions(registration.identity_index, registration.person_key,
                                  registration.org_key)
    if not conditions:
        return []
    query = select(Registration).where(
        or_(*conditions), col(Registration.id) != registration.id,
        col(Registration.number).is_not(None), Registration.status != "draft")
    return list(session.exec(query.order_by(col(Registration.id))))


def linked_ids(session: Session, registration: Registration) -> list[int]:
    """The registration's id and those of the registrations linked to it."""
    return [registration.id or 0, *(r.id or 0 for r in linked(session, registration))]


def of_entry(session: Session, entry: BlocklistEntry) -> list[Registration]:
    """Registrations a blocklist entry names exactly: the same document or organisation."""
    conditions = _link_conditions(entry.identity_index, None, entry.org_key)
    if not conditions:
        return []
    query = select(Registration).where(or_(*conditions),
                                       col(Registration.number).is_not(None))
    return list(session.exec(query.order_by(col(Registration.id))))


def close_to_entry(session: Session, settings: Settings, entry: BlocklistEntry
                   ) -> list[tuple[Registration, str]]:
    """Registrations that may be the entry's person under another document (``"person"``), or
    organisations the entry's person represents (``"representative"``): a moderator must look
    at them."""
    found: dict[int, tuple[Registration, str]] = {}
    if entry.birth_key:
        for registration in session.exec(select(Registration).where(
                Registration.birth_key == entry.birth_key, col(Registration.number).is_not(None))):
            same = entry.person_key and registration.person_key == entry.person_key
            name = (registration.answers.get("identity") or {}).get("legal_name") or ""
            if same or names_close(settings, name, entry.legal_name):
                found[registration.id or 0] = (registration, "person")
    named = crypto.name_hash(settings, entry.legal_name)
    if named:
        for registration in session.exec(select(Registration).where(
                Registration.representative_key == named,
                col(Registration.number).is_not(None))):
            found.setdefault(registration.id or 0, (registration, "representative"))
    return [found[k] for k in sorted(found)]


@dataclass
class History:
    """What the linked registrations tell about a registration's person or organisation."""

    registrations: list[Registration] = field(default_factory=list)
    sanctions: int = 0

    @property
    def deregistered(self) -> int:
        return sum(1 for r in self.registrations if r.status == "deregistered")

    def detail(self) -> dict[str, Any]:
        return {"numbers": [r.number for r in self.registrations],
                "statuses": {r.number: r.status for r in self.registrations},
                "sanctions": self.sanctions, "deregistered": self.deregistered}
