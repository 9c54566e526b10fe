"""What a query means, recorded by the production that builds it; questions are rendered from this.

>>> from sqltune.generate.catalog import Names
>>> status = Ref(Names("order status", "order status", "order status", "STATUS"))
>>> c = Cond(status, "eq", (Val("'CANC'", "cancelled"),))
>>> m = Meaning("count", Ent(Names("order", "customer orders", "order", "sales.OrderHeader"), "order", "orders"),
...             conds=(c,))
>>> m.intent, m.conds[0].vals[0].meaning
('count', 'cancelled')
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

from sqltune.generate.catalog import Names


@dataclass(frozen=True)
class Val:
    """A literal as a question shows it (``'ECOM'``, ``2024-03-01``, ``25``) and what it means, if known."""

    text: str
    meaning: str | None = None


@dataclass(frozen=True)
class Ent:
    """A table as the subject of a question."""

    names: Names
    noun: str
    nouns: str


@dataclass(frozen=True)
class Ref:
    """A column; ``owner`` is its table when that is not the question's subject."""

    names: Names
    owner: Ent | None = None


@dataclass(frozen=True)
class Cond:
    """One filter: ``op`` is eq, ne, in, gt, ge, lt, le, between, year, month, after, before, null,
    notnull, prefix, true or false; ``term`` a glossary term stating the whole condition."""

    col: Ref
    op: str
    vals: tuple[Val, ...] = ()
    term: str | None = None


@dataclass
class Meaning:
    """The intent of a query and its slots (fields, measure, aggregate, groups, limits…)."""

    intent: str
    subject: Ent
    conds: tuple[Cond, ...] = ()
    slots: dict[str, t.Any] = field(default_factory=dict)
