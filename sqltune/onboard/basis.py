"""What generated pairs depend on, table by table: structure, values, docs, joins and data.

Each table gets a :class:`TableSignature` of short hashes; two snapshots are compared table by
table (:func:`changed_tables`), so a re-onboarding knows which tables' pairs are stale and why.
The data hash of a table is computed in DuckDB over every row (``count(*)`` and the sum of the
row hashes; order-independent), so edited rows are seen even when no categorical domain moves.

>>> from sqltune.schema import Schema, Table, Column, ColumnProfile
>>> a = Schema("s", "duckdb", (Table("main", "t", (Column("x", "INTEGER", "integer"),)),
...                           Table("main", "u", (Column("c", "VARCHAR", "text",
...                                 profile=ColumnProfile(values=("A", "B"))),))))
>>> b = Schema("s", "duckdb", (Table("main", "t", (Column("x", "BIGINT", "integer"),)),
...                           Table("main", "u", (Column("c", "VARCHAR", "text",
...                                 profile=ColumnProfile(values=("A", "B", "C"))),))))
>>> old, new = signatures(a, data=False), signatures(b, data=False)
>>> changed_tables(old, new)
{'main.t': ('structure',), 'main.u': ('values',)}
>>> changed_tables(new, new)
{}
"""

from __future__ import annotations

import hashlib
import json
import typing as t
from dataclasses import asdict, dataclass

from sqltune.identifiers import render_table
from sqltune.schema import Schema, Table

__all__ = ["TableSignature", "changed_tables", "combined", "signatures"]

#: The parts of a signature, in the order reasons are reported.
PARTS: t.Final = ("structure", "values", "joins", "docs", "data")


@dataclass(frozen=True)
class TableSignature:
    """Short hashes of what pairs over one table depend on (``data`` is ``""`` when not computed)."""

    structure: str
    values: str
    joins: str
    docs: str
    data: str = ""
    rows: int | None = None

    def to_dict(self) -> dict[str, t.Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: t.Mapping[str, t.Any]) -> TableSignature:
        return cls(**{k: d.get(k, "" if k != "rows" else None) for k in ("structure", "values", "joins", "docs",
                                                                        "data", "rows")})


def _sha(obj: t.Any) -> str:
    blob = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def signatures(schema: Schema, *, data: bool = True, timeout_s: float = 120.0,
               progress: t.Callable[[str], None] | None = None) -> dict[str, TableSignature]:
    """One :class:`TableSignature` per table, keyed ``schema.table`` (the keys pairs record).

    With ``data``, every table of ``schema.execution_db`` is hashed in the sandbox; a table that
    cannot be hashed in ``timeout_s`` gets ``rows:<row_count>`` as its data hash instead.
    """
    from sqltune.introspect.metrics import metric_tables

    uses: dict[str, list[t.Any]] = {}  # the dictionary metrics over each table are part of its docs
    for m in schema.metrics:
        for _, tb in metric_tables(schema, m):
            uses.setdefault(str(tb.key), []).append(asdict(m))
    out: dict[str, TableSignature] = {}
    for tb in schema.tables:
        key = str(tb.key)
        joins = sorted([str(j), j.source] for j in schema.joins if key in (str(j.from_table), str(j.to_table)))
        docs = _docs(tb) + ([uses[key]] if key in uses else [])
        digest, rows = "", tb.row_count
        if data and schema.execution_db:
            if progress is not None:
                progress(f"hash {key}")
            digest, rows = _data_hash(schema, tb, timeout_s)
        out[key] = TableSignature(_sha(_structure(tb)), _sha(_values(tb)), _sha(joins), _sha(docs), digest, rows)
    return out


def combined(sigs: t.Mapping[str, TableSignature], part: str = "data") -> str:
    """One hash over every table's ``part`` (the project's data hash for ``"data"``)."""
    return _sha(sorted((k, getattr(s, part)) for k, s in sigs.items()))


def changed_tables(old: t.Mapping[str, TableSignature],
                   new: t.Mapping[str, TableSignature]) -> dict[str, tuple[str, ...]]:
    """Tables added, removed or changed from ``old`` to ``new``, each with its reasons.

    A data hash missing on either side (``""``) is not compared.
    """
    out: dict[str, tuple[str, ...]] = {}
    for key in sorted(set(old) | set(new)):
        if key not in old:
            out[key] = ("added",)
        elif key not in new:
            out[key] = ("removed",)
        else:
            a, b = old[key], new[key]
            why = tuple(p for p in PARTS if getattr(a, p) != getattr(b, p)
                        and not (p == "data" and not (a.data and b.data)))
            if why:
                out[key] = why
    return out


def _structure(tb: Table) -> list[t.Any]:
    cols = [[c.name, c.raw_type, c.type, c.nullable, c.primary_key, c.unique, c.masked] for c in tb.columns]
    return [tb.kind, list(tb.primary_key), cols]


def _values(tb: Table) -> list[t.Any]:
    return [[c.name, sorted(map(str, c.profile.values))] for c in tb.columns
            if c.profile is not None and c.profile.values is not None]


def _docs(tb: Table) -> list[t.Any]:
    return [tb.doc, sorted([c.name, c.doc] for c in tb.columns if c.doc)]


def _data_hash(schema: Schema, tb: Table, timeout_s: float) -> tuple[str, int | None]:
    from sqltune import sandbox

    relation = render_table(tb.key, "duckdb", default_schema=schema.default_schema)
    sql = f"SELECT count(*), sum(hash(__row)) FROM {relation} AS __row"
    res = sandbox.execute(str(schema.execution_db), sql, timeout_s=timeout_s, row_cap=1)
    if not res.ok or not res.rows:
        return f"rows:{tb.row_count}", tb.row_count
    count, total = res.rows[0]
    return _sha([int(count), str(total)]), int(count)
