"""`portal retention purge` and changes after approval: the files an open change uses stay
(its working copy refers to them, not the registration); those it replaced, or a withdrawn
change's, go as any replaced upload; and when its registration's retention ends, the change's
personal data is erased with the registration's and a change still pending is closed."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import select

from portal.base.db import utcnow
from portal.lifecycle.wizard import StepDraft
from portal.ops import jobs
from portal.privacy import retention
from portal.registration.models import Amendment, Document, Registration
from tests.unit.http_wizard import (
    JPEG,
    PNG,
    Wizard,
    fresh,
    identity_form,
    post,
    roles_form,
)

NOW = datetime(2031, 6, 15, 12, 0, tzinfo=utcnow().tzinfo)
NEW_PHONE = "13900001111"


def _documents(session) -> dict[int, Document]:  # type: ignore[no-untyped-def]
    session.rollback()
    return {d.id: d for d in session.exec(select(Document).order_by(Document.id))}


def _change(session, registration_id: int) -> Amendment:  # type: ignore[no-untyped-def]
    session.rollback()
    return session.exec(select(Amendment).where(
        Amendment.registration_id == registration_id)).one()


def _open_change_with_new_files(client, session, number: str) -> tuple[Registration, set[int]]:  # type: ignore[no-untyped-def]
    """The holder opens a change and sends a new photo of each side of their ID card (and a
    new phone number): the ids of the files the change uploaded."""
    registration = fresh(session, Registration, number=number)[0]
    before = set(_documents(session))
    assert post(client, "/apply/change", {}, page="/apply/change").status_code == 303
    wizard = Wizard(client)
    files = {"id_front": ("new-front.png", PNG, "image/png"),
             "id_back": ("new-back.jpg", JPEG, "image/jpeg")}
    assert wizard.post("identity", identity_form(phone=NEW_PHONE), files).status_code == 303
    uploaded = set(_documents(session)) - before
    assert len(uploaded) == 2
    return registration, uploaded


def test_the_files_of_an_open_change_stay_and_those_it_replaced_go(
        client, approved, session, engine, settings) -> None:
    number, _moderator = approved
    registration, uploaded = _open_change_with_new_files(client, session, number)

    report = retention.purge(engine, settings)
    assert report.superseded == 0 and not report.registrations
    documents = _documents(session)
    assert all(documents[i].ciphertext for i in documents)  # the change's and the approved

    # The holder sends the front again: the change's first front is replaced, nothing else.
    again = {"id_front": ("newer-front.png", PNG, "image/png")}
    assert Wizard(client).post("identity", identity_form(phone=NEW_PHONE),
                               again).status_code == 303
    replaced = min(uploaded)
    assert documents[replaced].kind == "id_front"
    report = retention.purge(engine, settings)
    assert report.superseded == 1
    after = _documents(session)
    assert after[replaced].ciphertext == b""
    assert all(d.ciphertext for i, d in after.items() if i != replaced)

    # Withdrawn, the change was never decided on: its files go; the approved ones stay.
    assert post(client, "/apply/change/withdraw", {}, page="/apply/change").status_code == 303
    assert _change(session, registration.id).status == "withdrawn"
    report = retention.purge(engine, settings)
    assert report.superseded == 2
    after = _documents(session)
    approved_files = set(after) - uploaded - {max(after)}
    assert approved_files and all(after[i].ciphertext for i in approved_files)
    assert all(after[i].ciphertext == b"" for i in set(after) - approved_files)


def test_a_refused_changes_files_stay_until_the_registrations_retention(
        client, approved, session, engine, settings) -> None:
    number, moderator = approved
    registration, uploaded = _open_change_with_new_files(client, session, number)
    assert Wizard(client).submit("张三").status_code == 303
    change = _change(session, registration.id)
    page = moderator.get(f"/review/changes/{change.id}")
    assert page.status_code == 200
    refused = post(moderator, f"/review/changes/{change.id}/refuse", {
        "version": str(change.version), "message": "The photo is blurred"},
        page=f"/review/changes/{change.id}")
    assert refused.status_code == 303
    assert _change(session, registration.id).status == "refused"
    assert retention.purge(engine, settings).superseded == 0
    documents = _documents(session)
    assert all(documents[i].ciphertext for i in uploaded)


def test_a_purged_registration_leaves_no_personal_data_in_its_changes(
        client, approved, session, engine, settings) -> None:
    number, _moderator = approved
    registration, uploaded = _open_change_with_new_files(client, session, number)
    # A step that did not pass its checks keeps what was typed as a draft.
    assert Wizard(client).post("roles", roles_form(**{
        "channel-0-room_url": "not an address"})).status_code == 422
    session.rollback()
    assert session.exec(select(StepDraft).where(
        StepDraft.registration_id == registration.id)).all()
    # The registration expires with its change still open, and ended long ago.
    session.execute(update(Registration).where(Registration.id == registration.id)  # type: ignore[arg-type]
                    .values(valid_until=utcnow() - timedelta(seconds=1)))
    session.commit()
    assert jobs.expire_due(session, settings, now=utcnow()) == [number]
    session.execute(update(Registration).where(Registration.id == registration.id)  # type: ignore[arg-type]
                    .values(updated_at=NOW - timedelta(days=4 * 365)))
    session.commit()

    dry = retention.purge(engine, settings, now=NOW, dry_run=True)
    assert dry.amendments == 1 and "1 changes after approval" in str(dry)
    assert _change(session, registration.id).answers["identity"]["legal_name"] == "张三"

    report = retention.purge(engine, settings, now=NOW)
    assert report.registrations == [number] and report.amendments == 1
    change = _change(session, registration.id)
    assert change.status == "withdrawn" and change.pending_for is None
    assert change.identity_index is None and change.signed_name == ""
    assert change.answers[retention.PURGED] == NOW.isoformat()
    identity = change.answers["identity"]
    for name in ("legal_name", "date_of_birth", "phone_enc", "phone_masked", "id_number_enc",
                 "id_number_masked"):
        assert name not in identity, name
    stored = json.dumps(change.answers, ensure_ascii=False)
    for secret in ("张三", NEW_PHONE, "139****1111"):
        assert secret not in stored, secret
    documents = _documents(session)
    assert all(documents[i].ciphertext == b"" for i in uploaded)
    assert not session.exec(select(StepDraft).where(
        StepDraft.registration_id == registration.id)).all()
    assert retention.purge(engine, settings, now=NOW).amendments == 0  # once only
