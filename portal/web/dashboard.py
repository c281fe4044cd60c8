"""The auditor's dashboard: the registry in pictures, each chart with its numbers in a table.

Every figure is limited to the auditor's jurisdiction (the registration's region) and computed
by the database with GROUP BY or conditional sums: the page costs a handful of queries, however
many registrations there are. Flows (submissions, approvals, sanctions, cases) cover the last
twelve months, counted by month in China time; stocks (states, risk levels) are as of now.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from babel.dates import format_date, format_skeleton
from babel.numbers import format_decimal
from markupsafe import Markup
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.accounts import Role
from portal.base import charts, i18n, jurisdictions, regions
from portal.base.db import utcnow
from portal.base.errors import FormErrors
from portal.base.i18n import LazyString, lazy_gettext
from portal.base.i18n import gettext as _
from portal.oversight import cases, inspection_requests
from portal.oversight.statistics import (
    WAIT_BUCKETS,
    approval_waits,
    approvals_by_month,
    cases_by_category,
    month_starts,
    risk_levels,
    sanctions_by_kind,
    states,
    submissions_by_month,
)
from portal.registration import risk, sanctions
from portal.web.core import namespaced, page, render

AUDITORS = {Role.auditor, Role.admin}

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


def _ordered(counts: Mapping[str, int], labels: Mapping[str, Any]) -> list[tuple[str, int]]:
    """Every known key in its order (zeros included), then any unknown one found."""
    rows = [(str(label), counts.get(key, 0)) for key, label in labels.items()]
    return rows + [(key, n) for key, n in counts.items() if key not in labels]


def jurisdiction_text(jurisdiction: str) -> str:
    try:
        codes = jurisdictions.parse_jurisdiction(jurisdiction)
    except FormErrors:
        return _("None (the account's jurisdiction is not valid)")
    if codes is None:
        return _("National")
    return ", ".join(regions.region_name(c) for c in codes)


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
            "period": period,
            "overdue_requests": inspection_requests.overdue_count(session, jurisdiction)}


@page(roles=AUDITORS)
def show_dashboard(request: Request) -> Response:
    return render(request, "audit/dashboard.html",
                  build(request.state.db, request.state.user.jurisdiction))


routes = namespaced("dashboard", [
    Route("/audit/dashboard", show_dashboard, methods=["GET"], name="show"),
])
