"""Regenerating only what changed: pairs over changed tables are replaced, the rest are kept.

A pair is stale when one of its tables changed (structure, values, joins, docs or data: see
:mod:`sqltune.onboard.basis`), was removed, or when a join it uses is gone. New pairs come from
:func:`sqltune.generate.generate` run on a sub-schema: the changed tables plus the tables they
join to (so joins out of a changed table can still be generated), keeping only SQL that touches
a changed table and is not already kept. It asks for twice the pairs it needs and keeps whole
SQL groups (all phrasings of one SQL) until the stale pairs of tables that still exist are
replaced, plus, for added tables, their share of ``n`` (``n`` × added / tables); pairs of removed
tables are not replaced. Generation is deterministic for a seed, so the same change gives the same
pairs.

>>> from sqltune.schema import Schema, Table, Column, Join, TableKey
>>> tb = lambda n: Table("s", n, (Column("id", "INTEGER", "integer"),))
>>> j = Join(TableKey("s", "a"), ("id",), TableKey("s", "b"), ("id",))
>>> s = Schema("x", "duckdb", (tb("a"), tb("b"), tb("c")), joins=(j,))
>>> sorted(str(t.key) for t in sub_schema(s, {"s.a"}).tables)
['s.a', 's.b']
"""

from __future__ import annotations

import dataclasses
import typing as t
from collections import Counter
from pathlib import Path

from sqltune.generate import GenerateConfig, Pair, ProgressEvent, generate
from sqltune.onboard.files import group_by_sql, sql_id
from sqltune.schema import Schema

__all__ = ["Regeneration", "coverage_report", "pairs_header", "regenerate_changed", "sub_schema"]


@dataclasses.dataclass(frozen=True)
class Regeneration:
    """The merged pairs (kept first, then new, in file order) and what happened."""

    pairs: tuple[Pair, ...]
    kept: int
    dropped: int
    new: int
    target: int

    @property
    def shortfall(self) -> int:
        return max(0, self.target - self.new)


def sub_schema(schema: Schema, tables: t.Collection[str]) -> Schema:
    """``tables`` (``schema.table``) and every table joined to one of them, with the joins among those."""
    want = set(tables)
    for j in schema.joins:
        ends = {str(j.from_table), str(j.to_table)}
        if ends & set(tables):
            want |= ends
    keep = tuple(tb for tb in schema.tables if str(tb.key) in want)
    names = {str(tb.key) for tb in keep}
    joins = tuple(j for j in schema.joins if str(j.from_table) in names and str(j.to_table) in names)
    return dataclasses.replace(schema, tables=keep, joins=joins)


def regenerate_changed(
    schema: Schema, old_pairs: t.Sequence[Pair], changed: t.Collection[str], *, old_tables: t.Collection[str],
    n: int, seed: int, config: GenerateConfig, out: Path | None,
    progress: t.Callable[[ProgressEvent], None] | None = None,
) -> Regeneration:  # fmt: skip
    """Keep the pairs of ``old_pairs`` that no change touches; generate replacements for the rest.

    Args:
        schema: The current snapshot.
        changed: Tables (``schema.table``) added, removed or changed since ``old_pairs`` were made.
        old_tables: The tables of the snapshot ``old_pairs`` were made for.
        n, seed, config: The generation settings of the whole project.
        out: Scratch folder for the sub-run's resumable chunks.
    """
    current = {str(tb.key) for tb in schema.tables}
    joins = {str(j) for j in schema.joins}
    changed = set(changed)
    kept = [p for p in old_pairs
            if not (set(p.tables) & changed) and set(p.tables) <= current and set(p.joins) <= joins]
    dropped = len(old_pairs) - len(kept)
    targets = sorted(changed & current)
    added = [x for x in targets if x not in set(old_tables)]
    replace = sum(1 for p in old_pairs if set(p.tables) & set(targets))  # pairs of removed tables are not replaced
    target = replace + round(n * len(added) / max(1, len(current)))
    if not targets or target <= 0:
        return Regeneration(tuple(kept), len(kept), dropped, 0, 0)
    target = max(target, config.questions_per_sql)
    res = generate(sub_schema(schema, targets), n=2 * target, seed=seed, out=out, config=config, progress=progress)
    have = {sql_id(p) for p in kept}
    new: list[Pair] = []
    for key, group in group_by_sql(res.pairs).items():
        if key in have or not set(group[0].tables) & set(targets):
            continue
        if len(new) >= target:
            break
        new += group
    return Regeneration(tuple(kept + new), len(kept), dropped, len(new), target)


def coverage_report(schema: Schema, pairs: t.Sequence[Pair], config: GenerateConfig) -> dict[str, t.Any]:
    """The coverage report (``coverage.json``) of ``pairs`` over the whole of ``schema``: what
    :func:`sqltune.generate.generate` writes, recounted after pairs were kept and replaced."""
    from sqltune.generate.catalog import Catalog
    from sqltune.generate.coverage import Coverage, value_key

    cat = Catalog.build(schema, min_join_confidence=config.min_join_confidence, masked_usage=config.masked_usage)
    cov = Coverage(config.coverage_k, config.steer_boost, config.steer)
    cov.register_catalog(cat)
    for group in group_by_sql(pairs).values():
        p = group[0]
        cov.add({"table": list(p.tables), "column": list(p.columns), "join": list(p.joins),
                 "value": [value_key(ref, v) for ref, v in p.values]})
    return cov.report(config.max_unreachable_fraction)


def pairs_header(schema: Schema, pairs: t.Sequence[Pair], *, config: GenerateConfig, seed: int, n: int,
                 coverage: t.Mapping[str, t.Any], facts: int, base: t.Mapping[str, t.Any] | None = None,
                 extra: t.Mapping[str, t.Any] | None = None) -> dict[str, t.Any]:
    """The header line of ``pairs.jsonl`` for ``pairs`` (all of them, held-out ones included):
    ``base`` (a header ``generate`` wrote) with counts, fingerprints and coverage recomputed."""
    from sqltune.generate.config import STYLES, TIERS
    from sqltune.generate.questions import distinct_2, diversity
    from sqltune.generate.run import GENERATOR_VERSION

    groups = group_by_sql(pairs)
    tiers = Counter(g[0].tier for g in groups.values())
    div = [diversity([p.question for p in g]) for g in groups.values()]
    header = dict(base or {})
    header.update({
        "kind": "header", "format": 1, "generator": GENERATOR_VERSION, "schema": schema.name,
        "schema_fingerprint": schema.fingerprint(), "domain_hash": schema.domain_hash(), "seed": seed, "n": n,
        "config": config.to_dict(),
        "counts": {
            "pairs": len(pairs), "sql": len(groups),
            "sql_by_tier": {tier: tiers[tier] for tier in TIERS},
            "tier_mix": {tier: round(tiers[tier] / max(1, len(groups)), 4) for tier in TIERS},
            "splits": dict(sorted(Counter(p.split for p in pairs).items())),
            "styles": {s: sum(1 for p in pairs if p.style == s) for s in STYLES},
            "productions": dict(sorted(Counter(str(g[0].provenance.get("production")) for g in groups.values())
                                       .items())),
            "facts": facts,
        },
        "diversity": {
            "jaccard_distance": round(sum(d["jaccard_distance"] for d in div) / max(1, len(div)), 4),
            "distinct_2": round(sum(d["distinct_2"] for d in div) / max(1, len(div)), 4),
            "global_distinct_2": round(distinct_2([p.question for p in pairs]), 4),
        },
        "coverage": coverage["summary"],
    })  # fmt: skip
    header.update(extra or {})
    return header
