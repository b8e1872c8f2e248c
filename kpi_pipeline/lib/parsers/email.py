"""Parser for Mailchimp list payloads (``mailchimp_list``) into ``email_daily`` rows.

The activity list covers several days; only the partition's day is kept, so re-pulling
any day of the window gives the same row. Subscribes are Mailchimp's ``subs`` (double
opt-in sign-ups) plus ``other_adds`` (imports, API adds) kept apart, and likewise for
removals, because only opt-ins are earned by marketing.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from kpi_pipeline.lib.landing import Envelope
from kpi_pipeline.lib.parsers import common
from kpi_pipeline.lib.parsers.common import ParseError

COUNTS = {"subs": "subscribes", "unsubs": "unsubscribes", "other_adds": "imports",
          "other_removes": "removals", "emails_sent": "emails_sent",
          "unique_opens": "unique_opens", "recipient_clicks": "clicks"}


def _day_activity(body: dict[str, Any], day: date, context: str) -> dict[str, int | None]:
    activity = common.require(body, "activity", context=context)
    if not isinstance(activity, list):
        raise ParseError(f"{context}: 'activity' is not a list")
    for item in activity:
        if common.require(item, "day", context=context) == day.isoformat():
            return {column: common.integer(item.get(name), field=name, context=context)
                    for name, column in COUNTS.items()}
    raise ParseError(f"{context}: the activity list has no entry for {day}")


def parse_mailchimp_list(envelope: Envelope) -> pd.DataFrame:
    """One email_daily row per list: the partition day's activity and member count."""
    day = date.fromisoformat(envelope["partition"])
    meta = common.envelope_meta(envelope)
    rows = []
    for account in envelope.get("accounts", []):
        context = common.where(envelope, account)
        row: dict[str, Any] = {"report_date": day, "list_id": account["account_id"],
                               "brand": account["brand"], **meta}
        for request in account.get("requests", []):
            if request.get("status", 200) != 200:
                raise ParseError(f"{context}: {request.get('path')} answered HTTP "
                                 f"{request.get('status')}")
            body = common.require(request, "body", context=context)
            if request["path"].endswith("/activity"):
                row.update(_day_activity(body, day, context))
            else:
                stats = common.require(body, "stats", context=context)
                row["subscribers"] = common.integer(
                    common.require(stats, "member_count", context=context),
                    field="stats.member_count", context=context)
        rows.append(row)
    return pd.DataFrame(rows)


PARSERS = {"mailchimp_list": parse_mailchimp_list}
