"""Helpers shared by the productions: registration, filters, aggregates, size estimates.

>>> from sqlglot import exp
>>> ordered(exp.column("x"), desc=True).sql("duckdb")
'x DESC'
>>> slug("SHIP_TO_STORE"), slug("OrderDate")
('ship_to_store', 'orderdate')
"""

from __future__ import annotations

import re
import typing as t
from dataclasses import dataclass, field

from sqlglot import exp

from sqltune.generate.build import Draft
from sqltune.generate.catalog import ColumnInfo, TableInfo
from sqltune.generate.meaning import Cond, Meaning
from sqltune.identifiers import identifier

Built = tuple[exp.Query, Meaning]
Builder = t.Callable[[Draft], "Built | None"]
#: Roles a filter can be put on.
FILTER_ROLES = ("category", "measure", "date", "label", "flag", "masked", "key")
AGG_WORD = {"sum": "total", "avg": "avg", "min": "min", "max": "max"}


@dataclass(frozen=True)
class Production:
    """One rule of the grammar: a name, the tier it aims at, and a builder."""

    name: str
    tier: str
    build: Builder
    weight: float = 1.0
    joins: bool = False  # uses join paths (steered toward while joins are under-covered)


REGISTRY: list[Production] = []


def production(name: str, tier: str, weight: float = 1.0, joins: bool = False) -> t.Callable[[Builder], Builder]:
    """Register ``fn`` as production ``name`` (registering a name again replaces it)."""
    def register(fn: Builder) -> Builder:
        REGISTRY[:] = [p for p in REGISTRY if p.name != name] + [Production(name, tier, fn, weight, joins)]
        return fn
    return register


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "x"


def ref(name: str, table: str | None = None) -> exp.Column:
    """A column reference to ``name`` (a database column or one of our aliases), quoted when needed."""
    return exp.Column(this=identifier(name), table=identifier(table) if table else None)


def ordered(node: exp.Expression, desc: bool = False) -> exp.Ordered:
    out = exp.Ordered(this=node, nulls_first=False)
    if desc:
        out.set("desc", True)
    return out


def add_conds(d: Draft, ti: TableInfo, alias: str | None, subject: TableInfo | None, n: int,
              exclude: t.Collection[ColumnInfo] = (), kinds: t.Collection[str] | None = None,
              roles: t.Collection[str] = FILTER_ROLES) -> Filters:
    """Up to ``n`` filters on distinct columns of ``ti``."""
    used = set(exclude)
    out = Filters()
    for _ in range(n):
        ci = d.pick_col(ti, roles, exclude=used, pred=lambda c: bool(_kinds(d, c, kinds)))
        if ci is None:
            break
        used.add(ci)
        made = d.cond(ci, alias, subject, kinds)
        if made is not None:
            out.nodes.append(made[0])
            out.conds.append(made[1])
            out.cols.append(ci)
    return out


@dataclass
class Filters:
    """Filters built so far: the nodes, their meanings and the filtered columns."""

    nodes: list[exp.Expression] = field(default_factory=list)
    conds: list[Cond] = field(default_factory=list)
    cols: list[ColumnInfo] = field(default_factory=list)

    def extend(self, other: Filters) -> Filters:
        self.nodes += other.nodes
        self.conds += other.conds
        self.cols += other.cols
        return self


def _kinds(d: Draft, ci: ColumnInfo, kinds: t.Collection[str] | None) -> list[str]:
    options = d._cond_kinds(ci)
    return [k for k in options if kinds is None or k in kinds]


def where(q: exp.Select, nodes: list[exp.Expression]) -> exp.Select:
    return q.where(exp.and_(*nodes), copy=False) if nodes else q


def n_filters(d: Draft, lo: int = 0, hi: int = 2) -> int:
    return d.rng.choice([k for k in range(lo, hi + 1) for _ in range(1 if k == lo else 2)])


def agg_node(func: str, arg: exp.Expression) -> exp.Expression:
    """``SUM(arg)`` and the like, unrounded: a question that does not ask for rounding gets exact values."""
    return {"sum": exp.Sum, "avg": exp.Avg, "min": exp.Min, "max": exp.Max}[func](this=arg)


def pick_func(d: Draft, ci: ColumnInfo) -> str:
    if ci.role == "date" or ci.is_year:
        return d.rng.choice(("min", "max"))
    return d.rng.choice(("sum", "sum", "avg", "avg", "min", "max"))


def count_star() -> exp.Expression:
    return exp.Count(this=exp.Star())


def selectivity(ci_cond: Cond, ci: ColumnInfo | None = None) -> float:
    op = ci_cond.op
    if op in ("eq", "term") and ci is not None and ci.values:
        return 1.0 / max(1, len(ci.values))
    if op == "eq":
        return 1.0 / max(1, ci.distinct if ci else 50)
    if op == "in":
        return len(ci_cond.vals) / max(1, len(ci.values) if ci and ci.values else 20)
    return {"ne": 0.8, "year": 0.35, "month": 0.05, "prefix": 0.05, "null": max(0.01, ci.null_fraction if ci else 0.1),
            "notnull": 0.9, "true": 0.5, "false": 0.5}.get(op, 0.3)


def estimate(ti: TableInfo, f: Filters) -> float:
    """A rough row estimate of ``ti`` under the filters ``f``."""
    rows = float(ti.rows)
    for cond, ci in zip(f.conds, f.cols):
        rows *= selectivity(cond, ci)
    return rows


def display_cols(d: Draft, ti: TableInfo, extra: int = 1) -> list[ColumnInfo]:
    """The columns a listing shows: the table's display column plus up to ``extra`` others."""
    first = ti.display or d.pick_col(ti, ("label", "key", "category"))
    if first is None:
        return []
    out = [first]
    for _ in range(extra):
        ci = d.pick_col(ti, ("category", "measure", "date", "label"), exclude=out)
        if ci is not None:
            out.append(ci)
    return out
