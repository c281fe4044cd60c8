"""Scheduled work (DESIGN §4): `portal jobs run` from cron, and the server every few minutes.

Every job is safe in several processes at once: state changes are conditional moves, so a
registration another process already moved is skipped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from portal.accounts import User
from portal.base import i18n
from portal.base.db import session_scope, utcnow
from portal.base.i18n import gettext as _
from portal.base.identity import ADULT_AGE, CHINA_TZ, age_on, china_date, china_today
from portal.base.settings import Settings
from portal.ledger.events import SYSTEM, HistoryEntry
from portal.lifecycle import changes
from portal.oversight import cases, enforcement, inspection_requests
from portal.platforms import filings, notify
from portal.registration.models import NotAllowed, Registration, StaleState
from portal.registration.sanctions import Sanction

logger = logging.getLogger("portal.ops.jobs")
WARN_BEFORE = timedelta(days=30)


@dataclass
class Report:
    reinstated: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    warned: list[str] = field(default_factory=list)
    adults: list[str] = field(default_factory=list)
    reminded: list[str] = field(default_factory=list)
    restricted: list[str] = field(default_factory=list)
    overdue: list[str] = field(default_factory=list)
    unblocked: list[str] = field(default_factory=list)
    # Inspection requests flagged overdue (their ids).
    requests_overdue: list[int] = field(default_factory=list)
    # Platform licences whose coming expiry the admins were reminded of (their ids).
    licences: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        return ", ".join(f"{name} {len(getattr(self, name))}" for name in (
            "reinstated", "expired", "warned", "adults", "reminded", "restricted", "overdue",
            "unblocked", "requests_overdue", "licences"))


def _tell(session: Session, registration: Registration, subject: str, body: str
          ) -> notify.Message:
    user = session.get(User, registration.user_id)
    assert user is not None
    return notify.notify_user(session, user_id=user.id or 0, email=user.email,
                              registration_id=registration.id, subject=subject, body=body)


def end_due_suspensions(session: Session, settings: Settings, *, now: datetime | None = None
                         ) -> list[str]:
    """Reinstate registrations whose suspension has run out; commit each. Returns the numbers."""
    now = now or utcnow()
    done = []
    due = session.exec(select(Sanction, Registration).where(
        Sanction.kind == "suspend", Sanction.state == "active",
        col(Sanction.until) <= now, Registration.id == Sanction.registration_id,
    )).all()
    for sanction, registration in due:
        # The reinstatement that follows refreshes the risk level and issues the certificate.
        enforcement.end_sanction(session, settings, sanction=sanction, registration=registration,
                                 reason="suspension ended", now=now,
                                 follows=registration.status == "suspended")
        if registration.status == "suspended":
            try:
                changes.change(session, settings, registration, action="reinstated",
                               actor=SYSTEM, to_status="approved", reason="suspension ended",
                               event_type="registration.reinstated", logged=True)
            except (StaleState, NotAllowed):
                session.rollback()  # another process got there first
                continue
            done.append(registration.number or "")
        session.commit()
    return done


def expire_due(session: Session, settings: Settings, *, now: datetime) -> list[str]:
    """Move approvals past their validity to `expired`, each in its own transaction."""
    done = []
    due = session.exec(select(Registration).where(
        Registration.status == "approved", col(Registration.valid_until) <= now)).all()
    for registration in due:
        try:
            changes.change(session, settings, registration, action="expired", actor=SYSTEM,
                           to_status="expired", event_type="registration.expired", logged=True)
        except (StaleState, NotAllowed):
            session.rollback()
            continue
        with notify.in_language_of(session.get(User, registration.user_id)):
            mail = _tell(session, registration,
                         _("Your registration %(number)s has expired", number=registration.number),
                         _("Your registration %(number)s has expired. Renew it on your status page "
                           "by confirming each step again.", number=registration.number))
        session.commit()
        notify.deliver(settings, [mail], session=session)
        done.append(registration.number or "")
    return done


def warn_expiring(session: Session, settings: Settings, *, now: datetime) -> list[str]:
    """Tell applicants 30 days before their approval expires, once per approval."""
    done = []
    soon = session.exec(select(Registration).where(
        Registration.status == "approved", col(Registration.valid_until) <= now + WARN_BEFORE,
        col(Registration.valid_until) > now)).all()
    for registration in soon:
        warned = session.exec(select(HistoryEntry.id).where(
            HistoryEntry.registration_id == registration.id,
            HistoryEntry.action == "expiry_warning",
            col(HistoryEntry.at) >= registration.valid_from)).first()
        if warned is not None:
            continue
        changes.record(session, action="expiry_warning", actor=SYSTEM, registration=registration)
        with notify.in_language_of(session.get(User, registration.user_id)):
            until = i18n.format_datetime(registration.valid_until)
            mail = _tell(session, registration,
                         _("Your registration %(number)s expires on %(date)s",
                           number=registration.number, date=until),
                         _("Your registration %(number)s expires on %(date)s. Renew it before then "
                           "so you can keep streaming.", number=registration.number, date=until))
        session.commit()
        notify.deliver(settings, [mail], session=session)
        done.append(registration.number or "")
    return done


def run(engine: Engine, settings: Settings, *, now: datetime | None = None) -> Report:
    """Run every scheduled job once."""
    now = now or utcnow()
    today = now.astimezone(CHINA_TZ).date() if now else china_today()
    report = Report()
    with session_scope(engine) as session:
        report.reinstated = end_due_suspensions(session, settings, now=now)
        report.expired = expire_due(session, settings, now=now)
        report.warned = warn_expiring(session, settings, now=now)
        report.adults = update_age_bands(session, settings, today=today)
        report.reminded, report.restricted = refresh_operators(session, settings, now=now)
        report.overdue = open_overdue_corrections(session, settings, now=now)
        report.unblocked = end_due_blacklistings(session, settings, now=now)
        report.requests_overdue = flag_overdue_requests(session, now=now)
        report.licences = remind_licences(session, settings, now=now)
    logger.info("jobs: %s", report)
    return report


def flag_overdue_requests(session: Session, *, now: datetime) -> list[int]:
    """Flag inspection requests past their deadline unanswered, once each; commit."""
    flagged = inspection_requests.flag_overdue(session, now=now)
    session.commit()
    return [r.id for r in flagged if r.id is not None]


def remind_licences(session: Session, settings: Settings, *, now: datetime) -> list[int]:
    """Tell every admin, once, of each platform licence that expires within 30 days; commit."""
    due = filings.licences_to_remind(session, today=china_date(now))
    if not due:
        return []
    admins = list(session.exec(select(User).where(User.role == "admin")))
    mails = []
    for licence, client in due:
        for admin in admins:
            with notify.in_language_of(admin):
                mails.append(notify.notify_user(
                    session, user_id=admin.id or 0, email=admin.email,
                    subject=_("A platform's licence expires soon"),
                    body=_("The licence %(licence)s of %(platform)s expires on %(date)s. Ask the "
                           "platform for the renewed licence and record it on its page.",
                           licence=licence.name, platform=client.name,
                           date=i18n.format_day(licence.expires_on))))
        filings.mark_reminded(session, licence, now=now)
    session.commit()
    notify.deliver(settings, mails, session=session)
    return [licence.id for licence, _client in due if licence.id is not None]


def open_overdue_corrections(session: Session, settings: Settings, *, now: datetime
                             ) -> list[str]:
    """Open a case for the moderators on each order to correct still in force past its
    deadline, once per order; commit each. Returns the numbers."""
    done = []
    due = session.exec(select(Sanction, Registration).where(
        Sanction.kind == "order_correction", Sanction.state == "active",
        col(Sanction.until) <= now, col(Sanction.overdue_case_id).is_(None),
        Registration.id == Sanction.registration_id)).all()
    for sanction, registration in due:
        deadline = china_date(sanction.until).isoformat() if sanction.until else ""
        case = cases.open_case(
            session, registration=registration, category="other", source="correction_overdue",
            description=_("The order to correct of %(date)s was not ended as complied with by "
                          "its deadline, %(deadline)s.\nFacts: %(facts)s",
                          date=china_date(sanction.created_at).isoformat(), deadline=deadline,
                          facts=sanction.facts))
        # Conditional, so that of two processes only one keeps its case.
        claimed = session.exec(update(Sanction).where(
            col(Sanction.id) == sanction.id, col(Sanction.overdue_case_id).is_(None),
        ).values(overdue_case_id=case.id))
        if claimed.rowcount != 1:
            session.rollback()
            continue
        session.commit()
        logger.info("order to correct %s on %s past its deadline %s: case %s opened",
                    sanction.id, registration.number, deadline, case.id)
        done.append(registration.number or "")
    return done


def end_due_blacklistings(session: Session, settings: Settings, *, now: datetime) -> list[str]:
    """End the blacklistings whose end date has passed: their blocklist entries are lifted
    (logged and announced) and the sanction ends; commit each. Returns the numbers."""
    done = []
    due = session.exec(select(Sanction, Registration).where(
        Sanction.kind == "blacklist", Sanction.state == "active", col(Sanction.until) <= now,
        Registration.id == Sanction.registration_id)).all()
    for sanction, registration in due:
        lifted = enforcement.end_blacklisting(session, settings, sanction=sanction,
                                              registration=registration, now=now)
        session.commit()
        logger.info("blacklisting %s of %s ended on %s: entries %s lifted", sanction.id,
                    registration.number, china_date(now).isoformat(),
                    ", ".join(str(e.id) for e in lifted) or "none")
        done.append(registration.number or "")
    return done


def update_age_bands(session: Session, settings: Settings, *, today: date) -> list[str]:
    """A streamer who turns 18 becomes an adult in their registration (and certificate)."""
    done = []
    minors = session.exec(select(Registration).where(
        Registration.age_band == "minor_16_17",
        col(Registration.status).in_(("submitted", "approved", "suspended")))).all()
    for registration in minors:
        raw = (registration.answers.get("identity") or {}).get("date_of_birth")
        if not raw or age_on(date.fromisoformat(raw), today) < ADULT_AGE:
            continue
        registration.age_band = "adult"
        session.add(registration)
        # The certificate states the age band: the pipeline issues one that says "adult".
        changes.change(session, settings, registration, action="age_band_adult", actor=SYSTEM,
                       data={"age_band": "adult"})
        session.commit()
        done.append(registration.number or "")
    return done


REFRESH_GRACE = timedelta(days=30)


def refresh_operators(session: Session, settings: Settings, *, now: datetime) -> tuple[
        list[str], list[str]]:
    """Remind live-room operators to re-confirm their data; restrict those who do not."""
    reminded: list[str] = []
    restricted: list[str] = []
    due_at = now - timedelta(days=settings.refresh_days)
    operators = session.exec(select(Registration).where(
        Registration.status == "approved",
        col(Registration.roles).contains("room_operator"),
        col(Registration.data_confirmed_at) <= due_at)).all()
    for registration in operators:
        confirmed = registration.data_confirmed_at
        assert confirmed is not None
        history = [h.action for h in session.exec(select(HistoryEntry).where(
            HistoryEntry.registration_id == registration.id,
            col(HistoryEntry.at) >= confirmed))]
        if confirmed <= due_at - REFRESH_GRACE:
            if "refresh_restricted" in history:
                continue
            _sanction, mails = enforcement.apply_sanction(
                session, registration=registration, actor=None, kind="restrict_functions",
                facts=_("The operator's data was last confirmed on %(date)s.",
                        date=china_date(confirmed).isoformat()),
                reason=_("Operators must re-confirm their data every %(days)d days.",
                         days=settings.refresh_days),
                legal_basis=_("2026 Measures: operators' data is refreshed every six months"),
                functions=["live_selling"], settings=settings)
            changes.record(session, action="refresh_restricted", actor=SYSTEM,
                           registration=registration)
            session.commit()
            notify.deliver(settings, mails, session=session)
            restricted.append(registration.number or "")
        elif "refresh_reminder" not in history:
            changes.record(session, action="refresh_reminder", actor=SYSTEM,
                           registration=registration)
            with notify.in_language_of(session.get(User, registration.user_id)):
                mail = _tell(session, registration,
                             _("Please confirm your registration data"),
                             _("Live-room operators confirm their data every %(days)d days. "
                               "Open your status page and confirm that your registration "
                               "%(number)s is still correct, or your live-room functions will "
                               "be restricted.",
                               days=settings.refresh_days, number=registration.number))
            session.commit()
            notify.deliver(settings, [mail], session=session)
            reminded.append(registration.number or "")
    return reminded, restricted
