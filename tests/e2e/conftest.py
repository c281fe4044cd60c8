"""Browser tests: the real server in a subprocess on a free port, driven by a real Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

STAFF_PASSWORD = "staff harbour lantern 73 quartz"
STAFF = {
    "moderator": "moderator@example.com",
    "moderator2": "moderator2@example.com",
    "auditor": "auditor@example.com",
    "admin": "admin@example.com",
}
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


# The screenshot gallery (docs/screens) is made only by `make screens`, which sets
# PORTAL_SCREENS=1; every other run leaves its folder out instead of skipping it.
collect_ignore = [] if os.environ.get("PORTAL_SCREENS") == "1" else ["gallery"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.e2e)


def system_chromium() -> str | None:
    """DESIGN §2: PORTAL_CHROMIUM, else a Chromium on PATH; None means Playwright's own."""
    configured = os.environ.get("PORTAL_CHROMIUM")
    if configured:
        return configured
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    executable = system_chromium()
    if executable is None:
        # Machines that can download it use Playwright's own browser.
        subprocess.run([sys.executable, "-m", "playwright", "install", "chromium"], check=True)
        return {**browser_type_launch_args, "args": CHROMIUM_FLAGS}
    return {**browser_type_launch_args, "executable_path": executable, "args": CHROMIUM_FLAGS}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    data_dir: Path
    env: dict[str, str]
    log: Path
    staff: dict[str, str] = field(default_factory=dict)

    def portal(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "portal", *args],
            input=stdin, env=self.env, capture_output=True, text=True, timeout=120,
        )


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("portal-data")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    # No network here: a declared shop site's probe gives up after a second.
    env.update(PORTAL_DATA_DIR=str(data_dir), PORTAL_BASE_URL=url, PORTAL_ISSUER=url,
               PYTHONUNBUFFERED="1",
               PORTAL_PROBE_TIMEOUT="1")
    log = data_dir / "server.log"
    srv = Server(url=url, data_dir=data_dir, env=env, log=log)
    for role, email in STAFF.items():
        result = srv.portal("create-user", "--email", email, "--role", role.rstrip("2"),
                            stdin=STAFF_PASSWORD + "\n")
        assert result.returncode == 0, result.stderr
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "portal", "serve", "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_up(url, proc, log)
        yield srv
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _wait_until_up(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    proc.kill()
    print(f"--- server log ({log})\n{log.read_text()}", file=sys.stderr)
    pytest.fail("the portal server did not start; its log is printed above")


@pytest.fixture(scope="session")
def base_url(server: Server) -> str:
    return server.url


@pytest.fixture(autouse=True)
def _fail_fast(request: pytest.FixtureRequest) -> None:
    if "page" in request.fixturenames:
        request.getfixturevalue("page").set_default_timeout(10_000)


@pytest.fixture(scope="session")
def axe() -> Axe:
    return Axe()


class A11y:
    """Run axe on the current page; serious and critical violations fail the test."""

    def __init__(self, axe: Axe) -> None:
        self.axe = axe
        self.checked: list[str] = []

    def check(self, page: Page) -> None:
        results = self.axe.run(page)
        bad = [
            v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")
        ]
        self.checked.append(page.url)
        assert not bad, f"axe on {page.url}:\n" + "\n".join(
            f"- {v['id']} ({v['impact']}): {v['help']} at "
            + ", ".join(str(n["target"]) for n in v["nodes"][:3])
            for v in bad
        )


@pytest.fixture
def a11y(axe: Axe) -> A11y:
    return A11y(axe)


def unique_email(prefix: str = "streamer") -> str:
    return f"{prefix}-{time.time_ns()}@example.com"
