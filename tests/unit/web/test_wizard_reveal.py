"""Follow-up fields of the wizard: what an earlier step rules out is not on the page at all;
what a "Yes" on the same page opens follows its question in a container the stylesheet shows
once "Yes" is chosen; and the server keeps a follow-up's answer only when it was opened."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup, Tag
from sqlmodel import select

from portal.registration.models import Registration
from tests.unit.http_wizard import (
    PDF,
    Wizard,
    content_form,
    field_errors,
    identity_files,
    identity_form,
    roles_form,
    security_form,
    verify_email,
)


@pytest.fixture
def wizard(client, auth, session) -> Wizard:
    auth.sign_up("applicant@example.com")
    verify_email(session, "applicant@example.com")
    wizard = Wizard(client)
    wizard.start()
    assert wizard.post("identity", identity_form(), identity_files()).status_code == 303
    return wizard


def _page(client, step: str) -> BeautifulSoup:  # type: ignore[no-untyped-def]
    answer = client.get(f"/apply/{step}")
    assert answer.status_code == 200
    return BeautifulSoup(answer.text, "html.parser")


def _follow_up(page: BeautifulSoup, question: str, container: str = "reveal") -> Tag:
    """The container right after a question's fieldset (the next element, as the stylesheet's
    ``+`` reads it, and as a keyboard or a screen reader meets it)."""
    fieldset = page.find(id=f"field-{question}")
    assert fieldset is not None and fieldset.name == "fieldset", question
    following = fieldset.find_next_sibling()
    assert following is not None and container in following.get("class", []), following
    return following


def _saved(session, step: str) -> dict:  # type: ignore[no-untyped-def]
    session.rollback()
    return session.exec(select(Registration)).one().answers[step]


def test_roles_step_follow_ups_follow_their_question(wizard, client) -> None:
    page = _page(client, "roles")
    avatar = _follow_up(page, "uses_avatar")
    assert avatar.find(id="avatar_name") and avatar.find(id="avatar_consent")
    roster = _follow_up(page, "roles", "reveal-roster")
    assert roster.find("textarea", attrs={"name": "roster"})
    labels = [label.get_text(" ", strip=True) for label in page.find_all("label")]
    assert "Avatar name" in labels
    assert "Registration numbers of the streamers you manage" in labels
    assert "(if yes)" not in page.get_text() and "only)" not in page.get_text()


def test_a_streamers_security_step_has_no_shop_site(wizard, client) -> None:
    assert wizard.post("roles", roles_form()).status_code == 303
    page = _page(client, "security")
    assert page.find(attrs={"name": "own_site"}) is None
    assert page.find(id="site_domain") is None and page.find(id="assessment_report") is None
    assert "Your own shop site" not in page.get_text()
    staff = _follow_up(page, "named_staff")
    assert staff.find("textarea", attrs={"name": "staff_list"})
    assert "(if yes)" not in page.get_text()


def test_an_operators_security_step_asks_about_the_shop_site(wizard, client) -> None:
    saved = wizard.post("roles", roles_form(roles=["streamer", "room_operator"]))
    assert saved.status_code == 303
    page = _page(client, "security")
    site = _follow_up(page, "own_site")
    for name in ("site_domain", "icp_number", "https_only", "assessment_date",
                 "assessment_report"):
        assert site.find(attrs={"name": name}), name
    assert "(if yes)" not in page.get_text()


def test_content_step_commitment_follows_the_minors_question(wizard, client) -> None:
    page = _page(client, "content")
    commitment = _follow_up(page, "minors_on_stream")
    assert commitment.find(id="minors_commitment")


def test_a_follow_up_with_an_error_is_in_its_container(wizard, client) -> None:
    """The stylesheet never hides a container holding an error; and the "Yes" stays chosen."""
    refused = wizard.post("roles", roles_form(uses_avatar="yes"))
    assert refused.status_code == 422
    page = BeautifulSoup(refused.text, "html.parser")
    avatar = _follow_up(page, "uses_avatar")
    assert avatar.select(".field--error #avatar_name")
    assert page.find("input", attrs={"name": "uses_avatar", "value": "yes"}).has_attr("checked")


def test_answers_of_a_follow_up_left_closed_are_not_kept(wizard, session) -> None:
    """Typed, then the answer changed to "No" (or the role unticked): the page still posts
    the hidden fields, and the server drops them."""
    saved = wizard.post("roles", roles_form(uses_avatar="no", avatar_name="小星",
                                            avatar_consent="yes",
                                            roster="LR-2026-0000001"))
    assert saved.status_code == 303, field_errors(saved.text)
    roles = _saved(session, "roles")
    assert roles["avatar_name"] == "" and roles["avatar_consent"] is False
    assert roles["roster"] == []

    saved = wizard.post("security", security_form(named_staff="no", staff_list="李四 13912345678"))
    assert saved.status_code == 303, field_errors(saved.text)
    security = _saved(session, "security")
    assert security["staff_list"] == "" and "staff_list_enc" not in security
    assert security["own_site"] is None  # not asked of a streamer

    saved = wizard.post("content", content_form(minors_on_stream="no", minors_commitment="yes"))
    assert saved.status_code == 303, field_errors(saved.text)
    assert _saved(session, "content")["minors_commitment"] is False


def test_an_opened_follow_up_is_still_required(wizard) -> None:
    refused = wizard.post("security", security_form(named_staff="yes", staff_list=""))
    assert "List the staff" in field_errors(refused.text)["staff_list"]
    refused = wizard.post("content", content_form(minors_on_stream="yes"))
    assert "minors-protection commitment" in field_errors(refused.text)["minors_commitment"]


def test_a_shop_site_kept_from_other_roles_needs_the_step_again(wizard, client, session) -> None:
    """A merchant's site, then the roles change to streamer: the security step needs attention
    (the question shows with its message); saved again, the site is gone."""
    wizard.post("roles", roles_form(roles=["streamer", "room_operator"]))
    site = security_form(own_site="yes", site_domain="shop.example.cn",
                         icp_number="京ICP备12345678号", https_only="yes",
                         assessment_date="2026-01-15")
    assert wizard.post("security", site, {"assessment_report": (
        "report.pdf", PDF, "application/pdf")}).status_code == 303
    assert wizard.post("roles", roles_form(roles=["streamer"])).status_code == 303
    tasks = BeautifulSoup(client.get("/apply").text, "html.parser")
    security = next(li for li in tasks.select(".task-list__item")
                    if "Security attestation" in li.get_text())
    assert "Needs attention" in security.get_text()
    # On the step, the site declared is shown to be taken back; kept, it is refused.
    page = _page(client, "security")
    assert page.find("input", attrs={"name": "own_site", "value": "yes"}).has_attr("checked")
    refused = wizard.post("security", site)
    assert "Only live-room operators and merchants" in field_errors(refused.text)["own_site"]
    assert wizard.post("security", security_form()).status_code == 303
    saved = _saved(session, "security")
    assert saved["own_site"] is None and saved["site_domain"] is None


def test_a_site_role_answers_the_shop_site_question(wizard) -> None:
    """Asked, it must be answered: an operator who skips it is told."""
    wizard.post("roles", roles_form(roles=["streamer", "room_operator"]))
    form = {k: v for k, v in security_form().items() if k != "own_site"}
    refused = wizard.post("security", form)
    assert "own shop site" in field_errors(refused.text)["own_site"]


def test_account_page_leads_to_the_checklist_first(client, auth, session) -> None:
    auth.sign_up("new@example.com")
    me = BeautifulSoup(client.get("/me").text, "html.parser")
    start = me.find("a", string="Start your registration")
    assert start is not None and start["href"] == "/apply"
    assert me.find("form", attrs={"action": "/apply/start"}) is None  # nothing starts here
    checklist = BeautifulSoup(client.get(start["href"]).text, "html.parser")
    assert checklist.h1.get_text(strip=True) == "Start your registration"
    form = checklist.find("form", attrs={"action": "/apply/start"})
    assert form is not None and form["method"] == "post"
    assert form.find("button").get_text(strip=True) == "Start now"
    session.rollback()
    assert session.exec(select(Registration)).all() == []  # only "Start now" starts it
