"""The API client's routing, the accounts file and the switch between demo and APIs."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from kpi_pipeline.defs.resources import ApiPlatforms, DemoPlatforms, default_resources
from kpi_pipeline.lib.core.accounts import AccountRef
from kpi_pipeline.lib.core.landing import landing_path, read_envelope, write_envelope
from kpi_pipeline.lib.core.streams import STREAMS_BY_NAME
from kpi_pipeline.lib.normalized.parsing import parse, parse_files
from kpi_pipeline.lib.sources.api.accounts_file import AccountsFileError, load_accounts
from kpi_pipeline.lib.sources.api.client import ApiClient
from kpi_pipeline.lib.sources.landing_checks import envelope_problems, row_problems

EXAMPLE = Path(__file__).resolve().parents[3] / "kpi_pipeline" / "data" / "accounts.example.yaml"
ORG = AccountRef("linkedin", "2414183", "acme", "America/Los_Angeles", "USD", "Acme")


def landing_file_problems(root: Path, stream, day: date) -> list:
    """What the raw check says of the file as pulled, and the normalized asset of its rows."""
    path = landing_path(root, stream.name, day)
    problems = envelope_problems(stream, read_envelope(root, stream.name, day), day, path)
    with duckdb.connect() as conn:
        problems += row_problems(conn, stream, parse_files(conn, stream.name, [(path, day)]))
    return problems


def _client(today: date, fetched: list) -> ApiClient:
    def fetch(session, account, day, ctx):
        fetched.append(day)
        return []
    return ApiClient({"linkedin_organization": [ORG]}, {"linkedin": object()},
                     {"linkedin_organization": fetch}, today=today)


def test_the_shipped_example_lists_one_account_of_each_kind():
    accounts = load_accounts(EXAMPLE)
    assert len(accounts) == 8 and all(len(refs) == 1 for refs in accounts.values())
    assert accounts["meta_ad_account"][0].platform == "meta"
    assert accounts["instagram_account"][0].platform == "instagram"


@pytest.mark.parametrize(("text", "named"), [
    ("accounts: [{kind: myspace_page, id: '1', brand: a, timezone: UTC, currency: USD}]",
     "unknown kind 'myspace_page'"),
    ("accounts: [{kind: facebook_page, id: '1', brand: a, timezone: Mars/Base, currency: USD}]",
     "'Mars/Base' is not an IANA time zone"),
    ("accounts: [{kind: facebook_page, id: '1', brand: a, timezone: UTC, currency: usd}]",
     "currency"),
    ("accounts: [{kind: facebook_page, id: '1', brand: a, timezone: UTC, currency: USD},"
     " {kind: facebook_page, id: '1', brand: b, timezone: UTC, currency: USD}]",
     "accounts[1] lists facebook_page 1 a second time"),
    ("accounts: [", "is unreadable"),
])
def test_a_bad_accounts_file_names_file_and_entry(tmp_path, text, named):
    path = tmp_path / "accounts.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AccountsFileError, match=r"accounts file .*accounts\.yaml") as info:
        load_accounts(path)
    assert named in str(info.value)


def test_a_day_linkedin_has_not_published_lands_pending_and_passes_the_raw_check(tmp_path):
    fetched: list[date] = []
    client = _client(date(2025, 3, 20), fetched)
    stream = STREAMS_BY_NAME["linkedin_organization"]
    recent = client.pull_envelope(stream, date(2025, 3, 19))
    (entry,) = recent["accounts"]
    assert entry["requests"] == [] and "2 days late" in entry["pending"]
    assert fetched == []  # no request for a day LinkedIn refuses
    write_envelope(tmp_path, recent)
    assert parse(recent).empty
    assert landing_file_problems(tmp_path, stream, date(2025, 3, 19)) == []
    # two days back is published: it is fetched
    client.pull_envelope(stream, date(2025, 3, 18))
    assert fetched == [date(2025, 3, 18)]


def test_a_stream_without_credentials_lands_unserved(tmp_path):
    client = _client(date(2025, 3, 20), [])
    envelope = client.pull_envelope(STREAMS_BY_NAME["tiktok_ads"], date(2025, 3, 10))
    assert envelope["accounts"] == [] and "'tiktok_ads' connector" in envelope["unserved"]
    write_envelope(tmp_path, envelope)
    assert landing_file_problems(tmp_path, STREAMS_BY_NAME["tiktok_ads"],
                                 date(2025, 3, 10)) == []


def test_the_platforms_switch(monkeypatch):
    monkeypatch.delenv("KPI_PIPELINE_PLATFORMS", raising=False)
    assert isinstance(default_resources()["platforms"], DemoPlatforms)
    monkeypatch.setenv("KPI_PIPELINE_PLATFORMS", "api")
    monkeypatch.setenv("KPI_PIPELINE_LINKEDIN_TOKEN", "tok-from-env")
    monkeypatch.delenv("KPI_PIPELINE_META_TOKEN", raising=False)
    platforms = default_resources()["platforms"]
    assert isinstance(platforms, ApiPlatforms)
    assert platforms.meta_token is None  # unset variables leave their connector off
    monkeypatch.setenv("KPI_PIPELINE_PLATFORMS", "facebook")
    with pytest.raises(ValueError, match="KPI_PIPELINE_PLATFORMS='facebook'"):
        default_resources()


def test_api_platforms_need_an_accounts_file(monkeypatch):
    monkeypatch.delenv("KPI_PIPELINE_ACCOUNTS", raising=False)
    with pytest.raises(ValueError, match=r"set \$KPI_PIPELINE_ACCOUNTS"):
        ApiPlatforms().client()
