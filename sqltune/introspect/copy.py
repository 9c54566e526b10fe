"""Copying a non-DuckDB source into the project's DuckDB execution file.

Every query sqltune runs runs in DuckDB, so a SQLite or PostgreSQL database is copied once
through SQLAlchemy: whole tables up to ``max_rows`` rows, a seeded reservoir sample (ordered by
the primary key, so the same data gives the same sample) above it. Tables of the source's default
schema land in DuckDB's ``main``; other schemas keep their exact names.
"""

from __future__ import annotations

import random
import re
import typing as t
from pathlib import Path

import duckdb
import pandas as pd
import sqlalchemy as sa

from sqltune import atomic
from sqltune.errors import IntrospectionError
from sqltune.identifiers import render_identifier
from sqltune.schema import Column, Table

_BATCH = 50_000


def duckdb_type(col: Column) -> str:
    """The DuckDB type a copied column gets, from its normalised family and raw type."""
    raw = col.raw_type.upper()
    family = col.type
    if family == "integer":
        return "BIGINT"
    if family == "decimal":
        m = re.search(r"\((\d+)\s*,\s*(\d+)\)", raw)
        if m and int(m.group(1)) <= 38:
            return f"DECIMAL({m.group(1)},{m.group(2)})"
        return "DOUBLE"
    if family == "timestamp":
        return "TIMESTAMPTZ" if ("TIME ZONE" in raw and "WITHOUT" not in raw) or "TZ" in raw else "TIMESTAMP"
    return {"float": "DOUBLE", "boolean": "BOOLEAN", "date": "DATE", "time": "TIME", "interval": "INTERVAL",
            "binary": "BLOB", "uuid": "UUID"}.get(family, "VARCHAR")


def duckdb_table_name(table: Table, default_schema: str | None) -> tuple[str, str]:
    schema = "main" if table.schema in (None, default_schema) else table.schema
    return schema, table.name


def copy_to_duckdb(engine: sa.Engine, tables: t.Sequence[Table], default_schema: str | None, dest: Path, *,
                   max_rows: int = 1_000_000, seed: int = 0,
                   progress: t.Callable[[str], None] | None = None) -> dict[str, int]:
    """Copy ``tables`` (not views' definitions: their rows) into a new DuckDB file at ``dest``, atomically.

    Returns the number of rows copied per table (``"schema.table"``).
    """
    copied: dict[str, int] = {}
    with atomic.replacing(dest) as tmp:
        con = duckdb.connect(str(tmp))
        try:
            for table in tables:
                if progress:
                    progress(str(table.key))
                copied[str(table.key)] = _copy_table(engine, con, table, default_schema, max_rows, seed)
            con.execute("CHECKPOINT")
        finally:
            con.close()
    return copied


def _copy_table(engine: sa.Engine, con: duckdb.DuckDBPyConnection, table: Table, default_schema: str | None,
                max_rows: int, seed: int) -> int:
    schema, name = duckdb_table_name(table, default_schema)
    target = f"{render_identifier(schema)}.{render_identifier(name)}"
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {render_identifier(schema)}")
    cols = ", ".join(f"{render_identifier(c.name)} {duckdb_type(c)}" for c in table.columns)
    con.execute(f"CREATE TABLE {target} ({cols})")
    src = sa.table(table.name, *[sa.column(c.name) for c in table.columns],
                   schema=None if table.schema in (None, default_schema) else table.schema)
    query = sa.select(*src.columns)
    order = [src.columns[c] for c in table.primary_key] or list(src.columns)[:1]
    query = query.order_by(*order)
    names = list(table.column_names)
    try:
        with engine.connect() as conn:
            total = int(conn.execute(sa.select(sa.func.count()).select_from(src)).scalar() or 0)
            result = conn.execution_options(stream_results=True).execute(query)
            if total <= max_rows:
                while chunk := result.fetchmany(_BATCH):
                    _insert(con, target, names, [tuple(r) for r in chunk])
            else:
                rng = random.Random(f"{seed}:{table.key}")
                reservoir: list[tuple[t.Any, ...]] = []
                seen = 0
                while chunk := result.fetchmany(_BATCH):
                    for row in chunk:
                        seen += 1
                        if len(reservoir) < max_rows:
                            reservoir.append(tuple(row))
                        elif (j := rng.randrange(seen)) < max_rows:
                            reservoir[j] = tuple(row)
                for i in range(0, len(reservoir), _BATCH):
                    _insert(con, target, names, reservoir[i:i + _BATCH])
    except sa.exc.SQLAlchemyError as e:
        raise IntrospectionError(f"Cannot copy table {table.key}: {str(getattr(e, 'orig', e)).splitlines()[0]}") from None
    return int(con.execute(f"SELECT count(*) FROM {target}").fetchone()[0])


def _insert(con: duckdb.DuckDBPyConnection, target: str, names: list[str], rows: list[tuple[t.Any, ...]]) -> None:
    frame = pd.DataFrame.from_records(rows, columns=[f"c{i}" for i in range(len(names))])
    con.register("_sqltune_chunk", frame)
    try:
        con.execute(f"INSERT INTO {target} SELECT * FROM _sqltune_chunk")
    except duckdb.Error as e:
        raise IntrospectionError(f"Cannot copy rows into {target}: {str(e).splitlines()[0]}") from None
    finally:
        con.unregister("_sqltune_chunk")
