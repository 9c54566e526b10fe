"""The schema as the grammar sees it: column roles, names per style, usable joins, glossary terms.

>>> from sqltune.schema import Column, ColumnProfile, Schema, Table
>>> cols = (Column("OrderId", "INTEGER", "integer", primary_key=True),
...         Column("CHNL_CD", "VARCHAR", "text", description="Trade channel: 'ECOM' online, 'DTC' direct.",
...                profile=ColumnProfile(distinct_count=2, values=("DTC", "ECOM"))))
>>> cat = Catalog.build(Schema("shop", "duckdb", (Table("sales", "OrderHeader", cols, row_count=9),)))
>>> ci = cat.column("sales.OrderHeader.CHNL_CD")
>>> ci.role, ci.names.plain, ci.names.described, ci.meanings["ECOM"]
('category', 'channel code', 'trade channel', 'online')
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

from sqltune.generate import vocab
from sqltune.schema import Column, Join, Schema, Table

#: Closed list of reasons an item cannot be used by any production.
UNREACHABLE_REASONS = ("masked", "all_null", "binary_type", "unsupported_type", "empty_table", "low_confidence")
_UNSUPPORTED = {"json": "unsupported_type", "struct": "unsupported_type", "array": "unsupported_type",
                "interval": "unsupported_type", "other": "unsupported_type", "binary": "binary_type"}
_GENERIC = {"name", "code", "status", "type", "city", "title", "tier", "region", "grade", "phase", "flag",
            "level", "series", "units", "country", "readout", "organism", "qualifier", "indication", "blinding",
            "jurisdiction", "causality", "operator", "chemist", "quantity", "description"}


@dataclass(frozen=True)
class Names:
    """How one table or column is named in each voice."""

    plain: str
    described: str
    business: str
    raw: str


@dataclass(eq=False)
class ColumnInfo:
    table: TableInfo = field(repr=False)
    column: Column
    ref: str
    role: str  # key | category | measure | date | label | flag | masked | none
    names: Names
    unreachable: str | None = None
    is_key: bool = False
    is_year: bool = False
    values: tuple[t.Any, ...] = ()
    meanings: dict[str, str] = field(default_factory=dict)
    pool: tuple[t.Any, ...] = ()
    null_fraction: float = 0.0
    distinct: int = 0

    @property
    def name(self) -> str:
        return self.column.name

    @property
    def type(self) -> str:
        return self.column.type

    @property
    def masked(self) -> bool:
        return self.column.masked

    @property
    def usable(self) -> bool:
        return self.unreachable is None

    @property
    def summable(self) -> bool:
        return self.role == "measure" and not self.is_year


@dataclass(eq=False)
class TableInfo:
    table: Table
    key: str
    names: Names
    noun: str
    nouns: str
    columns: list[ColumnInfo] = field(default_factory=list)
    rows: int = 0
    display: ColumnInfo | None = None
    pk: ColumnInfo | None = None

    def cols(self, *roles: str) -> list[ColumnInfo]:
        return [c for c in self.columns if c.usable and (not roles or c.role in roles)]


@dataclass(frozen=True, eq=False)
class Edge:
    """A usable join, oriented many → one (``src.fk = dst.key``)."""

    join: Join
    src: TableInfo
    dst: TableInfo
    src_cols: tuple[ColumnInfo, ...]
    dst_cols: tuple[ColumnInfo, ...]

    @property
    def label(self) -> str:
        return str(self.join)


@dataclass(frozen=True)
class GlossaryCondition:
    term: str
    column: str  # column ref
    op: str
    values: tuple[t.Any, ...]


@dataclass
class Catalog:
    schema: Schema
    tables: list[TableInfo]
    edges: list[Edge]
    conditions: list[GlossaryCondition]
    skipped_joins: list[tuple[str, str]] = field(default_factory=list)
    _tables: dict[str, TableInfo] = field(default_factory=dict)
    _columns: dict[str, ColumnInfo] = field(default_factory=dict)

    def table(self, key: str) -> TableInfo:
        return self._tables[key]

    def column(self, ref: str) -> ColumnInfo:
        return self._columns[ref]

    @property
    def columns(self) -> list[ColumnInfo]:
        return [c for tb in self.tables for c in tb.columns]

    def out_edges(self, tb: TableInfo) -> list[Edge]:
        return [e for e in self.edges if e.src is tb]

    def in_edges(self, tb: TableInfo) -> list[Edge]:
        return [e for e in self.edges if e.dst is tb]

    def terms_for(self, ci: ColumnInfo) -> list[GlossaryCondition]:
        return [g for g in self.conditions if g.column == ci.ref]

    @classmethod
    def build(cls, schema: Schema, *, min_join_confidence: float = 0.8, masked_usage: str = "aggregate_only"
              ) -> Catalog:
        """Classify every table and column of ``schema``; glossary terms and joins are resolved by name."""
        table_terms, column_terms, raw_conditions = _glossary(schema)
        tables: list[TableInfo] = []
        for tb in sorted(schema.tables, key=lambda x: str(x.key)):
            tables.append(_table_info(tb, table_terms.get(str(tb.key)), column_terms, masked_usage))
        cat = cls(schema, tables, [], [])
        cat._tables = {ti.key: ti for ti in tables}
        cat._columns = {c.ref: c for ti in tables for c in ti.columns}
        for j in sorted(schema.joins, key=str):
            edge = _edge(cat, j)
            if edge is None:
                continue
            if j.source != "declared" and j.confidence < min_join_confidence:
                cat.skipped_joins.append((str(j), "low_confidence"))
                continue
            cat.edges.append(edge)
        cat.conditions = _resolve_conditions(cat, raw_conditions)
        return cat


def _table_info(tb: Table, term: str | None, column_terms: dict[str, str], masked_usage: str) -> TableInfo:
    key = str(tb.key)
    noun = vocab.humanize(tb.name, tb.doc, table=True)
    described = vocab.description_head(tb.doc) or vocab.plural(noun)
    names = Names(plain=noun, described=described, business=term or noun, raw=key)
    ti = TableInfo(tb, key, names, noun, vocab.plural(noun), rows=tb.row_count or 0)
    for col in tb.columns:
        ti.columns.append(_column_info(ti, col, column_terms.get(f"{key}.{col.name}"), masked_usage))
    pk = [c for c in ti.columns if c.column.primary_key]
    ti.pk = pk[0] if len(pk) == 1 else None
    labels = [c for c in ti.columns if c.usable and c.type == "text" and not c.masked
              and any(w in c.name.lower() for w in ("name", "desc", "title"))]
    ti.display = labels[0] if labels else ti.pk
    return ti


def _column_info(ti: TableInfo, col: Column, term: str | None, masked_usage: str) -> ColumnInfo:
    prof = col.profile
    plain = vocab.humanize(col.name, col.doc)
    if plain.lower() in _GENERIC:
        plain = f"{ti.noun} {plain}"
    described = vocab.description_head(col.doc) or plain
    names = Names(plain=plain, described=described, business=term or described, raw=col.name)
    ci = ColumnInfo(ti, col, f"{ti.key}.{col.name}", "none", names)
    ci.null_fraction = float(prof.null_fraction or 0.0) if prof else 0.0
    ci.distinct = int(prof.distinct_count or 0) if prof else 0
    low = col.name.lower()
    idlike = low.endswith(("id", "_key", "nbr", "_no", "_num", "_cd", "code")) or low in ("id", "key")
    ci.is_key = col.primary_key or (col.unique and idlike)
    if prof is not None and prof.values is not None and not col.masked:
        ci.values = tuple(prof.values)
        ci.pool = ci.values
        ci.meanings = vocab.code_meanings(col.doc, ci.values)
    if ti.rows == 0:
        ci.unreachable = "empty_table"
    elif col.type in _UNSUPPORTED:
        ci.unreachable = _UNSUPPORTED[col.type]
    elif prof is not None and (ci.null_fraction >= 1.0 or (prof.distinct_count == 0 and prof.sampled_rows)):
        ci.unreachable = "all_null"
    elif col.masked:
        ci.role = "masked"
        if masked_usage == "never":
            ci.unreachable = "masked"
    elif ci.values:
        ci.role = "category"
    elif col.type == "boolean":
        ci.role = "flag"
    elif col.type in ("date", "timestamp"):
        ci.role = "date"
    elif col.type in ("integer", "decimal", "float"):
        ci.is_year = low.endswith(("yr", "year")) and _in_range(prof, 1800, 2200)
        ci.role = "key" if (ci.is_key or idlike) and not ci.is_year else "measure"
    else:
        ci.role = "label"
    return ci


def _in_range(prof: t.Any, lo: float, hi: float) -> bool:
    try:
        return prof is not None and lo <= float(prof.min) and float(prof.max) <= hi
    except (TypeError, ValueError):
        return False


def _edge(cat: Catalog, j: Join) -> Edge | None:
    try:
        src, dst = cat.table(str(j.from_table)), cat.table(str(j.to_table))
        src_cols = tuple(cat.column(f"{src.key}.{c}") for c in j.from_columns)
        dst_cols = tuple(cat.column(f"{dst.key}.{c}") for c in j.to_columns)
    except KeyError:
        return None
    if any(c.masked or c.unreachable for c in src_cols + dst_cols):
        return None
    for c in src_cols + dst_cols:
        c.is_key = True
        if c.role == "measure":
            c.role = "key"
    return Edge(j, src, dst, src_cols, dst_cols)


def _glossary(schema: Schema) -> tuple[dict[str, str], dict[str, str], list[tuple[str, str, str, tuple, str]]]:
    tables = {str(tb.key): tb for tb in schema.tables}
    by_name: dict[str, list[str]] = {}
    for tb in schema.tables:
        by_name.setdefault(tb.name, []).append(str(tb.key))
    table_terms: dict[str, str] = {}
    column_terms: dict[str, str] = {}
    conditions = []
    for g in schema.glossary:
        kind, what = vocab.parse_glossary_means(g.means)
        if kind == "condition":
            ref, op, values = what
            conditions.append((g.term, ref, op, values, g.means))
        elif kind == "ref":
            parts = what.split(".")
            if what in tables:
                table_terms.setdefault(what, g.term)
            elif len(parts) == 2 and parts[0] in by_name and len(by_name[parts[0]]) == 1:
                column_terms.setdefault(f"{by_name[parts[0]][0]}.{parts[1]}", g.term)
            elif len(parts) == 3 and ".".join(parts[:2]) in tables:
                column_terms.setdefault(what, g.term)
    return table_terms, column_terms, conditions


def _resolve_conditions(cat: Catalog, raw: list[tuple[str, str, str, tuple, str]]) -> list[GlossaryCondition]:
    out = []
    for term, ref, op, values, means in raw:
        parts = ref.split(".")
        column = parts[-1]
        candidates = [c for c in cat.columns if c.name == column]
        if len(parts) >= 2:
            table = ".".join(parts[:-1])
            candidates = [c for c in candidates if c.table.key == table or c.table.table.name == table]
        mentioned = [c for c in candidates if c.table.key in means]
        candidates = mentioned or candidates
        for ci in candidates:
            if not ci.usable or ci.masked or ci.role == "masked":
                continue
            if ci.role == "category" and not all(_in_domain(v, ci.values) for v in values):
                continue
            if ci.role not in ("category", "measure", "label") or (op not in ("=", "IN") and ci.role != "measure"):
                continue
            out.append(GlossaryCondition(term, ci.ref, op, tuple(values)))
    return out


def _in_domain(v: t.Any, domain: tuple[t.Any, ...]) -> bool:
    return v in domain or str(v) in {str(x) for x in domain}
