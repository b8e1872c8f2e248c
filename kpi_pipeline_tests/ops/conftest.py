"""A real, throwaway PostgreSQL server for the instance tests.

Debian's ``postgresql`` package puts ``initdb`` and ``pg_ctl`` under
``/usr/lib/postgresql/<version>/bin``. The fixture creates a cluster in a temporary folder,
listens on a free loopback port with password authentication, creates a database for
Dagster, and stops and deletes everything at teardown. PostgreSQL refuses to run as root,
so under root the server runs as the ``postgres`` system user (the package creates it).

Without the binaries the tests skip with the reason; under ``CI=true`` they fail instead:
``.ci/run`` installs the package, so a missing server there is a broken set-up.
"""

from __future__ import annotations

import fcntl
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest

from kpi_pipeline.defs.resources import Warehouse

PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"
USER, PASSWORD, DATABASE = "dagster", "dagster-test-password", "dagster"


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    password: str
    database: str
    bin_dir: Path

    def env(self) -> dict[str, str]:
        """The variables deploy/postgres/dagster.yaml reads."""
        return {"DAGSTER_PG_HOST": self.host, "DAGSTER_PG_PORT": str(self.port),
                "DAGSTER_PG_USERNAME": self.user, "DAGSTER_PG_PASSWORD": self.password,
                "DAGSTER_PG_DB": self.database}


def find_pg_bin() -> Path | None:
    """The newest installed server's bin folder holding initdb and pg_ctl, or None."""
    candidates = [Path(d) for d in glob.glob(PG_BIN_GLOB)]
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).parent)
    usable = [d for d in candidates if (d / "initdb").exists() and (d / "pg_ctl").exists()]

    def version(d: Path) -> tuple[int, ...]:
        name = d.parent.name
        return tuple(int(p) for p in name.split(".")) if name.replace(".", "").isdigit() else ()

    return max(usable, key=version) if usable else None


def missing(reason: str):
    """Skip locally, fail under CI=true (where .ci/run must have installed the server)."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; under CI=true this test must run: .ci/run must install "
                    f"Debian's postgresql package")
    pytest.skip(f"{reason} (install Debian's postgresql package to run it)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[PostgresServer]:
    bin_dir = find_pg_bin()
    if bin_dir is None:
        missing(f"PostgreSQL server binaries (initdb, pg_ctl) not found under {PG_BIN_GLOB}")
    prefix: list[str] = []
    owner = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            missing("running as root and there is no 'postgres' system user to run the server")
        if not shutil.which("runuser"):
            missing("running as root and `runuser` is missing to start the server as postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    # Not pytest's tmp_path: its parents are private to root, out of the postgres user's reach.
    root = Path(tempfile.mkdtemp(prefix="kpi_pg_"))
    data, log = root / "data", root / "server.log"
    pwfile = root / "pwfile"
    pwfile.write_text(PASSWORD + "\n")
    if owner is not None:
        for path in (root, pwfile):
            os.chown(path, owner.pw_uid, owner.pw_gid)

    def run(*args: str | Path) -> None:
        done = subprocess.run([*prefix, *map(str, args)], capture_output=True, text=True,
                              timeout=60, cwd=root)
        if done.returncode != 0:
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{args[0]} failed ({done.returncode}):\n{done.stdout}\n"
                               f"{done.stderr}\n{tail}")

    try:
        # Password authentication over TCP, as a real server would require; no fsync:
        # the cluster is thrown away.
        run(bin_dir / "initdb", "-D", data, "-U", USER, f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--no-sync")
        port = free_port()
        options = (f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off "
                   f"-c synchronous_commit=off -c full_page_writes=off")
        run(bin_dir / "pg_ctl", "-D", data, "-l", log, "-o", options, "-w", "-t", "30",
            "start")
        conn = psycopg2.connect(host="127.0.0.1", port=port, user=USER, password=PASSWORD,
                                dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {DATABASE}")
        conn.close()
        yield PostgresServer("127.0.0.1", port, USER, PASSWORD, DATABASE, bin_dir)
    finally:
        if (data / "postmaster.pid").exists():  # also after a start that timed out
            subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast",
                            "-w", "stop"], capture_output=True, timeout=60, cwd=root)
        shutil.rmtree(root, ignore_errors=True)


def fresh_database(server: PostgresServer, name: str) -> str:
    """An empty database ``name`` on the server (dropped first if a test left it), as the
    store URL KPI_PIPELINE_STORE takes (without the password: ``server.password``)."""
    conn = psycopg2.connect(host=server.host, port=server.port, user=server.user,
                            password=server.password, dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        cur.execute(f"CREATE DATABASE {name}")
    conn.close()
    return f"postgresql://{server.user}@{server.host}:{server.port}/{name}"


def lock_is_free(warehouse: Warehouse) -> bool:
    """Whether the DuckDB file's lock is free (a PostgreSQL store has none: True)."""
    if warehouse.postgres() is not None:
        return True
    fd = os.open(warehouse.lock_path(), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # also releases the lock if it was taken
    return True
