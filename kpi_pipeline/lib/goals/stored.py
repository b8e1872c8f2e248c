"""Goal definitions as the store keeps them, and resolved for each as-of day.

The goals file is read once, by the ``goal/definitions`` asset: validated, then kept
verbatim in ``goal.definitions_file`` with one browsable row per goal in
``goal.definitions``. Attainment and the report pages read the stored text, never the
file, so a run computes against the definitions the asset graph shows, and a goals
file edited mid-run changes nothing until the definitions are materialized again.

A relative window without ``as_of`` (``this_quarter``, ``next_30_days``...) is resolved
against each as-of day itself, not the wall clock: attainment of 2025-05-14 under
``this_quarter`` is measured over Q2 2025 whenever it is computed, so re-running an old
partition gives the rows it gave the first time. Days whose relative windows resolve
alike form one segment, validated once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import duckdb
import pandas as pd

from kpi_pipeline.lib.core.yaml_files import load_yaml
from kpi_pipeline.lib.goals.loading import ValidatedGoals
from kpi_pipeline.lib.goals.schema import fingerprint
from kpi_pipeline.lib.goals.windows import resolve_relative
from kpi_pipeline.lib.normalized.store import transaction

SCHEMA = "goal"


@dataclass(frozen=True)
class StoredGoals:
    """The goals file as it was when the definitions were last materialized."""

    source: str
    sha256: str
    text: str

    def data(self) -> Any:
        """The parsed file (validated when stored)."""
        return load_yaml(self.text, self.source)


def ensure_definition_tables(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    conn.execute(f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.definitions_file (
        source VARCHAR NOT NULL, sha256 VARCHAR NOT NULL, text VARCHAR NOT NULL,
        goals INTEGER NOT NULL)""")
    conn.execute(f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.definitions (
        position INTEGER NOT NULL, goal_id VARCHAR PRIMARY KEY, title VARCHAR,
        kpi VARCHAR NOT NULL, scope VARCHAR NOT NULL, scope_key VARCHAR NOT NULL,
        objective VARCHAR, stage VARCHAR, owner VARCHAR,
        window_spec VARCHAR NOT NULL, resolved_start DATE NOT NULL,
        resolved_end DATE NOT NULL, fingerprint VARCHAR NOT NULL)""")


def store_definitions(conn: duckdb.DuckDBPyConnection, text: str, source: str,
                      loaded: ValidatedGoals) -> StoredGoals:
    """Replace the stored definitions with ``text`` (already validated as ``loaded``) in
    one transaction. The per-goal rows show each window as written and as resolved on the
    day the file was read."""
    stored = StoredGoals(source, hashlib.sha256(text.encode("utf-8")).hexdigest(), text)
    rows = pd.DataFrame([{
        "position": i, "goal_id": g.id, "title": g.title, "kpi": g.kpi,
        "scope": g.scope.kind, "scope_key": g.scope.scope_key, "objective": g.objective,
        "stage": g.stage, "owner": g.owner,
        "window_spec": json.dumps(g.window.model_dump(mode="json", exclude_none=True),
                                  sort_keys=True),
        "resolved_start": g.start, "resolved_end": g.end, "fingerprint": fingerprint(g),
    } for i, g in enumerate(loaded.goals)], columns=[
        "position", "goal_id", "title", "kpi", "scope", "scope_key", "objective", "stage",
        "owner", "window_spec", "resolved_start", "resolved_end", "fingerprint"])
    ensure_definition_tables(conn)
    with transaction(conn):
        conn.execute(f"DELETE FROM {SCHEMA}.definitions_file")
        conn.execute(f"DELETE FROM {SCHEMA}.definitions")
        conn.execute(f"INSERT INTO {SCHEMA}.definitions_file VALUES (?, ?, ?, ?)",
                     [stored.source, stored.sha256, stored.text, len(loaded.goals)])
        conn.register("goal_definition_rows", rows)
        conn.execute(f"INSERT INTO {SCHEMA}.definitions SELECT * FROM goal_definition_rows")
        conn.unregister("goal_definition_rows")
    return stored


def stored_goals(conn: duckdb.DuckDBPyConnection) -> StoredGoals | None:
    """The stored goals file; None when the definitions were never materialized."""
    exists = conn.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? "
        "AND table_name = 'definitions_file'", [SCHEMA]).fetchone()[0]
    row = conn.execute(f"SELECT source, sha256, text FROM {SCHEMA}.definitions_file"
                       ).fetchone() if exists else None
    return None if row is None else StoredGoals(*row)


def _floating_windows(data: Any) -> list[str]:
    """The relative windows written without ``as_of``: they move with the as-of day."""
    goals = data.get("goals") if isinstance(data, Mapping) else None
    windows = [g.get("window") for g in goals or [] if isinstance(g, Mapping)]
    return [w["relative"] for w in windows
            if isinstance(w, Mapping) and w.get("relative") and w.get("as_of") is None]


def reference_segments(data: Any, first: date, last: date) -> list[tuple[date, date]]:
    """[first, last] cut into runs of consecutive as-of days on which every floating
    relative window resolves to the same dates (one run when there is none)."""
    floating = _floating_windows(data)
    if not floating:
        return [(first, last)]
    segments: list[tuple[date, date]] = []
    signature = None
    day = first
    while day <= last:
        current = tuple(resolve_relative(name, day) for name in floating)
        if current != signature:
            segments.append((day, day))
            signature = current
        else:
            segments[-1] = (segments[-1][0], day)
        day += timedelta(days=1)
    return segments
