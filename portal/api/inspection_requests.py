"""Inspection requests over the API (DESIGN §7): platforms list and answer theirs; authorities
send them and read the answers, within their jurisdiction."""

from __future__ import annotations

import email.parser
import email.policy
from typing import Any, Literal
from urllib.parse import parse_qs, quote

from pydantic import BaseModel, Field
from sqlmodel import col, select

from portal.api.core import ApiError, Call, Reply, field_error, operation
from portal.api.platform import NUMBER_PATTERN, Strict, Timestamp
from portal.base import uploads
from portal.base.errors import NotFound
from portal.base.forms import whole_number
from portal.ledger.events import Actor
from portal.ledger.tlog import rfc3339
from portal.oversight import inspection_requests as requests
from portal.platforms.clients import ApiClient
from portal.registration.models import Registration

# The answer's body: its text and up to MAX_FILES files of the wizard's size, with room for
# the multipart framing.
MAX_ANSWER_BODY = requests.MAX_FILES * uploads.MAX_UPLOAD_BYTES + 1024 * 1024
TEXT_FIELD_MAX = 200_000  # bytes of the text part before it is read as text


# --- Schemas ----------------------------------------------------------------------------------


class RequestsQuery(Strict):
    status: Literal["open", "answered", "all"] = Field(
        default="open", description="open: awaiting an answer (overdue ones included); "
                                    "answered; or all")


class RequestItem(BaseModel):
    id: int
    number: str | None = Field(default=None, description="The registration it is about; "
                                                         "absent when it is about the platform")
    request: str = Field(description="The documents or data asked for")
    deadline: str = Field(description="RFC 3339, UTC")
    status: str = Field(description="open, overdue (past its deadline, still to answer) or "
                                    "answered")


class RequestList(BaseModel):
    items: list[RequestItem]


class AnswerForm(BaseModel):
    text: str = Field(min_length=1, max_length=requests.ANSWER_MAX,
                      description="The answer")
    files: list[bytes] = Field(default_factory=list, max_length=requests.MAX_FILES,
                               description="Documents: JPG, PNG or PDF, 5 MB each at most "
                                           "(the registration wizard's rules)")


class AnswerCreated(BaseModel):
    id: int = Field(description="The answer")
    request_id: int
    status: str = Field(description="answered")
    late: bool = Field(description="Whether it came after the deadline")


class SendRequest(Strict):
    platform: str | int = Field(description="The platform asked: its id or its name as the "
                                            "portal lists it")
    number: str | None = Field(default=None, pattern=NUMBER_PATTERN,
                               description="The registration it is about, within this "
                                           "client's jurisdiction; absent when it is about the "
                                           "platform itself")
    request: str = Field(min_length=1, max_length=requests.REQUEST_MAX,
                         description="The documents or data asked for")
    deadline: Timestamp = Field(description="By when (RFC 3339, in the future)")


class SendAnswer(BaseModel):
    id: int
    status: str = Field(description="open")


class AnswerFile(BaseModel):
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str = Field(description="Of the file as stored, lower-case hex")
    url: str = Field(description="Where this client downloads it")


class Answer(BaseModel):
    id: int
    text: str
    created_at: str
    files: list[AnswerFile]


class RequestDetail(BaseModel):
    id: int
    platform: str
    number: str | None = None
    request: str
    deadline: str
    status: str
    created_at: str
    overdue_at: str | None = None
    answered_at: str | None = None
    answers: list[Answer]


# --- The platform's side ----------------------------------------------------------------------


@operation("GET", "/inspection-requests", name="list_inspection_requests", kind="platform",
           summary="This platform's inspection requests", query=RequestsQuery,
           response=RequestList, errors=(401, 403, 422, 429))
def list_inspection_requests(call: Call) -> dict[str, Any]:
    """Requests from auditors and authorities for documents or data, about one registration
    (`number`) or about the platform itself, earliest deadline first. Each is announced by an
    `inspection.requested` event; answer with `POST /inspection-requests/{id}/answer`."""
    found = requests.requests_for_platform(call.session, call.client["id"],
                                           status=call.query.status)
    items = []
    for request, number in found:
        item: dict[str, Any] = {"id": request.id, "request": request.request,
                                "deadline": rfc3339(request.deadline),
                                "status": request.status}
        if number:
            item["number"] = number
        items.append(item)
    return {"items": items}


def parse_form(call: Call) -> tuple[str, list[requests.Received]]:
    """The text and the files of a multipart/form-data body (or a urlencoded form, which has no
    files); 422 when it is neither."""
    content_type = call.headers.get("content-type", "")
    if content_type.lower().startswith("application/x-www-form-urlencoded"):
        # An answer without files, as some clients send a form that has none.
        fields = parse_qs(call.raw.decode("utf-8", "replace"), keep_blank_values=True)
        return (fields.get("text") or [""])[0], []
    if not content_type.lower().startswith("multipart/form-data"):
        raise field_error("body", "Send multipart/form-data with a text field and any files")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1",
                                                                                 "replace")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + call.raw)
    if not message.is_multipart():
        raise field_error("body", "Send multipart/form-data with a text field and any files")
    text: str | None = None
    files: list[requests.Received] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if name == "text" and text is None:
            if len(data) > TEXT_FIELD_MAX:
                raise field_error("text", "Write at most 20000 characters")
            text = data.decode("utf-8", "replace")
        elif name == "files":
            files.append(requests.Received(str(part.get_filename() or "document"), data))
    if len(files) > requests.MAX_FILES:
        raise field_error("files", f"Send {requests.MAX_FILES} files or fewer")
    return text or "", files


@operation("POST", "/inspection-requests/{id}/answer", name="answer_inspection_request",
           kind="platform", summary="Answer an inspection request with text and files",
           form=AnswerForm, response=AnswerCreated, status=201,
           errors=(401, 403, 404, 409, 413, 422, 429), max_body=MAX_ANSWER_BODY)
def answer_inspection_request(call: Call) -> dict[str, Any]:
    """multipart/form-data: a `text` field and any number of `files` (up to 10; JPG, PNG or
    PDF up to 5 MB each, checked as the registration wizard checks documents, with its
    messages under `files[<index>]`). The answer closes the request, on time or late; the
    authority reads it in its console or over the API. Another platform's request is not
    found (404); one already answered is 409."""
    request_id = whole_number(call.params["id"])
    if request_id is None:
        raise ApiError(404, "No inspection request of this platform has this id")
    try:
        request = requests.for_platform(call.session, call.client["id"], request_id)
    except NotFound:
        raise ApiError(404, "No inspection request of this platform has this id") from None
    if request.status == "answered":
        raise ApiError(409, "This inspection request is answered already")
    text, files = parse_form(call)
    try:
        answer = requests.answer_request(call.session, call.settings, request=request,
                                         client_id=call.client["id"], text=text, files=files)
    except requests.Closed:
        raise ApiError(409, "This inspection request is answered already") from None
    return {"id": answer.id, "request_id": request.id, "status": request.status,
            "late": requests.is_late(request, answer.created_at)}


# --- The authority's side ---------------------------------------------------------------------


def _jurisdiction(call: Call) -> str:
    return str(call.client.get("jurisdiction") or "")


@operation("POST", "/audit/inspection-requests", name="audit_send_inspection_request",
           kind="authority", summary="Ask a platform for documents or data",
           body=SendRequest, response=SendAnswer, status=201,
           errors=(400, 401, 403, 413, 422, 429))
def send_inspection_request(call: Call) -> dict[str, Any]:
    """Ask a platform, about one registration within this client's jurisdiction (`number`)
    or about the platform itself, for documents or data by a deadline. The platform receives
    `inspection.requested` (by webhook and in its events feed) and answers over the API;
    read the answers with `GET /audit/inspection-requests/{id}`."""
    body: SendRequest = call.body
    sent = requests.send_request(
        call.session, jurisdiction=_jurisdiction(call), platform=str(body.platform),
        request=body.request, deadline=body.deadline, number=body.number or "",
        actor=Actor(None, "authority"), by_client=call.client["id"])
    return {"id": sent.id, "status": sent.status}


def _request(call: Call) -> requests.InspectionRequest:
    request_id = whole_number(call.params["id"])
    if request_id is None:
        raise ApiError(404, "No inspection request in this jurisdiction has this id")
    try:
        return requests.get_request(call.session, _jurisdiction(call), request_id)
    except NotFound:
        raise ApiError(404, "No inspection request in this jurisdiction has this id") from None


@operation("GET", "/audit/inspection-requests/{id}", name="audit_inspection_request",
           kind="authority", summary="An inspection request with its answers",
           response=RequestDetail, errors=(401, 403, 404, 429))
def show_inspection_request(call: Call) -> dict[str, Any]:
    """The request, its state (open, overdue or answered) and the platform's answers, each
    file with the link to download it. Requests about a registration outside this client's
    jurisdiction are not found."""
    request = _request(call)
    platform = call.session.get(ApiClient, request.client_id)
    number = (call.session.exec(select(Registration.number).where(
        col(Registration.id) == request.registration_id)).first()
        if request.registration_id else None)
    answers = []
    for answer, files in requests.answers_of(call.session, request.id):  # type: ignore[arg-type]
        answers.append({
            "id": answer.id, "text": answer.text, "created_at": rfc3339(answer.created_at),
            "files": [{"id": f.id, "filename": f.filename, "content_type": f.content_type,
                       "size": f.size, "sha256": f.sha256,
                       "url": f"/api/v1/audit/inspection-files/{f.id}"}
                      for f in files]})
    out: dict[str, Any] = {
        "id": request.id, "platform": platform.name if platform else "",
        "request": request.request, "deadline": rfc3339(request.deadline),
        "status": request.status, "created_at": rfc3339(request.created_at),
        "answers": answers}
    if number:
        out["number"] = number
    for name in ("overdue_at", "answered_at"):
        moment = getattr(request, name)
        if moment is not None:
            out[name] = rfc3339(moment)
    return out


@operation("GET", "/audit/inspection-files/{id}", name="audit_inspection_file",
           kind="authority", summary="A file a platform sent with its answer",
           errors=(401, 403, 404, 429), content_type="application/octet-stream")
def download_inspection_file(call: Call) -> Reply:
    """The file as stored (images re-encoded without their metadata), with its type and name;
    the answers of `GET /audit/inspection-requests/{id}` link to it. A file of a request
    outside this client's jurisdiction is not found."""
    file_id = whole_number(call.params["id"])
    if file_id is None:
        raise ApiError(404, "No file in this jurisdiction has this id")
    try:
        found, data = requests.open_file(call.session, call.settings, _jurisdiction(call),
                                         file_id)
    except NotFound:
        raise ApiError(404, "No file in this jurisdiction has this id") from None
    return Reply(stream=[data], media_type=found.content_type, headers={
        "Content-Disposition": f"attachment; filename=\"{_ascii(found.filename)}\"; "
                               f"filename*=UTF-8''{_quoted(found.filename)}"})


def _ascii(name: str) -> str:
    return "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in name)


def _quoted(name: str) -> str:
    return quote(name, safe="")
