"""Hard productions: multi-hop joins, subqueries and CTEs, windows, ratios, year over year, set operations,
rates per group, two periods side by side, and what stopped between two periods.

>>> "h_yoy" in {p.name for p in REGISTRY if p.tier == "hard"}
True
"""

from __future__ import annotations

import typing as t

from sqlglot import exp

from sqltune.generate.build import Draft, ent
from sqltune.generate import literals
from sqltune.generate.catalog import Catalog, ColumnInfo, Edge, TableInfo
from sqltune.generate.grammar.common import (
    REGISTRY, Built, add_conds, count_star, n_filters, ordered, production, ref, slug, where,
)
from sqltune.generate.grammar.medium import LIST_MAX, group_col, joined, measure_or_count
from sqltune.generate.meaning import Meaning
from sqltune.identifiers import identifier

__all__ = ["REGISTRY", "paths"]
_PATHS: dict[int, list[tuple[Edge, Edge]]] = {}


def paths(cat: Catalog) -> list[tuple[Edge, Edge]]:
    """Two-hop key paths ``a → b → c`` (each hop many → one), cached per catalog."""
    if id(cat) not in _PATHS:
        _PATHS.clear()
        _PATHS[id(cat)] = [(e1, e2) for e1 in cat.edges for e2 in cat.edges
                           if e1.dst is e2.src and e2.dst is not e1.src and e1.src is not e1.dst and e2.src is not e2.dst]
    return _PATHS[id(cat)]


def _pick_path(d: Draft) -> tuple[Edge, Edge] | None:
    pool = paths(d.cat)
    weights = [d.cov.weight("join", a.label) + d.cov.weight("join", b.label) + 0.05 * d.cov.table_weight(b.dst)
               for a, b in pool]
    return d.pick(pool, weights)


def _hop(d: Draft, p: tuple[Edge, Edge]) -> tuple[str, str, str, exp.Select]:
    e1, e2 = p
    sa, ma, q = joined(d, e1)
    ca = d.alias(e2.dst)
    q = q.join(d.source(e2.dst, ca), on=d.join_on(e2, ma, ca), copy=False)
    return sa, ma, ca, q


@production("h_hop_group", "hard", 1.3, joins=True)
def hop_group(d: Draft) -> Built | None:
    p = _pick_path(d)
    g = group_col(d, p[1].dst, exclude=list(p[1].dst_cols)) if p else None
    if p is None or g is None:
        return None
    sa, ma, ca, q = _hop(d, p)
    agg, name, slots = measure_or_count(d, p[0].src, sa, p[0].src)
    f = add_conds(d, p[0].src, sa, p[0].src, n_filters(d, 0, 1), exclude=list(p[0].src_cols))
    q = where(q.select(d.col(g, ca), d.name(agg, name), copy=False), f.nodes).group_by(d.col(g, ca), copy=False)
    q = q.order_by(ordered(d.col(g, ca)), copy=False)
    intent = "group_count" if slots["func"] == "count" else "group_agg"
    return q, Meaning(intent, ent(p[0].src), tuple(f.conds), {**slots, "group": [d.ref(g, p[0].src, ca)]})


@production("h_hop_filter", "hard", 1.2, joins=True)
def hop_filter(d: Draft) -> Built | None:
    p = _pick_path(d)
    if p is None:
        return None
    sa, ma, ca, q = _hop(d, p)
    f = add_conds(d, p[1].dst, ca, p[0].src, 1, exclude=list(p[1].dst_cols))
    if not f.nodes:
        return None
    f.extend(add_conds(d, p[0].src, sa, p[0].src, n_filters(d, 0, 1), exclude=list(p[0].src_cols)))
    agg, name, slots = measure_or_count(d, p[0].src, sa, p[0].src, counted=False)
    q = where(q.select(d.name(agg, name), copy=False), f.nodes)
    return q, Meaning("count" if slots["func"] == "count" else "agg", ent(p[0].src), tuple(f.conds), slots)


def _related(d: Draft, negate: bool) -> Built | None:
    edge = d.pick_edge(lambda e: e.dst.display is not None and len(e.dst_cols) == 1 and e.src is not e.dst)
    if edge is None or edge.dst.display is None:
        return None
    dst, src = edge.dst, edge.src
    da, sa = d.alias(dst), d.alias(src)
    f = add_conds(d, src, sa, src, 1 if not negate else n_filters(d, 0, 1), exclude=list(edge.src_cols))
    if not negate and not f.nodes:
        return None
    listing = dst.rows <= LIST_MAX or d.rng.random() < 0.3
    head = [d.col(dst.display, da)] if listing else [d.name(count_star(), f"{slug(dst.noun)}_count")]
    q = exp.select(*head).from_(d.source(dst, da))
    if negate:
        inner = exp.select(exp.Literal.number(1)).from_(d.source(src, sa))
        inner = inner.where(exp.and_(d.join_on(edge, sa, da), *f.nodes), copy=False)
        q = q.where(exp.Not(this=exp.Exists(this=inner)), copy=False)
    else:
        inner = where(exp.select(d.col(edge.src_cols[0], sa)).from_(d.source(src, sa)), f.nodes)
        d.joins.append(edge.label) if edge.label not in d.joins else None
        q = q.where(exp.In(this=d.col(edge.dst_cols[0], da), query=exp.Subquery(this=inner)), copy=False)
    if listing:
        if dst.pk is not None and dst.pk is not dst.display:
            q = q.select(d.col(dst.pk, da), copy=False)
        q = q.order_by(*[ordered(e.copy()) for e in q.expressions], copy=False)
    slots = {"other": ent(src), "other_conds": tuple(f.conds), "listing": listing, "fields": [d.ref(dst.display, dst)]}
    return q, Meaning("no_related" if negate else "has_related", ent(dst), (), slots)


@production("h_in", "hard", joins=True)
def has_related(d: Draft) -> Built | None:
    return _related(d, negate=False)


@production("h_not_exists", "hard", joins=True)
def no_related(d: Draft) -> Built | None:
    return _related(d, negate=True)


def _scalar(func: type[exp.Expression], col: exp.Expression, source: exp.Table, nodes: list[exp.Expression]) -> exp.Subquery:
    return exp.Subquery(this=where(exp.select(func(this=col)).from_(source), nodes))


@production("h_above_avg", "hard")
def above_average(d: Draft) -> Built | None:
    ti = d.pick_table(lambda ti: any(c.summable for c in ti.cols("measure")))
    m = d.pick_col(ti, ("measure",), pred=lambda c: c.summable) if ti else None
    if ti is None or m is None:
        return None
    f = add_conds(d, ti, None, ti, n_filters(d, 0, 1), exclude=[m])
    test = exp.GT(this=d.col(m), expression=_scalar(exp.Avg, d.col(m), d.source(ti), [n.copy() for n in f.nodes]))
    listing = ti.display is not None and ti.rows <= LIST_MAX
    if listing:
        q = exp.select(d.col(ti.display), d.col(m)).from_(d.source(ti))
        q = q.order_by(ordered(d.col(m), True), ordered(d.col(ti.display)), copy=False)
        d.tiebreak = 1
    else:
        q = exp.select(d.name(count_star(), f"{slug(ti.noun)}_count")).from_(d.source(ti))
    q = q.where(exp.and_(test, *f.nodes), copy=False)
    fields = [d.ref(ti.display, ti)] if listing and ti.display else []
    return q, Meaning("above_avg", ent(ti), tuple(f.conds), {"measure": d.ref(m, ti), "listing": listing,
                                                            "fields": fields})


@production("h_extreme", "hard")
def extreme(d: Draft) -> Built | None:
    ti = d.pick_table(lambda ti: ti.display is not None and bool(ti.cols("measure", "date")))
    m = d.pick_col(ti, ("measure", "date"), exclude=[ti.display]) if ti else None
    if ti is None or m is None or ti.display is None:
        return None
    desc = d.rng.random() < 0.6
    f = add_conds(d, ti, None, ti, n_filters(d, 0, 1), exclude=[m])
    sub = _scalar(exp.Max if desc else exp.Min, d.col(m), d.source(ti), [n.copy() for n in f.nodes])
    q = exp.select(d.col(ti.display), d.col(m)).from_(d.source(ti))
    q = q.where(exp.and_(exp.EQ(this=d.col(m), expression=sub), *f.nodes), copy=False)
    q = q.order_by(ordered(d.col(ti.display)), copy=False)
    return q, Meaning("extreme", ent(ti), tuple(f.conds), {"measure": d.ref(m, ti), "desc": desc,
                                                          "fields": [d.ref(ti.display, ti)]})


@production("h_cte_top", "hard", joins=True)
def cte_top(d: Draft) -> Built | None:
    edge = d.pick_edge(lambda e: e.dst.display is not None and len(e.src_cols) == 1 and e.dst.rows > 5)
    if edge is None or edge.dst.display is None:
        return None
    src, dst = edge.src, edge.dst
    agg, name, slots = measure_or_count(d, src, None, src, counted=False)
    key = edge.src_cols[0].name  # kept as the CTE's column name: the exact identifier, never a folded alias
    f = add_conds(d, src, None, src, n_filters(d, 0, 1), exclude=list(edge.src_cols))
    body = where(exp.select(d.col(edge.src_cols[0]), d.name(agg, name)).from_(d.source(src)), f.nodes)
    body = body.group_by(d.col(edge.src_cols[0]), copy=False)
    da, n, desc = d.alias(dst), d.rng.choice((3, 5, 10)), d.rng.random() < 0.8
    d.joins.append(edge.label)
    on = exp.EQ(this=d.col(edge.dst_cols[0], da), expression=ref(key, "totals"))
    q = exp.select(d.col(dst.display, da), ref(name, "totals")).from_(exp.to_table("totals"))
    q = q.join(d.source(dst, da), on=on, copy=False).with_("totals", as_=body, copy=False)
    q = q.order_by(ordered(ref(name, "totals"), desc), ordered(d.col(dst.display, da)), copy=False)
    q = q.limit(n, copy=False)
    d.tiebreak = 1
    return q, Meaning("top_group", ent(src), tuple(f.conds), {**slots, "n": n, "desc": desc,
                                                             "group": [d.ref(dst.display, src, da)]})


@production("h_top_per_group", "hard")
def top_per_group(d: Draft) -> Built | None:
    ti = d.pick_table(lambda ti: ti.display is not None and bool(ti.cols("measure", "date")))
    g = group_col(d, ti, exclude=[ti.display], limit=30) if ti else None
    m = d.pick_col(ti, ("measure", "date"), exclude=[ti.display, g]) if ti and g else None
    if ti is None or g is None or m is None or ti.display is None:
        return None
    desc = d.rng.random() < 0.7
    f = add_conds(d, ti, None, ti, n_filters(d, 0, 1), exclude=[g, m])
    rank = exp.Window(this=exp.Anonymous(this="RANK"), partition_by=[d.col(g)],
                      order=exp.Order(expressions=[ordered(d.col(m), desc)]))
    inner = where(exp.select(d.col(g), d.col(ti.display), d.col(m), d.name(rank, "rnk")).from_(d.source(ti)), f.nodes)
    inner = inner.where(exp.Not(this=exp.Is(this=d.col(m), expression=exp.Null())), copy=False) if m.null_fraction else inner
    cols = [ref(c.name, "ranked") for c in (g, ti.display, m)]
    q = exp.select(*cols).from_(exp.Subquery(this=inner, alias=exp.TableAlias(this=identifier("ranked"))))
    q = q.where(exp.EQ(this=ref("rnk", "ranked"), expression=exp.Literal.number(1)), copy=False)
    q = q.order_by(*[ordered(c.copy()) for c in cols[:2]], copy=False)
    d.tiebreak = 1
    return q, Meaning("top_per_group", ent(ti), tuple(f.conds), {"group": [d.ref(g, ti)], "measure": d.ref(m, ti),
                                                                "desc": desc, "fields": [d.ref(ti.display, ti)]})


@production("h_share", "hard", 1.2)
def share(d: Draft) -> Built | None:
    ti = d.pick_table()
    g = group_col(d, ti) if ti else None
    if ti is None or g is None:
        return None
    m = d.pick_col(ti, ("measure",), pred=lambda c: c.summable) if d.rng.random() < 0.4 else None
    base = exp.Sum(this=d.col(m)) if m else count_star()
    pct = exp.Div(this=exp.Mul(this=exp.Literal.number("100.0"), expression=base.copy()),
                  expression=exp.Window(this=exp.Sum(this=base.copy())))
    f = add_conds(d, ti, None, ti, n_filters(d, 0, 1), exclude=[g] + ([m] if m else []))
    q = where(exp.select(d.col(g), d.name(pct, "pct")).from_(d.source(ti)), f.nodes)
    q = q.group_by(d.col(g), copy=False).order_by(ordered(d.col(g)), copy=False)
    slots = {"group": [d.ref(g, ti)], "measure": d.ref(m, ti) if m else None}
    return q, Meaning("share", ent(ti), tuple(f.conds), slots)


@production("h_ratio", "hard", 1.2)
def ratio(d: Draft) -> Built | None:
    ti = d.pick_table(lambda ti: ti.rows > 10)
    if ti is None:
        return None
    part = add_conds(d, ti, None, ti, 1, roles=("category", "flag", "measure", "date", "masked"))
    if not part.nodes:
        return None
    m = d.pick_col(ti, ("measure",), pred=lambda c: c.summable and c not in part.cols) if d.rng.random() < 0.35 else None
    base = exp.Sum(this=d.col(m)) if m else count_star()
    num = exp.Filter(this=base.copy(), expression=exp.Where(this=part.nodes[0]))
    pct = exp.Div(this=exp.Mul(this=exp.Literal.number("100.0"), expression=num), expression=base)
    f = add_conds(d, ti, None, ti, n_filters(d, 0, 1), exclude=part.cols + ([m] if m else []))
    q = where(exp.select(d.name(pct, "pct")).from_(d.source(ti)), f.nodes)
    return q, Meaning("ratio", ent(ti), tuple(f.conds), {"part": part.conds[0], "measure": d.ref(m, ti) if m else None})


def _span_years(ci: t.Any) -> int:
    prof = ci.column.profile
    try:
        return int(str(prof.max)[:4]) - int(str(prof.min)[:4])
    except (TypeError, ValueError, AttributeError):
        return 0


@production("h_yoy", "hard")
def year_over_year(d: Draft) -> Built | None:
    ti = d.pick_table(lambda ti: any(_span_years(c) >= 2 for c in ti.cols("date")))
    dc = d.pick_col(ti, ("date",), pred=lambda c: 2 <= _span_years(c) <= 40) if ti else None
    if ti is None or dc is None:
        return None
    agg, name, slots = measure_or_count(d, ti, None, ti, counted=False, funcs=("sum", "sum", "avg"))
    f = add_conds(d, ti, None, ti, n_filters(d, 0, 1), exclude=[dc])
    yr = exp.func("year", d.col(dc), dialect="duckdb")
    body = where(exp.select(d.name(yr, "yr"), d.name(agg, name)).from_(d.source(ti)), f.nodes)
    body = body.group_by(yr.copy(), copy=False)
    total = ref(name)
    prev = exp.Window(this=exp.Lag(this=total.copy()), order=exp.Order(expressions=[ordered(ref("yr"))]))
    change = exp.Div(this=exp.Mul(this=exp.Literal.number("100.0"),
                                  expression=exp.Paren(this=exp.Sub(this=total.copy(), expression=prev))),
                     expression=prev.copy())
    q = exp.select(ref("yr"), total.copy(), d.name(change, "yoy_pct")).from_(exp.to_table("yearly"))
    q = q.with_("yearly", as_=body, copy=False).order_by(ordered(ref("yr")), copy=False)
    return q, Meaning("yoy", ent(ti), tuple(f.conds), {**slots, "date": d.ref(dc, ti)})


@production("h_running", "hard", 0.8)
def running_total(d: Draft) -> Built | None:
    ti = d.pick_table(lambda ti: bool(ti.cols("date")))
    dc = d.pick_col(ti, ("date",)) if ti else None
    if ti is None or dc is None:
        return None
    made = d.cond(dc, None, ti, kinds=("year",))
    if made is None:
        return None
    agg, name, slots = measure_or_count(d, ti, None, ti, counted=False, funcs=("sum",))
    month = exp.func("date_trunc", exp.Literal.string("month"), d.col(dc), dialect="duckdb")
    inner = exp.select(d.name(month, "mth"), d.name(agg, name)).from_(d.source(ti)).where(made[0], copy=False)
    inner = inner.group_by(month.copy(), copy=False)
    run = exp.Window(this=exp.Sum(this=ref(name)), order=exp.Order(expressions=[ordered(ref("mth"))]))
    q = exp.select(ref("mth"), ref(name), d.name(run, f"running_{name}"))
    q = q.from_(exp.Subquery(this=inner, alias=exp.TableAlias(this=identifier("monthly"))))
    q = q.order_by(ordered(ref("mth")), copy=False)
    return q, Meaning("running", ent(ti), (made[1],), {**slots, "date": d.ref(dc, ti)})


@production("h_set_op", "hard")
def set_op(d: Draft) -> Built | None:
    ti = d.pick_table(lambda ti: ti.rows > 10)
    c = d.pick_col(ti, ("key", "label", "category"), pred=lambda c: 2 < c.distinct <= 400) if ti else None
    on = d.pick_col(ti, ("category",), exclude=[c], pred=lambda x: len(x.values) >= 2) if ti and c else None
    if ti is None or c is None or on is None:
        return None
    a, b = sorted(d.pick_values(on, 2), key=str) if len(on.pool) >= 2 else (None, None)
    if a is None:
        return None
    op = d.rng.choice(("intersect", "except", "union"))
    sides = []
    for v in (a, b):
        sides.append(exp.select(d.col(c)).from_(d.source(ti)).where(exp.EQ(this=d.col(on), expression=d.lit(on, v)),
                                                                    copy=False))
    node = {"intersect": exp.Intersect, "except": exp.Except, "union": exp.Union}[op]
    q = node(this=sides[0], expression=sides[1], distinct=True)
    q = q.order_by(ordered(ref(c.name)), copy=False)
    slots = {"op": op, "field": d.ref(c, ti), "on": d.ref(on, ti), "a": d.val(on, a), "b": d.val(on, b)}
    return q, Meaning("set_op", ent(ti), (), slots)


@production("h_pivot", "hard")
def pivot(d: Draft) -> Built | None:
    ti = d.pick_table(lambda ti: ti.rows > 10)
    g = group_col(d, ti, limit=30) if ti else None
    c = d.pick_col(ti, ("category",), exclude=[g], pred=lambda x: len(x.values) >= 2) if ti and g else None
    if ti is None or g is None or c is None:
        return None
    values = sorted(d.pick_values(c, 2), key=str)
    cols = [d.col(g)]
    for v in values:
        cnt = exp.Filter(this=count_star(), expression=exp.Where(this=exp.EQ(this=d.col(c), expression=d.lit(c, v))))
        cols.append(d.name(cnt, f"{slug(str(v))}_count" if slug(str(v))[:1].isalpha() else f"n_{slug(str(v))}"))
    q = exp.select(*cols).from_(d.source(ti)).group_by(d.col(g), copy=False).order_by(ordered(d.col(g)), copy=False)
    slots = {"group": [d.ref(g, ti)], "field": d.ref(c, ti), "values": [d.val(c, v) for v in values]}
    return q, Meaning("pivot", ent(ti), (), slots)


def _years(ci: ColumnInfo) -> list[int]:
    """The distinct years among ``ci``'s pooled values, ascending."""
    return sorted({v.year for v in (literals.as_date(x) for x in ci.pool) if v is not None})


def _dated(ci: ColumnInfo) -> bool:
    """A real date or timestamp column (``year()`` applies) whose values span at least two years."""
    return ci.type in ("date", "timestamp") and len(_years(ci)) >= 2


def _two_years(d: Draft, ci: ColumnInfo) -> tuple[int, int]:
    """Two years of ``ci``'s data, earlier first: mostly consecutive ones, sometimes any two."""
    years = _years(ci)
    if d.rng.random() < 0.75:
        i = d.rng.randrange(len(years) - 1)
        return years[i], years[i + 1]
    a, b = sorted(d.rng.sample(years, 2))
    return a, b


def _in_year(d: Draft, ci: ColumnInfo, alias: str | None, year: int) -> exp.Expression:
    if (ci.ref, str(year)) not in d.values:
        d.values.append((ci.ref, str(year)))
    return exp.EQ(this=exp.func("year", d.col(ci, alias), dialect="duckdb"), expression=exp.Literal.number(year))


def _dated_table(ti: TableInfo) -> bool:
    return ti.rows > 10 and any(_dated(c) for c in ti.cols("date"))


@production("h_group_rate", "hard", 1.2)
def group_rate(d: Draft) -> Built | None:
    """Per group, the percentage of rows (or of a measure's total) that meet a condition."""
    ti = d.pick_table(lambda ti: ti.rows > 10)
    g = group_col(d, ti, pred=lambda c: c.role in ("category", "flag")) if ti else None  # not a name: 0% or 100%
    if ti is None or g is None:
        return None
    part = add_conds(d, ti, None, ti, 1, exclude=[g], roles=("category", "flag", "measure", "date", "masked"))
    if not part.nodes:
        return None
    m = d.pick_col(ti, ("measure",), exclude=[g, *part.cols], pred=lambda c: c.summable) if d.rng.random() < 0.3 else None
    base = exp.Sum(this=d.col(m)) if m else count_star()
    num = exp.Filter(this=base.copy(), expression=exp.Where(this=part.nodes[0]))
    pct = exp.Div(this=exp.Mul(this=exp.Literal.number("100.0"), expression=num), expression=base)
    f = add_conds(d, ti, None, ti, n_filters(d, 0, 1), exclude=[g, *part.cols] + ([m] if m else []))
    q = where(exp.select(d.col(g), d.name(pct, "pct")).from_(d.source(ti)), f.nodes)
    q = q.group_by(d.col(g), copy=False).order_by(ordered(d.col(g)), copy=False)
    slots = {"part": part.conds[0], "measure": d.ref(m, ti) if m else None, "group": [d.ref(g, ti)]}
    return q, Meaning("group_rate", ent(ti), tuple(f.conds), slots)


@production("h_period_pivot", "hard", 0.6)
def period_pivot(d: Draft) -> Built | None:
    """Per group, a count or a total in one year next to another year, side by side."""
    ti = d.pick_table(_dated_table)
    dc = d.pick_col(ti, ("date",), pred=_dated) if ti else None
    g = group_col(d, ti, exclude=[dc], limit=30, pred=lambda c: c.role != "date") if ti and dc else None
    if ti is None or dc is None or g is None:
        return None
    years = _two_years(d, dc)
    agg, name, slots = measure_or_count(d, ti, None, ti, counted=False, funcs=("sum",))
    cols: list[exp.Expression] = [d.col(g)]
    for y in years:
        cols.append(d.name(exp.Filter(this=agg.copy(), expression=exp.Where(this=_in_year(d, dc, None, y))),
                           f"{name}_{y}"))
    f = add_conds(d, ti, None, ti, n_filters(d, 0, 1), exclude=[g, dc])
    q = where(exp.select(*cols).from_(d.source(ti)), f.nodes)
    q = q.group_by(d.col(g), copy=False).order_by(ordered(d.col(g)), copy=False)
    return q, Meaning("period_pivot", ent(ti), tuple(f.conds), {**slots, "group": [d.ref(g, ti)],
                                                                "date": d.ref(dc, ti), "years": years})


@production("h_period_gap", "hard", 0.6, joins=True)
def period_gap(d: Draft) -> Built | None:
    """The rows of a table that had related rows in one year and none in another (lost or new ones)."""
    edge = d.pick_edge(lambda e: e.dst.display is not None and len(e.dst_cols) == 1 and e.src is not e.dst
                       and _dated_table(e.src))
    dc = d.pick_col(edge.src, ("date",), pred=_dated) if edge else None
    if edge is None or dc is None or edge.dst.display is None:
        return None
    src, dst = edge.src, edge.dst
    a, b = _two_years(d, dc)
    if d.rng.random() < 0.3:
        a, b = b, a  # new ones: in the later year, not in the earlier
    sides = [exp.select(d.col(edge.src_cols[0])).from_(d.source(src)).where(_in_year(d, dc, None, y), copy=False)
             for y in (a, b)]
    gone = exp.Except(this=sides[0], expression=sides[1], distinct=True)
    if edge.label not in d.joins:
        d.joins.append(edge.label)
    da = d.alias(dst)
    listing = dst.rows <= LIST_MAX or d.rng.random() < 0.3
    head = [d.col(dst.display, da)] if listing else [d.name(count_star(), f"{slug(dst.noun)}_count")]
    q = exp.select(*head).from_(d.source(dst, da))
    q = q.where(exp.In(this=d.col(edge.dst_cols[0], da), query=exp.Subquery(this=gone)), copy=False)
    if listing:
        if dst.pk is not None and dst.pk is not dst.display:
            q = q.select(d.col(dst.pk, da), copy=False)
        q = q.order_by(*[ordered(e.copy()) for e in q.expressions], copy=False)
    slots = {"other": ent(src), "date": d.ref(dc, dst), "years": (a, b), "listing": listing,
             "fields": [d.ref(dst.display, dst)]}
    return q, Meaning("period_gap", ent(dst), (), slots)
