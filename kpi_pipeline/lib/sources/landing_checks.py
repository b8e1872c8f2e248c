"""What a landing file must be to be normalized, and how fresh each source is.

Plain Python and SQL (no Dagster), used by the raw and normalized assets and by
``defs/freshness.py``. Each problem names the stream, the file, the account or post where
it applies, and the metric or column.

``envelope_problems`` judges a pull as it arrives, before it is written (the raw
assets' ``landing_files_valid``):

1. every account entry records a window holding the file's day;
2. Meta streams (Graph insights) carry the metrics of the Meta metric catalogue
   (``data/meta_metrics.yaml``): every metric asked for is answered, none is unknown or
   retired on the file's day, and every current metric of the object is there (per
   account for Page / IG-user insights, per post for post and media insights, video-only
   metrics only where the post has them).

``row_problems`` judges the rows the normalized asset parsed from a window of files, in
SQL where they were read: no row is dated outside its file's requested windows, streams
with a row per account and day (account insights, email lists) have one for every day of
each account's window, and the table's required columns and the stream's metric columns
are filled. A problem there fails the normalized table before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from kpi_pipeline.lib.core.landing import Envelope, LandingStore, landed_days
from kpi_pipeline.lib.core.platforms.meta import MetricSpec, meta_catalog
from kpi_pipeline.lib.core.schemas import TABLES
from kpi_pipeline.lib.core.streams import Stream

# Graph object of each Meta insights stream (meta_ads reads the Marketing API, whose
# fields are checked like the other streams').
META_OBJECTS = {"facebook_page": "page", "facebook_posts": "post",
                "instagram_account": "ig_user", "instagram_media": "ig_media"}
ACCOUNT_OBJECTS = frozenset({"page", "ig_user"})
# Metrics Meta only answers for some posts (videos, reels): required when present.
MEDIA_SPECIFIC = frozenset({
    ("post", "post_video_views"), ("post", "post_video_complete_views_organic"),
    ("post", "post_video_view_time"), ("ig_media", "ig_reels_video_view_total_time"),
    ("ig_media", "ig_reels_avg_watch_time"),
})

# The measures each non-Meta-insights stream must fill (what its KPIs are built from).
AD_METRICS = ("impressions", "clicks", "link_clicks", "leads", "purchases", "revenue")
STREAM_METRIC_COLUMNS: dict[str, tuple[str, ...]] = {
    "linkedin_organization": ("followers", "follower_gains", "impressions", "clicks",
                              "likes", "comments", "shares"),
    "linkedin_posts": ("impressions", "likes", "comments", "shares", "link_clicks"),
    "tiktok_account": ("followers", "views", "profile_views", "likes", "comments",
                       "shares"),
    "tiktok_videos": ("views", "likes", "comments", "shares", "video_views", "completions",
                      "watch_time_seconds"),
    "meta_ads": AD_METRICS,
    "linkedin_ads": AD_METRICS,
    "tiktok_ads": AD_METRICS,
    "ga4_sessions": ("sessions", "engaged_sessions", "bounces", "page_views",
                     "engagement_time_seconds", "sign_ups", "leads", "qualified_leads",
                     "booked_calls", "orders", "new_customers", "revenue"),
    "mailchimp_list": ("subscribers", "subscribes", "unsubscribes", "imports", "removals"),
    "fx_rates": ("rate_per_eur",),
}
FX_REQUIRED = ("report_date", "currency", "rate_per_eur")
# Tables with one row per account and day: the column naming the account.
DAILY_ACCOUNT_COLUMN = {"account_daily": "account_id", "email_daily": "list_id"}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one landing file."""

    stream: str
    day: date
    file: str
    kind: str  # missing | unreadable | window | parse | metric | column
    detail: str

    def text(self) -> str:
        return f"{self.stream} {self.day} ({Path(self.file).name}): {self.kind}: {self.detail}"

    def as_dict(self) -> dict[str, str]:
        return {"stream": self.stream, "day": self.day.isoformat(), "file": self.file,
                "kind": self.kind, "detail": self.detail}


def envelope_problems(stream: Stream, envelope: Envelope, day: date,
                      path: Path | str) -> list[Problem]:
    """Everything wrong with a pull of ``stream`` for ``day`` that the envelope itself shows
    (empty: valid), checked when it is pulled, before it is written: every account records
    a window holding the day, and a Meta insights answer carries the metrics of the Meta
    metric catalogue. Rows are checked where they are parsed, in the normalized tables
    (``row_problems``)."""

    def problem(kind: str, detail: str) -> Problem:
        return Problem(stream.name, day, str(path), kind, detail)

    if envelope.get("unserved"):
        return []  # the client pulls nothing for this stream, and the file says why
    problems = [problem("window", text) for text in _window_problems(envelope, day)]
    if stream.name in META_OBJECTS:
        problems += [problem("metric", text) for text in
                     meta_metric_problems(envelope, META_OBJECTS[stream.name], day)]
    return problems


def _account_window(account: dict[str, Any]) -> tuple[date, date] | None:
    window = account.get("window") or {}
    try:
        return date.fromisoformat(window["start"]), date.fromisoformat(window["end"])
    except (KeyError, TypeError, ValueError):
        return None


def _window_problems(envelope: Envelope, day: date) -> list[str]:
    problems = []
    if not envelope.get("accounts"):
        problems.append("the file holds no account")
    for account in envelope.get("accounts", []):
        who = f"account {account.get('account_id')}"
        window = _account_window(account)
        if window is None:
            problems.append(f"{who}: no requested window recorded (window.start/end)")
        elif not window[0] <= day <= window[1]:
            problems.append(f"{who}: requested window {window[0]}..{window[1]} does not "
                            f"hold the file's day {day}")
    return problems


def row_problems(conn: duckdb.DuckDBPyConnection, stream: Stream,
                 parsed: str) -> list[Problem]:
    """What the parsed rows of a window (``parsed``, a stream's table from
    ``lib.normalized.parsing.parse_files`` on ``conn``) say about its landing files: rows
    dated outside their file's requested windows, days of an account's window without its
    row (tables with a row per account and day), and required or metric columns not
    filled."""
    required, metrics = _checked_columns(stream)
    windows = """
        SELECT file, partition, account_id, TRY_CAST(window_start AS DATE) AS lo,
               TRY_CAST(window_end AS DATE) AS hi
        FROM landing_accounts WHERE pending IS NULL"""
    problems = []
    for file, day, dates, lo, hi in conn.execute(f"""
            WITH w AS (SELECT file, partition, min(lo) AS lo, max(hi) AS hi
                       FROM ({windows}) GROUP BY ALL)
            SELECT w.file, w.partition,
                   string_agg(DISTINCT coalesce(p.report_date::VARCHAR, 'NULL'), ', '
                              ORDER BY coalesce(p.report_date::VARCHAR, 'NULL')),
                   any_value(w.lo), any_value(w.hi)
            FROM {parsed} p JOIN w ON w.partition = p.landing_day
            WHERE p.report_date IS NULL OR p.report_date NOT BETWEEN w.lo AND w.hi
            GROUP BY ALL ORDER BY ALL""").fetchall():
        shown = ", ".join(dates.split(", ")[:5])
        problems.append(Problem(stream.name, day, file, "window",
                                f"rows dated {shown} outside the requested window {lo}..{hi}"))
    key = DAILY_ACCOUNT_COLUMN.get(stream.table)
    if key is not None and stream.name != "fx_rates":
        for file, day, account, lo, hi, lacking in conn.execute(f"""
                SELECT file, partition, account_id, lo, hi,
                       string_agg(d::DATE::VARCHAR, ', ' ORDER BY d)
                FROM (SELECT *, unnest(generate_series(lo, hi, INTERVAL 1 DAY)) AS d
                      FROM ({windows}) WHERE lo IS NOT NULL AND hi IS NOT NULL) w
                WHERE NOT EXISTS (SELECT 1 FROM {parsed} p
                                  WHERE p.landing_day = w.partition
                                    AND p.{key} = w.account_id AND p.report_date = w.d)
                GROUP BY ALL ORDER BY ALL""").fetchall():
            problems.append(Problem(stream.name, day, file, "window",
                                    f"account {account}: no row for {lacking} of its "
                                    f"requested window {lo}..{hi}"))
    columns = [*required, *[c for c in metrics if c not in required]]
    present = {d[0] for d in conn.execute(f"SELECT * FROM {parsed} LIMIT 0").description}
    counted = [c for c in columns if c in present]
    counts = ", ".join(f"count({c})" for c in counted)
    rows = conn.execute(f"""
        SELECT f.file, p.landing_day, count(*){', ' + counts if counts else ''}
        FROM {parsed} p JOIN landing_files f ON f.day = p.landing_day
        GROUP BY ALL ORDER BY ALL""").fetchall() if counted else []
    files = conn.execute("SELECT file, day FROM landing_files ORDER BY day").fetchall()
    for column in columns:
        if column not in present:
            label = "required column" if column in required else "metric column"
            problems += [Problem(stream.name, day, file, "column",
                                 f"{label} {column!r} is absent from the parsed rows")
                         for file, day in files]
    for file, day, total, *filled in rows:
        for column, have in zip(counted, filled, strict=True):
            label = "required column" if column in required else "metric column"
            empty = total - have
            if empty == total:
                problems.append(Problem(stream.name, day, file, "column",
                                        f"{label} {column!r} is missing: NULL in all "
                                        f"{total} row(s)"))
            elif empty:
                problems.append(Problem(stream.name, day, file, "column",
                                        f"{label} {column!r} is NULL in {empty} of {total} "
                                        "row(s)"))
    return problems


def _checked_columns(stream: Stream) -> tuple[list[str], list[str]]:
    """(required columns, metric columns) a stream's parsed rows must fill."""
    if stream.name == "fx_rates":
        required = list(FX_REQUIRED)
    else:
        table = TABLES[stream.table]
        required = [c.name for c in table.columns
                    if not c.nullable and c.name in table.parsed_columns]
    metrics = [] if stream.name in META_OBJECTS else \
        list(STREAM_METRIC_COLUMNS.get(stream.name, ()))
    return required, metrics


# -------------------------------------------------------------- Meta metric catalogue
def _fills_a_column(spec: MetricSpec) -> bool:
    return bool(spec.column or spec.by_period or spec.breakdown)


def current_metrics(obj: str, day: date) -> dict[str, MetricSpec]:
    """The catalogue metrics of a Graph object that Meta serves on ``day``, that fill a
    column and that no newer metric replaces: what a complete answer carries. (An old
    name with a ``replacement`` is accepted until it retires, never required.)"""
    return {spec.name: spec for spec in meta_catalog().metrics
            if spec.object == obj and not spec.retired_on(day) and _fills_a_column(spec)
            and spec.replacement is None}


def _named_problems(names: set[str], obj: str, day: date, where: str) -> list[str]:
    problems = []
    for name in sorted(names):
        found = meta_catalog().lookup(obj, name)
        if found is None:
            problems.append(f"{where}: metric {name!r} ({obj}) is not in the Meta metric "
                            "catalogue")
        elif found[1].retired_on(day):
            spec = found[1]
            problems.append(f"{where}: metric {name!r} ({obj}) is retired (Meta stopped "
                            f"serving it after {spec.deprecated_after}); request "
                            f"{spec.replacement!r} instead")
    return problems


def _is_insights(request: dict[str, Any]) -> bool:
    return str(request.get("path", "")).rstrip("/").endswith("/insights")


def _requested(request: dict[str, Any]) -> set[str]:
    metric = (request.get("params") or {}).get("metric") or ""
    return {m.strip() for m in str(metric).split(",") if m.strip()}


def _answered(request: dict[str, Any]) -> set[str]:
    data = (request.get("body") or {}).get("data")
    return {str(e.get("name")) for e in data if isinstance(e, dict)} \
        if isinstance(data, list) else set()


def meta_metric_problems(envelope: Envelope, obj: str, day: date) -> list[str]:
    """A Graph insights file against the Meta metric catalogue: every metric asked for is
    answered, none is unknown or retired, every current metric is present."""
    expected = current_metrics(obj, day)
    problems = []
    for account in envelope.get("accounts", []):
        who = f"account {account.get('account_id')}"
        carried: set[str] = set()
        for request in account.get("requests", []):
            if _is_insights(request):
                owner = str(request.get("path", "")).rstrip("/").split("/")[-2]
                where = who if obj in ACCOUNT_OBJECTS else f"{who} post {owner}"
                asked, answered = _requested(request), _answered(request)
                for name in sorted(asked - answered):
                    problems.append(f"{where}: metric {name!r} was requested but is missing "
                                    "from the answer")
                problems += _named_problems(asked | answered, obj, day, where)
                if obj in ACCOUNT_OBJECTS:
                    carried |= asked | answered
                else:
                    problems += _post_completeness(obj, expected, asked | answered, where)
            elif obj in ACCOUNT_OBJECTS and isinstance(request.get("body"), dict):
                fields = {k for k in request["body"] if k != "id"}  # a node's fields
                problems += _named_problems(fields, obj, day, who)
                carried |= fields
        if obj in ACCOUNT_OBJECTS:
            for name in sorted(set(expected) - carried):
                problems.append(f"{who}: metric {name!r} (fills "
                                f"{_targets(expected[name])}) is missing from the file")
    return problems


def _post_completeness(obj: str, expected: dict[str, MetricSpec], carried: set[str],
                       where: str) -> list[str]:
    return [f"{where}: metric {name!r} (fills {_targets(spec)}) is missing from the answer"
            for name, spec in sorted(expected.items())
            if (obj, name) not in MEDIA_SPECIFIC and name not in carried]


def _targets(spec: MetricSpec) -> str:
    columns = {spec.column, *spec.by_period.values(), *spec.breakdown.values()} - {None}
    return ", ".join(sorted(c for c in columns if c))


# --------------------------------------------------------------------------- freshness
def latest_landing_day(root: LandingStore | Path | str, stream: str) -> date | None:
    """The newest day with a landing file of ``stream`` (temporary files ignored)."""
    return max(landed_days(root, stream), default=None)
