"""What auditors and authority clients read: jurisdiction, search, and the integrity check.

Authorities are local (DESIGN §3): an auditor account or authority client has a jurisdiction,
"national" or a set of GB/T 2260 region codes (a province ``33``, a city ``3301``). Everything
they read is limited to it: a registration belongs to the region of its organisation's
registered address or, for a person, the residence province; one outside is not found.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, String, false, func, or_, type_coerce, union
from sqlmodel import Session, col, select

from portal.base import crypto, identity
from portal.base.errors import FormErrors, NotFound
from portal.base.i18n import gettext as _
from portal.base.jurisdictions import covers, parse_jurisdiction
from portal.base.settings import Settings
from portal.ledger import tlog
from portal.ledger.pii_access import PiiAccess
from portal.records import certificates, registry
from portal.records.certificates import statement
from portal.records.registry import RegistryEntry
from portal.registration.attestations import Attestation, Declaration, canonical_sha256
from portal.registration.models import Registration, purged_at, statement_without_erased

COUNT_CAP = 1_000
PAGE_SIZE = 50


def region_clause(jurisdiction: str, column: Any) -> ColumnElement[bool] | None:
    """A condition on a region column for the jurisdiction, or None when it is national."""
    try:
        codes = parse_jurisdiction(jurisdiction)
    except FormErrors:
        return false()  # a malformed jurisdiction sees nothing rather than everything
    if codes is None:
        return None
    # A range of the column's index rather than LIKE, which SQLite's indexes cannot serve.
    return or_(*(registry.prefix_condition(column, code) for code in codes))


def registration_for(session: Session, jurisdiction: str, number: str) -> Registration:
    """A registration by number, if it is within the jurisdiction and not a draft."""
    registration = session.exec(select(Registration).where(
        Registration.number == number)).first()
    if registration is None or registration.status == "draft" or \
            not covers(jurisdiction, registration.region):
        raise NotFound()
    return registration


# --- Look-up by identity ----------------------------------------------------------------------

# What an inspector may look a seller up by: an identity document's number, or an
# organisation's unified social credit code.
USCC = "uscc"
LOOKUP_KINDS = (*identity.ID_TYPES, USCC)


def lookup(
    session: Session, settings: Settings, *, jurisdiction: str, id_type: str, number: str,
    reason: str, actor_id: int | None = None, actor_role: str = "authority",
    client_id: int | None = None, number_field: str = "id_number",
) -> list[Registration]:
    """The registrations (drafts excluded) of one identity document or organisation within the
    jurisdiction, found through the keyed indexes (nothing is stored in clear to search).

    Every look-up is a personal-data access: one row in the access log per registration found
    (one without a registration when none is), with the reason. ``number_field`` names the
    field errors about the number are reported on; the caller commits."""
    errors: dict[str, str] = {}
    if id_type not in LOOKUP_KINDS:
        errors["id_type"] = _("Choose the type of document")
    text = (reason or "").strip()
    if len(text) < 5:
        errors["reason"] = _("Give the reason for the look-up")
    elif len(text) > 500:
        errors["reason"] = _("Write %(max)d characters or fewer", max=500)
    key = None
    if not (number or "").strip():
        errors[number_field] = _("Enter the number to look up")
    elif id_type == USCC:
        try:
            key = crypto.org_key(settings, identity.validate_uscc(number))
        except ValueError as exc:
            errors[number_field] = str(exc)
    elif id_type in identity.ID_TYPES:
        try:
            key = crypto.identity_index(settings, id_type,
                                        identity.validate_id_number(id_type, number))
        except ValueError as exc:
            errors[number_field] = str(exc)
    if errors:
        raise FormErrors(errors)
    column = col(Registration.org_key) if id_type == USCC else col(Registration.identity_index)
    found = [r for r in session.exec(select(Registration).where(
        column == key, col(Registration.number).is_not(None),
        Registration.status != "draft").order_by(col(Registration.id)))
        if covers(jurisdiction, r.region)]
    field_name = "uscc_lookup" if id_type == USCC else "identity_lookup"
    ids: list[int | None] = [r.id for r in found] or [None]
    for registration_id in ids:
        session.add(PiiAccess(actor_id=actor_id, actor_role=actor_role, client_id=client_id,
                              registration_id=registration_id, field=field_name, reason=text))
    session.flush()
    return found


# --- Search -----------------------------------------------------------------------------------


@dataclass
class Filters:
    q: str = ""
    status: str = ""
    role: str = ""
    risk_level: str = ""
    subject_kind: str = ""
    region: str = ""
    submitted_from: datetime | None = None
    submitted_to: datetime | None = None
    flagged: bool = False

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            if value in ("", None, False):
                continue
            out[key] = value.isoformat() if isinstance(value, datetime) else value
        return out


@dataclass
class Page:
    items: list[RegistryEntry]
    next_after: str | None
    total: int | None = None
    filters: dict[str, Any] = field(default_factory=dict)


def search_conditions(jurisdiction: str, filters: Filters, *, scan: bool = False
                ) -> list[ColumnElement[bool]]:
    """``scan``: many rows match, so read along the number index rather than the region's
    or the dates' (see ``registry.unindexed``)."""
    table = RegistryEntry
    region: Any = registry.unindexed(table.region) if scan else col(table.region)
    submitted: Any = registry.unindexed(table.submitted_at) if scan else col(table.submitted_at)
    conditions: list[ColumnElement[bool]] = []
    where = region_clause(jurisdiction, region)
    if where is not None:
        conditions.append(where)
    q = filters.q.strip()
    if q:
        # A number is matched by prefix, anything else word by word: each word typed starts
        # a name, organisation name, USCC or handle (for Chinese, any part of one: see
        # registry.terms). One list of numbers, so the database can start from the indexes.
        # Parameters are bound: SQL in a search term is only text.
        words = q.lower().split()[:8]
        if len(words) == 1:
            by_number = select(table.number).where(
                registry.prefix_condition(col(table.number), q.upper()[:20]))
            conditions.append(col(table.number).in_(
                union(by_number, registry.term_numbers(words[0]))))
        else:  # no number has a space in it
            conditions.extend(col(table.number).in_(registry.term_numbers(word))
                              for word in words)
    if filters.status:
        conditions.append(col(table.status) == filters.status)
    if filters.risk_level:
        conditions.append(col(table.risk_level) == filters.risk_level)
    if filters.subject_kind:
        conditions.append(col(table.subject_kind) == filters.subject_kind)
    if filters.role:
        conditions.append(or_(col(table.roles) == filters.role,
                              col(table.roles).startswith(filters.role + ","),
                              col(table.roles).endswith("," + filters.role),
                              col(table.roles).contains("," + filters.role + ",")))
    if filters.region:
        conditions.append(registry.prefix_condition(region, filters.region))
    if filters.submitted_from is not None:
        conditions.append(submitted >= filters.submitted_from)
    if filters.submitted_to is not None:
        conditions.append(submitted < filters.submitted_to)
    if filters.flagged:
        conditions.append(col(table.flag_count) > 0)
    return conditions


def search(session: Session, jurisdiction: str, filters: Filters, *, after: str = "",
           limit: int = PAGE_SIZE, many: bool = False) -> Page:
    """Registrations matching the filters, newest number first, ``limit`` at a time.

    Keyset pagination: the next page starts after the last number shown, so page 10 000
    costs what page 1 does. ``many``: more than ``COUNT_CAP`` rows match (``count`` said so),
    so the page is read along the number index (``search_conditions``' ``scan``).
    """
    conditions = search_conditions(jurisdiction, filters, scan=many)
    if after:
        conditions.append(col(RegistryEntry.number) < after)
    rows = list(session.exec(select(RegistryEntry).where(*conditions)
                             .order_by(col(RegistryEntry.number).desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(items=rows, next_after=rows[-1].number if more and rows else None,
                filters=filters.as_dict())


def count(session: Session, jurisdiction: str, filters: Filters, *, cap: int | None = None
          ) -> int:
    """How many rows match; with ``cap``, counting stops at ``cap + 1`` (a page needs to
    say "more than 1,000", not to read a million rows to say how many more)."""
    matching = select(RegistryEntry.number).where(*search_conditions(jurisdiction, filters))
    if cap is not None:
        matching = matching.limit(cap + 1)
    query = select(func.count()).select_from(matching.subquery())
    return int(session.exec(query).one())


def estimate(session: Session, jurisdiction: str, filters: Filters) -> int:
    """How many rows match, roughly, without reading them: PostgreSQL's planner estimate of
    the search (its statistics, not a count). SQLite has no planner estimate, and a count of
    an embedded database's rows is cheap: it counts."""
    matching = select(RegistryEntry.number).where(
        *search_conditions(jurisdiction, filters, scan=True))
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return count(session, jurisdiction, filters)
    compiled = matching.compile(dialect=bind.dialect, compile_kwargs={"literal_binds": False})
    plan = session.connection().exec_driver_sql(
        f"EXPLAIN (FORMAT JSON) {compiled}", compiled.params).scalar_one()
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


# What an export reads of each row (portal.oversight.exports.export_row): not the API answer's JSON.
STREAM_COLUMNS = ("number", "status", "subject_kind", "display_name", "id_type",
                  "id_number_masked", "roles", "risk_level", "region", "flag_count",
                  "submitted_at", "valid_until")


def stream(session: Session, jurisdiction: str, filters: Filters, *, batch: int = 5000
           ) -> Any:
    """Every matching row's exported columns, newest number first: one query read ``batch``
    rows at a time (a server-side cursor on PostgreSQL), so memory stays flat over a million
    rows, the table or the index is read once, and the export is one consistent snapshot."""
    # Moments as the database hands them over (SQLite: text), formatted by the export itself.
    columns = [type_coerce(getattr(RegistryEntry, name), String).label(name)
               if name in ("submitted_at", "valid_until") else getattr(RegistryEntry, name)
               for name in STREAM_COLUMNS]
    query = (select(*columns).where(*search_conditions(jurisdiction, filters))
             .order_by(col(RegistryEntry.number).desc())
             .execution_options(yield_per=batch))
    yield from session.connection().execute(query)  # Core rows: no ORM bookkeeping


# --- Integrity --------------------------------------------------------------------------------


@dataclass
class Check:
    ok: bool
    label: str
    reason: str = ""


@dataclass
class Integrity:
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def first_problem(self) -> str:
        return next((c.reason for c in self.checks if not c.ok), "")


def integrity(session: Session, registration: Registration) -> Integrity:
    """Prove a record unaltered: the stored attestation and declaration hash to the values in
    the certificates, the certificates' signatures verify, their log entries are included in
    the current checkpoint, and what the current certificate states matches the answers."""
    checks: list[Check] = []
    table = certificates.Certificate
    issued = list(session.exec(
        select(table).where(table.registration_id == registration.id)
        .order_by(col(table.issued_at))))
    if not issued:
        checks.append(Check(True, _("No certificate has been issued yet: nothing to check "
                                    "against the log")))
        return Integrity(checks)
    keys = certificates.public_keys(session)
    # Hashes recomputed from the stored data, not read from the stored hash column.
    recomputed = {
        "attestation": {canonical_sha256(row.data) for row in session.exec(
            select(Attestation).where(Attestation.registration_id == registration.id))},
        "declaration": {canonical_sha256(row.data) for row in session.exec(
            select(Declaration).where(Declaration.registration_id == registration.id))},
    }
    size = tlog.size(session)
    root = tlog.root_hash(session, size) if size else b""
    # Retention erased the personal values of the signed attestation (never the declaration):
    # it can no longer hash to its certificates, which is an erasure, not an alteration.
    erased = purged_at(registration)
    if erased:
        checks.append(Check(True, _("Personal data"), _(
            "Erased by retention on %(date)s: the signed attestation can no longer be hashed "
            "again and is not compared; everything else is checked", date=erased[:10])))
    for certificate in issued:
        body = certificates.certificate_json(certificate)
        serial = certificate.serial
        canonical = certificate.document.encode()
        if hashlib.sha256(canonical).hexdigest() != certificate.sha256:
            checks.append(Check(False, _("Certificate %(serial)s", serial=serial), _(
                "The stored certificate %(serial)s has been altered: its bytes no longer hash "
                "to the value recorded when it was issued", serial=serial)))
            continue
        if not certificates.verify_signature(body, keys):
            checks.append(Check(False, _("Certificate %(serial)s", serial=serial), _(
                "The signature of certificate %(serial)s does not verify", serial=serial)))
            continue
        for kind, label in (("attestation", _("attestation")), ("declaration",
                                                                _("declaration"))):
            wanted = body.get(f"{kind}_sha256", "")
            if erased and kind == "attestation":
                continue
            if wanted and wanted not in recomputed[kind]:
                checks.append(Check(False, _("Certificate %(serial)s", serial=serial), _(
                    "No stored %(what)s hashes to the value in certificate %(serial)s: the "
                    "answers it approved have been altered", what=label, serial=serial)))
                break
        else:
            problem = _log_problem(session, certificate, size, root)
            checks.append(Check(problem is None, _("Certificate %(serial)s", serial=serial),
                                problem or ""))
    current = issued[-1]
    stated = {k: certificates.certificate_json(current).get(k) for k in statement(registration)}
    now_stated = statement(registration)
    if erased:  # the masked name and ID number went with the answers they came from
        stated = statement_without_erased(stated)
        now_stated = statement_without_erased(now_stated)
    if stated != now_stated:
        checks.append(Check(False, _("Current answers"), _(
            "The registration's stored answers no longer match what its current certificate "
            "states")))
    else:
        checks.append(Check(True, _("Current answers")))
    return Integrity(checks)


def _log_problem(session: Session, certificate: certificates.Certificate, size: int, root: bytes
                 ) -> str | None:
    if certificate.log_index is None or certificate.log_index >= size:
        return _("Certificate %(serial)s has no entry in the transparency log",
                 serial=certificate.serial)
    entry = tlog.entries(session, certificate.log_index, certificate.log_index + 1)[0]
    if entry["entry"].get("certificate_sha256") != certificate.sha256:
        return _("The log entry %(index)d does not hold the hash of certificate %(serial)s",
                 index=certificate.log_index, serial=certificate.serial)
    leaf = tlog.leaf_hash(tlog.entry_bytes(entry["entry"]))
    proof = tlog.inclusion_proof(session, certificate.log_index, size)
    if not tlog.verify_inclusion(leaf, certificate.log_index, size, proof.audit_path, root):
        return _("The log entry of certificate %(serial)s is not included in the current "
                 "checkpoint", serial=certificate.serial)
    return None
