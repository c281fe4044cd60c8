"""The public verification page: anyone (a buyer, a platform) checks a registration number."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session, select
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal import attestations, records, steps, tlog
from portal.registrations import Registration
from portal.web.core import page, redirect, render


def check_certificate(session: Session, certificate: records.Certificate) -> dict[str, bool]:
    """Whether the certificate's signature holds and its log entry is in the current tree."""
    body = json.loads(certificate.document)
    checks = {"signature": records.verify_signature(body, records.public_keys(session)),
              "logged": False}
    index = certificate.log_index
    size = tlog.size(session)
    if index is not None and index < size:
        entry = tlog.entries(session, index, index + 1)[0]["entry"]
        proof = tlog.inclusion_proof(session, index, size)
        leaf = tlog.leaf_hash(tlog.entry_bytes(entry))
        checks["logged"] = (entry.get("certificate_sha256") == certificate.sha256
                            and tlog.verify_inclusion(leaf, index, size, proof.audit_path,
                                                      tlog.root_hash(session, size)))
    return checks


def verification(session: Session, number: str) -> dict[str, Any] | None:
    """What the public may know of a registration: never a draft, never clear personal data."""
    registration = session.exec(select(Registration).where(Registration.number == number)).first()
    if registration is None or registration.status == "draft":
        return None
    certificate = records.current_certificate(session, registration.id or 0)
    body = json.loads(certificate.document) if certificate else None
    return {
        "registration": registration,
        "certificate": body,
        "checks": check_certificate(session, certificate) if certificate else None,
    }


@page()
def find_registration(request: Request) -> Response:
    number = request.query_params.get("number", "").strip().upper()
    if steps.NUMBER_PATTERN.match(number):
        return redirect(str(request.app.url_path_for("verify:show", number=number)))
    return render(request, "verify/find.html", {"number": number[:30], "invalid": bool(number)},
                  status_code=422 if number else 200)


@page()
def show_registration(request: Request) -> Response:
    number = request.path_params["number"].upper()
    found = verification(request.state.db, number)
    if found is None:
        raise HTTPException(status_code=404)
    return render(request, "verify/show.html", {
        **found, "number": number, "roles": steps.ROLES, "audiences": attestations.AUDIENCES,
        "categories": attestations.CONTENT_CATEGORIES,
    })


routes = [
    Route("/verify", find_registration, methods=["GET"], name="verify:find"),
    Route("/verify/{number}", show_registration, methods=["GET"], name="verify:show"),
]
