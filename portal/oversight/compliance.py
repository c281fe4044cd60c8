"""How each platform keeps its duties, for auditors (REGULATION R2, R16): identity checks it made,
violations it reported, inspection requests answered on time, late or still open, and webhook
deliveries failing.

What a platform verifies by number (``GET /registrations/{number}``, the batch check) is not
recorded anywhere; what is recorded is each identity match (``POST /registrations/match``), in
the personal-data access log: that is what "checks" counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from portal.ledger.pii_access import PiiAccess
from portal.oversight import auditing, cases, inspection_requests
from portal.platforms.clients import ApiClient
from portal.platforms.webhooks import WebhookDelivery
from portal.registration.models import Registration

MATCH_FIELD = "identity_match"


@dataclass
class Compliance:
    client: ApiClient
    identity_checks: int = 0
    violations_reported: int = 0
    requests: inspection_requests.RequestCounts = field(
        default_factory=inspection_requests.RequestCounts)
    deliveries_failed: int = 0
    deliveries_pending: int = 0


def _counts(session: Session, query: Any) -> dict[int, int]:
    """{client id: count} of a (client id, count) query."""
    return {int(c): int(n) for c, n in session.execute(query)}


def platforms(session: Session, jurisdiction: str) -> list[Compliance]:
    """Every platform with its figures; violation reports and inspection requests about
    registrations count within the jurisdiction, identity checks and webhooks platform-wide."""
    rows = list(session.exec(select(ApiClient).where(ApiClient.kind == "platform")
                             .order_by(col(ApiClient.name))))
    checks = _counts(session, sa_select(col(PiiAccess.client_id), func.count())
                     .where(col(PiiAccess.client_id).is_not(None),
                            col(PiiAccess.field) == MATCH_FIELD)
                     .group_by(col(PiiAccess.client_id)))
    reports = sa_select(col(cases.Case.client_id), func.count()).join(
        Registration, col(Registration.id) == cases.Case.registration_id).where(
        col(cases.Case.source) == "violation_report", col(cases.Case.client_id).is_not(None))
    regional = auditing.region_clause(jurisdiction, Registration.region)
    if regional is not None:
        reports = reports.where(regional)
    violations = _counts(session, reports.group_by(col(cases.Case.client_id)))
    failed = _counts(session, sa_select(col(WebhookDelivery.client_id), func.count())
                     .where(col(WebhookDelivery.state) == "failed")
                     .group_by(col(WebhookDelivery.client_id)))
    pending = _counts(session, sa_select(col(WebhookDelivery.client_id), func.count())
                      .where(col(WebhookDelivery.state) == "pending")
                      .group_by(col(WebhookDelivery.client_id)))
    requests = inspection_requests.counts_by_platform(session, jurisdiction)
    return [Compliance(
        client=c, identity_checks=checks.get(c.id or 0, 0),
        violations_reported=violations.get(c.id or 0, 0),
        requests=requests.get(c.id or 0, inspection_requests.RequestCounts()),
        deliveries_failed=failed.get(c.id or 0, 0),
        deliveries_pending=pending.get(c.id or 0, 0)) for c in rows]
