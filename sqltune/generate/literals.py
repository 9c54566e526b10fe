"""Literal values, always taken from the data: categorical domains, real examples, quantiles.

Masked columns never give a value: their pools stay empty, and :func:`literal` refuses them.

>>> literal_node("ECOM", "text").sql("duckdb"), literal_node("2024-03-01", "date").sql("duckdb")
("'ECOM'", "CAST('2024-03-01' AS DATE)")
>>> literal_node(12.5, "decimal").sql("duckdb"), literal_node(True, "boolean").sql("duckdb")
('12.5', 'TRUE')
"""

from __future__ import annotations

import datetime as dt
import decimal
import typing as t

from sqlglot import exp

from sqltune.errors import SqltuneError
from sqltune.generate.catalog import Catalog, ColumnInfo
from sqltune.identifiers import render_identifier, render_table
from sqltune.introspect.profile import json_value
from sqltune.sandbox import Sandbox

_QUANTILES = [0.05, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 0.95]


def fill_pools(cat: Catalog, box: Sandbox, size: int, timeout_s: float = 5.0) -> None:
    """Give every usable, unmasked column a pool of real values (deterministic for a database)."""
    for ti in cat.tables:
        relation = render_table(ti.table.key, "duckdb", cat.schema.default_schema)
        for ci in ti.columns:
            if not ci.usable or ci.masked or ci.role in ("masked", "none"):
                continue
            if ci.values:
                ci.pool = tuple(ci.values)
                continue
            q = render_identifier(ci.name)
            found: list[t.Any] = []
            if ci.role in ("measure", "date", "key") and ci.type != "text":
                res = box.execute(f"SELECT quantile_disc({q}, {_QUANTILES}) FROM {relation}", timeout_s=timeout_s,
                                  row_cap=1)
                if res.ok and res.rows and res.rows[0][0] is not None:
                    found += list(res.rows[0][0])
            if ci.role in ("label", "key") or len(found) < 3:
                res = box.execute(
                    f"SELECT v FROM (SELECT DISTINCT {q} AS v FROM {relation} WHERE {q} IS NOT NULL) "
                    f"ORDER BY md5(CAST(v AS VARCHAR)), CAST(v AS VARCHAR) LIMIT {int(size)}",
                    timeout_s=timeout_s, row_cap=size)
                if res.ok:
                    found += [r[0] for r in res.rows]
            prof = ci.column.profile
            found += list(prof.examples if prof else ())
            pool: list[t.Any] = []
            for v in found:
                jv = json_value(v)
                if jv is not None and jv not in pool:
                    pool.append(jv)
            ci.pool = tuple(pool)


def literal_node(value: t.Any, type_family: str) -> exp.Expression:
    """A typed literal for a JSON-style ``value`` of a column of ``type_family``."""
    if type_family == "boolean":
        return exp.true() if value in (True, "true", "TRUE", 1) else exp.false()
    if type_family in ("date", "timestamp"):
        text = value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else str(value)
        if type_family == "date":
            text = text[:10]
        return exp.cast(exp.Literal.string(text), "TIMESTAMP" if type_family == "timestamp" else "DATE")
    if type_family in ("integer", "decimal", "float") and not isinstance(value, str):
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, float) and value.is_integer() and type_family == "integer":
            value = int(value)
        text = format(decimal.Decimal(str(value)).normalize(), "f") if isinstance(value, float) else str(value)
        if text.startswith("-"):
            return exp.Neg(this=exp.Literal.number(text[1:]))
        return exp.Literal.number(text)
    return exp.Literal.string(str(value))


def literal(ci: ColumnInfo, value: t.Any) -> exp.Expression:
    """A literal for a value of column ``ci``; a masked column raises (its values never leave the data)."""
    if ci.masked or ci.role == "masked":
        raise SqltuneError(f"No literal may come from masked column {ci.ref}.")
    return literal_node(value, ci.type)


def shown(value: t.Any, type_family: str) -> str:
    """A value as a question writes it: text quoted, numbers and dates bare."""
    if type_family == "text":
        return f"'{value}'"
    if type_family in ("date", "timestamp"):
        return str(value)[:10] if type_family == "date" else str(value)
    if isinstance(value, float):
        return format(decimal.Decimal(str(value)).normalize(), "f")
    return str(value)


def as_date(value: t.Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None
