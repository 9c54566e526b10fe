"""Inferring join paths that the database does not declare.

Warehouses rarely declare foreign keys, so sqltune proposes them from two kinds of evidence:

* **name**: the referencing column's name points at the key (``rtl_id`` → ``RTL_ID``;
  ``ship_from_dc`` → ``DC_ID``; ``retailer_id`` → ``retailer.id``), with abbreviations and
  acronyms matched token by token;
* **values**: the referencing column's distinct values are contained in the key's values.

A candidate needs both. The target must be a key (primary, unique, or unique in the data); a
column that is its own table's primary key never references another table (a table may
reference itself: ``PARENT_RTL_ID`` → ``RETAILER_ID``); and generic names
(``id``, ``code``, ``status``, ``name`` …) only count when the target table's name backs them up,
so that same-named columns with different meanings are not joined.

>>> tokens("ShipFromDCId")
('ship', 'from', 'dc', 'id')
>>> name_score("rtl_id", "sales.orders", "RTL_ID", "mdm.retailer")
1.0
>>> name_score("STATUS", "sales.orders", "STATUS", "logistics.shipment")
0.0
"""

from __future__ import annotations

import re
import typing as t
from dataclasses import dataclass

from sqltune.identifiers import render_identifier
from sqltune.sandbox import Sandbox
from sqltune.schema import Column, Join, Table, TableKey

_SUFFIX = {"id", "cd", "code", "nbr", "num", "no", "number", "key", "sk", "fk", "ref"}
_GENERIC = {"id", "code", "cd", "name", "nm", "status", "type", "key", "nbr", "num", "no", "number", "desc",
            "description", "value", "date", "dt", "flag", "level", "region", "category"}
_JOINABLE = {"integer", "text", "uuid", "decimal"}
#: Warehouse table-name prefixes that say what kind of table it is, not what it holds.
_TABLE_PREFIX = {"dim", "fact", "fct", "tbl", "stg", "lkp", "ref", "d", "f", "t"}
#: Short forms too short to be caught as abbreviations, and synonyms common in warehouses.
_ALIASES = {"dt": ("date",), "vendor": ("supplier",), "study": ("trial",), "client": ("customer",),
            "item": ("product", "sku"), "patient": ("subject",), "cust": ("customer",)}


@dataclass(frozen=True)
class JoinOptions:
    min_confidence: float = 0.75
    min_containment: float = 0.95
    timeout_s: float = 5.0


def tokens(name: str) -> tuple[str, ...]:
    """Split an identifier into lower-case words at underscores, digits and case changes."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", spaced)
    return tuple(w.lower() for w in re.split(r"[^A-Za-z0-9]+|(?<=[a-zA-Z])(?=[0-9])", spaced) if w)


def _stem(words: t.Sequence[str]) -> tuple[str, ...]:
    return tuple(w for w in words if w not in _SUFFIX)


def _singular(w: str) -> str:
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith("s") and not w.endswith("ss") and len(w) > 3:
        return w[:-1]
    return w


def word_match(short: str, long: str) -> bool:
    """``rtl`` ~ ``retailer``, ``prod`` ~ ``product``, ``whse`` ~ ``warehouse``, ``vendor`` ~ ``supp``."""
    if any(_abbrev(x, y) for x in (short, *_ALIASES.get(short, ())) for y in (long, *_ALIASES.get(long, ()))):
        return True
    return False


def _abbrev(short: str, long: str) -> bool:
    a, b = _singular(short), _singular(long)
    if a == b:
        return True
    if len(a) > len(b):
        a, b = b, a
    if len(a) < 2 or a[0] != b[0]:
        return False
    if b.startswith(a) and len(a) >= 3:
        return True
    it = iter(b)
    return len(a) >= 3 and all(ch in it for ch in a)


def _phrase_match(words: t.Sequence[str], target: t.Sequence[str]) -> bool:
    """All of ``target`` is named by ``words``: word by word, or as an acronym (``dc``)."""
    if not target:
        return False
    if all(any(word_match(w, x) for w in words) for x in target):
        return True
    acronym = "".join(x[0] for x in target)
    return len(target) > 1 and acronym in words


def name_score(col: str, table: str, key_col: str, key_table: str) -> float:
    """How strongly ``table.col``'s name says it references ``key_table.key_col`` (0 … 1)."""
    cw, kw = tokens(col), tokens(key_col)
    table_words = tuple(w for w in _stem(tokens(key_table.rsplit(".", 1)[-1])) if w not in _TABLE_PREFIX)
    generic = all(w in _GENERIC for w in kw)
    if "".join(cw) == "".join(kw) and not generic:
        return 1.0
    cstem, kstem = _stem(cw), _stem(kw)
    if generic:  # e.g. key "id" or "CODE": the column must name the key's table
        if cstem and _phrase_match(cstem, table_words) and set(cw) & _SUFFIX:
            return 0.9
        return 0.0
    if kstem and cstem and _phrase_match(cstem, kstem):
        return 0.8 if len(cstem) > len(kstem) else 0.9
    if kstem and cstem and _phrase_match(cstem, table_words) and set(cw) & _SUFFIX:
        return 0.7
    return 0.0


def infer_joins(box: Sandbox, tables: t.Sequence[Table], declared: t.Sequence[Join],
                relation: t.Callable[[Table], str], opts: JoinOptions = JoinOptions()) -> tuple[Join, ...]:
    """Propose undeclared single-column joins between ``tables``; best target per column."""
    known = {(j.from_table, j.from_columns) for j in declared}
    targets = [(tb, c) for tb in tables for c in tb.columns if _is_key(tb, c)]
    found: list[Join] = []
    for tb in tables:
        for col in tb.columns:
            if col.type not in _JOINABLE or (tb.key, (col.name,)) in known:
                continue
            if tb.primary_key == (col.name,) or (col.profile and col.profile.distinct_count in (0, None)):
                continue
            best: Join | None = None
            for ktb, kcol in targets:
                if kcol is col or not _compatible(col, kcol):
                    continue
                score = name_score(col.name, str(tb.key), kcol.name, str(ktb.key))
                if score == 0.0:
                    continue
                contained = _containment(box, relation(tb), col, relation(ktb), kcol, opts.timeout_s)
                if contained is None or contained < opts.min_containment:
                    continue
                confidence = round(0.5 * score + 0.5 * contained, 3)
                if confidence >= opts.min_confidence and (best is None or confidence > best.confidence):
                    best = Join(tb.key, (col.name,), ktb.key, (kcol.name,), source="inferred",
                                confidence=confidence, evidence=f"name {score:.2f}, values {contained:.2f}")
            if best is not None:
                found.append(best)
    return tuple(found)


def _is_key(table: Table, col: Column) -> bool:
    return col.type in _JOINABLE and (table.primary_key == (col.name,) or col.unique)


def _compatible(a: Column, b: Column) -> bool:
    numeric = {"integer", "decimal"}
    return a.type == b.type or (a.type in numeric and b.type in numeric)


def _containment(box: Sandbox, rel: str, col: Column, key_rel: str, key: Column, timeout_s: float) -> float | None:
    a, b = render_identifier(col.name), render_identifier(key.name)
    res = box.execute(
        f"SELECT count(DISTINCT s.{a}), count(DISTINCT s.{a}) FILTER (WHERE s.{a} IN (SELECT k.{b} FROM {key_rel} k)) "
        f"FROM {rel} s",
        timeout_s=timeout_s, row_cap=1,
    )
    if not res.ok or not res.rows or not res.rows[0][0]:
        return None
    total, hit = res.rows[0]
    return hit / total


