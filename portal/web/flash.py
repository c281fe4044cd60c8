"""Post/redirect/get for staff forms: what a POST has to show (a refused form's errors and
typed values, a revealed value) waits in the session for the next GET of its page, which shows
it once. Refresh and Back then never re-send a form or answer 405.

The session cookie is signed, not secret, and typed text or a revealed value may be personal
data: it is kept AES-GCM sealed with the data key, bound to the staff member and the page.
Browsers keep cookies up to 4 KB, so a form too long to keep this way is answered as before
(the page rendered at the POST's address), never lost."""

from __future__ import annotations

import base64
import json
from typing import Any

from starlette.requests import Request

from portal.base import crypto
from portal.base.crypto import DecryptionError

SESSION_KEY = "shown_once"
# Of the cookie's 4 KB, what one kept form may take once sealed and base64-encoded.
MAX_CHARS = 2400


def _context(request: Request, page: str) -> bytes:
    user = request.state.user
    return f"flash:{user.id if user is not None else ''}:{page}".encode()


def keep(request: Request, page: str, shown: dict[str, Any]) -> bool:
    """Keep ``shown`` (JSON values) for the next GET of ``page``; False when too long."""
    cipher = crypto.cipher_for(request.app.state.settings)
    sealed = cipher.encrypt_text(json.dumps(shown, ensure_ascii=False),
                                 context=_context(request, page))
    text = base64.urlsafe_b64encode(sealed).decode("ascii")
    if len(text) > MAX_CHARS:
        return False
    request.session[SESSION_KEY] = {"page": page, "sealed": text}
    return True


def take(request: Request, page: str) -> dict[str, Any]:
    """What a POST left for this page (once), or nothing."""
    held = request.session.get(SESSION_KEY)
    if not isinstance(held, dict) or held.get("page") != page:
        return {}
    del request.session[SESSION_KEY]
    cipher = crypto.cipher_for(request.app.state.settings)
    try:
        text = cipher.decrypt_text(base64.urlsafe_b64decode(str(held.get("sealed", ""))),
                                   context=_context(request, page))
        shown = json.loads(text)
    except (DecryptionError, ValueError):
        return {}
    return shown if isinstance(shown, dict) else {}

