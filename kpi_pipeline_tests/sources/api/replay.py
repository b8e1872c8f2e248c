"""A loopback stand-in for the platforms' APIs, answering from the demo world.

The demo payload builders already produce, for each stream, account and day, the
requests a client makes and the bodies each platform sends back, in the platforms' own
shapes. ``PlatformReplay`` indexes those records by (method, path, query, JSON body) and
serves them over real HTTP (pytest-httpserver), so a real client asking the right
questions gets exactly the demo's answers, and the normalized rows can be compared with
a demo run. A request it does not know gets the platform's own "unknown path" error shape
with HTTP 404, and is listed in ``unmatched`` so a test can name it.

Faults (``fail_next``) are queued responses for requests matching a path pattern: a 429
with Retry-After, a 5xx burst, an expired token, TikTok's 200-with-error, a slow answer.
Graph paging links get ``access_token=<token>`` appended, as Meta's do, so tests can
check the client never stores or re-sends it in the query.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urlencode

import pandas as pd
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from kpi_pipeline.lib.core.landing import RequestRecord
from kpi_pipeline.lib.core.platform_client import PlatformClient
from kpi_pipeline.lib.core.streams import STREAMS_BY_NAME
from kpi_pipeline.lib.normalized.parsing import parse_window
from kpi_pipeline.lib.sources.demo.client import DemoClient
from kpi_pipeline.lib.sources.demo.world import World

#: Hosts the demo bodies name in paging links, rewritten to the loopback server.
DEMO_HOSTS = ("https://graph.facebook.com", "https://api.linkedin.com",
              "https://business-api.tiktok.com", "https://analyticsdata.googleapis.com",
              "https://api.frankfurter.dev")


def canonical_query(params: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """Query parameters as the wire carries them, order-free, credentials dropped."""
    return tuple(sorted((k, str(v)) for k, v in params.items() if k != "access_token"))


def canonical_json(body: Any) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":")) if body is not None else ""


@dataclass
class Fault:
    """Responses served, in order, to the next requests whose path matches ``pattern``."""

    pattern: re.Pattern[str]
    responses: list[Callable[[], Response]]
    served: int = 0


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class PlatformReplay:
    """Serve the demo world's answers (and queued faults) on a loopback HTTP server."""

    server: HTTPServer
    world: World
    token: str = "replay-token-SECRET-9f8e7d"
    index: dict[tuple[str, str, tuple, str], RequestRecord] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.server.expect_request(re.compile(".*")).respond_with_handler(self._handle)

    @property
    def url(self) -> str:
        """The server's base URL, e.g. ``http://localhost:PORT``."""
        return self.server.url_for("").rstrip("/")

    # ------------------------------------------------------------------ content
    def serve(self, stream_names: Iterable[str], days: Iterable[date]) -> None:
        """Index the demo answers of these streams for every demo account and day."""
        client = DemoClient.for_world(self.world)
        for name in stream_names:
            stream = STREAMS_BY_NAME[name]
            for account in client.accounts(stream):
                for day in days:
                    for record in client.fetch(stream, account, day):
                        self.add(record)

    def serve_day(self, stream_names: Iterable[str], day: date) -> None:
        """Answer as of one pull day only. Lifetime snapshots (post and video insights)
        are asked without a date, so one index can hold only one day of them."""
        self.index.clear()
        self.serve(stream_names, [day])

    def add(self, record: RequestRecord) -> None:
        key = (record["method"], record["path"], canonical_query(record.get("params") or {}),
               canonical_json(record.get("body_sent")))
        self.index[key] = record

    def fail_next(self, pattern: str, *responses: Callable[[], Response]) -> Fault:
        """Queue ``responses`` for the next requests whose path matches ``pattern``."""
        fault = Fault(re.compile(pattern), list(responses))
        self.faults.append(fault)
        return fault

    # ------------------------------------------------------------------ serving
    def _handle(self, request: Request) -> Response:
        body = request.get_json(silent=True) if request.data else None
        seen = Seen(request.method, request.path, dict(request.args),
                    dict(request.headers), body)
        with self._lock:
            self.seen.append(seen)
            fault = next((f for f in self.faults
                          if f.pattern.search(request.path) and f.served < len(f.responses)),
                         None)
            answer = None
            if fault is not None:
                fault.served += 1
                answer = fault.responses[fault.served - 1]
        if answer is not None:
            return answer()  # outside the lock: a slow answer must not hold up others
        key = (request.method, request.path, canonical_query(dict(request.args)),
               canonical_json(body))
        record = self.index.get(key)
        if record is None:
            self.unmatched.append(f"{request.method} {request.path}?{urlencode(request.args)} "
                                  f"{canonical_json(body)}")
            return json_response({"error": {"message": f"Unknown path components: "
                                            f"{request.path}", "type": "OAuthException",
                                            "code": 2500}}, status=404)
        return json_response(self._rewrite(record["body"]), status=record.get("status", 200))

    def _rewrite(self, body: Any) -> Any:
        """Point paging links at this server; Graph links carry the token, as Meta's do."""
        text = json.dumps(body)
        for host in DEMO_HOSTS:
            text = text.replace(host, self.url)
        rewritten = json.loads(text)
        _add_token_to_next(rewritten, self.token)
        return rewritten

    # ------------------------------------------------------------------ queries
    def requests_to(self, pattern: str) -> list[Seen]:
        return [s for s in self.seen if re.search(pattern, s.path)]


def _add_token_to_next(body: Any, token: str) -> None:
    paging = body.get("paging") if isinstance(body, dict) else None
    if isinstance(paging, dict) and isinstance(paging.get("next"), str) \
            and "/insights" not in paging["next"].split("?")[0]:
        paging["next"] += f"&access_token={token}"


# ---------------------------------------------------------------- canned responses
def json_response(body: Any, status: int = 200,
                  headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers or {},
                    content_type="application/json")


def respond(body: Any, status: int = 200,
            headers: dict[str, str] | None = None) -> Callable[[], Response]:
    """A queued response: ``body`` as JSON with ``status`` and ``headers``."""
    return lambda: json_response(body, status, headers)


def slow(seconds: float, body: Any = None) -> Callable[[], Response]:
    """A response that arrives after ``seconds`` (beyond a client's timeout)."""
    def answer() -> Response:
        time.sleep(seconds)
        return json_response(body if body is not None else {"data": []})
    return answer


def graph_error(code: int, message: str, subcode: int | None = None, status: int = 400,
                transient: bool = False) -> Callable[[], Response]:
    """Graph's error envelope."""
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code,
                             "is_transient": transient, "fbtrace_id": "AbCdEfGh123"}
    if subcode is not None:
        error["error_subcode"] = subcode
    return respond({"error": error}, status)


# ---------------------------------------------------------------- the comparison
def assert_demo_rows(client: PlatformClient, world: World, stream_name: str,
                     day: date) -> pd.DataFrame:
    """The client's envelope for one stream and day parses to the demo client's rows
    (pull time aside), and holds some; returns the client's rows."""
    stream = STREAMS_BY_NAME[stream_name]
    api = parse_window(stream_name, [client.pull_envelope(stream, day)])
    demo = parse_window(stream_name, [DemoClient.for_world(world).pull_envelope(stream, day)])
    assert len(api) > 0, f"{stream_name} {day}: no rows"
    pd.testing.assert_frame_equal(api.drop(columns="pulled_at"), demo.drop(columns="pulled_at"))
    return api
