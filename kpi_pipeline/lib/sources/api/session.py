"""One HTTP session per platform: timeouts, retries, rate-limit waits and token hygiene.

Requests go through ``requests`` and retries through ``tenacity``:

- rate limits, 5xx answers, timeouts and dropped connections are retried with
  exponential back-off and full jitter, honouring ``Retry-After`` when the platform sends
  one, until ``max_attempts`` or until the next wait would overrun ``max_total_wait``
  seconds (then the pull fails, saying how long it tried);
- authentication errors, quotas that reset tomorrow and bad requests fail at once;
- what each answer means is the platform module's ``classify`` function: platforms
  disagree (TikTok reports errors in HTTP 200 bodies, LinkedIn's 429 is a daily quota).

The token travels in a header only. It is never written into a request record, a log
line or an error message: query parameters named like credentials are dropped from
records, and any text a platform echoes back is passed through ``redact``.

A session whose tokens expire (Google's hourly OAuth tokens) is given ``refresh_auth``:
called before every request, it returns the current token and auth headers, minting a
new token when the old one is about to expire.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
import tenacity

from kpi_pipeline.lib.core.landing import RequestRecord
from kpi_pipeline.lib.sources.api.errors import ApiError, AuthError, RetryableError

log = logging.getLogger("kpi_pipeline.api")

#: Query parameters that carry credentials in some APIs' own paging URLs (Graph's
#: ``paging.next`` embeds ``access_token``): dropped before a URL is followed or stored.
SECRET_PARAMS = frozenset({"access_token", "appsecret_proof", "client_secret", "token"})

# (session, response, parsed body or None) -> None, or raises an ApiError subclass.
Classifier = Callable[["ApiSession", requests.Response, Any], None]
# (response) -> seconds to pause before the next request (usage headers), usually 0.
Throttle = Callable[[requests.Response], float]
# () -> (current token, auth headers), refreshing the token when it is about to expire;
# raises an ApiError subclass when it cannot.
AuthRefresher = Callable[[], tuple[str, Mapping[str, str]]]


@dataclass(frozen=True)
class RetryPolicy:
    """How long a pull keeps trying. Defaults suit a daily schedule nobody watches."""

    timeout_seconds: float = 30.0
    max_attempts: int = 8
    max_total_wait_seconds: float = 300.0
    backoff_initial_seconds: float = 1.0
    backoff_max_seconds: float = 60.0


@dataclass
class ApiSession:
    """Requests to one platform's API with one token, recorded for the landing file."""

    platform: str
    base_url: str
    token: str = field(repr=False)
    token_env: str
    auth_headers: Mapping[str, str] = field(repr=False)
    classify: Classifier
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    headers: Mapping[str, str] = field(default_factory=dict)
    record_headers: Mapping[str, str] = field(default_factory=dict)
    throttle: Throttle | None = None
    sleep: Callable[[float], None] = time.sleep
    http: requests.Session = field(default_factory=requests.Session)
    #: When set, called before each request: its token replaces ``token`` (so ``redact``
    #: removes the one in use) and its headers are sent instead of ``auth_headers``.
    refresh_auth: AuthRefresher | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ public
    def get(self, path_or_url: str, params: Mapping[str, Any] | None = None) -> RequestRecord:
        """GET a path under ``base_url`` (or a paging URL on the same host)."""
        return self._request("GET", path_or_url, params, None)

    def post(self, path: str, body: Mapping[str, Any],
             params: Mapping[str, Any] | None = None) -> RequestRecord:
        """POST a JSON body; the record keeps it as ``body_sent``."""
        return self._request("POST", path, params, body)

    def redact(self, text: str) -> str:
        """``text`` with the token replaced: platforms echo requests in their errors."""
        return text.replace(self.token, "***") if self.token else text

    def describe(self, path: str) -> str:
        """How messages name a request: platform, method-less path."""
        return f"{self.platform} {path}"

    def auth_failure(self, path: str, detail: str) -> AuthError:
        """The error for a rejected token: says which variable holds the token to renew."""
        return AuthError(self.redact(
            f"{self.describe(path)}: the API rejected the access token ({detail}). Renew it "
            f"and set ${self.token_env}; retrying will not help."))

    # ----------------------------------------------------------------- internals
    def _target(self, path_or_url: str,
                params: Mapping[str, Any] | None) -> tuple[str, str, dict[str, str]]:
        """(url to call, path to record, query parameters without credentials).

        A full URL (a platform's paging link) is only followed on the API's own host,
        so the token is never sent anywhere else.
        """
        base = urlsplit(self.base_url)
        parts = urlsplit(path_or_url)
        if parts.scheme:
            if (parts.scheme, parts.netloc) != (base.scheme, base.netloc):
                raise ApiError(f"{self.platform}: refusing to follow a paging link to "
                               f"{parts.scheme}://{parts.netloc} (the API is {self.base_url})")
            query = dict(parse_qsl(parts.query, keep_blank_values=True))
            path = parts.path
        else:
            query, path = {}, path_or_url
        query.update({k: _param_text(v) for k, v in (params or {}).items()})
        clean = {k: v for k, v in query.items() if k not in SECRET_PARAMS}
        return f"{base.scheme}://{base.netloc}{path}", path, clean

    def _request(self, method: str, path_or_url: str, params: Mapping[str, Any] | None,
                 body: Mapping[str, Any] | None) -> RequestRecord:
        url, path, query = self._target(path_or_url, params)
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(
                (RetryableError, requests.Timeout, requests.ConnectionError)),
            wait=self._wait,
            stop=(tenacity.stop_after_attempt(self.policy.max_attempts)
                  | tenacity.stop_before_delay(self.policy.max_total_wait_seconds)),
            sleep=self.sleep,
            before_sleep=self._log_retry(path),
            reraise=False,
        )
        try:
            response, parsed = retrying(self._attempt, method, url, path, query, body)
        except tenacity.RetryError as exc:
            state = exc.last_attempt
            last = state.exception()
            raise ApiError(self.redact(
                f"{self.describe(path)}: gave up after {state.attempt_number} attempts "
                f"within the {self.policy.max_total_wait_seconds:g} s retry budget: "
                f"{last}")) from None
        record: RequestRecord = {"method": method, "path": path, "params": query}
        if self.record_headers:
            record["headers"] = dict(self.record_headers)
        if body is not None:
            record["body_sent"] = dict(body)
        record["status"] = response.status_code
        record["body"] = self._scrubbed(parsed)
        return record

    def _scrubbed(self, body: Any) -> Any:
        """The body with the token redacted wherever a platform echoed it (Graph's paging
        links carry ``access_token``): landing files keep answers, never credentials."""
        if not self.token:
            return body
        text = json.dumps(body)
        if self.token not in text:
            return body
        return json.loads(text.replace(json.dumps(self.token)[1:-1], "***"))

    def _attempt(self, method: str, url: str, path: str, query: dict[str, str],
                 body: Mapping[str, Any] | None) -> tuple[requests.Response, Any]:
        """One HTTP exchange, classified: returns the answer or raises an ApiError."""
        auth_headers = self.auth_headers
        if self.refresh_auth is not None:
            self.token, auth_headers = self.refresh_auth()
        try:
            response = self.http.request(
                method, url, params=query, json=body,
                headers={**self.headers, **auth_headers},
                timeout=self.policy.timeout_seconds)
        except requests.Timeout as exc:
            raise RetryableError(
                f"{self.describe(path)}: no answer within {self.policy.timeout_seconds:g} s "
                f"({type(exc).__name__})") from None
        except requests.ConnectionError as exc:
            raise RetryableError(self.redact(
                f"{self.describe(path)}: connection failed: {exc}")) from None
        parsed = _json_or_none(response)
        self.classify(self, response, parsed)
        _generic_classify(self, path, response, parsed)
        if self.throttle is not None:
            pause = self.throttle(response)
            if pause > 0:
                log.warning("%s: usage near the platform's limit, pausing %.1f s",
                            self.describe(path), pause)
                self.sleep(pause)
        return response, parsed

    def _wait(self, state: tenacity.RetryCallState) -> float:
        """Exponential back-off with full jitter, never shorter than a Retry-After."""
        exc = state.outcome.exception() if state.outcome else None
        ceiling = min(self.policy.backoff_max_seconds,
                      self.policy.backoff_initial_seconds * 2 ** (state.attempt_number - 1))
        jittered = random.uniform(0, ceiling)
        asked = getattr(exc, "retry_after", None)
        return max(jittered, asked) if asked is not None else jittered

    def _log_retry(self, path: str) -> Callable[[tenacity.RetryCallState], None]:
        def before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning("%s: attempt %d failed (%s); retrying in %.1f s",
                        self.describe(path), state.attempt_number,
                        self.redact(str(exc)), state.upcoming_sleep)
        return before_sleep


def _generic_classify(session: ApiSession, path: str, response: requests.Response,
                      parsed: Any) -> None:
    """What an HTTP status means when the platform module did not decide otherwise."""
    status = response.status_code
    if status < 400:
        if parsed is None:
            raise ApiError(f"{session.describe(path)}: HTTP {status} without a JSON body")
        return
    snippet = session.redact(response.text[:300])
    if status == 401:
        raise session.auth_failure(path, f"HTTP 401: {snippet}")
    if status == 429:
        raise RetryableError(f"{session.describe(path)}: HTTP 429 rate limited: {snippet}",
                             retry_after=retry_after(response))
    if status >= 500:
        raise RetryableError(f"{session.describe(path)}: HTTP {status}: {snippet}",
                             retry_after=retry_after(response))
    raise ApiError(f"{session.describe(path)}: HTTP {status}: {snippet}")


def retry_after(response: requests.Response) -> float | None:
    """The ``Retry-After`` header in seconds (delta-seconds or an HTTP date), if any."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except (ValueError, json.JSONDecodeError):
        return None


def _param_text(value: Any) -> str:
    """Query values as the wire carries them (the record keeps exactly what was sent)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
