"""FX reference rates: Frankfurter payloads, cross rates through EUR, and conversions that
never fall back to a silent 1.0."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from kpi_pipeline.lib.core import schemas
from kpi_pipeline.lib.core.accounts import AccountRef
from kpi_pipeline.lib.core.landing import account_entry
from kpi_pipeline.lib.core.schemas import FX_DAILY
from kpi_pipeline.lib.core.values import ParseError
from kpi_pipeline.lib.normalized.currency import MissingRateError, convert, fx_daily_frame
from kpi_pipeline.lib.normalized.parsing import parse
from kpi_pipeline.lib.sources.demo.payloads_ga4 import BUILDERS
from kpi_pipeline.lib.sources.demo.world import World

FX_ACCOUNT = AccountRef("fx", "ecb", "all", "Europe/Berlin", "EUR", "ECB reference rates")
SATURDAY, FRIDAY = date(2026, 11, 21), date(2026, 11, 20)
PULLED = pd.Timestamp("2026-11-23 06:00:00")



def fx_envelope(world: World, day: date) -> dict:
    requests = BUILDERS["fx_rates"](world, FX_ACCOUNT, day, world.today)
    return {"stream": "fx_rates", "platform": "fx", "source": "demo", "api_version": "v1",
            "partition": day.isoformat(), "pulled_at": "2026-11-23T06:00:00Z",
            "accounts": [account_entry(FX_ACCOUNT, day, day, requests)]}


def parsed_rates(day: date, rates: dict[str, float], fixing: date | None = None) -> pd.DataFrame:
    """A frame shaped like the fx_rates parser's, with hand-picked rates per EUR."""
    return pd.DataFrame({
        "report_date": pd.Timestamp(day), "currency": list(rates),
        "rate_per_eur": list(rates.values()), "fixing_date": pd.Timestamp(fixing or day),
        "source_stream": "fx_rates", "api_version": "v1", "pulled_at": PULLED,
    })


# ----------------------------------------------------------------------- payloads
def test_payload_is_frankfurter_shaped(demo_world):
    [request] = BUILDERS["fx_rates"](demo_world, FX_ACCOUNT, SATURDAY, demo_world.today)
    assert request["method"] == "GET"
    assert request["path"] == "/v1/2026-11-21"
    assert request["params"] == {"base": "EUR", "symbols": "USD"}  # brands: USD, EUR
    assert request["body"] == {"amount": 1.0, "base": "EUR", "date": "2026-11-20",
                               "rates": {"USD": demo_world.fx_per_eur("USD", FRIDAY)}}


def test_saturday_uses_fridays_fixing(demo_world):
    parsed = parse(fx_envelope(demo_world, SATURDAY))
    assert parsed["report_date"].tolist() == [pd.Timestamp(SATURDAY)]
    assert parsed["fixing_date"].tolist() == [pd.Timestamp(FRIDAY)]
    assert parsed["rate_per_eur"].tolist() == [demo_world.fx_per_eur("USD", FRIDAY)]
    assert list(parsed.columns) == ["report_date", "currency", "rate_per_eur", "fixing_date",
                                    "source_stream", "api_version", "pulled_at"]


def test_every_brand_currency_and_reporting_candidate_is_asked_for():
    world = World(seed=7, n_brands=4, today=date(2026, 11, 23))
    [request] = BUILDERS["fx_rates"](world, FX_ACCOUNT, FRIDAY, world.today)
    assert request["params"]["symbols"] == "GBP,JPY,USD"
    assert set(request["body"]["rates"]) == {"GBP", "JPY", "USD"}


@pytest.mark.parametrize(("change", "message"), [
    ({"base": "USD"}, "base is 'USD'"),
    ({"date": "2026-11-23"}, "after the asked day"),
    ({"rates": {"USD": "1,08"}}, "'rates.USD' value '1,08'"),
    ({"rates": {"USD": 0}}, "not a positive rate"),
])
def test_bad_bodies_are_parse_errors(demo_world, change, message):
    env = fx_envelope(demo_world, SATURDAY)
    env["accounts"][0]["requests"][0]["body"].update(change)
    with pytest.raises(ParseError, match=message):
        parse(env)


def test_an_amount_other_than_one_is_divided_out(demo_world):
    env = fx_envelope(demo_world, SATURDAY)
    env["accounts"][0]["requests"][0]["body"].update(amount=10, rates={"USD": 11.0})
    assert parse(env)["rate_per_eur"].tolist() == [1.1]


# ------------------------------------------------------------------------ fx_daily
def test_cross_rate_through_eur_is_hand_computed():
    daily = fx_daily_frame(parsed_rates(FRIDAY, {"USD": 1.10, "JPY": 160.0}), "USD")
    rates = dict(zip(daily["currency"], daily["rate"], strict=True))
    assert rates == {"EUR": 1.10, "JPY": 1.10 / 160.0, "USD": 1.0}
    assert list(daily.columns) == FX_DAILY.column_names
    assert (daily["reporting_currency"] == "USD").all()
    schemas.validate(FX_DAILY, daily, source="fx_rates", start=FRIDAY, end=FRIDAY)


def test_eur_reporting_inverts_the_published_rate():
    daily = fx_daily_frame(parsed_rates(FRIDAY, {"USD": 1.10, "JPY": 160.0}), "EUR")
    rates = dict(zip(daily["currency"], daily["rate"], strict=True))
    assert rates == {"EUR": 1.0, "JPY": 1.0 / 160.0, "USD": 1.0 / 1.10}


def test_weekend_rows_keep_the_fixing_date(demo_world):
    daily = fx_daily_frame(parse(fx_envelope(demo_world, SATURDAY)), "USD")
    assert (daily["fixing_date"] == pd.Timestamp(FRIDAY)).all()
    assert (daily["report_date"] == pd.Timestamp(SATURDAY)).all()
    assert dict(zip(daily["currency"], daily["rate"], strict=True)) == {
        "EUR": demo_world.fx_per_eur("USD", FRIDAY), "USD": 1.0}


def test_a_day_without_the_reporting_currency_is_an_error():
    with pytest.raises(MissingRateError, match="to GBP for GBP on 2026-11-20"):
        fx_daily_frame(parsed_rates(FRIDAY, {"USD": 1.10}), "GBP")


# ------------------------------------------------------------------------- convert
def money(rows: list[tuple[date, str, float | None]]) -> pd.DataFrame:
    return pd.DataFrame({"report_date": [pd.Timestamp(d) for d, _, _ in rows],
                         "currency": [c for _, c, _ in rows],
                         "spend": pd.array([s for _, _, s in rows], dtype="Float64")})


def test_convert_multiplies_by_the_dated_rate():
    daily = fx_daily_frame(parsed_rates(FRIDAY, {"USD": 1.10, "JPY": 160.0}), "USD")
    df = money([(FRIDAY, "JPY", 16000.0), (FRIDAY, "USD", 5.0), (FRIDAY, "EUR", None)])
    out = convert(df, daily, amount_cols={"spend": "spend_reporting"}, currency_col="currency",
                  reporting_currency="USD", source="meta_ads")
    assert out["fx_rate"].tolist() == [1.10 / 160.0, 1.0, 1.10]
    assert out["spend_reporting"].tolist()[:2] == [16000.0 * (1.10 / 160.0), 5.0]
    assert pd.isna(out["spend_reporting"].iloc[2])  # a NULL amount stays NULL
    assert (out["reporting_currency"] == "USD").all()
    assert out.index.equals(df.index)


def test_same_currency_needs_no_rate_row():
    df = money([(SATURDAY, "USD", 12.5)])
    empty_fx = schemas.empty_frame(FX_DAILY)
    out = convert(df, empty_fx, amount_cols={"spend": "spend_reporting"},
                  currency_col="currency", reporting_currency="USD", source="meta_ads")
    assert out["fx_rate"].tolist() == [1.0]
    assert out["spend_reporting"].tolist() == [12.5]


def test_a_missing_rate_names_source_currency_dates_and_rows():
    daily = fx_daily_frame(parsed_rates(FRIDAY, {"USD": 1.10, "JPY": 160.0}), "USD")
    df = money([(FRIDAY, "JPY", 1.0), (SATURDAY, "JPY", 2.0), (SATURDAY, "JPY", 3.0),
                (date(2026, 11, 22), "JPY", 4.0), (SATURDAY, "USD", 5.0)])
    with pytest.raises(MissingRateError) as err:
        convert(df, daily, amount_cols={"spend": "spend_reporting"}, currency_col="currency",
                reporting_currency="USD", source="tiktok_ads")
    assert isinstance(err.value, ValueError)
    message = str(err.value)
    for part in ("tiktok_ads", "JPY", "2026-11-21", "2026-11-22", "3 row(s)", "never a silent"):
        assert part in message
    assert "2026-11-20" not in message
    assert err.value.missing == {"JPY": [SATURDAY, date(2026, 11, 22)]}
    assert err.value.rows == 3


def test_a_rate_to_another_reporting_currency_is_not_used():
    daily = fx_daily_frame(parsed_rates(FRIDAY, {"USD": 1.10, "JPY": 160.0}), "EUR")
    with pytest.raises(MissingRateError, match="JPY on 2026-11-20"):
        convert(money([(FRIDAY, "JPY", 1.0)]), daily, amount_cols={"spend": "spend_reporting"},
                currency_col="currency", reporting_currency="USD", source="meta_ads")
