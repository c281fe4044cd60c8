"""The account's preferences on /me: the language of the messages we send the person."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal import accounts
from portal.base.errors import FormErrors
from portal.web.core import form_value, namespaced, page, redirect


@page(login=True)
def choose_language(request: Request) -> Response:
    """Keep the language of the person's emails and messages on their account."""
    target = request.url_for("accounts:me").path
    try:
        accounts.set_message_language(request.state.db, request.state.user,
                                      form_value(request.state.form, "language"))
    except FormErrors:
        # Only a crafted form can choose another language: nothing changes.
        return redirect(target + "#message-language")
    return redirect(target + "?language=1#message-language")


routes = namespaced("preferences", [
    Route("/me/language", choose_language, methods=["POST"], name="choose_language"),
])
