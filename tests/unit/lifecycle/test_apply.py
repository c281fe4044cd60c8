"""The wizard through its real forms: steps, rules, uploads, review and submission."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import func, text
from sqlmodel import select

from portal.accounts import User
from portal.ledger.events import HistoryEntry, OutboxEvent
from portal.registration.attestations import Attestation, Declaration, canonical_sha256
from portal.registration.models import Document, Registration, RosterLink, Submission
from tests.unit.http_wizard import (
    ADULT_ID,
    GIF,
    NUMBER,
    PDF,
    PNG,
    Wizard,
    born_years_ago,
    content_form,
    field_errors,
    guardian_form,
    identity_files,
    identity_form,
    resident_id_for,
    roles_form,
    security_form,
    summary_items,
    verify_email,
)


@pytest.fixture
def wizard(client, auth, session) -> Wizard:
    auth.sign_up("applicant@example.com")
    verify_email(session, "applicant@example.com")
    return Wizard(client)


def count(session, model) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def registration_of(session) -> Registration:
    # End the test's own read transaction: in WAL mode it would keep seeing an old snapshot.
    session.rollback()
    return session.exec(select(Registration)).one()


def test_adult_streamer_completes_and_submits(wizard, client, session) -> None:
    wizard.complete_adult()
    review = client.get("/apply/review")
    assert review.status_code == 200
    assert "Still to do" not in review.text
    assert "1101**********8794" in review.text and ADULT_ID not in review.text
    response = wizard.submit()
    assert response.status_code == 303 and response.headers["location"] == "/apply/submitted"
    confirmation = client.get("/apply/submitted").text
    number = NUMBER.search(confirmation).group(0)
    status = client.get("/me").text
    assert number in status and "Submitted" in status

    registration = registration_of(session)
    assert registration.status == "submitted" and registration.number == number
    assert registration.roles == "streamer" and registration.region == "1101"
    assert count(session, Submission) == 1
    attestation = session.exec(select(Attestation)).one()
    assert attestation.sha256 == canonical_sha256(attestation.data)
    assert attestation.signed_name == "张三" and attestation.ip
    declaration = session.exec(select(Declaration)).one()
    assert declaration.data["audience"] == "all_ages"
    assert declaration.sha256 == canonical_sha256(declaration.data)
    history = session.exec(select(HistoryEntry).where(HistoryEntry.action == "submitted")).one()
    assert (history.from_status, history.to_status) == ("draft", "submitted")
    event = session.exec(select(OutboxEvent)).one()
    assert event.type == "registration.submitted" and event.number == number


def test_sensitive_values_are_encrypted_at_rest(wizard, session) -> None:
    wizard.complete_adult()
    raw = session.exec(text("SELECT answers FROM registrations")).one()[0]  # type: ignore[call-overload]
    stored = raw if isinstance(raw, str) else json.dumps(raw)
    assert ADULT_ID not in stored and "13812345678" not in stored
    assert "1101**********8794" in stored and "138****5678" in stored
    blobs = session.exec(text("SELECT ciphertext FROM documents")).all()  # type: ignore[call-overload]
    assert blobs and all(PNG not in bytes(b[0]) for b in blobs)
    assert registration_of(session).identity_index


def test_task_list_shows_each_state(wizard, client) -> None:
    wizard.start()
    wizard.post("identity", identity_form(), identity_files())
    wizard.post("roles", roles_form())
    tasks = BeautifulSoup(client.get("/apply").text, "html.parser")
    states = {
        li.a.get_text(strip=True): li.strong.get_text(strip=True)
        for li in tasks.select(".task-list__item")
    }
    assert states["Your identity"] == "Completed"
    assert states["Roles and channels"] == "Completed"
    assert states["Security attestation"] == "Not started"
    assert "Guardian's consent" not in states


def test_review_lists_what_is_missing_and_refuses_submit(wizard, client, session) -> None:
    wizard.start()
    wizard.post("identity", identity_form(), identity_files())
    review = BeautifulSoup(client.get("/apply/review").text, "html.parser")
    missing = review.select_one("#missing")
    links = {a.get_text(strip=True): a["href"] for a in missing.select("a")}
    assert links["Security attestation"] == "/apply/security?return=review"
    assert "Your identity" not in links
    response = wizard.submit()
    assert response.status_code == 422
    assert "Some answers are missing" in " ".join(summary_items(response.text))
    assert registration_of(session).status == "draft"


def test_submit_needs_verified_email(client, auth, session) -> None:
    auth.sign_up("unverified@example.com")
    # An account logged in before its address needed confirming (sign-up now logs nobody in
    # before the link), or whose address is no longer confirmed.
    user = session.exec(select(User).where(User.email == "unverified@example.com")).one()
    user.email_verified_at = None
    session.add(user)
    session.commit()
    wizard = Wizard(client)
    wizard.complete_adult()
    response = wizard.submit()
    assert response.status_code == 422
    assert "Confirm your email address" in " ".join(summary_items(response.text))
    assert registration_of(session).number is None


def test_signature_must_equal_legal_name(wizard, session) -> None:
    wizard.complete_adult()
    response = wizard.submit("张 三三")
    assert "exactly as in the identity step" in field_errors(response.text)["signature"]
    assert registration_of(session).status == "draft"


def test_double_submit_gives_one_number(wizard, client, session) -> None:
    wizard.complete_adult()
    first = wizard.submit()
    second = wizard.submit()
    assert first.status_code == second.status_code == 303
    assert second.headers["location"] == "/apply/submitted"
    assert count(session, Submission) == 1
    assert count(session, OutboxEvent) == 1
    assert len({r.number for r in session.exec(select(Registration))}) == 1


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"id_number": "110105198503128793"}, "id_number", "check it for typing mistakes"),
        ({"id_number": "11010519850312879"}, "id_number", "18 characters"),
        ({"date_of_birth": "1985-03-13"}, "date_of_birth", "does not match the ID number"),
        ({"legal_name": ""}, "legal_name", "Enter your full legal name"),
        ({"phone": "12345"}, "phone", "mobile phone number"),
        ({"consent": ""}, "consent", "consent to the processing"),
        ({"legal_name": "x" * 100_000}, "legal_name", "100 characters or fewer"),
        ({"legal_name": "张\x07三"}, "legal_name", "characters that cannot be used"),
        ({"residence_province": "99"}, "residence_province", "Choose the province"),
    ],
)
def test_identity_rules_show_next_to_the_field(wizard, session, overrides, field, message):
    wizard.start()
    response = wizard.post("identity", identity_form(**overrides), identity_files())
    assert response.status_code == 422
    assert message in field_errors(response.text)[field]
    soup = BeautifulSoup(response.text, "html.parser")
    assert soup.find("select", id="residence_city").find("option", selected=True)["value"] == "1101"
    assert "identity" not in registration_of(session).answers
    # The files that passed their checks are kept, so nobody has to choose them again.
    assert soup.find(id="id_front-saved") and soup.find(id="id_back-saved")
    assert count(session, Document) == 2


def test_lower_case_x_is_normalised(wizard, session) -> None:
    wizard.start()
    response = wizard.post(
        "identity",
        identity_form(id_number="11010119880808108x", date_of_birth="1988-08-08"),
        identity_files(),
    )
    assert response.status_code == 303
    assert registration_of(session).answers["identity"]["id_number_masked"].endswith("108X")


def test_under_16_is_refused(wizard, session) -> None:
    birth = born_years_ago(16, days_later=1)  # turns 16 tomorrow
    wizard.start()
    response = wizard.post(
        "identity",
        identity_form(id_number=resident_id_for(birth), date_of_birth=birth.isoformat()),
        identity_files(),
    )
    assert "A streamer must be at least 16" in field_errors(response.text)["date_of_birth"]


def test_sixteen_year_old_needs_a_guardian(wizard, client, session) -> None:
    birth = born_years_ago(16)  # 16 today
    wizard.start()
    response = wizard.post(
        "identity",
        identity_form(id_number=resident_id_for(birth), date_of_birth=birth.isoformat()),
        identity_files(),
    )
    assert response.headers["location"] == "/apply/guardian"
    nav = client.get("/apply").text
    assert "Guardian&#39;s consent" in nav or "Guardian's consent" in nav

    too_young = born_years_ago(17)
    refused = wizard.post(
        "guardian",
        guardian_form(guardian_id_number=resident_id_for(too_young, 7),
                      guardian_date_of_birth=too_young.isoformat()),
        {"consent_letter": ("letter.pdf", PDF, "application/pdf")},
    )
    assert "The guardian must be 18 or older" in field_errors(refused.text)[
        "guardian_date_of_birth"]
    mismatch = wizard.post("guardian", guardian_form(consent_name="张小山"),
                           {"consent_letter": ("letter.pdf", PDF, "application/pdf")})
    assert "exactly the guardian's full legal name" in field_errors(mismatch.text)["consent_name"]
    ok = wizard.post("guardian", guardian_form(),
                     {"consent_letter": ("letter.pdf", PDF, "application/pdf")})
    assert ok.status_code == 303 and ok.headers["location"] == "/apply/roles"


def test_guardian_step_is_refused_for_adults(wizard) -> None:
    wizard.start()
    wizard.post("identity", identity_form(), identity_files())
    response = wizard.post("guardian", guardian_form(),
                           {"consent_letter": ("letter.pdf", PDF, "application/pdf")})
    assert response.status_code == 404


def test_steps_before_identity_go_to_identity(wizard, client) -> None:
    wizard.start()
    response = wizard.post("roles", roles_form())
    assert response.status_code == 303 and response.headers["location"] == "/apply/identity"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"restricted_products": ["alcohol"], "audience": "all_ages",
          "qualification_alcohol": None}, "audience",
         "alcohol or financial products must be for adults only"),
        ({"restricted_products": ["medicines"], "audience": "adults_only"},
         "qualification_medicines", "Upload your qualification for Medicines"),
        ({"professional_topics": ["law"]}, "qualification_law",
         "Upload your qualification for Law"),
        ({"minors_on_stream": "yes"}, "minors_commitment", "minors-protection commitment"),
        ({"categories": []}, "categories", "at least one content category"),
    ],
)
def test_content_rules_name_the_rule(wizard, overrides, field, message) -> None:
    wizard.complete_adult()
    form = content_form(**{k: v for k, v in overrides.items() if v is not None})
    response = wizard.post("content", form)
    assert response.status_code == 422
    assert message in field_errors(response.text)[field]


def test_restricted_product_with_its_qualification_is_accepted(wizard, session) -> None:
    wizard.complete_adult()
    response = wizard.post(
        "content",
        content_form(restricted_products=["alcohol"], audience="adults_only"),
        {"qualification_alcohol": ("licence.pdf", PDF, "application/pdf")},
    )
    assert response.status_code == 303
    saved = registration_of(session).answers["content"]
    assert saved["restricted_products"] == ["alcohol"] and saved["qualification_alcohol"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (GIF, "must be a JPG, PNG or PDF"),
        (b"<html><script>alert(1)</script></html>", "must be a JPG, PNG or PDF"),
        (b"", "empty"),
        (PNG + b"\x00" * (5 * 1024 * 1024), "smaller than 5 MB"),
    ],
)
def test_bad_uploads_are_refused_and_nothing_is_stored(wizard, session, content, message):
    wizard.start()
    files = {"id_front": ("photo.png", content, "image/png"),
             "id_back": ("back.jpg", PNG, "image/jpeg")}
    response = wizard.post("identity", identity_form(), files)
    assert response.status_code in (413, 422)
    if response.status_code == 422:
        assert message in field_errors(response.text)["id_front"]
    stored = session.exec(select(Document)).all()
    assert [d.kind for d in stored] == ["id_back"]
    assert "identity" not in registration_of(session).answers


def test_html_in_text_fields_is_shown_escaped(wizard, client) -> None:
    wizard.start()
    wizard.post("identity", identity_form(legal_name="<script>alert(1)</script>"),
                identity_files())
    page = client.get("/apply/identity").text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_inline_check_answers_with_the_field_alone(wizard) -> None:
    wizard.start()
    response = wizard.check("identity", identity_form(id_number="110105198503128793"), "id_number")
    assert response.status_code == 200
    errors = field_errors(response.text)
    assert list(errors) == ["id_number"]
    assert "typing mistakes" in errors["id_number"]
    soup = BeautifulSoup(response.text, "html.parser")
    assert soup.find(id="field-id_number") is not None
    # Only the field: no page around it, no other field, no navigation.
    assert "<html" not in response.text and "<nav" not in response.text
    assert [e["id"] for e in soup.select("[id^=field-]")] == ["field-id_number"]
    fine = wizard.check("identity", identity_form(), "legal_name")
    assert [e["id"] for e in BeautifulSoup(fine.text, "html.parser").select("[id^=field-]")] \
        == ["field-legal_name"] and field_errors(fine.text) == {}


def test_roles_rules(wizard) -> None:
    wizard.start()
    wizard.post("identity", identity_form(), identity_files())
    merchant = wizard.post("roles", roles_form(roles="merchant"))
    assert "register as an organisation" in field_errors(merchant.text)["roles"]
    no_channel = wizard.post("roles", roles_form(**{"channel-0-handle": "",
                                                    "channel-0-room_url": "",
                                                    "channel-0-bio": "",
                                                    "channel-0-followers": ""}))
    assert "at least one channel" in field_errors(no_channel.text)["channel-0-handle"]
    avatar = wizard.post("roles", roles_form(uses_avatar="yes"))
    errors = field_errors(avatar.text)
    assert "avatar's name" in errors["avatar_name"] and "consented" in errors["avatar_consent"]


def test_add_another_channel_keeps_what_was_typed(wizard) -> None:
    wizard.start()
    wizard.post("identity", identity_form(), identity_files())
    response = wizard.post("roles", {**roles_form(), "action": "add_channel"})
    assert response.status_code == 200
    soup = BeautifulSoup(response.text, "html.parser")
    assert soup.find("input", id="channel-0-handle")["value"] == "zhangsan_live"
    assert soup.find("input", id="channel-1-handle")["value"] == ""
    two = wizard.post("roles", {**roles_form(), "channel-1-platform": "kuaishou",
                                "channel-1-handle": "zs_ks"})
    assert two.status_code == 303


def test_organisation_needs_details_and_an_adult(wizard, session) -> None:
    birth = born_years_ago(17)
    wizard.start()
    minor = wizard.post(
        "identity",
        identity_form(subject_kind="organization", id_number=resident_id_for(birth),
                      date_of_birth=birth.isoformat()),
        identity_files(),
    )
    assert "responsible for an organisation must be 18" in field_errors(minor.text)[
        "date_of_birth"]
    wizard.post("identity", identity_form(subject_kind="organization"), identity_files())
    response = wizard.post("roles", roles_form(roles="merchant", uscc="91110000MA01ABCD1N",
                                               org_name="", legal_representative="张三",
                                               org_province="11"))
    errors = field_errors(response.text)
    assert "Enter the organisation's name" in errors["org_name"]
    assert "uscc" in errors and "business_licence" in errors
    ok = wizard.post(
        "roles",
        roles_form(roles=["merchant", "room_operator"], uscc="91110000MA01ABCD1M",
                   org_name="北京星光商贸有限公司", legal_representative="张三", org_province="11"),
        {"business_licence": ("licence.pdf", PDF, "application/pdf")},
    )
    assert ok.status_code == 303
    registration = registration_of(session)
    assert registration.subject_kind == "organization" and registration.region == "1101"


def test_own_site_needs_domain_icp_and_report(wizard) -> None:
    wizard.start()
    wizard.post("identity", identity_form(), identity_files())
    wizard.post("roles", roles_form(roles=["streamer", "room_operator"]))
    response = wizard.post("security", security_form(own_site="yes", icp_number="ICP备123号"))
    errors = field_errors(response.text)
    assert "domain" in errors["site_domain"]
    assert "京ICP备12345678号" in errors["icp_number"]
    assert "assessment" in errors["assessment_report"]
    ok = wizard.post(
        "security",
        security_form(own_site="yes", site_domain="shop.example.cn",
                      icp_number="京ICP备12345678号", https_only="yes",
                      assessment_date="2026-01-15"),
        {"assessment_report": ("report.pdf", PDF, "application/pdf")},
    )
    assert ok.status_code == 303


def test_documents_are_served_only_to_their_owner(wizard, client, auth, session) -> None:
    wizard.start()
    wizard.post("identity", identity_form(), identity_files())
    document = session.exec(select(Document)).first()
    mine = client.get(f"/documents/{document.id}")
    assert mine.status_code == 200 and mine.content == PNG
    assert mine.headers["content-type"] == "image/png"
    auth.log_out()
    auth.sign_up("other@example.com")
    assert client.get(f"/documents/{document.id}").status_code == 404


def test_another_applicants_registration_is_not_reachable(wizard, client, auth, session):
    wizard.complete_adult()
    auth.log_out()
    auth.sign_up("intruder@example.com")
    intruder = Wizard(client)
    tasks = client.get("/apply")
    assert "Start your registration" in tasks.text
    response = intruder.post("identity", identity_form(), identity_files())
    assert response.status_code == 303 and response.headers["location"] == "/apply"
    first = session.exec(select(Registration)).one()
    assert first.answers["identity"]["legal_name"] == "张三"


def test_identity_provider_unavailable_keeps_the_answers(wizard, settings, session) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.identity_provider_url = f"http://127.0.0.1:{port}/verify"
    settings.identity_provider_timeout = 0.5
    settings.outbound_allow = "127.0.0.0/8"
    wizard.start()
    response = wizard.post("identity", identity_form(), identity_files())
    assert response.status_code == 503
    assert "We could not verify your identity. Try again later." in response.text
    saved = registration_of(session).answers["identity"]
    assert saved["legal_name"] == "张三" and saved["verification"]["status"] == "unavailable"
    assert count(session, Document) == 2


def test_status_page_offers_to_start(client, auth) -> None:
    auth.sign_up("new@example.com")
    page = client.get("/me").text
    assert "Start your registration" in page


def test_files_kept_from_a_failed_post_count_on_the_next(wizard, session) -> None:
    wizard.start()
    failed = wizard.post("identity", identity_form(phone="123"), identity_files())
    assert failed.status_code == 422
    ok = wizard.post("identity", identity_form())  # no files this time
    assert ok.status_code == 303
    saved = registration_of(session).answers
    assert saved["identity"]["id_front"] and saved["identity"]["id_back"]
    assert saved["_pending"] == {}
    assert count(session, Document) == 2


class _FakeVerifier(BaseHTTPRequestHandler):
    answer: ClassVar[dict] = {"verified": True, "reference": "ref-1"}
    received: ClassVar[list] = []
    # Run while the request is being answered (e.g. another writer trying the database).
    during: ClassVar[list] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        type(self).received.append(json.loads(self.rfile.read(length)))
        for work in type(self).during:
            work()
        body = json.dumps(type(self).answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def verifier(settings):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeVerifier)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.identity_provider_url = f"http://127.0.0.1:{server.server_address[1]}/verify"
    settings.outbound_allow = "127.0.0.0/8"
    _FakeVerifier.received = []
    _FakeVerifier.during = []
    yield _FakeVerifier
    server.shutdown()
    server.server_close()
    thread.join()


def test_identity_service_refusal_is_shown_and_answers_kept(wizard, verifier, client, session):
    verifier.answer = {"verified": False, "reason": "姓名与号码不一致"}
    wizard.start()
    response = wizard.post("identity", identity_form(), identity_files())
    assert response.status_code == 422
    assert "The name and ID number do not match" in field_errors(response.text)["id_number"]
    assert "姓名与号码不一致" not in response.text
    assert verifier.received[0]["id_number"] == ADULT_ID
    saved = registration_of(session).answers["identity"]
    assert saved["verification"]["status"] == "refused"
    assert "Needs attention" in client.get("/apply").text

    verifier.answer = {"verified": True, "reference": "ok-7"}
    again = wizard.post("identity", identity_form())
    assert again.status_code == 303
    verification = registration_of(session).answers["identity"]["verification"]
    assert verification["reference"] == "ok-7", (verification, verifier.received)


def test_mcn_lists_a_streamer_who_confirms(wizard, client, auth, session) -> None:
    wizard.complete_adult()
    wizard.submit()
    number = registration_of(session).number
    auth.log_out()

    auth.sign_up("mcn@example.com")
    mcn = Wizard(client)
    mcn.start()
    mcn.post("identity", identity_form(subject_kind="organization", legal_name="王五",
                                       id_number="440305197801016988",
                                       date_of_birth="1978-01-01"), identity_files())
    org = roles_form(roles="mcn", org_name="星火传媒有限公司", uscc="91310115MA1K3XY02C",
                     legal_representative="王五", org_province="31", org_city="3101")
    unknown = mcn.post("roles", {**org, "roster": "LR-2026-0000001"},
                       {"business_licence": ("licence.pdf", PDF, "application/pdf")})
    assert "No submitted registration has the number LR-2026-0000001" in field_errors(
        unknown.text)["roster"]
    listed = mcn.post("roles", {**org, "roster": number.lower()})
    assert listed.status_code == 303, field_errors(listed.text)
    auth.log_out()

    auth.log_in("applicant@example.com")
    page = BeautifulSoup(client.get("/me").text, "html.parser")
    item = page.select_one(".roster-links li")
    assert "星火传媒有限公司" in item.get_text()
    confirm = client.post(item.form["action"], data={"csrf_token": item.form.find(
        "input", attrs={"name": "csrf_token"})["value"]})
    assert confirm.status_code == 303
    assert client.get("/me").text.count("says it manages you") == 0
    session.rollback()
    link = session.exec(select(RosterLink)).one()
    assert link.confirmed_at is not None
    manager = session.get(Registration, link.manager_id)
    confirmed = session.exec(select(HistoryEntry).where(
        HistoryEntry.action == "roster_confirmed")).one()
    assert confirmed.registration_id == link.streamer_id
    assert confirmed.data == {"manager": manager.number}


def test_no_write_lock_is_held_while_the_identity_service_answers(wizard, verifier, engine,
                                                                  session) -> None:
    """Other people's writes go on while one applicant's identity is being checked."""
    from portal.base.db import session_scope

    writes: list[str] = []

    def write_meanwhile() -> None:
        with session_scope(engine, write=True) as other:
            if engine.dialect.name == "sqlite":  # fail fast instead of queueing 30 s
                other.execute(text("PRAGMA busy_timeout=500"))
            other.execute(text("UPDATE users SET is_active = is_active"))
            other.commit()
            writes.append("done")

    wizard.start()
    assert wizard.post("identity", identity_form(), identity_files()).status_code == 303
    verifier.during = [write_meanwhile]
    # Saved again without files: the request's own transaction is still open when the
    # service is asked, unless the handler ends it first.
    assert wizard.post("identity", identity_form()).status_code == 303
    assert writes == ["done"]
    assert registration_of(session).answers["identity"]["verification"]["status"] == "verified"
