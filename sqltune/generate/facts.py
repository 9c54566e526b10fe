"""Schema facts: short ``{id, prompt, target}`` items that state the schema itself.

Which table holds a concept, the columns of a table, how two tables join, the codes a column
takes and what they mean, the glossary, and the SQL of each dictionary metric. Identifiers in targets are written exactly as SQL
must write them. Masked columns are named but their values never appear.

>>> from sqltune.schema import Column, ColumnProfile, Schema, Table
>>> from sqltune.generate.catalog import Catalog
>>> col = Column("CHNL_CD", "VARCHAR", "text", description="Trade channel: 'ECOM' online, 'DTC' direct.",
...              profile=ColumnProfile(distinct_count=2, values=("DTC", "ECOM")))
>>> fs = facts(Catalog.build(Schema("s", "duckdb", (Table("sales", "OrderHeader", (col,), row_count=2),))))
>>> [f.kind for f in fs]
['table_columns', 'table_of_concept', 'column_of_concept', 'column_meaning', 'codes', 'code_meaning', 'code_meaning']
>>> print(fs[4].target)
'DTC' (direct), 'ECOM' (online)
"""

from __future__ import annotations

import hashlib

from sqltune.generate import vocab
from sqltune.generate.catalog import Catalog, ColumnInfo, TableInfo
from sqltune.generate.literals import shown
from sqltune.generate.records import Fact
from sqltune.identifiers import render_identifier, render_table


def _fact(kind: str, prompt: str, target: str) -> Fact:
    digest = hashlib.sha256(f"{kind}|{prompt}".encode()).hexdigest()[:12]
    return Fact(f"f-{digest}", kind, prompt, target)


def _table(cat: Catalog, ti: TableInfo) -> str:
    return render_table(ti.table.key, "duckdb", cat.schema.default_schema)


def facts(cat: Catalog) -> tuple[Fact, ...]:
    """Every fact of the catalog, in schema order."""
    out: list[Fact] = []
    for ti in cat.tables:
        out += _table_facts(cat, ti)
        for ci in ti.columns:
            out += _column_facts(cat, ti, ci)
    for e in cat.edges:
        src, dst = _table(cat, e.src), _table(cat, e.dst)
        on = " AND ".join(f"{src}.{render_identifier(a.name)} = {dst}.{render_identifier(b.name)}"
                          for a, b in zip(e.src_cols, e.dst_cols))
        out.append(_fact("join", f"How does {src} join {dst}?", on))
    for g in cat.schema.glossary:
        out.append(_fact("glossary", f"In this database, what does '{g.term}' mean?", g.means))
    for m in cat.schema.metrics:
        for name in m.names:
            out.append(_fact("metric", f"Which SQL computes {name}?", m.sql))
    seen: set[str] = set()
    unique = []
    for f in out:
        if f.id not in seen:
            seen.add(f.id)
            unique.append(f)
    return tuple(unique)


def _table_facts(cat: Catalog, ti: TableInfo) -> list[Fact]:
    name = _table(cat, ti)
    cols = ", ".join(f"{render_identifier(c.name)} {c.column.raw_type}" for c in ti.columns)
    out = [_fact("table_columns", f"What are the columns of {name}?", f"{name}({cols})")]
    concept = ti.table.doc or ti.nouns
    out.append(_fact("table_of_concept", f"Which table holds {_lower(concept)}", name))
    if ti.names.business != ti.names.plain:
        out.append(_fact("table_of_concept", f"Which table holds the {vocab.plural(ti.names.business)}?", name))
    return out


def _column_facts(cat: Catalog, ti: TableInfo, ci: ColumnInfo) -> list[Fact]:
    table = _table(cat, ti)
    col = render_identifier(ci.name)
    out = [_fact("column_of_concept", f"Which column of {table} holds the {ci.names.described}?", col)]
    doc = ci.column.doc or ci.names.plain
    out.append(_fact("column_meaning", f"What does {table}.{col} hold?", f"{doc} ({ci.column.raw_type})"))
    if ci.values and not ci.masked:
        ordered = sorted(ci.values, key=lambda v: (0, v, "") if isinstance(v, (int, float)) else (1, 0, str(v)))
        listed = ", ".join(_code(ci, v) for v in ordered)
        out.append(_fact("codes", f"Which values does {table}.{col} take?", listed))
        for v in ci.values:
            meaning = ci.meanings.get(str(v))
            if meaning:
                out.append(_fact("code_meaning", f"What does {col} = {shown(v, ci.type)} mean in {table}?", meaning))
    return out


def _code(ci: ColumnInfo, v: object) -> str:
    meaning = ci.meanings.get(str(v))
    return f"{shown(v, ci.type)} ({meaning})" if meaning else shown(v, ci.type)


def _lower(text: str) -> str:
    text = text.strip().rstrip(".")
    first = text.split(" ")[0]
    text = text if first.isupper() else text[:1].lower() + text[1:]
    return text + "?"
