"""Resolving what the user points at (a path, a SQLAlchemy URL, an engine, ``sample:NAME``).

>>> describe_url("postgresql://ana:secret@db.local:5432/shop")
'postgresql://ana@db.local:5432/shop'
>>> resolve("sqlite:///nowhere/shop.sqlite")
Traceback (most recent call last):
sqltune.errors.ConnectionFailedError: Database file not found: nowhere/shop.sqlite
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

from sqltune.errors import ConnectionFailedError, did_you_mean

_FILE_SUFFIXES = {".duckdb": "duckdb", ".ddb": "duckdb", ".sqlite": "sqlite", ".sqlite3": "sqlite", ".db": "sqlite"}
_DRIVER_PACKAGES = {"postgresql": "psycopg[binary]", "mysql": "pymysql", "mssql": "pyodbc",
                    "snowflake": "snowflake-sqlalchemy", "oracle": "oracledb"}
_KNOWN_DRIVERS = ("duckdb", "sqlite", "postgresql", "postgres", "mysql", "mariadb", "mssql", "oracle",
                  "snowflake", "bigquery", "redshift", "trino", "databricks")


@dataclass(frozen=True)
class Source:
    """A resolved database source."""

    kind: str  # "duckdb" | "sqlite" | the SQLAlchemy backend name
    url: URL | None  # None for an engine passed in directly
    display_url: str  # without the password
    path: Path | None = None  # for file databases
    engine: Engine | None = None
    sample: str | None = None


def describe_url(url: str | URL) -> str:
    """The URL as it may be stored and shown: the password removed, never masked in place."""
    u = make_url(url) if isinstance(url, str) else url
    bare = URL.create(drivername=u.drivername, username=u.username, password=None, host=u.host, port=u.port,
                      database=u.database, query=u.query)
    return bare.render_as_string(hide_password=False)


def resolve(source: t.Any) -> Source:
    """Turn a path, URL string, :class:`~sqlalchemy.engine.URL`, engine or ``sample:NAME`` into a Source."""
    if isinstance(source, Engine):
        return Source(kind=source.dialect.name, url=source.url, display_url=describe_url(source.url), engine=source)
    if isinstance(source, Path):
        return _file_source(source)
    if isinstance(source, URL):
        return _url_source(source)
    if not isinstance(source, str) or not source.strip():
        raise ConnectionFailedError(f"Invalid database source {source!r}: give a file path or a SQLAlchemy URL.")
    text = source.strip()
    if text.startswith("sample:"):
        from sqltune import samples

        name = text.split(":", 1)[1]
        path = samples.build_sample(name)
        return Source(kind="duckdb", url=make_url(f"duckdb:///{path}"), display_url=f"sample:{name}", path=path,
                      sample=name)
    if "://" not in text:
        return _file_source(Path(text))
    try:
        url = make_url(text)
    except sa.exc.ArgumentError:
        raise ConnectionFailedError(f"Invalid database URL {text!r}: expected 'dialect+driver://user@host/db'.") from None
    return _url_source(url)


def _file_source(path: Path) -> Source:
    path = path.expanduser()
    kind = _FILE_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ConnectionFailedError(
            f"Cannot tell the database type of {str(path)!r}: use a .duckdb/.sqlite file or a SQLAlchemy URL."
        )
    if not path.is_file():
        raise ConnectionFailedError(f"Database file not found: {path}")
    url = make_url(f"{kind}:///{path.resolve()}")
    return Source(kind=kind, url=url, display_url=str(path.resolve()), path=path.resolve())


def _url_source(url: URL) -> Source:
    backend = url.get_backend_name()
    if backend in ("duckdb", "sqlite"):
        if not url.database or url.database == ":memory:":
            raise ConnectionFailedError(f"{backend} URL {describe_url(url)!r} names no database file.")
        return _file_source(Path(url.database))
    try:
        url.get_dialect()
    except sa.exc.NoSuchModuleError:
        hint = did_you_mean(backend, _KNOWN_DRIVERS)
        raise ConnectionFailedError(
            f"Unknown database driver {url.drivername!r} in {describe_url(url)!r}." + (f" {hint}" if hint else "")
        ) from None
    return Source(kind=backend, url=url, display_url=describe_url(url))


def create_engine(src: Source) -> Engine:
    """An engine for a non-DuckDB source, opened read-only where the driver allows it."""
    if src.engine is not None:
        return src.engine
    assert src.url is not None
    if src.kind == "sqlite":
        assert src.path is not None
        return sa.create_engine(f"sqlite:///file:{src.path}?mode=ro&uri=true")
    kwargs: dict[str, t.Any] = {}
    if src.kind == "postgresql":
        kwargs["connect_args"] = {"connect_timeout": 10, "options": "-c default_transaction_read_only=on"}
    try:
        return sa.create_engine(src.url, **kwargs)
    except ImportError as e:
        hint = _DRIVER_PACKAGES.get(src.kind, getattr(e, "name", None) or "the driver")
        raise ConnectionFailedError(
            f"The {src.kind} driver module {getattr(e, 'name', '')!r} is not installed: pip install '{hint}'."
        ) from None


def check_connection(engine: Engine, display_url: str) -> None:
    """Connect once; a failure becomes a one-line :class:`ConnectionFailedError`."""
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as e:
        orig = getattr(e, "orig", None) or e
        first = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
        raise ConnectionFailedError(f"Cannot connect to {display_url}: {first}") from None
