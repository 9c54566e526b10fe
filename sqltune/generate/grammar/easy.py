"""Easy productions: one table, no join, no grouping, no nesting.

Projections, filters on real values, counts, distinct values, scalar aggregates, lookups and
ordering without a limit.

>>> sorted(p.name for p in REGISTRY if p.tier == "easy")[:3]
['e_agg', 'e_count', 'e_count_distinct']
"""

from __future__ import annotations

from sqlglot import exp

from sqltune.generate.build import Draft, ent
from sqltune.generate.grammar.common import (
    REGISTRY, Built, add_conds, agg_node, count_star, display_cols, estimate, n_filters, ordered, pick_func,
    production, slug, where,
)
from sqltune.generate.meaning import Meaning

__all__ = ["REGISTRY"]
LIST_MAX = 150


@production("e_count", "easy", 1.2)
def count(d: Draft) -> Built | None:
    ti = d.pick_table()
    if ti is None:
        return None
    f = add_conds(d, ti, None, ti, n_filters(d, 0, 2))
    q = exp.select(d.name(count_star(), f"{slug(ti.noun)}_count")).from_(d.source(ti))
    return where(q, f.nodes), Meaning("count", ent(ti), tuple(f.conds))


@production("e_list", "easy", 1.2)
def listing(d: Draft) -> Built | None:
    ti = d.pick_table(lambda ti: ti.display is not None)
    if ti is None:
        return None
    cols = display_cols(d, ti, extra=d.rng.choice((0, 1, 1, 2)))
    need = 0 if ti.rows <= LIST_MAX else 1 + (ti.rows > 3000)
    f = add_conds(d, ti, None, ti, max(need, n_filters(d, 0, 1)), exclude=cols)
    if estimate(ti, f) > LIST_MAX:
        f.extend(add_conds(d, ti, None, ti, 1, exclude=cols + f.cols))
        if estimate(ti, f) > LIST_MAX:
            return None
    q = exp.select(*[d.col(c) for c in cols]).from_(d.source(ti))
    q = where(q, f.nodes).order_by(*[ordered(d.col(c)) for c in cols], copy=False)
    d.tiebreak = len(cols) - 1
    refs = [d.ref(c, ti) for c in cols]
    return q, Meaning("list", ent(ti), tuple(f.conds), {"fields": refs, "order": refs[0]})


@production("e_distinct", "easy")
def distinct(d: Draft) -> Built | None:
    ti = d.pick_table()
    if ti is None:
        return None
    ci = d.pick_col(ti, ("category", "label"), pred=lambda c: 1 < c.distinct <= LIST_MAX)
    if ci is None:
        return None
    f = add_conds(d, ti, None, ti, n_filters(d, 0, 1), exclude=[ci])
    q = exp.select(d.col(ci)).distinct().from_(d.source(ti))
    q = where(q, f.nodes).order_by(ordered(d.col(ci)), copy=False)
    return q, Meaning("distinct", ent(ti), tuple(f.conds), {"fields": [d.ref(ci, ti)]})


@production("e_count_distinct", "easy")
def count_distinct(d: Draft) -> Built | None:
    ti = d.pick_table()
    if ti is None:
        return None
    ci = d.pick_col(ti, ("category", "label", "key", "date", "masked", "measure"), pred=lambda c: c.distinct > 1)
    if ci is None or (ci.role == "masked" and d.masked_usage != "aggregate_only"):
        return None
    f = add_conds(d, ti, None, ti, n_filters(d, 0, 1), exclude=[ci])
    node = exp.Count(this=exp.Distinct(expressions=[d.col(ci)]))
    q = exp.select(d.name(node, f"distinct_{slug(ci.name)}")).from_(d.source(ti))
    return where(q, f.nodes), Meaning("count_distinct", ent(ti), tuple(f.conds), {"field": d.ref(ci, ti)})


@production("e_agg", "easy", 1.2)
def aggregate(d: Draft) -> Built | None:
    ti = d.pick_table(lambda ti: bool(ti.cols("measure")))
    if ti is None:
        return None
    ci = d.pick_col(ti, ("measure",))
    if ci is None:
        return None
    func = pick_func(d, ci)
    f = add_conds(d, ti, None, ti, n_filters(d, 0, 2), exclude=[ci])
    alias = f"{'total' if func == 'sum' else func}_{slug(ci.name)}"
    q = exp.select(d.name(agg_node(func, d.col(ci)), alias)).from_(d.source(ti))
    return where(q, f.nodes), Meaning("agg", ent(ti), tuple(f.conds), {"func": func, "measure": d.ref(ci, ti)})


@production("e_range", "easy")
def value_range(d: Draft) -> Built | None:
    ti = d.pick_table(lambda ti: bool(ti.cols("date", "measure")))
    if ti is None:
        return None
    ci = d.pick_col(ti, ("date", "measure"))
    if ci is None:
        return None
    f = add_conds(d, ti, None, ti, n_filters(d, 0, 1), exclude=[ci])
    name = slug(ci.name)
    q = exp.select(d.name(exp.Min(this=d.col(ci)), f"first_{name}" if ci.role == "date" else f"min_{name}"),
                   d.name(exp.Max(this=d.col(ci)), f"last_{name}" if ci.role == "date" else f"max_{name}"))
    q = where(q.from_(d.source(ti), copy=False), f.nodes)
    return q, Meaning("range", ent(ti), tuple(f.conds), {"field": d.ref(ci, ti), "dates": ci.role == "date"})


@production("e_lookup", "easy")
def lookup(d: Draft) -> Built | None:
    ti = d.pick_table(lambda ti: ti.rows > 1)
    if ti is None:
        return None
    key = d.pick_col(ti, ("label", "key", "category"), pred=lambda c: bool(c.pool) and c.distinct >= 0.5 * ti.rows)
    if key is None:
        return None
    made = d.cond(key, None, ti, kinds=("eq",))
    if made is None:
        return None
    fields = []
    for _ in range(d.rng.choice((1, 2, 2, 3))):
        ci = d.pick_col(ti, ("category", "measure", "date", "label", "key", "flag"), exclude=fields + [key])
        if ci is not None:
            fields.append(ci)
    if not fields:
        return None
    q = exp.select(*[d.col(c) for c in fields]).from_(d.source(ti)).where(made[0], copy=False)
    return q, Meaning("lookup", ent(ti), (made[1],), {"fields": [d.ref(c, ti) for c in fields]})


@production("e_nulls", "easy", 0.6)
def nulls(d: Draft) -> Built | None:
    ti = d.pick_table(lambda ti: any(c.null_fraction > 0 or c.role == "masked" for c in ti.cols()))
    if ti is None:
        return None
    ci = d.pick_col(ti, pred=lambda c: c.null_fraction > 0 or c.role == "masked")
    if ci is None:
        return None
    made = d.cond(ci, None, ti, kinds=("null", "notnull"))
    if made is None:
        return None
    f = add_conds(d, ti, None, ti, n_filters(d, 0, 1), exclude=[ci])
    q = exp.select(d.name(count_star(), f"{slug(ti.noun)}_count")).from_(d.source(ti))
    return where(q, [made[0], *f.nodes]), Meaning("count", ent(ti), (made[1], *f.conds))
