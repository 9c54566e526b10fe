"""Metric productions: the data dictionary's business metrics (``revenue``, ``net sales`` …) in a
year, by a dimension, its top values, per month, and two years side by side.

Each query is the metric's own SQL as the data team defined it (its joins, lookups such as a
monthly FX rate, and its filters), with a dimension's joins (up to two key hops from any of the
metric's tables) and the question's filters added, so the model learns the definition by heart.
A schema without metrics gets none of these.

>>> sorted(p.name for p in REGISTRY if p.name.startswith("metric_"))
['metric_group', 'metric_month', 'metric_pivot', 'metric_top', 'metric_total']
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from sqltune.generate.build import Draft, ent
from sqltune.generate.catalog import ColumnInfo, Edge, TableInfo
from sqltune.generate.grammar.common import REGISTRY, Built, ordered, production, ref, slug, where
from sqltune.generate.grammar.hard import _dated, _in_year, _two_years
from sqltune.generate.grammar.medium import group_col
from sqltune.generate.meaning import Cond, Meaning
from sqltune.introspect.metrics import metric_columns, metric_tables
from sqltune.schema import Metric

__all__ = ["REGISTRY"]


@dataclass
class _Base:
    """A metric's query under construction: the tree, its tables by alias, and the date column."""

    metric: Metric
    query: exp.Select
    value: exp.Expression  # the metric's aggregate, named by the metric
    tables: list[tuple[str, TableInfo]]
    time: tuple[ColumnInfo, str] | None

    @property
    def subject(self) -> TableInfo:
        return self.tables[0][1]


def _base(d: Draft, dated: bool = False) -> _Base | None:
    metrics = [m for m in d.cat.schema.metrics if m.time or not dated]
    m = d.pick(metrics)
    if m is None:
        return None
    try:
        tables = [(alias, d.cat.table(str(tb.key))) for alias, tb in metric_tables(d.cat.schema, m)]
    except KeyError:
        return None
    d.adopt(tables)
    for key, names in metric_columns(d.cat.schema, m).items():
        for name in sorted(names):
            if f"{key}.{name}" not in d.columns:
                d.columns.append(f"{key}.{name}")
    q = sqlglot.parse_one(m.sql, read="duckdb")
    assert isinstance(q, exp.Select)
    value = d.name(q.expressions[0].copy(), slug(m.name))
    time = None
    if m.time:
        node = sqlglot.parse_one(m.time, read="duckdb")
        owner = dict(tables).get(node.table) if isinstance(node, exp.Column) else None
        ci = next((c for c in owner.columns if c.name == node.name), None) if owner else None
        time = (ci, node.table) if ci is not None else None
    if dated and time is None:
        return None
    return _Base(m, q, value, tables, time)


def _dimension(d: Draft, b: _Base, named: bool = False) -> tuple[ColumnInfo, str, list[tuple[Edge, str, str]]] | None:
    """A column to break the metric down by: on one of its tables or up to two key hops away; with
    ``named``, a table's display name (for top lists). Returns the column, its alias and the hops."""
    own = [ti for _, ti in b.tables]
    options: list[tuple[TableInfo, str | None, list[tuple[Edge, str]]]] = [(ti, a, []) for a, ti in b.tables]
    for a, ti in b.tables:
        for e1 in d.cat.out_edges(ti):
            if e1.dst in own or e1.dst is ti:
                continue
            options.append((e1.dst, None, [(e1, a)]))
            if any(c.null_fraction > 0 for c in e1.src_cols):
                continue  # through an optional key (a line's promotion) the second hop's meaning drifts
            for e2 in d.cat.out_edges(e1.dst):
                if e2.dst not in own and e2.dst is not e1.dst and e2.dst is not ti:
                    options.append((e2.dst, None, [(e1, a), (e2, "")]))
    weights = [1.0 / (1 + len(hops)) for _, _, hops in options]  # nearer dimensions first
    order = sorted(range(len(options)), key=lambda i: d.rng.random() ** (1 / weights[i]), reverse=True)
    for ti, alias, hops in (options[i] for i in order[:8]):
        if named:
            col = ti.display if ti.display is not None and ti.display.role == "label" and ti.rows > 3 else None
        else:
            exclude = [b.time[0]] if b.time else []
            col = group_col(d, ti, exclude=exclude, limit=30, pred=lambda c: c.role != "date")
        if col is None:
            continue
        joins: list[tuple[Edge, str, str]] = []
        src = ""
        for e, a in hops:
            dst_alias = d.alias(e.dst)
            joins.append((e, a or src, dst_alias))
            src = dst_alias
        return col, alias or src, joins
    return None


def _join(d: Draft, q: exp.Select, joins: list[tuple[Edge, str, str]]) -> exp.Select:
    for e, a, b in joins:
        q = q.join(d.source(e.dst, b), on=d.join_on(e, a, b), copy=False)
    return q


def _year(d: Draft, b: _Base) -> tuple[list[exp.Expression], list[Cond]]:
    if b.time is None:
        return [], []
    made = d.cond(b.time[0], b.time[1], b.subject, kinds=("year",))
    return ([made[0]], [made[1]]) if made else ([], [])


def _slots(b: _Base, **more: t.Any) -> dict[str, t.Any]:
    return {"func": "sum", "metric": b.metric.names, **more}


@production("metric_total", "hard", 0.8)
def total(d: Draft) -> Built | None:
    """The metric in a year, sometimes for one value of a dimension."""
    b = _base(d)
    if b is None:
        return None
    nodes, conds = _year(d, b)
    q = b.query
    if d.rng.random() < 0.5:
        dim = _dimension(d, b, named=d.rng.random() < 0.6)
        if dim is not None:
            col, alias, joins = dim
            made = d.cond(col, alias, b.subject, kinds=("eq",))
            if made is not None:
                q = _join(d, q, joins)
                nodes.append(made[0])
                conds.append(made[1])
    if not nodes:
        return None
    q = where(q.select(b.value, append=False, copy=False), nodes)
    return q, Meaning("agg", ent(b.subject), tuple(conds), _slots(b))


@production("metric_group", "hard", 1.2)
def by_group(d: Draft) -> Built | None:
    """The metric by a dimension, in a year or over all time."""
    b = _base(d)
    dim = _dimension(d, b) if b else None
    if b is None or dim is None:
        return None
    col, alias, joins = dim
    nodes, conds = _year(d, b) if d.rng.random() < 0.8 else ([], [])
    q = _join(d, b.query, joins).select(d.col(col, alias), b.value, append=False, copy=False)
    q = where(q, nodes).group_by(d.col(col, alias), copy=False).order_by(ordered(d.col(col, alias)), copy=False)
    return q, Meaning("group_agg", ent(b.subject), tuple(conds),
                      _slots(b, group=[d.ref(col, b.subject, alias)]))


@production("metric_top", "hard", 1.0)
def top(d: Draft) -> Built | None:
    """The dimension values with the highest metric in a year."""
    b = _base(d)
    dim = _dimension(d, b, named=True) if b else None
    if b is None or dim is None:
        return None
    col, alias, joins = dim
    nodes, conds = _year(d, b)
    n = d.rng.choice((3, 5, 10))
    q = _join(d, b.query, joins).select(d.col(col, alias), b.value, append=False, copy=False)
    q = where(q, nodes).group_by(d.col(col, alias), copy=False)
    q = q.order_by(ordered(ref(slug(b.metric.name)), True), ordered(d.col(col, alias)), copy=False).limit(n)
    d.tiebreak = 1
    return q, Meaning("top_group", ent(b.subject), tuple(conds),
                      _slots(b, n=n, desc=True, group=[d.ref(col, b.subject, alias)]))


@production("metric_month", "hard", 0.8)
def by_month(d: Draft) -> Built | None:
    """The metric per month of a year."""
    b = _base(d, dated=True)
    if b is None or b.time is None:
        return None
    ci, alias = b.time
    nodes, conds = _year(d, b)
    if not nodes:
        return None
    month = exp.func("month", d.col(ci, alias), dialect="duckdb")
    q = b.query.select(d.name(month, "mth"), b.value, append=False, copy=False)
    q = where(q, nodes).group_by(month.copy(), copy=False).order_by(ordered(ref("mth")), copy=False)
    return q, Meaning("bucket", ent(b.subject), tuple(conds),
                      _slots(b, period="month", date=d.ref(ci, b.subject, alias)))


@production("metric_pivot", "hard", 0.6)
def pivot(d: Draft) -> Built | None:
    """The metric per dimension value in one year next to another."""
    b = _base(d, dated=True)
    if b is None or b.time is None or not _dated(b.time[0]) or not isinstance(b.value.this, exp.AggFunc):
        return None
    dim = _dimension(d, b)
    if dim is None:
        return None
    col, alias, joins = dim
    ci, talias = b.time
    years = _two_years(d, ci)
    cols: list[exp.Expression] = [d.col(col, alias)]
    for y in years:
        part = exp.Filter(this=b.value.this.copy(), expression=exp.Where(this=_in_year(d, ci, talias, y)))
        cols.append(d.name(part, f"{slug(b.metric.name)}_{y}"))
    q = _join(d, b.query, joins).select(*cols, append=False, copy=False)
    q = q.group_by(d.col(col, alias), copy=False).order_by(ordered(d.col(col, alias)), copy=False)
    return q, Meaning("period_pivot", ent(b.subject), (),
                      _slots(b, group=[d.ref(col, b.subject, alias)], date=d.ref(ci, b.subject, talias), years=years))
