"""Where the project's templates, static files and migrations are, from any working directory."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent  # portal/, from portal/base/resources.py


def _find(name: str) -> Path:
    # A wheel carries them inside the package; a source or editable install has them beside it.
    for candidate in (_PACKAGE / "_share" / name, _PACKAGE.parent / name):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"cannot find {name!r} next to {_PACKAGE}")


def templates_dir() -> Path:
    return _find("templates")


def static_dir() -> Path:
    return _find("static")


def migrations_dir() -> Path:
    return _find("migrations")


def alembic_ini() -> Path:
    return _find("alembic.ini")
