"""The GA4 BigQuery export as files: the folder layout, the file names and the record
fields the pipeline reads.

GA4 exports one dataset per property, ``analytics_<property_id>``, with one table per
day, ``events_YYYYMMDD`` (the day in the property's time zone); the tables leave
BigQuery as newline-delimited JSON (optionally gzipped) or Parquet files, one row per
event. The field names below are those of Google's published export schema
(developers.google.com/analytics/bigquery/event-schema and
.../traffic-attribution-data):

- ``event_date`` (STRING, ``YYYYMMDD``), ``event_timestamp`` (INTEGER, microseconds
  since the epoch, UTC), ``event_name``, ``user_pseudo_id``, ``user_id`` (only when the
  site sets one);
- ``event_params``: repeated ``{key, value: {string_value, int_value, float_value,
  double_value}}``; the session is ``user_pseudo_id`` plus the ``ga_session_id`` param;
- ``traffic_source {name, medium, source}``: the user's FIRST touch (read it on
  ``first_visit``);
- ``session_traffic_source_last_click.manual_campaign {source, medium, campaign_name}``:
  the session's source, GA4's own session-scoped last click;
- ``collected_traffic_source {manual_source, manual_medium, manual_campaign_name}``: the
  UTM values collected with that very event;
- ``ecommerce {purchase_revenue, transaction_id}`` on purchases.

BigQuery writes INTEGER columns as JSON strings ("1704067200000000") and leaves NULL
fields out; Parquet keeps the types. The reader accepts both, the demo writes both
shapes' common subset. The demo simulator, the reader and the tests import this one copy.
"""

from __future__ import annotations

import re

# One dataset folder per property, one file per day and table part.
DATASET_PREFIX = "analytics_"
DATASET_PATTERN = re.compile(r"^analytics_(\d+)$")
# events_20240131.json, events_20240131.json.gz, events_20240131.parquet, and the
# numbered shards a BigQuery extract of a large table writes (events_20240131_000000000001.json.gz)
FILE_PATTERN = re.compile(r"^events_(\d{8})(?:_\d+)?\.(json|json\.gz|jsonl|jsonl\.gz|ndjson|"
                          r"ndjson\.gz|parquet)$")

# The events the attribution reads (GA4's recommended event names).
SESSION_START = "session_start"
FIRST_VISIT = "first_visit"
PAGE_VIEW = "page_view"
# conversion event -> the conversion type the tables and models report
CONVERSION_EVENTS: dict[str, str] = {
    "purchase": "purchase",
    "sign_up": "sign_up",
    "generate_lead": "lead",
}

# The session key's event parameter, and the parameter GA4 numbers a user's sessions by.
SESSION_ID_PARAM = "ga_session_id"
SESSION_NUMBER_PARAM = "ga_session_number"

# Every field the pipeline reads, as the export spells it (dotted: nested records).
REQUIRED_FIELDS = ("event_date", "event_timestamp", "event_name", "user_pseudo_id",
                   "event_params")
OPTIONAL_FIELDS = (
    "user_id",
    "traffic_source.source", "traffic_source.medium", "traffic_source.name",
    "session_traffic_source_last_click.manual_campaign.source",
    "session_traffic_source_last_click.manual_campaign.medium",
    "session_traffic_source_last_click.manual_campaign.campaign_name",
    "collected_traffic_source.manual_source",
    "collected_traffic_source.manual_medium",
    "collected_traffic_source.manual_campaign_name",
    "ecommerce.purchase_revenue", "ecommerce.transaction_id",
)

# GA4's spellings for a session without a campaign source.
DIRECT_SOURCE = "(direct)"
NONE_MEDIUM = "(none)"


def file_name(day_yyyymmdd: str, suffix: str = "json.gz") -> str:
    """The export file of one day: ``events_YYYYMMDD.<suffix>``."""
    return f"events_{day_yyyymmdd}.{suffix}"


def dataset_name(property_id: str) -> str:
    """The folder (BigQuery dataset) of one property: ``analytics_<property_id>``."""
    return f"{DATASET_PREFIX}{property_id}"
