"""The goal scorecard page, rendered on the store the real chain built and read in
headless Chromium: every goal of the goals file listed, each row's numbers equal to
goal.attainment formatted independently, the script in a goal title shown as text."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

from kpi_pipeline.lib.kpis.catalog import catalog
from kpi_pipeline.lib.reports.formats import for_unit, kpi_change, kpi_value, num0, pct0
from kpi_pipeline.lib.reports.pages import pages_for
from kpi_pipeline.lib.reports.render import ReportPeriod, render_one
from kpi_pipeline_tests.reports.conftest import (
    REPORT_MONTH,
    REPORT_WEEK,
    SCRIPT,
    goals_context,
)

PAGE = "goal_scorecard"
GOAL_IDS = ["opt-ins-q2", "engagement-level", "sessions-up", "leads-weekly",
            "linkedin-impressions"]
GROUPS = {"achieved": "good", "on track": "good", "at risk": "risk", "off track": "bad",
          "missed": "bad"}


def render(conn, report_store, grain: str, start: date, out: Path) -> Path:
    """Render only this page for one period, with the goals context the assets build."""
    return render_one(conn, PAGE, ReportPeriod(grain, start), out, catalog(),
                      goals_context(conn, report_store)).path


def attainment(conn, goal_id: str, as_of: date) -> dict:
    cursor = conn.execute("SELECT * FROM goal.attainment WHERE goal_id = ? AND as_of = ?",
                          [goal_id, as_of])
    columns = [d[0] for d in cursor.description]
    row = cursor.fetchone()
    assert row is not None, f"no attainment for {goal_id} as of {as_of}"
    return dict(zip(columns, row, strict=True))


def goal_text(opened, goal_id: str) -> str:
    return opened.page.locator(f'tbody[data-goal="{goal_id}"]').inner_text()


def assert_clean(opened) -> None:
    assert opened.dialogs == []
    assert opened.console_errors == []
    assert opened.requests == []
    assert opened.page.locator("script").count() == 0


def assert_row_values(opened, row: dict) -> None:
    """The goal's row shows every number of its attainment row, formatted by its unit."""
    text = goal_text(opened, row["goal_id"])
    unit = row["unit"]
    for column in ("actual", "target", "expected_by_now", "projected", "baseline"):
        assert for_unit(row[column], unit, "USD") in text, (row["goal_id"], column, text)
    assert pct0(row["percent_of_target"]) in text
    assert num0(row["days_left"]) in text
    pill = opened.page.locator(f'tbody[data-goal="{row["goal_id"]}"] .status')
    assert pill.inner_text() == row["status"]
    assert pill.get_attribute("title") == row["status_rule"]
    assert f"status-{row['status'].replace(' ', '_')}" in pill.get_attribute("class")
    assert row["status_rule"] in text
    cell = opened.page.locator(f'tbody[data-goal="{row["goal_id"]}"] td[data-probability]')
    chance = row["probability"]
    shown = cell.inner_text()
    if chance is None:
        assert shown.strip() == pct0(None)
    else:
        assert float(cell.get_attribute("data-probability")) == chance
        words = ("> 99 %" if 0.99 < chance < 1 else "< 1 %" if 0 < chance < 0.01
                  else pct0(chance))
        assert shown.startswith(words), (row["goal_id"], shown)
        kpi = catalog()[row["kpi"]]
        assert (f"{kpi_value(row['end_p10'], kpi, 'USD')} to "
                f"{kpi_value(row['end_p90'], kpi, 'USD')}") in shown


def test_page_is_a_weekly_and_monthly_page():
    names = {grain: [p.name for p in pages_for(grain, catalog())] for grain in ("week", "month")}
    assert PAGE in names["week"] and PAGE in names["month"]


def test_weekly_scorecard_shows_each_goal_as_of_the_last_day(report_store, store_conn, tmp_path,
                                                            open_report):
    path = render(store_conn, report_store, "week", REPORT_WEEK, tmp_path)
    opened = open_report(path)
    assert_clean(opened)
    end = ReportPeriod("week", REPORT_WEEK).end
    text = opened.text()

    # every goal of the goals file, each in its own row, with its numbers as of Sunday
    rows = {goal_id: attainment(store_conn, goal_id, end) for goal_id in GOAL_IDS}
    assert opened.page.locator("tbody[data-goal]").count() == len(GOAL_IDS)
    for row in rows.values():
        assert row["goal_id"] in goal_text(opened, row["goal_id"])
        assert_row_values(opened, row)

    # headline counts by status group, with the period
    for group in ("good", "risk", "bad"):
        expected = sum(GROUPS.get(r["status"]) == group for r in rows.values())
        box = opened.page.locator(f'.big-value[data-status="{group}"]')
        assert box.locator(".number").inner_text() == str(expected)
    assert end.isoformat() in opened.page.locator('.big-value[data-status="good"]').inner_text()

    # a change target on a count says that actual and target are weekly run rates
    assert "weekly run rate" in goal_text(opened, "sessions-up")
    assert "a week" in goal_text(opened, "sessions-up")
    assert "share of the planned change" in text

    # leading indicators of a lagging goal: label, value, change, coloured by direction
    kpis = catalog()
    leading = json.loads(rows["opt-ins-q2"]["leading_indicators"])
    assert leading
    for item in leading:
        kpi = kpis[item["kpi"]]
        li = opened.page.locator(f'tbody[data-goal="opt-ins-q2"] li[data-kpi="{item["kpi"]}"]')
        assert li.count() == 1
        shown = li.inner_text()
        assert kpi.label in shown
        assert kpi_value(item["value"], kpi, "USD") in shown
        change = kpi_change(item["value"], item["previous"], kpi)
        assert f"({change.text})" in shown
        assert change.tone in li.get_attribute("class").split()
    # a share moves in points, pages per session reads as a number, not 246.9 %
    assert "(\u22120.1 pp)" in opened.page.locator(
        'tbody[data-goal="opt-ins-q2"] li[data-kpi="organic_click_through_rate"]').inner_text()
    pages = opened.page.locator(
        'tbody[data-goal="opt-ins-q2"] li[data-kpi="pages_per_session"]').inner_text()
    assert "%" not in pages.split("(")[0]

    # goals with 12 weeks of data behind them carry a probability and its interval
    assert any(r["probability"] is not None and 0 < r["probability"] < 1
               for r in rows.values()), rows
    assert "10th to 90th percentile" in text

    # the bar chart of percent of target with its 100 % line
    assert opened.page.locator("figure svg").count() == 1
    assert "100 % of target" in opened.page.locator("figure svg").text_content()


def test_goal_title_with_a_script_is_shown_as_text(report_store, store_conn, tmp_path,
                                                  open_report):
    path = render(store_conn, report_store, "week", REPORT_WEEK, tmp_path)
    raw = path.read_text(encoding="utf-8")
    assert "&lt;script&gt;" in raw
    assert "<script" not in raw
    opened = open_report(path)
    assert_clean(opened)
    assert SCRIPT in goal_text(opened, "opt-ins-q2")
    assert SCRIPT in opened.text()


def test_vanity_and_smart_warnings_are_listed(report_store, store_conn, tmp_path, open_report):
    opened = open_report(render(store_conn, report_store, "week", REPORT_WEEK, tmp_path))
    warnings = opened.page.locator('[data-section="goal-warnings"]').inner_text()
    assert "'linkedin-impressions'" in warnings
    assert "impressions is a vanity metric" in warnings
    assert "(vanity)" in goal_text(opened, "linkedin-impressions")


def test_monthly_scorecard_shows_final_status_of_goals_ending_that_day(
        report_store, store_conn, tmp_path, open_report):
    opened = open_report(render(store_conn, report_store, "month", REPORT_MONTH, tmp_path))
    assert_clean(opened)
    end = ReportPeriod("month", REPORT_MONTH).end
    for goal_id in GOAL_IDS:
        assert_row_values(opened, attainment(store_conn, goal_id, end))
    assert "April 2025" in opened.text()


def test_goals_ended_before_the_period_keep_their_last_row(report_store, store_conn, tmp_path,
                                                          open_report):
    """May 2025: the two April goals are over; they show their row of 30 April."""
    opened = open_report(render(store_conn, report_store, "month", date(2025, 5, 1), tmp_path))
    assert_clean(opened)
    for goal_id in ("opt-ins-q2", "linkedin-impressions"):
        last = store_conn.execute("SELECT max(as_of) FROM goal.attainment WHERE goal_id = ?",
                                  [goal_id]).fetchone()[0]
        assert last == date(2025, 4, 30)
        row = attainment(store_conn, goal_id, last)
        assert row["status"] in ("achieved", "missed")
        assert_row_values(opened, row)
        assert "attainment not computed later" not in goal_text(opened, goal_id)
    # the goals still running have no row past 30 April in this store: the page says so
    for goal_id in ("engagement-level", "sessions-up", "leads-weekly"):
        assert_row_values(opened, attainment(store_conn, goal_id, date(2025, 4, 30)))
        assert ("numbers as of 2025-04-30: attainment not computed later"
                in goal_text(opened, goal_id))
    assert "3 goals" in opened.page.locator('[data-section="stale"]').inner_text()


def test_goals_not_started_yet_say_when_they_start(report_store, store_conn, tmp_path,
                                                   open_report):
    """Week 9 of 2025 ends on 2 March: only the engagement goal has started."""
    week = date(2025, 2, 24)
    opened = open_report(render(store_conn, report_store, "week", week, tmp_path))
    assert_clean(opened)
    assert opened.page.locator("tbody[data-goal]").count() == len(GOAL_IDS)
    starts = {"opt-ins-q2": "2025-04-01", "sessions-up": "2025-04-01",
              "linkedin-impressions": "2025-04-01", "leads-weekly": "2025-03-03"}
    for goal_id, first_day in starts.items():
        assert f"starts on {first_day}" in goal_text(opened, goal_id)
    assert_row_values(opened, attainment(store_conn, "engagement-level",
                                         ReportPeriod("week", week).end))
    assert opened.page.locator('.big-value[data-status="other"] .number').inner_text() == "4"


def test_a_store_from_before_the_probability_still_renders(report_store, tmp_path, open_report):
    """A store whose goal.attainment predates the probability columns (not computed
    since): the page renders, the probability cells empty, until attainment runs again."""
    import duckdb

    from kpi_pipeline_tests.reports.conftest import goals_context as context_of

    old = tmp_path / "old.duckdb"
    shutil.copy(report_store.warehouse.database, old)
    with duckdb.connect(str(old)) as conn:
        for column in ("probability", "end_p10", "end_p90"):
            conn.execute(f"ALTER TABLE goal.attainment DROP COLUMN {column}")
    with duckdb.connect(str(old), read_only=True) as conn:
        path = render_one(conn, PAGE, ReportPeriod("week", REPORT_WEEK), tmp_path, catalog(),
                          context_of(conn, report_store)).path
    opened = open_report(path)
    assert_clean(opened)
    cells = opened.page.locator("td[data-probability]")
    assert cells.count() == len(GOAL_IDS)
    assert {cells.nth(i).inner_text().strip() for i in range(cells.count())} == {pct0(None)}
