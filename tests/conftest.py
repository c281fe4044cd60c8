"""Shared test set-up: PostgreSQL tests are deselected, not skipped, without a PostgreSQL URL."""

from __future__ import annotations

import os

import pytest

PG_URL = os.environ.get("PORTAL_TEST_DATABASE_URL", "")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if PG_URL.startswith("postgresql"):
        return
    deselected = [item for item in items if item.get_closest_marker("postgres")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("postgres")]
