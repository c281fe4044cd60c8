"""Risk levels (REGULATION.md R8): low, medium, high, key, from what a registration declares and
its violation history; thresholds are the platform's, in settings. A moderator may override the
computed level with a reason; an override sticks until a moderator changes it again.
"""

from __future__ import annotations

from sqlmodel import Session

from portal.base.i18n import LazyString, lazy_gettext
from portal.base.settings import Settings
from portal.registration.models import Registration

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
