"""Jurisdictions: national, or a set of GB/T 2260 region codes (a province ``33``, a city ``3301``).

Authorities are local (DESIGN §3): an auditor account or authority client reads and acts only on
objects whose region its jurisdiction covers; anything outside is answered as not found.
"""

from __future__ import annotations

import re
from typing import Protocol

from portal.base.errors import FormErrors
from portal.base.i18n import gettext as _

NATIONAL = "national"
_CODE = re.compile(r"^\d{2}(\d{2}){0,2}$")


def parse_jurisdiction(value: str) -> tuple[str, ...] | None:
    """``None`` for national, else the region codes; FormErrors for anything else."""
    value = (value or "").strip()
    if not value or value.lower() == NATIONAL:
        return None
    codes = tuple(sorted({c.strip() for c in value.split(",") if c.strip()}))
    bad = [c for c in codes if not _CODE.match(c)]
    if bad or not codes:
        raise FormErrors({"jurisdiction": _(
            "Enter \"national\" or region codes separated by commas, such as 33 or 3301")})
    return codes


def normalise_jurisdiction(value: str) -> str:
    codes = parse_jurisdiction(value)
    return NATIONAL if codes is None else ",".join(codes)


def covers(jurisdiction: str, region: str | None) -> bool:
    """Whether the jurisdiction includes the region (an object with no region: national only)."""
    try:
        codes = parse_jurisdiction(jurisdiction)
    except FormErrors:
        return False
    return codes is None or any((region or "").startswith(code) for code in codes)


class Staff(Protocol):
    role: str
    jurisdiction: str


def within(actor: Staff, region: str | None) -> bool:
    """Whether a staff member may see or act on an object of the region: an auditor only within
    the jurisdiction, moderators and admins everywhere."""
    return actor.role != "auditor" or covers(actor.jurisdiction, region)
