"""Shared fixtures: a session-wide SQLTUNE_HOME (samples built once) and a PostgreSQL server.

PostgreSQL: ``SQLTUNE_PG_URL`` if set, else a throwaway cluster from Debian's ``postgresql``
package on a free loopback port (as the ``postgres`` user when running as root). Without either
the ``postgres`` tests skip, unless ``SQLTUNE_REQUIRE_PG=1`` (set by ``.ci/run``) turns the
skip into a failure.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import typing as t
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def session_home(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[Path]:
    """Every test runs under one temporary SQLTUNE_HOME unless it sets its own."""
    old = os.environ.get("SQLTUNE_HOME")
    path = Path(os.environ.get("SQLTUNE_TEST_HOME") or tmp_path_factory.mktemp("sqltune-home"))
    os.environ["SQLTUNE_HOME"] = str(path)
    yield path
    if old is None:
        os.environ.pop("SQLTUNE_HOME", None)
    else:
        os.environ["SQLTUNE_HOME"] = old


@pytest.fixture(autouse=True)
def _close_sandboxes() -> t.Iterator[None]:
    yield
    from sqltune import sandbox

    sandbox.close_all()


@pytest.fixture(scope="session")
def cpg_db(session_home: Path) -> Path:
    from sqltune import samples

    return samples.build_sample("cpg")


@pytest.fixture(scope="session")
def biotech_db(session_home: Path) -> Path:
    from sqltune import samples

    return samples.build_sample("biotech")


# ----------------------------------------------------------------- PostgreSQL
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _unavailable(reason: str) -> t.NoReturn:
    if os.environ.get("SQLTUNE_REQUIRE_PG") == "1":
        pytest.fail(f"PostgreSQL required (SQLTUNE_REQUIRE_PG=1) but unavailable: {reason}")
    pytest.skip(f"PostgreSQL unavailable: {reason}")


@pytest.fixture(scope="session")
def pg_server() -> t.Iterator[str]:
    """A server URL without a database name, e.g. ``postgresql://postgres@127.0.0.1:5433``."""
    if os.environ.get("SQLTUNE_PG_URL"):
        yield os.environ["SQLTUNE_PG_URL"].rstrip("/")
        return
    bindir = _pg_bin()
    if bindir is None:
        _unavailable("no SQLTUNE_PG_URL and no initdb (apt-get install postgresql)")
    root = os.geteuid() == 0
    base = Path(tempfile.mkdtemp(prefix="sqltune-pg-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    prefix: list[str] = []
    if root:
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")
        os.chmod(base, 0o755)
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()

    def run(*args: str) -> None:
        proc = subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            _unavailable(f"{args[0]} failed: {proc.stderr.strip()[-300:]}")

    run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
    run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(base / "log"), "-w", "-t", "60", "-o",
        f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_database(pg_server: str) -> t.Callable[[str, str], str]:
    """Create a fresh database from a SQL script; returns its URL."""
    import sqlalchemy as sa

    def make(name: str, script: str) -> str:
        admin = sa.create_engine(f"{pg_server}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = f"{pg_server}/{name}"
        eng = sa.create_engine(url)
        with eng.begin() as conn:
            conn.exec_driver_sql(script)
        eng.dispose()
        return url

    return make
