"""Google service-account credentials: access tokens that renew themselves.

A Google OAuth access token lasts an hour, so a schedule nobody watches cannot live on
one pasted into a variable. A service account's JSON key lets ``google-auth`` mint a
token from a JWT signed with the key, and mint the next one before it expires.
``ServiceAccountAuth`` is an ``ApiSession.refresh_auth``: before each request it hands
the session the current token, refreshed through the session's own ``requests.Session``
when fewer than google-auth's few minutes of validity remain.

The key file is read at the first request, so a bad key fails only the pulls that need
it. Messages name the variable, the file and the account, never the private key: a
missing or malformed file and a refused grant (``invalid_grant``: the key was deleted or
the account disabled) raise ``AuthError`` at once; an unreachable token endpoint is
retried like any other request.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import google.auth.exceptions
import google.auth.transport.requests
import requests
from google.oauth2 import service_account

from kpi_pipeline.lib.sources.api.errors import AuthError, RetryableError


@dataclass
class ServiceAccountAuth:
    """The current ``(token, auth headers)`` of a service account, from its key file."""

    platform: str
    key_file: str
    key_env: str
    scopes: tuple[str, ...]
    http: requests.Session = field(repr=False)
    timeout_seconds: float = 30.0
    _credentials: service_account.Credentials | None = field(
        default=None, init=False, repr=False)

    def __call__(self) -> tuple[str, Mapping[str, str]]:
        credentials = self._credentials or self._load()
        if not credentials.valid:
            self._refresh(credentials)
        headers: dict[str, str] = {}
        credentials.apply(headers)  # Authorization: Bearer (and a quota project if set)
        return credentials.token, headers

    def _where(self) -> str:
        return f"the service account key ${self.key_env} names ({self.key_file})"

    def _load(self) -> service_account.Credentials:
        try:
            credentials = service_account.Credentials.from_service_account_file(
                self.key_file, scopes=self.scopes)
        except OSError as exc:
            raise AuthError(f"{self.platform}: cannot read {self._where()}: "
                            f"{exc.strerror or type(exc).__name__}. Point ${self.key_env} "
                            "at the JSON key downloaded for the service account.") from None
        except (ValueError, KeyError, TypeError, AttributeError,
                google.auth.exceptions.GoogleAuthError) as exc:
            raise AuthError(f"{self.platform}: {self._where()} is not a service account "
                            f"JSON key ({_key_problem(exc)}). Download a new JSON key for "
                            f"the service account and set ${self.key_env}.") from None
        self._credentials = credentials
        return credentials

    def _refresh(self, credentials: service_account.Credentials) -> None:
        """A new access token from the key's ``token_uri`` (google-auth signs the JWT)."""
        request = functools.partial(google.auth.transport.requests.Request(self.http),
                                    timeout=self.timeout_seconds)
        account = credentials.service_account_email
        try:
            credentials.refresh(request)
        except google.auth.exceptions.RefreshError as exc:
            detail = str(exc.args[0]) if exc.args else type(exc).__name__
            if exc.retryable:
                raise RetryableError(f"{self.platform}: Google's token endpoint failed "
                                     f"({detail})") from None
            raise AuthError(f"{self.platform}: Google's token endpoint refused {self._where()} "
                            f"for {account} ({detail}). Check that the key and the account "
                            f"are still active (or create a new key) and set "
                            f"${self.key_env}; retrying will not help.") from None
        except google.auth.exceptions.TransportError as exc:
            raise RetryableError(f"{self.platform}: Google's token endpoint did not answer "
                                 f"({exc})") from None


def _key_problem(exc: Exception) -> str:
    """What is wrong with a key file, in words that never quote the key itself."""
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON at line {exc.lineno} column {exc.colno}"
    if isinstance(exc, google.auth.exceptions.MalformedError):
        return str(exc)  # names missing fields only
    if isinstance(exc, KeyError):
        return f"no {exc.args[0]!r} field"
    if isinstance(exc, ValueError):
        return "its private_key is not a PEM RSA private key"
    return f"not a JSON object ({type(exc).__name__})"
