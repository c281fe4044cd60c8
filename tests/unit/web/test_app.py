from __future__ import annotations

from bs4 import BeautifulSoup


def test_healthz_reports_database(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_security_headers_on_pages(client) -> None:
    response = client.get("/")
    csp = response.headers["content-security-policy"]
    assert csp.startswith("default-src 'self'")
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert "strict-transport-security" not in response.headers


def test_session_cookie_is_httponly_and_lax(client) -> None:
    cookie = client.get("/").headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


def test_pages_have_no_inline_script(client) -> None:
    for path in ("/", "/signup", "/login", "/privacy"):
        soup = BeautifulSoup(client.get(path).text, "html.parser")
        for script in soup.find_all("script"):
            assert script.get("src"), f"inline script on {path}"
            assert not script.string
        for tag in soup.find_all(True):
            assert not any(attr.startswith(("on", "hx-on")) for attr in tag.attrs), (path, tag)


def test_unknown_page_is_html_404(client) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Page not found" in response.text


def test_unknown_api_path_is_problem_json(client) -> None:
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 404 and body["title"] == "Not Found" and body["type"]


def test_wrong_method_is_405_page(client) -> None:
    response = client.put("/login")
    assert response.status_code == 405
    assert "This action is not available here" in response.text


def test_static_files_are_served(client) -> None:
    response = client.get("/static/vendor/htmx/htmx.min.js")
    assert response.status_code == 200
    assert "htmx" in response.text[:2000]


def test_every_form_has_a_csrf_field_and_real_action(client, auth) -> None:
    auth.sign_up("forms@example.com")
    for path in ("/", "/me", "/privacy"):
        soup = BeautifulSoup(client.get(path).text, "html.parser")
        for form in soup.find_all("form"):
            assert form.get("action", "").startswith("/")
            if form.get("method", "get").lower() == "post":
                assert form.find("input", attrs={"name": "csrf_token"}), (path, form)
