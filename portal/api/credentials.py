"""Certificates as W3C Verifiable Credentials (DESIGN §6): the platform API's credential of a
registration, and the public documents a verifier needs: the issuer's DID document, the
portal's JSON-LD context and the two Bitstring Status List credentials (served as stored)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from portal.api.core import ApiError, Call, operation
from portal.base.db import session_scope
from portal.records import credentials, data_integrity, status_lists


class CredentialAnswer(BaseModel):
    """A W3C Verifiable Credential 2.0 secured by a Data Integrity proof (eddsa-rdfc-2022)."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    context: list[str] = Field(alias="@context")
    type: list[str] = Field(description='["VerifiableCredential", '
                                        '"LivestreamRegistrationCredential"]')
    issuer: str = Field(description="The portal's did:web")
    validFrom: str
    validUntil: str | None = None
    credentialSubject: dict[str, Any] = Field(
        description="What the certificate states, masked as there")
    credentialStatus: list[dict[str, str]] = Field(
        description="BitstringStatusListEntry for revocation and for suspension")
    proof: dict[str, str]


@operation("GET", "/registrations/{number}/credential", name="get_credential",
           kind="platform", summary="A registration's certificate as a Verifiable Credential",
           response=CredentialAnswer, errors=(401, 403, 404, 429), read_only=True)
def get_credential(call: Call) -> dict[str, Any]:
    """The current certificate as a W3C Verifiable Credential 2.0, for verifying with the
    standard VC libraries (docs/api.md). Drafts, unknown numbers and registrations never
    approved are not found."""
    found = credentials.credential_of(call.session, call.settings, call.params["number"])
    if found is None:
        raise ApiError(404, "No credential for this number")
    return found


def _did_document(request: Request) -> dict[str, Any]:
    with session_scope(request.app.state.engine) as session:
        return credentials.did_document(session, request.app.state.settings)


async def show_did_document(request: Request) -> Response:
    body = await run_in_threadpool(_did_document, request)
    return JSONResponse(body, media_type="application/did+json",
                        headers={"Cache-Control": "public, max-age=300"})


async def show_context(request: Request) -> Response:
    body = data_integrity.shipped_context("livestream-v1.jsonld")
    return JSONResponse(body, media_type="application/ld+json",
                        headers={"Cache-Control": "public, max-age=86400"})


def _status_list(request: Request, purpose: str) -> dict[str, Any] | None:
    with session_scope(request.app.state.engine) as session:
        return status_lists.stored(session, purpose)


async def show_status_list(request: Request) -> Response:
    purpose = request.path_params["purpose"]
    if purpose not in status_lists.PURPOSES:
        raise HTTPException(status_code=404)
    body = await run_in_threadpool(_status_list, request, purpose)
    if body is None:
        raise HTTPException(status_code=404)
    return Response(json.dumps(body, ensure_ascii=False), media_type="application/vc",
                    headers={"Cache-Control": "public, max-age=60"})


routes = [
    Route("/.well-known/did.json", show_did_document, methods=["GET"], name="did_document"),
    Route(data_integrity.CONTEXT_PATH, show_context, methods=["GET"], name="credential_context"),
    Route(status_lists.STATUS_PATH + "{purpose}", show_status_list, methods=["GET"],
          name="status_list"),
]
