"""Drafting an evalset skeleton from generated pairs, for experts to review.

The draft lives in ``<project>/evalsets/draft/`` (``draft.yaml`` + ``draft.jsonl``, the format of
:mod:`sqltune.evalset`, so ``load_evalset("draft", project_dir=...)`` finds it). It proposes
``per_tier`` cases per difficulty tier, each one distinct SQL of the generated pairs with its
``direct`` question, picked round-robin over the tiers so that tables, productions and skeletons
repeat as little as possible (ties broken by a seeded shuffle), and only if its result is
informative (rows, and not a single row of zeros and NULLs). Every proposed case is
``reviewed: false``: graders skip it until an expert accepts it (``sqltune evalset review``).

Re-drafting (a re-onboarding) never touches a reviewed case, nor one whose SQL a person edited;
an unreviewed drafted case stays while its SQL is still among the pairs and is replaced otherwise;
cases dropped in review (kept in ``draft.dropped.jsonl``) are never proposed again.

>>> from sqltune.generate import Pair
>>> def pair(i, tier, table):
...     return Pair(f"q{i}-direct", f"Question {i}?", f"SELECT {i} FROM {table}", "direct", tier, 0.0, (table,),
...                 (), (), (), "f", 1, "train", {"sql_id": f"q{i}", "production": "p"})
>>> pool = [pair(1, "easy", "s.a"), pair(2, "easy", "s.a"), pair(3, "easy", "s.b"), pair(4, "hard", "s.a")]
>>> [c["id"] for c in pick(pool, {"easy": 2, "medium": 2, "hard": 2}, seed=0)]  # the second easy one avoids s.a
['q1', 'q4', 'q3']
"""

from __future__ import annotations

import json
import random
import typing as t
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml

from sqltune import atomic
from sqltune.difficulty import TIERS
from sqltune.generate.records import Pair
from sqltune.onboard import files
from sqltune.onboard.holdout import normalise_sql

__all__ = ["DRAFT", "DraftUpdate", "draft_paths", "informative", "pick", "update_draft"]

#: The draft evalset's name inside a project (``evalsets/draft/``).
DRAFT: t.Final = "draft"


@dataclass(frozen=True)
class DraftUpdate:
    """What re-drafting did: case ids added, unreviewed ones replaced, reviewed ones whose tables
    changed (kept as they are: re-check them), and whether the files changed."""

    header: Path
    cases: Path
    added: tuple[str, ...]
    replaced: tuple[str, ...]
    stale_reviewed: tuple[str, ...]
    changed: bool


def draft_paths(project_dir: str | Path) -> tuple[Path, Path, Path]:
    """``(header, cases, dropped)`` paths of the project's draft evalset."""
    folder = Path(project_dir) / "evalsets" / DRAFT
    return folder / f"{DRAFT}.yaml", folder / f"{DRAFT}.jsonl", folder / f"{DRAFT}.dropped.jsonl"


def read_rows(path: Path) -> list[dict[str, t.Any]]:
    """The JSON objects of a JSONL file (blank lines skipped; ``[]`` when it does not exist)."""
    if not path.is_file():
        return []
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def _case(sql_id: str, group: list[Pair]) -> dict[str, t.Any]:
    first = next((p for p in group if p.style == "direct"), group[0])
    production = str(first.provenance.get("production", ""))
    return {
        "id": sql_id, "question": first.question, "gold_sql": first.sql, "difficulty": first.tier,
        "tags": ["drafted"] + ([production] if production else []),
        "notes": f"Drafted by sqltune onboard from pair {first.id} (production {production or '?'}; tables "
                 f"{', '.join(first.tables)}). Check the question has one reading and the SQL answers it exactly, "
                 "then accept it (sqltune evalset review).",
        "reviewed": False,
    }  # fmt: skip


def pick(pairs: t.Sequence[Pair], want: t.Mapping[str, int], *, seed: int, exclude: t.Collection[str] = (),
         used_tables: t.Mapping[str, int] | None = None,
         keep: t.Callable[[Pair], bool] | None = None) -> list[dict[str, t.Any]]:
    """Up to ``want[tier]`` new cases per tier from ``pairs`` (one per distinct SQL), as case dicts.

    ``exclude`` holds SQL ids and normalised SQL not to propose; ``used_tables`` counts tables the
    draft already uses; ``keep`` (when given) must accept a candidate's pair. Tiers take turns
    (easy, medium, hard, easy, …); each turn takes the candidate whose skeleton, tables and
    production are least used so far.
    """
    rng = random.Random(f"sqltune-draft:{seed}")
    pools: dict[str, list[tuple[str, list[Pair]]]] = {tier: [] for tier in TIERS}
    for sql_id, group in sorted(files.group_by_sql(pairs).items()):  # sorted: the draft does not depend on file order
        if sql_id in exclude or group[0].tier not in pools or normalise_sql(group[0].sql) in exclude:
            continue
        pools[group[0].tier].append((sql_id, group))
    for tier in TIERS:
        rng.shuffle(pools[tier])
    tables: Counter[str] = Counter(used_tables or {})
    productions: Counter[str] = Counter()
    skeletons: set[str] = set()
    left = {tier: max(0, int(want.get(tier, 0))) for tier in TIERS}
    out: list[dict[str, t.Any]] = []
    while any(left[tier] and pools[tier] for tier in TIERS):
        for tier in TIERS:
            if not (left[tier] and pools[tier]):
                continue

            def cost(item: tuple[str, list[Pair]]) -> tuple[int, int, int]:
                p = item[1][0]
                return (int(bool(p.provenance.get("skeleton")) and p.provenance["skeleton"] in skeletons),
                        sum(tables[x] for x in p.tables), productions[str(p.provenance.get("production", ""))])

            while pools[tier]:
                best = min(range(len(pools[tier])), key=lambda i: cost(pools[tier][i]))
                sql_id, group = pools[tier].pop(best)
                if keep is None or keep(group[0]):
                    break
            else:
                continue
            p = group[0]
            tables.update(p.tables)
            productions[str(p.provenance.get("production", ""))] += 1
            skeletons.add(str(p.provenance.get("skeleton", "")))
            out.append(_case(sql_id, group))
            left[tier] -= 1
    return out


def update_draft(project_dir: str | Path, name: str, pairs: t.Sequence[Pair], *, per_tier: int, seed: int,
                 changed_tables: t.Collection[str] = (), provenance: t.Mapping[str, t.Any] | None = None,
                 db: str | Path | None = None, previous: t.Sequence[Pair] = ()) -> DraftUpdate:  # fmt: skip
    """Create or refresh the project's draft evalset from ``pairs`` (see the module docstring).

    ``previous`` are the pairs the draft was made from: an unreviewed case whose SQL was among them
    but is not among ``pairs`` is withdrawn; one whose SQL was never a pair's was edited by a
    person and is kept.

    With ``db``, a candidate is proposed only if its SQL's result is informative there
    (:func:`informative`): a gold returning nothing, or one row of zeros and NULLs, accepts
    almost any wrong query.

    Raises:
        EvalsetError: The existing draft files are malformed (every problem listed).
    """
    from sqltune.evalset import load_evalset

    header_path, cases_path, dropped_path = draft_paths(project_dir)
    header: dict[str, t.Any] = {}
    old_rows: list[dict[str, t.Any]] = []
    if header_path.is_file():
        load_evalset(header_path.parent)  # refuse to edit a malformed draft; the error lists every problem
        header = yaml.safe_load(header_path.read_text(encoding="utf-8")) or {}
        old_rows = read_rows(cases_path)
    dropped = read_rows(dropped_path)
    by_sql = {normalise_sql(g[0].sql): (sql_id, g) for sql_id, g in files.group_by_sql(pairs).items()}
    changed = set(changed_tables)
    kept: list[dict[str, t.Any]] = []
    replaced: list[str] = []
    stale: list[str] = []
    per_tier_kept: Counter[str] = Counter()
    generated: set[str] | None = None  # normalised SQL of the previous pairs, computed when needed
    for row in old_rows:
        golds = row["gold_sql"] if isinstance(row["gold_sql"], list) else [row["gold_sql"]]
        hit = by_sql.get(normalise_sql(golds[0]))
        if hit is None and not row.get("reviewed", True) and generated is None:
            generated = {normalise_sql(g[0].sql) for g in files.group_by_sql(previous).values()}
        edited = hit is None and generated is not None and normalise_sql(golds[0]) not in generated
        if row.get("reviewed", True) or edited:
            kept.append(row)
            if _touches(set(hit[1][0].tables) if hit else _sql_tables(golds[0]), changed):
                stale.append(row["id"])
        elif hit is not None and per_tier_kept[str(row.get("difficulty"))] < per_tier:
            kept.append(row)
        else:
            replaced.append(row["id"])
            continue
        per_tier_kept[str(row.get("difficulty"))] += 1
    exclude: set[str] = set()
    used_tables: Counter[str] = Counter()
    for row in [*kept, *dropped]:
        exclude.add(str(row.get("id")))
        for sql in row["gold_sql"] if isinstance(row.get("gold_sql"), list) else [row.get("gold_sql", "")]:
            exclude.add(normalise_sql(sql))
    for row in kept:
        hit = by_sql.get(normalise_sql(row["gold_sql"] if isinstance(row["gold_sql"], str) else row["gold_sql"][0]))
        used_tables.update(hit[1][0].tables if hit else ())
    want = {tier: max(0, per_tier - per_tier_kept[tier]) for tier in TIERS}
    new_rows = pick(pairs, want, seed=seed, exclude=exclude, used_tables=used_tables,
                    keep=(lambda p: informative(p.sql, db)) if db is not None else None)
    rows = kept + new_rows
    changed_files = rows != old_rows or not header_path.is_file()
    version = header.get("version", 0)
    if changed_files:
        version = version + 1 if isinstance(version, int) and not isinstance(version, bool) else version
    new_header = {
        "name": header.get("name", f"{name}-{DRAFT}"), "project": name, "version": version or 1,
        "description": header.get("description", f"Drafted by sqltune onboard from the generated pairs of {name}; "
                                                  "cases count in reports once reviewed."),
        **{k: v for k, v in header.items() if k not in ("name", "project", "version", "description", "provenance")},
        "provenance": dict(provenance or header.get("provenance") or {}),
    }  # fmt: skip
    if changed_files or new_header != header:
        files.write_jsonl(cases_path, rows)
        atomic.write_text(header_path, yaml.safe_dump(new_header, sort_keys=False, allow_unicode=True))
    return DraftUpdate(header_path, cases_path, tuple(r["id"] for r in new_rows), tuple(replaced), tuple(stale),
                       changed_files)


def _sql_tables(sql: str) -> set[str]:
    """``schema.table`` of the tables a gold names (bare names stay bare); empty when it does not parse."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except Exception:  # noqa: BLE001
        return set()
    ctes = {c.alias for c in tree.find_all(exp.CTE)}
    return {f"{tb.db}.{tb.name}" if tb.db else tb.name for tb in tree.find_all(exp.Table) if tb.name not in ctes}


def _touches(tables: t.Collection[str], changed: t.Collection[str]) -> bool:
    """Whether any of ``tables`` (``schema.table``, or a bare name from a gold) is among ``changed``."""
    names = {c.rsplit(".", 1)[-1] for c in changed}
    return any(tb in changed or ("." not in tb and tb in names) for tb in tables)


def informative(sql: str, db: str | Path, *, max_rows: int = 1000) -> bool:
    """Whether ``sql`` returns between one and ``max_rows`` rows on ``db``, and not a single row of
    zeros, NULLs and empty strings (``SELECT count(*) … WHERE <nothing matches>``)."""
    from sqltune import sandbox

    res = sandbox.execute(db, sql, row_cap=max_rows, timeout_s=10)
    if not res.ok or not res.rows or res.truncated:
        return False
    return not (len(res.rows) == 1 and all(v is None or v == 0 or v == "" for v in res.rows[0]))
