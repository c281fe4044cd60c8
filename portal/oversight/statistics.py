"""The registry's statistics for the auditor's dashboard, each one query computed by the database
(GROUP BY or conditional sums), limited to a jurisdiction by the registration's region. Flows
(submissions, approvals, sanctions, cases) are counted by month in China time; stocks (states,
risk levels) are as of now."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, extract, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from portal.base.i18n import LazyString, lazy_gettext
from portal.base.identity import CHINA_TZ
from portal.oversight import auditing, cases
from portal.oversight.review import Decision
from portal.records.registry import RegistryEntry
from portal.registration import sanctions
from portal.registration.models import Registration, Submission

MONTHS = 12

WAIT_BUCKETS: list[tuple[float | None, LazyString]] = [
    (1, lazy_gettext("Under 1 day")),
    (3, lazy_gettext("1 to 3 days")),
    (7, lazy_gettext("3 to 7 days")),
    (14, lazy_gettext("1 to 2 weeks")),
    (30, lazy_gettext("2 weeks to 30 days")),
    (None, lazy_gettext("30 days or more")),
]


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
