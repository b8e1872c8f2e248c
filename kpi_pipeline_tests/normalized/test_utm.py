"""UTM source/medium -> social platform: the mapping is data, validated, and applied by
unique value."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from kpi_pipeline.lib.normalized import utm
from kpi_pipeline.lib.sources.demo.world import World

CASES = [
    # source, medium -> platform, is_social, is_paid
    ("facebook", "social", "facebook", True, False),
    ("fb", "social-network", "facebook", True, False),
    ("m.facebook.com", "referral", "facebook", True, False),
    ("l.facebook.com", "referral", "facebook", True, False),
    ("facebook", "cpc", "facebook", True, True),
    ("IG", "social", "instagram", True, False),
    ("  Instagram ", " Paid_Social ", "instagram", True, True),
    ("l.instagram.com", "referral", "instagram", True, False),
    ("lnkd.in", "social", "linkedin", True, False),
    ("linkedin", "paidsocial", "linkedin", True, True),
    ("LinkedIn.com", "referral", "linkedin", True, False),
    ("tiktok", "paid_social", "tiktok", True, True),
    ("tiktok.com", "social media", "tiktok", True, False),
    ("pinterest", "social", None, True, False),  # social, but not a platform we track
    ("google", "organic", None, False, False),
    ("google", "cpc", None, False, False),  # paid search, not paid social
    ("(direct)", "(none)", None, False, False),
    ("newsletter", "email", None, False, False),
]


@pytest.fixture(scope="module")
def resolved() -> pd.DataFrame:
    df = pd.DataFrame({"source": [c[0] for c in CASES], "medium": [c[1] for c in CASES]})
    return utm.resolve_platforms(df)


@pytest.mark.parametrize(("i", "case"), list(enumerate(CASES)), ids=[f"{c[0]}/{c[1]}"
                                                                      for c in CASES])
def test_source_and_medium_map_to_platform(resolved, i, case):
    _, _, platform, is_social, is_paid = case
    row = resolved.iloc[i]
    assert (None if pd.isna(row["platform"]) else row["platform"]) == platform
    assert bool(row["is_social"]) is is_social
    assert bool(row["is_paid"]) is is_paid


def test_columns_are_typed_and_inputs_untouched(resolved):
    assert str(resolved["platform"].dtype) == "string"
    assert str(resolved["is_social"].dtype) == "boolean"
    assert str(resolved["is_paid"].dtype) == "boolean"
    assert resolved["source"].tolist()[6] == "  Instagram "  # the raw value is kept


def test_null_source_or_medium_is_not_social():
    df = pd.DataFrame({"source": pd.array([None, "ig"], dtype="string"),
                       "medium": pd.array(["social", None], dtype="string")})
    out = utm.resolve_platforms(df)
    assert pd.isna(out["platform"].iloc[0])
    assert out["is_social"].tolist() == [True, True]
    assert out["platform"].iloc[1] == "instagram"
    assert out["is_paid"].tolist() == [False, False]


def test_every_social_source_the_demo_world_sends_is_mapped():
    world = World(seed=7, n_brands=2, today=date(2026, 11, 23))
    rows = pd.DataFrame(world.web_day(world.brands[0], date(2025, 3, 3), world.today))
    out = utm.resolve_platforms(rows).set_index("source")
    assert out.loc["l.facebook.com", "platform"] == "facebook"
    assert out.loc["facebook.com", "platform"] == "facebook"
    assert set(out.loc[out["is_social"], "platform"]) == {"facebook", "instagram", "linkedin",
                                                           "tiktok"}


def test_large_frames_normalize_each_spelling_once(monkeypatch):
    calls = []
    mapping = utm.default_mapping()
    original = utm.normalize
    monkeypatch.setattr(utm, "normalize", lambda v: calls.append(v) or original(v))
    df = pd.DataFrame({"source": ["IG", "google", "lnkd.in"] * 100_000,
                       "medium": ["social", "organic", "social"] * 100_000})
    out = utm.resolve_platforms(df, mapping)
    assert len(calls) == 3 + 2  # unique sources + unique mediums
    assert int(out["is_social"].sum()) == 200_000


# ------------------------------------------------------------------------- the file
def write(tmp_path, text: str):
    path = tmp_path / "utm.yaml"
    path.write_text(text, encoding="utf-8")
    return path


VALID = """
version: 1
platforms:
  facebook: {sources: [facebook]}
social_mediums: [social]
paid_social_mediums: [paid_social]
paid_mediums_on_platform_source: [cpc]
"""


def test_the_packaged_mapping_is_valid():
    mapping = utm.load_mapping(utm.DEFAULT_MAPPING_PATH)
    assert set(mapping.platforms) == {"facebook", "instagram", "linkedin", "tiktok"}
    assert "l.facebook.com" in mapping.source_platforms()


def test_a_minimal_file_loads_and_normalizes(tmp_path):
    mapping = utm.load_mapping(write(tmp_path, VALID.replace("[facebook]", "[' FaceBook ']")))
    assert mapping.source_platforms() == {"facebook": "facebook"}


@pytest.mark.parametrize(("text", "message"), [
    (VALID + "typo_mediums: [x]\n", "typo_mediums"),
    (VALID.replace("{sources: [facebook]}", "{sources: [facebook], alias: fb}"), "alias"),
    (VALID.replace("facebook: {", "myspace: {"), "unknown platform"),
    (VALID.replace("[facebook]", "[facebook, Facebook]"), "duplicate spelling"),
    (VALID.replace("paid_social_mediums: [paid_social]", "paid_social_mediums: [social]"),
     "listed in both"),
    (VALID.replace("version: 1", "version: 2"), "version"),
])
def test_invalid_files_are_rejected_with_the_reason(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        utm.load_mapping(write(tmp_path, text))


def test_a_source_under_two_platforms_is_rejected(tmp_path):
    text = VALID.replace("facebook: {sources: [facebook]}",
                         "facebook: {sources: [fb]}\n  instagram: {sources: [fb]}")
    with pytest.raises(ValueError, match="'fb' listed under both facebook and instagram"):
        utm.load_mapping(write(tmp_path, text))


# ------------------------------------------------------- Google's list of social sources
GA4_CASES = [
    # spellings of the tracked platforms that GA4's list carries -> that platform
    ("mobile.facebook.com", "referral", "facebook", True, False),
    ("touch.facebook.com", "referral", "facebook", True, False),
    ("web.facebook.com", "referral", "facebook", True, False),
    ("fb.me", "referral", "facebook", True, False),
    ("business.facebook.com", "referral", "facebook", True, False),
    ("L.Instagram.com", "referral", "instagram", True, False),
    ("lnkd.in", "referral", "linkedin", True, False),
    ("linkedin.com", "referral", "linkedin", True, False),
    ("tiktok.com", "referral", "tiktok", True, False),
    # social sites outside the four: social, no platform (all and brand totals only)
    ("t.co", "referral", None, True, False),
    ("pinterest.com", "referral", None, True, False),
    ("reddit.com", "referral", None, True, False),
    ("Twitter", "(none)", None, True, False),
    ("pinterest.com", "cpc", None, True, True),  # GA4's Paid Social: social source + cpc
    # look-alikes that are not on the list
    ("facebook.example.com", "referral", None, False, False),
    ("google.com", "referral", None, False, False),
]


def test_google_social_list_is_shipped_with_its_provenance():
    path = utm.DEFAULT_MAPPING_PATH.parent / "ga4_social_sources.csv"
    header = path.read_text(encoding="utf-8").split("\nsource\n")[0]
    assert "Velir/dbt-ga4" in header and "ga4_source_categories.csv" in header
    sources = utm.default_mapping().other_social_sources
    assert len(sources) > 500
    assert {"t.co", "pinterest.com", "m.facebook.com", "l.instagram.com", "lnkd.in"} <= sources


@pytest.mark.parametrize("case", GA4_CASES, ids=[f"{c[0]}/{c[1]}" for c in GA4_CASES])
def test_sources_on_google_social_list(case):
    source, medium, platform, is_social, is_paid = case
    row = utm.resolve_platforms(pd.DataFrame({"source": [source], "medium": [medium]})).iloc[0]
    assert (None if pd.isna(row["platform"]) else row["platform"]) == platform
    assert bool(row["is_social"]) is is_social
    assert bool(row["is_paid"]) is is_paid


def test_every_spelling_of_a_tracked_platform_on_google_list_maps_to_it():
    """A spelling on Google's list that names a tracked platform must be listed under it,
    else its sessions would count as social from an untracked platform."""
    mapping = utm.default_mapping()
    stems = {"facebook": {"facebook", "fb"}, "instagram": {"instagram", "ig"},
             "linkedin": {"linkedin", "lnkd"}, "tiktok": {"tiktok"}}
    platforms = mapping.source_platforms()
    named = 0
    for source in mapping.other_social_sources:
        for platform, names in stems.items():
            if names & set(source.split(".")):  # m.facebook.com, fb.me, lnkd.in, ig
                named += 1
                assert platforms.get(source) == platform, source
    assert named >= 20


def test_the_list_file_may_sit_beside_a_custom_mapping(tmp_path):
    (tmp_path / "social.csv").write_text("# a comment\nsource\nMastodon.Social\n\n",
                                         encoding="utf-8")
    mapping = utm.load_mapping(write(tmp_path, VALID + "other_social_sources: social.csv\n"))
    assert mapping.other_social_sources == frozenset({"mastodon.social"})
    (tmp_path / "social.csv").write_text("site\nx.com\n", encoding="utf-8")
    with pytest.raises(ValueError, match="'source' column"):
        utm.load_mapping(write(tmp_path, VALID + "other_social_sources: social.csv\n"))
