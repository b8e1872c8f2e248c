"""Delivery: after a report run, the period's pages go to their readers' inboxes and Slack.

``report_delivery_sensor`` follows the materializations of ``report/weekly`` and
``report/monthly``. A run that rendered one period (the run the automation sensor
launches when a period closes, or one started by hand) is delivered: each page to the
recipients the delivery file names (``lib/reports/delivery.py``), and, with ``slack:
true``, a line per page through the alert notifier. A run over a range of periods (a
backfill, ``make run``) is not mailed: it rebuilds history nobody waits for.

It is switched on by configuration: setting ``KPI_PIPELINE_DELIVERY`` to a delivery file
starts it with the code location (otherwise it is off until switched on in the UI). A
failed send is retried on the next ticks, up to ``MAX_TRIES`` for one run, pages already
sent are not sent again, and a sensor never blocks a run: the pipeline goes on whatever
the mail server does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import unquote, urlparse

import dagster as dg
from pydantic import Field

from kpi_pipeline.defs.alerts.notifiers import Notifier
from kpi_pipeline.defs.resources import Settings
from kpi_pipeline.defs.settings import (
    DELIVERY,
    SMTP_HOST,
    SMTP_PASSWORD,
    SMTP_PORT,
    SMTP_STARTTLS,
    SMTP_USER,
)
from kpi_pipeline.lib.alerts import Alert
from kpi_pipeline.lib.core.periods import period_last_day
from kpi_pipeline.lib.kpis.catalog import catalog
from kpi_pipeline.lib.reports.delivery import (
    DeliveryError,
    PageDelivery,
    SmtpServer,
    build_message,
    find_chromium,
    headline_values,
    load_plan,
    print_pdf,
    slack_text,
)
from kpi_pipeline.lib.reports.formats import period_label
from kpi_pipeline.lib.reports.pages import load_pages

REPORTS = {dg.AssetKey(["report", "weekly"]): "week",
           dg.AssetKey(["report", "monthly"]): "month",
           dg.AssetKey(["report", "quarterly"]): "quarter"}
MAX_TRIES = 5
RECORDS_PER_TICK = 20


class ReportDelivery(dg.ConfigurableResource):
    """Who receives the pages (the delivery file) and the SMTP server that sends them."""

    plan_file: str = Field(default="", description=f"The delivery file "
                           f"(${DELIVERY.name}); empty: nothing is sent.")
    smtp_host: str = Field(default=SMTP_HOST.default,
                           description=f"SMTP server (${SMTP_HOST.name}).")
    smtp_port: int = Field(default=int(SMTP_PORT.default),
                           description=f"SMTP port (${SMTP_PORT.name}).")
    smtp_starttls: bool = Field(default=True, description="Upgrade with STARTTLS "
                                f"(${SMTP_STARTTLS.name}).")
    smtp_user: str = Field(default="", description=f"SMTP login (${SMTP_USER.name}).")
    smtp_password: str = Field(default="", description="SMTP password "
                               f"(${SMTP_PASSWORD.name}); bind it with dg.EnvVar.")

    def server(self) -> SmtpServer:
        return SmtpServer(self.smtp_host, self.smtp_port, self.smtp_starttls, self.smtp_user,
                          self.smtp_password)


def configured_delivery() -> ReportDelivery:
    """The delivery resource wired to its variables (the password through dg.EnvVar)."""
    return ReportDelivery(
        plan_file=DELIVERY.wired(), smtp_host=SMTP_HOST.wired(),
        smtp_port=int(SMTP_PORT.value()),
        smtp_starttls=SMTP_STARTTLS.value().strip().lower() in ("1", "true", "yes"),
        smtp_user=SMTP_USER.wired(), smtp_password=SMTP_PASSWORD.wired())


@dataclass
class DeliveryCursor:
    """Materializations handled up to ``after``; for the one being retried, its tries
    and the pages already sent."""

    after: int = 0
    tries: int = 0
    sent: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str | None) -> DeliveryCursor:
        return cls(**json.loads(text)) if text else cls()

    def dump(self) -> str:
        return json.dumps({"after": self.after, "tries": self.tries, "sent": self.sent})


def _pages_of(record: dg.EventLogRecord, grain: str) -> list[PageDelivery] | None:
    """The pages of a one-period run, None for a run over several periods (or a
    materialization without the report asset's metadata)."""
    metadata = record.asset_materialization.metadata
    window = metadata.get("partition_window")
    if window is None:  # not written by this project's report asset
        return None
    first, last = (date.fromisoformat(d) for d in str(window.value).split(".."))
    if period_last_day(first, grain) != last:
        return None
    kpis = catalog()
    specs = {spec.name: spec for spec in load_pages(kpis)}
    values = {name.split("/", 1)[1]: float(value.value) for name, value in metadata.items()
              if name.startswith("headline/")}
    partial = "partial_periods" in metadata and \
        first.isoformat() in (metadata["partial_periods"].value or [])
    pages = []
    for name, value in metadata.items():
        if not name.startswith("page/") or name[5:] not in specs:
            continue
        spec = specs[name[5:]]
        pages.append(PageDelivery(spec.name, spec.title, period_label(first, grain),
                                  Path(unquote(urlparse(str(value.value)).path)),
                                  headline_values(kpis, spec.headlines, values), partial))
    return pages


def _new_records(instance: dg.DagsterInstance, after: int) -> list[tuple[dg.EventLogRecord,
                                                                          str]]:
    """Report materializations after ``after``, oldest first, the newest of each run."""
    found: dict[str, tuple[dg.EventLogRecord, str]] = {}
    for key, grain in REPORTS.items():
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, after_storage_id=after),
            limit=RECORDS_PER_TICK, ascending=True).records
        for record in records:  # a range run records one event per period, alike
            found[f"{record.run_id}/{key.to_user_string()}"] = (record, grain)
    return sorted(found.values(), key=lambda pair: pair[0].storage_id)


@dg.sensor(
    name="report_delivery_sensor",
    minimum_interval_seconds=120,
    description="Sends each report run's pages of one period by email to the recipients of "
                "the delivery file ($KPI_PIPELINE_DELIVERY) and, if asked, to Slack. Range "
                "runs (backfills) are not sent; failed sends are retried on later ticks.",
    default_status=(dg.DefaultSensorStatus.RUNNING if DELIVERY.is_set()
                    else dg.DefaultSensorStatus.STOPPED),
)
def report_delivery_sensor(context: dg.SensorEvaluationContext, delivery: ReportDelivery,
                           notifier: Notifier, settings: Settings) -> dg.SkipReason:
    if not delivery.plan_file:
        return dg.SkipReason(f"no delivery file: set ${DELIVERY.name}")
    try:
        plan = load_plan(delivery.plan_file)
    except DeliveryError as exc:
        return dg.SkipReason(str(exc))
    cursor = DeliveryCursor.parse(context.cursor)
    chromium = find_chromium() if plan.pdf else None
    done = 0
    for record, grain in _new_records(context.instance, cursor.after):
        pages = _pages_of(record, grain)
        if pages is None:
            context.log.info(f"run {record.run_id}: a range of periods, not delivered")
        for page in pages or []:
            if page.name in cursor.sent:
                continue
            recipients = plan.recipients(page.name)
            try:
                if recipients:
                    delivery.server().send(build_message(
                        page, plan.sender, recipients, settings.reporting_currency,
                        print_pdf(page.path, chromium)))
                if plan.slack:
                    notifier.send(Alert("report", page.subject, slack_text(
                        page, settings.reporting_currency, page.path.resolve().as_uri())))
            except Exception as exc:  # any failure: retried on a later tick
                cursor.tries += 1
                context.log.error(f"delivery of {page.subject} failed (try {cursor.tries} "
                                  f"of {MAX_TRIES}): {type(exc).__name__}: {exc}")
                if cursor.tries < MAX_TRIES:
                    context.update_cursor(cursor.dump())
                    return dg.SkipReason(f"{done} delivered; {page.subject} to retry")
                context.log.error(f"gave up on {page.subject} after {MAX_TRIES} tries")
            else:
                done += 1
                context.log.info(f"delivered {page.subject} to {len(recipients)} "
                                 f"recipient(s){' and Slack' if plan.slack else ''}")
            cursor.sent.append(page.name)
        cursor = DeliveryCursor(after=record.storage_id)
        context.update_cursor(cursor.dump())
    return dg.SkipReason(f"{done} page(s) delivered")



@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(sensors=[report_delivery_sensor],
                          resources={"delivery": configured_delivery()})
