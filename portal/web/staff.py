"""Start pages of the staff roles; each role's work arrives here with its own issue (the
auditor's is the console in ``portal.web.audit``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.accounts import Role
from portal.web.core import namespaced, page, render


@page(roles={Role.admin})
def show_admin_home(request: Request) -> Response:
    return render(request, "staff/admin_home.html")


routes = namespaced(
    "staff",
    [
        Route("/admin", show_admin_home, methods=["GET"], name="admin_home"),
    ],
)
