"""Frankfurter (ECB reference rates): ``GET /v1/{day}?base=EUR&symbols=...``.

No credential. The answer is the last fixing on or before ``day`` (weekends and TARGET
holidays carry the previous business day's rates, and ``date`` says which), which the
fx parser keeps as ``fixing_date``. Errors are plain HTTP (404 before 1999, 422 for an
unknown symbol), handled by the session's generic mapping.
"""

from __future__ import annotations

from datetime import date

import requests

from kpi_pipeline.lib.core.accounts import AccountRef
from kpi_pipeline.lib.core.landing import RequestRecord
from kpi_pipeline.lib.sources.api.client import FetchContext, Fetcher
from kpi_pipeline.lib.sources.api.connectors import Connector
from kpi_pipeline.lib.sources.api.session import ApiSession, RetryPolicy

BASE = "EUR"


def _classify(session: ApiSession, response: requests.Response, body: object) -> None:
    """Frankfurter speaks plain HTTP: the session's generic mapping decides."""


def make_session(connector: Connector, token: str, base_url: str,
                 policy: RetryPolicy) -> ApiSession:
    return ApiSession(platform="fx", base_url=base_url, token=token, token_env="",
                      auth_headers={}, classify=_classify, policy=policy)


def fx_rates(session: ApiSession, account: AccountRef, day: date,
             ctx: FetchContext) -> list[RequestRecord]:
    """The reference rates that apply to ``day``, for every currency the accounts use and
    the reporting candidates, in one request (an unknown symbol fails it: HTTP 422)."""
    symbols = [c for c in ctx.currencies if c != BASE]
    return [session.get(f"/v1/{day.isoformat()}", {"base": BASE, "symbols": ",".join(symbols)})]


FETCHERS: dict[str, Fetcher] = {"fx_rates": fx_rates}
