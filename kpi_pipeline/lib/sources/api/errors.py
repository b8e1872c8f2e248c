"""The ways a platform request can fail, each with the action it calls for.

Every message names the platform and the request path, never the token: messages are
built by the session, which redacts the token from anything a platform echoes back.
"""

from __future__ import annotations


class ApiError(RuntimeError):
    """A request failed in a way retrying will not fix (a bad request, an unknown error)."""


class AuthError(ApiError):
    """The token is expired, revoked or lacks a permission: renew it; retrying is useless."""


class QuotaExhausted(ApiError):
    """A quota that resets later (LinkedIn's daily quota): fail now instead of spinning."""


class RetryableError(ApiError):
    """Rate limits, 5xx bursts, timeouts: back off and try again within the wait budget.

    ``retry_after`` is the wait the platform asked for (seconds), when it said one.
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RequestTooLarge(ApiError):
    """The platform asked for less data per request (Graph error 1): split and re-ask."""


class MetricRetired(ApiError):
    """A metric name is no longer valid (Graph error 100 "valid insights metric")."""

    def __init__(self, message: str, metric: str | None = None) -> None:
        super().__init__(message)
        self.metric = metric


class ItemSkipped(ApiError):
    """One item (a media, a post) cannot be read for a known, permanent reason
    (Graph 100/2108006, 10 "Not enough viewers"): log it and carry on with the others."""
