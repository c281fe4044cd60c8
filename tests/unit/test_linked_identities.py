"""Identities linked across documents and accounts (DESIGN §5), tried as a blacklisted seller
would: another document, a name one character different, the organisation under a new
representative, deregistering and applying again, a representative blacklisted after approval.
Each ends refused or held, and what platforms see agrees with what moderators see."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlmodel import select

from portal.accounts import User
from portal.base.db import utcnow
from portal.base.errors import FormErrors
from portal.ledger.events import OutboxEvent
from portal.lifecycle import transitions
from portal.oversight import enforcement, review
from portal.oversight.cases import Case
from portal.registration import screening
from portal.registration.blocklist import BlocklistEntry
from portal.registration.models import Registration
from tests.unit.conftest import csrf_from, staff_client
from tests.unit.factories import SANCTION_TEXT, make_moderator, make_registration
from tests.unit.http_wizard import (
    ADULT_DOB,
    ADULT_ID,
    PDF,
    field_errors,
    fresh,
    resident_id_for,
)
from tests.unit.prg import shown_after

OTHER_ID = resident_id_for(date(1990, 3, 7))
ORG = {"roles": "merchant", "uscc": "91110000MA01ABCD1M", "org_name": "北京星光商贸有限公司",
       "legal_representative": "王五", "org_province": "11"}
ORG_FILES = {"business_licence": ("licence.pdf", PDF, "application/pdf")}


@pytest.fixture
def staff(session):  # type: ignore[no-untyped-def]
    return make_moderator(session)


def blacklist(session, settings, registration: Registration, moderator) -> None:  # type: ignore[no-untyped-def]
    enforcement.apply_sanction(session, registration=registration, actor=moderator,
                               kind="blacklist", version=registration.version, settings=settings,
                               **SANCTION_TEXT)
    session.commit()


def codes(session, registration: Registration) -> list[str]:  # type: ignore[no-untyped-def]
    return [f.code for f in screening.flags_of(session, registration.id)]


def passport(**extra: Any) -> dict[str, Any]:
    return {"identity": {"id_type": "passport", "id_number": "E12345678", "nationality": "CN",
                         **extra},
            "security": {"signature": extra.get("legal_name", "张三")}}


def signed(name: str) -> dict[str, Any]:
    """The security step signed by ``name``, the legal name of the identity step."""
    return {"security": {"signature": name}}


def test_a_blacklisted_person_with_a_passport_is_held_until_a_moderator_clears_it(
        app, session, settings, staff) -> None:  # type: ignore[no-untyped-def]
    first = make_registration(session, settings, email="a@example.com", moderator=staff)
    blacklist(session, settings, first, staff)

    again = make_registration(session, settings, status="submitted", email="b@example.com",
                              **passport())
    assert "blocklist_person" in codes(session, again)
    hold = screening.open_holds(session, again.id)[0]
    assert hold.detail["entries"][0]["same_name"] is True
    with pytest.raises(FormErrors, match="held"):
        review.approve(session, settings, registration=again, moderator=staff,
                       version=again.version)
    session.rollback()

    moderator = staff_client(app, session, "checker@example.com", role="moderator")
    page = moderator.get(f"/review/{again.number}/holds/{hold.id}")
    # Both records side by side: the submission held and the one blacklisted.
    assert page.status_code == 200
    assert again.number in page.text and first.number in page.text
    assert "E1*****78" in page.text and "1101**********8794" in page.text
    assert ADULT_DOB not in page.text  # the year of birth only, beside masked numbers

    token = csrf_from(page.text)
    refused = moderator.post(f"/review/{again.number}/holds/{hold.id}/clear",
                             data={"csrf_token": token, "clear_reason": "  "})
    assert "Say why" in field_errors(shown_after(moderator, refused).text)["clear_reason"]
    assert screening.open_holds(session, again.id)

    cleared = moderator.post(f"/review/{again.number}/holds/{hold.id}/clear",
                             data={"csrf_token": token,
                                   "clear_reason": "Different face on the passport photo"})
    assert cleared.status_code == 303
    session.rollback()
    assert screening.open_holds(session, again.id) == []
    shown = moderator.get(f"/review/{again.number}")
    assert "Different face on the passport photo" in shown.text
    review.approve(session, settings, registration=fresh(session, Registration,
                                                         number=again.number)[0],
                   moderator=staff, version=again.version)
    session.commit()


def test_a_name_one_character_different_under_another_document_is_held(
        session, settings, staff) -> None:  # type: ignore[no-untyped-def]
    first = make_registration(session, settings, email="a@example.com", moderator=staff)
    blacklist(session, settings, first, staff)
    again = make_registration(session, settings, status="submitted", email="b@example.com",
                              **passport(legal_name="张叁"))
    hold = screening.open_holds(session, again.id)
    assert [h.code for h in hold] == ["blocklist_person"]
    assert hold[0].detail["entries"][0]["same_name"] is False
    # Someone born another day is a different person: no hold.
    other = make_registration(session, settings, status="submitted", email="c@example.com",
                              **passport(legal_name="张叁", id_number="E87654321",
                                         date_of_birth="1985-03-13"))
    assert "blocklist_person" not in codes(session, other)


def test_the_same_document_under_another_account_is_refused(session, settings, staff) -> None:  # type: ignore[no-untyped-def]
    first = make_registration(session, settings, email="a@example.com", moderator=staff)
    blacklist(session, settings, first, staff)
    with pytest.raises(FormErrors, match="cannot be registered"):
        make_registration(session, settings, status="submitted", email="b@example.com",
                          identity={"id_number": f" {ADULT_ID[:6]} {ADULT_ID[6:]} "})


def test_a_blacklisted_organisation_under_a_new_representative_is_refused(
        session, settings, staff) -> None:  # type: ignore[no-untyped-def]
    org = make_registration(session, settings, email="a@example.com", moderator=staff,
                            identity={"subject_kind": "organization"}, roles=ORG,
                            roles_files=ORG_FILES)
    blacklist(session, settings, org, staff)
    with pytest.raises(FormErrors, match="This organisation cannot be registered"):
        make_registration(session, settings, status="submitted", email="b@example.com",
                          identity={"subject_kind": "organization", "legal_name": "赵六",
                                    "id_number": OTHER_ID, "date_of_birth": "1990-03-07"},
                          roles={**ORG, "legal_representative": "赵六",
                                 "uscc": ORG["uscc"].lower()},
                          roles_files=ORG_FILES, **signed("赵六"))


def test_deregistering_and_applying_again_washes_nothing(session, settings, staff) -> None:  # type: ignore[no-untyped-def]
    first = make_registration(session, settings, email="a@example.com", moderator=staff)
    for kind in ("order_correction", "suspend"):
        enforcement.apply_sanction(session, registration=first, actor=staff, kind=kind,
                                   until=utcnow().replace(year=2099),
                                   version=first.version, settings=settings, **SANCTION_TEXT)
        session.commit()
    assert first.risk_level == "high"
    owner = fresh(session, Registration, number=first.number)[0]
    user = session.get(User, owner.user_id)
    transitions.deregister(session, settings, registration=owner, user=user)
    session.commit()

    again = make_registration(session, settings, status="submitted", user=user,
                              **passport())
    flags = {f.code: f for f in screening.flags_of(session, again.id)}
    assert flags["prior_registrations"].detail["numbers"] == [first.number]
    assert flags["prior_registrations"].detail["statuses"] == {first.number: "deregistered"}
    assert flags["prior_registrations"].detail["sanctions"] == 2
    assert again.risk_level == "high"


def test_an_organisation_whose_responsible_person_is_blacklisted_is_suspended_and_announced(
        session, settings, staff, platform) -> None:  # type: ignore[no-untyped-def]
    person = make_registration(session, settings, email="a@example.com", moderator=staff)
    org = make_registration(session, settings, email="b@example.com", moderator=staff,
                            identity={"subject_kind": "organization"}, roles=ORG,
                            roles_files=ORG_FILES)
    assert platform.get(f"/registrations/{org.number}").json()["valid"] is True
    blacklist(session, settings, person, staff)

    session.rollback()
    assert fresh(session, Registration, number=org.number)[0].status == "suspended"
    answer = platform.get(f"/registrations/{org.number}").json()
    assert answer["valid"] is False and answer["status"] == "suspended"
    events = session.exec(select(OutboxEvent).where(OutboxEvent.number == org.number,
                                                    OutboxEvent.type == "registration.suspended"))
    assert len(list(events)) == 1
    opened = session.exec(select(Case).where(Case.registration_id == org.id)).all()
    assert [c.source for c in opened] == ["linked_blacklisting"]

    # Reinstated by a moderator, with a reason, once the person is off the blocklist.
    suspended = fresh(session, Registration, number=org.number)[0]
    with pytest.raises(FormErrors, match="still on the blocklist"):
        review.reinstate(session, settings, registration=suspended, moderator=staff,
                         version=suspended.version, reason="New responsible person named")
    session.rollback()
    entry = session.exec(select(BlocklistEntry)).one()
    enforcement.request_lift(session, entry_id=entry.id, actor=staff)
    enforcement.confirm_lift(session, entry_id=entry.id,
                             actor=make_moderator(session, email="second@example.com"))
    session.commit()
    with pytest.raises(FormErrors, match="Give the reason"):
        review.reinstate(session, settings, registration=suspended, moderator=staff,
                         version=suspended.version, reason="")
    review.reinstate(session, settings, registration=suspended, moderator=staff,
                     version=suspended.version, reason="Blacklisting lifted on appeal")
    session.commit()
    assert platform.get(f"/registrations/{org.number}").json()["valid"] is True


def test_an_organisation_whose_legal_representative_is_blacklisted_goes_to_the_moderators(
        session, settings, staff) -> None:  # type: ignore[no-untyped-def]
    representative = make_registration(
        session, settings, email="a@example.com", moderator=staff,
        identity={"legal_name": "王五", "id_number": OTHER_ID, "date_of_birth": "1990-03-07"},
        **signed("王五"))
    org = make_registration(session, settings, email="b@example.com", moderator=staff,
                            identity={"subject_kind": "organization"}, roles=ORG,
                            roles_files=ORG_FILES)
    waiting = make_registration(session, settings, status="submitted", email="c@example.com",
                                identity={"subject_kind": "organization", "legal_name": "李四",
                                          "id_number": resident_id_for(date(1980, 1, 1)),
                                          "date_of_birth": "1980-01-01"},
                                roles={**ORG, "uscc": "91310115MA1K3XY02C"},
                                roles_files=ORG_FILES, **signed("李四"))
    blacklist(session, settings, representative, staff)
    session.rollback()
    # Named, not identified: a case for the moderators, the registration stays as it is.
    assert fresh(session, Registration, number=org.number)[0].status == "approved"
    assert [c.source for c in session.exec(select(Case).where(
        Case.registration_id == org.id))] == ["linked_blacklisting"]
    # One waiting for a decision is held.
    assert [h.code for h in screening.open_holds(session, waiting.id)] == [
        "blocklist_representative"]
