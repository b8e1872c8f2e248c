"""GA4 through a service account over loopback: google-auth mints a token from a key made
here (its ``token_uri`` points at the loopback ``/token``), signs the grant with that key,
renews the token when it nears expiry, and fails at once, naming
$KPI_PIPELINE_GA4_CREDENTIALS, on a refused grant or a bad key file. Neither the private
key nor an access token reaches a record, an error or a log line."""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import jwt

from kpi_pipeline.defs.resources import ApiPlatforms, api_platforms_from_env
from kpi_pipeline.lib.core.streams import STREAMS_BY_NAME
from kpi_pipeline.lib.sources.api.client import ApiClient
from kpi_pipeline.lib.sources.api.connectors import CONNECTORS, fetchers, make_session
from kpi_pipeline.lib.sources.api.errors import AuthError
from kpi_pipeline.lib.sources.api.session import RetryPolicy
from kpi_pipeline_tests.sources.api.conftest import REPLAY_TODAY
from kpi_pipeline_tests.sources.api.replay import respond

DAY = date(2025, 3, 12)
STREAM = STREAMS_BY_NAME["ga4_sessions"]
RUN_REPORT = r":runReport$"
TOKEN_PATH = r"^/token$"
ENV = "KPI_PIPELINE_GA4_CREDENTIALS"
ACCOUNT = "kpi-pipeline@example-project.iam.gserviceaccount.com"
GOOGLE_TOKEN_ENDPOINT = "https://oauth2.googleapis.com/token"  # google-auth's JWT audience
SCOPE = "https://www.googleapis.com/auth/analytics.readonly"


def token_answer(token: str, expires_in: int = 3600):
    return respond({"access_token": token, "expires_in": expires_in, "token_type": "Bearer"})


@pytest.fixture(scope="module")
def rsa_key() -> tuple[str, str]:
    """(private key PEM, public key PEM), made once for the module."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def key_body(private_pem: str) -> str:
    """A line from the middle of the private key: what a leak would show."""
    return private_pem.splitlines()[5]


@pytest.fixture
def key_file(tmp_path: Path, rsa_key, replay) -> Path:
    """A service account JSON key as Google issues it, its token_uri on the loopback."""
    path = tmp_path / "ga4-service-account.json"
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "example-project",
        "private_key_id": "0123456789abcdef", "private_key": rsa_key[0],
        "client_email": ACCOUNT, "client_id": "1234567890",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": replay.url + "/token",
    }), encoding="utf-8")
    return path


@pytest.fixture
def ga4_client(replay, accounts_file, waits):
    """``ga4_client(key_file)``: an ApiClient whose GA4 session has no token but a key."""
    from kpi_pipeline.lib.sources.api.accounts_file import load_accounts

    def build(path: Path) -> ApiClient:
        session = make_session(CONNECTORS["ga4"], "", replay.url,
                               RetryPolicy(timeout_seconds=2.0, max_attempts=5,
                                           max_total_wait_seconds=120.0),
                               credentials_file=str(path))
        session.sleep = waits.append
        return ApiClient(load_accounts(accounts_file), {"ga4": session},
                         fetchers(CONNECTORS["ga4"]), today=REPLAY_TODAY)

    return build


def token_requests(replay) -> list:
    """The werkzeug requests the loopback's /token received (their form is the grant)."""
    return [request for request, _ in replay.server.log if request.path == "/token"]


def test_a_pull_sends_the_token_minted_from_a_grant_signed_by_the_key(
        replay, ga4_client, key_file, rsa_key, waits):
    replay.serve([STREAM.name], [DAY])
    replay.fail_next(TOKEN_PATH, token_answer("ya29.test-1"))
    envelope = ga4_client(key_file).pull_envelope(STREAM, DAY)
    assert envelope["accounts"] and replay.unmatched == []
    reports = replay.requests_to(RUN_REPORT)
    assert len(reports) >= 4  # two properties x two metric groups, paged
    assert all(s.headers["Authorization"] == "Bearer ya29.test-1" for s in reports)
    # one token for the whole pull: it is valid for an hour
    [grant] = token_requests(replay)
    assert grant.method == "POST"
    assert grant.form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    claims = jwt.decode(grant.form["assertion"], certs=rsa_key[1],
                        audience=GOOGLE_TOKEN_ENDPOINT)  # verifies the signature
    assert claims["iss"] == ACCOUNT and claims["scope"] == SCOPE
    assert claims["exp"] - claims["iat"] == 3600
    other = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    with pytest.raises(ValueError, match="signature"):
        jwt.decode(grant.form["assertion"], audience=GOOGLE_TOKEN_ENDPOINT,
                   certs=other.public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo))
    assert waits == []


def test_a_token_near_expiry_is_renewed_before_the_next_request(replay, ga4_client,
                                                                 key_file):
    """google-auth treats a token as expired minutes before its end: one that lasts 60 s
    is renewed before the next request, and the renewed one (an hour) is kept."""
    replay.serve([STREAM.name], [DAY])
    replay.fail_next(TOKEN_PATH, token_answer("ya29.test-1", expires_in=60),
                     token_answer("ya29.test-2"))
    ga4_client(key_file).pull_envelope(STREAM, DAY)
    sent = [s.headers["Authorization"] for s in replay.requests_to(RUN_REPORT)]
    assert sent[0] == "Bearer ya29.test-1"
    assert len(sent) > 2 and set(sent[1:]) == {"Bearer ya29.test-2"}
    assert len(token_requests(replay)) == 2
    paths = [s.path for s in replay.seen]
    assert paths[:3] == ["/token", paths[1], "/token"] and paths[1] != "/token"


def test_a_refused_grant_fails_at_once_naming_the_variable(replay, ga4_client, key_file,
                                                           rsa_key, waits):
    replay.serve([STREAM.name], [DAY])
    replay.fail_next(TOKEN_PATH, respond({"error": "invalid_grant",
                                          "error_description": "Invalid JWT Signature."}, 400))
    with pytest.raises(AuthError) as info:
        ga4_client(key_file).pull_envelope(STREAM, DAY)
    message = str(info.value)
    assert f"${ENV}" in message and str(key_file) in message and ACCOUNT in message
    assert "invalid_grant: Invalid JWT Signature." in message
    assert "retrying will not help" in message
    assert key_body(rsa_key[0]) not in message and info.value.__cause__ is None
    assert [s.path for s in replay.seen] == ["/token"] and waits == []


@pytest.mark.parametrize(("content", "problem"), [
    (None, "cannot read the service account key"),
    ("not json {", "invalid JSON at line 1 column 1"),
    (json.dumps({"type": "service_account", "private_key": "PRIVATE_KEY"}),
     "missing fields"),
    (json.dumps({"type": "service_account", "client_email": ACCOUNT, "token_uri": "x",
                 "private_key": "-----BEGIN PRIVATE KEY-----\nMIIB-secret-part\n"
                                "-----END PRIVATE KEY-----\n"}),
     "its private_key is not a PEM RSA private key"),
])
def test_a_missing_or_malformed_key_file_fails_naming_the_variable_and_file(
        replay, ga4_client, tmp_path, rsa_key, content, problem):
    path = tmp_path / "key.json"
    if content is not None:
        path.write_text(content.replace("PRIVATE_KEY", json.dumps(rsa_key[0])[1:-1]),
                        encoding="utf-8")
    with pytest.raises(AuthError) as info:
        ga4_client(path).pull_envelope(STREAM, DAY)
    message = str(info.value)
    assert message.startswith("ga4: ") and problem in message
    assert f"${ENV}" in message and str(path) in message
    assert key_body(rsa_key[0]) not in message and "secret-part" not in message
    assert replay.seen == []


def test_secrets_stay_out_of_records_errors_and_logs(replay, ga4_client, key_file, rsa_key,
                                                     caplog):
    """A 503 echoing the first token is retried (with a renewed token) and logged redacted;
    a 401 echoing the renewed one fails naming the key's variable. Neither token nor the
    key is found in a log line, the landing envelope, the error or the session's repr."""
    caplog.set_level(logging.DEBUG)
    replay.serve([STREAM.name], [DAY])
    replay.fail_next(TOKEN_PATH, token_answer("ya29.test-1", expires_in=60),
                     token_answer("ya29.test-2"))
    replay.fail_next(RUN_REPORT, respond({"error": {
        "code": 503, "status": "UNAVAILABLE", "message": "echo Bearer ya29.test-1"}}, 503))
    client = ga4_client(key_file)
    envelope = client.pull_envelope(STREAM, DAY)
    assert "echo Bearer ***" in caplog.text
    replay.fail_next(RUN_REPORT, respond({"error": {
        "code": 401, "status": "UNAUTHENTICATED", "message": "bad Bearer ya29.test-2"}}, 401))
    with pytest.raises(AuthError) as info:
        client.pull_envelope(STREAM, DAY)
    message = str(info.value)
    assert f"${ENV}" in message and "bad Bearer ***" in message
    assert len(token_requests(replay)) == 2

    secrets = ("ya29.test-1", "ya29.test-2", key_body(rsa_key[0]))
    texts = (caplog.text, json.dumps(envelope), message, repr(client._sessions["ga4"]))
    assert not [(secret, text[:80]) for secret in secrets for text in texts if secret in text]


def test_api_platforms_use_the_key_file_when_no_token_is_set(replay, key_file, accounts_file,
                                                              monkeypatch):
    monkeypatch.delenv("KPI_PIPELINE_GA4_TOKEN", raising=False)
    monkeypatch.setenv(ENV, str(key_file))
    assert api_platforms_from_env().ga4_credentials == dg.EnvVar(ENV)

    replay.serve([STREAM.name], [DAY])
    replay.fail_next(TOKEN_PATH, token_answer("ya29.test-1"))
    platforms = ApiPlatforms(accounts_file=str(accounts_file), ga4_credentials=str(key_file),
                             ga4_url=replay.url, today=REPLAY_TODAY.isoformat())
    envelope = platforms.client().pull_envelope(STREAM, DAY)
    assert envelope["accounts"] and replay.unmatched == []
    assert {s.headers["Authorization"] for s in replay.requests_to(RUN_REPORT)} \
        == {"Bearer ya29.test-1"}

    # with both set, the key file wins (a pasted token expires within the hour)
    replay.seen.clear()
    replay.fail_next(TOKEN_PATH, token_answer("ya29.test-2"))
    ApiPlatforms(accounts_file=str(accounts_file), ga4_credentials=str(key_file),
                 ga4_token=replay.token, ga4_url=replay.url,
                 today=REPLAY_TODAY.isoformat()).client().pull_envelope(STREAM, DAY)
    assert {s.headers["Authorization"] for s in replay.requests_to(RUN_REPORT)} \
        == {"Bearer ya29.test-2"}
    # and a bearer token alone is used as it is
    replay.seen.clear()
    ApiPlatforms(accounts_file=str(accounts_file), ga4_token=replay.token,
                 ga4_url=replay.url,
                 today=REPLAY_TODAY.isoformat()).client().pull_envelope(STREAM, DAY)
    assert {s.headers["Authorization"] for s in replay.seen} == {f"Bearer {replay.token}"}
