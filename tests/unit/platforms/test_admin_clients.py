"""API clients: the admin pages (/admin/clients) and `portal create-platform|create-authority`."""

from __future__ import annotations

import hashlib
import re

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import text
from sqlmodel import select
from starlette.testclient import TestClient

from portal import cli
from portal.platforms import clients
from portal.platforms.clients import ApiClient, ApiKey
from tests.unit.conftest import Auth, csrf_from, make_user
from tests.unit.ops.test_cli import run_portal

LOCAL_HOOK = "http://127.0.0.1:9000/hook"


@pytest.fixture
def staff(app, session):  # type: ignore[no-untyped-def]
    """Log a staff member of a role in: staff("admin") gives a TestClient."""
    clients = []

    def log_in(role: str) -> TestClient:
        email = f"{role}@example.com"
        make_user(session, email=email, role=role)
        client = TestClient(app, follow_redirects=False)
        client.__enter__()
        clients.append(client)
        assert Auth(client).log_in(email).status_code == 303
        return client

    yield log_in
    for client in clients:
        client.__exit__(None, None, None)


def post(client: TestClient, path: str, data: dict[str, str], page: str):  # type: ignore[no-untyped-def]
    token = csrf_from(client.get(page).text)
    return client.post(path, data={**data, "csrf_token": token})


def soup(response) -> BeautifulSoup:  # type: ignore[no-untyped-def]
    return BeautifulSoup(response.text, "html.parser")


def error_of(response, field: str) -> str:  # type: ignore[no-untyped-def]
    found = soup(response).find(id=f"{field}-error")
    assert found is not None, f"no message beside {field}"
    return str(found.get_text(" ", strip=True))


def shown_key(response) -> str:  # type: ignore[no-untyped-def]
    field = soup(response).find(id="new-key")
    assert field is not None, "no key on the page"
    return str(field["value"])


def api_get(app, key: str, path: str):  # type: ignore[no-untyped-def]
    with TestClient(app) as http:
        return http.get("/api/v1" + path, headers={"Authorization": f"Bearer {key}"})


def add_client(admin: TestClient, **fields: str):  # type: ignore[no-untyped-def]
    return post(admin, "/admin/clients", {"kind": "platform", **fields}, "/admin/clients")


# --- Pages -----------------------------------------------------------------------------------


def test_admin_adds_a_platform_and_sees_its_key_once(app, staff, session) -> None:
    admin = staff("admin")
    assert admin.get("/admin").status_code == 200
    assert soup(admin.get("/admin")).find("a", href="/admin/clients")
    page = admin.get("/admin/clients")
    assert page.status_code == 200 and "No API clients yet." in page.text
    answer = add_client(admin, name="  Douyin  ")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    key = shown_key(answer)
    assert key.startswith("lrp_") and len(key) > 40
    assert "shown only this once" in answer.text
    # Stored as a hash only: the clear key is in no column of any table.
    session.rollback()
    row = session.exec(select(ApiKey)).one()
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest() and key.startswith(row.prefix)
    dump = "\n".join(" ".join(map(str, r)) for table in ("api_keys", "api_clients")
                     for r in session.execute(text(f"SELECT * FROM {table}")))  # noqa: S608
    assert key not in dump
    client_row = session.exec(select(ApiClient)).one()
    assert client_row.name == "Douyin" and client_row.kind == "platform"
    # Never again: neither on the client's page nor in the list.
    again = admin.get(f"/admin/clients/{client_row.id}")
    assert key not in again.text and row.prefix in again.text
    listing = admin.get("/admin/clients")
    assert key not in listing.text and row.prefix in listing.text and "Douyin" in listing.text
    # The key works: an unknown number is simply not found (401 would mean a bad key).
    response = api_get(app, key, "/registrations/LR-2026-0000000")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


def test_revoking_a_key_or_the_client_stops_it(app, staff, session) -> None:
    admin = staff("admin")
    key = shown_key(add_client(admin, name="Kuaishou"))
    session.rollback()
    client = session.exec(select(ApiClient)).one()
    page = f"/admin/clients/{client.id}"
    key_row = session.exec(select(ApiKey)).one()
    second = post(admin, f"{page}/keys", {"label": "nightly batch"}, page)
    assert second.status_code == 200 and second.headers["cache-control"] == "no-store"
    other = shown_key(second)
    assert other != key and api_get(app, other, "/registrations/NOPE").status_code == 404

    revoked = post(admin, f"{page}/keys/{key_row.id}/revoke", {"confirm": "yes"}, page)
    assert revoked.status_code == 303
    assert revoked.headers["location"] == f"{page}?done=key_revoked"
    assert key not in revoked.headers["location"]
    assert "Key revoked" in admin.get(revoked.headers["location"]).text
    assert api_get(app, key, "/registrations/NOPE").status_code == 401
    assert api_get(app, other, "/registrations/NOPE").status_code == 404

    unconfirmed = post(admin, f"{page}/revoke", {}, page)
    assert unconfirmed.status_code == 422 and "Tick the box" in error_of(unconfirmed, "confirm")
    assert post(admin, f"{page}/revoke", {"confirm": "yes"}, page).status_code == 303
    assert api_get(app, other, "/registrations/NOPE").status_code == 401
    shown = admin.get(page)
    assert "Revoked" in shown.text
    assert not soup(shown).find("form", action=f"{page}/keys")
    assert post(admin, f"{page}/keys", {}, "/admin/clients").status_code == 409


def test_adding_refuses_bad_input_beside_the_fields(staff, session) -> None:
    admin = staff("admin")
    add_client(admin, name="Douyin")
    again = add_client(admin, name="Douyin")
    assert again.status_code == 422
    assert error_of(again, "name") == "Error: A client with this name already exists"
    assert soup(again).find(class_="error-summary")
    empty = post(admin, "/admin/clients", {"name": "", "kind": ""}, "/admin/clients")
    assert empty.status_code == 422
    assert "name" in error_of(empty, "name") and "platform or authority" in error_of(empty, "kind")
    bad = add_client(admin, name="Bureau", kind="authority", jurisdiction="33, 99")
    assert bad.status_code == 422 and "99 is not a province or city code" in error_of(
        bad, "jurisdiction")
    blank = add_client(admin, name="Bureau", kind="authority", jurisdiction="")
    assert "Enter national" in error_of(blank, "jurisdiction")
    hook = add_client(admin, name="Bureau", kind="authority", jurisdiction="33",
                      webhook_url=LOCAL_HOOK)
    assert "Only platforms receive webhooks" in error_of(hook, "webhook_url")
    session.rollback()
    assert [c.name for c in session.exec(select(ApiClient))] == ["Douyin"]


def test_an_authority_gets_its_jurisdiction(app, staff, session) -> None:
    admin = staff("admin")
    answer = add_client(admin, name="Zhejiang market regulator", kind="authority",
                        jurisdiction="330000，3301")
    assert answer.status_code == 200
    key = shown_key(answer)
    session.rollback()
    client = session.exec(select(ApiClient)).one()
    assert client.kind == "authority" and client.jurisdiction == "33,3301"
    assert "Zhejiang" in answer.text
    # An authority key is not a platform key.
    assert api_get(app, key, "/registrations/NOPE").status_code == 403
    # No webhook and no platform declarations for an authority.
    page = admin.get(f"/admin/clients/{client.id}")
    assert not soup(page).find(id="webhook_url") and not soup(page).find(id="filing_number")
    assert post(admin, f"/admin/clients/{client.id}/details", {"filing_number": "x"},
                f"/admin/clients/{client.id}").status_code == 404


def test_filing_and_staffing_are_saved_and_shown(staff, session) -> None:
    admin = staff("admin")
    add_client(admin, name="Douyin")
    session.rollback()
    client = session.exec(select(ApiClient)).one()
    page = f"/admin/clients/{client.id}"
    details = {"filing_number": "京ICP备12345678号-1", "security_assessed_on": "2026-03-01",
               "security_assessment": "Assessed by the provincial CAC office; passed.",
               "moderators_employed": "1,200", "moderation_hours": "24 hours, every day",
               "rooms_per_moderator": "15"}
    saved = post(admin, f"{page}/details", details, page)
    assert saved.status_code == 303 and saved.headers["location"] == f"{page}?done=details_saved"
    session.rollback()
    row = session.get(ApiClient, client.id)
    assert row is not None
    assert (row.filing_number, row.security_assessed_on, row.moderators_employed,
            row.moderation_hours, row.rooms_per_moderator) == (
        "京ICP备12345678号-1", "2026-03-01", 1200, "24 hours, every day", 15)
    shown = soup(admin.get(saved.headers["location"]))
    assert shown.find(id="filing_number")["value"] == "京ICP备12345678号-1"
    assert shown.find(id="moderators_employed")["value"] == "1200"
    assert "Declared details saved." in shown.get_text()


def test_bad_details_get_messages_beside_the_fields(staff, session) -> None:
    admin = staff("admin")
    add_client(admin, name="Douyin")
    session.rollback()
    client = session.exec(select(ApiClient)).one()
    page = f"/admin/clients/{client.id}"
    bad = post(admin, f"{page}/details", {
        "filing_number": "x" * 101, "security_assessed_on": "2999-01-01",
        "moderators_employed": "many", "rooms_per_moderator": "0",
        "moderation_hours": "all day"}, page)
    assert bad.status_code == 422
    assert "100 characters or fewer" in error_of(bad, "filing_number")
    assert "today or in the past" in error_of(bad, "security_assessed_on")
    assert "must be a whole number" in error_of(bad, "moderators_employed")
    assert "between 1 and" in error_of(bad, "rooms_per_moderator")
    kept = soup(bad)
    assert kept.find(id="moderators_employed")["value"] == "many"
    assert kept.find(id="moderation_hours")["value"] == "all day"
    not_a_date = post(admin, f"{page}/details", {"security_assessed_on": "last spring"}, page)
    assert "Enter a real date" in error_of(not_a_date, "security_assessed_on")
    session.rollback()
    row = session.get(ApiClient, client.id)
    assert row is not None and row.moderation_hours == "" and row.moderators_employed is None


def test_webhook_secret_is_shown_once(app, staff, session, settings) -> None:
    settings.outbound_allow = "127.0.0.0/8"
    admin = staff("admin")
    created = add_client(admin, name="Douyin", webhook_url=LOCAL_HOOK)
    assert created.status_code == 200
    secret = str(soup(created).find(id="new-secret")["value"])
    assert secret.startswith("whsec_") and shown_key(created).startswith("lrp_")
    session.rollback()
    client = session.exec(select(ApiClient)).one()
    assert client.webhook_url == LOCAL_HOOK
    assert client.webhook_secret and secret.encode() not in client.webhook_secret
    page = f"/admin/clients/{client.id}"
    assert secret not in admin.get(page).text
    # Changing the address keeps the secret: nothing to show, a plain redirect.
    moved = post(admin, f"{page}/webhook", {"webhook_url": "http://127.0.0.1:9001/in"}, page)
    assert moved.status_code == 303 and moved.headers["location"].endswith("done=webhook_saved")
    # Removing it, then setting one again, makes a new secret shown on the answer.
    assert post(admin, f"{page}/webhook", {"webhook_url": ""}, page).status_code == 303
    again = post(admin, f"{page}/webhook", {"webhook_url": LOCAL_HOOK}, page)
    assert again.status_code == 200 and again.headers["cache-control"] == "no-store"
    new_secret = str(soup(again).find(id="new-secret")["value"])
    assert new_secret.startswith("whsec_") and new_secret != secret
    settings.outbound_allow = ""
    refused = post(admin, f"{page}/webhook", {"webhook_url": "http://10.1.2.3/hook"}, page)
    assert refused.status_code == 422
    assert error_of(refused, "webhook_url")
    assert soup(refused).find(id="webhook_url")["value"] == "http://10.1.2.3/hook"


def test_auditors_see_everything_but_change_nothing(staff, session) -> None:
    admin = staff("admin")
    add_client(admin, name="Douyin")
    session.rollback()
    client = session.exec(select(ApiClient)).one()
    client.filing_number = "京ICP备12345678号"
    client.moderators_employed = 40
    session.add(client)
    session.commit()
    auditor = staff("auditor")
    page = f"/admin/clients/{client.id}"
    for path in ("/admin/clients", page):
        shown = auditor.get(path)
        assert shown.status_code == 200
        forms = [f for f in soup(shown).find_all("form", method="post")
                 if f.get("action", "").startswith("/admin")]
        assert forms == [], path
    detail = auditor.get(page).text
    assert "京ICP备12345678号" in detail and "40" in detail and "lrp_" in detail
    key_id = session.exec(select(ApiKey)).one().id
    for path, data in (("/admin/clients", {"name": "Sneaky", "kind": "platform"}),
                       (f"{page}/keys", {}), (f"{page}/keys/{key_id}/revoke", {}),
                       (f"{page}/revoke", {"confirm": "yes"}),
                       (f"{page}/webhook", {"webhook_url": ""}),
                       (f"{page}/details", {"filing_number": "changed"})):
        assert post(auditor, path, data, page).status_code == 403, path
    session.rollback()
    assert session.get(ApiClient, client.id).filing_number == "京ICP备12345678号"  # type: ignore[union-attr]
    assert all(k.revoked_at is None for k in session.exec(select(ApiKey)))


def test_moderators_and_visitors_are_kept_out(staff, client) -> None:
    moderator = staff("moderator")
    assert moderator.get("/admin/clients").status_code == 403
    token = csrf_from(moderator.get("/review").text)
    answer = moderator.post("/admin/clients", data={"name": "X", "kind": "platform",
                                                    "csrf_token": token})
    assert answer.status_code == 403
    visitor = client.get("/admin/clients")
    assert visitor.status_code == 303 and visitor.headers["location"].startswith("/login")
    assert client.get("/admin/clients/1").status_code == 303


def test_the_list_shows_keys_and_states_on_a_phone(staff, session) -> None:
    admin = staff("admin")
    add_client(admin, name="Douyin")
    add_client(admin, name="Bureau", kind="authority", jurisdiction="national")
    listing = soup(admin.get("/admin/clients"))
    table = listing.find("table")
    assert table.parent.get("class") == ["table-wrap"]  # scrolls within itself on a phone
    rows = {r.find("td").get_text(strip=True): r for r in table.find("tbody").find_all("tr")}
    assert set(rows) == {"Douyin", "Bureau"}
    assert re.search(r"lrp_[\w-]+…\s*Active", rows["Douyin"].get_text(" ", strip=True))
    assert listing.find("meta", attrs={"name": "viewport"})


# --- CLI -------------------------------------------------------------------------------------


@pytest.fixture
def cli_env(settings, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PORTAL_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("PORTAL_DATABASE_URL", settings.resolved_database_url)
    return settings


def test_create_platform_prints_its_key_once(cli_env, capsys, session) -> None:
    assert cli.main(["create-platform", "Kuaishou"]) == 0
    out = capsys.readouterr().out.splitlines()
    key = out[-1]
    assert key.startswith("lrp_") and "shown only this time" in out[-2]
    assert clients.authenticate(session, key) == {
        "id": 1, "name": "Kuaishou", "kind": "platform",
        "key_id": 1, "jurisdiction": "national"}
    assert cli.main(["create-platform", "Kuaishou"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == "portal: name: A client with this name already exists"
    assert len(captured.err.strip().splitlines()) == 1


def test_create_platform_with_a_webhook(cli_env, capsys, session, monkeypatch) -> None:
    monkeypatch.setenv("PORTAL_OUTBOUND_ALLOW", "127.0.0.0/8")
    assert cli.main(["create-platform", "Douyin", "--webhook-url", LOCAL_HOOK]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-2].startswith("whsec_") and out[-1].startswith("lrp_")
    assert session.exec(select(ApiClient)).one().webhook_url == LOCAL_HOOK
    monkeypatch.setenv("PORTAL_OUTBOUND_ALLOW", "")
    assert cli.main(["create-platform", "Other", "--webhook-url", "http://10.0.0.1/"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("portal: webhook_url: ") and len(err.strip().splitlines()) == 1
    session.rollback()
    assert [c.name for c in session.exec(select(ApiClient))] == ["Douyin"]


def test_create_authority_with_a_jurisdiction(cli_env, capsys, session) -> None:
    assert cli.main(["create-authority", "National inspectorate"]) == 0
    assert cli.main(["create-authority", "Hangzhou", "--jurisdiction", "3301"]) == 0
    assert cli.main(["create-authority", "Two provinces", "--region", "44",
                     "--region", "33"]) == 0
    out = capsys.readouterr().out
    assert out.count("lrp_") == 3 and "jurisdiction 3301" in out
    session.rollback()
    found = {c.name: (c.kind, c.jurisdiction) for c in session.exec(select(ApiClient))}
    assert found == {"National inspectorate": ("authority", "national"),
                     "Hangzhou": ("authority", "3301"),
                     "Two provinces": ("authority", "33,44")}
    assert cli.main(["create-authority", "Nowhere", "--jurisdiction", "98"]) == 2
    assert capsys.readouterr().err.strip() == \
        "portal: jurisdiction: 98 is not a province or city code"
    with pytest.raises(SystemExit):
        cli.main(["create-authority", "Both", "--jurisdiction", "33", "--region", "44"])


def test_create_platform_from_the_installed_command(tmp_path) -> None:
    result = run_portal(["create-platform", "Xiaohongshu"], data_dir=tmp_path, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("lrp_")
