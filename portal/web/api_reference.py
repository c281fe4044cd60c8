"""The API reference as a page of the site (``/api/v1/docs``), in the reader's language.

The operations and their schemas are the JSON API's (``portal.api.openapi``); the application
hands this page the function that describes them (``app.state.api_reference``), so that pages
and the API do not import each other. Their summaries and descriptions are translated by their
text (``portal.web.api_texts``); the fields' descriptions stay in English.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.base.i18n import gettext
from portal.web.api_texts import TEXTS
from portal.web.core import page, render


def translated(text: str) -> str:
    """The reader's language for a summary or description the catalog knows; else as it is."""
    key = " ".join(text.split())
    return gettext(key) if key in TEXTS else text


def _in_language(groups: list[tuple[str, str, str, list[Any]]]
                 ) -> list[tuple[str, str, str, list[Any]]]:
    return [(kind, title, description,
             [dataclasses.replace(op, summary=translated(op.summary),
                                  description=translated(op.description)) for op in ops])
            for kind, title, description, ops in groups]


@page()
def show_reference(request: Request) -> Response:
    settings = request.app.state.settings
    reference = request.app.state.api_reference()
    return render(request, "api/reference.html", {
        **reference,
        "groups": _in_language(reference["groups"]),
        "rate_limit": settings.rate_limit,
        "max_body": settings.api_max_body_bytes,
    })


routes = [Route("/api/v1/docs", show_reference, methods=["GET"], name="api:reference")]
