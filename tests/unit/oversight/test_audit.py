"""Jurisdiction, search and the integrity check behind the auditor's console and API."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, update
from sqlalchemy.dialects import sqlite
from sqlmodel import select

from portal.base import jurisdictions
from portal.base.errors import FormErrors, NotFound
from portal.ops.migrate import fill_registry
from portal.oversight import auditing
from portal.records import registry
from portal.registration.attestations import Attestation
from portal.registration.models import Registration
from tests.unit.http_wizard import fresh


def test_jurisdictions_parse() -> None:
    assert jurisdictions.parse_jurisdiction("national") is None
    assert jurisdictions.parse_jurisdiction(" 3301, 33 ,44") == ("33", "3301", "44")
    for bad in ("3", "abc", "33;DROP TABLE", "123"):
        with pytest.raises(FormErrors):
            jurisdictions.parse_jurisdiction(bad)
    assert jurisdictions.covers("national", "11") and jurisdictions.covers("11", "11")
    assert not jurisdictions.covers("33", "11") and not jurisdictions.covers("3301", "33")
    assert not jurisdictions.covers("garbage!", "11")  # a broken setting sees nothing


def test_search_is_limited_to_the_jurisdiction(approved, session) -> None:
    number, _moderator = approved  # a Beijing (11) resident
    everything = auditing.Filters()
    assert [r.number for r in auditing.search(session, "national", everything).items] == [number]
    assert [r.number for r in auditing.search(session, "11", everything).items] == [number]
    assert auditing.search(session, "33,44", everything).items == []
    assert auditing.count(session, "33", everything) == 0
    with pytest.raises(NotFound):
        auditing.registration_for(session, "33", number)
    assert auditing.registration_for(session, "11", number).number == number


def test_search_terms_and_filters(approved, session) -> None:
    number, _moderator = approved

    def found(**filters: object) -> list[str]:
        return [r.number for r in auditing.search(session, "national",
                                                  auditing.Filters(**filters)).items]  # type: ignore[arg-type]

    assert found(q=number) == [number] and found(q=number[:4]) == [number]
    assert found(q="张三") == [number] and found(q="ZHANGSAN_live") == [number]
    assert found(q="李四") == [] and found(q="%") == [] and found(q="n%l") == []
    # A word typed starts a word of the names, USCC or handles ("_" and "%" are only text).
    assert found(q="zhang") == [number] and found(q="live") == [number]
    assert found(q="zhangsan_") == [number] and found(q="zhangsan%") == []
    assert found(q="angsan") == [] and found(q="n_l") == []
    assert found(q="张三 zhang") == [number] and found(q="张三 wang") == []
    assert found(q="' OR 1=1 --") == [] and found(q="<script>") == []
    assert found(status="approved", role="streamer", risk_level="low") == [number]
    assert found(status="revoked") == [] and found(role="merchant") == []
    assert found(subject_kind="organization") == []


def test_keyset_pages(approved, session) -> None:
    number, _moderator = approved
    page = auditing.search(session, "national", auditing.Filters(), limit=1)
    assert [r.number for r in page.items] == [number] and page.next_after is None
    assert auditing.search(session, "national", auditing.Filters(), after=number).items == []


def test_integrity_green_then_red_when_an_answer_is_altered(approved, session) -> None:
    registration = fresh(session, Registration)[0]
    result = auditing.integrity(session, registration)
    assert result.ok, result.first_problem
    attestation = fresh(session, Attestation)[0]
    tampered = {**attestation.data, "site_security": "tampered"}
    session.execute(update(Attestation).where(Attestation.id == attestation.id)  # type: ignore[arg-type]
                    .values(data=tampered))
    session.commit()
    result = auditing.integrity(session, fresh(session, Registration)[0])
    assert not result.ok
    assert "attestation" in result.first_problem and "altered" in result.first_problem


def test_integrity_red_when_the_current_answers_differ(approved, session) -> None:
    registration = fresh(session, Registration)[0]
    answers = dict(registration.answers)
    answers["identity"] = {**answers["identity"], "legal_name": "李四"}
    session.execute(update(Registration).where(Registration.id == registration.id)  # type: ignore[arg-type]
                    .values(answers=answers))
    session.commit()
    result = auditing.integrity(session, fresh(session, Registration)[0])
    assert not result.ok and "no longer match" in result.first_problem


def test_search_terms_of_chinese_names_handles_and_codes() -> None:
    terms = registry.terms("杭州星辰电子商务有限公司 王伟强 xiaomei_520 91330100MA27ABCD1X")
    # Every ending of a Chinese word of two or more characters: "星辰" starts one of them.
    assert {"杭州星辰电子商务有限公司", "星辰电子商务有限公司", "有限公司", "伟强"} <= terms
    assert "司" not in terms and "强" not in terms
    # Handles by their parts, codes lower-cased whole.
    assert {"xiaomei_520", "xiaomei", "520", "91330100ma27abcd1x"} <= terms
    assert registry.terms("") == set() and registry.terms("   ") == set()
    assert all(len(t) <= registry.TERM_LENGTH for t in registry.terms("a" * 300 + " " + "中" * 300))


def test_terms_written_after_an_upgrade_that_adds_them(approved, session, settings) -> None:
    number, _moderator = approved
    session.execute(delete(registry.RegistryTerm))
    session.commit()
    assert auditing.search(session, "national", auditing.Filters(q="张三")).items == []
    session.rollback()  # end the read, so the next one sees what the upgrade wrote
    fill_registry(settings.resolved_database_url)
    found = auditing.search(session, "national", auditing.Filters(q="张三")).items
    assert [r.number for r in found] == [number]


def test_counting_stops_at_the_cap(approved, session) -> None:
    assert auditing.count(session, "national", auditing.Filters(), cap=0) == 1
    assert auditing.count(session, "national", auditing.Filters(), cap=5) == 1
    assert auditing.count(session, "national", auditing.Filters(q="nobody")) == 0


def test_many_matches_read_along_the_number_index_with_the_same_results(approved, session
                                                                        ) -> None:
    number, _moderator = approved
    filters = auditing.Filters(region="11", submitted_from=datetime(2020, 1, 1, tzinfo=UTC))
    sql = str(select(registry.RegistryEntry.number).where(
        *auditing.search_conditions("11", filters, scan=True)).compile(dialect=sqlite.dialect()))
    assert "+registry.region" in sql and "+registry.submitted_at" in sql
    plain = str(select(registry.RegistryEntry.number).where(
        *auditing.search_conditions("11", filters)).compile(dialect=sqlite.dialect()))
    assert "+registry" not in plain
    for many in (False, True):
        assert [r.number for r in auditing.search(session, "11", filters, many=many).items] \
            == [number]
        assert auditing.search(session, "33", filters, many=many).items == []


def test_the_platform_lookup_reads_each_commit(approved, session, engine) -> None:
    import json

    number, _moderator = approved
    assert json.loads(registry.lookup(engine, number) or b"")["valid"] is True
    session.execute(update(registry.RegistryEntry)
                    .where(registry.RegistryEntry.number == number)  # type: ignore[arg-type]
                    .values(status="suspended"))
    session.commit()
    # The same thread's kept connection sees the commit made elsewhere.
    assert json.loads(registry.lookup(engine, number) or b"")["valid"] is False
    assert registry.lookup(engine, "LR-2026-0000000") is None
