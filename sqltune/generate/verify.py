"""Verification: canonical form, skeleton, masked-column safety, execution and result fingerprints.

A candidate is dropped (with the reason counted) when it errors, times out, returns nothing,
returns more than ``max_rows`` rows, is non-deterministic (a tie at a LIMIT boundary, or rows in
an order its ORDER BY does not fix), or duplicates another after canonicalisation.

>>> import sqlglot
>>> a = sqlglot.parse_one('SELECT COUNT(*) AS n FROM t AS x WHERE x.b = 2 AND x.a IN (3, 1)', read="duckdb")
>>> b = sqlglot.parse_one('SELECT COUNT(*) AS m FROM t AS y WHERE y.a IN (1, 3) AND y.b = 2', read="duckdb")
>>> canonical(a) == canonical(b)
True
>>> skeleton(canonical(a))
'SELECT COUNT(*) AS _ FROM _ AS _ WHERE _._ = ? AND _._ IN (?, ?)'
>>> fingerprint([(1, 2.0000001)], ordered=False) == fingerprint([(1, 2.0)], ordered=False)
True
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import typing as t
from dataclasses import dataclass

import duckdb

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from sqltune.sandbox import Sandbox

_DUCKDB = Dialect.get_or_raise("duckdb")


def to_sql(tree: exp.Expression, copy: bool = False) -> str:
    """DuckDB SQL of ``tree``; without the defensive copy sqlglot makes by default (our trees are
    built, not parsed, and the DuckDB generator leaves them unchanged)."""
    return _DUCKDB.generate(tree, copy=copy)

#: Reasons a candidate is dropped.
REASONS = ("no_candidate", "production_error", "duplicate", "question_clash", "tier_full", "masked_leak",
           "error", "timeout", "empty", "too_many_rows", "tie_at_limit", "ambiguous_order",
           "unverifiable_order", "limit_without_order", "unsafe")


@dataclass(frozen=True)
class Outcome:
    """What running one candidate showed."""

    reason: str | None
    row_count: int = 0
    fingerprint: str = ""
    elapsed_s: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None


def _normalise(tree: exp.Expression, rename: bool) -> exp.Expression:
    """In place: rename aliases (``a0``, ``a1`` … in order), drop explicit ASC, sort IN lists and the
    operands of AND chains. Returns the root (a new node when the root itself is an AND chain)."""
    names: dict[str, str] = {}
    idents, ins, ands = [], [], []
    for node in tree.walk():
        if isinstance(node, (exp.Alias, exp.CTE)) or isinstance(node, exp.TableAlias):
            name = node.name if isinstance(node, exp.TableAlias) else node.alias
            if rename and name and name not in names:
                names[name] = f"a{len(names)}"
        elif isinstance(node, exp.Identifier):
            idents.append(node)
        elif isinstance(node, exp.In) and node.expressions:
            ins.append(node)
        elif isinstance(node, exp.And):
            ands.append(node)
        elif isinstance(node, exp.Ordered) and not node.args.get("desc"):
            node.set("desc", None)
    for ident in idents:
        if ident.this in names and not ident.quoted:
            ident.set("this", names[ident.this])
    for node in ins:
        node.set("expressions", sorted(node.expressions, key=_order_key))
    for node in ands:
        if isinstance(node.parent, exp.And) or (isinstance(node.parent, exp.Paren)
                                                 and isinstance(node.parent.parent, exp.And)):
            continue
        flat: list[exp.Expression] = []
        stack = [node]
        while stack:
            cur = stack.pop()
            if isinstance(cur, exp.Paren) and isinstance(cur.this, exp.And):
                cur = cur.this
            if isinstance(cur, exp.And):
                stack += [cur.expression, cur.this]
            else:
                flat.append(cur)
        flat.sort(key=_order_key)
        new = flat[0]
        for f in flat[1:]:
            new = exp.And(this=new, expression=f)
        if node is tree:
            return new
        node.replace(new)
    return tree


def _order_key(node: exp.Expression) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Sort key of a subtree: its shape (node classes in walk order) first, then its names and values."""
    nodes = list(node.walk())
    return (tuple(type(n).__name__ for n in nodes),
            tuple(f"{n.this}|{n.args.get('quoted') or n.args.get('is_string')}" for n in nodes
                  if isinstance(n, (exp.Identifier, exp.Literal))))


def canonical(tree: exp.Expression) -> str:
    """A normalised text of the tree: aliases renamed in order, AND operands and IN lists sorted.

    The tree itself keeps its aliases but is left with sorted IN lists and AND operands.
    """
    renamed = [(ident, ident.this) for ident in tree.find_all(exp.Identifier) if not ident.quoted]
    root = _normalise(tree, rename=True)
    try:
        return to_sql(root)
    finally:
        for ident, name in renamed:
            ident.set("this", name)


def skeleton(sql: str) -> str:
    """The SQL with identifiers as ``_`` and literals as ``?``, keywords and function names kept.

    Pass the :func:`canonical` text, so that AND operands and IN lists are already in a shape-first
    order (the unit ``val_skeleton`` holds out). DuckDB's own tokenizer splits the text.
    """
    tokens = duckdb.tokenize(sql)
    out = []
    for i, (start, kind) in enumerate(tokens):
        end = tokens[i + 1][0] if i + 1 < len(tokens) else len(sql)
        text = sql[start:end]
        core = text.rstrip()
        name = getattr(kind, "name", str(kind))
        if name == "identifier" and not sql[start + len(core):].lstrip().startswith("("):
            core = "_"
        elif name in ("numeric_const", "string_const"):
            core = "?"
        out.append(core + text[len(text.rstrip()):])
    return "".join(out).strip()


def masked_leak(tree: exp.Expression, masked: t.Collection[str]) -> bool:
    """True when a masked column (by name) appears anywhere but inside COUNT(...) or ``IS [NOT] NULL``."""
    if not masked:
        return False
    for col in tree.find_all(exp.Column):
        if col.name not in masked:
            continue
        parent = col.parent
        if isinstance(parent, exp.Is) or col.find_ancestor(exp.Count) is not None:
            continue
        return True
    return False


def _projections(tree: exp.Expression) -> list[exp.Expression]:
    node = tree
    while isinstance(node, exp.SetOperation):
        node = node.this
    return list(node.expressions) if isinstance(node, exp.Select) else []


def order_keys(tree: exp.Expression) -> list[int] | None:
    """Result-column positions of the outer ORDER BY keys; ``None`` when one is not projected."""
    order = tree.args.get("order")
    if order is None:
        return []
    proj = _projections(tree)
    out = []
    for o in order.expressions:
        key = o.this
        idx = None
        if isinstance(key, exp.Literal) and key.is_int:
            idx = int(key.this) - 1
        else:
            for i, p in enumerate(proj):
                inner = p.this if isinstance(p, exp.Alias) else p
                by_name = isinstance(key, exp.Column) and key.name == p.alias_or_name and (
                    not key.table or isinstance(inner, exp.Column))
                if by_name or inner == key:
                    idx = i
                    break
        if idx is None or not 0 <= idx < len(proj):
            return None
        out.append(idx)
    return out


@dataclass(frozen=True)
class Plan:
    """How to run and judge one candidate; built in the generating process, checked anywhere."""

    sql: str
    limit: int | None
    keys: tuple[int, ...]
    tiebreak: int
    timeout_s: float
    max_rows: int
    allow_empty: bool

    def to_dict(self) -> dict[str, t.Any]:
        return {"sql": self.sql, "limit": self.limit, "keys": list(self.keys), "tiebreak": self.tiebreak,
                "timeout_s": self.timeout_s, "max_rows": self.max_rows, "allow_empty": self.allow_empty}

    @classmethod
    def from_dict(cls, d: t.Mapping[str, t.Any]) -> Plan:
        return cls(d["sql"], d["limit"], tuple(d["keys"]), d["tiebreak"], d["timeout_s"], d["max_rows"],
                   d["allow_empty"])


def plan(tree: exp.Query, sql: str, *, timeout_s: float, max_rows: int, tiebreak: int = 0,
         allow_empty: bool = False) -> Plan | Outcome:
    """The :class:`Plan` for ``tree`` (whose SQL text is ``sql``), or an :class:`Outcome` refusing it."""
    keys = order_keys(tree)
    if keys is None:
        return Outcome("unverifiable_order")
    limit_node = tree.args.get("limit")
    k = None
    if limit_node is not None:
        if not keys:
            return Outcome("limit_without_order")
        k = int(limit_node.expression.this)
        sql = to_sql(tree.copy().limit(k + 1, copy=False))
    return Plan(sql, k, tuple(keys), tiebreak, timeout_s, max_rows, allow_empty)


def check(box: Sandbox, p: Plan) -> Outcome:
    """Execute a plan and decide whether its query is a keepable, deterministic one."""
    res = box.execute(p.sql, timeout_s=p.timeout_s, row_cap=p.max_rows)
    if res.status.value == "timeout":
        return Outcome("timeout", elapsed_s=res.elapsed_s)
    if res.status.value == "unsafe":
        return Outcome("unsafe", error=res.error_message)
    if not res.ok:
        return Outcome("error", elapsed_s=res.elapsed_s, error=f"{res.error_class}: {res.error_message}")
    if res.truncated:
        return Outcome("too_many_rows", elapsed_s=res.elapsed_s)
    rows = list(res.rows)
    keys = list(p.keys)
    if p.limit is not None:
        rows, spill = rows[: p.limit], rows[p.limit:]
        primary = keys[: len(keys) - p.tiebreak] or keys
        if spill and rows and _key(rows[-1], primary) == _key(spill[0], primary) and rows[-1] != spill[0]:
            return Outcome("tie_at_limit", elapsed_s=res.elapsed_s)
    if keys:
        for a, b in zip(rows, rows[1:]):
            if _key(a, keys) == _key(b, keys) and a != b:
                return Outcome("ambiguous_order", elapsed_s=res.elapsed_s)
    if not p.allow_empty and (not rows or (len(rows) == 1 and all(v is None for v in rows[0]))):
        return Outcome("empty", elapsed_s=res.elapsed_s)
    return Outcome(None, len(rows), fingerprint(rows, ordered=bool(keys)), res.elapsed_s)


def run(box: Sandbox, tree: exp.Query, *, timeout_s: float, max_rows: int, tiebreak: int = 0,
        allow_empty: bool = False) -> Outcome:
    """Plan and check ``tree`` in one go."""
    p = plan(tree, to_sql(tree), timeout_s=timeout_s, max_rows=max_rows, tiebreak=tiebreak,
             allow_empty=allow_empty)
    return p if isinstance(p, Outcome) else check(box, p)


def _key(row: tuple[t.Any, ...], keys: list[int]) -> tuple[t.Any, ...]:
    return tuple(row[i] for i in keys)


def norm(v: t.Any) -> t.Any:
    """A result value in a stable, comparable form (floats to 6 significant digits)."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return float(f"{v:.6g}") if v == v else "nan"
    if isinstance(v, decimal.Decimal):
        return float(f"{float(v):.6g}") if v.as_tuple().exponent < -6 or abs(v) > 10 ** 12 else str(v.normalize())
    if isinstance(v, (dt.date, dt.datetime, dt.time)):
        return v.isoformat()
    return str(v)


def fingerprint(rows: t.Sequence[t.Sequence[t.Any]], ordered: bool) -> str:
    """Hash of the normalised rows; unordered results are sorted first."""
    data = [json.dumps([norm(v) for v in r], sort_keys=True, default=str) for r in rows]
    if not ordered:
        data.sort()
    return hashlib.sha256("\n".join(data).encode()).hexdigest()[:16]
