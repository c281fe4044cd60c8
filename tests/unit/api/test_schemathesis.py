"""What `schemathesis run --checks all` does against /api/v1/openapi.json, in-process (ASGI),
with a platform key and with an authority key: every phase (examples, coverage, fuzzing and
the stateful links, such as a buyer entry created then deleted), every check, few examples so
that CI runs it in well under a minute. It must find nothing."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema
from schemathesis.engine.recorder import ScenarioRecorder
from schemathesis.openapi.checks import RejectedPositiveData
from starlette.testclient import TestClient

from portal.app import create_app
from tests.unit.conftest import Platform

MAX_EXAMPLES = 12
# Schema-valid requests that may still be refused with 422, because the rule depends on what
# JSON Schema cannot state: the log's current size, the clock, the check digits of an ID
# number, a registration number that exists. Each operation's description states the rule.
BEYOND_SCHEMA = {
    "GET /api/v1/log/entries": "the log's size; end - start at most 1000",
    "GET /api/v1/log/proof/inclusion": "the log's size",
    "GET /api/v1/log/proof/consistency": "the log's size",
    "POST /api/v1/blocklist/buyers": "an ID number's format and check digit; until ahead",
    "POST /api/v1/blocklist/check": "an ID number's format and check digit",
    "POST /api/v1/registrations/match": "an ID number's format and check digit",
    "POST /api/v1/violations": "a registration that exists; occurred_at not ahead",
    "POST /api/v1/audit/lookup": "an ID number's or a USCC's format and check digit",
    "POST /api/v1/audit/inspection-requests": "a platform that exists; a deadline ahead",
    "POST /api/v1/inspection-requests/{id}/answer": "a request of this platform that is open",
}


@pytest.fixture
def fuzz_app(settings):  # type: ignore[no-untyped-def]
    """The application with a rate limit schemathesis cannot reach."""
    app = create_app(settings.model_copy(update={"rate_limit": "100000/minute"}))
    yield app
    app.state.engine.dispose()


def _failures(recorder: ScenarioRecorder) -> list[str]:
    found = []
    for nodes in recorder.checks.values():
        for node in nodes:
            if node.failure_info is None:
                continue
            failure = node.failure_info.failure
            if (isinstance(failure, RejectedPositiveData) and failure.status_code == 422
                    and failure.operation in BEYOND_SCHEMA):
                continue
            interaction = recorder.interactions.get(failure.case_id or "")
            answer = interaction.response if interaction is not None else None
            found.append(f"{failure.operation}: {node.name}: {failure.title}\n  "
                         f"{failure.message}\n  {node.failure_info.code_sample}\n  "
                         f"-> {answer.status_code if answer else ''} "
                         f"{answer.content[:300] if answer else b''!r}")
    return found


def run_all_checks(app: Any, key: str) -> tuple[list[str], set[str]]:
    """Run every phase and check with ``key``; the failures found and the operations run."""
    config = SchemathesisConfig()
    project = config.projects.override
    project.update(headers={"Authorization": f"Bearer {key}"}, continue_on_failure=True)
    project.checks.update(included_check_names=["all"])
    # Text is Unicode: no lone surrogates (which I-JSON, and the API, refuse).
    project.generation.update(max_examples=MAX_EXAMPLES, deterministic=True, database="none",
                              codec="utf-8")
    project.seed = 20  # the same run each time
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app, config=config)
    failures: list[str] = []
    tested: set[str] = set()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
            failures.extend(_failures(event.recorder))
            tested.add(event.recorder.label)
        elif isinstance(event, events.NonFatalError | events.FatalError):
            failures.append(f"error: {getattr(event, 'info', event)}")
    return failures, tested


@pytest.mark.parametrize("kind", ["platform", "authority"])
def test_schemathesis_with_every_check_finds_nothing(fuzz_app, session, approved,
                                                      kind: str) -> None:
    client = Platform(fuzz_app, session, f"Schemathesis {kind}", kind=kind)
    with TestClient(fuzz_app):
        failures, tested = run_all_checks(fuzz_app, client.key)
    assert any("/blocklist/buyers" in label for label in tested)
    assert any("/audit/registrations" in label for label in tested)
    assert not failures, "\n\n".join(sorted(set(failures)))


def test_a_405_names_the_methods_of_the_path_as_written(platform) -> None:
    for path in ("/registrations/verify", "/registrations/match", "/blocklist/check"):
        answer = platform.http.request("OPTIONS", "/api/v1" + path)
        assert answer.status_code == 405
        assert answer.headers["allow"] == "POST"
        assert answer.headers["content-type"].startswith("application/problem+json")
    assert platform.http.put("/api/v1/blocklist/buyers/1").headers["allow"] == "DELETE"
    assert platform.get("/registrations/verify").status_code == 404  # a number, not found


def test_a_buyer_entry_just_created_can_be_deleted_once(platform) -> None:
    created = platform.post("/blocklist/buyers", {"buyer_ref": "b-1", "reason": "chargebacks"},
                            headers={"Idempotency-Key": "create-b-1"})
    assert created.status_code == 201
    entry = created.json()["id"]
    assert platform.delete(f"/blocklist/buyers/{entry}").status_code == 204
    assert platform.delete(f"/blocklist/buyers/{entry}").status_code == 404


def test_the_document_states_the_rules(client) -> None:
    document = client.get("/api/v1/openapi.json").json()
    schemas = document["components"]["schemas"]
    buyer = schemas["BuyerBlockRequest"]
    assert {"id_type", "id_number"} <= set(buyer["anyOf"][1]["required"])
    assert buyer["properties"]["buyer_ref"]["pattern"].startswith("^[^")
    assert "pattern" not in schemas["ProblemField"]["properties"]["field"]
    entries = document["paths"]["/api/v1/log/entries"]["get"]
    end = next(p for p in entries["parameters"] if p["name"] == "end")
    assert "≤ 1000" in end["description"] and "400" in entries["responses"]
    add = document["paths"]["/api/v1/blocklist/buyers"]["post"]["responses"]
    assert {"400", "415", "422"} <= set(add)
    number = document["paths"]["/api/v1/registrations/{number}"]["get"]["parameters"][0]
    assert number["schema"]["pattern"] == "^[^\\u0000-\\u001f\\u007f]*$"
