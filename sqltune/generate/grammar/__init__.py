"""The typed grammar: every production, by the tier it aims at.

A production is a function ``build(draft) -> (tree, meaning) | None``; it returns ``None`` when
the schema offers nothing it can use. The tier that counts is the one measured afterwards.

>>> sorted({p.tier for p in PRODUCTIONS})
['easy', 'hard', 'medium']
>>> len(PRODUCTIONS) >= 30
True
"""

from __future__ import annotations

from sqltune.generate.grammar import easy, hard, medium, metric  # noqa: F401  (registration)
from sqltune.generate.grammar.common import REGISTRY, Production

PRODUCTIONS: tuple[Production, ...] = tuple(REGISTRY)

__all__ = ["PRODUCTIONS", "Production", "by_tier"]


def by_tier(tier: str) -> tuple[Production, ...]:
    return tuple(p for p in PRODUCTIONS if p.tier == tier)
