"""The auditor's dashboard (SVG charts with their tables) and the chart module itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bs4 import BeautifulSoup
from sqlalchemy import update

from portal.accounts import User
from portal.base import charts
from portal.base.identity import CHINA_TZ
from portal.oversight import cases, enforcement
from portal.oversight.statistics import month_starts
from portal.registration.models import Registration, Submission
from tests.unit.conftest import staff_client
from tests.unit.http_wizard import fresh

staff = staff_client


def tables(html: str) -> dict[str, dict[str, list[int]]]:
    """Every figure's table: {key: {row label: [numbers]}}."""
    page = BeautifulSoup(html, "html.parser")
    out = {}
    for table in page.select("table[id^=table-]"):
        out[table["id"][len("table-"):]] = {
            row.th.get_text(strip=True): [int(td.get_text(strip=True)) for td in row("td")]
            for row in table.select("tbody tr")
        }
    return out


def _sanction_and_case(app, session, number: str) -> None:  # type: ignore[no-untyped-def]
    registration = fresh(session, Registration, number=number)[0]
    moderator = fresh(session, User, email="mod@example.com")[0]
    enforcement.apply_sanction(session, registration=registration, actor=moderator,
                               kind="warning", facts="Claims not backed", reason="Misleading",
                               legal_basis="Art. 18", settings=app.state.settings)
    session.commit()
    cases.open_case(session, registration=registration, category="fake_data",
                    description="Bought followers", actor=moderator)
    session.commit()


def test_dashboard_draws_each_figure_with_its_numbers(approved, app, session) -> None:
    number, _moderator = approved
    _sanction_and_case(app, session, number)
    with staff(app, session, "auditor@example.com") as auditor:
        response = auditor.get("/audit/dashboard")
    assert response.status_code == 200
    page = BeautifulSoup(response.text, "html.parser")
    svgs = page.select("svg[role=img]")
    assert len(svgs) == 6
    for svg in svgs:
        title, desc = svg["aria-labelledby"].split()
        assert svg.find("title", id=title).text and svg.find("desc", id=desc).text
        assert not svg.select("script")
        assert not [a for el in svg.find_all(True) for a in el.attrs if a.startswith("on")]
    assert all(t.caption and t.caption.text for t in page.select("table"))
    assert len(page.select(".table-wrap table")) == 6

    figures = tables(response.text)
    assert figures["states"]["Approved"] == [1]
    assert sum(n for (n,) in figures["states"].values()) == 1
    assert list(figures["months"].values())[-1] == [1, 1]  # this month: submitted, approved
    assert sum(r[0] for r in figures["months"].values()) == 1
    assert figures["waits"]["Under 1 day"] == [1]
    assert figures["sanctions"]["Warning"] == [1]
    assert sum(n for (n,) in figures["sanctions"].values()) == 1
    assert figures["risk"]["Low"] == [1]
    assert figures["cases"]["Faked sales, followers or views"] == [1]
    # The chart states the same numbers as the table.
    states_chart = page.select_one("#chart-states")
    assert "Approved: 1" in states_chart.find("desc").text
    assert "Approved" in [t.text for t in states_chart("text")]


def test_approval_time_counts_from_the_submission_decided(approved, app, session) -> None:
    number, _moderator = approved
    registration = fresh(session, Registration, number=number)[0]
    submitted = fresh(session, Submission, registration_id=registration.id)[0].submitted_at
    session.execute(update(Submission).where(Submission.registration_id == registration.id)
                    .values(submitted_at=submitted - timedelta(days=5)))
    session.commit()
    with staff(app, session, "auditor@example.com") as auditor:
        response = auditor.get("/audit/dashboard")
    figures = tables(response.text)
    assert figures["waits"]["3 to 7 days"] == [1]
    assert figures["waits"]["Under 1 day"] == [0]
    assert "Average: 5.0 days." in response.text


def test_a_provincial_auditor_counts_only_their_region(approved, app, session) -> None:
    number, _moderator = approved  # a Beijing (11) registration
    _sanction_and_case(app, session, number)
    with staff(app, session, "zj@example.com", jurisdiction="33") as zhejiang:
        response = zhejiang.get("/audit/dashboard")
    assert response.status_code == 200
    assert "Zhejiang" in response.text
    for key, rows in tables(response.text).items():
        assert all(n == 0 for numbers in rows.values() for n in numbers), key
    with staff(app, session, "bj@example.com", jurisdiction="11") as beijing:
        figures = tables(beijing.get("/audit/dashboard").text)
    assert figures["states"]["Approved"] == [1] and figures["sanctions"]["Warning"] == [1]


def test_only_auditors_and_admins_see_the_dashboard(approved, app, session, client) -> None:
    _number, moderator = approved
    assert moderator.get("/audit/dashboard").status_code == 403
    assert client.get("/audit/dashboard").status_code == 403
    with staff(app, session, "admin@example.com", role="admin") as admin:
        assert admin.get("/audit/dashboard").status_code == 200


# --- the chart module -------------------------------------------------------------------------


def test_bar_chart_is_accessible_and_escapes_its_text() -> None:
    svg = str(charts.bar_chart(chart_id="c", title="Cases <b>", desc="About",
                               bars=[("<script>alert(1)</script>", 3), ("Other", 0)]))
    page = BeautifulSoup(svg, "html.parser")
    root = page.svg
    assert root["role"] == "img" and root["aria-labelledby"] == "c-title c-desc"
    assert page.find("title", id="c-title").text == "Cases <b>"
    assert "<script>: " not in page.find("desc").text
    assert "<script>alert" not in svg and "&lt;script&gt;" in svg
    assert [t.text for t in page("text")] == ["<script>alert(1)</script>", "3", "Other", "0"]


def test_line_chart_marks_series_by_shape_and_dash() -> None:
    svg = BeautifulSoup(str(charts.line_chart(
        chart_id="m", title="Months", desc="", labels=["Jan", "Feb", "Mar"],
        series=[charts.Series("A", [0, 7, 3]), charts.Series("B", [1, 1, 0])])), "html.parser")
    lines = svg("polyline")
    assert len(lines) == 2 and lines[1].get("stroke-dasharray")
    assert len(svg("circle")) == 1 + 3 and len(svg("rect")) == 1 + 3  # legend + points
    assert "A: Jan 0, Feb 7, Mar 3; B: Jan 1, Feb 1, Mar 0" in svg.find("desc").text
    ticks = [t.text for t in svg("text") if t.get("text-anchor") == "end"]
    assert ticks[0] == "0" and ticks[-1] == "10"  # a round top above the highest value
    empty = str(charts.line_chart(chart_id="e", title="E", desc="", labels=[], series=[]))
    assert "<svg" in empty


def test_nice_max_and_month_starts() -> None:
    assert [charts.nice_max(v) for v in (0, 1, 3, 7, 10, 11, 420)] == [1, 1, 5, 10, 10, 20, 500]
    # 17:00 UTC on 31 January is already 1 February in China.
    starts = month_starts(datetime(2026, 1, 31, 17, 0, tzinfo=UTC))
    assert len(starts) == 13
    assert starts[0] == datetime(2025, 3, 1, tzinfo=CHINA_TZ)
    assert starts[-2] == datetime(2026, 2, 1, tzinfo=CHINA_TZ)
    assert starts[-1] == datetime(2026, 3, 1, tzinfo=CHINA_TZ)
