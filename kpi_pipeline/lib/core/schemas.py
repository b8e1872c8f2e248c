"""The normalized tables: one column list per table, from which both the pandera schema
and the DuckDB DDL are derived, so the two can never disagree.

Conventions for every table:
- ``report_date`` is the account's LOCAL report date (the partition key).
- Counts the platform cannot report negative are checked non-negative. LinkedIn's daily
  likes and comments are the exception: un-likes make them negative, and that is real.
- Money columns are in the account currency unless their name ends in ``_reporting``.
- Unique counts (``reach*``) are stored at the grain they were fetched and never summed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import pandas as pd
import pandera.pandas as pa

from kpi_pipeline.lib.core.accounts import PLATFORMS
from kpi_pipeline.lib.core.platforms.objectives import OBJECTIVES

CURRENCIES = ("USD", "EUR", "GBP", "JPY", "AUD", "BRL", "CAD", "CHF", "SEK", "NOK", "DKK",
              "PLN", "INR", "MXN", "SGD", "NZD", "ZAR", "HKD", "KRW", "CNY", "TRY")
MEDIA_TYPES = ("photo", "carousel", "video", "reel", "text", "link", "story")

PANDAS_DTYPES = {
    "date": "datetime64[ns]",
    "timestamp": "datetime64[ns]",
    "str": "string",
    "int": "Int64",
    "float": "Float64",
    "bool": "boolean",
}
DUCKDB_TYPES = {
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "str": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
}


@dataclass(frozen=True)
class Col:
    name: str
    kind: str
    nullable: bool = True
    non_negative: bool = False
    description: str = ""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Col, ...]
    key: tuple[str, ...]
    description: str
    parser_excludes: tuple[str, ...] = ()  # columns the asset adds after parsing

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def parsed_columns(self) -> list[str]:
        """The columns a stream parser must return (everything but asset-added ones)."""
        return [c.name for c in self.columns if c.name not in self.parser_excludes]


def _meta_cols() -> tuple[Col, ...]:
    return (
        Col("source_stream", "str", nullable=False, description="Stream that delivered the row"),
        Col("api_version", "str", nullable=False, description="API version asked"),
        Col("pulled_at", "timestamp", nullable=False, description="When it was pulled (UTC)"),
    )


def _count(name: str, description: str = "") -> Col:
    return Col(name, "int", non_negative=True, description=description)


# Lifetime post counts the KPIs attribute to the day they happened. Beside each, the store
# keeps ``<metric>_delta``: that day's snapshot minus the post's previous stored snapshot
# (the latest earlier report_date, however far back; a NULL previous value counts as 0).
# A post's first snapshot counts whole when the post was published that day, and 0 when it
# was published before (first seen later: its earlier lifetime is not that day's activity;
# see ``store._FIRST_SEEN_LATE``). NULL when the day's own value is NULL;
# negative when a platform revised a total down (kept: the KPIs see the correction).
# ``lib/normalized/store.py`` computes them in the transaction that writes the snapshots, so later
# layers sum stored increments instead of re-deriving them from every earlier snapshot.
INCREMENT_METRICS = ("views", "impressions", "likes", "comments", "shares", "saves",
                     "link_clicks", "video_views", "completions", "watch_time_seconds")
INCREMENT_SUFFIX = "_delta"
INCREMENT_COLUMNS = tuple(f"{m}{INCREMENT_SUFFIX}" for m in INCREMENT_METRICS)


def _increment_cols() -> tuple[Col, ...]:
    """The increment columns of post_daily, after every parsed column: an existing table
    gains them with ALTER TABLE ... ADD COLUMN, which appends, so old and new files keep
    one column order."""
    kinds = {"watch_time_seconds": "float"}
    return tuple(Col(column, kinds.get(m, "int"),
                     description=f"Increase of lifetime {m} over the post's previous stored "
                                 "snapshot (first snapshot: whole if published that day, else "
                                 "0); derived by the store")
                 for m, column in zip(INCREMENT_METRICS, INCREMENT_COLUMNS, strict=True))


POST_DAILY = Table(
    "post_daily",
    (
        Col("report_date", "date", nullable=False, description="Local date of the snapshot"),
        Col("platform", "str", nullable=False),
        Col("account_id", "str", nullable=False),
        Col("brand", "str", nullable=False),
        Col("post_id", "str", nullable=False),
        Col("published_at", "timestamp", nullable=False, description="Publish time, UTC"),
        Col("media_type", "str", nullable=False),
        Col("caption", "str", description="Untrusted text from the platform"),
        _count("impressions", "Lifetime impressions (retired by Meta; LinkedIn still has it)"),
        _count("views", "Lifetime views (Meta's replacement for impressions; TikTok plays)"),
        _count("reach", "Lifetime unique accounts reached: never summed across posts"),
        _count("likes"),
        _count("comments"),
        _count("shares"),
        _count("saves"),
        _count("link_clicks"),
        _count("video_views"),
        _count("completions", "Views watched to the end"),
        Col("watch_time_seconds", "float", non_negative=True,
            description="Lifetime total watch time in seconds"),
        *_meta_cols(),
        *_increment_cols(),
    ),
    key=("platform", "account_id", "post_id", "report_date"),
    description="One row per post per local day: the post's LIFETIME totals as of the end of "
                "that day, and beside each lifetime count the KPIs use its increment "
                "(`<metric>_delta`: what happened that day). Snapshots grow and plateau; take "
                "the latest, never sum them; sum the increments instead.",
    parser_excludes=INCREMENT_COLUMNS,
)

ACCOUNT_DAILY = Table(
    "account_daily",
    (
        Col("report_date", "date", nullable=False),
        Col("platform", "str", nullable=False),
        Col("account_id", "str", nullable=False),
        Col("brand", "str", nullable=False),
        Col("timezone", "str", nullable=False),
        _count("followers", "Followers at the end of the day"),
        _count("follower_gains"),
        _count("follower_losses"),
        _count("impressions"),
        _count("views"),
        _count("reach", "Unique accounts reached that day"),
        _count("reach_week", "Platform's unique reach over the 7 days ending that day"),
        _count("reach_28d", "Platform's unique reach over the 28 days ending that day"),
        _count("profile_views"),
        _count("clicks"),
        Col("likes", "int", description="Daily likes (LinkedIn can be negative: un-likes)"),
        Col("comments", "int", description="Daily comments (LinkedIn can be negative)"),
        _count("shares"),
        *_meta_cols(),
    ),
    key=("platform", "account_id", "report_date"),
    description="One row per account per local day: followers, gains and losses, account-level "
                "exposure, and the platform's own 7- and 28-day unique reach.",
)

AD_DAILY = Table(
    "ad_daily",
    (
        Col("report_date", "date", nullable=False),
        Col("platform", "str", nullable=False),
        Col("ad_account_id", "str", nullable=False),
        Col("brand", "str", nullable=False),
        Col("campaign_id", "str", nullable=False),
        Col("campaign_name", "str", description="Untrusted text from the platform"),
        Col("currency", "str", nullable=False),
        Col("spend", "float", nullable=False, non_negative=True,
            description="Spend in the ad account currency"),
        _count("impressions"),
        _count("reach", "Daily unique reach: never summed across days"),
        _count("clicks"),
        _count("link_clicks"),
        _count("leads"),
        _count("purchases", "Purchases, one action type per event (no double counting)"),
        Col("revenue", "float", non_negative=True, description="Attributed revenue, account "
            "currency"),
        _count("video_views"),
        Col("reporting_currency", "str", nullable=False),
        Col("fx_rate", "float", nullable=False, non_negative=True,
            description="Units of reporting currency per unit of account currency"),
        Col("spend_reporting", "float", nullable=False, non_negative=True),
        Col("revenue_reporting", "float", non_negative=True),
        *_meta_cols(),
        # Last: a store made before it gains it with ALTER TABLE ... ADD COLUMN, which
        # appends, so old and new files keep one column order (``store.APPENDED``).
        Col("objective", "str", description="The campaign objective normalized to "
            "conversions, leads, traffic, awareness, engagement or other (the platform "
            "values' table: lib/core/platforms/objectives.py); NULL when not reported"),
        Col("attribution_setting", "str", description="The attribution windows the "
            "platform counted the row's conversions in: as the pull asked them (Meta's "
            "action_attribution_windows: '7d_click,1d_view'), those of the ad account's "
            "enabled conversion rules (LinkedIn: '30d_click,7d_view') or of the campaign's "
            "ad groups (TikTok); NULL when unknown: a pull from before they were asked, an "
            "export file, or an answer that does not say"),
    ),
    key=("platform", "ad_account_id", "campaign_id", "report_date"),
    description="One row per campaign per local day: delivery, conversions and spend in the "
                "account currency and in the reporting currency, the campaign's "
                "objective and the attribution setting its conversions were counted in.",
    parser_excludes=("reporting_currency", "fx_rate", "spend_reporting", "revenue_reporting"),
)

WEB_DAILY = Table(
    "web_daily",
    (
        Col("report_date", "date", nullable=False),
        Col("property_id", "str", nullable=False),
        Col("brand", "str", nullable=False),
        Col("source", "str", nullable=False),
        Col("medium", "str", nullable=False),
        Col("campaign", "str", nullable=False, description="Untrusted text (utm_campaign)"),
        Col("platform", "str", description="Social platform resolved from UTM, else NULL"),
        Col("is_social", "bool", nullable=False),
        Col("is_paid", "bool", nullable=False,
            description="Paid social: a paid medium on a social source, or paid_social"),
        _count("sessions"),
        _count("engaged_sessions"),
        _count("bounces", "sessions - engaged sessions (GA4's bounce definition)"),
        _count("page_views"),
        Col("engagement_time_seconds", "float", non_negative=True),
        _count("sign_ups"),
        _count("leads"),
        _count("qualified_leads"),
        _count("booked_calls"),
        _count("orders"),
        _count("new_customers", "First-time purchasers (additive: a first purchase is once)"),
        _count("purchasers", "Unique purchasers that day: not additive across days"),
        Col("revenue", "float", non_negative=True, description="Property currency"),
        Col("currency", "str", nullable=False),
        Col("reporting_currency", "str", nullable=False),
        Col("fx_rate", "float", nullable=False, non_negative=True),
        Col("revenue_reporting", "float", non_negative=True),
        *_meta_cols(),
    ),
    key=("property_id", "report_date", "source", "medium", "campaign"),
    description="One row per GA4 property, local day and (source, medium, campaign), with the "
                "social platform resolved from UTM parameters by a mapping kept as data.",
    parser_excludes=("platform", "is_social", "is_paid", "reporting_currency", "fx_rate",
                     "revenue_reporting"),
)

EMAIL_DAILY = Table(
    "email_daily",
    (
        Col("report_date", "date", nullable=False),
        Col("list_id", "str", nullable=False),
        Col("brand", "str", nullable=False),
        _count("subscribers", "Members at the end of the day"),
        _count("subscribes", "Opt-in sign-ups that day"),
        _count("unsubscribes"),
        _count("imports", "Members added outside opt-in (imports, API)"),
        _count("removals", "Members removed other than by unsubscribing"),
        _count("emails_sent"),
        _count("unique_opens"),
        _count("clicks"),
        *_meta_cols(),
    ),
    key=("list_id", "report_date"),
    description="One row per email list per local day: opt-ins, unsubscribes, imports, "
                "removals, sends and the member count at the end of the day.",
)

FX_DAILY = Table(
    "fx_daily",
    (
        Col("report_date", "date", nullable=False, description="Calendar day the rate applies to"),
        Col("currency", "str", nullable=False),
        Col("reporting_currency", "str", nullable=False),
        Col("rate", "float", nullable=False, non_negative=True,
            description="Units of reporting currency per 1 unit of currency"),
        Col("fixing_date", "date", nullable=False,
            description="Business day the reference rate was fixed (weekends use Friday's)"),
        *_meta_cols(),
    ),
    key=("report_date", "currency", "reporting_currency"),
    description="The dated exchange rates used to convert money to the reporting currency.",
)

TABLES: dict[str, Table] = {t.name: t for t in (POST_DAILY, ACCOUNT_DAILY, AD_DAILY, WEB_DAILY,
                                                  EMAIL_DAILY, FX_DAILY)}


class ValidationFailed(ValueError):
    """Rows failed a normalized table's rules; nothing was written."""


# Failures that condemn the whole frame rather than a row: a column missing, extra or out
# of order, a column of the wrong type, or a primary key delivered twice (which copy is
# right cannot be decided row by row, so the source is asked again instead).
TABLE_LEVEL_CHECKS = ("column_in_dataframe", "column_in_schema", "column_ordering",
                      "coerce_dtype", "dataframe_column_labels_unique")
UNIQUE_KEY_RULE = "unique key"


@dataclass(frozen=True)
class Screened:
    """A frame split by the table's rules: ``valid`` rows (original index kept) and the
    row-level failure cases of the others (pandera's columns: column, check,
    failure_case, index; one line per broken rule and column of a rejected row)."""

    valid: pd.DataFrame
    failures: pd.DataFrame

    @property
    def rejected_index(self) -> list:
        return list(dict.fromkeys(self.failures["index"].tolist()))


def is_table_level(failures: pd.DataFrame) -> pd.Series:
    """Which failure cases condemn the whole frame (see ``TABLE_LEVEL_CHECKS``)."""
    check = failures["check"].astype(str)
    return (failures["index"].isna() | check.isin(TABLE_LEVEL_CHECKS)
            | check.str.startswith("dtype(") | check.str.startswith(UNIQUE_KEY_RULE))


def screen(table: Table, df: pd.DataFrame, *, source: str, start: date, end: date,
           only: tuple[str, ...] | None = None, max_examples: int = 5) -> Screened:
    """Validate every rule at once and split the rows that break a row-level rule
    (negative count, non-finite number, unknown code, NULL key, date outside the window)
    from the valid ones. A table-level failure (see ``TABLE_LEVEL_CHECKS``) raises
    ``ValidationFailed`` naming source, partition, column, rule and example rows.

    ``only`` restricts the rules to some columns (no frame-level rules then).
    """
    schema = pandera_schema(table, start, end)
    if only is not None:
        schema = pa.DataFrameSchema({c: schema.columns[c] for c in only}, name=table.name)
    try:
        schema.validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        failures = exc.failure_cases
    else:
        return Screened(df, _no_failures())
    hard = is_table_level(failures)
    if hard.any():
        raise ValidationFailed(describe_failures(table, df, failures, source=source,
                                                 start=start, end=end,
                                                 max_examples=max_examples))
    failures = failures.copy()
    frame_level = failures["schema_context"].astype(str) == "DataFrameSchema"
    failures.loc[frame_level, "column"] = None  # a rule on the row, not on one column
    failures.loc[frame_level, "failure_case"] = None
    failures = (failures.drop_duplicates(["index", "column", "check"])
                .loc[:, ["column", "check", "failure_case", "index"]]
                .reset_index(drop=True))
    valid = df.drop(index=list(dict.fromkeys(failures["index"].tolist())))
    return Screened(valid, failures)


def _no_failures() -> pd.DataFrame:
    return pd.DataFrame({"column": pd.Series(dtype=object), "check": pd.Series(dtype=object),
                         "failure_case": pd.Series(dtype=object),
                         "index": pd.Series(dtype=object)})


def empty_frame(table: Table, columns: list[str] | None = None) -> pd.DataFrame:
    """A typed, empty frame with the table's (or the given) columns."""
    kinds = {c.name: c.kind for c in table.columns}
    names = columns or table.column_names
    return pd.DataFrame({n: pd.Series(dtype=PANDAS_DTYPES[kinds[n]]) for n in names})


def coerce_frame(table: Table, df: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """Order and type a parser's frame to the table's columns (missing columns -> NULL)."""
    kinds = {c.name: c.kind for c in table.columns}
    names = columns or table.column_names
    out = {}
    for name in names:
        kind = kinds[name]
        # a missing column is all NULL, made in its type (not objects converted value by value)
        series = (df[name] if name in df.columns
                  else pd.Series(index=df.index, dtype=PANDAS_DTYPES[kind]))
        if str(series.dtype) == PANDAS_DTYPES[kind] and kind != "date":
            out[name] = series  # already typed (rows read back from DuckDB, a second pass)
        elif kind in ("date", "timestamp"):
            if not pd.api.types.is_datetime64_dtype(series.dtype):  # text, objects, zones
                series = pd.to_datetime(series, utc=True).dt.tz_localize(None)
            series = series.astype("datetime64[ns]")
            out[name] = series.dt.normalize() if kind == "date" else series
        else:
            out[name] = series.astype(PANDAS_DTYPES[kind])
    return pd.DataFrame(out, index=df.index)


@lru_cache(maxsize=64)
def pandera_schema(table: Table, start: date, end: date) -> pa.DataFrameSchema:
    """The table's rules for one partition window [start, end] (local dates, inclusive)."""
    columns = {}
    for col in table.columns:
        checks = []
        if col.non_negative:
            checks.append(pa.Check.ge(0, error="non-negative (the platform cannot report < 0)"))
        if col.kind in ("float",):
            checks.append(pa.Check(lambda s: ~s.isin([float("inf"), float("-inf")]),
                                   element_wise=False, error="finite number"))
        if col.name == "platform" and table.name != "web_daily":
            checks.append(pa.Check.isin((*PLATFORMS, "meta"), error="known platform"))
        if col.name in ("currency", "reporting_currency"):
            checks.append(pa.Check.isin(CURRENCIES, error="ISO 4217 currency we can convert"))
        if col.name == "media_type":
            checks.append(pa.Check.isin(MEDIA_TYPES, error="known media type"))
        if col.name == "objective":
            checks.append(pa.Check.isin(OBJECTIVES, error="normalized campaign objective"))
        if col.name == "report_date":
            lo, hi = pd.Timestamp(start), pd.Timestamp(end)
            checks.append(pa.Check.in_range(lo, hi, error=f"date inside the partition "
                                                           f"{start}..{end}"))
        columns[col.name] = pa.Column(PANDAS_DTYPES[col.kind], checks=checks,
                                      nullable=col.nullable, coerce=False)
    frame_checks = [
        pa.Check(lambda df, key=table.key: ~df.duplicated(list(key), keep=False),
                 error=f"unique key ({', '.join(table.key)})"),
    ]
    if table.name == "account_daily":
        frame_checks.append(pa.Check(
            lambda df: (df["platform"] == "linkedin") | ~(df["likes"].fillna(0) < 0)
            & ~(df["comments"].fillna(0) < 0),
            error="likes and comments non-negative except on LinkedIn (un-likes)"))
    return pa.DataFrameSchema(columns, checks=frame_checks, strict=True, ordered=True,
                              name=table.name)


def validate(table: Table, df: pd.DataFrame, *, source: str, start: date, end: date,
             max_examples: int = 5) -> pd.DataFrame:
    """Validate every rule at once; on failure raise one error naming source, partition,
    column, rule and example rows, so the user can find the record in the landing file."""
    try:
        return pandera_schema(table, start, end).validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        raise ValidationFailed(
            describe_failures(table, df, exc.failure_cases, source=source, start=start,
                              end=end, max_examples=max_examples)
        ) from None




def describe_failures(table: Table, df: pd.DataFrame, failures: pd.DataFrame, *, source: str,
                      start: date, end: date, max_examples: int = 5,
                      outcome: str = "nothing was written.") -> str:
    """Turn pandera's failure cases into a message a data engineer can act on."""
    window = f"{start}" if start == end else f"{start}..{end}"
    lines = [f"{table.name} from {source}, partition {window}: "
             f"{len(failures)} value(s) broke the table's rules" + (f"; {outcome}" if outcome
                                                                   else ".")]
    key_cols = [c for c in table.key if c in df.columns]
    grouped = failures.fillna({"column": "(row)"}).groupby(["column", "check"], sort=False,
                                                           dropna=False)
    for (column, check), cases in grouped:
        rows = [int(i) for i in cases["index"].dropna().unique()[:max_examples]
                if int(i) in df.index]
        lines.append(f"- column {column!s}, rule {check!s}: {len(cases)} row(s)")
        for idx in rows:
            record = df.loc[idx]
            keys = ", ".join(f"{k}={_show(record[k])}" for k in key_cols)
            lines.append(f"    row {idx}: {keys}" + (f"; {column}={_show(record[column])}"
                                                       if column in df.columns else ""))
        if not rows:
            lines.append(f"    failure: {cases['failure_case'].head(max_examples).tolist()}")
    return "\n".join(lines)


def _show(value: object) -> str:
    """A cell as a user would type it: dates as YYYY-MM-DD, text quoted, NULL as NULL."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return "NULL"
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if isinstance(value, str):
        return repr(value)
    return str(value)


def ddl(table: Table, schema: str = "normalized") -> str:
    """CREATE TABLE statement for one normalized table (names are ours, not user input)."""
    cols = ",\n  ".join(
        f"{c.name} {DUCKDB_TYPES[c.kind]}{'' if c.nullable else ' NOT NULL'}"
        for c in table.columns
    )
    return (f"CREATE TABLE IF NOT EXISTS {schema}.{table.name} (\n  {cols},\n"
            f"  PRIMARY KEY ({', '.join(table.key)})\n)")
