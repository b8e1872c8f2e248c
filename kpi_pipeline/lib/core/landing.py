"""The landing area: exactly what a source returned, one compressed file per stream and day.

A landing file is an *envelope*: who was asked (source, stream, API version, partition,
pull time) and, per account, every request made and the body that came back, untouched.
Normalization reads envelopes, never the network, so it can be re-run without pulling
again, and pulls never contend for the DuckDB writer.

Envelope layout (JSON, gzip-compressed)::

    {"stream": "instagram_media", "platform": "instagram", "source": "demo",
     "api_version": "v24.0", "partition": "2025-03-03", "pulled_at": "2025-03-04T06:00:00Z",
     "accounts": [{"account_id": "...", "brand": "...", "timezone": "...", "currency": "...",
                   "window": {"start": "2025-03-03", "end": "2025-03-03"},
                   "requests": [{"method": "GET", "path": "/v24.0/1784.../media",
                                 "params": {...}, "status": 200, "body": {...}}]}]}
"""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import fields
from datetime import date
from pathlib import Path
from typing import Any

from kpi_pipeline.lib.core.accounts import AccountRef
from kpi_pipeline.lib.core.files import write_atomic
from kpi_pipeline.lib.core.streams import STREAMS_BY_NAME

Envelope = dict[str, Any]
RequestRecord = dict[str, Any]

# zlib level 3 (the fastest of the "fast" deflate levels that still match well): about half
# the CPU of the default 6 for files about 15% larger; any level reads back the same.
COMPRESS_LEVEL = 3
# Compact UTF-8 JSON. An envelope is a tree of fresh dicts and lists, so the encoder skips
# its cycle bookkeeping (a cycle would still fail, with RecursionError).
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)
REJECTED_DIR = "_rejected"  # under the landing root; stream names never start with "_"
_ACCOUNT_FIELDS = tuple(f.name for f in fields(AccountRef) if f.name != "name")


class LandingError(ValueError):
    """A landing file is missing or cannot be read."""


def landing_path(root: Path | str, stream: str, day: date) -> Path:
    """Where the landing file of one stream and day lives."""
    return Path(root) / stream / f"{day.year:04d}" / f"{stream}_{day.isoformat()}.json.gz"


def rejected_path(root: Path | str, stream: str, day: date) -> Path:
    """Where a pull that failed its landing check is set aside: beside the landing area,
    never read as landed, so the day's landed file (if any) stays as it was and a day
    never landed is pulled again on the next run."""
    return Path(root) / REJECTED_DIR / landing_path("", stream, day)


def landed_days(root: Path | str, stream: str) -> set[date]:
    """The days that have a landing file of ``stream`` (one listing per year folder, not a
    look-up per day; temporary files of a write under way are not landed)."""
    days = set()
    prefix, suffix = f"{stream}_", ".json.gz"
    folder = Path(root) / stream
    if not folder.is_dir():
        return days
    for year in os.scandir(folder):
        if not year.is_dir():
            continue
        for entry in os.scandir(year.path):
            name = entry.name
            if name.startswith(prefix) and name.endswith(suffix):
                try:
                    days.add(date.fromisoformat(name[len(prefix):-len(suffix)]))
                except ValueError:
                    continue
    return days


def account_entry(account: AccountRef, start: date, end: date,
                  requests: list[RequestRecord]) -> dict[str, Any]:
    """One account's part of an envelope: the account, the window asked for, the answers."""
    entry: dict[str, Any] = {name: getattr(account, name) for name in _ACCOUNT_FIELDS}
    entry["account_name"] = account.name
    entry["window"] = {"start": start.isoformat(), "end": end.isoformat()}
    entry["requests"] = requests
    return entry


def write_envelope(root: Path | str, envelope: Envelope, rejected: bool = False) -> Path:
    """Write an envelope atomically: readers see the old file or the new one, never half.

    The envelope is serialized and compressed in memory first (an envelope that is not
    JSON fails before any file is touched); the bytes go to a temporary file in the same
    folder, which then replaces the target (``lib.core.files``: atomic on POSIX within one
    file system, with a plain file's permissions). The gzip header carries no time stamp:
    the same envelope always gives the same bytes. With ``rejected`` the envelope goes to
    its ``rejected_path``; a clean envelope clears the day's rejected one.
    """
    day = date.fromisoformat(envelope["partition"])
    aside = rejected_path(root, envelope["stream"], day)
    path = aside if rejected else landing_path(root, envelope["stream"], day)
    payload = gzip.compress(_ENCODER.encode(envelope).encode(), compresslevel=COMPRESS_LEVEL,
                            mtime=0)
    write_atomic(path, payload)
    if not rejected:
        aside.unlink(missing_ok=True)
    return path


def read_envelope(root: Path | str, stream: str, day: date) -> Envelope:
    """Read one landing file; a missing or unreadable file names the stream and day."""
    path = landing_path(root, stream, day)
    if not path.exists():
        raise LandingError(
            f"{stream} {day}: no landing file at {path}. Materialize raw/{stream} for this "
            "partition first."
        )
    try:
        with gzip.open(path, "rb") as fh:
            envelope = json.loads(fh.read().decode("utf-8"))
    except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LandingError(f"{stream} {day}: landing file {path} is unreadable: {exc}") from exc
    accounts = envelope.get("accounts", []) if isinstance(envelope, dict) else None
    if not isinstance(accounts, list) or not all(isinstance(a, dict) for a in accounts):
        raise LandingError(f"{stream} {day}: landing file {path} does not have the envelope "
                           "shape (an object whose accounts are a list of objects)")
    if envelope.get("stream") != stream or envelope.get("partition") != day.isoformat():
        raise LandingError(
            f"{stream} {day}: landing file {path} holds stream={envelope.get('stream')!r} "
            f"partition={envelope.get('partition')!r}"
        )
    _check_platforms(envelope, path)
    return envelope


def _check_platforms(envelope: Envelope, path: Path) -> None:
    """Every account of a file belongs to its stream's platform: the parsers label rows
    with the stream's platform, so a foreign account would be filed under the wrong one."""
    stream = envelope["stream"]
    expected = STREAMS_BY_NAME[stream].platform if stream in STREAMS_BY_NAME else None
    if expected is None:
        raise LandingError(f"{stream} {envelope['partition']}: landing file {path} is of an "
                           f"unknown stream (known: {', '.join(sorted(STREAMS_BY_NAME))})")
    for account in envelope.get("accounts", []):
        if account.get("platform") != expected:
            raise LandingError(
                f"{stream} {envelope['partition']}: landing file {path}, account "
                f"{account.get('account_id')!r}: unknown platform {account.get('platform')!r} "
                f"for this stream (expected {expected!r})")
