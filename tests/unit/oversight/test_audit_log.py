"""The auditor's log explorer: checkpoint, entries, inclusion and consistency checks."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import pytest
from bs4 import BeautifulSoup
from starlette.testclient import TestClient

from portal.api.log import publish
from portal.base.db import session_scope, utcnow
from portal.ledger import tlog
from portal.records import certificates
from tests.unit.conftest import csrf_from, staff_client
from tests.unit.http_wizard import field_errors
from tests.unit.prg import shown_after

staff = staff_client


@pytest.fixture
def auditor(app, session, approved) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with staff(app, session, "auditor@example.com", "auditor") as client:
        yield client


def _append(app, count: int) -> None:  # type: ignore[no-untyped-def]
    """Entries appended, then published as the server's publisher does: the explorer shows
    the published checkpoint and never signs one itself."""
    with session_scope(app.state.engine, write=True) as session:
        for i in range(count):
            tlog.append(session, {"type": "key.rotated", "at": tlog.rfc3339(utcnow()),
                                  "kid": f"test-key-{i}"})
        session.commit()
    publish(app.state.engine, app.state.settings)


def _saved_checkpoint(auditor: TestClient) -> dict:  # type: ignore[type-arg]
    page = BeautifulSoup(auditor.get("/audit/log").text, "html.parser")
    return json.loads(page.select_one("#checkpoint-json").get_text())


def _check(auditor: TestClient, **data: str):  # type: ignore[no-untyped-def]
    """The explorer as shown after the check (post/redirect/get: the result, or the errors,
    once)."""
    token = csrf_from(auditor.get("/audit/log").text)
    posted = auditor.post("/audit/log/consistency", data={**data, "csrf_token": token})
    assert posted.headers["location"] == "/audit/log#consistency"
    return shown_after(auditor, posted)


def _verdict(html: str) -> str:
    box = BeautifulSoup(html, "html.parser").select_one("#consistency .tag")
    return box.get_text(strip=True) if box else ""


def test_explorer_shows_the_signed_checkpoint_and_an_included_entry(auditor, session) -> None:
    response = auditor.get("/audit/log")
    assert response.status_code == 200
    checkpoint = _saved_checkpoint(auditor)
    session.rollback()
    assert checkpoint["tree_size"] == tlog.size(session) >= 1
    assert certificates.verify_signature(checkpoint, certificates.public_keys(session))
    page = BeautifulSoup(response.text, "html.parser")
    assert "Verified" in page.select_one("#checkpoint-title").find_parent("section").text
    rows = page.select("#entries tbody tr")
    assert len(rows) == checkpoint["tree_size"]
    assert "Certificate issued" in page.select_one("#entries").text  # the type, in words

    looked = auditor.get("/audit/log?index=0")
    assert looked.status_code == 200
    lookup = BeautifulSoup(looked.text, "html.parser").select_one("#lookup")
    assert lookup.select_one(".tag").get_text(strip=True) == "Included"
    stored = tlog.entries(session, 0, 1)[0]
    assert stored["leaf_hash"] in lookup.text.replace("\u200b", "")
    assert '"type": "certificate.issued"' in lookup.select_one("pre").text


def test_entries_are_paged_newest_first(auditor, app) -> None:
    _append(app, 30)
    page = BeautifulSoup(auditor.get("/audit/log").text, "html.parser")
    indexes = [int(r.select_one("td").text) for r in page.select("#entries tbody tr")]
    assert indexes == sorted(indexes, reverse=True) and len(indexes) == 25
    older = page.find("a", string="Older entries")
    rest = BeautifulSoup(auditor.get(older["href"]).text, "html.parser")
    more = [int(r.select_one("td").text) for r in rest.select("#entries tbody tr")]
    assert more == list(range(min(indexes) - 1, -1, -1))
    assert rest.find("a", string="Newer entries") is not None


def test_a_saved_checkpoint_is_consistent_after_more_appends(auditor, app) -> None:
    saved = _saved_checkpoint(auditor)
    _append(app, 5)
    response = _check(auditor, checkpoint=json.dumps(saved))
    assert response.status_code == 200
    assert _verdict(response.text) == "Consistent"
    text = BeautifulSoup(response.text, "html.parser").select_one("#consistency").text
    assert "Signature" in text and "Failed" not in text
    # The same by hand: tree size and root hash only.
    by_hand = _check(auditor, tree_size=str(saved["tree_size"]), root_hash=saved["root_hash"])
    assert by_hand.status_code == 200 and _verdict(by_hand.text) == "Consistent"


def test_a_forged_checkpoint_is_not_consistent(auditor, app) -> None:
    saved = _saved_checkpoint(auditor)
    _append(app, 2)
    forged = {**saved, "root_hash": tlog.b64(hashlib.sha256(b"forged").digest())}
    response = _check(auditor, checkpoint=json.dumps(forged))
    assert response.status_code == 200
    assert _verdict(response.text) == "Not consistent"
    section = BeautifulSoup(response.text, "html.parser").select_one("#consistency").text
    assert "does not verify" in section  # the signature no longer matches the forged root
    by_hand = _check(auditor, tree_size=str(saved["tree_size"]),
                     root_hash=forged["root_hash"])
    assert _verdict(by_hand.text) == "Not consistent"
    # A genuine root at the wrong size does not pass either.
    wrong_size = _check(auditor, tree_size=str(saved["tree_size"] + 1),
                        root_hash=saved["root_hash"])
    assert _verdict(wrong_size.text) == "Not consistent"


BAD_INPUT = [
    ({"checkpoint": "not json at all"}, "checkpoint", "This is not JSON"),
    ({"checkpoint": "[1, 2]"}, "checkpoint", "a JSON object"),
    ({"checkpoint": '{"tree_size": 1}'}, "checkpoint", "lacks root_hash"),
    ({"checkpoint": '{"tree_size": "1", "root_hash": "x"}'}, "checkpoint", "whole number"),
    ({"checkpoint": '{"tree_size": 1, "root_hash": "not base64!"}'}, "checkpoint", "base64"),
    ({"checkpoint": json.dumps({"tree_size": 10**6, "root_hash": tlog.b64(bytes(32))})},
     "checkpoint", "the log's is only"),
    ({}, "checkpoint", "Paste a saved checkpoint"),
    ({"tree_size": "abc", "root_hash": tlog.b64(bytes(32))}, "tree_size", "whole number"),
    ({"tree_size": "1", "root_hash": "AAAA"}, "root_hash", "44 characters"),
    ({"tree_size": "999999", "root_hash": tlog.b64(bytes(32))}, "tree_size", "only"),
]


def test_bad_input_gets_a_message_next_to_the_field(auditor) -> None:
    for data, field, message in BAD_INPUT:
        response = _check(auditor, **data)
        errors = field_errors(response.text)
        assert message in errors.get(field, ""), (data, errors)
    for index, message in (("abc", "whole number"), ("-1", "whole number"),
                           ("100000", "tree size")):
        response = auditor.get(f"/audit/log?index={index}")
        assert response.status_code == 422
        assert message in field_errors(response.text)["index"]


def test_only_auditors_and_admins_see_the_log(app, session, approved, client) -> None:
    _number, moderator = approved
    assert moderator.get("/audit/log").status_code == 403
    assert client.get("/audit/log").status_code == 403  # the applicant
    token = csrf_from(moderator.get("/review").text)
    assert moderator.post("/audit/log/consistency",
                          data={"csrf_token": token}).status_code == 403
    with staff(app, session, "admin@example.com", "admin") as admin:
        assert admin.get("/audit/log").status_code == 200
    with TestClient(app, follow_redirects=False) as visitor:
        assert visitor.get("/audit/log").status_code == 303


def test_reading_the_explorer_signs_nothing(auditor, app, session) -> None:
    """The explorer shows the published checkpoint: entries appended since are listed by the
    next publication, and a page view adds no checkpoint."""
    before = _saved_checkpoint(auditor)
    with session_scope(app.state.engine, write=True) as writer:
        tlog.append(writer, {"type": "key.rotated", "at": tlog.rfc3339(utcnow()), "kid": "k"})
        writer.commit()
    assert _saved_checkpoint(auditor) == before
    session.rollback()
    assert tlog.latest_checkpoint(session) == before, "no checkpoint was signed by a read"
    publish(app.state.engine, app.state.settings)
    assert _saved_checkpoint(auditor)["tree_size"] == before["tree_size"] + 1
