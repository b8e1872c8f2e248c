"""TikTok Studio analytics exports (Analytics > Content / Overview / Followers > Download).

``tiktok_videos`` (post_daily, lifetime): the Content export. The post id is the number
in ``Video link`` (``.../video/<id>``); ``Post time`` is ``YYYY-MM-DD HH:MM[:SS]`` or a
date alone (local midnight). Stored: ``Total views`` -> views and video_views (as the API
parser: TikTok's views are video plays), ``Total likes``, ``Total comments``, ``Total
shares``, ``Add to favorites`` -> saves, ``Total play time`` (seconds or ``h:mm:ss``) ->
watch_time_seconds, ``Watched full video`` (a percent) x views -> completions, as the API
parser computes them. Abbreviated numbers (``1.2K``) are refused: they are rounded.
Caption = ``Video title``; every post is a video.

``tiktok_overview`` (account_daily): ``Date, Video Views, Profile Views, Likes,
Comments, Shares`` -> views, profile_views, likes, comments, shares. TikTok writes the
date without a year (``October 1``): the manifest's ``year`` is the year of the FIRST
row, and the year steps up when the month goes back (a December -> January export).
ISO dates (``2025-10-01``) are read as they are.

``tiktok_follower_history`` (account_daily): ``Date, Followers, Difference in followers
from previous day`` -> followers (the count at the day's end). The difference is a net
change, not gains or losses, and is not stored.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from kpi_pipeline.lib.sources.exports import cells
from kpi_pipeline.lib.sources.exports.cells import Where
from kpi_pipeline.lib.sources.exports.formats import (
    ExportFormat,
    FileRows,
    Mapper,
    Metric,
    daily_rows,
    published_utc,
    snapshot_day,
)
from kpi_pipeline.lib.sources.exports.manifest import Resolved
from kpi_pipeline.lib.sources.exports.reading import CsvFile

POST_TIMES = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")
VIDEO_METRICS = (
    Metric("views", ("Total views",)),
    Metric("likes", ("Total likes",)),
    Metric("comments", ("Total comments",)),
    Metric("shares", ("Total shares",)),
    Metric("saves", ("Add to favorites",)),
    Metric("watch_time_seconds", ("Total play time",), cells.seconds),
)
OVERVIEW_METRICS = (
    Metric("views", ("Video Views",)),
    Metric("profile_views", ("Profile Views",)),
    Metric("likes", ("Likes",)),
    Metric("comments", ("Comments",)),
    Metric("shares", ("Shares",)),
)
FOLLOWER_METRICS = (Metric("followers", ("Followers",)),)
_VIDEO_ID = re.compile(r"/video/(\d+)")
_MONTH_DAY = re.compile(r"^([A-Za-z]+)\s+(\d{1,2})$")


def read_videos(csv: CsvFile, settings: Resolved) -> FileRows:
    mapper = Mapper(csv, VIDEO_METRICS, {"link": ("Video link",), "posted": ("Post time",),
                                         "title": ("Video title",),
                                         "full": ("Watched full video",)})
    mapper.require("link", "posted")
    as_of = snapshot_day(settings)
    rows, ids = [], {}
    for row in csv.rows:
        text, where = mapper.text(row, "link")
        found = _VIDEO_ID.search(cells.required_text(text, where))
        if found is None:
            raise where.error(f"value {text!r} is not a TikTok video link (.../video/<id>)")
        post_id = found.group(1)
        if post_id in ids:
            raise where.error(f"video {post_id} is also on line {ids[post_id]}")
        ids[post_id] = row.line
        text, where = mapper.text(row, "posted")
        local = cells.local_datetime(text, where, POST_TIMES)
        values = mapper.values(row)
        full = cells.ratio(*mapper.text(row, "full"))
        views = values["views"]
        caption = mapper.text(row, "title")[0]
        rows.append({"_line": row.line, "report_date": as_of, "post_id": post_id,
                     "published_at": published_utc(local, settings, where, as_of),
                     "media_type": "video",
                     "caption": caption if caption is not None and caption.strip() else None,
                     **values, "video_views": views,
                     "completions": None if views is None or full is None
                     else round(views * full)})
    return FileRows(rows, mapper.columns(post_id="link", published_at="posted",
                                         caption="title", completions="full"),
                    {}, [], mapper.ignored())


class _YearlessDays:
    """Dates like ``October 1`` in a file without years: the first row is in ``year``, and
    each step back in month (December -> January) moves to the next year."""

    def __init__(self, settings: Resolved) -> None:
        self.settings = settings
        self.year: int | None = None
        self.month: int | None = None

    def __call__(self, text: str | None, where: Where) -> date:
        value = cells.required_text(text, where)
        if _MONTH_DAY.match(value) is None:
            return cells.local_datetime(value, where, ("%Y-%m-%d",)).date()
        if self.year is None:
            self.year = int(self.settings.require("year", "TikTok writes dates without a year"))
        parsed = cells.local_datetime(f"{value} 2000", where, ("%B %d %Y", "%b %d %Y"))
        if self.month is not None and parsed.month < self.month:
            self.year += 1
        self.month = parsed.month
        try:
            return datetime(self.year, parsed.month, parsed.day).date()
        except ValueError:
            raise where.error(f"value {text!r} does not exist in {self.year}") from None


def read_overview(csv: CsvFile, settings: Resolved) -> FileRows:
    mapper = Mapper(csv, OVERVIEW_METRICS, {"date": ("Date",)})
    return FileRows(daily_rows(csv, mapper, _YearlessDays(settings)),
                    mapper.columns(report_date="date"), {}, [], mapper.ignored())


def read_follower_history(csv: CsvFile, settings: Resolved) -> FileRows:
    mapper = Mapper(csv, FOLLOWER_METRICS, {"date": ("Date",)})
    return FileRows(daily_rows(csv, mapper, _YearlessDays(settings)),
                    mapper.columns(report_date="date"), {}, [], mapper.ignored())


FORMATS = (
    ExportFormat("tiktok_videos", "tiktok", "post_daily",
                 (("Video link",), ("Post time",), ("Total views",), ("Total likes",)),
                 read_videos, "TikTok Studio content export (lifetime per video)",
                 lifetime=True),
    ExportFormat("tiktok_overview", "tiktok", "account_daily",
                 (("Date",), ("Video Views",), ("Profile Views",)),
                 read_overview, "TikTok Studio overview export (daily)"),
    ExportFormat("tiktok_follower_history", "tiktok", "account_daily",
                 (("Date",), ("Followers",), ("Difference in followers from previous day",)),
                 read_follower_history, "TikTok Studio follower history (daily)"),
)
