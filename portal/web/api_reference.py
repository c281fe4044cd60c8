"""The API reference as a page of the site (``/api/v1/docs``), in the reader's language.

The operations and their schemas are the JSON API's (``portal.api.openapi``); the application
hands this page the function that describes them (``app.state.api_reference``), so that pages
and the API do not import each other.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.web.core import page, render


@page()
def show_reference(request: Request) -> Response:
    settings = request.app.state.settings
    return render(request, "api/reference.html", {
        **request.app.state.api_reference(),
        "rate_limit": settings.rate_limit,
        "max_body": settings.api_max_body_bytes,
    })


routes = [Route("/api/v1/docs", show_reference, methods=["GET"], name="api:reference")]
