"""Schema linking: which tables and columns a question is about.

Used when the whole schema does not fit the prompt's token budget. A table scores for every
question word that names it, one of its columns, a word of their descriptions, a categorical
value it holds, or a glossary term that points at it; then the join paths between the chosen
tables are closed over, so the tables needed to connect them come along.

>>> from sqltune.schema import Schema, Table, Column, ColumnProfile, Join, TableKey
>>> a = Table("s", "RETAILER", (Column("RETAILER_ID", "INT", "integer", primary_key=True),
...     Column("CHNL_CD", "VARCHAR", "text", profile=ColumnProfile(values=("ECOM", "DTC")))))
>>> b = Table("s", "store", (Column("STORE_ID", "INT", "integer"), Column("rtl_id", "INT", "integer")))
>>> c = Table("s", "plant", (Column("PLANT_ID", "INT", "integer"),))
>>> j = Join(TableKey("s", "store"), ("rtl_id",), TableKey("s", "RETAILER"), ("RETAILER_ID",))
>>> s = Schema("x", "duckdb", (a, b, c), joins=(j,))
>>> [str(k) for k in link(s, "How many stores do ECOM retailers have?").tables]
['s.RETAILER', 's.store']
"""

from __future__ import annotations

import collections
import math
import re
import typing as t
from dataclasses import dataclass

from sqltune.introspect.joins import word_match, tokens
from sqltune.introspect.metrics import metric_columns, metrics_in
from sqltune.schema import Schema, TableKey

_STOP = set("""a an the of to in on for by with and or is are was were be been what which who whom how many much
per each all any from at as that this these those do does did have has had their its our your my me we you
they it show list give find get tell number count total average sum me please than more most less least top
""".split())


@dataclass(frozen=True)
class Linked:
    tables: tuple[TableKey, ...]
    columns: dict[TableKey, frozenset[str]]
    scores: dict[TableKey, float]


def words(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOP]


def link(schema: Schema, question: str, *, max_tables: int = 8) -> Linked:
    """Rank tables and columns by their relevance to ``question``; close over join paths."""
    q = words(question)
    qtext = f" {' '.join(re.findall(r'[a-z0-9]+', question.lower()))} "
    idf = _idf(schema)
    scores: dict[TableKey, float] = collections.defaultdict(float)
    columns: dict[TableKey, set[str]] = collections.defaultdict(set)
    for w in set(q):  # a word naming many tables or columns says little about any one of them
        named = [tb for tb in schema.tables if any(word_match(w, x) for x in tokens(tb.name) if len(x) > 1)]
        for tb in named:
            scores[tb.key] += 5.0 / len(named)
        hits = [(tb, c) for tb in schema.tables for c in tb.columns
                if any(word_match(w, x) for x in tokens(c.name) if len(x) > 1)]
        spread = len({tb.key for tb, _ in hits})
        for tb, c in hits:
            scores[tb.key] += 2.0 / spread / sum(1 for t2, _ in hits if t2.key == tb.key)
            columns[tb.key].add(c.name)
    for tb in schema.tables:
        scores[tb.key] += sum(idf.get(w, 0) for w in set(words(tb.doc or "")) & set(q)) / 2
        for col in tb.columns:
            s = 0.25 * sum(idf.get(w, 0) for w in set(words(col.doc or "")) & set(q))
            vals = col.profile.values if col.profile is not None and col.profile.values is not None else ()
            if not col.masked and any(_mentions(qtext, v) for v in vals):
                s += 4.0
            if s:
                scores[tb.key] += s
                columns[tb.key].add(col.name)
    for term in schema.glossary:
        if _mentions(qtext, term.term):
            for tb in schema.tables:
                hit = [c.name for c in tb.columns if c.name in term.means]
                if tb.name in term.means or hit:
                    scores[tb.key] += 4.0
                    columns[tb.key].update(hit)
    for metric in metrics_in(schema, question):
        for key, names in metric_columns(schema, metric).items():
            scores[key] += 6.0
            columns[key].update(names)
    ranked = sorted((k for k, v in scores.items() if v > 0), key=lambda k: (-scores[k], str(k)))
    chosen = ranked[:max_tables] or [tb.key for tb in schema.tables][:max_tables]
    chosen = _close_over_joins(schema, chosen)
    return Linked(tuple(chosen), {k: frozenset(v) for k, v in columns.items()}, dict(scores))


def _mentions(qtext: str, value: t.Any) -> bool:
    v = " ".join(re.findall(r"[a-z0-9]+", str(value).lower()))
    return bool(v) and len(v) >= 2 and f" {v} " in qtext


def _idf(schema: Schema) -> dict[str, float]:
    df: collections.Counter[str] = collections.Counter()
    n = 0
    for tb in schema.tables:
        for col in tb.columns:
            n += 1
            df.update(set(words(col.doc or "")))
    return {w: math.log((1 + n) / (1 + c)) for w, c in df.items()}


def _close_over_joins(schema: Schema, chosen: list[TableKey]) -> list[TableKey]:
    """Add the tables on shortest join paths between every chosen pair."""
    graph: dict[TableKey, set[TableKey]] = collections.defaultdict(set)
    for j in schema.joins:
        graph[j.from_table].add(j.to_table)
        graph[j.to_table].add(j.from_table)
    out = list(chosen)
    for i, a in enumerate(chosen):
        for b in chosen[i + 1:]:
            for k in _path(graph, a, b):
                if k not in out:
                    out.append(k)
    return out


def _path(graph: dict[TableKey, set[TableKey]], a: TableKey, b: TableKey, limit: int = 4) -> list[TableKey]:
    prev: dict[TableKey, TableKey | None] = {a: None}
    frontier = [a]
    for _ in range(limit):
        nxt = []
        for node in frontier:
            for nb in sorted(graph.get(node, ()), key=str):
                if nb not in prev:
                    prev[nb] = node
                    nxt.append(nb)
        if b in prev:
            path = []
            node: TableKey | None = b
            while node is not None:
                path.append(node)
                node = prev[node]
            return path[::-1]
        frontier = nxt
    return []
