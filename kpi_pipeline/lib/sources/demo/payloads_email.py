"""Mailchimp Marketing API payloads for the demo email lists.

Two requests per list and day, as a real pull makes them:
- ``GET /3.0/lists/{list_id}/activity?count=7``: daily list activity, most recent day
  first (Mailchimp keeps 180 days and takes no date filter; the parser keeps the
  partition's day).
- ``GET /3.0/lists/{list_id}?fields=id,name,stats.member_count``: the member count.
  The real API returns the count *now*; the demo answers as of the end of the pulled day.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from kpi_pipeline.lib.core.accounts import AccountRef
from kpi_pipeline.lib.core.landing import RequestRecord
from kpi_pipeline.lib.sources.demo.world import World

ACTIVITY_DAYS = 7
ACTIVITY_FIELDS = ("emails_sent", "unique_opens", "recipient_clicks", "hard_bounce",
                   "soft_bounce", "subs", "unsubs", "other_adds", "other_removes")


def _activity(world: World, account: AccountRef, day: date) -> dict[str, Any]:
    brand = world.brand(account.brand)
    days = []
    for back in range(ACTIVITY_DAYS):
        current = day - timedelta(days=back)
        values = world.email_day(brand, current)
        days.append({"day": current.isoformat(), **{k: values[k] for k in ACTIVITY_FIELDS}})
    return {"activity": days, "list_id": account.account_id, "total_items": 180,
            "_links": [{"rel": "self", "href": f"/3.0/lists/{account.account_id}/activity",
                        "method": "GET"}]}


def build_list(world: World, account: AccountRef, day: date,
               pulled_on: date) -> list[RequestRecord]:
    """The list's daily activity and its member count for one local day."""
    members = world.email_day(world.brand(account.brand), day)["members"]
    path = f"/3.0/lists/{account.account_id}"
    return [
        {"method": "GET", "path": f"{path}/activity", "params": {"count": ACTIVITY_DAYS},
         "status": 200, "body": _activity(world, account, day)},
        {"method": "GET", "path": path,
         "params": {"fields": "id,name,stats.member_count"}, "status": 200,
         "body": {"id": account.account_id, "name": f"{account.name} newsletter",
                  "stats": {"member_count": members}}},
    ]


BUILDERS = {"mailchimp_list": build_list}
