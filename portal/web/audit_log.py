"""The auditor's log explorer: the signed checkpoint, recent entries, inclusion of one entry, and
the consistency of the log with a checkpoint the auditor saved earlier (RFC 9162 proofs)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.accounts import Role
from portal.base.db import session_scope
from portal.base.errors import FormErrors
from portal.base.i18n import gettext as _
from portal.ledger import tlog
from portal.records import certificates
from portal.web import flash
from portal.web.core import form_value, namespaced, page, redirect, render

AUDITORS = {Role.auditor, Role.admin}
PAGE = 25


@dataclass
class Check:
    ok: bool
    label: str
    detail: str = ""


def published_checkpoint(request: Request) -> dict[str, Any]:
    """The checkpoint the public endpoints serve (the newest published, with witnesses the
    newest they cosigned): the explorer reads, it never signs. Only a log with none published
    yet (a server that has not run its publisher) gets its first one here, as the publisher
    would sign it, in a transaction of its own."""
    app = request.app
    found = tlog.latest_checkpoint(request.state.db, quorum=app.state.witness_quorum)
    if found is not None:
        return found
    request.state.db.rollback()
    with session_scope(app.state.engine, write=True) as session:
        kid, private = certificates.ensure_registered(session, app.state.settings)
        checkpoint = tlog.record_checkpoint(
            session, origin=app.state.settings.issuer, kid=kid, sign=private.sign,
            note_name=app.state.settings.log_origin,
            public_key=private.public_key().public_bytes_raw())
        session.commit()
    return checkpoint


def _when(timestamp: str) -> datetime | None:
    try:
        return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return None


def _whole(raw: str) -> int | None:
    raw = raw.strip()
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 16 else None


def look_up(session: Session, raw: str, checkpoint: dict[str, Any]) -> dict[str, Any]:
    """Entry ``raw`` with its leaf hash and an inclusion proof checked against the checkpoint."""
    size = int(checkpoint["tree_size"])
    index = _whole(raw)
    if index is None:
        raise FormErrors({"index": _("Enter the entry's index as a whole number, such as 0")})
    if index >= size:
        raise FormErrors({"index": _("Enter an index from 0 to %(last)d: the log's tree size "
                                     "is %(size)d", size=size, last=max(size - 1, 0))}
                         if size else {"index": _("The log is empty.")})
    row = tlog.entries(session, index, index + 1)[0]
    leaf = tlog.leaf_hash(tlog.entry_bytes(row["entry"]))
    proof = tlog.inclusion_proof(session, index, size)
    root = tlog.unb64(checkpoint["root_hash"])
    return {
        "index": index,
        "entry_json": json.dumps(row["entry"], ensure_ascii=False, indent=2, sort_keys=True),
        "leaf_hash": tlog.b64(leaf),
        "leaf_matches": tlog.b64(leaf) == row["leaf_hash"],
        "audit_path": [tlog.b64(h) for h in proof.audit_path],
        "included": tlog.b64(leaf) == row["leaf_hash"]
        and tlog.verify_inclusion(leaf, index, size, proof.audit_path, root),
        "tree_size": size,
    }


def _root(value: Any, field: str) -> bytes:
    message = _("The root hash must be a SHA-256 hash in base64: 44 characters ending in "
                "\"=\"")
    if not isinstance(value, str):
        raise FormErrors({field: message})
    try:
        raw = tlog.unb64(value.strip())
    except ValueError:
        raise FormErrors({field: message}) from None
    if len(raw) != tlog.HASH_SIZE:
        raise FormErrors({field: message})
    return raw


def read_saved(form_checkpoint: str, form_size: str, form_root: str
               ) -> tuple[int, bytes, dict[str, Any] | None, str]:
    """The tree size and root of the saved checkpoint, the whole pasted object (if one was
    pasted) and the field to report a problem next to; FormErrors for bad input."""
    if form_checkpoint.strip():
        field = "checkpoint"
        try:
            document = json.loads(form_checkpoint)
        except (ValueError, RecursionError):
            raise FormErrors({field: _("This is not JSON: paste the checkpoint exactly as you "
                                       "saved it, from { to }")}) from None
        if not isinstance(document, dict):
            raise FormErrors({field: _("Paste a checkpoint: a JSON object with tree_size and "
                                       "root_hash")})
        missing = [k for k in ("tree_size", "root_hash") if k not in document]
        if missing:
            raise FormErrors({field: _("The checkpoint lacks %(fields)s",
                                       fields=", ".join(missing))})
        size = document["tree_size"]
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise FormErrors({field: _("tree_size must be a whole number")})
        return size, _root(document["root_hash"], field), document, field
    if not form_size.strip() and not form_root.strip():
        raise FormErrors({"checkpoint": _("Paste a saved checkpoint, or enter its tree size "
                                          "and root hash")})
    errors: dict[str, str] = {}
    size_value = _whole(form_size)
    if size_value is None:
        errors["tree_size"] = _("Enter the tree size as a whole number")
    root = b""
    try:
        root = _root(form_root, "root_hash")
    except FormErrors as exc:
        errors.update(exc.errors)
    if errors:
        raise FormErrors(errors)
    assert size_value is not None
    return size_value, root, None, "tree_size"


def check_consistency(session: Session, checkpoint: dict[str, Any], *, origin: str,
                      pasted: str, tree_size: str, root_hash: str) -> dict[str, Any]:
    """Is the current log (``checkpoint``) an extension of the saved one? Every check made."""
    size, root, document, field = read_saved(pasted, tree_size, root_hash)
    current = int(checkpoint["tree_size"])
    if size > current:
        raise FormErrors({field: _(
            "This checkpoint's tree size is %(size)d but the log's is only %(current)d: it is "
            "not from this log, or entries have been removed from it", size=size,
            current=current)})
    checks: list[Check] = []
    if document is not None and "origin" in document and document["origin"] != origin:
        checks.append(Check(False, _("Origin"), _(
            "This checkpoint is from another log (%(origin)s)", origin=str(document["origin"]))))
    if document is not None and "signature" in document:
        signed = certificates.verify_signature(document, certificates.public_keys(session))
        checks.append(Check(signed, _("Signature"), _(
            "The signature verifies with the portal's key %(kid)s",
            kid=str(document.get("kid", ""))) if signed else _(
            "The signature does not verify with any of the portal's keys: the checkpoint was "
            "altered, or it was not signed by this portal")))
    current_root = tlog.unb64(checkpoint["root_hash"])
    proof: list[bytes] = []
    if size == 0:
        consistent = root == tlog.EMPTY_ROOT
    else:
        proof = tlog.consistency_proof(session, size, current).proof
        consistent = tlog.verify_consistency(size, current, root, current_root, proof)
    checks.append(Check(consistent, _("Consistency proof"), _(
        "The current log, cut at tree size %(size)d, hashes to the saved root: the log has "
        "only grown since", size=size) if consistent else _(
        "The saved root does not match the current log cut at tree size %(size)d: either the "
        "saved checkpoint is not genuine, or the log has been rewritten", size=size)))
    return {
        "first": size, "second": current, "proof": [tlog.b64(h) for h in proof],
        "checks": checks, "ok": all(c.ok for c in checks),
    }


def _entries_page(session: Session, size: int, before_raw: str) -> dict[str, Any]:
    """Up to PAGE entries before index ``before`` (default: the end), newest first."""
    before = _whole(before_raw)
    if before is None or before > size:
        before = size
    start = max(before - PAGE, 0)
    rows = list(reversed(tlog.entries(session, start, before))) if before else []
    for row in rows:
        row["when"] = _when(str(row["entry"].get("at", "")))
    return {
        "entries": rows,
        "older": start if start > 0 else None,
        "newer": min(before + PAGE, size) if before < size else None,
    }


def _context(request: Request, **extra: Any) -> dict[str, Any]:
    db = request.state.db
    checkpoint = extra.pop("checkpoint", None) or published_checkpoint(request)
    keys = certificates.public_keys(db)
    key = next((k for k in keys if k["kid"] == checkpoint["kid"]), None)
    params = request.query_params
    context: dict[str, Any] = {
        "checkpoint": checkpoint,
        "checkpoint_json": json.dumps(checkpoint, ensure_ascii=False, indent=2),
        "checkpoint_at": _when(checkpoint["timestamp"]),
        "checkpoint_signed": certificates.verify_signature(checkpoint, keys),
        "key": key,
        "lookup": None, "consistency": None, "errors": {}, "values": {},
        **_entries_page(db, int(checkpoint["tree_size"]), params.get("before", "")),
    }
    context.update(extra)
    return context


# What a check leaves for the explorer to show once (post/redirect/get, ``flash``).
SHOWN_ONCE = ("consistency", "errors", "values")


@page(roles=AUDITORS)
def show_log(request: Request) -> Response:
    """The checkpoint, recent entries and, with ``?index=``, one entry's inclusion; after a
    consistency check, its result or errors, once."""
    shown = flash.take(request, request.url.path)
    context = _context(request, **{k: v for k, v in shown.items() if k in SHOWN_ONCE})
    raw = request.query_params.get("index")
    status = 200
    if raw is not None:
        context["values"] = {**context["values"], "index": raw}
        try:
            context["lookup"] = look_up(request.state.db, raw, context["checkpoint"])
        except FormErrors as exc:
            context["errors"] = {**context["errors"], **exc.errors}
            status = 422
    return render(request, "audit/log.html", context, status_code=status)


@page(roles=AUDITORS)
def check_log_consistency(request: Request) -> Response:
    """Check a saved checkpoint against the current one (nothing is stored); 303 to the
    explorer, which shows the result, or the errors beside what was typed, once."""
    form = request.state.form
    values = {k: form_value(form, k) for k in ("checkpoint", "tree_size", "root_hash")}
    checkpoint = published_checkpoint(request)
    try:
        result = check_consistency(
            request.state.db, checkpoint, origin=request.app.state.settings.issuer,
            pasted=values["checkpoint"], tree_size=values["tree_size"],
            root_hash=values["root_hash"])
    except FormErrors as exc:
        return _shown_again(request, checkpoint, status_code=422, tries=[
            {"errors": exc.errors, "values": values}])
    consistency = {**result, "checks": [asdict(c) for c in result["checks"]]}
    # What was pasted goes back into the form when the session can hold it with the result;
    # the result alone names both tree sizes.
    return _shown_again(request, checkpoint, status_code=200, tries=[
        {"consistency": consistency, "values": values}, {"consistency": consistency}])


def _shown_again(request: Request, checkpoint: dict[str, Any], *, status_code: int,
                 tries: list[dict[str, Any]]) -> Response:
    """303 to the explorer, which shows the first of ``tries`` the session can hold, once; the
    explorer at the POST's address (with the first) when none fits."""
    page_path = str(request.app.url_path_for("audit_log:show"))
    for shown in tries:
        if flash.keep(request, page_path, shown):
            return redirect(page_path + "#consistency")
    return render(request, "audit/log.html", _context(request, checkpoint=checkpoint, **tries[0]),
                  status_code=status_code)


routes = namespaced("audit_log", [
    Route("/audit/log", show_log, methods=["GET"], name="show"),
    Route("/audit/log/consistency", check_log_consistency, methods=["POST"],
          name="check_consistency"),
])
