"""Risk levels (REGULATION.md R8): low, medium, high, key, from what a registration declares and
its violation history; thresholds are the platform's, in settings. A moderator may override the
computed level with a reason; an override sticks until a moderator changes it again.
"""

from __future__ import annotations

from sqlmodel import Session

from portal import records
from portal.accounts import User
from portal.errors import FormErrors
from portal.events import Actor, record_change
from portal.i18n import LazyString, lazy_gettext
from portal.i18n import gettext as _
from portal.registrations import Registration
from portal.settings import Settings

LEVELS: dict[str, LazyString] = {
    "low": lazy_gettext("Low"),
    "medium": lazy_gettext("Medium"),
    "high": lazy_gettext("High"),
    "key": lazy_gettext("Key live room"),
}
ORDER = list(LEVELS)
SALES_LEVEL = {"under_10k": "low", "10k_100k": "low", "100k_1m": "medium", "1m_10m": "high",
               "over_10m": "key"}
HIGH_RISK_PRODUCTS = frozenset({"medicines", "medical_devices", "financial_products",
                                "infant_formula"})


def _max(*levels: str) -> str:
    return max(levels, key=ORDER.index)


def compute(settings: Settings, registration: Registration, *, sanctions_in_force: int = 0
            ) -> str:
    """The level the declared answers and the violation history call for."""
    roles = registration.answers.get("roles") or {}
    content = registration.answers.get("content") or {}
    followers = sum(int(c.get("followers") or 0) for c in roles.get("channels") or [])
    level = "low"
    if followers >= settings.risk_key_followers:
        level = "key"
    elif followers >= settings.risk_high_followers:
        level = "high"
    elif followers >= settings.risk_medium_followers:
        level = "medium"
    level = _max(level, SALES_LEVEL.get(roles.get("monthly_sales") or "", "low"))
    products = set(content.get("restricted_products") or [])
    if products & HIGH_RISK_PRODUCTS:
        level = _max(level, "high")
    elif products or content.get("audience") == "adults_only":
        level = _max(level, "medium")
    if sanctions_in_force >= 2:
        level = _max(level, "high")
    elif sanctions_in_force == 1:
        level = ORDER[min(ORDER.index(level) + 1, len(ORDER) - 1)]
    return level


def refresh(session: Session, settings: Settings, registration: Registration, *,
            sanctions_in_force: int) -> str:
    """Recompute the level unless a moderator overrode it; the caller commits.

    ``sanctions_in_force`` is the violation history (``sanctions.in_force_count``)."""
    if registration.risk_overridden:
        return registration.risk_level
    registration.risk_level = compute(settings, registration,
                                      sanctions_in_force=sanctions_in_force)
    session.add(registration)
    return registration.risk_level


def override(session: Session, settings: Settings, *, registration: Registration,
             moderator: User, level: str, reason: str) -> None:
    """Set the level by hand, with a reason; commit."""
    errors = {}
    if level not in LEVELS:
        errors["risk_level"] = _("Choose a risk level")
    reason = (reason or "").strip()
    if not reason:
        errors["risk_reason"] = _("Give the reason for the risk level")
    elif len(reason) > 1000:
        errors["risk_reason"] = _("Write %(max)d characters or fewer", max=1000)
    if errors:
        raise FormErrors(errors)
    previous = registration.risk_level
    registration.risk_level = level
    registration.risk_overridden = True
    session.add(registration)
    record_change(session, action="risk_override", actor=Actor.of(moderator),
                  registration_id=registration.id, number=registration.number, reason=reason,
                  data={"from": previous, "to": level})
    # The risk level is part of what the certificate states.
    records.refresh_certificate(session, settings, registration, actor=Actor.of(moderator))
    session.commit()
