"""Measured difficulty of a SQL query, from its syntax tree.

One rule, used by pair generation, evalset validation and reports alike:

* **easy**: one table, no join, no GROUP BY, no nesting (projections, filters, counts, DISTINCT,
  ORDER BY without LIMIT);
* **medium**: at most one join, or GROUP BY / HAVING, or top-N (ORDER BY … LIMIT), and no nesting;
* **hard**: two or more joins, or any subquery or CTE, window function, set operation, or
  conditional aggregation (``SUM(CASE …)``, ``COUNT(*) FILTER (WHERE …)``).

Beside the tier, a score grows with every feature (joins, predicates, groupings, nesting …) so
queries of one tier can still be ordered.

>>> measure("SELECT name FROM product WHERE price > 3").tier
'easy'
>>> measure("SELECT b.name, count(*) FROM product p JOIN brand b ON p.brand_id = b.id GROUP BY 1").tier
'medium'
>>> measure("WITH t AS (SELECT 1 AS x) SELECT x FROM t").tier
'hard'
>>> measure("SELECT sum(CASE WHEN ch = 'ECOM' THEN amt END) / sum(amt) FROM sales").features["conditional_aggregations"]
1
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp

from sqltune.errors import SqlParseError
from sqltune.identifiers import sqlglot_dialect

TIERS = ("easy", "medium", "hard")

_WEIGHTS = {
    "tables": 1.0, "joins": 2.0, "predicates": 0.5, "group_by": 2.0, "having": 1.5, "top_n": 1.0,
    "order_by": 0.5, "aggregations": 0.5, "distinct": 0.5, "subqueries": 3.0, "ctes": 3.0, "windows": 3.0,
    "set_operations": 3.0, "conditional_aggregations": 2.5, "case_expressions": 1.0,
}


@dataclass(frozen=True)
class Difficulty:
    tier: str
    score: float
    features: dict[str, int] = field(default_factory=dict)


def measure(sql: str | exp.Expression, dialect: str = "duckdb") -> Difficulty:
    """The tier, score and feature counts of one query; unparseable SQL raises :class:`SqlParseError`."""
    tree = _parse(sql, dialect)
    f = features(tree)
    nested = f["subqueries"] or f["ctes"] or f["set_operations"]
    if f["joins"] >= 2 or nested or f["windows"] or f["conditional_aggregations"]:
        tier = "hard"
    elif f["joins"] == 1 or f["group_by"] or f["having"] or f["top_n"]:
        tier = "medium"
    else:
        tier = "easy"
    score = round(sum(_WEIGHTS[k] * v for k, v in f.items()), 2)
    return Difficulty(tier, score, f)


def features(tree: exp.Expression) -> dict[str, int]:
    """Counts of the syntax features the tiers are decided on."""
    selects = list(tree.find_all(exp.Select))
    outer = tree if isinstance(tree, exp.Select) else None
    subqueries = sum(1 for s in selects if s is not outer and not _is_set_branch(s) and not _is_cte_body(s))
    aggs = [a for a in tree.find_all(exp.AggFunc)]
    conditional = sum(1 for a in aggs if a.find(exp.Case, exp.If) is not None)
    conditional += sum(1 for f in tree.find_all(exp.Filter) if isinstance(f.this, exp.AggFunc))
    return {
        "tables": len({_table_name(x) for x in tree.find_all(exp.Table)}),
        "joins": sum(1 for _ in tree.find_all(exp.Join)),
        "predicates": sum(1 for _ in tree.find_all(exp.Predicate)),
        "group_by": sum(1 for _ in tree.find_all(exp.Group)),
        "having": sum(1 for _ in tree.find_all(exp.Having)),
        "top_n": sum(1 for s in selects if s.args.get("limit") and s.args.get("order")),
        "order_by": sum(1 for _ in tree.find_all(exp.Order)),
        "aggregations": len(aggs),
        "distinct": sum(1 for _ in tree.find_all(exp.Distinct)),
        "subqueries": subqueries,
        "ctes": sum(1 for _ in tree.find_all(exp.CTE)),
        "windows": sum(1 for _ in tree.find_all(exp.Window)),
        "set_operations": sum(1 for _ in tree.find_all(exp.SetOperation)),
        "conditional_aggregations": conditional,
        "case_expressions": sum(1 for _ in tree.find_all(exp.Case)),
    }


def _parse(sql: str | exp.Expression, dialect: str) -> exp.Expression:
    if isinstance(sql, exp.Expression):
        return sql
    try:
        trees = [x for x in sqlglot.parse(sql, read=sqlglot_dialect(dialect)) if x is not None]
    except sqlglot.errors.SqlglotError as e:
        raise SqlParseError(f"Cannot parse SQL {_short(sql)!r}: {str(e).splitlines()[0]}") from None
    if len(trees) != 1:
        raise SqlParseError(f"Expected one SQL statement, found {len(trees)}: {_short(sql)!r}")
    if not isinstance(trees[0], exp.Query):
        raise SqlParseError(f"Not a query (SELECT, WITH or a set operation): {_short(sql)!r}")
    return trees[0]


def _is_set_branch(node: exp.Expression) -> bool:
    parent = node.parent
    while isinstance(parent, (exp.Subquery, exp.Paren)):
        parent = parent.parent
    return isinstance(parent, exp.SetOperation) and not isinstance(node.parent, exp.Subquery)


def _is_cte_body(node: exp.Expression) -> bool:
    return isinstance(node.parent, exp.CTE)


def _table_name(node: exp.Table) -> str:
    return ".".join(p.name for p in node.parts)


def _short(sql: str, n: int = 60) -> str:
    s = " ".join(sql.split())
    return s if len(s) <= n else s[: n - 1] + "…"


def tier_index(tier: str) -> int:
    return TIERS.index(tier)


def as_dict(d: Difficulty) -> dict[str, t.Any]:
    return {"tier": d.tier, "score": d.score, "features": dict(d.features)}
