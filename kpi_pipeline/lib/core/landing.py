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

The landing area is a local folder (a plain path, or a ``file://`` URL) or a folder on
another ``fsspec`` filesystem (``s3://bucket/landing``, ``gs://...``, ``memory://...``), so
a pull on one machine and a normalization on another meet: ``LandingStore`` writes, lists
and reads it, and lets DuckDB read it. Every function below takes the landing root as a
path, a URL or a ``LandingStore``. A local folder keeps its direct path: files are listed
with ``os.scandir``, replaced with ``os.replace`` and read by DuckDB from disk.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import posixpath
import secrets
from collections.abc import Iterator
from dataclasses import fields
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kpi_pipeline.lib.core.accounts import AccountRef
from kpi_pipeline.lib.core.files import write_atomic
from kpi_pipeline.lib.core.streams import STREAMS_BY_NAME

if TYPE_CHECKING:
    import duckdb
    from fsspec import AbstractFileSystem

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
_SUFFIX = ".json.gz"
# fsspec protocols whose write of a whole object in one request is atomic: readers see the
# previous object or the new one, never part of one (S3 and GCS since their strong
# read-after-write consistency; Azure's block blobs; fsspec's memory filesystem sets the
# file in one assignment). Their "rename" is a copy and a delete, no more atomic than that.
OBJECT_STORES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "memory"})


class LandingError(ValueError):
    """A landing file is missing or cannot be read."""


# A landing file's place: a local ``Path``, or its URL on another filesystem.
LandingFile = Path | str


def _relative(stream: str, day: date) -> str:
    return f"{stream}/{day.year:04d}/{stream}_{day.isoformat()}{_SUFFIX}"


def _day_of(name: str, stream: str) -> date | None:
    """The day a landing file's name holds, or None for any other file (a temporary file of
    a write under way starts with a dot)."""
    prefix = f"{stream}_"
    if not (name.startswith(prefix) and name.endswith(_SUFFIX)):
        return None
    try:
        return date.fromisoformat(name[len(prefix):-len(_SUFFIX)])
    except ValueError:
        return None


class LandingStore:
    """The landing area at one location: a local folder or a folder on an fsspec filesystem.

    ``location`` is a plain path (the default), a ``file://`` URL (a local folder too) or
    another fsspec URL (``s3://bucket/landing``: install ``s3fs``; ``gs://``: ``gcsfs``).
    A landing file is named by a ``Path`` in a local folder and by its URL elsewhere; the
    URL is what errors name and what DuckDB reads.

    Replacing a file is atomic in each case, so a reader sees the previous file or the new
    one, never half of one (``write``):

    - a local folder: a temporary file in the same folder renamed over the target with
      ``os.replace`` (``lib.core.files``), atomic on POSIX within one file system;
    - an object store (``OBJECT_STORES``: S3, GCS, Azure, fsspec's memory filesystem): the
      whole file in one request (``pipe_file``, one PUT for a landing file's size), which
      the store applies whole or not at all; a writer that fails before or during it
      leaves the previous object;
    - any other fsspec filesystem (SFTP, HDFS, SMB...): a temporary file beside the target
      (``.<name>.<random>.tmp``, never listed as landed), then ``mv`` over it: a rename
      where the filesystem has one.
    """

    def __init__(self, location: str | Path) -> None:
        self.location = str(location)
        self.local: Path | None = None
        self.fs: AbstractFileSystem | None = None
        self._root = ""
        if "://" not in self.location:
            self.local = Path(self.location)
            return
        import fsspec
        from fsspec.implementations.local import LocalFileSystem

        fs, root = fsspec.core.url_to_fs(self.location)
        if isinstance(fs, LocalFileSystem):
            self.local = Path(root)
        else:
            self.fs, self._root = fs, root.rstrip("/")

    @classmethod
    def of(cls, root: LandingStore | Path | str) -> LandingStore:
        """The store at ``root`` (a store is returned as it is)."""
        return root if isinstance(root, LandingStore) else cls(root)

    @classmethod
    def of_file(cls, path: LandingFile) -> LandingStore:
        """The store holding the landing file ``path`` (``<root>/<stream>/<year>/<file>``)."""
        return cls(str(path).rsplit("/", 3)[0])

    def __str__(self) -> str:
        return str(self.local) if self.local is not None else self.url(self._root)

    def __repr__(self) -> str:
        return f"LandingStore({str(self)!r})"

    def url(self, key: str) -> str:
        """The URL of a key (a path inside the filesystem) of a non-local store."""
        assert self.fs is not None
        return self.fs.unstrip_protocol(key)

    def child(self, name: str) -> Path | str:
        """A folder inside the landing area: a local path, or a URL."""
        if self.local is not None:
            return self.local / name
        return self.url(f"{self._root}/{name}")

    # ------------------------------------------------------------------ names
    def path(self, stream: str, day: date) -> LandingFile:
        """Where the landing file of one stream and day lives."""
        if self.local is not None:
            return (self.local / stream / f"{day.year:04d}"
                    / f"{stream}_{day.isoformat()}{_SUFFIX}")
        return self.url(f"{self._root}/{_relative(stream, day)}")

    def rejected_path(self, stream: str, day: date) -> LandingFile:
        """Where a pull that failed its landing check is set aside: beside the landing
        area, never read as landed, so the day's landed file (if any) stays as it was and a
        day never landed is pulled again on the next run."""
        if self.local is not None:
            return self.local / REJECTED_DIR / _relative(stream, day)
        return self.url(f"{self._root}/{REJECTED_DIR}/{_relative(stream, day)}")

    # ------------------------------------------------------------------ listing
    def landed_days(self, stream: str) -> set[date]:
        """The days that have a landing file of ``stream`` (a local folder: one listing per
        year folder; elsewhere one recursive listing of the stream's folder; never a
        look-up per day). Temporary files of a write under way are not landed."""
        days = set()
        if self.local is None:
            folder = f"{self._root}/{stream}"
            for key in self._find(folder):
                parts = key[len(folder) + 1:].split("/")
                if len(parts) == 2 and (day := _day_of(parts[1], stream)) is not None:
                    days.add(day)
            return days
        folder = self.local / stream
        if not folder.is_dir():
            return days
        for year in os.scandir(folder):
            if not year.is_dir():
                continue
            for entry in os.scandir(year.path):
                day = _day_of(entry.name, stream)
                if day is not None:
                    days.add(day)
        return days

    def files(self) -> list[tuple[LandingFile, int]]:
        """Every landing file with its size in bytes, the set-aside ones excepted."""
        if self.local is not None:
            if not self.local.exists():
                return []
            return [(f, f.stat().st_size) for f in self.local.rglob(f"*{_SUFFIX}")
                    if REJECTED_DIR not in f.relative_to(self.local).parts]
        assert self.fs is not None
        found = self.fs.find(self._root, detail=True) if self.fs.exists(self._root) else {}
        return [(self.url(key), int(info["size"])) for key, info in sorted(found.items())
                if key.endswith(_SUFFIX) and key[len(self._root) + 1:].split("/")[0]
                != REJECTED_DIR and not posixpath.basename(key).startswith(".")]

    def _find(self, folder: str) -> Iterator[str]:
        assert self.fs is not None
        try:
            yield from self.fs.find(folder)
        except FileNotFoundError:
            return

    # ------------------------------------------------------------------ files
    def exists(self, path: LandingFile) -> bool:
        if self.local is not None:
            return Path(path).exists()
        assert self.fs is not None
        return bool(self.fs.exists(str(path)))

    def size(self, path: LandingFile) -> int:
        """The file's size in bytes."""
        if self.local is not None:
            return Path(path).stat().st_size
        assert self.fs is not None
        return int(self.fs.size(str(path)))

    def read(self, path: LandingFile) -> bytes:
        """The file's bytes, as stored (gzip)."""
        if self.local is not None:
            return Path(path).read_bytes()
        assert self.fs is not None
        return self.fs.cat_file(str(path))

    def remove(self, path: LandingFile) -> None:
        """Delete the file if it is there."""
        if self.local is not None:
            Path(path).unlink(missing_ok=True)
            return
        assert self.fs is not None
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(str(path))

    def write(self, path: LandingFile, data: bytes) -> None:
        """Replace the file with ``data`` atomically (see the class docstring for what
        that means on each kind of location)."""
        if self.local is not None:
            write_atomic(Path(path), data)
            return
        fs, target = self.fs, str(path)
        assert fs is not None
        if self.in_one_put:
            fs.pipe_file(target, data)
            return
        folder, name = target.rsplit("/", 1)
        fs.makedirs(folder, exist_ok=True)
        temporary = f"{folder}/.{name}.{secrets.token_hex(6)}.tmp"
        try:
            fs.pipe_file(temporary, data)
            fs.mv(temporary, target)
        except BaseException:
            if fs.exists(temporary):
                fs.rm_file(temporary)
            raise

    @property
    def in_one_put(self) -> bool:
        """Whether a file is replaced by writing it whole in one request (an object store)
        rather than through a temporary file and a rename."""
        assert self.fs is not None
        protocols = (self.fs.protocol,) if isinstance(self.fs.protocol, str) \
            else self.fs.protocol
        return bool(OBJECT_STORES.intersection(protocols))

    # ------------------------------------------------------------------ DuckDB
    def expose_to(self, conn: duckdb.DuckDBPyConnection) -> None:
        """Let DuckDB read this store's files by the names ``path`` gives: a local folder
        needs nothing (DuckDB reads the disk); another filesystem is registered with the
        connection (``register_filesystem``, once per protocol), and DuckDB reads through
        fsspec."""
        if self.fs is None:
            return
        protocol = self.fs.protocol if isinstance(self.fs.protocol, str) \
            else self.fs.protocol[0]
        if protocol not in conn.list_filesystems():
            conn.register_filesystem(self.fs)


def landing_path(root: LandingStore | Path | str, stream: str, day: date) -> LandingFile:
    """Where the landing file of one stream and day lives (a ``Path`` in a local folder)."""
    return LandingStore.of(root).path(stream, day)


def rejected_path(root: LandingStore | Path | str, stream: str, day: date) -> LandingFile:
    """Where a pull of ``stream`` and ``day`` that failed its landing check is set aside."""
    return LandingStore.of(root).rejected_path(stream, day)


def landed_days(root: LandingStore | Path | str, stream: str) -> set[date]:
    """The days that have a landing file of ``stream`` under ``root``."""
    return LandingStore.of(root).landed_days(stream)


def account_entry(account: AccountRef, start: date, end: date,
                  requests: list[RequestRecord]) -> dict[str, Any]:
    """One account's part of an envelope: the account, the window asked for, the answers."""
    entry: dict[str, Any] = {name: getattr(account, name) for name in _ACCOUNT_FIELDS}
    entry["account_name"] = account.name
    entry["window"] = {"start": start.isoformat(), "end": end.isoformat()}
    entry["requests"] = requests
    return entry


def write_envelope(root: LandingStore | Path | str, envelope: Envelope,
                   rejected: bool = False) -> LandingFile:
    """Write an envelope atomically: readers see the old file or the new one, never half.

    The envelope is serialized and compressed in memory first (an envelope that is not
    JSON fails before any file is touched); the bytes then replace the target in one
    atomic step (``LandingStore.write``: in a local folder a temporary file renamed over
    it, with a plain file's permissions; on an object store one PUT of the whole file).
    The gzip header carries no time stamp: the same envelope always gives the same bytes.
    With ``rejected`` the envelope goes to its ``rejected_path``; a clean envelope clears
    the day's rejected one.
    """
    store = LandingStore.of(root)
    day = date.fromisoformat(envelope["partition"])
    aside = store.rejected_path(envelope["stream"], day)
    path = aside if rejected else store.path(envelope["stream"], day)
    payload = gzip.compress(_ENCODER.encode(envelope).encode(), compresslevel=COMPRESS_LEVEL,
                            mtime=0)
    store.write(path, payload)
    if not rejected:
        store.remove(aside)
    return path


def read_envelope(root: LandingStore | Path | str, stream: str, day: date) -> Envelope:
    """Read one landing file; a missing or unreadable file names the stream and day."""
    store = LandingStore.of(root)
    path = store.path(stream, day)
    if not store.exists(path):
        raise LandingError(
            f"{stream} {day}: no landing file at {path}. Materialize raw/{stream} for this "
            "partition first."
        )
    try:
        envelope = json.loads(gzip.decompress(store.read(path)).decode("utf-8"))
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


def _check_platforms(envelope: Envelope, path: LandingFile) -> None:
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
