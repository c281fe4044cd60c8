"""Screening compares what people see (DESIGN §5): a zero-width space, a full-width letter or a
capital hides no banned term and no name; names and handles refuse invisible characters."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.base.crypto import fold, name_key
from portal.base.settings import Settings
from portal.registration.screening import find_banned_terms
from tests.unit.http_wizard import (
    Wizard,
    field_errors,
    identity_files,
    identity_form,
    roles_form,
    verify_email,
)

INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u200e"]


def full_width(text: str) -> str:
    """The full-width form of every printable ASCII character (U+FF01–U+FF5E)."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


@st.composite
def disguised(draw: st.DrawFn, text: str) -> str:
    """The text with invisible characters slipped in, some ASCII letters upper-case, some
    characters full-width."""
    out = []
    for ch in text:
        if ch.isascii() and draw(st.booleans()):
            ch = ch.upper()  # ASCII only: "ı".upper() is "I", which folds to "i"
        if draw(st.booleans()):
            ch = full_width(ch)
        out.append(ch)
        if draw(st.booleans()):
            out.append(draw(st.sampled_from(INVISIBLE)))
    return "".join(out)


@given(data=st.data(), text=st.text(alphabet=st.characters(
    codec="utf-8", exclude_categories=("Cs", "Cf", "Cc", "Zl", "Zp"))))
def test_any_text_and_its_disguises_fold_alike(data: st.DataObject, text: str) -> None:
    assert fold(data.draw(disguised(text))) == fold(text)


@given(data=st.data(), term=st.sampled_from(["casino", "赌博", "counterfeit", "刷单"]),
       before=st.text(max_size=20), after=st.text(max_size=20))
def test_a_disguised_banned_term_is_found(data: st.DataObject, term: str, before: str,
                                          after: str) -> None:
    text = before + " " + data.draw(disguised(term)) + " " + after
    found = find_banned_terms(Settings(), {"bio": text})
    assert {"term": term, "where": "bio"} in found


@pytest.mark.parametrize(("typed", "plain"), [
    ("李\u200b四", "李四"), ("cas\u200bino_live", "casino_live"), ("赌\u200c博", "赌博"),
    ("ｃａｓｉｎｏ", "casino"), ("Ｌｉ  Ｗｅｉ", "li wei"),
])
def test_the_disguises_of_the_issue_fold_to_what_people_see(typed: str, plain: str) -> None:
    assert fold(typed) == fold(plain) == plain.casefold() and name_key(typed) == fold(plain)


@pytest.fixture
def wizard(client, auth, session) -> Wizard:  # type: ignore[no-untyped-def]
    auth.sign_up("applicant@example.com")
    verify_email(session, "applicant@example.com")
    return Wizard(client)


def test_names_and_handles_with_invisible_characters_are_refused(wizard) -> None:
    wizard.start()
    named = wizard.post("identity", identity_form(legal_name="李\u200b四"), identity_files())
    assert named.status_code == 422
    assert "invisible characters" in field_errors(named.text)["legal_name"]
    assert wizard.post("identity", identity_form(), identity_files()).status_code == 303
    handled = wizard.post("roles", roles_form(**{"channel-0-handle": "cas\u200bino_live"}))
    assert "invisible characters" in field_errors(handled.text)["channel-0-handle"]
