"""LinkedIn page analytics exports (Page > Analytics > Content / Followers > Export).

LinkedIn exports workbooks (``.xls``); save the sheet as CSV (UTF-8) and drop that. A
title line above the header (the sheet's name or a note) is skipped.

``linkedin_posts`` (post_daily, lifetime): the "All posts" sheet. ``Post link`` (older
exports: ``Update link``) gives the post id: the ``urn:li:activity|share|ugcPost:<n>``
in it, else the link itself. ``Created date`` (``MM/DD/YYYY``, no time: the post is
dated local midnight) and ``Content Type`` (Image, Multi-image/Carousel/Document, Video,
Text/Poll, Article/Link/Event/Newsletter -> photo, carousel, video, text, link). Stored:
``Impressions``, ``Likes`` (LinkedIn counts reactions), ``Comments``, ``Reposts``
(older: ``Shares``) -> shares, ``Clicks`` -> link_clicks (as the API parser stores
LinkedIn's clickCount), ``Views (excluding off-site video views)`` (older: ``Video
views``) -> video_views. Caption = ``Post title`` (older: ``Update title``). CTR,
engagement rate and follows are derived or not post columns: ignored.

``linkedin_page_metrics`` (account_daily): the "Metrics" sheet, one row per day:
``Impressions (total)`` -> impressions, ``Unique impressions (organic)`` -> reach
(organic only, as the API's uniqueImpressionsCount), ``Clicks (total)``, ``Reactions
(total)`` -> likes, ``Comments (total)``, ``Reposts (total)`` (older: ``Shares
(total)``). The organic/sponsored splits and engagement rates are ignored.

``linkedin_followers`` (account_daily): the "New followers" sheet: ``Total followers``
there is the number of NEW followers that day (organic + sponsored + auto-invited) ->
follower_gains, not the follower count.
"""

from __future__ import annotations

import re

from kpi_pipeline.lib.sources.exports import cells
from kpi_pipeline.lib.sources.exports.formats import (
    ExportFormat,
    FileRows,
    Mapper,
    Metric,
    choose,
    daily_rows,
    date_in,
    published_utc,
    snapshot_day,
)
from kpi_pipeline.lib.sources.exports.manifest import Resolved
from kpi_pipeline.lib.sources.exports.reading import CsvFile

LINKEDIN_DATES = ("%m/%d/%Y", "%m/%d/%Y %H:%M", "%Y-%m-%d")
CONTENT_TYPES = {"image": "photo", "multi-image": "carousel", "carousel": "carousel",
                 "document": "carousel", "video": "video", "text": "text", "poll": "text",
                 "article": "link", "link": "link", "event": "link", "newsletter": "link"}
POST_METRICS = (
    Metric("impressions", ("Impressions",)),
    Metric("likes", ("Likes",)),
    Metric("comments", ("Comments",)),
    Metric("shares", ("Reposts", "Shares")),
    Metric("link_clicks", ("Clicks",)),
    Metric("video_views", ("Views (excluding off-site video views)", "Video views")),
)
PAGE_METRICS = (
    Metric("impressions", ("Impressions (total)",)),
    Metric("reach", ("Unique impressions (organic)",)),
    Metric("clicks", ("Clicks (total)",)),
    Metric("likes", ("Reactions (total)",)),
    Metric("comments", ("Comments (total)",)),
    Metric("shares", ("Reposts (total)", "Shares (total)")),
)
FOLLOWER_METRICS = (Metric("follower_gains", ("Total followers",)),)
_URN = re.compile(r"urn:li:(?:activity|share|ugcPost):\d+")


def read_posts(csv: CsvFile, settings: Resolved) -> FileRows:
    mapper = Mapper(csv, POST_METRICS, {"link": ("Post link", "Update link"),
                                        "created": ("Created date",),
                                        "type": ("Content Type",),
                                        "title": ("Post title", "Update title")})
    mapper.require("link", "created", "type")
    as_of = snapshot_day(settings)
    rows, ids = [], {}
    for row in csv.rows:
        text, where = mapper.text(row, "link")
        link = cells.required_text(text, where)
        urn = _URN.search(link)
        post_id = urn.group(0) if urn else link
        if post_id in ids:
            raise where.error(f"post {post_id} is also on line {ids[post_id]}")
        ids[post_id] = row.line
        text, where = mapper.text(row, "created")
        local = cells.local_datetime(text, where, LINKEDIN_DATES)
        media_type = choose(CONTENT_TYPES, *mapper.text(row, "type"), "Content Type")
        caption = mapper.text(row, "title")[0]
        rows.append({"_line": row.line, "report_date": as_of, "post_id": post_id,
                     "published_at": published_utc(local, settings, where, as_of),
                     "media_type": media_type,
                     "caption": caption if caption is not None and caption.strip() else None,
                     **mapper.values(row)})
    return FileRows(rows, mapper.columns(post_id="link", published_at="created",
                                         media_type="type", caption="title"),
                    {}, [], mapper.ignored())


def read_page_metrics(csv: CsvFile, settings: Resolved) -> FileRows:
    mapper = Mapper(csv, PAGE_METRICS, {"date": ("Date",)})
    return FileRows(daily_rows(csv, mapper, date_in(LINKEDIN_DATES)),
                    mapper.columns(report_date="date"), {}, [], mapper.ignored())


def read_followers(csv: CsvFile, settings: Resolved) -> FileRows:
    mapper = Mapper(csv, FOLLOWER_METRICS, {"date": ("Date",)})
    return FileRows(daily_rows(csv, mapper, date_in(LINKEDIN_DATES)),
                    mapper.columns(report_date="date"), {}, [], mapper.ignored())


FORMATS = (
    ExportFormat("linkedin_posts", "linkedin", "post_daily",
                 (("Post link", "Update link"), ("Created date",), ("Impressions",),
                  ("Likes",), ("Content Type",)),
                 read_posts, "LinkedIn page analytics, All posts sheet (lifetime)",
                 lifetime=True),
    ExportFormat("linkedin_page_metrics", "linkedin", "account_daily",
                 (("Date",), ("Impressions (total)",), ("Clicks (total)",)),
                 read_page_metrics, "LinkedIn page analytics, Metrics sheet (daily)"),
    ExportFormat("linkedin_followers", "linkedin", "account_daily",
                 (("Date",), ("Sponsored followers",), ("Organic followers",),
                  ("Total followers",)),
                 read_followers, "LinkedIn page analytics, New followers sheet (daily)"),
)
