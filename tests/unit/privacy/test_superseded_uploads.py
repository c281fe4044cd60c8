"""`portal retention purge` erases uploads that were replaced and are in no submitted version,
on registrations that have not ended too; the files a record refers to stay."""

from __future__ import annotations

from sqlmodel import select

from portal.privacy import retention
from portal.registration.models import Document, Registration
from tests.unit.http_wizard import (
    JPEG,
    Wizard,
    commitments_form,
    content_form,
    identity_files,
    identity_form,
    roles_form,
    security_form,
    verify_email,
)


def _documents(session) -> dict[int, Document]:  # type: ignore[no-untyped-def]
    session.rollback()
    return {d.id: d for d in session.exec(select(Document).order_by(Document.id))}


def test_a_replaced_upload_is_erased_and_the_submitted_files_stay(
        client, auth, session, engine, settings) -> None:
    auth.sign_up("replacer@example.com")
    verify_email(session, "replacer@example.com")
    wizard = Wizard(client)
    wizard.start()
    assert wizard.post("identity", identity_form(), identity_files()).status_code == 303
    first = _documents(session)
    assert len(first) == 2
    again = {"id_front": ("better.jpg", JPEG, "image/jpeg")}
    assert wizard.post("identity", identity_form(), again).status_code == 303
    for step, form in (("roles", roles_form()), ("security", security_form()),
                       ("content", content_form()), ("commitments", commitments_form())):
        assert wizard.post(step, form).status_code == 303
    assert wizard.submit().status_code == 303
    documents = _documents(session)
    assert len(documents) == 3
    replaced = min(first)
    assert all(d.ciphertext for d in documents.values())

    dry = retention.purge(engine, settings, dry_run=True)
    assert dry.superseded == 1 and "1 superseded uploads would be erased" in str(dry)
    assert _documents(session)[replaced].ciphertext

    report = retention.purge(engine, settings)
    assert report.superseded == 1 and not report.registrations
    after = _documents(session)
    assert after[replaced].ciphertext == b"" and after[replaced].filename == "id_front.png"
    assert after[replaced].sha256 == documents[replaced].sha256  # what it was stays provable
    assert all(after[i].ciphertext == documents[i].ciphertext for i in after if i != replaced)
    registration = session.exec(select(Registration)).one()
    assert registration.status == "submitted"
    assert retention.purge(engine, settings).superseded == 0  # once only
