"""The auditors' view of how each platform keeps its duties (portal.oversight.compliance)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.accounts import Role
from portal.oversight import compliance
from portal.web.core import namespaced, page, render

AUDITORS = {Role.auditor, Role.admin}


@page(roles=AUDITORS)
def show_platforms(request: Request) -> Response:
    return render(request, "inspection_requests/platforms.html", {
        "rows": compliance.platforms(request.state.db, request.state.user.jurisdiction)})


routes = namespaced("compliance", [
    Route("/audit/platforms", show_platforms, methods=["GET"], name="platforms"),
])
