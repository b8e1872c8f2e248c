"""The connectors: which module speaks each API, its default host and its token variable.

Each platform module exposes ``make_session(connector, token, base_url, policy)``
returning an ``ApiSession`` (GA4's also takes ``credentials_file``, its service account
key) and ``FETCHERS`` (stream name -> fetcher). Modules are imported when a run builds
its client, not when the code location loads.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from kpi_pipeline.lib.sources.api.client import Fetcher
from kpi_pipeline.lib.sources.api.session import ApiSession, RetryPolicy


@dataclass(frozen=True)
class Connector:
    """One API and its credential."""

    name: str
    module: str
    default_url: str
    token_env: str | None
    description: str
    #: The variable naming a key file the connector can mint its own tokens from (GA4's
    #: service account), used when ``token_env`` is unset.
    credentials_env: str | None = None


CONNECTORS: dict[str, Connector] = {c.name: c for c in (
    Connector("meta", "kpi_pipeline.lib.sources.api.meta", "https://graph.facebook.com",
              "KPI_PIPELINE_META_TOKEN",
              "Graph API: Facebook Page and Instagram insights (a Page or system-user token)."),
    Connector("meta_ads", "kpi_pipeline.lib.sources.api.meta", "https://graph.facebook.com",
              "KPI_PIPELINE_META_ADS_TOKEN",
              "Marketing API ad insights (a token with ads_read)."),
    Connector("linkedin", "kpi_pipeline.lib.sources.api.linkedin", "https://api.linkedin.com",
              "KPI_PIPELINE_LINKEDIN_TOKEN",
              "LinkedIn Community Management and Advertising APIs (OAuth 2.0 bearer)."),
    Connector("tiktok", "kpi_pipeline.lib.sources.api.tiktok", "https://business-api.tiktok.com",
              "KPI_PIPELINE_TIKTOK_TOKEN",
              "TikTok API for Business: business account and videos."),
    Connector("tiktok_ads", "kpi_pipeline.lib.sources.api.tiktok", "https://business-api.tiktok.com",
              "KPI_PIPELINE_TIKTOK_ADS_TOKEN", "TikTok Marketing API reports (Access-Token)."),
    Connector("ga4", "kpi_pipeline.lib.sources.api.ga4", "https://analyticsdata.googleapis.com",
              "KPI_PIPELINE_GA4_TOKEN",
              "GA4 Data API runReport (a service account key, or an OAuth 2.0 bearer).",
              credentials_env="KPI_PIPELINE_GA4_CREDENTIALS"),
    Connector("fx", "kpi_pipeline.lib.sources.api.fx", "https://api.frankfurter.dev", None,
              "Frankfurter: ECB reference rates (no credential)."),
)}


def fetchers(connector: Connector) -> dict[str, Fetcher]:
    """The connector's module's stream fetchers."""
    return dict(importlib.import_module(connector.module).FETCHERS)


def make_session(connector: Connector, token: str, base_url: str, policy: RetryPolicy,
                 credentials_file: str | None = None) -> ApiSession:
    """The connector's module builds its session (auth header, error mapping, throttle).

    ``credentials_file`` (a key file, for a connector with ``credentials_env``) is handed
    to the module's ``make_session`` as a keyword; other modules never see it.
    """
    module = importlib.import_module(connector.module)
    if credentials_file is None:
        return module.make_session(connector, token, base_url, policy)
    if connector.credentials_env is None:
        raise ValueError(f"the {connector.name!r} connector takes no credentials file")
    return module.make_session(connector, token, base_url, policy,
                               credentials_file=credentials_file)
