"""The access log of the real server: paths without query strings, one-time tokens never."""

from __future__ import annotations

import logging
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest
import uvicorn

from portal import accounts
from portal.app import create_app
from tests.unit.conftest import make_user


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


def _get(url: str) -> tuple[int, str]:
    opener = urllib.request.build_opener(_NoRedirects)
    try:
        with opener.open(url, timeout=10) as response:
            return response.status, response.headers.get("location", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("location", "")


def test_the_access_log_holds_no_query_string_and_no_token(settings, session, caplog) -> None:
    user = make_user(session, email="reset@example.com")
    token = accounts.password_reset_token(settings.secret("secret_key"), user)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                                           lifespan="off", access_log=True))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        with caplog.at_level(logging.INFO, logger="uvicorn.access"):
            status, location = _get(f"{base}/password/reset?token={token}")
            assert status == 303 and location == "/password/reset"  # the token left the URL
            search = urllib.request.quote("张三 110101199003074477")
            _get(f"{base}/audit/search?q={search}")
            _get(f"{base}/verify?number=LR-2026-000001")
            time.sleep(0.2)  # the access line is written after the answer
    finally:
        server.should_exit = True
        thread.join(10)
        app.state.engine.dispose()
    lines = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert len(lines) == 3
    assert '"GET /password/reset HTTP/1.1" 303' in lines[0]
    assert '"GET /audit/search HTTP/1.1"' in lines[1] and '"GET /verify HTTP/1.1"' in lines[2]
    logged = "\n".join(lines)
    for secret in (token, token[:20], "token=", "?", "110101199003074477", search, "LR-2026"):
        assert secret not in logged


@pytest.mark.parametrize("path", ["/verify-email", "/password/reset"])
def test_a_link_s_token_is_taken_out_of_the_address(client, path) -> None:
    moved = client.get(f"{path}?token=abc.def.ghi")
    assert moved.status_code == 303 and moved.headers["location"] == path
    page = client.get(path)
    assert page.status_code == 400 and "abc.def.ghi" not in page.text
