"""A DuckDB session whose tables live in a PostgreSQL database.

The pipeline's SQL is written once, in DuckDB's dialect. On a PostgreSQL store it still
runs in DuckDB, in the process that asks, and the tables are PostgreSQL's: DuckDB's
``postgres`` extension attaches the database as the session's default catalog, so
``kpi.weekly`` is the server's table ``kpi.weekly``; scans, filters and writes go to the
server. Each DuckDB transaction is one PostgreSQL transaction, SERIALIZABLE: a
partition's delete and insert commit together, the server rolls back what a killed
process left half-written, and many processes on many machines write at once instead of
taking turns at the DuckDB file's lock. SERIALIZABLE rather than the extension's default
REPEATABLE READ: two runs writing adjacent windows of post_daily each read the other's
boundary rows (a post's increments depend on its previous snapshot); under REPEATABLE
READ both could commit and leave those increments computed from neither, where
SERIALIZABLE aborts one, which is run again: a normalized window's write at once
(``lib/normalized/store.py``), any other layer's step by Dagster (``Warehouse``).

The extension is DuckDB's own build, shipped on PyPI by ``duckdb-ext-postgres`` for
DuckDB 1.4 (the LTS release the project pins for it); it is loaded from that package's
folder and never downloaded. The password travels in a temporary DuckDB secret, which
DuckDB redacts, never in the connection string that errors quote.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import duckdb

SCHEMES = ("postgresql", "postgres")
# What the server says when it aborts one of two transactions that depend on each other's
# rows; the aborted one is to be run again, as PostgreSQL's documentation prescribes. A
# DuckDB file never raises these: its writers take turns under the store lock.
SERIALIZATION_FAILURES = ("could not serialize access", "deadlock detected")
CATALOG = "store"


@dataclass(frozen=True)
class PostgresTarget:
    """Where the store is: ``postgresql://user@host:port/database[?sslmode=...]``."""

    host: str
    port: int
    database: str
    user: str
    options: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, url: str, setting: str) -> PostgresTarget:
        """Read the URL; ``setting`` names where it came from in the errors, which never
        quote the URL (it may hold a password by mistake)."""
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES:
            raise ValueError(f"{setting}: expected postgresql://user@host:port/database, "
                             f"got the scheme {parts.scheme!r}")
        if parts.password is not None:
            raise ValueError(f"{setting}: the URL holds a password; give it in the "
                             f"password setting instead, which is never logged")
        database = unquote(parts.path.lstrip("/"))
        if not parts.hostname or not parts.username or not database:
            raise ValueError(f"{setting}: the URL needs a user, a host and a database: "
                             f"postgresql://user@host:port/database")
        options = []
        for pair in filter(None, parts.query.split("&")):
            key, _, value = pair.partition("=")
            if not key.isidentifier():
                raise ValueError(f"{setting}: the query option {key!r} is not a libpq "
                                 f"connection keyword")
            options.append((key, unquote(value)))
        return cls(parts.hostname, parts.port or 5432, database, unquote(parts.username),
                   tuple(options))

    def describe(self) -> str:
        """The URL without secrets, for summaries and metadata."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"

    def libpq(self) -> str:
        """A libpq connection string without the password."""
        pairs = [("host", self.host), ("port", str(self.port)), ("dbname", self.database),
                 ("user", self.user), *self.options]
        return " ".join(f"{key}={_libpq_quote(value)}" for key, value in pairs)


def _libpq_quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def attach(conn: duckdb.DuckDBPyConnection, target: PostgresTarget, password: str,
           read_only: bool) -> None:
    """Load the extension, attach the database as ``store`` and make it the default
    catalog, so unqualified ``schema.table`` names are the server's tables."""
    import duckdb_ext  # the extension's folder; imported here: only this store needs it

    conn.execute("SET extension_directory = ?", [duckdb_ext.get_extension_dir()])
    conn.execute("LOAD postgres")
    secret = ""
    if password:
        # DDL takes no bound parameters: the value is quoted as a SQL string literal.
        conn.execute(f"CREATE TEMPORARY SECRET {CATALOG}_login "
                     f"(TYPE postgres, PASSWORD {_sql_literal(password)})")
        secret = f", SECRET {CATALOG}_login"
    mode = ", READ_ONLY" if read_only else ""
    conn.execute(f"ATTACH {_sql_literal(target.libpq())} AS {CATALOG} "
                 f"(TYPE postgres, ISOLATION_LEVEL 'SERIALIZABLE'{secret}{mode})")
    conn.execute(f"USE {CATALOG}")


def serialization_failure(error: BaseException) -> bool:
    """Whether ``error`` is the server aborting a transaction to keep it serializable."""
    return isinstance(error, duckdb.Error) and any(
        text in str(error) for text in SERIALIZATION_FAILURES)


def is_postgres(conn: duckdb.DuckDBPyConnection) -> bool:
    """Whether the session's default catalog is a PostgreSQL store."""
    return conn.execute("SELECT type = 'postgres' FROM duckdb_databases() "
                        "WHERE database_name = current_database()").fetchall() == [(True,)]


def create_view(conn: duckdb.DuckDBPyConnection, name: str, select: str) -> None:
    """``CREATE OR REPLACE VIEW name AS select`` on either store, from one definition (see
    ``create_views``)."""
    create_views(conn, {name: select})


def _fingerprint(body: str) -> str:
    return "kpi_pipeline " + hashlib.sha256(body.encode()).hexdigest()[:16]


def create_views(conn: duckdb.DuckDBPyConnection, views: dict[str, str]) -> None:
    """``CREATE OR REPLACE VIEW name AS select`` for each ``name: select`` of ``views``
    (names ``schema.view``), in order, on either store, from one definition.

    DuckDB hands a view on a PostgreSQL store to the server as written, so there the
    SELECT (DuckDB's dialect) is transpiled to PostgreSQL's by sqlglot. The view is
    replaced only when its definition changed (its fingerprint is the view's comment),
    under a transaction-scoped advisory lock: many runs opening the store at once do not
    drop and recreate the view under each other's readers.

    On DuckDB too a view is replaced only when its definition changed (the comments of
    every view read in one catalogue lookup), or when it no longer binds: DuckDB keeps a
    view's column types from its creation and refuses it once a table it reads has changed
    shape. (Replacing every view on every run cost each attribution run 0.03-0.05 CPU s.)
    When every view is as made, one statement binds them all (a statement each cost the
    attribution's 11 views 4.5 ms, one 1.6 ms); only when it fails is each bound alone.
    """
    if not is_postgres(conn):
        current = dict(conn.execute(
            "SELECT schema_name || '.' || view_name, comment FROM duckdb_views() "
            "WHERE database_name = current_database() AND NOT internal").fetchall())
        if all(current.get(name) == _fingerprint(select) for name, select in views.items()):
            try:
                conn.execute(" UNION ALL ".join(f"(SELECT 1 FROM {name} LIMIT 0)"
                                                for name in views)).fetchall()
                return
            except duckdb.Error:
                pass  # one of them no longer binds: each is bound alone below
        for name, select in views.items():
            fingerprint = _fingerprint(select)
            if current.get(name) == fingerprint:
                try:
                    conn.execute(f"SELECT * FROM {name} LIMIT 0").fetchall()
                    continue
                except duckdb.Error:
                    pass  # a table it reads changed shape: made again below
            conn.execute(f"CREATE OR REPLACE VIEW {name} AS {select}")
            conn.execute(f"COMMENT ON VIEW {name} IS {_sql_literal(fingerprint)}")
        return
    import sqlglot  # only a PostgreSQL store needs the transpiler
    from sqlglot.errors import ErrorLevel

    for name, select in views.items():
        (body,) = sqlglot.transpile(select, read="duckdb", write="postgres",
                                    unsupported_level=ErrorLevel.RAISE)
        fingerprint = _fingerprint(body)
        current = query_server(
            conn, f"SELECT obj_description(to_regclass({_sql_literal(name)}), 'pg_class')")
        if current == [(fingerprint,)]:
            continue
        lock = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big", signed=True)
        run_on_server(conn, f"SELECT pg_advisory_xact_lock({lock}); "
                            f"DROP VIEW IF EXISTS {name}; CREATE VIEW {name} AS {body}; "
                            f"COMMENT ON VIEW {name} IS {_sql_literal(fingerprint)};")


def query_server(conn: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    """The rows of ``sql`` (PostgreSQL's dialect) run by the server itself: for its own
    catalogue, which DuckDB's attached view of the database does not show."""
    return conn.execute("SELECT * FROM postgres_query(?, ?)", [CATALOG, sql]).fetchall()


def run_on_server(conn: duckdb.DuckDBPyConnection, statements: str) -> None:
    """Run ``statements`` (PostgreSQL's dialect) on the server in one transaction, then
    drop DuckDB's cached picture of the database's catalogue, which they may change."""
    conn.execute("CALL postgres_execute(?, ?)", [CATALOG, f"BEGIN; {statements} COMMIT;"])
    conn.execute("CALL pg_clear_cache()")
