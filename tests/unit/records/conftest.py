"""Fixtures of the tests that audit the log over real HTTP (`portal log verify`)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from portal.api.log import publish


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock
    sock.close()


@pytest.fixture
def live(app, listener) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Serve the test app over HTTP (its lifespan already runs under the test client); the
    log's base URL."""
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    publish(app.state.engine, app.state.settings)
    yield f"{app.state.settings.issuer}/api/v1/log"
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "audit" / "log-state.json"
