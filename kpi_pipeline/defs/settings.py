"""Every environment variable the pipeline reads, with its default and meaning.

This is the one module that reads the environment (a test fails on any other): the rest
of the code location gets values from here, and ``lib`` gets them passed in. Most
variables reach a resource field through ``dg.EnvVar`` (``wired``), so the launchpad shows
where a value comes from and Dagster reads it when a run starts; a few decide what the
definitions are (which platforms resource, which notifier, the schedules' time zone) and
are read when the code location loads; a few tune a check or a rule and are read when
it runs.
An empty variable counts as unset.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import dagster as dg

from kpi_pipeline.lib.core.package_data import data_file
from kpi_pipeline.lib.normalized.quarantine import DEFAULT_THRESHOLD, THRESHOLD_ENV
from kpi_pipeline.lib.sources.api.connectors import CONNECTORS


@dataclass(frozen=True)
class Variable:
    """One environment variable: its name, the value used when it is unset, and what it
    means (the README's table says the same)."""

    name: str
    default: str
    meaning: str

    def is_set(self) -> bool:
        return bool(os.environ.get(self.name))

    def value(self) -> str:
        """The value now, else the default: for what is decided at load or run time."""
        return os.environ.get(self.name) or self.default

    def wired(self) -> str | dg.EnvVar:
        """For a resource field: ``dg.EnvVar`` when set (resolved when a run starts, and
        shown in the launchpad as coming from the variable), else the default."""
        return dg.EnvVar(self.name) if self.is_set() else self.default


START_DATE = Variable("KPI_PIPELINE_START_DATE", "2024-01-01",
                      "The first day the partitions hold (YYYY-MM-DD): each grain starts at "
                      "its period holding it (the Monday's week, the month, the quarter). "
                      "Set it earlier to compute periods an export file reaches back to. "
                      "Read when the code location loads.")
DUCKDB = Variable("KPI_PIPELINE_DUCKDB", "data/kpi_pipeline.duckdb",
                  "The DuckDB file every table lives in (the lock file sits beside it).")
STORE = Variable("KPI_PIPELINE_STORE", "",
                 "Where the tables live: empty for the DuckDB file (KPI_PIPELINE_DUCKDB), or "
                 "a PostgreSQL URL postgresql://user@host:port/database (no password in it) "
                 "for a store many processes on many machines share.")
STORE_PASSWORD = Variable("KPI_PIPELINE_STORE_PASSWORD", "",
                          "The PostgreSQL store's password (a secret: never logged).")
LANDING = Variable("KPI_PIPELINE_LANDING", "data/landing",
                   "The landing folder of the raw pulls: a path, or an fsspec URL "
                   "(s3://, gs://, file://) of a folder on object storage that pulls "
                   "and normalizations on other machines reach.")
EXPORTS = Variable("KPI_PIPELINE_EXPORTS", "data/exports",
                   "The drop folder of the platforms' export files and their exports.yaml.")
GA4_EXPORT = Variable("KPI_PIPELINE_GA4_EXPORT", "",
                      "The folder (or fsspec URL: s3://, gs://, file://) of GA4's "
                      "BigQuery event export files "
                      "(analytics_<property>/events_YYYYMMDD.json[.gz] or .parquet); the "
                      "demo writes its simulated export there (empty: ga4_export in the "
                      "landing folder).")
ATTRIBUTION_LOOKBACK_DAYS = Variable("KPI_PIPELINE_ATTRIBUTION_LOOKBACK_DAYS", "30",
                                     "Attribution: the days before a conversion whose "
                                     "sessions count as its touches (1..35).")
ATTRIBUTION_HALF_LIFE_DAYS = Variable("KPI_PIPELINE_ATTRIBUTION_HALF_LIFE_DAYS", "7",
                                      "Attribution: the time-decay model's half-life in whole "
                                      "days.")
LTV_WINDOW_DAYS = Variable("KPI_PIPELINE_LTV_WINDOW_DAYS", "180",
                           "Lifetime value: the days from a customer's first purchase (that "
                           "day included) whose purchases count in their cohort's lifetime "
                           "value (1..3660).")
META_ATTRIBUTION_WINDOWS = Variable("KPI_PIPELINE_META_ATTRIBUTION_WINDOWS", "7d_click,1d_view",
                                    "With api: the attribution windows Meta's ad conversions "
                                    "are asked in (action_attribution_windows), comma-"
                                    "separated.")
REPORTS = Variable("KPI_PIPELINE_REPORTS", "data/reports",
                   "The folder of the rendered HTML reports.")
GOALS = Variable("KPI_PIPELINE_GOALS", str(data_file("goals.example.yaml")),
                 "The goals YAML (default: the shipped example).")
ACCOUNTS = Variable("KPI_PIPELINE_ACCOUNTS", "",
                    "The accounts YAML the API platforms pull (required with "
                    "KPI_PIPELINE_PLATFORMS=api; see data/accounts.example.yaml).")
EXECUTOR = Variable("KPI_PIPELINE_EXECUTOR", "in_process",
                    "How a run executes its steps: 'in_process' (one process, the default: "
                    "the DuckDB file admits one writer anyway) or 'multiprocess' (each step "
                    "in its own process, forked from a server that imported the code "
                    "location once; for the PostgreSQL store, where steps write side by "
                    "side). Read when the code location loads.")
PLATFORMS = Variable("KPI_PIPELINE_PLATFORMS", "demo",
                     "Where raw data comes from: 'demo' (the seeded simulator) or 'api' "
                     "(the platforms' APIs). Read when the code location loads.")
QUARANTINE_THRESHOLD = Variable(THRESHOLD_ENV, "",
                                f"The largest share of a window's records that may be "
                                f"quarantined, 0..1 (empty: {DEFAULT_THRESHOLD:g}). Read "
                                f"when a normalized asset runs.")
VOLUME_BAND = Variable("KPI_PIPELINE_VOLUME_BAND", "",
                       "'low,high' multiples of the usual rows per day outside which the "
                       "volume check warns (empty: 0.5,2.0). Read when the check runs.")
ANOMALY_DEVIATIONS = Variable("KPI_PIPELINE_ANOMALY_DEVIATIONS", "",
                              "Robust deviations (1.4826 x MAD) from the baseline median "
                              "beyond which a KPI is an anomaly, for every anomaly rule "
                              "(empty: each rule's own, 3.5 shipped). Read when the "
                              "diagnostic assets run.")
ANOMALY_MIN_BASE = Variable("KPI_PIPELINE_ANOMALY_MIN_BASE", "",
                            "The smallest base an anomaly is judged on: a ratio's "
                            "denominator, a count's larger of value and baseline median "
                            "(empty: each rule's own, 30 shipped). Read when the diagnostic "
                            "assets run.")
UTM_LOST_SHARE = Variable("KPI_PIPELINE_UTM_LOST_SHARE", "",
                          "The share of social sessions that may arrive untagged or from an "
                          "unknown source before the utm_hygiene check warns, 0..1 (empty: "
                          "0.2). Read when the check runs.")
GOAL_PROBABILITY_ALERT = Variable(
    "KPI_PIPELINE_GOAL_PROBABILITY_ALERT", "0.3",
    "The probability of reaching its target below which a running goal is announced by "
    "goal_probability_alert_sensor, once each time it falls below (0: never). Read when "
    "the sensor ticks.")
SCHEDULE_TIMEZONE = Variable("KPI_PIPELINE_SCHEDULE_TIMEZONE", "UTC",
                             "The IANA time zone the schedules tick in and days close in. "
                             "Read when the code location loads.")
SLACK_CHANNEL = Variable("KPI_PIPELINE_SLACK_CHANNEL", "",
                         "The Slack channel of the alerts (empty: alerts go to the log "
                         "only). Read when the code location loads.")
SLACK_TOKEN = Variable("KPI_PIPELINE_SLACK_TOKEN", "",
                       "The Slack bot token, read through dg.EnvVar when a channel is set.")
DELIVERY = Variable("KPI_PIPELINE_DELIVERY", "",
                    "The delivery file: who receives which report page by email (see "
                    "data/delivery.example.yaml; empty: reports are not sent). Read when "
                    "the code location loads: it switches report_delivery_sensor on.")
SMTP_HOST = Variable("KPI_PIPELINE_SMTP_HOST", "localhost",
                     "The SMTP server the report emails go through.")
SMTP_PORT = Variable("KPI_PIPELINE_SMTP_PORT", "587", "Its port.")
SMTP_STARTTLS = Variable("KPI_PIPELINE_SMTP_STARTTLS", "true",
                         "'true' to upgrade the connection with STARTTLS before logging in.")
SMTP_USER = Variable("KPI_PIPELINE_SMTP_USER", "",
                     "The SMTP login (empty: no login), read through dg.EnvVar.")
SMTP_PASSWORD = Variable("KPI_PIPELINE_SMTP_PASSWORD", "",
                         "The SMTP password, read through dg.EnvVar.")


def goal_probability_alert() -> float:
    """The goal probability alert's threshold, 0..1; a value that is not one fails the
    sensor's tick with the variable named, rather than silently alerting on nothing."""
    raw = GOAL_PROBABILITY_ALERT.value().strip()
    try:
        threshold = float(raw)
    except ValueError:
        threshold = float("nan")
    if not 0 <= threshold <= 1:
        raise ValueError(f"{GOAL_PROBABILITY_ALERT.name}={raw!r}: expected a probability "
                         "between 0 and 1 such as 0.3 (0 switches the alert off)")
    return threshold


def ltv_window_days() -> int:
    """The lifetime-value window as the cohort schedules read it when they tick (the
    variable, else its default; the attribution asset reads it through its resource); a
    value that is not a number of days fails the tick with the variable named."""
    raw = LTV_WINDOW_DAYS.value().strip()
    if not raw.isdigit() or not 1 <= int(raw) <= 3660:
        raise ValueError(f"{LTV_WINDOW_DAYS.name}={raw!r}: expected a number of days "
                         "from 1 to 3660, such as 180")
    return int(raw)


def credential_variables() -> dict[str, Variable]:
    """The API connectors' token and key-file variables, by resource field name
    (``<connector>_token``, ``<connector>_credentials``); the connectors name them."""
    found = {}
    for name, connector in CONNECTORS.items():
        if connector.token_env:
            found[f"{name}_token"] = Variable(connector.token_env, "", connector.description)
        if connector.credentials_env:
            found[f"{name}_credentials"] = Variable(
                connector.credentials_env, "", "A service account JSON key file: "
                f"{connector.description}")
    return found


def variables() -> list[Variable]:
    """Every variable the pipeline reads."""
    return [START_DATE, DUCKDB, STORE, STORE_PASSWORD, LANDING, EXPORTS, GA4_EXPORT,
            ATTRIBUTION_LOOKBACK_DAYS, ATTRIBUTION_HALF_LIFE_DAYS, LTV_WINDOW_DAYS,
            META_ATTRIBUTION_WINDOWS, REPORTS, GOALS, ACCOUNTS, EXECUTOR, PLATFORMS,
            QUARANTINE_THRESHOLD, VOLUME_BAND, ANOMALY_DEVIATIONS, ANOMALY_MIN_BASE,
            UTM_LOST_SHARE, GOAL_PROBABILITY_ALERT, SCHEDULE_TIMEZONE, SLACK_CHANNEL,
            SLACK_TOKEN,
            DELIVERY, SMTP_HOST, SMTP_PORT, SMTP_STARTTLS, SMTP_USER, SMTP_PASSWORD,
            *credential_variables().values()]
