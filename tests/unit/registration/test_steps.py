"""One definition per wizard step (portal.registration.steps.DEFINITIONS): what the pages, the
save and the review read about a step comes from it."""

from __future__ import annotations

import re
from pathlib import Path

import portal
from portal.registration import steps
from tests.unit.factories import make_registration

TEMPLATES = Path(portal.__file__).parent.parent / "templates" / "apply"


def test_every_editable_step_has_one_definition_with_a_title() -> None:
    assert tuple(steps.DEFINITIONS) == steps.EDITABLE_STEPS
    assert all(step.name == name and str(step.title) for name, step in steps.DEFINITIONS.items())
    assert set(steps.STEP_TITLES) == {*steps.EDITABLE_STEPS, "review"}


def test_a_step_takes_the_files_its_page_asks_for() -> None:
    for name, step in steps.DEFINITIONS.items():
        page = (TEMPLATES / f"{name}.html").read_text(encoding="utf-8")
        asked = set(re.findall(r'forms\.file\("(\w+)"', page))
        if "qualification_field(code)" in page:  # one file per restricted product or topic
            assert set(step.uploads) == {f for f in step.uploads if f.startswith("qual")}
        else:
            assert asked == set(step.uploads), name


def test_the_rows_of_each_step_come_from_its_definition(session, settings) -> None:
    registration = make_registration(session, settings, status="submitted")
    answers = registration.answers
    for name, step in steps.DEFINITIONS.items():
        assert steps.summarize(answers, name) == (step.rows(answers[name]) if answers.get(name)
                                                  else [])
    identity = dict(steps.summarize(answers, "identity"))
    assert identity["ID number"] == answers["identity"]["id_number_masked"]
    assert answers["identity"]["id_number_masked"] and "id_number" not in answers["identity"]
    assert steps.summarize(answers, "review") == []
