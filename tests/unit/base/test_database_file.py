"""The SQLite database holds personal data: its files are the owner's alone, like the keys."""

from __future__ import annotations

import os
import stat

from sqlalchemy import text

from portal.base.db import make_engine


def _mode(path) -> int:  # type: ignore[no-untyped-def]
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_database_file_is_created_0600(tmp_path) -> None:
    path = tmp_path / "portal.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (a TEXT)"))
        connection.execute(text("INSERT INTO t VALUES ('x')"))
        written = sorted(p.name for p in tmp_path.iterdir())
        assert {"portal.db", "portal.db-wal"} <= set(written)
        assert {_mode(tmp_path / name) for name in written} == {0o600}
    engine.dispose()


def test_an_existing_readable_database_file_is_made_0600(tmp_path) -> None:
    path = tmp_path / "portal.db"
    path.touch(mode=0o644)
    os.chmod(path, 0o644)
    make_engine(f"sqlite:///{path}").dispose()
    assert _mode(path) == 0o600
