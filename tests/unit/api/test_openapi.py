"""The OpenAPI document describes every endpoint truthfully: schemathesis generates requests
from it against the real application and checks each answer against it."""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from bs4 import BeautifulSoup
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from starlette.testclient import TestClient

from portal.api import core
from portal.app import create_app
from tests.unit.conftest import Platform

# More for a deeper search: PORTAL_FUZZ_EXAMPLES=500 pytest tests/unit/api/test_openapi.py
MAX_EXAMPLES = int(os.environ.get("PORTAL_FUZZ_EXAMPLES", "25"))
CHECKS = [schemathesis.checks.not_a_server_error, schemathesis.checks.status_code_conformance,
          schemathesis.checks.content_type_conformance,
          schemathesis.checks.response_schema_conformance,
          schemathesis.checks.response_headers_conformance]


def test_the_document_is_valid_openapi_3_1(client) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    assert document["openapi"].startswith("3.1") and document["info"]["version"] == "1"
    schemathesis.openapi.from_dict(document).validate()  # against the OpenAPI 3.1 meta-schema


def test_every_registered_operation_is_described(client) -> None:
    document = client.get("/api/v1/openapi.json").json()
    problem = {"$ref": "#/components/schemas/Problem"}
    found = {op["operationId"]: (path, method, op) for path, item in document["paths"].items()
             for method, op in item.items()}
    for registered in core.OPERATIONS:
        path, method, op = found[registered.name]
        assert path == core.PREFIX + registered.path and method == registered.method.lower()
        assert op["summary"] == registered.summary and op["tags"] == [registered.kind]
        if registered.kind == "public":
            assert op["security"] == []
        else:
            assert op["security"] == [{f"{registered.kind}Key": []}]
            assert {"401", "403", "429"} <= set(op["responses"])
            assert "Retry-After" in op["responses"]["429"]["headers"]
        for status in registered.errors:
            assert op["responses"][str(status)]["content"] == {
                "application/problem+json": {"schema": problem}}
        success = op["responses"][str(registered.status)]
        if registered.status == 204:
            assert "content" not in success
        if registered.body is not None:
            assert op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        for name in path.split("{")[1:]:
            assert {"name": name.split("}")[0], "in": "path"}.items() <= \
                next(p for p in op["parameters"] if p["in"] == "path").items()
    for public in ("/api/v1/log/checkpoint", "/api/v1/log/entries",
                   "/api/v1/log/proof/inclusion", "/api/v1/log/proof/consistency",
                   "/.well-known/portal-keys.json", "/healthz"):
        assert document["paths"][public]["get"]["tags"] == ["public"]
    problem_schema = document["components"]["schemas"]["Problem"]
    assert set(problem_schema["required"]) == {"type", "title", "status", "detail"}
    assert document["paths"]["/api/v1/log/entries"]["get"]["parameters"][0]["name"] == "start"


@pytest.fixture
def fuzz_app(settings):  # type: ignore[no-untyped-def]
    """The application with a rate limit schemathesis cannot reach."""
    app = create_app(settings.model_copy(update={"rate_limit": "100000/minute"}))
    yield app
    app.state.engine.dispose()


def _headers(kind: str, keys: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {keys[kind]}"} if kind in keys else {}


def _fuzz(operation: Any, headers: dict[str, str]) -> None:
    """Schemathesis' valid and invalid requests for one operation, each answer checked."""
    strategy = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                         operation.as_strategy(GenerationMode.NEGATIVE))
    post = operation.method.upper() == "POST"

    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy, idempotency=st.booleans())
    def run(case: Any, idempotency: bool) -> None:
        sent = dict(headers)
        if idempotency and post:
            sent["Idempotency-Key"] = "fuzz-key"
        case.call_and_validate(headers=sent, checks=CHECKS)

    run()


def test_schemathesis_finds_every_answer_documented(fuzz_app, session, approved) -> None:
    platform = Platform(fuzz_app, session, "Fuzz platform")
    authority = Platform(fuzz_app, session, "Fuzz authority", kind="authority")
    keys = {"platform": platform.key, "authority": authority.key}
    kinds = {op.name: op.kind for op in core.OPERATIONS}
    with TestClient(fuzz_app):
        schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", fuzz_app)
    schema.validate()
    failures: list[str] = []
    tested = []
    for result in schema.get_all_operations():
        operation = result.ok()
        kind = kinds.get(operation.definition.raw.get("operationId"), "public")
        tested.append(operation.label)
        try:
            _fuzz(operation, _headers(kind, keys))
        except Exception as exc:  # every operation's failure, not only the first
            failures.append(f"{operation.label}: {exc}")
    assert len(tested) == len(core.OPERATIONS) + 6
    assert not failures, "\n\n".join(failures)


def test_real_answers_match_the_document(fuzz_app, session, approved) -> None:
    """Beyond what random input reaches: a real registration, real log entries and proofs."""
    number, _moderator = approved
    platform = Platform(fuzz_app, session, "Checker")
    with TestClient(fuzz_app) as http:
        schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", fuzz_app)
        checkpoint = http.get("/api/v1/log/checkpoint").json()
        size = checkpoint["tree_size"]
        assert size >= 1
        calls = [
            ("GET", "/api/v1/registrations/{number}", {"number": number}, None, platform.key),
            ("POST", "/api/v1/registrations/verify", {}, {"numbers": [number, "LR-NOPE"]},
             platform.key),
            ("GET", "/api/v1/events", {}, None, platform.key),
            ("GET", "/api/v1/log/checkpoint", {}, None, None),
            ("GET", "/api/v1/log/entries", {"start": 0, "end": size}, None, None),
            ("GET", "/api/v1/log/proof/inclusion", {"index": 0, "tree_size": size}, None, None),
            ("GET", "/api/v1/log/proof/consistency", {"first": 1, "second": size}, None, None),
            ("GET", "/.well-known/portal-keys.json", {}, None, None),
            ("GET", "/healthz", {}, None, None),
        ]
        for method, path, params, body, key in calls:
            operation = schema[path][method]
            path_params = {k: v for k, v in params.items() if "{" + k + "}" in path}
            query = {k: v for k, v in params.items() if k not in path_params}
            kwargs: dict[str, Any] = {"path_parameters": path_params, "query": query or None}
            if body is not None:
                kwargs["body"] = body
            case = operation.Case(**kwargs)
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            response = case.call_and_validate(headers=headers, checks=CHECKS)
            assert response.status_code == 200, (path, response.text)


def test_the_reference_page_lists_every_operation(client) -> None:
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    soup = BeautifulSoup(page.text, "html.parser")
    headings = {h.get("id"): h.get_text(" ", strip=True) for h in soup.find_all("h3")}
    for op in core.OPERATIONS:
        assert headings[op.name] == f"{op.method} {core.PREFIX}{op.path}"
    assert "GET /api/v1/log/entries" in headings.values()
    assert "GET /healthz" in headings.values()
    verify = soup.find(id="verify_registrations").find_parent("article")
    cells = [td.get_text(strip=True) for td in verify.find_all("td")]
    assert "numbers" in cells and "results[].valid" in cells
    assert not soup.find("script", src=lambda s: s and "reference" in s)
    chinese = client.get("/api/v1/docs", headers={"Accept-Language": "zh-CN"})
    assert BeautifulSoup(chinese.text, "html.parser").html["lang"] == "zh-Hans"
    footer = BeautifulSoup(client.get("/").text, "html.parser").find("footer")
    assert footer.find("a", href="/api/v1/docs")


def test_integers_beyond_i_json_are_refused(platform) -> None:
    """The framework refuses integers no JSON reader or database column can hold (RFC 7493)."""
    response = platform.get("/events", params={"after": str(2**63)})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == ["after"]
    assert platform.get("/events", params={"after": str(core.SAFE_INTEGER)}).status_code == 200
    assert core.unsafe_integer({"a": [1, {"b": -(2**60)}], "c": True}, "") == "a.1.b"
    assert core.unsafe_integer({"a": [1, 2**53 - 1], "b": "9" * 30}, "") is None
    document = platform.http.get("/api/v1/openapi.json").json()
    after = document["components"]["schemas"]["EventsQuery"]["properties"]["after"]
    assert (after["minimum"], after["maximum"]) == (0, core.SAFE_INTEGER)
