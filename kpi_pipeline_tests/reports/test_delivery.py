"""Report delivery: a report run's pages reach an SMTP server on loopback, and Slack.

The SMTP server is aiosmtpd on 127.0.0.1; Slack is the loopback Web API of the alert
tests. The headline numbers in the mail are checked against the stored KPI rows, read
here in plain SQL and formatted by hand.
"""

from __future__ import annotations

import email
import socket
from email import policy
from pathlib import Path

import dagster as dg
import pytest
from aiosmtpd.controller import Controller

from kpi_pipeline.defs.alerts.notifiers import LogNotifier
from kpi_pipeline.defs.reports.assets import report_monthly, report_weekly
from kpi_pipeline.defs.reports.delivery import ReportDelivery, report_delivery_sensor
from kpi_pipeline.lib.reports.delivery import DeliveryError, find_chromium, load_plan
from kpi_pipeline_tests.ops.test_alerts import SlackApi, slack  # noqa: F401 (fixture)
from kpi_pipeline_tests.reports.conftest import REPORT_MONTH, REPORT_WEEK

PLAN = """
from: reports@example.com
everyone: [lead@example.com]
pages:
  goal_scorecard: [cmo@example.com]
slack: {slack}
pdf: {pdf}
"""


class Inbox:
    """An aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), email.message_from_bytes(
            envelope.content, policy=policy.default)))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def inbox():
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield handler, controller.port
    controller.stop()


def plan_file(tmp_path: Path, to_slack: bool = False, pdf: bool = False) -> Path:
    path = tmp_path / "delivery.yaml"
    path.write_text(PLAN.format(slack=str(to_slack).lower(), pdf=str(pdf).lower()))
    return path


def tick(instance, delivery, notifier, settings, cursor=None):
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources={
            "delivery": delivery, "notifier": notifier, "settings": settings}) as context:
        result = report_delivery_sensor(context)
        return result, context.cursor


def render(asset, report_store, out: Path, instance, **kwargs):
    assert dg.materialize([asset], resources=report_store.resources(out), instance=instance,
                          **kwargs).success


def test_a_period_run_mails_each_page_with_its_headlines(report_store, tmp_path, inbox,
                                                          store_conn):
    handler, port = inbox
    instance = dg.DagsterInstance.ephemeral()
    out = tmp_path / "site"
    render(report_weekly, report_store, out, instance, partition_key=REPORT_WEEK.isoformat())
    delivery = ReportDelivery(plan_file=str(plan_file(tmp_path)), smtp_host="127.0.0.1",
                              smtp_port=port, smtp_starttls=False)
    settings = report_store.resources(out)["settings"]
    _, cursor = tick(instance, delivery, LogNotifier(), settings)
    by_subject = {m["Subject"]: (to, m) for to, m in handler.messages}
    assert "Weekly review: Week 16 2025 (14\u201320 Apr)" in by_subject
    to, message = by_subject["Weekly review: Week 16 2025 (14\u201320 Apr)"]
    assert to == ["lead@example.com"]
    scorecard = next(v for k, v in by_subject.items() if k.startswith("Goal scorecard"))
    assert scorecard[0] == ["lead@example.com", "cmo@example.com"]
    # the headline numbers, from the stored rows, formatted by hand
    (sessions,) = store_conn.execute(
        "SELECT value FROM kpi.weekly WHERE kpi = 'landing_page_sessions' AND scope = 'all' "
        "AND period_start = ?", [REPORT_WEEK]).fetchone()
    (engagement,) = store_conn.execute(
        "SELECT value FROM kpi.weekly WHERE kpi = 'engagement_rate' AND scope = 'all' "
        "AND period_start = ?", [REPORT_WEEK]).fetchone()
    body = message.get_body(("html",)).get_content()
    assert f"Landing-page sessions from social: {sessions:,.0f}" in body
    assert f"Engagement rate: {engagement * 100:.1f} %" in body
    attached = {part.get_filename(): part for part in message.iter_attachments()}
    assert set(attached) == {"weekly_review.html"}
    page = (out / "week" / REPORT_WEEK.isoformat() / "weekly_review.html").read_bytes()
    assert attached["weekly_review.html"].get_payload(decode=True) == page
    # the same run is not delivered twice
    count = len(handler.messages)
    tick(instance, delivery, LogNotifier(), settings, cursor)
    assert len(handler.messages) == count


def test_a_range_run_is_not_mailed(report_store, tmp_path, inbox):
    handler, port = inbox
    instance = dg.DagsterInstance.ephemeral()
    out = tmp_path / "site"
    render(report_weekly, report_store, out, instance, tags={
        "dagster/asset_partition_range_start": "2025-04-07",
        "dagster/asset_partition_range_end": REPORT_WEEK.isoformat()})
    delivery = ReportDelivery(plan_file=str(plan_file(tmp_path)), smtp_host="127.0.0.1",
                              smtp_port=port, smtp_starttls=False)
    tick(instance, delivery, LogNotifier(), report_store.resources(out)["settings"])
    assert handler.messages == []


def test_a_failed_send_is_retried_on_a_later_tick_without_sending_twice(
        report_store, tmp_path, inbox, slack):  # noqa: F811 (the Slack fixture)
    handler, port = inbox
    instance = dg.DagsterInstance.ephemeral()
    out = tmp_path / "site"
    render(report_monthly, report_store, out, instance,
           partition_key=REPORT_MONTH.isoformat())
    settings = report_store.resources(out)["settings"]
    plan = str(plan_file(tmp_path, to_slack=True))
    down = ReportDelivery(plan_file=plan, smtp_host="127.0.0.1", smtp_port=free_port(),
                          smtp_starttls=False)
    result, cursor = tick(instance, down, slack, settings)
    assert "to retry" in result.skip_message and handler.messages == []
    up = ReportDelivery(plan_file=plan, smtp_host="127.0.0.1", smtp_port=port,
                        smtp_starttls=False)
    tick(instance, up, slack, settings, cursor)
    subjects = [m["Subject"] for _, m in handler.messages]
    assert len(subjects) == len(set(subjects)) > 0
    assert all(s.endswith("April 2025") for s in subjects)
    posted = [r["payload"]["text"] for r in SlackApi.received]
    assert len(posted) == len(subjects)
    assert any(text.startswith("[report] Monthly review: April 2025:") for text in posted)


@pytest.mark.skipif(find_chromium() is None, reason="no Chromium to print PDFs with")
def test_the_pdf_is_printed_by_chromium(report_store, tmp_path, inbox):
    handler, port = inbox
    instance = dg.DagsterInstance.ephemeral()
    out = tmp_path / "site"
    render(report_weekly, report_store, out, instance, partition_key=REPORT_WEEK.isoformat())
    delivery = ReportDelivery(plan_file=str(plan_file(tmp_path, pdf=True)),
                              smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False)
    tick(instance, delivery, LogNotifier(), report_store.resources(out)["settings"])
    message = next(m for _, m in handler.messages if m["Subject"].startswith("Weekly review"))
    pdf = next(p for p in message.iter_attachments() if p.get_filename().endswith(".pdf"))
    assert pdf.get_payload(decode=True).startswith(b"%PDF")


def test_a_bad_delivery_file_names_the_file_and_field(tmp_path):
    path = tmp_path / "delivery.yaml"
    path.write_text("from: not-an-address\neveryone: [a@example.com]\n")
    with pytest.raises(DeliveryError, match=r"delivery file .*delivery.yaml: field 'from'"):
        load_plan(path)


def test_a_partial_report_says_so_in_the_subject_and_the_body(tmp_path):
    """A period published as a partial report (asked for: the data covers it only partly)
    must not reach an inbox looking like the whole period."""
    from kpi_pipeline.lib.kpis.catalog import catalog
    from kpi_pipeline.lib.reports.delivery import PageDelivery, build_message

    page = tmp_path / "weekly_review.html"
    page.write_text("<html></html>", encoding="utf-8")
    headlines = ((catalog()["landing_page_sessions"], 1234.0),)
    whole = PageDelivery("weekly_review", "Weekly review", "Week 1 2025", page, headlines)
    partial = PageDelivery("weekly_review", "Weekly review", "Week 1 2025", page, headlines,
                           partial=True)
    assert whole.subject == "Weekly review: Week 1 2025"
    assert partial.subject == "Weekly review: Week 1 2025 (partial report)"
    for message, says in ((build_message(whole, "r@example.com", ["a@example.com"], "USD"),
                           False),
                          (build_message(partial, "r@example.com", ["a@example.com"], "USD"),
                           True)):
        text = message.get_body(("plain",)).get_content()
        assert ("Partial report: the data covers this period only partly" in text) is says
        assert "Landing-page sessions from social: 1,234" in text
