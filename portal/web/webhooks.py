"""The administrator's view of webhook deliveries: what was sent where, each attempt, retry now."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.accounts import Role
from portal.base.errors import FormErrors, NotFound
from portal.base.forms import whole_number
from portal.base.i18n import lazy_gettext
from portal.platforms import clients, webhooks
from portal.web.core import form_value, namespaced, page, redirect, render

PER_PAGE = 50
STATE_NAMES = {
    "pending": lazy_gettext("Waiting to be sent"),
    "delivered": lazy_gettext("Delivered"),
    "failed": lazy_gettext("Given up"),
}


def _filters(params: Any) -> dict[str, str]:
    """The list's filters from a query string or a form, keeping only values that exist."""
    platform = str(params.get("platform", "") or "")
    state = str(params.get("state", "") or "")
    return {"platform": platform if whole_number(platform) is not None else "",
            "state": state if state in webhooks.STATES else ""}


def _list_context(request: Request, filters: dict[str, str], **extra: Any) -> dict[str, Any]:
    db = request.state.db
    page_number = whole_number(request.query_params.get("page", "1"), digits=9) or 1
    rows, total = webhooks.recent(
        db, client_id=int(filters["platform"]) if filters["platform"] else None,
        state=filters["state"] or None, page=page_number, per_page=PER_PAGE)
    return {
        "rows": rows, "total": total, "page": page_number, "per_page": PER_PAGE,
        "attempts": webhooks.attempts_of(db, [d.id or 0 for d, _e, _c in rows]),
        "platforms": clients.clients(db, kind="platform"),
        "filters": filters, "state_names": STATE_NAMES,
        "query": urlencode({k: v for k, v in filters.items() if v}),
        "retried": None, "errors": {}, **extra,
    }


@page(roles={Role.admin})
def show_deliveries(request: Request) -> Response:
    filters = _filters(request.query_params)
    retried = request.query_params.get("retried", "")
    return render(request, "admin/deliveries.html", _list_context(
        request, filters, retried=whole_number(retried)))


@page(roles={Role.admin})
def retry_delivery(request: Request) -> Response:
    db = request.state.db
    form = request.state.form
    filters = _filters({"platform": form_value(form, "platform"),
                        "state": form_value(form, "state")})
    delivery_id = request.path_params["delivery_id"]
    try:
        webhooks.retry(db, delivery_id)
    except NotFound:
        raise HTTPException(status_code=404) from None
    except FormErrors as exc:
        db.rollback()
        return render(request, "admin/deliveries.html",
                      _list_context(request, filters, errors=exc.errors), status_code=409)
    query = urlencode({**{k: v for k, v in filters.items() if v}, "retried": delivery_id})
    path = request.app.url_path_for("webhooks:deliveries")
    return redirect(f"{path}?{query}#delivery-{delivery_id}")


routes = namespaced(
    "webhooks",
    [
        Route("/admin/deliveries", show_deliveries, methods=["GET"], name="deliveries"),
        Route("/admin/deliveries/{delivery_id:id}/retry", retry_delivery, methods=["POST"],
              name="retry"),
    ],
)
