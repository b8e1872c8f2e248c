"""UTM hygiene: how much social traffic the tagging loses, per week and platform.

Attribution of sessions to platforms and campaigns is only as good as the tags. This
module measures, over the stored web and ad tables:

- **untagged**: social sessions that arrived without UTM tags (GA4 derived the source
  from the referrer: medium ``referral``, ``(none)`` or ``(not set)``), so no campaign
  can be credited;
- **unknown source**: sessions tagged with a social medium whose source is neither a
  tracked platform's spelling nor on Google's list of social sources: social, but of no
  platform; the distinct sources are listed ready to paste into ``utm_sources.yaml``;
- **naming**: tagged social sessions whose source, medium or campaign breaks the naming
  convention (lower case, no spaces) or whose medium is outside the mapping's known
  mediums (it still counts as social by its source, but as neither organic nor paid);
- **unmatched campaigns**: ad campaigns with clicks in the week whose name matches no
  ``utm_campaign`` of that week's web data, so their traffic cannot be tied back. Both
  are compared as slugs (lower case, runs of anything but letters and digits as one
  ``_``), and a utm_campaign matches when it is the name's slug or a run of whole words
  in it: teams tag ``always_on`` for the ad campaign "Northwind | Sales | always-on", and
  ``sale`` does not match "Wholesale push". GA4's own values in parentheses
  (``(organic)``, ``(direct)``) match nothing.

Weeks start on Monday, as everywhere in the pipeline. Values are platform and marketer
text: they are returned as data and escaped wherever rendered.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import duckdb

from kpi_pipeline.lib.normalized.utm import UtmMapping, default_mapping, normalize

# Mediums GA4 sets itself when a session carries no utm_medium.
UNTAGGED_MEDIUMS = frozenset({"referral", "(none)", "(not set)", ""})
UNTRACKED, UNKNOWN = "other social", "unknown source"
PASTE_LIMIT = 200  # unknown sources listed for pasting (the most sessions first)


def slug(value: str) -> str:
    """The form campaign names are matched in: ``Spring Sale 2025`` -> ``spring_sale_2025``."""
    return re.sub(r"[^0-9a-z]+", "_", value.strip().lower()).strip("_")


def campaign_tagged(campaign_name: str, utm_campaigns: set[str]) -> bool:
    """Whether one of the (slugged) ``utm_campaigns`` is the campaign name's slug or a run
    of whole words in it."""
    name = f"_{slug(campaign_name)}_"
    return any(tag and f"_{tag}_" in name for tag in utm_campaigns)


@dataclass(frozen=True)
class PlatformWeek:
    """One week and platform (a tracked one, ``other social`` or ``unknown source``)."""

    week: date
    platform: str
    social_sessions: int
    untagged_sessions: int
    unknown_source_sessions: int

    @property
    def lost_share(self) -> float | None:
        """Share of the social sessions untagged or from an unknown source."""
        if not self.social_sessions:
            return None
        return (self.untagged_sessions + self.unknown_source_sessions) / self.social_sessions


@dataclass(frozen=True)
class NamingIssue:
    week: date
    platform: str
    field: str  # source, medium or campaign
    value: str
    problem: str  # "mixed case", "spaces", "unknown medium"
    sessions: int


@dataclass(frozen=True)
class UnmatchedCampaign:
    week: date
    platform: str
    campaign_name: str
    clicks: int


@dataclass(frozen=True)
class HygieneReport:
    """The window's hygiene, each list ordered by week then size."""

    first: date
    last: date
    weeks: tuple[PlatformWeek, ...] = ()
    naming: tuple[NamingIssue, ...] = ()
    unmatched: tuple[UnmatchedCampaign, ...] = ()
    unknown_sources: tuple[tuple[str, int], ...] = field(default=())  # (source, sessions)

    def totals(self) -> dict[str, int]:
        return {"social_sessions": sum(w.social_sessions for w in self.weeks),
                "untagged_sessions": sum(w.untagged_sessions for w in self.weeks),
                "unknown_source_sessions": sum(w.unknown_source_sessions for w in self.weeks),
                "naming_issues": len(self.naming), "unmatched_campaigns": len(self.unmatched)}

    def lost_share(self) -> float | None:
        t = self.totals()
        if not t["social_sessions"]:
            return None
        return (t["untagged_sessions"] + t["unknown_source_sessions"]) / t["social_sessions"]

    def paste_block(self) -> str:
        """The unknown sources as YAML list items, to paste under a platform's ``sources``
        in utm_sources.yaml (or to discard); a comment gives each one's sessions."""
        if not self.unknown_sources:
            return ""
        width = max(len(s) for s, _ in self.unknown_sources[:PASTE_LIMIT])
        lines = [f"      - {_yaml_scalar(s):<{width + 2}}  # {n:,} session(s) "
                 f"{self.first}..{self.last}" for s, n in self.unknown_sources[:PASTE_LIMIT]]
        return "\n".join(lines)


def _yaml_scalar(value: str) -> str:
    """A YAML-safe scalar: quoted unless plainly safe (sources are untrusted text)."""
    if re.fullmatch(r"[a-z0-9][a-z0-9._\-]*", value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _week(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _source_kind(source: str, mapping: UtmMapping) -> str | None:
    """The tracked platform, ``other social`` (Google's list) or None (unknown)."""
    key = normalize(source)
    return mapping.source_platforms().get(key) or (
        UNTRACKED if key in mapping.other_social_sources else None)


def _naming_problems(field_name: str, value: str, known_mediums: frozenset[str],
                     social_source: bool) -> list[str]:
    if field_name == "campaign" and value.startswith("("):
        return []  # GA4's own placeholders: (not set), (referral), (organic)
    problems = []
    if value != value.lower():
        problems.append("mixed case")
    if " " in value or value != value.strip():
        problems.append("spaces")
    if field_name == "medium" and social_source and normalize(value) not in known_mediums:
        problems.append("unknown medium")
    return problems


def hygiene_report(conn: duckdb.DuckDBPyConnection, first: date, last: date,
                   mapping: UtmMapping | None = None) -> HygieneReport:
    """The hygiene of the days [first, last] (whole weeks are the caller's choice). Reads
    the web sessions grouped by day's week, source, medium and campaign (a few thousand
    rows at most), and the ad campaigns with clicks; a table not built yet reads as
    empty."""
    mapping = mapping or default_mapping()
    known = mapping.known_mediums()
    try:
        web = conn.execute(
            """SELECT date_trunc('week', report_date)::DATE, source, medium, campaign,
                      platform, is_social, sum(sessions)::BIGINT
               FROM normalized.web_daily WHERE report_date BETWEEN ? AND ?
               GROUP BY ALL""", [first, last]).fetchall()
    except duckdb.CatalogException:
        web = []
    weeks: dict[tuple[date, str], list[int]] = {}
    naming: dict[tuple, int] = {}
    unknown: dict[str, int] = {}
    campaigns_seen: dict[date, set[str]] = {}
    for week, source, medium, campaign, platform, is_social, sessions in web:
        if not campaign.startswith("("):
            campaigns_seen.setdefault(week, set()).add(slug(campaign))
        if not is_social:
            continue
        kind = platform or _source_kind(source, mapping)
        label = kind or UNKNOWN
        counts = weeks.setdefault((week, label), [0, 0, 0])
        counts[0] += sessions
        tagged = normalize(medium) not in UNTAGGED_MEDIUMS
        if not tagged:
            counts[1] += sessions
            continue
        if kind is None:
            counts[2] += sessions
            key = normalize(source)
            unknown[key] = unknown.get(key, 0) + sessions
        for field_name, value in (("source", source), ("medium", medium),
                                  ("campaign", campaign)):
            for problem in _naming_problems(field_name, value, known, kind is not None):
                issue = (week, label, field_name, value, problem)
                naming[issue] = naming.get(issue, 0) + sessions
    try:
        ads = conn.execute(
            """SELECT date_trunc('week', report_date)::DATE, platform, campaign_name,
                      sum(clicks)::BIGINT
               FROM normalized.ad_daily
               WHERE report_date BETWEEN ? AND ? AND campaign_name IS NOT NULL
               GROUP BY ALL HAVING sum(clicks) > 0""", [first, last]).fetchall()
    except duckdb.CatalogException:
        ads = []
    unmatched = [UnmatchedCampaign(week, platform, name, clicks)
                 for week, platform, name, clicks in ads
                 if not campaign_tagged(name, campaigns_seen.get(week, set()))]
    return HygieneReport(
        first, last,
        tuple(sorted((PlatformWeek(w, p, *c) for (w, p), c in weeks.items()),
                     key=lambda r: (r.week, r.platform))),
        tuple(sorted((NamingIssue(*k, n) for k, n in naming.items()),
                     key=lambda i: (i.week, -i.sessions, i.platform, i.field, i.value))),
        tuple(sorted(unmatched, key=lambda u: (u.week, -u.clicks, u.platform,
                                               u.campaign_name))),
        tuple(sorted(unknown.items(), key=lambda kv: (-kv[1], kv[0]))))


def failures(report: HygieneReport, max_lost_share: float) -> Sequence[str]:
    """What the warning check reports, in words; empty when the window is clean."""
    found = []
    share = report.lost_share()
    if share is not None and share > max_lost_share:
        t = report.totals()
        found.append(f"{share:.1%} of {t['social_sessions']:,} social sessions untagged or "
                     f"from an unknown source (over {max_lost_share:.0%})")
    if report.unknown_sources:
        found.append(f"{len(report.unknown_sources)} unknown social source(s)")
    if report.naming:
        found.append(f"{len(report.naming)} UTM value(s) break the naming convention")
    if report.unmatched:
        found.append(f"{len(report.unmatched)} ad campaign(s) with clicks never in the web "
                     "data")
    return found
