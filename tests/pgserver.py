"""A real PostgreSQL server for the tests, from Debian's ``postgresql`` package.

:class:`PostgresServer` runs ``initdb`` into a fresh temporary directory and ``pg_ctl
start`` on a free TCP port of 127.0.0.1, with its unix socket in that directory too, so it
shares nothing with a system cluster. As root, PostgreSQL refuses to run, so the binaries
run as the unprivileged ``postgres`` user (``runuser``) and the directory is given to it.
Authentication is ``trust``: the tests connect as the ``postgres`` role over TCP.

Fixtures:

* ``postgres_server`` — one server for the whole session (per xdist worker).
* ``restartable_postgres`` — that same server, for a test that restarts or stops it; it is
  running again when the test ends.
* ``pg_url`` — a fresh, empty database per test (migration tests).
* ``pg_migrated_url`` — a database at head with empty tables per test: one database per
  test module, cloned from a template migrated once per session, emptied before each test.

Missing binaries are an error, never a skip: install ``postgresql`` (``scripts/install-test-deps``).
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_USER = "postgres"
START_TIMEOUT = 60


class PostgresUnavailableError(RuntimeError):
    """The PostgreSQL server binaries are not installed, or the server cannot start."""


def find_bin_dir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` that has initdb and pg_ctl."""

    def version(path: str) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", Path(path).parent.name))

    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True):
        path = Path(candidate)
        if (path / "initdb").exists() and (path / "pg_ctl").exists():
            return path
    raise PostgresUnavailableError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin: "
        "install the Debian package `postgresql` (scripts/install-test-deps does)"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One throwaway PostgreSQL cluster in a temporary directory."""

    def __init__(self) -> None:
        self.bin_dir = find_bin_dir()
        self.as_root = os.geteuid() == 0
        self.base = Path(tempfile.mkdtemp(prefix="dockyard-pg-"))
        self.data_dir = self.base / "data"
        self.socket_dir = self.base
        self.log_path = self.base / "server.log"
        self.port = 0
        self._names = itertools.count()
        if self.as_root:
            try:
                user = pwd.getpwnam(PG_USER)
            except KeyError as exc:
                raise PostgresUnavailableError(
                    f"running as root, but there is no `{PG_USER}` user to run PostgreSQL as"
                ) from exc
            os.chown(self.base, user.pw_uid, user.pw_gid)

    # -- commands --------------------------------------------------------------------------
    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [str(self.bin_dir / tool), *args]
        if self.as_root:
            argv = ["runuser", "-u", PG_USER, "--", *argv]
        # Output goes to a file, not a pipe: a postmaster started by pg_ctl inherits it and
        # would keep a pipe open (and us waiting) for as long as it runs.
        with tempfile.TemporaryFile() as out:
            code = subprocess.run(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.base,
                stdin=subprocess.DEVNULL,
                timeout=START_TIMEOUT + 30,
                check=False,
            ).returncode
            out.seek(0)
            output = out.read().decode(errors="replace")
        if check and code != 0:
            raise PostgresUnavailableError(
                f"{tool} failed ({code}):\n{output}\n--- server log ---\n{self.log_tail()}"
            )
        return subprocess.CompletedProcess(argv, code, output, "")

    def psql(self, sql: str, database: str = "postgres") -> str:
        psql = self.bin_dir / "psql"
        result = subprocess.run(
            [
                str(psql if psql.exists() else "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                PG_USER,
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-qAt",
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql {sql!r} failed: {result.stderr}")
        return result.stdout

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> PostgresServer:
        if not self.data_dir.exists():
            self._run(
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                PG_USER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            )
        if not self.port:  # a restarted server keeps its port: clients hold URLs
            self.port = _free_port()
        options = " ".join(
            [
                f"-p {self.port}",
                f"-k {self.socket_dir}",
                "-c listen_addresses=127.0.0.1",
                "-c fsync=off",  # throwaway data: durability is not what these tests test
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=300",
            ]
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_path),
            "-o",
            options,
            "-t",
            str(START_TIMEOUT),
            "-w",
            "start",
        )
        return self

    def restart(self, mode: str = "fast") -> None:
        """``pg_ctl restart -m <mode>``: every connection is cut, the port stays the same."""
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-m",
            mode,
            "-t",
            str(START_TIMEOUT),
            "-l",
            str(self.log_path),
            "-w",
            "restart",
        )

    @property
    def running(self) -> bool:
        return (
            self.data_dir.exists()
            and self._run("pg_ctl", "-D", str(self.data_dir), "status", check=False).returncode == 0
        )

    def stop(self, mode: str = "fast") -> None:
        if self.data_dir.exists():
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop", check=False)

    def cleanup(self) -> None:
        self.stop(mode="immediate")
        shutil.rmtree(self.base, ignore_errors=True)

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except (FileNotFoundError, PermissionError):
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # -- databases -------------------------------------------------------------------------
    def url(self, database: str, driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "test", template: str | None = None) -> str:
        """Create a database (optionally a copy of ``template``); returns its name."""
        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        tail = f" TEMPLATE {template}" if template else ""
        self.psql(f"CREATE DATABASE {name}{tail}")
        return name

    def truncate_all(self, name: str) -> None:
        """Empty every table of database ``name`` but Alembic's version table."""
        self.psql(
            "DO $$DECLARE t text; BEGIN "
            "SELECT string_agg(quote_ident(tablename), ', ') INTO t FROM pg_tables "
            "WHERE schemaname = 'public' AND tablename <> 'alembic_version'; "
            "IF t IS NOT NULL THEN EXECUTE 'TRUNCATE ' || t || ' CASCADE'; END IF; END$$",
            database=name,
        )

    def drop_database(self, name: str) -> None:
        with contextlib.suppress(RuntimeError):
            self.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL for the session; an error (not a skip) when it cannot run here."""
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def restartable_postgres(postgres_server: PostgresServer) -> Iterator[PostgresServer]:
    """The session's PostgreSQL for a test that takes it away (restart, stop, start).

    No second server needed: a worker runs one test at a time and module databases live
    no longer than their module, so nobody else holds a connection. Whatever the test
    did, the server runs again afterwards for the tests that follow.
    """
    yield postgres_server
    if not postgres_server.running:
        postgres_server.start()


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database for one test."""
    name = postgres_server.create_database("empty")
    yield postgres_server.url(name)
    postgres_server.drop_database(name)


@pytest.fixture(scope="session")
def _pg_migrated_template(postgres_server: PostgresServer) -> str:
    from dockyard.metadata import migrate

    name = postgres_server.create_database("template_head")
    migrate.upgrade(postgres_server.url(name))
    return name


@pytest.fixture(scope="module")
def _pg_module_database(
    postgres_server: PostgresServer, _pg_migrated_template: str
) -> Iterator[str]:
    name = postgres_server.create_database("head", template=_pg_migrated_template)
    yield name
    postgres_server.drop_database(name)


@pytest.fixture
def pg_migrated_url(postgres_server: PostgresServer, _pg_module_database: str) -> str:
    """A database at the head revision with empty tables, for one test.

    One database per test module (a copy of the migrated template), emptied before each
    test: much faster than a ``CREATE DATABASE`` per test.
    """
    postgres_server.truncate_all(_pg_module_database)
    return postgres_server.url(_pg_module_database)
