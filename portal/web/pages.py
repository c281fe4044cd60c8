"""Public pages: home, privacy notice, language switch, development mailbox."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.base import i18n
from portal.platforms import notify
from portal.web.core import page, redirect, render, safe_next

ONE_YEAR = 365 * 24 * 3600


@page()
def show_home(request: Request) -> Response:
    return render(
        request, "home.html", {"logged_out": request.query_params.get("logged_out") == "1"}
    )


@page()
def show_privacy(request: Request) -> Response:
    return render(request, "privacy.html")


def switch_language(request: Request) -> Response:
    """Remember the chosen language in a cookie and go back to the page the person was on."""
    lang = request.path_params["lang"]
    if lang not in i18n.LANGUAGES:
        raise HTTPException(status_code=404)
    response = redirect(safe_next(request.query_params.get("next"), "/"))
    response.set_cookie(
        i18n.LANG_COOKIE,
        lang,
        max_age=ONE_YEAR,
        httponly=True,
        samesite="lax",
        secure=request.app.state.settings.is_production,
    )
    return response


@page()
def show_mailbox(request: Request) -> Response:
    if request.app.state.settings.is_production:
        raise HTTPException(status_code=404)
    return render(request, "dev/mailbox.html", {"messages": notify.mailbox(request.state.db)})


routes = [
    Route("/", show_home, methods=["GET"], name="home"),
    Route("/privacy", show_privacy, methods=["GET"], name="privacy"),
    Route("/lang/{lang}", switch_language, methods=["GET"], name="switch_language"),
    Route("/dev/mailbox", show_mailbox, methods=["GET"], name="dev_mailbox"),
]
