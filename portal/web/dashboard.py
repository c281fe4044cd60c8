"""The auditor's dashboard: the registry in pictures, each chart with its numbers in a table.

Every figure is limited to the auditor's jurisdiction (the registration's region) and computed
by the database with GROUP BY or conditional sums: the page costs a handful of queries, however
many registrations there are. Flows (submissions, approvals, sanctions, cases) cover the last
twelve months, counted by month in China time; stocks (states, risk levels) are as of now.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from babel.dates import format_date, format_skeleton
from babel.numbers import format_decimal
from markupsafe import Markup
from sqlalchemy import ColumnElement, and_, case, extract, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.accounts import Role
from portal.base import charts, i18n, jurisdictions, regions
from portal.base.db import utcnow
from portal.base.errors import FormErrors
from portal.base.i18n import LazyString, lazy_gettext
from portal.base.i18n import gettext as _
from portal.base.identity import CHINA_TZ
from portal.oversight import auditing, cases
from portal.oversight.review import Decision
from portal.records.registry import RegistryEntry
from portal.registration import risk, sanctions
from portal.registration.models import Registration, Submission
from portal.web.core import namespaced, page, render

AUDITORS = {Role.auditor, Role.admin}
MONTHS = 12

STATES: dict[str, LazyString] = {
    "submitted": lazy_gettext("Submitted"),
    "changes_requested": lazy_gettext("Changes requested"),
    "approved": lazy_gettext("Approved"),
    "suspended": lazy_gettext("Suspended"),
    "rejected": lazy_gettext("Rejected"),
    "revoked": lazy_gettext("Revoked"),
    "expired": lazy_gettext("Expired"),
    "deregistered": lazy_gettext("Deregistered"),
}
# Days from submission to approval: upper bounds (exclusive) and the label of each bucket.
WAIT_BUCKETS: list[tuple[float | None, LazyString]] = [
    (1, lazy_gettext("Under 1 day")),
    (3, lazy_gettext("1 to 3 days")),
    (7, lazy_gettext("3 to 7 days")),
    (14, lazy_gettext("1 to 2 weeks")),
    (30, lazy_gettext("2 weeks to 30 days")),
    (None, lazy_gettext("30 days or more")),
]


@dataclass
class Figure:
    """One chart and the table of the same numbers."""

    key: str
    title: str
    caption: str
    columns: list[str]
    rows: list[tuple[str, list[int]]]
    chart: Markup = field(default_factory=lambda: Markup(""))
    note: str = ""


def _region(jurisdiction: str, column: Any) -> list[ColumnElement[bool]]:
    clause = auditing.region_clause(jurisdiction, column)
    return [] if clause is None else [clause]


def month_starts(now: datetime, count: int = MONTHS) -> list[datetime]:
    """The first moments (China time) of the last ``count`` months, and of the next one."""
    local = now.astimezone(CHINA_TZ)
    year, month = local.year, local.month
    starts = []
    for back in range(count - 1, -2, -1):
        y, m = divmod(year * 12 + month - 1 - back, 12)
        starts.append(datetime(y, m + 1, 1, tzinfo=CHINA_TZ))
    return starts


def _grouped(session: Session, query: Any) -> dict[str, int]:
    return {str(key): int(n) for key, n in session.execute(query)}


def _ordered(counts: Mapping[str, int], labels: Mapping[str, Any]) -> list[tuple[str, int]]:
    """Every known key in its order (zeros included), then any unknown one found."""
    rows = [(str(label), counts.get(key, 0)) for key, label in labels.items()]
    return rows + [(key, n) for key, n in counts.items() if key not in labels]


def states(session: Session, jurisdiction: str) -> dict[str, int]:
    """Registrations by their current state (drafts have no registry row)."""
    query = (sa_select(col(RegistryEntry.status), func.count()).select_from(RegistryEntry)
             .where(*_region(jurisdiction, RegistryEntry.region))
             .group_by(RegistryEntry.status))
    return _grouped(session, query)


def risk_levels(session: Session, jurisdiction: str) -> dict[str, int]:
    """Approved and suspended registrations by risk level."""
    query = (sa_select(col(RegistryEntry.risk_level), func.count()).select_from(RegistryEntry)
             .where(col(RegistryEntry.status).in_(("approved", "suspended")),
                    *_region(jurisdiction, RegistryEntry.region))
             .group_by(RegistryEntry.risk_level))
    return _grouped(session, query)


def _monthly(session: Session, model: Any, moment: Any, bounds: Sequence[datetime],
             jurisdiction: str, *conditions: Any) -> list[int]:
    """Rows of ``model`` per month, by their ``moment``: one query of conditional sums."""
    sums = [func.coalesce(func.sum(case((and_(moment >= lo, moment < hi), 1), else_=0)), 0)
            for lo, hi in itertools.pairwise(bounds)]
    query = (sa_select(*sums).select_from(model)
             .join(Registration, col(Registration.id) == model.registration_id)
             .where(moment >= bounds[0], moment < bounds[-1], *conditions,
                    *_region(jurisdiction, Registration.region)))
    return [int(n) for n in session.execute(query).one()]


def submissions_by_month(session: Session, jurisdiction: str, bounds: Sequence[datetime]
                         ) -> list[int]:
    """Submissions (first ones, resubmissions and renewals) per month."""
    return _monthly(session, Submission, col(Submission.submitted_at), bounds, jurisdiction)


def approvals_by_month(session: Session, jurisdiction: str, bounds: Sequence[datetime]
                       ) -> list[int]:
    return _monthly(session, Decision, col(Decision.at), bounds, jurisdiction,
                    col(Decision.kind) == "approve")


def _days_between(session: Session, later: Any, earlier: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return extract("epoch", later - earlier) / 86400.0
    return func.julianday(later) - func.julianday(earlier)


def approval_waits(session: Session, jurisdiction: str, since: datetime
                   ) -> tuple[dict[int, int], float | None]:
    """Approvals since ``since`` by bucket of days waited (from the submission each decided),
    and the average wait in days."""
    submitted = (sa_select(func.max(col(Submission.submitted_at)))
                 .where(col(Submission.registration_id) == col(Decision.registration_id),
                        col(Submission.submitted_at) <= Decision.at)
                 .correlate(Decision).scalar_subquery())
    waits = (sa_select(_days_between(session, col(Decision.at), submitted).label("days"))
             .select_from(Decision)
             .join(Registration, col(Registration.id) == Decision.registration_id)
             .where(col(Decision.kind) == "approve", col(Decision.at) >= since,
                    *_region(jurisdiction, Registration.region))
             .subquery())
    days = waits.c.days
    bucket = case(*((days < bound, i) for i, (bound, _label) in enumerate(WAIT_BUCKETS)
                    if bound is not None), else_=len(WAIT_BUCKETS) - 1)
    buckets = sa_select(bucket.label("bucket")).where(days.is_not(None)).subquery()
    counts = {int(b): int(n) for b, n in session.execute(
        sa_select(buckets.c.bucket, func.count()).group_by(buckets.c.bucket))}
    average = session.execute(sa_select(func.avg(days)).where(days.is_not(None))).scalar()
    return counts, None if average is None else float(average)


def _since_by(session: Session, model: Any, key: Any, moment: Any, jurisdiction: str,
              since: datetime) -> dict[str, int]:
    query = (sa_select(key, func.count()).select_from(model)
             .join(Registration, col(Registration.id) == model.registration_id)
             .where(moment >= since, *_region(jurisdiction, Registration.region))
             .group_by(key))
    return _grouped(session, query)


def sanctions_by_kind(session: Session, jurisdiction: str, since: datetime) -> dict[str, int]:
    model = sanctions.Sanction
    return _since_by(session, model, col(model.kind), col(model.created_at), jurisdiction,
                     since)


def cases_by_category(session: Session, jurisdiction: str, since: datetime) -> dict[str, int]:
    model = cases.Case
    return _since_by(session, model, col(model.category), col(model.created_at), jurisdiction,
                     since)


def jurisdiction_text(jurisdiction: str) -> str:
    try:
        codes = jurisdictions.parse_jurisdiction(jurisdiction)
    except FormErrors:
        return _("None (the account's jurisdiction is not valid)")
    if codes is None:
        return _("National")
    return ", ".join(regions.province_name(c) if len(c) == 2
                     else f"{regions.province_name(c[:2])} ({c})" for c in codes)


def _bar_figure(key: str, title: str, caption: str, label: str, rows: list[tuple[str, int]],
                note: str = "") -> Figure:
    total = sum(n for _label, n in rows)
    return Figure(
        key=key, title=title, caption=caption, columns=[label, _("Count")],
        rows=[(name, [n]) for name, n in rows], note=note,
        chart=charts.bar_chart(chart_id=f"chart-{key}", title=title,
                               desc=_("Bar chart, total %(total)d.", total=total), bars=rows),
    )


def build(session: Session, jurisdiction: str, now: datetime | None = None) -> dict[str, Any]:
    """Every figure of the dashboard, for the jurisdiction."""
    now = now or utcnow()
    bounds = month_starts(now)
    since = bounds[0]
    locale = i18n.babel_locale()
    month_days: list[date] = [b.date() for b in bounds[:-1]]
    short = [format_date(d, "LLL", locale=locale) for d in month_days]
    long = [format_skeleton("yMMM", d, locale=locale) for d in month_days]
    submitted = submissions_by_month(session, jurisdiction, bounds)
    approved = approvals_by_month(session, jurisdiction, bounds)
    period = _("%(first)s to %(last)s", first=long[0], last=long[-1])

    flow_title = _("Submissions and approvals by month")
    flow = Figure(
        key="months", title=flow_title,
        caption=_("Submissions and approvals by month, %(period)s", period=period),
        columns=[_("Month"), _("Submissions"), _("Approvals")],
        rows=[(long[i], [submitted[i], approved[i]]) for i in range(len(long))],
        chart=charts.line_chart(
            chart_id="chart-months", title=flow_title,
            desc=_("Line chart of the last 12 months, %(period)s.", period=period),
            labels=short, series=[charts.Series(_("Submissions"), submitted),
                                  charts.Series(_("Approvals"), approved)]),
    )
    waits, average = approval_waits(session, jurisdiction, since)
    wait_rows = [(str(label), waits.get(i, 0)) for i, (_b, label) in enumerate(WAIT_BUCKETS)]
    note = _("Average: %(days)s days.", days=format_decimal(
        average, format="#,##0.0", locale=locale)) if average is not None else ""
    figures = [
        _bar_figure("states", _("Registrations by state"),
                    _("Registrations by their state today"), _("State"),
                    _ordered(states(session, jurisdiction), STATES)),
        flow,
        _bar_figure("waits", _("Time from submission to approval"),
                    _("Approvals in the last 12 months by days waited since submission"),
                    _("Days waited"), wait_rows, note=note),
        _bar_figure("sanctions", _("Sanctions by type"),
                    _("Sanctions ordered in the last 12 months, by type"), _("Sanction"),
                    _ordered(sanctions_by_kind(session, jurisdiction, since), sanctions.KINDS)),
        _bar_figure("risk", _("Risk levels"),
                    _("Approved and suspended registrations by risk level today"),
                    _("Risk level"), _ordered(risk_levels(session, jurisdiction), risk.LEVELS)),
        _bar_figure("cases", _("Violations by category"),
                    _("Cases opened in the last 12 months, by category"), _("Category"),
                    _ordered(cases_by_category(session, jurisdiction, since),
                             cases.CATEGORIES)),
    ]
    return {"figures": figures, "jurisdiction": jurisdiction_text(jurisdiction),
            "period": period}


@page(roles=AUDITORS)
def show_dashboard(request: Request) -> Response:
    return render(request, "audit/dashboard.html",
                  build(request.state.db, request.state.user.jurisdiction))


routes = namespaced("dashboard", [
    Route("/audit/dashboard", show_dashboard, methods=["GET"], name="show"),
])
