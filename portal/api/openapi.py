"""The OpenAPI 3.1 document (``GET /api/v1/openapi.json``) and its HTML reference
(``GET /api/v1/docs``), both generated from the operations registry (``core.OPERATIONS``).

The keyless public endpoints that live outside the registry (the four log endpoints, the signing
keys, the health check) are described here by hand (``PUBLIC``); their schemas are checked
against real answers by tests/unit/api/test_openapi.py, as every registered operation's are.

Each registered operation is documented with the errors it declares plus those the framework
itself may answer with (401, 403 and 429 for a keyed endpoint; 400, 413 and 422 for one with a
body; 422 for one with a query model), so the document never omits a status the pipeline in
``portal.api.core`` can produce.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from portal.api import core
from portal.base import i18n
from portal.base.i18n import gettext as _

OPENAPI_VERSION = "3.1.0"
REF = "#/components/schemas/{model}"
PARAM = re.compile(r"\{(\w+)(?::(\w+))?\}")

# --- Schemas of the problem documents and of the public endpoints ------------------------------


class ProblemField(BaseModel):
    field: str = Field(description="The field, parameter or header at fault (dotted path)")
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document, the body of every error answer."""

    type: str = Field(description="about:blank, or a URI naming the kind of problem")
    title: str = Field(description="The HTTP status's standard phrase")
    status: int = Field(description="The HTTP status code")
    detail: str = Field(description="What went wrong, for a developer to read")
    errors: list[ProblemField] = Field(
        default_factory=list,
        description="For validation errors (422): one entry per broken rule; absent otherwise")


class Checkpoint(BaseModel):
    origin: str = Field(description="The issuer")
    tree_size: int = Field(ge=0)
    root_hash: str = Field(description="Base64 SHA-256 Merkle tree head (RFC 9162)")
    timestamp: str = Field(description="RFC 3339 UTC")
    kid: str = Field(description="The signing key, in /.well-known/portal-keys.json")
    signature: str = Field(description="Base64 Ed25519 over the JCS bytes without `signature`")


class LogEntry(BaseModel):
    index: int = Field(ge=0)
    entry: dict[str, Any] = Field(description="type, at, and number, status, "
                                              "certificate_sha256, entry_id or kid")
    leaf_hash: str = Field(description="Base64 SHA-256(0x00 ‖ JCS(entry))")


class LogEntries(BaseModel):
    entries: list[LogEntry]


class EntriesQuery(BaseModel):
    start: int = Field(ge=0, description="First index (inclusive); less than `end`")
    end: int = Field(ge=1, description="Last index (exclusive): `end` - `start` ≤ 1000 and "
                                       "`end` ≤ the log's size (the `tree_size` of "
                                       "/api/v1/log/checkpoint); else 422")


class InclusionProof(BaseModel):
    index: int = Field(ge=0)
    tree_size: int = Field(ge=1)
    leaf_hash: str = Field(description="Base64")
    audit_path: list[str] = Field(description="Base64 hashes, leaf to root (RFC 9162 §2.1.3)")


class InclusionQuery(BaseModel):
    index: int = Field(ge=0, description="The entry's index; less than `tree_size`")
    tree_size: int = Field(ge=1, description="The tree size of a checkpoint: greater than "
                                             "`index`, at most the log's size; else 422")


class ConsistencyProof(BaseModel):
    first: int = Field(ge=1)
    second: int = Field(ge=1)
    proof: list[str] = Field(description="Base64 hashes (RFC 9162 §2.1.4)")


class ConsistencyQuery(BaseModel):
    first: int = Field(ge=1, description="The older tree size")
    second: int = Field(ge=1, description="The newer tree size: at least `first`, at most the "
                                          "log's size; else 422")


class SigningKey(BaseModel):
    kid: str
    kty: Literal["OKP"]
    crv: Literal["Ed25519"]
    x: str = Field(description="The public key, base64url without padding (RFC 7517)")
    status: Literal["active", "retired"]
    created_at: str = Field(description="RFC 3339 UTC")


class SigningKeys(BaseModel):
    keys: list[SigningKey]


class Health(BaseModel):
    status: Literal["ok", "error"]
    database: Literal["ok", "error"]


def _described_elsewhere(call: core.Call) -> Any:  # pragma: no cover - never routed from here
    raise NotImplementedError


@dataclass(frozen=True)
class Documented:
    """An operation as published: its full path and what the framework adds to it."""

    path: str
    op: core.Operation
    # (status, model) answers that are not problems, e.g. the health check's 503.
    alternatives: tuple[tuple[int, type[BaseModel]], ...] = ()

    @property
    def statuses(self) -> tuple[int, ...]:
        """The error statuses answered with a problem document."""
        if self.op.handler is _described_elsewhere:  # outside the registry: as described
            # Under /api/, a control character in the path or the query answers 400 first.
            extra = {400} if self.path.startswith("/api/") else set()
            return tuple(sorted(set(self.op.errors) | extra))
        return implied_errors(self.op)


def _public(method: str, path: str, name: str, summary: str, description: str,
            response: type[BaseModel], query: type[BaseModel] | None = None,
            errors: tuple[int, ...] = (), **kwargs: Any) -> Documented:
    op = core.Operation(method=method, path=path, name=name, kind="public", summary=summary,
                        handler=_described_elsewhere, query=query, response=response,
                        errors=errors, description=description)
    return Documented(path=path, op=op, **kwargs)


PUBLIC: tuple[Documented, ...] = (
    _public("GET", "/api/v1/log/checkpoint", "log_checkpoint", "The log's signed head",
            "The signed tree head covering every committed entry (DESIGN §6); signed on "
            "demand when entries were added since the last one.", Checkpoint),
    _public("GET", "/api/v1/log/entries", "log_entries", "Log entries by index",
            "Entries from `start` (inclusive) to `end` (exclusive). 422 unless `start` < `end`, "
            "`end` - `start` ≤ 1000 and `end` ≤ the log's size (the `tree_size` of "
            "/api/v1/log/checkpoint).",
            LogEntries, query=EntriesQuery, errors=(422,)),
    _public("GET", "/api/v1/log/proof/inclusion", "log_inclusion_proof",
            "Proof that an entry is in the log",
            "The audit path from entry `index` to the root of the tree of size `tree_size` "
            "(RFC 9162 §2.1.3). 422 unless `index` < `tree_size` ≤ the log's size.",
            InclusionProof, query=InclusionQuery, errors=(422,)),
    _public("GET", "/api/v1/log/proof/consistency", "log_consistency_proof",
            "Proof that the log only grew",
            "The consistency proof from tree size `first` to tree size `second` "
            "(RFC 9162 §2.1.4). 422 unless `first` ≤ `second` ≤ the log's size.",
            ConsistencyProof, query=ConsistencyQuery, errors=(422,)),
    _public("GET", "/.well-known/portal-keys.json", "signing_keys",
            "The keys that sign certificates and checkpoints",
            "Ed25519 public keys as JWKs; retired keys stay listed so old signatures keep "
            "verifying.", SigningKeys),
    _public("GET", "/healthz", "health", "Is the service up?",
            "Liveness and database reachability; 503 with the same body when the database "
            "cannot be reached.", Health, alternatives=((503, Health),)),
)


# --- What the framework adds ------------------------------------------------------------------


def implied_errors(op: core.Operation) -> tuple[int, ...]:
    """Error statuses the pipeline of portal.api.core may answer for this operation."""
    # 400: a control character in the path or the query string (the input rule).
    statuses = set(op.errors) | {400}
    if op.kind != "public":
        statuses |= {401, 403, 429}
    if op.method != "GET":
        statuses.add(413)
    if op.body is not None:
        statuses |= {400, 415, 422}
    if op.form is not None:
        statuses.add(422)
    if op.query is not None:
        statuses.add(422)
    if op.writes and op.idempotency and op.method == "POST" and op.kind != "public":
        statuses.add(422)  # a malformed Idempotency-Key, or one reused for another request
    return tuple(sorted(statuses))


def documented() -> list[Documented]:
    registered = [Documented(path=core.PREFIX + op.path, op=op) for op in core.OPERATIONS]
    return [*registered, *PUBLIC]


def error_meanings() -> dict[int, str]:
    """What each error status means here, in the current language."""
    return {
        400: _("The body is not JSON (or is missing, or nests too deep), or the path or the "
               "query string holds a control character."),
        401: _("No valid API key: it is missing, unknown or revoked."),
        403: _("The key is of the wrong kind for this endpoint."),
        404: _("Not found, or not this client's to see."),
        409: _("The request conflicts with the current state."),
        413: _("The body is larger than the limit."),
        415: _("The body is not sent as application/json."),
        422: _("The request breaks the schema or a rule; `errors` lists each field."),
        429: _("Too many requests for this key: wait for the seconds in Retry-After."),
        503: _("The database cannot be reached."),
    }


def kind_titles() -> dict[str, tuple[str, str]]:
    return {
        "platform": (_("Platform endpoints"),
                     _("For livestream platforms' own systems; a platform key is needed.")),
        "authority": (_("Authority endpoints"),
                      _("For authorities' inspection systems; an authority key is needed, and "
                        "what it sees is limited to its jurisdiction.")),
        "public": (_("Public endpoints"),
                   _("No key needed: the transparency log, the signing keys and the health "
                     "check.")),
    }


SECURITY_SCHEMES = {"platform": "platformKey", "authority": "authorityKey"}

RATE_LIMIT_HEADERS = {
    "RateLimit-Policy": {
        "description": "The key's quota and window (IETF RateLimit header fields), e.g. "
                       '"default";q=600;w=60',
        "schema": {"type": "string"},
    },
    "RateLimit": {
        "description": 'What is left of the quota and the seconds until it resets, e.g. '
                       '"default";r=599;t=42',
        "schema": {"type": "string"},
    },
}


# --- The document -----------------------------------------------------------------------------


# The input rule (portal.base.inputs) as patterns: no control character in a text value (tab
# and line breaks aside in a JSON body), none at all in a path or a query parameter.
TEXT_PATTERN = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f]*$"
PARAMETER_PATTERN = "^[^\\u0000-\\u001f\\u007f]*$"


class _Generator(GenerateJsonSchema):
    """Pydantic's JSON Schema 2020-12, with the bounds core.py enforces on every integer and
    the input rule on every string."""

    def str_schema(self, schema: core_schema.StringSchema) -> JsonSchemaValue:
        out = super().str_schema(schema)
        if "pattern" not in out and self.mode == "validation":
            out["pattern"] = TEXT_PATTERN
        return out

    def int_schema(self, schema: core_schema.IntSchema) -> JsonSchemaValue:
        out = super().int_schema(schema)
        if "exclusiveMinimum" not in out:
            out.setdefault("minimum", -core.SAFE_INTEGER)
        if "exclusiveMaximum" not in out:
            out.setdefault("maximum", core.SAFE_INTEGER)
        return out


def _schemas(items: list[Documented]) -> tuple[dict[tuple[type[BaseModel], str], Any],
                                               dict[str, Any]]:
    wanted: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (Problem, "serialization")]
    for item in items:
        op = item.op
        if op.body is not None:
            wanted.append((op.body, "validation"))
        if op.form is not None:
            wanted.append((op.form, "validation"))
        if op.query is not None:
            wanted.append((op.query, "validation"))
        if op.response is not None:
            wanted.append((op.response, "serialization"))
        for _status, model in item.alternatives:
            wanted.append((model, "serialization"))
    unique = list(dict.fromkeys(wanted))
    refs, top = models_json_schema(unique, ref_template=REF, schema_generator=_Generator)
    return {(model, mode): refs[(model, mode)] for model, mode in unique}, top.get("$defs", {})


def _problem(status: int, meanings: dict[int, str], keyed: bool) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": meanings.get(status, "Error"),
        "content": {"application/problem+json": {
            "schema": {"$ref": REF.format(model="Problem")}}},
    }
    headers: dict[str, Any] = {}
    if keyed and status not in (401, 403, 413):
        headers.update(RATE_LIMIT_HEADERS)
    if status == 429:
        headers["Retry-After"] = {
            "description": "Seconds to wait before the next request", "required": True,
            "schema": {"type": "string", "pattern": "^[0-9]+$"}}
    if status == 401 and keyed:
        headers["WWW-Authenticate"] = {"description": 'Bearer realm="portal"', "required": True,
                                       "schema": {"type": "string"}}
    if headers:
        answer["headers"] = headers
    return answer


def _parameters(item: Documented, refs: dict[tuple[type[BaseModel], str], Any],
                defs: dict[str, Any]) -> list[dict[str, Any]]:
    op = item.op
    params: list[dict[str, Any]] = []
    for name, convertor in PARAM.findall(item.path):
        schema: dict[str, Any] = {"type": "string", "pattern": PARAMETER_PATTERN}
        if convertor == "int":
            schema = {"type": "integer", "minimum": 0, "maximum": core.SAFE_INTEGER}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    if op.query is not None:
        component = _component(refs[(op.query, "validation")], defs)
        required = set(component.get("required", []))
        for name, schema in component.get("properties", {}).items():
            schema = dict(schema)
            param: dict[str, Any] = {"name": name, "in": "query", "required": name in required}
            if "description" in schema:
                param["description"] = schema.pop("description")
            schema.pop("title", None)
            param["schema"] = _strict(schema)
            params.append(param)
    if op.writes and op.idempotency and op.method == "POST" and op.kind != "public":
        params.append({
            "name": "Idempotency-Key", "in": "header", "required": False,
            "description": "Any 1 to 255 visible ASCII characters, unique per request: a "
                           "retry with the same key and the same request gets the first "
                           "answer again (with Idempotent-Replayed: true) instead of "
                           "repeating the change",
            "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"}})
    return params


def _strict(schema: Any) -> Any:
    """A query parameter's schema: its text values refuse tabs and line breaks too."""
    if isinstance(schema, dict):
        return {key: PARAMETER_PATTERN if key == "pattern" and value == TEXT_PATTERN
                else _strict(value) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


def _component(ref: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    name = ref["$ref"].rsplit("/", 1)[-1]
    component: dict[str, Any] = defs[name]
    return component


def _operation(item: Documented, refs: dict[tuple[type[BaseModel], str], Any],
               defs: dict[str, Any], meanings: dict[int, str]) -> dict[str, Any]:
    op = item.op
    keyed = op.kind != "public"
    out: dict[str, Any] = {
        "operationId": op.name,
        "summary": op.summary,
        "tags": [op.kind],
        "security": [{SECURITY_SCHEMES[op.kind]: []}] if keyed else [],
    }
    if op.description:
        out["description"] = inspect.cleandoc(op.description)
    params = _parameters(item, refs, defs)
    if params:
        out["parameters"] = params
    if op.body is not None:
        out["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": refs[(op.body, "validation")]}}}
    elif op.form is not None:
        out["requestBody"] = {"required": True, "content": {
            "multipart/form-data": {"schema": refs[(op.form, "validation")]}}}
    success: dict[str, Any] = {"description": op.summary}
    headers: dict[str, Any] = {}
    if keyed:
        headers.update({name: {**spec, "required": True}
                        for name, spec in RATE_LIMIT_HEADERS.items()})
    if op.writes and op.idempotency and op.method == "POST" and keyed:
        headers["Idempotent-Replayed"] = {
            "description": "true when this is the stored answer to an earlier request with "
                           "the same Idempotency-Key", "schema": {"type": "string",
                                                                  "enum": ["true"]}}
    if headers:
        success["headers"] = headers
    if op.status != 204:
        media: dict[str, Any] = {}
        if op.response is not None:
            media["schema"] = refs[(op.response, "serialization")]
        elif not op.content_type.endswith("json"):
            media["schema"] = {"type": "string"}
        success["content"] = {op.content_type: media}
    responses: dict[str, Any] = {str(op.status): success}
    for status, model in item.alternatives:
        responses[str(status)] = {"description": meanings.get(status, "Error"), "content": {
            "application/json": {"schema": refs[(model, "serialization")]}}}
    for status in item.statuses:
        responses.setdefault(str(status), _problem(status, meanings, keyed))
    out["responses"] = responses
    return out


def document(base_url: str = "") -> dict[str, Any]:
    """The OpenAPI 3.1 document, in English whatever the request's language."""
    token = i18n.set_language("en")
    try:
        meanings = error_meanings()
        tags = kind_titles()
        items = documented()
        refs, defs = _schemas(items)
        paths: dict[str, dict[str, Any]] = {}
        for item in items:
            path = PARAM.sub(r"{\1}", item.path)
            paths.setdefault(path, {})[item.op.method.lower()] = _operation(
                item, refs, defs, meanings)
    finally:
        i18n.reset_language(token)
    doc: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Livestream Registration Portal API",
            "version": "1",
            "description": (
                "Verify livestream marketers' registrations, check blocklists, report "
                "violations and follow events (platforms); inspect records (authorities); "
                "audit the transparency log (anyone). Errors are RFC 9457 problem documents; "
                "keyed answers carry the IETF RateLimit headers. A guide: docs/api.md; "
                "readable reference: /api/v1/docs."),
        },
        "tags": [{"name": kind, "description": description}
                 for kind, (_title, description) in tags.items()],
        "paths": paths,
        "components": {
            "schemas": defs,
            "securitySchemes": {
                "platformKey": {"type": "http", "scheme": "bearer", "bearerFormat": "lrp_…",
                                "description": "A platform client's API key"},
                "authorityKey": {"type": "http", "scheme": "bearer", "bearerFormat": "lrp_…",
                                 "description": "An authority client's API key"},
            },
        },
    }
    if base_url:
        doc["servers"] = [{"url": base_url.rstrip("/") or "/"}]
    return doc


def _cached_document(request: Request) -> dict[str, Any]:
    state = request.app.state
    base = state.settings.base_url or str(request.base_url)
    cached = getattr(state, "openapi_document", None)
    if cached is None or cached[0] != (base, len(core.OPERATIONS)):
        cached = ((base, len(core.OPERATIONS)), document(base))
        state.openapi_document = cached
    result: dict[str, Any] = cached[1]
    return result


async def show_document(request: Request) -> Response:
    return JSONResponse(_cached_document(request), headers={"Cache-Control": "no-cache"})


# --- The HTML reference -----------------------------------------------------------------------


@dataclass
class Row:
    name: str
    type: str
    required: bool
    description: str


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    seen = 0
    while "$ref" in schema and seen < 10:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = {**defs.get(name, {}), **{k: v for k, v in schema.items() if k != "$ref"}}
        seen += 1
    return schema


def _variants(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return list(schema.get("anyOf") or schema.get("oneOf") or [])


def type_label(schema: dict[str, Any], defs: dict[str, Any]) -> str:
    """A short type for a person to read: "string", "array of integer", "string or null"."""
    schema = _resolve(schema, defs)
    variants = _variants(schema)
    if variants:
        return " | ".join(dict.fromkeys(type_label(v, defs) for v in variants))
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(kind)
    if kind == "array":
        return _("array of %(items)s", items=type_label(schema.get("items", {}), defs))
    if kind is None and "const" in schema:
        return "string"
    if kind is None:
        return schema.get("title", "any") if "properties" in schema else "any"
    if kind == "string" and schema.get("format"):
        return f"string ({schema['format']})"
    return str(kind)


def _constraints(schema: dict[str, Any], defs: dict[str, Any]) -> list[str]:
    schema = _resolve(schema, defs)
    notes: list[str] = []
    for variant in _variants(schema):
        notes.extend(_constraints(variant, defs))
    if "enum" in schema:
        notes.append(_("one of: %(values)s",
                       values=", ".join(str(v) for v in schema["enum"] if v is not None)))
    if "const" in schema:
        notes.append(_("always %(value)s", value=schema["const"]))
    if "pattern" in schema:
        notes.append(_("matches %(pattern)s", pattern=schema["pattern"]))
    for key, label in (("minLength", _("at least %(n)s characters")),
                       ("maxLength", _("at most %(n)s characters")),
                       ("minimum", _("at least %(n)s")),
                       ("maximum", _("at most %(n)s")),
                       ("exclusiveMinimum", _("more than %(n)s")),
                       ("minItems", _("at least %(n)s items")),
                       ("maxItems", _("at most %(n)s items"))):
        if key in schema and abs(schema[key]) != core.SAFE_INTEGER:  # the bound of every integer
            notes.append(label % {"n": schema[key]})
    if "default" in schema and schema["default"] not in (None, [], {}):
        notes.append(_("default %(value)s", value=schema["default"]))
    return notes


def field_rows(schema: dict[str, Any] | None, defs: dict[str, Any], prefix: str = "",
               depth: int = 0) -> list[Row]:
    """Flatten an object schema into rows: nested objects as ``a.b``, arrays as ``a[].b``."""
    if not schema or depth > 6:
        return []
    schema = _resolve(schema, defs)
    variants = [_resolve(v, defs) for v in _variants(schema)]
    objects = [v for v in variants if "properties" in v]
    if len(objects) > 1:
        rows: list[Row] = []
        for variant in objects:
            title = variant.get("title", "")
            rows.extend(field_rows(variant, defs, f"{prefix}⟨{title}⟩", depth + 1))
        return rows
    if objects:
        schema = objects[0]
    required = set(schema.get("required", []))
    rows = []
    for name, prop in schema.get("properties", {}).items():
        resolved = _resolve(prop, defs)
        text = resolved.get("description") or prop.get("description", "")
        notes = _constraints(prop, defs)
        description = "; ".join([text, *notes]) if text else "; ".join(notes)
        rows.append(Row(name=f"{prefix}{name}", type=type_label(prop, defs),
                        required=name in required, description=description))
        inner = resolved
        inner_variants = [_resolve(v, defs) for v in _variants(resolved)]
        if inner_variants:
            non_null = [v for v in inner_variants if v.get("type") != "null"]
            inner = non_null[0] if len(non_null) == 1 else {"anyOf": non_null}
        if inner.get("type") == "array":
            rows.extend(field_rows(inner.get("items"), defs, f"{prefix}{name}[].", depth + 1))
        elif "properties" in inner or len(_variants(inner)) > 1:
            rows.extend(field_rows(inner, defs, f"{prefix}{name}.", depth + 1))
    return rows


@dataclass
class OperationView:
    method: str
    path: str
    name: str
    summary: str
    description: str
    kind: str
    parameters: list[Row]
    body: list[Row]
    status: int
    content_type: str
    response: list[Row]
    errors: list[tuple[int, str]]
    idempotent: bool


def reference() -> list[tuple[str, str, str, list[OperationView]]]:
    """Operations grouped by kind, for the HTML page (in the request's language)."""
    items = documented()
    refs, defs = _schemas(items)
    meanings = error_meanings()
    groups: dict[str, list[OperationView]] = {}
    for item in items:
        op = item.op
        parameters = [
            Row(name=p["name"], type=f"{type_label(p['schema'], defs)} · {p['in']}",
                required=p["required"],
                description="; ".join(x for x in [p.get("description", ""),
                                                  *_constraints(p["schema"], defs)] if x))
            for p in _parameters(item, refs, defs)]
        errors = item.statuses + tuple(status for status, _model in item.alternatives)
        sent = op.body or op.form
        groups.setdefault(op.kind, []).append(OperationView(
            method=op.method, path=PARAM.sub(r"{\1}", item.path), name=op.name,
            summary=op.summary, description=inspect.cleandoc(op.description), kind=op.kind,
            parameters=parameters,
            body=field_rows(refs[(sent, "validation")], defs) if sent else [],
            status=op.status, content_type=op.content_type,
            response=field_rows(refs[(op.response, "serialization")], defs)
            if op.response else [],
            errors=[(status, meanings.get(status, "")) for status in sorted(set(errors))],
            idempotent=(op.writes and op.idempotency and op.method == "POST"
                        and op.kind != "public")))
    titles = kind_titles()
    return [(kind, titles[kind][0], titles[kind][1], groups[kind])
            for kind in ("platform", "authority", "public") if kind in groups]


def reference_context() -> dict[str, Any]:
    """What the HTML API reference (``portal.web.api_reference``, given this function by
    ``create_app``) shows: the operations by kind and the problem document's fields."""
    items = documented()
    _refs, defs = _schemas(items)
    return {
        "groups": reference(),
        "problem_rows": field_rows({"$ref": REF.format(model="Problem")}, defs),
    }


routes = [
    Route(core.PREFIX + "/openapi.json", show_document, methods=["GET"], name="api:openapi"),
]
