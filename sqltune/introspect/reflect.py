"""Reading a database's structure: tables, columns, types, keys and comments.

Two readers with one output: DuckDB files are read natively from DuckDB's catalogue (exact and
fast); every other SQLAlchemy URL goes through SQLAlchemy's inspector. Neither folds case: where a
SQLAlchemy dialect normalises names (Oracle, Snowflake), names are denormalised back to how the
database stores them.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb
import sqlalchemy as sa

from sqltune.errors import IntrospectionError
from sqltune.identifiers import normalize_type
from sqltune.schema import Column, Join, Table, TableKey

_SYSTEM_SCHEMAS = {"information_schema", "pg_catalog", "pg_toast", "sys", "mysql", "performance_schema"}


@dataclass(frozen=True)
class Structure:
    """What reflection finds, before profiling: tables without profiles and declared keys."""

    dialect: str
    default_schema: str | None
    tables: tuple[Table, ...]
    joins: tuple[Join, ...]


def _wanted(schema: str | None, include: t.Collection[str] | None) -> bool:
    if schema and (schema in _SYSTEM_SCHEMAS or schema.startswith("pg_temp") or schema.startswith("pg_toast")):
        return False
    return include is None or schema in include


# ------------------------------------------------------------------ DuckDB
def reflect_duckdb(path: Path, include_schemas: t.Collection[str] | None = None) -> Structure:
    """Read a DuckDB file's catalogue through a read-only connection."""
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as e:
        raise IntrospectionError(f"Cannot open DuckDB file {path}: {str(e).splitlines()[0]}") from None
    try:
        db = con.execute("SELECT current_database()").fetchone()[0]
        rows = con.execute(
            "SELECT schema_name, table_name, comment, 'table' FROM duckdb_tables() "
            "WHERE database_name = ? AND NOT internal AND NOT temporary "
            "UNION ALL SELECT schema_name, view_name, comment, 'view' FROM duckdb_views() "
            "WHERE database_name = ? AND NOT internal AND NOT temporary ORDER BY 1, 2",
            [db, db],
        ).fetchall()
        cols = con.execute(
            "SELECT schema_name, table_name, column_name, data_type, is_nullable, column_default, comment "
            "FROM duckdb_columns() WHERE database_name = ? AND NOT internal ORDER BY schema_name, table_name, "
            "column_index",
            [db],
        ).fetchall()
        cons = con.execute(
            "SELECT schema_name, table_name, constraint_type, constraint_column_names, referenced_table, "
            "referenced_column_names FROM duckdb_constraints() WHERE database_name = ? "
            "AND constraint_type IN ('PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY') ORDER BY 1, 2, constraint_index",
            [db],
        ).fetchall()
    finally:
        con.close()
    by_table: dict[tuple[str, str], list[Column]] = {}
    for schema, table, name, dtype, nullable, default, comment in cols:
        by_table.setdefault((schema, table), []).append(
            Column(name=name, raw_type=dtype, type=normalize_type(dtype), nullable=bool(nullable),
                   default=None if default is None else str(default), comment=comment or None)
        )
    pks: dict[tuple[str, str], tuple[str, ...]] = {}
    uniques: dict[tuple[str, str], set[str]] = {}
    joins: list[Join] = []
    for schema, table, ctype, columns, ref_table, ref_columns in cons:
        if ctype == "PRIMARY KEY":
            pks[(schema, table)] = tuple(columns)
        elif ctype == "UNIQUE":
            if len(columns) == 1:
                uniques.setdefault((schema, table), set()).add(columns[0])
        elif ref_table:
            joins.append(Join(TableKey(schema, table), tuple(columns), TableKey(schema, ref_table),
                              tuple(ref_columns), source="declared", confidence=1.0, evidence="foreign key"))
    tables = []
    for schema, name, comment, kind in rows:
        if not _wanted(schema, include_schemas):
            continue
        tables.append(_table(schema, name, kind, comment, by_table.get((schema, name), []),
                             pks.get((schema, name), ()), uniques.get((schema, name), set())))
    keys = {tb.key for tb in tables}
    joins = [j for j in joins if j.from_table in keys and j.to_table in keys]
    return Structure("duckdb", "main", tuple(tables), tuple(joins))


def _table(schema: str | None, name: str, kind: str, comment: str | None, columns: list[Column],
           pk: tuple[str, ...], unique: set[str]) -> Table:
    cols = tuple(
        replace(c, primary_key=c.name in pk, unique=(c.name in unique) or (len(pk) == 1 and c.name in pk))
        for c in columns
    )
    return Table(schema=schema, name=name, columns=cols, kind=kind, comment=comment or None, primary_key=pk)


# -------------------------------------------------------------- SQLAlchemy
def reflect_sqlalchemy(engine: sa.Engine, include_schemas: t.Collection[str] | None = None) -> Structure:
    """Read any SQLAlchemy database's structure through its inspector."""
    try:
        insp = sa.inspect(engine)
        dialect = engine.dialect
        default = _exact(dialect, insp.default_schema_name)
        schemas = [_exact(dialect, s) for s in insp.get_schema_names()]
        tables: list[Table] = []
        joins: list[Join] = []
        for schema in schemas:
            if not _wanted(schema, include_schemas):
                continue
            arg = None if schema == default else schema
            names = [(n, "table") for n in insp.get_table_names(schema=arg)]
            names += [(n, "view") for n in insp.get_view_names(schema=arg)]
            for raw_name, kind in sorted(names):
                table, fks = _reflect_table(insp, dialect, schema, arg, raw_name, kind)
                tables.append(table)
                joins.extend(fks)
    except sa.exc.SQLAlchemyError as e:
        raise IntrospectionError(f"Cannot read the schema of {engine.url.render_as_string()}: "
                                 f"{str(getattr(e, 'orig', e)).splitlines()[0]}") from None
    keys = {tb.key for tb in tables}
    joins = [j for j in joins if j.from_table in keys and j.to_table in keys]
    return Structure(dialect.name, default, tuple(tables), tuple(joins))


def _exact(dialect: sa.Dialect, name: str | None) -> str | None:
    if name is None:
        return None
    if getattr(dialect, "requires_name_normalize", False):
        return str(dialect.denormalize_name(name))
    return str(name)


def _type_text(col_type: t.Any, dialect: sa.Dialect) -> str:
    try:
        return str(col_type.compile(dialect=dialect))
    except Exception:  # NullType and exotic types cannot always compile
        return str(col_type) if not isinstance(col_type, sa.types.NullType) else "UNKNOWN"


def _reflect_table(insp: t.Any, dialect: sa.Dialect, schema: str | None, arg: str | None, raw_name: str,
                   kind: str) -> tuple[Table, list[Join]]:
    name = _exact(dialect, raw_name)
    assert name is not None
    columns = []
    for c in insp.get_columns(raw_name, schema=arg):
        raw_type = _type_text(c["type"], dialect)
        columns.append(Column(name=_exact(dialect, c["name"]) or "", raw_type=raw_type, type=normalize_type(raw_type),
                              nullable=bool(c.get("nullable", True)),
                              default=None if c.get("default") is None else str(c.get("default")),
                              comment=c.get("comment") or None))
    pk: tuple[str, ...] = ()
    uniques: set[str] = set()
    fks: list[Join] = []
    comment = None
    if kind == "table":
        pk = tuple(_exact(dialect, n) or "" for n in insp.get_pk_constraint(raw_name, schema=arg).get(
            "constrained_columns") or ())
        try:
            for u in insp.get_unique_constraints(raw_name, schema=arg):
                if len(u["column_names"]) == 1:
                    uniques.add(_exact(dialect, u["column_names"][0]) or "")
        except NotImplementedError:
            pass
        for fk in insp.get_foreign_keys(raw_name, schema=arg):
            ref_schema = _exact(dialect, fk.get("referred_schema")) or schema
            fks.append(Join(TableKey(schema, name), tuple(_exact(dialect, c) or "" for c in fk["constrained_columns"]),
                            TableKey(ref_schema, _exact(dialect, fk["referred_table"]) or ""),
                            tuple(_exact(dialect, c) or "" for c in fk["referred_columns"]),
                            source="declared", confidence=1.0, evidence="foreign key"))
    try:
        comment = insp.get_table_comment(raw_name, schema=arg).get("text")
    except NotImplementedError:
        comment = None
    return _table(schema, name, kind, comment, columns, pk, uniques), fks
