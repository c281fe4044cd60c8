"""RFC 9457 problem documents for every error under /api/."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from starlette.responses import JSONResponse

PROBLEM_TYPE_BASE = "https://portal.example/problems/"


def problem(
    status: int,
    detail: str = "",
    *,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    type_: str | None = None,
) -> JSONResponse:
    """A problem+json answer with the status's standard title."""
    title = HTTPStatus(status).phrase
    body: dict[str, Any] = {
        "type": type_ or "about:blank",
        "title": title,
        "status": status,
        "detail": detail or title,
    }
    if errors:
        body["errors"] = errors
    return JSONResponse(
        body, status_code=status, headers=headers, media_type="application/problem+json"
    )
