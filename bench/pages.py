"""Server-rendered pages through the whole ASGI stack (middleware, session, templates, DB)."""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from starlette.testclient import TestClient

from bench.common import Result, p95, timed
from bench.context import Context
from portal.app import create_app
from portal.base.settings import Settings
from portal.ops.migrate import upgrade


def run(ctx: Context) -> list[Result]:
    """On an empty database of its own (pages that read no registration)."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp))
        upgrade(settings)
        app = create_app(settings)
        results = []
        with TestClient(app) as client:
            for path, target in (("/", 20.0), ("/signup", 20.0), ("/healthz", 10.0)):
                samples = timed(lambda path=path: client.get(path), repeat=200)
                results.append(Result(f"GET {path} p95", p95(samples), "ms", target))
                median = statistics.median(samples)
                results.append(Result(f"GET {path} median", median, "ms", target / 2))
        app.state.engine.dispose()
        return results
