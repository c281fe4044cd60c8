"""The words people read for the log's entry types and the platforms' event types (DESIGN §7),
in the page's language: pages never show the codes ("certificate.issued") alone."""

from __future__ import annotations

from portal.base.i18n import LazyString, lazy_gettext

EVENT_NAMES: dict[str, LazyString] = {
    "registration.submitted": lazy_gettext("Registration submitted"),
    "registration.approved": lazy_gettext("Registration approved"),
    "registration.changes_requested": lazy_gettext("Changes requested"),
    "registration.rejected": lazy_gettext("Registration not approved"),
    "registration.suspended": lazy_gettext("Registration suspended"),
    "registration.reinstated": lazy_gettext("Registration reinstated"),
    "registration.revoked": lazy_gettext("Registration revoked"),
    "registration.deregistered": lazy_gettext("Registration deregistered"),
    "registration.expired": lazy_gettext("Registration expired"),
    "registration.updated": lazy_gettext("Registration updated after a change was approved"),
    "certificate.issued": lazy_gettext("Certificate issued"),
    "sanction.applied": lazy_gettext("Sanction applied"),
    "sanction.ended": lazy_gettext("Sanction ended"),
    "sanction.overturned": lazy_gettext("Sanction overturned on appeal"),
    "appeal.decided": lazy_gettext("Appeal decided"),
    "blocklist.person_added": lazy_gettext("Person added to the blocklist"),
    "blocklist.person_removed": lazy_gettext("Person removed from the blocklist"),
    "blocklist.buyer_added": lazy_gettext("Buyer added to the buyer blocklist"),
    "blocklist.buyer_removed": lazy_gettext("Buyer removed from the buyer blocklist"),
    "case.opened": lazy_gettext("Case opened"),
    "case.closed": lazy_gettext("Case closed"),
    "key.rotated": lazy_gettext("Signing key rotated"),
    "inspection.requested": lazy_gettext("Inspection request sent to a platform"),
    "inspection.answered": lazy_gettext("Inspection request answered by the platform"),
    "inspection.overdue": lazy_gettext("Inspection request overdue"),
}


def event_name(event_type: str) -> str:
    """The words for an entry or event type; the code itself only for a type nobody named."""
    name = EVENT_NAMES.get(event_type)
    return str(name) if name is not None else event_type
