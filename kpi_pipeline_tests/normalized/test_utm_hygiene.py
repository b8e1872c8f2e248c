"""UTM hygiene counted by hand on a small fixture: two weeks of GA4 rows resolved by the
real mapping (Google's social list included), and ad campaigns beside them."""

from __future__ import annotations

from datetime import date

import dagster as dg
import duckdb
import pandas as pd
import pytest

from kpi_pipeline.defs.normalized.hygiene import max_lost_share, utm_hygiene_check
from kpi_pipeline.defs.partitions import ingest_weeks
from kpi_pipeline.defs.resources import Warehouse
from kpi_pipeline.defs.settings import UTM_LOST_SHARE
from kpi_pipeline.lib.normalized import utm
from kpi_pipeline.lib.normalized.store import ensure_tables
from kpi_pipeline.lib.normalized.utm_hygiene import (
    NamingIssue,
    PlatformWeek,
    UnmatchedCampaign,
    failures,
    hygiene_report,
    slug,
)
from kpi_pipeline.lib.reports.utm_hygiene_section import render_section

W1, W2 = date(2025, 3, 3), date(2025, 3, 10)  # Mondays
SCRIPT = "<script>alert(1)</script>"

# day, source, medium, campaign, sessions
WEB = [
    (date(2025, 3, 3), "facebook", "social", "spring_sale", 100),      # tagged, clean
    (date(2025, 3, 4), "m.facebook.com", "referral", "(referral)", 40),  # untagged
    (date(2025, 3, 5), "Facebook", "Social", "Spring Sale", 10),       # mixed case, spaces
    (date(2025, 3, 5), "instagram", "story", "bio_link", 20),          # unknown medium
    (date(2025, 3, 6), "insta", "social", "bio_link", 7),              # unknown source
    (date(2025, 3, 6), SCRIPT, "paid_social", "x", 3),                 # unknown, hostile
    (date(2025, 3, 7), "t.co", "referral", "(referral)", 5),           # other social, untagged
    (date(2025, 3, 7), "google", "organic", "(organic)", 500),         # not social
    (date(2025, 3, 7), "google", "cpc", "sale", 1),                    # not social; a tag
    (date(2025, 3, 11), "tiktok", "paid_social", "creator_collab", 50),  # week 2, clean
    (date(2025, 3, 12), "insta", "social", "bio_link", 2),             # unknown again
]
# day, platform, campaign name, clicks
ADS = [
    (date(2025, 3, 3), "meta", "Spring Sale", 30),       # slug spring_sale: in week 1's web
    (date(2025, 3, 4), "meta", "Northwind | Always-on", 12),  # never in the web data
    (date(2025, 3, 4), "tiktok", "creator_collab", 9),    # in week 2's web, not week 1's
    (date(2025, 3, 4), "linkedin", "lead_gen", 0),        # no clicks: not judged
    (date(2025, 3, 12), "tiktok", "Creator Collab", 4),   # matches week 2
    (date(2025, 3, 5), "meta", "Thames | Sales | spring-sale", 6),  # spring_sale as words
    (date(2025, 3, 5), "meta", "Wholesale Push", 5),      # "sale" is no word of it: unmatched
]


def hygiene_store(path: str = ":memory:") -> duckdb.DuckDBPyConnection:
    """A store holding the WEB and ADS rows (web rows resolved by the real mapping)."""
    conn = duckdb.connect(path)
    ensure_tables(conn)
    frame = utm.resolve_platforms(pd.DataFrame(WEB, columns=["report_date", "source", "medium",
                                                             "campaign", "sessions"]))
    for row in frame.itertuples(index=False):
        conn.execute("""INSERT INTO normalized.web_daily (report_date, property_id, brand,
                        source, medium, campaign, platform, is_social, is_paid, sessions,
                        currency, reporting_currency, fx_rate, source_stream, api_version,
                        pulled_at) VALUES (?, 'p', 'b', ?, ?, ?, ?, ?, ?, ?, 'USD', 'USD', 1,
                        'ga4', 'v1', now())""",
                     [row.report_date, row.source, row.medium, row.campaign,
                      None if pd.isna(row.platform) else row.platform, bool(row.is_social),
                      bool(row.is_paid), row.sessions])
    for day, platform, name, clicks in ADS:
        conn.execute("""INSERT INTO normalized.ad_daily (report_date, platform, ad_account_id,
                        brand, campaign_id, campaign_name, currency, spend, clicks,
                        reporting_currency, fx_rate, spend_reporting, source_stream,
                        api_version, pulled_at) VALUES (?, ?, 'a', 'b', ?, ?, 'USD', 1, ?,
                        'USD', 1, 1, 'ads', 'v1', now())""",
                     [day, platform, name, name, clicks])
    return conn


@pytest.fixture(scope="module")
def store() -> duckdb.DuckDBPyConnection:
    conn = hygiene_store()
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def report(store):
    return hygiene_report(store, W1, date(2025, 3, 16))


def test_sessions_per_week_and_platform(report):
    assert report.weeks == (
        # facebook: 100 + 40 + 10; untagged 40 (m.facebook.com referral)
        PlatformWeek(W1, "facebook", 150, 40, 0),
        PlatformWeek(W1, "instagram", 20, 0, 0),
        PlatformWeek(W1, "other social", 5, 5, 0),  # t.co: Google's list, untracked
        PlatformWeek(W1, "unknown source", 10, 0, 10),  # insta 7 + the script 3
        PlatformWeek(W2, "tiktok", 50, 0, 0),
        PlatformWeek(W2, "unknown source", 2, 0, 2))
    # lost: (40 + 5 untagged) + (10 + 2 unknown) = 57 of 237 social sessions
    assert report.lost_share() == pytest.approx(57 / 237)
    assert report.weeks[0].lost_share == pytest.approx(40 / 150)


def test_naming_issues(report):
    assert report.naming == (
        NamingIssue(W1, "instagram", "medium", "story", "unknown medium", 20),
        NamingIssue(W1, "facebook", "campaign", "Spring Sale", "mixed case", 10),
        NamingIssue(W1, "facebook", "campaign", "Spring Sale", "spaces", 10),
        NamingIssue(W1, "facebook", "medium", "Social", "mixed case", 10),
        NamingIssue(W1, "facebook", "source", "Facebook", "mixed case", 10))


def test_campaigns_missing_from_the_web_data(report):
    assert report.unmatched == (
        UnmatchedCampaign(W1, "meta", "Northwind | Always-on", 12),
        UnmatchedCampaign(W1, "tiktok", "creator_collab", 9),
        UnmatchedCampaign(W1, "meta", "Wholesale Push", 5))
    assert slug(" Black Friday <Promo> 2025") == "black_friday_promo_2025"


def test_unknown_sources_ready_to_paste(report):
    assert report.unknown_sources == (("insta", 9), (SCRIPT, 3))
    lines = report.paste_block().splitlines()
    assert lines[0].startswith("      - insta ") and "# 9 session(s)" in lines[0]
    assert lines[1].startswith('      - "<script>alert(1)</script>"')


def test_the_check_s_findings_in_words(report):
    assert failures(report, 0.30) == [
        "2 unknown social source(s)", "5 UTM value(s) break the naming convention",
        "3 ad campaign(s) with clicks never in the web data"]
    assert failures(report, 0.20)[0].startswith("24.1% of 237 social sessions")


def test_an_empty_store_reads_as_clean():
    conn = duckdb.connect()
    empty = hygiene_report(conn, W1, W2)
    assert empty.weeks == () and failures(empty, 0.2) == []
    assert "No social session" in render_section(empty)


def test_the_section_escapes_platform_text(report):
    html = str(render_section(report))
    assert SCRIPT not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Northwind | Always-on" in html and "24.1%" not in html  # shares per row
    assert 'data-platform="other social"' in html


# ------------------------------------------------------------------------ the check
@pytest.fixture(scope="module")
def check_store(tmp_path_factory) -> Warehouse:
    path = tmp_path_factory.mktemp("hygiene") / "store.duckdb"
    hygiene_store(str(path)).close()
    return Warehouse(database=str(path))


@dg.asset(key=["normalized", "web_daily"], partitions_def=ingest_weeks)
def web_daily_stand_in() -> None:
    """The web table's key and partitions, for running its separate check alone."""


def run_check(warehouse: Warehouse, week: date) -> dg.AssetCheckEvaluation:
    result = dg.materialize([web_daily_stand_in, utm_hygiene_check],
                            resources={"warehouse": warehouse},
                            partition_key=week.isoformat())
    [evaluation] = result.get_asset_check_evaluations()
    return evaluation


def test_the_warning_check_on_the_web_table(check_store, monkeypatch):
    monkeypatch.delenv(UTM_LOST_SHARE.name, raising=False)
    first = run_check(check_store, W1)
    assert not first.passed and first.severity == dg.AssetCheckSeverity.WARN
    [spec] = utm_hygiene_check.check_specs
    assert (spec.name, spec.blocking) == ("utm_hygiene", False)
    metadata = {k: v.value for k, v in first.metadata.items()}
    assert metadata["partition_window"] == "2025-03-03..2025-03-09"
    # week 1 alone: lost (40 + 5) + 10 = 55 of 185 social sessions
    assert metadata["social_sessions"] == 185 and metadata["lost_share"] == pytest.approx(
        55 / 185)
    assert "29.7% of 185 social sessions" in first.description
    assert "insta" in metadata["unknown_sources_yaml"]
    # quoted YAML inside a code block: the UI shows it as text
    assert '      - "<script>alert(1)</script>"' in metadata["unknown_sources_yaml"]
    monkeypatch.setenv(UTM_LOST_SHARE.name, "0.5")
    second = run_check(check_store, W2)  # week 2: only the unknown "insta" (2 of 52)
    assert not second.passed
    assert second.description.endswith("1 unknown social source(s)")


def test_a_malformed_share_setting_names_the_variable(monkeypatch):
    monkeypatch.setenv(UTM_LOST_SHARE.name, "20%")
    with pytest.raises(ValueError, match="KPI_PIPELINE_UTM_LOST_SHARE='20%'"):
        max_lost_share()
