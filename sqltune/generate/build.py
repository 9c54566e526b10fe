"""Building one candidate: steered choices, exact identifiers, literals from the data, and the meaning.

A :class:`Draft` records everything a query touches as the production builds it, so coverage,
the pair record and the question all come from the same place.

>>> import random
>>> from sqltune.schema import Column, ColumnProfile, Schema, Table
>>> from sqltune.generate.catalog import Catalog
>>> from sqltune.generate.coverage import Coverage
>>> col = Column("Segment", "VARCHAR", "text", profile=ColumnProfile(distinct_count=2, values=("ENT", "SMB")))
>>> cat = Catalog.build(Schema("shop", "duckdb", (Table("main", "Customer", (col,), row_count=5),),
...                            default_schema="main"))
>>> d = Draft(cat, random.Random(0), Coverage())
>>> ti = cat.table("main.Customer")
>>> tree, cond = d.cond(ti.columns[0], None, ti, kinds=("eq",))
>>> tree.sql("duckdb"), d.columns, cond.op
('"Segment" = \\'ENT\\'', ['main.Customer.Segment'], 'eq')
"""

from __future__ import annotations

import random
import typing as t

from sqlglot import exp

from sqltune.generate import literals
from sqltune.generate.catalog import Catalog, ColumnInfo, Edge, TableInfo
from sqltune.generate.coverage import Coverage, value_key
from sqltune.generate.meaning import Cond, Ent, Ref, Val
from sqltune.identifiers import identifier, needs_quotes, table_expression

T = t.TypeVar("T")


def ent(ti: TableInfo) -> Ent:
    return Ent(ti.names, ti.noun, ti.nouns)


class Draft:
    """One candidate under construction."""

    def __init__(self, cat: Catalog, rng: random.Random, cov: Coverage, masked_usage: str = "aggregate_only") -> None:
        self.cat, self.rng, self.cov, self.masked_usage = cat, rng, cov, masked_usage
        self.tables: list[str] = []
        self.columns: list[str] = []
        self.values: list[tuple[str, t.Any]] = []
        self.joins: list[str] = []
        self.tiebreak = 0  # trailing ORDER BY keys that only break ties (not checked at a LIMIT boundary)
        self._aliases: set[str] = set()
        self.alias_owner: dict[str, Ent] = {}  # how a question names a joined table (``parent category``)

    # ------------------------------------------------------------------ choices
    def pick(self, items: t.Sequence[T], weights: t.Sequence[float] | None = None) -> T | None:
        if not items:
            return None
        if weights is None:
            return items[self.rng.randrange(len(items))]
        return self.rng.choices(list(items), weights=list(weights), k=1)[0]

    def pick_table(self, pred: t.Callable[[TableInfo], bool] = lambda ti: True) -> TableInfo | None:
        pool = [ti for ti in self.cat.tables if ti.rows > 0 and pred(ti)]
        return self.pick(pool, [self.cov.table_weight(ti) for ti in pool])

    def pick_col(self, ti: TableInfo, roles: t.Collection[str] = (), pred: t.Callable[[ColumnInfo], bool] = lambda c: True,
                 exclude: t.Collection[ColumnInfo] = ()) -> ColumnInfo | None:
        pool = [c for c in ti.columns if c.usable and (not roles or c.role in roles) and pred(c) and c not in exclude]
        return self.pick(pool, [self.cov.column_weight(c.ref) for c in pool])

    def pick_edge(self, pred: t.Callable[[Edge], bool] = lambda e: True) -> Edge | None:
        pool = [e for e in self.cat.edges if pred(e)]
        weights = [self.cov.weight("join", e.label) + 0.05 * (self.cov.table_weight(e.src) + self.cov.table_weight(e.dst))
                   for e in pool]
        return self.pick(pool, weights)

    def pick_values(self, ci: ColumnInfo, k: int = 1) -> list[t.Any]:
        """``k`` distinct real values of ``ci`` (categorical ones steered toward the least used)."""
        pool = list(ci.pool)
        out: list[t.Any] = []
        for _ in range(min(k, len(pool))):
            weights = [self.cov.weight("value", value_key(ci.ref, v)) for v in pool] if ci.role == "category" else None
            v = self.pick(pool, weights)
            out.append(v)
            pool.remove(v)
        return out

    # ------------------------------------------------------------------- nodes
    def alias(self, ti: TableInfo) -> str:
        words = [w for w in ti.noun.replace("-", " ").split() if w[:1].isalpha()]
        base = "".join(w[0] for w in words).lower() or "t"
        name, i = base, 2
        while name in self._aliases or needs_quotes(name):
            name, i = f"{base}{i}", i + 1
        self._aliases.add(name)
        return name

    def source(self, ti: TableInfo, alias: str | None = None) -> exp.Table:
        self._touch_table(ti)
        node = table_expression(ti.table.key, "duckdb", self.cat.schema.default_schema)
        if alias:
            node.set("alias", exp.TableAlias(this=identifier(alias)))
        return node

    def col(self, ci: ColumnInfo, alias: str | None = None) -> exp.Column:
        self._touch_table(ci.table)
        if ci.ref not in self.columns:
            self.columns.append(ci.ref)
        return exp.Column(this=identifier(ci.name), table=identifier(alias) if alias else None)

    def lit(self, ci: ColumnInfo, value: t.Any) -> exp.Expression:
        node = literals.literal(ci, value)
        if (ci.ref, value) not in self.values:
            self.values.append((ci.ref, value))
        return node

    def join_on(self, edge: Edge, src_alias: str | None, dst_alias: str | None) -> exp.Expression:
        if edge.label not in self.joins:
            self.joins.append(edge.label)
        parts = [exp.EQ(this=self.col(a, src_alias), expression=self.col(b, dst_alias))
                 for a, b in zip(edge.src_cols, edge.dst_cols)]
        return exp.and_(*parts) if len(parts) > 1 else parts[0]

    def adopt(self, tables: t.Iterable[tuple[str, TableInfo]]) -> None:
        """Take over ``(alias, table)`` pairs written elsewhere (a dictionary metric's FROM clause):
        the tables count as used, and new aliases avoid theirs."""
        for alias, ti in tables:
            self._aliases.add(alias)
            self._touch_table(ti)

    def _touch_table(self, ti: TableInfo) -> None:
        if ti.key not in self.tables:
            self.tables.append(ti.key)

    @staticmethod
    def name(expr: exp.Expression, alias: str) -> exp.Alias:
        return exp.Alias(this=expr, alias=identifier(alias))

    def ref(self, ci: ColumnInfo, subject: TableInfo | None, alias: str | None = None) -> Ref:
        if alias in self.alias_owner:
            return Ref(ci.names, self.alias_owner[alias])
        return Ref(ci.names, None if subject is None or ci.table is subject else ent(ci.table))

    def val(self, ci: ColumnInfo, v: t.Any) -> Val:
        return Val(literals.shown(v, ci.type), ci.meanings.get(str(v)))

    # -------------------------------------------------------------- conditions
    def cond(self, ci: ColumnInfo, alias: str | None, subject: TableInfo | None,
             kinds: t.Collection[str] | None = None) -> tuple[exp.Expression, Cond] | None:
        """A filter on ``ci`` with values from its data; ``kinds`` limits the operators."""
        options = self._cond_kinds(ci)
        if kinds is not None:
            options = [k for k in options if k in kinds]
        kind = self.pick(options)
        if kind is None:
            return None
        ref = self.ref(ci, subject, alias)
        c = lambda: self.col(ci, alias)  # noqa: E731
        if kind in ("null", "notnull"):
            node: exp.Expression = exp.Is(this=c(), expression=exp.Null())
            return (node if kind == "null" else exp.Not(this=node)), Cond(ref, kind)
        if kind in ("true", "false"):
            return exp.EQ(this=c(), expression=exp.true() if kind == "true" else exp.false()), Cond(ref, kind)
        if kind == "term":
            g = self.pick(self.cat.terms_for(ci))
            assert g is not None
            vals = tuple(self.val(ci, v) for v in g.values)
            op = {"=": "eq", "IN": "in", "!=": "ne", ">": "gt", ">=": "ge", "<": "lt", "<=": "le"}.get(g.op)
            if op is None or len(g.values) < 1:
                return None
            return self._compare(op, c(), [self.lit(ci, v) for v in g.values]), Cond(ref, op, vals, term=g.term)
        if kind in ("year", "month"):
            return self._period(ci, c, ref, kind)
        count = {"in": self.rng.choice((2, 3, 3, 4)), "between": 2}.get(kind, 1)
        values = self.pick_values(ci, count)
        if len(values) < count:
            return None
        if kind == "between":
            values = sorted(values, key=_sort_key)
            if values[0] == values[1]:
                return None
        if kind == "prefix":
            prefix = _prefix(str(values[0]))
            if prefix is None:
                return None
            like = exp.Like(this=c(), expression=exp.Literal.string(prefix + "%"))
            self.values.append((ci.ref, prefix + "%"))
            return like, Cond(ref, "prefix", (Val(f"'{prefix}'"),))
        if kind == "in":
            values = sorted(values, key=_sort_key)
        nodes = [self.lit(ci, v) for v in values]
        return self._compare(kind, c(), nodes), Cond(ref, kind, tuple(self.val(ci, v) for v in values))

    def _cond_kinds(self, ci: ColumnInfo) -> list[str]:
        if ci.role == "masked":
            return ["null", "notnull"] if self.masked_usage == "aggregate_only" else []
        kinds: list[str] = []
        if ci.role == "category":
            kinds += ["eq", "eq", "eq", "in", "in", "ne"] if len(ci.values) > 3 else (
                ["eq", "eq", "in", "ne"] if len(ci.values) > 2 else ["eq", "eq"])
            if len(ci.values) > 3 and self.cov.value_deficit(ci.ref) >= 3 * self.cov.k:
                kinds += ["in", "in", "in"]  # many codes never used yet: name several at once
            if ci.type in ("integer", "decimal") and len(ci.values) > 3:
                kinds += ["ge", "lt"]
            if self.cat.terms_for(ci):
                kinds += ["term", "term", "term"]
        elif ci.role == "measure":
            kinds += ["gt", "ge", "lt", "le", "between"] if not ci.is_year else ["eq", "ge", "lt"]
            if self.cat.terms_for(ci):
                kinds += ["term", "term"]
        elif ci.role == "date":
            kinds += ["year", "year", "month", "after", "before", "between"]
        elif ci.role == "label":
            kinds += ["eq", "eq", "prefix"] if ci.type == "text" else ["eq"]
        elif ci.role == "key":
            kinds += ["eq"]
        elif ci.role == "flag":
            kinds += ["true", "false"]
        if ci.role != "category" and not ci.pool and ci.role not in ("flag",):
            kinds = [k for k in kinds if k in ("year", "month")] if ci.role == "date" else []
        if ci.null_fraction > 0:
            kinds += ["null", "notnull"]
        return kinds

    @staticmethod
    def _compare(kind: str, left: exp.Expression, nodes: list[exp.Expression]) -> exp.Expression:
        ops = {"eq": exp.EQ, "ne": exp.NEQ, "gt": exp.GT, "ge": exp.GTE, "lt": exp.LT, "le": exp.LTE,
               "after": exp.GTE, "before": exp.LT}
        if kind == "in":
            return exp.In(this=left, expressions=nodes) if len(nodes) > 1 else exp.EQ(this=left, expression=nodes[0])
        if kind == "between":
            return exp.Between(this=left, low=nodes[0], high=nodes[1])
        return ops[kind](this=left, expression=nodes[0])

    def _period(self, ci: ColumnInfo, c: t.Callable[[], exp.Expression], ref: Ref, kind: str
                ) -> tuple[exp.Expression, Cond] | None:
        dates = [d for d in (literals.as_date(v) for v in ci.pool) if d is not None]
        if not dates:
            return None
        d = self.pick(dates)
        assert d is not None
        if kind == "year":
            lo, hi = d.replace(month=1, day=1), d.replace(year=d.year + 1, month=1, day=1)
            shown = str(d.year)
        else:
            lo = d.replace(day=1)
            hi = lo.replace(year=lo.year + (lo.month == 12), month=lo.month % 12 + 1)
            shown = lo.strftime("%B %Y")
        node = exp.and_(exp.GTE(this=c(), expression=literals.literal(ci, lo.isoformat())),
                        exp.LT(this=c(), expression=literals.literal(ci, hi.isoformat())))
        period = lo.isoformat()[:4] if kind == "year" else lo.isoformat()[:7]
        if (ci.ref, period) not in self.values:  # the period is the value; its bounds are derived from it
            self.values.append((ci.ref, period))
        return node, Cond(ref, kind, (Val(shown),))


def _sort_key(v: t.Any) -> tuple[int, t.Any]:
    return (0, v) if isinstance(v, (int, float)) and not isinstance(v, bool) else (1, str(v))


def _prefix(text: str) -> str | None:
    words = text.split()
    if len(words) >= 2 and len(words[0]) >= 3 and "%" not in words[0] and "_" not in words[0]:
        return words[0]
    if len(text) >= 6 and text[:4].isalnum():
        return text[:4]
    return None
