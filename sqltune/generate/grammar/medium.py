"""Medium productions: grouping with HAVING, one join over a key, top-N, date buckets and ranges.

>>> sorted(p.name for p in REGISTRY if p.tier == "medium")[:2]
['m_bucket', 'm_group2']
"""

from __future__ import annotations

import typing as t

from sqlglot import exp

from sqltune.generate.build import Draft, ent
from sqltune.generate.catalog import ColumnInfo, Edge, Names, TableInfo
from sqltune.generate.grammar.common import (
    REGISTRY, Built, Filters, add_conds, agg_node, count_star, estimate, n_filters, ordered, pick_func,
    production, ref, slug, where,
)
from sqltune.generate.meaning import Ent, Meaning

__all__ = ["REGISTRY", "GROUP_MAX", "joined", "group_col", "measure_or_count"]
GROUP_MAX = 60
LIST_MAX = 150


def group_col(d: Draft, ti: TableInfo, exclude: t.Collection[ColumnInfo] = (), limit: int = GROUP_MAX,
              pred: t.Callable[[ColumnInfo], bool] = lambda c: True) -> ColumnInfo | None:
    """A column to group by: few distinct values (dates only when there are very few)."""
    return d.pick_col(ti, ("category", "flag", "label", "date"), exclude=exclude,
                      pred=lambda c: 1 < c.distinct <= limit and (c.role != "date" or c.distinct <= 24) and pred(c))


def measure_or_count(d: Draft, ti: TableInfo, alias: str | None, subject: TableInfo, counted: bool = True,
                     funcs: tuple[str, ...] = ()) -> tuple[exp.Expression, str, dict]:
    """An aggregate over ``ti``: a measure (sum/avg/min/max, or one of ``funcs``) or a count."""
    m = d.pick_col(ti, ("measure",), pred=lambda c: c.summable or not funcs) if d.rng.random() < 0.65 else None
    if m is None:
        nullable = d.pick_col(ti, ("masked", "date", "label", "key", "measure", "category"),
                              pred=lambda c: c.null_fraction > 0.02) if counted and d.rng.random() < 0.2 else None
        if nullable is not None:
            return (exp.Count(this=d.col(nullable, alias)), f"with_{slug(nullable.name)}",
                    {"func": "count", "counted": d.ref(nullable, subject, alias)})
        return count_star(), f"{slug(ti.noun)}_count", {"func": "count"}
    func = d.rng.choice(funcs) if funcs else pick_func(d, m)
    word = "total" if func == "sum" else func
    return agg_node(func, d.col(m, alias)), f"{word}_{slug(m.name)}", {"func": func, "measure": d.ref(m, subject, alias)}


def joined(d: Draft, edge: Edge) -> tuple[str, str, exp.Select]:
    """``FROM src JOIN dst ON key`` with fresh aliases; a self-join names the other side ``parent``."""
    sa, da = d.alias(edge.src), d.alias(edge.dst)
    if edge.src is edge.dst:
        names = edge.dst.names
        d.alias_owner[da] = Ent(Names(f"parent {names.plain}", f"parent {names.plain}", f"parent {names.business}",
                                      names.raw), f"parent {edge.dst.noun}", f"parent {edge.dst.nouns}")
    q = exp.select().from_(d.source(edge.src, sa)).join(d.source(edge.dst, da), on=d.join_on(edge, sa, da), copy=False)
    return sa, da, q


def _groups(q: exp.Select, nodes: list[exp.Expression]) -> exp.Select:
    return q.group_by(*nodes, copy=False).order_by(*[ordered(n.copy()) for n in nodes], copy=False)


@production("m_group_count", "medium", 1.3)
def group_count(d: Draft) -> Built | None:
    ti = d.pick_table()
    g = group_col(d, ti) if ti else None
    if ti is None or g is None:
        return None
    agg, name, slots = measure_or_count(d, ti, None, ti)
    f = add_conds(d, ti, None, ti, n_filters(d, 0, 1), exclude=[g])
    q = where(exp.select(d.col(g), d.name(agg, name)).from_(d.source(ti)), f.nodes)
    intent = "group_count" if slots["func"] == "count" else "group_agg"
    return _groups(q, [d.col(g)]), Meaning(intent, ent(ti), tuple(f.conds), {**slots, "group": [d.ref(g, ti)]})


@production("m_group2", "medium", 0.7)
def group_two(d: Draft) -> Built | None:
    ti = d.pick_table()
    g1 = group_col(d, ti, limit=20) if ti else None
    g2 = group_col(d, ti, exclude=[g1], limit=12) if g1 else None
    if ti is None or g1 is None or g2 is None or g1.distinct * g2.distinct > LIST_MAX:
        return None
    agg, name, slots = measure_or_count(d, ti, None, ti)
    q = exp.select(d.col(g1), d.col(g2), d.name(agg, name)).from_(d.source(ti))
    intent = "group_count" if slots["func"] == "count" else "group_agg"
    return _groups(q, [d.col(g1), d.col(g2)]), Meaning(intent, ent(ti), (), {**slots, "group": [d.ref(g1, ti), d.ref(g2, ti)]})


@production("m_having", "medium")
def having(d: Draft) -> Built | None:
    ti = d.pick_table(lambda ti: ti.rows >= 20)
    g = group_col(d, ti, pred=lambda c: c.distinct * 2 <= ti.rows) if ti else None
    if ti is None or g is None:
        return None
    m = d.pick_col(ti, ("measure",), pred=lambda c: not c.is_year and len(c.pool) > 2) if d.rng.random() < 0.5 else None
    q = exp.select(d.col(g)).from_(d.source(ti))
    if m is None:
        threshold = max(1, int(ti.rows / max(1, g.distinct)))
        threshold = int(float(f"{threshold:.2g}")) if threshold >= 100 else threshold
        test = exp.GT(this=count_star(), expression=exp.Literal.number(threshold))
        q = q.select(d.name(count_star(), f"{slug(ti.noun)}_count"), copy=False)
        slots = {"func": "count", "threshold": str(threshold)}
    else:
        func = d.rng.choice(("avg", "sum", "max")) if ti.rows / max(1, g.distinct) > 3 else "avg"
        values = sorted(v for v in m.pool if isinstance(v, (int, float)))
        value = values[len(values) // 2] if func != "sum" else values[len(values) // 2] * ti.rows / max(1, g.distinct) / 2
        value = round(value, 2) if isinstance(value, float) else value
        value = int(value) if func == "sum" else value
        test = exp.GT(this=agg_node(func, d.col(m)), expression=d.lit(m, value) if func != "sum" else exp.Literal.number(value))
        q = q.select(d.name(agg_node(func, d.col(m)), f"{'total' if func == 'sum' else func}_{slug(m.name)}"), copy=False)
        slots = {"func": func, "measure": d.ref(m, ti), "threshold": str(value)}
    q = _groups(q, [d.col(g)]).having(test, copy=False)
    return q, Meaning("having", ent(ti), (), {**slots, "group": [d.ref(g, ti)]})


@production("m_top", "medium", 1.2)
def top(d: Draft) -> Built | None:
    ti = d.pick_table(lambda ti: ti.display is not None and bool(ti.cols("measure", "date")) and ti.rows > 5)
    if ti is None or ti.display is None:
        return None
    m = d.pick_col(ti, ("measure", "date"), exclude=[ti.display])
    if m is None:
        return None
    n, desc = d.rng.choice((3, 5, 5, 10)), d.rng.random() < 0.75
    f = add_conds(d, ti, None, ti, n_filters(d, 0, 1), exclude=[m, ti.display])
    q = exp.select(d.col(ti.display), d.col(m)).from_(d.source(ti))
    q = where(q, f.nodes)
    q = q.order_by(ordered(d.col(m), desc), ordered(d.col(ti.display)), copy=False).limit(n, copy=False)
    d.tiebreak = 1
    return q, Meaning("top", ent(ti), tuple(f.conds), {"n": n, "desc": desc, "measure": d.ref(m, ti),
                                                       "fields": [d.ref(ti.display, ti)]})


@production("m_top_group", "medium", 1.2)
def top_group(d: Draft) -> Built | None:
    ti = d.pick_table(lambda ti: ti.rows > 10)
    g = d.pick_col(ti, ("category", "label", "key"), pred=lambda c: 6 < c.distinct <= ti.rows / 2) if ti else None
    if ti is None or g is None:
        return None
    agg, name, slots = measure_or_count(d, ti, None, ti, counted=False)
    n, desc = d.rng.choice((3, 5, 5, 10)), d.rng.random() < 0.8
    f = add_conds(d, ti, None, ti, n_filters(d, 0, 1), exclude=[g])
    q = where(exp.select(d.col(g), d.name(agg, name)).from_(d.source(ti)), f.nodes).group_by(d.col(g), copy=False)
    q = q.order_by(ordered(ref(name), desc), ordered(d.col(g)), copy=False).limit(n, copy=False)
    d.tiebreak = 1
    return q, Meaning("top_group", ent(ti), tuple(f.conds), {**slots, "n": n, "desc": desc, "group": [d.ref(g, ti)]})


@production("m_bucket", "medium", 1.2)
def bucket(d: Draft) -> Built | None:
    ti = d.pick_table(lambda ti: bool(ti.cols("date")))
    dc = d.pick_col(ti, ("date",)) if ti else None
    if ti is None or dc is None:
        return None
    period = d.rng.choice(("year", "quarter", "month", "month"))
    f = Filters()
    if period != "year":
        made = d.cond(dc, None, ti, kinds=("year",))
        if made is None:
            return None
        f.nodes.append(made[0]), f.conds.append(made[1]), f.cols.append(dc)
    f.extend(add_conds(d, ti, None, ti, n_filters(d, 0, 1), exclude=[dc], roles=("category", "flag", "measure")))
    unit = exp.func("year", d.col(dc), dialect="duckdb") if period == "year" else exp.func(
        "date_trunc", exp.Literal.string(period), d.col(dc), dialect="duckdb")
    agg, name, slots = measure_or_count(d, ti, None, ti)
    label = f"{slug(dc.name)}_{period}"
    q = where(exp.select(d.name(unit, label), d.name(agg, name)).from_(d.source(ti)), f.nodes)
    q = q.group_by(unit.copy(), copy=False).order_by(ordered(ref(label)), copy=False)
    return q, Meaning("bucket", ent(ti), tuple(f.conds), {**slots, "period": period, "date": d.ref(dc, ti)})


@production("m_join_count", "medium", 1.2, joins=True)
def join_count(d: Draft) -> Built | None:
    edge = d.pick_edge()
    if edge is None:
        return None
    sa, da, q = joined(d, edge)
    f = add_conds(d, edge.dst, da, edge.src, 1, exclude=list(edge.dst_cols))
    if not f.nodes:
        return None
    f.extend(add_conds(d, edge.src, sa, edge.src, n_filters(d, 0, 1), exclude=list(edge.src_cols)))
    if d.rng.random() < 0.5:
        agg, name, slots = measure_or_count(d, edge.src, sa, edge.src, counted=False)
    else:
        agg, name, slots = count_star(), f"{slug(edge.src.noun)}_count", {"func": "count"}
    q = where(q.select(d.name(agg, name), copy=False), f.nodes)
    intent = "count" if slots["func"] == "count" else "agg"
    return q, Meaning(intent, ent(edge.src), tuple(f.conds), slots)


@production("m_join_list", "medium", joins=True)
def join_list(d: Draft) -> Built | None:
    edge = d.pick_edge(lambda e: e.src.display is not None)
    if edge is None or edge.src.display is None:
        return None
    sa, da, q = joined(d, edge)
    other = edge.dst.display or d.pick_col(edge.dst, ("category", "label"))
    f = add_conds(d, edge.dst, da, edge.src, 1, exclude=list(edge.dst_cols) + ([other] if other else []))
    f.extend(add_conds(d, edge.src, sa, edge.src, 1 + (edge.src.rows > 3000), exclude=list(edge.src_cols)))
    est = estimate(edge.src, f)
    if not f.nodes or est > LIST_MAX or other is None:
        return None
    cols = [(edge.src.display, sa), (other, da)]
    q = where(q.select(*[d.col(c, a) for c, a in cols], copy=False), f.nodes)
    q = q.order_by(*[ordered(d.col(c, a)) for c, a in cols], copy=False)
    d.tiebreak = 1
    refs = [d.ref(c, edge.src, a) for c, a in cols]
    return q, Meaning("list", ent(edge.src), tuple(f.conds), {"fields": refs, "order": refs[0]})


@production("m_join_group", "medium", 1.3, joins=True)
def join_group(d: Draft) -> Built | None:
    edge = d.pick_edge()
    if edge is None:
        return None
    g = group_col(d, edge.dst, exclude=list(edge.dst_cols))
    if g is None:
        return None
    sa, da, q = joined(d, edge)
    agg, name, slots = measure_or_count(d, edge.src, sa, edge.src)
    f = add_conds(d, edge.src, sa, edge.src, n_filters(d, 0, 1), exclude=list(edge.src_cols))
    q = where(q.select(d.col(g, da), d.name(agg, name), copy=False), f.nodes)
    intent = "group_count" if slots["func"] == "count" else "group_agg"
    return _groups(q, [d.col(g, da)]), Meaning(intent, ent(edge.src), tuple(f.conds),
                                                {**slots, "group": [d.ref(g, edge.src, da)]})


@production("m_top_join", "medium", joins=True)
def top_join(d: Draft) -> Built | None:
    edge = d.pick_edge(lambda e: e.dst.display is not None and e.dst.rows > 5)
    if edge is None or edge.dst.display is None:
        return None
    sa, da, q = joined(d, edge)
    agg, name, slots = measure_or_count(d, edge.src, sa, edge.src, counted=False)
    n, desc = d.rng.choice((3, 5, 10)), d.rng.random() < 0.8
    label = d.col(edge.dst.display, da)
    q = q.select(label, d.name(agg, name), copy=False).group_by(label.copy(), copy=False)
    q = q.order_by(ordered(ref(name), desc), ordered(label.copy()), copy=False).limit(n, copy=False)
    d.tiebreak = 1
    return q, Meaning("top_group", ent(edge.src), (), {**slots, "n": n, "desc": desc,
                                                       "group": [d.ref(edge.dst.display, edge.src, da)]})
