"""Fact sources for the KPI layer: daily rows with additive measures, in DuckDB SQL.

Each source turns one or two normalized tables into rows of (day, period, dimensions,
measures) where every measure can be summed over days and over the scope's members.
KPIs are ratios of those sums. What is NOT additive is handled here, once:

- Lifetime post metrics become daily activity: the increase of each post's lifetime
  snapshot over its previous one, attributed to the day it happened (a first snapshot
  counts whole for a post published that day, 0 for a post first seen after the day it
  was published). The store keeps these increments beside the snapshots
  (``post_daily.<metric>_delta``), so the facts of a day read that day's rows only.
- Followers are a level, not a flow: ``followers_end`` is the level on the period's last
  day and ``followers_start`` the level on the day before its first day.
- Unique reach is never summed over days: ``reach_week_last_day`` is the platform's own
  7-day unique reach on the week's last day, the only day that carries a value.

Beside the measures, each fact carries a day mask per table it comes from
(``days__<table>``, ``day_bit``): the bit of its day within its period. The bit_or of the
masks of a KPI's rows says which days of the period hold rows of every table the KPI
reads, for that scope: its coverage (``compute.py``).

Money and durations are DOUBLE in the tables; they are summed as DECIMAL(38, 6) so a
sum does not depend on the order DuckDB's threads add rows in (re-running a period
gives bit-identical results).

SQL text here holds only identifiers and expressions from this module; every date comes
in as a bound parameter ($lo and $hi: the window's first and last local day).
"""

from __future__ import annotations

from dataclasses import dataclass

from kpi_pipeline.lib.core.schemas import INCREMENT_METRICS, INCREMENT_SUFFIX
from kpi_pipeline.lib.kpis.attribution import MODELS, SOCIAL_CHANNELS

PERIOD_UNITS = {"week": "week", "month": "month", "quarter": "quarter"}  # date_trunc units


@dataclass(frozen=True)
class Source:
    name: str
    dims: tuple[str, ...]  # dimension columns the facts carry
    scopes: tuple[str, ...]  # scopes the source can be rolled up to
    measures: dict[str, str]  # measure -> SQL expression over the facts' columns
    tables: tuple[str, ...] = ()  # the normalized tables the facts read
    # Levels among the measures: over a range of days they are read on its last day
    # (at_end) or on the day before its first (at_start), never summed over its days.
    at_end: tuple[str, ...] = ()
    at_start: tuple[str, ...] = ()


    def select(self, grain: str) -> str:
        """SELECT of the daily facts for ``grain`` between $lo and $hi."""
        return FACT_SQL[self.name](grain)

    @property
    def day_masks(self) -> tuple[str, ...]:
        """The facts' day-mask columns, one per table read (``day_mask``)."""
        return tuple(day_mask_column(t) for t in self.tables)


def day_mask_column(table: str) -> str:
    return f"days__{table}"


def mask_type(grain: str) -> str:
    """The integer type of a day mask: a week or month (at most 31 days) fits a BIGINT, a
    quarter (up to 92 days) needs a HUGEINT's 128 bits."""
    return "HUGEINT" if grain == "quarter" else "BIGINT"


def day_bit(grain: str) -> str:
    """The bit of a fact's day within its period (bit 0: the period's first day), so that
    the days of a period holding rows of a table are the bit_or of its facts' bits: an OR
    of ORs is the OR, so the masks roll up from any grouping to any scope, as sums do. A
    ``range`` (a goal's window) is one period of any length and has no mask (NULL)."""
    if grain == "range":
        return "NULL::BIGINT"
    offset = f"report_date - {period_start('report_date', grain)}"
    return f"(CAST(1 AS {mask_type(grain)}) << CAST({offset} AS INTEGER))"


def day_masks(grain: str, tables: tuple[str, ...], present: str | None) -> str:
    """The day-mask columns of a fact SELECT over ``tables``: the day's bit under the
    table the row comes from (``present``), NULL under the others (a row of another table,
    or a level's value carried from the day before its period: no day of the period)."""
    return "".join(f", {day_bit(grain) if t == present else f'NULL::{mask_type(grain)}'} "
                   f"AS {day_mask_column(t)}" for t in tables)


def period_start(expr: str, grain: str) -> str:
    """The first day of the period holding ``expr``; for the ``range`` grain (one period
    from $lo to $hi, used for goal windows) it is $lo."""
    if grain == "range":
        return "CAST($lo AS DATE)"
    if grain == "day":
        return f"CAST({expr} AS DATE)"
    return f"CAST(date_trunc('{PERIOD_UNITS[grain]}', {expr}) AS DATE)"


def period_end(expr: str, grain: str) -> str:
    if grain == "range":
        return "CAST($hi AS DATE)"
    if grain == "day":
        return f"CAST({expr} AS DATE)"
    return (f"CAST(date_trunc('{PERIOD_UNITS[grain]}', {expr}) + INTERVAL 1 {grain} "
            f"- INTERVAL 1 day AS DATE)")


POST_METRICS = INCREMENT_METRICS  # lifetime counts, summed as their stored daily increments


EXACT = "DECIMAL(38, 6)"


def _post_activity(grain: str) -> str:
    """Each post's activity per day: the increments ``post_daily`` stores beside the
    lifetime snapshots (the store derives them when the snapshots are written; see
    ``lib/normalized/store.py``), so a period reads its own days only and no earlier snapshot.

    A day's activity is the growth over the day before's snapshots, so a day covers the
    account's posts only when they were pulled the day before too: the first day of a
    history (older posts' growth that day is not measurable: the first-seen rule counts it
    0) and the day after a gap (its increments hold the missing day's growth) set no day
    bit. One look at the account-days of the day before the window, not a scan back."""
    increments = ",\n           ".join(
        f"p.{m}{INCREMENT_SUFFIX} AS {m}" if m != "watch_time_seconds" else
        f"CAST(p.{m}{INCREMENT_SUFFIX} AS {EXACT}) AS {m}"
        for m in POST_METRICS)
    if grain in PERIOD_UNITS:
        bit = day_bit(grain).replace("report_date", "p.report_date")
        mask = f", CASE WHEN pulled.next_day IS NOT NULL THEN {bit} END AS " \
               f"{day_mask_column('post_daily')}"
        pulled = """
    LEFT JOIN (SELECT DISTINCT platform, account_id, report_date + 1 AS next_day
               FROM normalized.post_daily
               WHERE report_date BETWEEN CAST($lo AS DATE) - 1 AND CAST($hi AS DATE) - 1
              ) AS pulled
           ON pulled.platform = p.platform AND pulled.account_id = p.account_id
          AND pulled.next_day = p.report_date"""
    else:  # goal windows and running values read no day masks
        mask, pulled = day_masks(grain, ("post_daily",), None), ""
    return f"""
    SELECT p.report_date, {period_start('p.report_date', grain)} AS period_start,
           p.brand, p.platform, p.account_id, NULL::VARCHAR AS campaign_id, p.media_type,
           {increments}{mask}
    FROM normalized.post_daily AS p{pulled}
    WHERE p.report_date BETWEEN $lo AND $hi"""


def _levels(grain: str, table: str, level: str, dims: str, extra: dict[str, str]) -> str:
    """Facts for a level (followers, list members): its value on the period's last day
    (``<level>_end``) and on the day before its first day (``<level>_start``), plus any
    ``extra`` measures (name -> expression; ``{last_day}`` in an expression is the test
    for the period's last day) on the period's own days."""
    last_day = f"report_date = {period_end('report_date', grain)}"
    first_day = f"{period_start('report_date + 1', grain)} = report_date + 1"
    extras = "".join(f", {expr.format(last_day=last_day)} AS {name}"
                     for name, expr in extra.items())
    nulls = "".join(f", NULL AS {name}" for name in extra)
    return f"""
    SELECT report_date, {period_start('report_date', grain)} AS period_start, {dims},
           NULL::VARCHAR AS campaign_id, NULL::VARCHAR AS media_type,
           CASE WHEN {last_day} THEN {level} END AS {level}_end,
           NULL::BIGINT AS {level}_start{extras}{day_masks(grain, (table,), table)}
    FROM normalized.{table}
    WHERE report_date BETWEEN $lo AND $hi
    UNION ALL
    SELECT report_date + 1, {period_start('report_date + 1', grain)}, {dims}, NULL, NULL,
           NULL, {level}{nulls}{day_masks(grain, (table,), None)}
    FROM normalized.{table}
    WHERE report_date + 1 BETWEEN $lo AND $hi AND {first_day}"""


def _account(grain: str) -> str:
    return _levels(grain, "account_daily", "followers", "brand, platform, account_id",
                   {"reach_week_last_day": "CASE WHEN {last_day} THEN reach_week END"})


def _email(grain: str) -> str:
    return _levels(grain, "email_daily", "subscribers",
                   "brand, NULL::VARCHAR AS platform, list_id AS account_id",
                   {m: m for m in EMAIL_FLOWS})


EMAIL_FLOWS = ("subscribes", "unsubscribes", "imports", "removals")


def _ads(grain: str) -> str:
    return f"""
    SELECT report_date, {period_start('report_date', grain)} AS period_start,
           brand, platform, ad_account_id AS account_id, campaign_id,
           NULL::VARCHAR AS media_type,
           CAST(spend_reporting AS {EXACT}) AS spend,
           CAST(revenue_reporting AS {EXACT}) AS revenue, impressions, clicks,
           link_clicks, leads, purchases{day_masks(grain, ("ad_daily",), "ad_daily")}
    FROM normalized.ad_daily
    WHERE report_date BETWEEN $lo AND $hi"""


WEB_MEASURES = ("sessions", "engaged_sessions", "bounces", "page_views", "sign_ups", "leads",
                "qualified_leads", "booked_calls", "orders", "new_customers")


# Revenue of returning customers' orders, estimated on each web row (property x day x
# source / medium / campaign) and then summed, so every roll-up is the sum of its parts: a
# row without orders adds nothing. A quotient is rarely a whole number of cents: it is
# summed with 12 decimals (still exact, so the sum does not depend on the order of rows).
ESTIMATE = "DECIMAL(38, 12)"
RETURNING_REVENUE = ("CASE WHEN orders = 0 THEN 0 "
                     "ELSE revenue_reporting * (orders - new_customers) / orders END")


def _web(grain: str) -> str:
    return f"""
    SELECT report_date, {period_start('report_date', grain)} AS period_start,
           brand, platform, NULL::VARCHAR AS account_id, NULL::VARCHAR AS campaign_id,
           NULL::VARCHAR AS media_type,
           {', '.join(WEB_MEASURES)},
           CAST(engagement_time_seconds AS {EXACT}) AS engagement_time_seconds,
           CAST(revenue_reporting AS {EXACT}) AS revenue,
           CAST({RETURNING_REVENUE} AS {ESTIMATE}) AS returning_revenue
           {day_masks(grain, ("web_daily",), "web_daily")}
    FROM normalized.web_daily
    WHERE is_social AND report_date BETWEEN $lo AND $hi"""


# The spend of sales campaigns: a row of a campaign whose objective is conversions adds its
# spend, a row of any other known objective adds 0, and a row whose objective is unknown
# (stored before objectives were pulled, or not reported) adds NULL, so a period with no
# known objective has no conversion spend at all (its CAC is missing, not 0).
CONVERSION_SPEND = (f"CASE WHEN objective = 'conversions' THEN CAST(spend_reporting AS {EXACT}) "
                    f"WHEN objective IS NOT NULL THEN CAST(0 AS {EXACT}) END")


def _ads_web(grain: str) -> str:
    """Ad spend (all of it, and that of conversion-objective campaigns) beside first-time
    purchasers from social sessions (the two CACs), by brand."""
    tables = ("ad_daily", "web_daily")
    return f"""
    SELECT report_date, {period_start('report_date', grain)} AS period_start, brand,
           NULL::VARCHAR AS platform, NULL::VARCHAR AS account_id,
           NULL::VARCHAR AS campaign_id, NULL::VARCHAR AS media_type,
           CAST(spend_reporting AS {EXACT}) AS spend, {CONVERSION_SPEND} AS conversion_spend,
           NULL::BIGINT AS new_customers{day_masks(grain, tables, "ad_daily")}
    FROM normalized.ad_daily WHERE report_date BETWEEN $lo AND $hi
    UNION ALL
    SELECT report_date, {period_start('report_date', grain)}, brand, NULL, NULL, NULL, NULL,
           NULL, NULL, new_customers{day_masks(grain, tables, "web_daily")}
    FROM normalized.web_daily WHERE is_social AND report_date BETWEEN $lo AND $hi"""


# The day column of the tables the sources read, where it is not ``report_date``.
DAY_COLUMNS = {"web_events": "event_date"}


def day_column(table: str) -> str:
    return DAY_COLUMNS.get(table, "report_date")


# The social platforms an attributed touch is credited to (the organic platforms' names).
TRACKED_PLATFORMS = ("facebook", "instagram", "linkedin", "tiktok")
# The attribution models whose social purchase revenue the catalogue carries as KPIs.
ATTRIBUTED_REVENUE = {f"revenue_{m}": m for m in MODELS}


def _attribution(grain: str) -> str:
    """Social purchase revenue per attribution model (``attribution.daily_reporting``: the
    reporting currency) by day, brand and the platform of the credited touch; brands come
    from the property's rows in web_daily (a property never seen there counts in the all
    scope only). Beside them, one row per property, day of the GA4 event export and tracked
    platform with 0 for every model: the days the export covers (a day without a social
    purchase is a covered day with none, for every platform), so the KPI's coverage is
    the export's at every scope."""
    # DOUBLE, not EXACT: revenue times a rate has more decimals than EXACT keeps
    values = ", ".join(f"CAST(CASE WHEN d.model = '{m}' THEN d.revenue_reporting END "
                       f"AS DOUBLE) AS {name}" for name, m in ATTRIBUTED_REVENUE.items())
    zeros = ", ".join("CAST(0 AS DOUBLE)" for _ in ATTRIBUTED_REVENUE)
    social = ", ".join(f"'{c}'" for c in SOCIAL_CHANNELS)
    tracked = ", ".join(f"'{p}'" for p in TRACKED_PLATFORMS)
    return f"""
    SELECT d.day AS report_date, {period_start('d.day', grain)} AS period_start, b.brand,
           nullif(d.platform, '') AS platform, NULL::VARCHAR AS account_id,
           NULL::VARCHAR AS campaign_id, NULL::VARCHAR AS media_type, {values}
           {day_masks(grain, ("web_events",), None)}
    FROM attribution.daily_reporting AS d
    LEFT JOIN (SELECT property_id, any_value(brand) AS brand FROM normalized.web_daily
               GROUP BY property_id) AS b USING (property_id)
    WHERE d.conversion_type = 'purchase' AND d.channel IN ({social})
      AND d.day BETWEEN $lo AND $hi
    UNION ALL
    SELECT e.report_date, {period_start('e.report_date', grain)}, b.brand, t.platform,
           NULL, NULL, NULL, {zeros}{day_masks(grain, ("web_events",), "web_events").replace(
               "report_date", "e.report_date")}
    FROM (SELECT DISTINCT property_id, event_date AS report_date FROM normalized.web_events
          WHERE event_date BETWEEN $lo AND $hi) AS e
    CROSS JOIN (SELECT unnest([{tracked}]) AS platform) AS t
    LEFT JOIN (SELECT property_id, any_value(brand) AS brand FROM normalized.web_daily
               GROUP BY property_id) AS b USING (property_id)"""


# The measures of the cohort lifetime value, per customer acquired: 1 for the purchase
# that acquired them, and the reporting-currency revenue of every purchase of theirs within
# their window (the acquiring one included).
COHORT_MEASURES = ("cohort_customers", "cohort_revenue")


def _cohorts(grain: str) -> str:
    """Customers acquired through a social session (the last click of their first
    purchase), dated on the day of that first purchase: so a period's facts are its
    cohort, the customers first acquired in it, with their revenue within their window
    (``attribution.cohort_purchases``; the window is a setting of the attribution asset).
    Brands come from the property's rows in web_daily, as for attributed revenue.

    Beside them, one row per property, day of the GA4 event export and tracked platform
    with zeros: its day bit is set when the window of a customer acquired that day has
    closed, that is when the property's export reaches the window's last day (the day +
    window - 1). So a period's coverage is the days whose cohort is final: the period is
    complete once the window of its last day has closed (``compute.py`` compares only
    complete periods). The window is the one the cohorts were built with."""
    social = ", ".join(f"'{c}'" for c in SOCIAL_CHANNELS)
    tracked = ", ".join(f"'{p}'" for p in TRACKED_PLATFORMS)
    bit = day_bit(grain).replace("report_date", "e.report_date")
    closed = (f", CASE WHEN e.report_date + w.window_days - 1 <= l.last_day THEN {bit} END "
              f"AS {day_mask_column('web_events')}")
    return f"""
    SELECT c.cohort_date AS report_date, {period_start('c.cohort_date', grain)} AS period_start,
           c.brand, c.platform, NULL::VARCHAR AS account_id, NULL::VARCHAR AS campaign_id,
           NULL::VARCHAR AS media_type,
           CAST(CASE WHEN c.first_purchase THEN 1 ELSE 0 END AS BIGINT) AS cohort_customers,
           CAST(c.revenue_reporting AS DOUBLE) AS cohort_revenue
           {day_masks(grain, ("web_events",), None)}
    FROM attribution.cohort_purchases_reporting AS c
    WHERE c.channel IN ({social}) AND c.cohort_date BETWEEN $lo AND $hi
    UNION ALL
    SELECT e.report_date, {period_start('e.report_date', grain)}, b.brand, t.platform,
           NULL, NULL, NULL, CAST(0 AS BIGINT), CAST(0 AS DOUBLE){closed}
    FROM (SELECT DISTINCT property_id, event_date AS report_date FROM normalized.web_events
          WHERE event_date BETWEEN $lo AND $hi) AS e
    JOIN (SELECT property_id, max(event_date) AS last_day FROM normalized.web_events
          GROUP BY property_id) AS l USING (property_id)
    CROSS JOIN (SELECT max(window_days) AS window_days
                FROM attribution.cohort_purchases) AS w
    CROSS JOIN (SELECT unnest([{tracked}]) AS platform) AS t
    LEFT JOIN (SELECT property_id, any_value(brand) AS brand FROM normalized.web_daily
               GROUP BY property_id) AS b USING (property_id)"""


FACT_SQL = {"post_activity": _post_activity, "account": _account, "ads": _ads, "web": _web,
            "attribution": _attribution, "cohorts": _cohorts,
            "ads_web": _ads_web, "email": _email}

# Exposure, per platform and per row: LinkedIn counts impressions; Meta and TikTok count
# views, and a row that reports no views but impressions (a Facebook Page or Instagram
# account before Meta's switch to views, an older Page export such as the UCI file) is
# rated over its impressions. A row with neither has no exposure.
EXPOSURE = ("CASE WHEN platform = 'linkedin' THEN impressions "
            "ELSE coalesce(views, impressions) END")
INTERACTIONS = ("coalesce(likes, 0) + coalesce(comments, 0) + coalesce(shares, 0) "
                "+ coalesce(saves, 0)")


def exposed(expression: str) -> str:
    """``expression`` on the rows that have an exposure only: the numerator of a rate over
    exposure, so a row counts above the line exactly when it counts below it."""
    return f"CASE WHEN ({EXPOSURE}) IS NOT NULL THEN {expression} END"


# The numerators of the rates over exposure (share rate, engagement rate, organic CTR).
EXPOSED = {"exposed_shares": exposed("shares"), "exposed_interactions": exposed(INTERACTIONS),
           "exposed_link_clicks": exposed("link_clicks")}

SOURCES: dict[str, Source] = {
    "post_activity": Source(
        "post_activity", ("brand", "platform", "account_id", "media_type"),
        ("all", "brand", "platform", "account", "media_type"),
        {**{m: m for m in POST_METRICS}, "exposure": EXPOSURE, "interactions": INTERACTIONS,
         **EXPOSED},
        tables=("post_daily",),
    ),
    "account": Source(
        "account", ("brand", "platform", "account_id"), ("all", "brand", "platform", "account"),
        {m: m for m in ("followers_end", "followers_start", "reach_week_last_day")},
        tables=("account_daily",), at_end=("followers_end", "reach_week_last_day"),
        at_start=("followers_start",),
    ),
    "ads": Source(
        "ads", ("brand", "platform", "account_id", "campaign_id"),
        ("all", "brand", "platform", "account", "campaign"),
        {m: m for m in ("spend", "revenue", "impressions", "clicks", "link_clicks", "leads",
                        "purchases")},
        tables=("ad_daily",),
    ),
    "web": Source(
        "web", ("brand", "platform"), ("all", "brand", "platform"),
        {m: m for m in (*WEB_MEASURES, "engagement_time_seconds", "revenue",
                        "returning_revenue")},
        tables=("web_daily",),
    ),
    "ads_web": Source("ads_web", ("brand",), ("all", "brand"),
                      {"spend": "spend", "conversion_spend": "conversion_spend",
                       "new_customers": "new_customers"},
                      tables=("ad_daily", "web_daily")),
    "attribution": Source("attribution", ("brand", "platform"), ("all", "brand", "platform"),
                          {name: name for name in ATTRIBUTED_REVENUE},
                          tables=("web_events",)),
    "cohorts": Source("cohorts", ("brand", "platform"), ("all", "brand", "platform"),
                      {m: m for m in COHORT_MEASURES}, tables=("web_events",)),
    "email": Source("email", ("brand",), ("all", "brand"),
                    {m: m for m in ("subscribers_end", "subscribers_start", *EMAIL_FLOWS)},
                    tables=("email_daily",), at_end=("subscribers_end",),
                    at_start=("subscribers_start",)),
}
