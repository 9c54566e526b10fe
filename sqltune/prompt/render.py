"""Rendering a schema as compact, exact DDL-like text for a prompt.

Identifiers are written exactly as they must appear in SQL (quoted where needed), so a model
that copies them copies them right. Each column line carries what a model needs to use it:
type, key, where it joins, a short description and, for code columns, every value.

>>> from sqltune.schema import Schema, Table, Column, ColumnProfile, Join, TableKey
>>> cols = (Column("OrderId", "INTEGER", "integer", primary_key=True),
...         Column("CHNL_CD", "VARCHAR", "text", comment="Sales channel",
...                profile=ColumnProfile(values=("DTC", "ECOM"))))
>>> s = Schema("shop", "duckdb", (Table("sales", "OrderHeader", cols, comment="Orders", row_count=3),),
...            default_schema="main")
>>> print(render_table_text(s, s.tables[0]))
-- Orders (3 rows)
CREATE TABLE sales."OrderHeader" (
  "OrderId" INTEGER PRIMARY KEY,
  "CHNL_CD" VARCHAR -- Sales channel; values: 'DTC', 'ECOM'
);
"""

from __future__ import annotations

import typing as t

from sqltune.identifiers import render_identifier, render_table
from sqltune.schema import Column, Join, Schema, Table

MAX_VALUES = 30
MAX_DOC = 90


def render_table_text(schema: Schema, table: Table, columns: t.Collection[str] | None = None,
                      joins: t.Sequence[Join] = (), *, docs: bool = True, values: bool = True,
                      max_values: int = MAX_VALUES) -> str:
    """One table as ``CREATE TABLE`` text; ``columns`` limits which columns are shown, ``docs=False``
    leaves out descriptions and ``max_values`` caps each code list."""
    name = render_table(table.key, "duckdb", schema.default_schema)
    head = []
    if docs and table.doc:
        head.append(_short(table.doc))
    if table.row_count is not None:
        head.append(f"({table.row_count:,} rows)")
    lines = [f"-- {' '.join(head)}"] if head else []
    lines.append(f"CREATE TABLE {name} (")
    refs = {j.from_columns[0]: j for j in joins if j.from_table == table.key and len(j.from_columns) == 1}
    shown = [c for c in table.columns if columns is None or c.name in columns or c.primary_key]
    body = [_column_line(schema, c, refs.get(c.name), docs=docs, values=values, max_values=max_values)
            for c in shown]
    for i, line in enumerate(body):
        code, _, comment = line.partition(" -- ")
        sep = "," if i < len(body) - 1 else ""
        lines.append(f"  {code}{sep}" + (f" -- {comment}" if comment else ""))
    lines.append(");")
    return "\n".join(lines)


def _column_line(schema: Schema, col: Column, ref: Join | None, *, docs: bool, values: bool,
                 max_values: int = MAX_VALUES) -> str:
    parts = [render_identifier(col.name), col.raw_type]
    if col.primary_key:
        parts.append("PRIMARY KEY")
    notes = []
    if ref is not None:
        target = render_table(ref.to_table, "duckdb", schema.default_schema)
        notes.append(f"joins {target}.{render_identifier(ref.to_columns[0])}")
    if docs and col.doc:
        notes.append(_short(col.doc))
    prof = col.profile
    if values and prof is not None and prof.values is not None and not col.masked:
        vals = prof.values[:max_values]
        more = "" if len(prof.values) <= max_values else f", … ({len(prof.values)} in all)"
        notes.append("values: " + ", ".join(_literal(v) for v in vals) + more)
    code = " ".join(parts)
    return f"{code} -- {'; '.join(notes)}" if notes else code


def _literal(v: t.Any) -> str:
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    return str(v)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_DOC else text[: MAX_DOC - 1] + "…"
