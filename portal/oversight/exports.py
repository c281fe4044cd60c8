"""What auditors and authority clients take away: masked answers and exports of a search.

Shared by the auditor's console (``portal.web.audit``) and the authority API
(``portal.api.audit``), so that a record and an export mask the same values whichever way they
are read. ID and phone numbers are stored masked already (their clear values are encrypted);
people's names and the contacts written in free text are masked here.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from portal.base.crypto import mask_name, mask_phone
from portal.base.db import session_scope
from portal.ledger.tlog import rfc3339
from portal.oversight import auditing
from portal.oversight.inspections import ExportRecord

logger = logging.getLogger("portal")

# Names of people in the answers, shown masked like every other personal value.
NAME_FIELDS: dict[str, tuple[str, ...]] = {
    "identity": ("legal_name",),
    "guardian": ("guardian_name", "consent_name"),
    "roles": ("legal_representative",),
    "security": ("signature",),
}
# Free text that names the people who run a live room, and how to reach them.
FREE_TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "security": ("staff_list", "security_contact"),
}
EXPORT_COLUMNS = ("number", "status", "subject_kind", "display_name", "id_type",
                  "id_number_masked", "roles", "risk_level", "region", "flag_count",
                  "submitted_at", "valid_until")
FILTER_NAMES = ("q", "status", "role", "risk_level", "subject_kind", "region",
                "submitted_from", "submitted_to", "flagged")


# --- Masking ----------------------------------------------------------------------------------


def _mask_words(text: str) -> str:
    """Free text naming people and their numbers ("李四 13912345678"), word by word masked."""
    return " ".join(mask_phone(w) if sum(c.isdigit() for c in w) >= 7 else mask_name(w)
                    for w in text.split())


# Dates of birth, shown as the year only wherever an ID number is shown masked (DESIGN §8).
BIRTH_DATES: dict[str, str] = {"identity": "date_of_birth", "guardian": "guardian_date_of_birth"}


def birth_years(answers: Mapping[str, Any]) -> dict[str, Any]:
    """Answers with each date of birth cut to its year: beside a masked ID number (which shows
    its region and check digits) a full date leaves a handful of candidates. The clear date is
    revealed like an ID number, with a reason."""
    out = dict(answers)
    for step, name in BIRTH_DATES.items():
        saved = out.get(step)
        if isinstance(saved, Mapping) and saved.get(name):
            out[step] = {**saved, name: str(saved[name])[:4]}
    return out


def masked_answers(answers: Mapping[str, Any]) -> dict[str, Any]:
    """Answers with people's names and contacts masked (ID and phone numbers are stored masked
    already) and dates of birth cut to their year."""
    out = birth_years(answers)
    for step, names in NAME_FIELDS.items():
        if isinstance(out.get(step), Mapping):
            out[step] = {**out[step], **{n: mask_name(str(out[step][n])) for n in names
                                         if out[step].get(n)}}
    for step, names in FREE_TEXT_FIELDS.items():
        if isinstance(out.get(step), Mapping):
            out[step] = {**out[step], **{n: _mask_words(str(out[step][n])) for n in names
                                         if out[step].get(n)}}
    return out


# --- Exports ----------------------------------------------------------------------------------


def export_row(entry: Any) -> dict[str, Any]:
    """One registration as exported, from its registry row: masked values only."""
    return {
        "number": entry.number,
        "status": entry.status,
        "subject_kind": entry.subject_kind,
        "display_name": entry.display_name,
        "id_type": entry.id_type,
        "id_number_masked": entry.id_number_masked,
        "roles": [r for r in entry.roles.split(",") if r],
        "risk_level": entry.risk_level,
        "region": entry.region,
        "flag_count": entry.flag_count,
        "submitted_at": _moment(entry.submitted_at) or None,
        "valid_until": _moment(entry.valid_until) or None,
    }


def export_filename(values: Mapping[str, str], at: datetime, extension: str) -> str:
    """``registrations_status-approved_20261130T0812Z.csv``: the filters, then the time."""
    parts = ["registrations"]
    for name in FILTER_NAMES:
        value = values.get(name)
        if not value:
            continue
        label = name.replace("_", "-")
        if name == "flagged":
            parts.append(label)
            continue
        text = re.sub(r"[^A-Za-z0-9-]+", "", value.replace("_", "-"))[:30]
        parts.append(f"{label}-{text}" if text else label)
    parts.append(at.strftime("%Y%m%dT%H%MZ"))
    return "_".join(parts) + "." + extension


def _csv_cell(value: Any) -> str:
    text = ",".join(value) if isinstance(value, list) else "" if value is None else str(value)
    # A spreadsheet runs a cell that starts like a formula; a leading quote keeps it text.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _moment(value: datetime | str | None) -> str:
    """What ``rfc3339`` writes for a UTC moment read from the registry: SQLite hands over its
    stored text ("2026-11-30 08:12:00.000000", UTC), PostgreSQL a datetime."""
    if not value:
        return ""
    if isinstance(value, str):
        return f"{value[:10]}T{value[11:19]}Z"
    return rfc3339(value)


def csv_row(entry: Any) -> list[str]:
    """The CSV cells of ``export_row(entry)`` in EXPORT_COLUMNS' order, made directly: an
    export of a million rows spends its time here. Codes and numbers the portal wrote need no
    guard; the texts an applicant typed (and their masks) do."""
    return [entry.number, entry.status, entry.subject_kind, _csv_cell(entry.display_name),
            entry.id_type, _csv_cell(entry.id_number_masked),
            ",".join(r for r in entry.roles.split(",") if r), entry.risk_level, entry.region,
            str(entry.flag_count), _moment(entry.submitted_at), _moment(entry.valid_until)]


def _log_export(engine: Engine, *, user_id: int | None, client_id: int | None, fmt: str,
                filters: dict[str, Any], rows: int) -> None:
    with session_scope(engine, write=True) as db:
        db.add(ExportRecord(user_id=user_id, client_id=client_id, format=fmt, filters=filters,
                            rows=rows))
        db.commit()


def export_rows(engine: Engine, jurisdiction: str, filters: auditing.Filters, fmt: str,
                *, user_id: int | None = None, client_id: int | None = None,
                logged: dict[str, Any], read_engine: Engine | None = None) -> Iterator[str]:
    """The export's text, a chunk at a time; recorded once the stream ends, however it ends.

    It reads through its own database session, as it runs after the request's has closed:
    on ``read_engine`` (a read replica, DESIGN §9) when given, else on ``engine``, where the
    record is written; it names the auditor (``user_id``) or the API client (``client_id``).
    """
    count = 0
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    try:
        if fmt == "csv":
            # The byte-order mark makes spreadsheet programs read the file as UTF-8.
            buffer.write("\ufeff")
            writer.writerow(EXPORT_COLUMNS)
        else:
            yield "["
        with session_scope(read_engine or engine) as db:
            for entry in auditing.stream(db, jurisdiction, filters):
                if fmt == "csv":
                    writer.writerow(csv_row(entry))
                    count += 1
                    if count % 1000 == 0:
                        yield buffer.getvalue()
                        buffer.seek(0)
                        buffer.truncate()
                else:
                    row = export_row(entry)
                    yield ("," if count else "") + "\n" + json.dumps(row, ensure_ascii=False)
                    count += 1
        yield buffer.getvalue() if fmt == "csv" else "\n]\n"
    finally:
        try:
            _log_export(engine, user_id=user_id, client_id=client_id, fmt=fmt, filters=logged,
                        rows=count)
        except Exception:  # the rows have left; a lost log line must at least be visible
            logger.exception("could not record an export of %d rows", count)
