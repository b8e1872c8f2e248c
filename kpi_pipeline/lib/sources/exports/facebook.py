"""Meta exports: Facebook Insights (UCI), Facebook Live sellers, Meta Business Suite posts
(Facebook and Instagram) and Meta's per-metric daily series.

Formats and their quirks:

``uci_facebook_insights`` (post_daily, lifetime): the Facebook Page Insights post export
of the UCI "Facebook metrics" data set (Moro, Rita & Vala 2016): ``;``-separated, CRLF,
Facebook Insights column names (``Lifetime Post Total Reach``, ...).
- No date: only ``Post Month``, ``Post Weekday`` and ``Post Hour``, in a year the
  manifest gives (``year``). Rows are in descending time order, so each post gets the
  latest time at or before the previous row's (the first row's bound is the end of the
  year) that has its month, weekday and hour. **Weekday 1 is Sunday** (1=Sun ... 7=Sat):
  it is the only encoding under which the whole 2014 file walks back without leaving a
  month (Monday-first leaves 13 rows without a day, Saturday-first 2, ...), the newest
  post lands on Wednesday 31 December 2014 and the oldest on 15 January 2014. Including
  the hour makes a later-hour post on the same weekday go a week back, which keeps the
  page's follower count (``Page total likes``) non-decreasing in time on more days than
  a date-only walk does.
- ``post_id`` is ``uci-<line>``: the file has no id, and the line number in the file as
  published is stable. ``Type`` Photo/Status/Link/Video -> photo/text/link/video.
- Stored: impressions (``Lifetime Post Total Impressions``), reach (``... Total
  Reach``), likes (``like``), comments (``comment``), shares (``share``). The other
  columns (paid flag, engaged users, consumers, fan-only reach...) have no column in
  post_daily and are listed as ignored.
- 6 empty cells (one ``Paid``, one ``like``, four ``share``) stay NULL. On 4 rows
  (lines 478, 479, 484, 494) reach exceeds impressions, which cannot happen for one
  post: kept as reported and flagged in the metadata and the log.

``facebook_live_sellers`` (post_daily, lifetime): the UCI "Facebook Live sellers in
Thailand" file (Dehouche 2021), comma-separated, CRLF, no account column.
- ``status_published`` mixes ``M/D/YYYY H:MM`` and ``MM-DD-YYYY HH:MM``, told apart by
  the separator. Both are **month first**: every dashed date has a day of 12 or less and
  every slashed one a day above 12 (a spreadsheet turned the ambiguous ones into dates
  and wrote them back month-first); read month-first the file is in descending time
  order within each seller (9 breaks = 10 sellers), read day-first it breaks 226 times.
- 54 rows repeat another row in every column but ``status_id``: dropped, keeping the
  first, and counted. ``status_id`` is the post id.
- likes = ``num_likes`` (Like reactions only, as the Graph API's likes): reactions are
  not likes. ``num_reactions`` and the other five reaction types have no column and are
  not stored; on 9 rows ``num_reactions`` differs from the sum of the six types: kept
  and flagged. ``status_type`` photo/video/link/status -> photo/video/link/text.

``meta_facebook_posts`` / ``meta_instagram_posts`` (post_daily, lifetime): Meta Business
Suite > Insights > Content > Export, posts, "Lifetime". UTF-8 with a byte-order mark.
- ``Publish time`` is ``MM/DD/YYYY HH:MM`` in the account's time zone (manifest).
- ``Date`` is ``Lifetime``; an export of another period is refused (it would not be a
  lifetime snapshot).
- ``Post ID`` that a spreadsheet rounded to scientific notation (``1.22158E+17``) is
  refused: the id is lost.
- Facebook: ``Reactions`` (all reaction types: the export has no Like-only column) ->
  likes, ``Views``, ``Reach``, ``Comments``, ``Shares``, ``Link clicks``, ``3-second
  video views`` -> video_views, ``Seconds viewed`` -> watch_time_seconds, and
  ``Impressions`` in exports from before Meta replaced it with Views. Caption =
  ``Description``, else ``Title``. ``Post type`` Photos/Videos/Reels/Links/Text.
- Instagram: ``Views``, ``Reach``, ``Likes``, ``Comments``, ``Shares``, ``Saves``
  (``Impressions`` in older exports); a reel without video views takes its views, as the
  API parser does. ``Post type`` IG image/IG carousel/IG reel/IG video/IG story.

``meta_page_daily`` (account_daily): Meta Business Suite's per-metric daily series
(Insights > Results > export): UTF-16 with a byte-order mark, a ``sep=,`` line, the
metric's name on its own line, then ``Date,Primary``. The title picks the column:
Facebook follows / Instagram follows -> follower_gains, Facebook visits / Instagram
profile visits -> profile_views, Views -> views, Viewers / Reach -> reach. Several such
files for the same account and days merge into one account_daily row per day.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, datetime, timedelta

from kpi_pipeline.lib.sources.exports import cells
from kpi_pipeline.lib.sources.exports.cells import Where
from kpi_pipeline.lib.sources.exports.formats import (
    ExportFormat,
    FileRows,
    Mapper,
    Metric,
    choose,
    daily_rows,
    lines_text,
    published_utc,
    snapshot_day,
)
from kpi_pipeline.lib.sources.exports.manifest import Resolved
from kpi_pipeline.lib.sources.exports.reading import CsvFile, ExportError

# ------------------------------------------------------------------ UCI Facebook metrics
UCI_WEEKDAY_ONE = "Sunday"  # Post Weekday 1 = Sunday ... 7 = Saturday (see the docstring)
UCI_TYPES = {"photo": "photo", "status": "text", "link": "link", "video": "video"}
UCI_METRICS = (
    Metric("impressions", ("Lifetime Post Total Impressions",)),
    Metric("reach", ("Lifetime Post Total Reach",)),
    Metric("likes", ("like",)),
    Metric("comments", ("comment",)),
    Metric("shares", ("share",)),
)
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def uci_weekday(code: int) -> int:
    """UCI's Post Weekday (1=Sunday..7=Saturday) as Python's weekday (0=Monday)."""
    return (code + 5) % 7


def _month_end(year: int, month: int) -> date:
    first_next = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return first_next - timedelta(days=1)


def walk_back(previous: datetime, year: int, month: int, weekday: int,
              hour: int) -> datetime | None:
    """The latest time at or before ``previous`` in ``month`` of ``year`` on ``weekday``
    (Python's) at ``hour``; None when the month holds no such time before ``previous``."""
    day = min(previous.date(), _month_end(year, month))
    if day.year != year or day < date(year, month, 1):
        return None
    if datetime(day.year, day.month, day.day, hour) > previous:
        day -= timedelta(days=1)
    while day.weekday() != weekday:
        day -= timedelta(days=1)
    if day.month != month or day.year != year:
        return None
    return datetime(day.year, day.month, day.day, hour)


def read_uci(csv: CsvFile, settings: Resolved) -> FileRows:
    mapper = Mapper(csv, UCI_METRICS, {"type": ("Type",), "month": ("Post Month",),
                                       "weekday": ("Post Weekday",), "hour": ("Post Hour",),
                                       "interactions": ("Total Interactions",)})
    mapper.require("type", "month", "weekday", "hour")
    year = int(settings.require("year", "the file has month, weekday and hour but no year"))
    as_of = snapshot_day(settings)
    previous = datetime(year, 12, 31, 23, 59, 59)
    previous_line = None
    rows, empty, reach_over, interactions_off = [], [], [], []
    seen: dict[tuple[str, ...], int] = {}
    for row in csv.rows:
        # No post id: a line repeated whole cannot be told from a second post with the same
        # figures at the same hour, and would count twice. Refused, naming both lines.
        cells_key = tuple(cell.strip() for cell in row.cells)
        if cells_key in seen:
            raise ExportError(csv.name, f"repeats line {seen[cells_key]} in every column: the "
                              "file has no post id, so a repeated line would count as a second "
                              "post. Remove the repeat (or, if two posts really match, export "
                              "with post ids)", line=row.line)
        seen[cells_key] = row.line
        empty += [f"line {row.line} {name!r}" for name, cell in zip(csv.header, row.cells,
                                                                    strict=False)
                  if not cell.strip()]
        text, where = mapper.text(row, "type")
        media_type = choose(UCI_TYPES, text, where, "Type")
        month = cells.integer_in(*mapper.text(row, "month"), 1, 12)
        code = cells.integer_in(*mapper.text(row, "weekday"), 1, 7)
        hour = cells.integer_in(*mapper.text(row, "hour"), 0, 23)
        local = walk_back(previous, year, month, uci_weekday(code), hour)
        if local is None:
            after = (f"the post on line {previous_line} ({previous:%Y-%m-%d %H:00})"
                     if previous_line else f"the end of {year}")
            raise ExportError(
                csv.name, f"no {_WEEKDAYS[uci_weekday(code)]} (Post Weekday {code}, 1 = "
                f"{UCI_WEEKDAY_ONE}) at {hour}:00 in {date(year, month, 1):%B %Y} at or before "
                f"{after}: the rows must be in descending time order and `year` in "
                "exports.yaml must be the year of the first (newest) post",
                line=row.line, column=where.column)
        values = mapper.values(row)
        if (values["reach"] is not None and values["impressions"] is not None
                and values["reach"] > values["impressions"]):
            reach_over.append(row.line)
        total, twhere = mapper.text(row, "interactions")
        parts = [values["likes"], values["comments"], values["shares"]]
        if (total is not None and total.strip() and None not in parts
                and cells.count(total, twhere) != sum(parts)):
            interactions_off.append(row.line)
        rows.append({"_line": row.line, "report_date": as_of, "post_id": f"uci-{row.line}",
                     "published_at": published_utc(local, settings, where, as_of),
                     "media_type": media_type, "caption": None, **values})
        previous, previous_line = local, row.line
    warnings = []
    if reach_over:
        warnings.append(f"{len(reach_over)} post(s) report more reach than impressions "
                        f"(lines {lines_text(reach_over)}); kept as the platform reported them")
    if interactions_off:
        warnings.append(f"{len(interactions_off)} post(s) have Total Interactions other than "
                        f"like + comment + share (lines {lines_text(interactions_off)})")
    quirks = {"empty_cells_kept_null": len(empty), "empty_cells": empty[:20],
              "reach_exceeds_impressions": len(reach_over),
              "reach_exceeds_impressions_lines": reach_over,
              "interactions_mismatch": len(interactions_off),
              "weekday_encoding": f"1 = {UCI_WEEKDAY_ONE}", "year": year}
    return FileRows(rows, mapper.columns(media_type="type", published_at="month"), quirks,
                    warnings, mapper.ignored())


# ----------------------------------------------------------------- Facebook Live sellers
LIVE_TYPES = {"photo": "photo", "video": "video", "link": "link", "status": "text"}
LIVE_METRICS = (
    Metric("likes", ("num_likes",)),
    Metric("comments", ("num_comments",)),
    Metric("shares", ("num_shares",)),
)
LIVE_REACTIONS = ("num_likes", "num_loves", "num_wows", "num_hahas", "num_sads", "num_angrys")
LIVE_DATE_FORMATS = {"/": ("%m/%d/%Y %H:%M",), "-": ("%m-%d-%Y %H:%M",)}
_LIVE_FORM_NAMES = {"/": "M/D/YYYY H:MM", "-": "MM-DD-YYYY HH:MM"}


def read_live_sellers(csv: CsvFile, settings: Resolved) -> FileRows:
    fields = {"id": ("status_id",), "type": ("status_type",), "published": ("status_published",),
              "reactions": ("num_reactions",)}
    fields.update({name: (name,) for name in LIVE_REACTIONS})
    mapper = Mapper(csv, LIVE_METRICS, fields)
    mapper.require("id", "type", "published", "reactions", *LIVE_REACTIONS)
    as_of = snapshot_day(settings)
    id_index = mapper.fields["id"][1]
    first_seen: dict[tuple[str, ...], int] = {}
    dropped: list[tuple[int, int]] = []
    ids: dict[str, int] = {}
    forms: Counter[str] = Counter()
    rows, reactions_off = [], []
    for row in csv.rows:
        rest = tuple(c.strip() for i, c in enumerate(row.cells) if i != id_index)
        if rest in first_seen:
            dropped.append((row.line, first_seen[rest]))
            continue
        first_seen[rest] = row.line
        post_id = cells.required_text(*mapper.text(row, "id"))
        if post_id in ids:
            raise ExportError(csv.name, f"status_id {post_id!r} also on line {ids[post_id]} "
                              "with other values: which one is right cannot be told",
                              line=row.line, column=mapper.fields["id"][0])
        ids[post_id] = row.line
        text, where = mapper.text(row, "published")
        value = cells.required_text(text, where)
        separator = "/" if "/" in value else "-" if "-" in value else None
        if separator is None:
            raise where.error(f"value {text!r} is neither M/D/YYYY H:MM nor MM-DD-YYYY HH:MM")
        local = cells.local_datetime(value, where, LIVE_DATE_FORMATS[separator])
        forms[_LIVE_FORM_NAMES[separator]] += 1
        media_type = choose(LIVE_TYPES, *mapper.text(row, "type"), "status_type")
        values = mapper.values(row)
        total = cells.count(*mapper.text(row, "reactions"))
        kinds = [cells.count(*mapper.text(row, name)) for name in LIVE_REACTIONS]
        if total is not None and None not in kinds and total != sum(kinds):
            reactions_off.append(row.line)
        rows.append({"_line": row.line, "report_date": as_of, "post_id": post_id,
                     "published_at": published_utc(local, settings, where, as_of),
                     "media_type": media_type, "caption": None, **values})
    warnings = []
    if dropped:
        warnings.append(f"dropped {len(dropped)} row(s) repeating an earlier row in every "
                        f"column but status_id (lines {lines_text([d for d, _ in dropped])})")
    if reactions_off:
        warnings.append(f"{len(reactions_off)} post(s) have num_reactions other than the sum "
                        f"of the six reaction types (lines {lines_text(reactions_off)}); "
                        "kept (reactions are not stored, likes = num_likes)")
    quirks = {"duplicates_dropped": len(dropped),
              "duplicates": [f"line {d} repeats line {k}" for d, k in dropped[:20]],
              "reactions_mismatch": len(reactions_off),
              "reactions_mismatch_lines": reactions_off, "date_forms": dict(forms)}
    used = ("num_reactions", *LIVE_REACTIONS)
    return FileRows(rows, mapper.columns(post_id="id", media_type="type",
                                         published_at="published"),
                    quirks, warnings, mapper.ignored(*used))


# --------------------------------------------------------- Meta Business Suite post exports
META_PUBLISH_FORMATS = ("%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S",
                        "%Y-%m-%d %H:%M")
FACEBOOK_POST_TYPES = {"photo": "photo", "photos": "photo", "video": "video",
                       "videos": "video", "reel": "reel", "reels": "reel", "link": "link",
                       "links": "link", "text": "text", "status": "text", "album": "carousel",
                       "carousel": "carousel", "live": "video", "story": "story",
                       "stories": "story"}
INSTAGRAM_POST_TYPES = {"ig image": "photo", "ig carousel": "carousel", "ig reel": "reel",
                        "ig video": "video", "ig story": "story"}
FACEBOOK_METRICS = (
    Metric("impressions", ("Impressions",)),
    Metric("views", ("Views",)),
    Metric("reach", ("Reach",)),
    Metric("likes", ("Reactions",)),
    Metric("comments", ("Comments",)),
    Metric("shares", ("Shares",)),
    Metric("link_clicks", ("Link clicks",)),
    Metric("video_views", ("3-second video views", "3-Second Video Views")),
    Metric("watch_time_seconds", ("Seconds viewed",), cells.seconds),
)
INSTAGRAM_METRICS = (
    Metric("impressions", ("Impressions",)),
    Metric("views", ("Views",)),
    Metric("reach", ("Reach",)),
    Metric("likes", ("Likes",)),
    Metric("comments", ("Comments",)),
    Metric("shares", ("Shares",)),
    Metric("saves", ("Saves",)),
)
_SCIENTIFIC = re.compile(r"^\d+(\.\d+)?[eE][+-]?\d+$")
_META_ID = re.compile(r"^[0-9_]+$")


def _meta_posts(csv: CsvFile, settings: Resolved, metrics: tuple[Metric, ...],
                types: dict[str, str], *, reel_views_are_video_views: bool) -> FileRows:
    mapper = Mapper(csv, metrics, {"id": ("Post ID",), "published": ("Publish time",),
                                   "type": ("Post type",), "period": ("Date",),
                                   "description": ("Description",), "title": ("Title",)})
    mapper.require("id", "published", "type")
    as_of = snapshot_day(settings)
    rows, ids = [], {}
    for row in csv.rows:
        text, where = mapper.text(row, "id")
        post_id = cells.required_text(text, where)
        if _SCIENTIFIC.match(post_id):
            raise where.error(f"value {text!r} is a post id a spreadsheet rounded to "
                              "scientific notation: the id is lost. Export again and do not "
                              "open and save the file in a spreadsheet")
        if not _META_ID.match(post_id):
            raise where.error(f"value {text!r} is not a Meta post id (digits and '_')")
        if post_id in ids:
            raise where.error(f"post {post_id} is also on line {ids[post_id]}")
        ids[post_id] = row.line
        period, pwhere = mapper.text(row, "period")
        if period is not None and period.strip() and period.strip().casefold() != "lifetime":
            raise pwhere.error(f"value {period!r}: only lifetime exports are read (Date = "
                               "Lifetime); a period export is not a lifetime snapshot")
        text, where = mapper.text(row, "published")
        local = cells.local_datetime(text, where, META_PUBLISH_FORMATS)
        media_type = choose(types, *mapper.text(row, "type"), "Post type")
        description = mapper.text(row, "description")[0]
        title = mapper.text(row, "title")[0]
        caption = next((c for c in (description, title) if c is not None and c.strip()), None)
        values = mapper.values(row)
        if (reel_views_are_video_views and media_type == "reel"
                and values.get("video_views") is None):
            values["video_views"] = values["views"]
        rows.append({"_line": row.line, "report_date": as_of, "post_id": post_id,
                     "published_at": published_utc(local, settings, where, as_of),
                     "media_type": media_type, "caption": caption, **values})
    return FileRows(rows, mapper.columns(post_id="id", published_at="published",
                                         media_type="type", caption="description"),
                    {}, [], mapper.ignored())


def read_facebook_posts(csv: CsvFile, settings: Resolved) -> FileRows:
    return _meta_posts(csv, settings, FACEBOOK_METRICS, FACEBOOK_POST_TYPES,
                       reel_views_are_video_views=False)


def read_instagram_posts(csv: CsvFile, settings: Resolved) -> FileRows:
    return _meta_posts(csv, settings, INSTAGRAM_METRICS, INSTAGRAM_POST_TYPES,
                       reel_views_are_video_views=True)


# ------------------------------------------------------------ Meta per-metric daily series
META_DAILY_TITLES: dict[str, tuple[str | None, str]] = {
    "facebook follows": ("facebook", "follower_gains"),
    "instagram follows": ("instagram", "follower_gains"),
    "facebook visits": ("facebook", "profile_views"),
    "instagram profile visits": ("instagram", "profile_views"),
    "views": (None, "views"),
    "viewers": (None, "reach"),
    "reach": (None, "reach"),
}
META_DAILY_DATES = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d")


def _midnight(text: str | None, where: Where) -> date:
    moment = cells.local_datetime(text, where, META_DAILY_DATES)
    if moment.time() != datetime.min.time():
        raise where.error(f"value {text!r} is not midnight: a daily series is expected")
    return moment.date()


def read_meta_page_daily(csv: CsvFile, settings: Resolved) -> FileRows:
    title = (csv.title or "").strip()
    known = META_DAILY_TITLES.get(title.casefold())
    if known is None:
        names = ", ".join(repr(t.title() if t != "viewers" else "Viewers")
                          for t in META_DAILY_TITLES)
        raise ExportError(csv.name, f"the metric named above the header ({title!r}) is not "
                          f"one stored in account_daily (known: {names}); put the file under "
                          "`ignore:` in exports.yaml if it is not needed",
                          line=max(csv.header_line - 1, 1))
    platform, column = known
    if platform is None:
        platform = str(settings.require("platform", f"the metric {title!r} does not say "
                                                    "which platform it is from"))
    mapper = Mapper(csv, (Metric(column, ("Primary",)),), {"date": ("Date",)})
    rows = daily_rows(csv, mapper, _midnight)
    return FileRows(rows, mapper.columns(report_date="date"), {"metric": title},
                    [], mapper.ignored(), platform=platform)


FORMATS = (
    ExportFormat(
        "uci_facebook_insights", "facebook", "post_daily",
        (("Post Month",), ("Post Weekday",), ("Post Hour",),
         ("Lifetime Post Total Reach",), ("Lifetime Post Total Impressions",)),
        read_uci, "Facebook Page Insights post export with month/weekday/hour and no date "
                  "(UCI Facebook metrics)", lifetime=True),
    ExportFormat(
        "facebook_live_sellers", "facebook", "post_daily",
        (("status_id",), ("status_type",), ("status_published",), ("num_reactions",),
         ("num_likes",)),
        read_live_sellers, "Facebook Live sellers posts with reaction counts (UCI)",
        lifetime=True),
    ExportFormat(
        "meta_facebook_posts", "facebook", "post_daily",
        (("Post ID",), ("Page ID",), ("Publish time",), ("Permalink",), ("Post type",)),
        read_facebook_posts, "Meta Business Suite Facebook post export (lifetime)",
        lifetime=True),
    ExportFormat(
        "meta_instagram_posts", "instagram", "post_daily",
        (("Post ID",), ("Account ID",), ("Account username",), ("Publish time",),
         ("Permalink",), ("Post type",)),
        read_instagram_posts, "Meta Business Suite Instagram post export (lifetime)",
        lifetime=True),
    ExportFormat(
        "meta_page_daily", None, "account_daily", (("Date",), ("Primary",)),
        read_meta_page_daily, "Meta Business Suite per-metric daily series (the metric is "
                              "named above the header)"),
)
