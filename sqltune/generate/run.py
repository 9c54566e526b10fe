"""``generate()``: the public entry point, resumable chunks in, ``pairs.jsonl``/``facts.jsonl``/``coverage.json`` out.

The number of distinct SQL is ``n // questions_per_sql``; the first ``n % that`` SQL get one
question more, so exactly ``n`` pairs come out (see :mod:`sqltune.generate` for a full run).

>>> _per_sql(12, 5)
[6, 6]
"""

from __future__ import annotations

import hashlib
import json
import time
import typing as t
from collections import Counter
from pathlib import Path

from sqltune.generate import splits
from sqltune.generate.catalog import Catalog
from sqltune.generate.config import STYLES, TIERS, GenerateConfig, GenerationError
from sqltune.generate.coverage import Coverage
from sqltune.generate.engine import Engine, ProgressEvent, State
from sqltune.generate.facts import facts as schema_facts
from sqltune.generate.literals import fill_pools
from sqltune.generate.questions import distinct_2, diversity
from sqltune.generate.records import GenerationResult, Pair, VerifiedSql
from sqltune.generate.workers import open_verifier
from sqltune.generate.writer import Parts, write_json, write_jsonl
from sqltune.sandbox import Sandbox
from sqltune.schema import Schema

#: Bump when a change alters what a seed produces (it is part of the resume key and the header).
#: 2: rates per group, two years side by side, gaps between years; no ROUND. 3: rates per category only.
#: 4: the data dictionary's metrics (grammar/metric.py) and their facts.
GENERATOR_VERSION = 4


class Paraphraser(t.Protocol):
    """Optional hook: rewrite one generated question (for example with a model) keeping its meaning.

    It must keep every literal value of the question and be deterministic for a seed; it is applied
    when pairs are assembled, after verification, and marked in each pair's provenance.
    """

    def __call__(self, question: str, *, style: str, sql: str) -> str: ...


def generate(schema: Schema, n: int = 5000, seed: int = 0, out: str | Path | None = None,
             config: GenerateConfig | None = None, *, db: str | Path | None = None,
             progress: t.Callable[[ProgressEvent], None] | None = None,
             paraphrase: Paraphraser | None = None) -> GenerationResult:
    """Generate ``n`` verified question/SQL pairs for ``schema``.

    Args:
        schema: The snapshot; its ``execution_db`` is queried unless ``db`` is given.
        n: Number of pairs (each distinct SQL gets ``questions_per_sql`` of them).
        seed: Same seed, schema, data and config → byte-identical files.
        out: Folder for ``pairs.jsonl`` (first line: the run header), ``facts.jsonl`` and
            ``coverage.json``; finished chunks are kept under ``out/.parts/`` until the end, so a
            killed run resumes where it stopped. ``None`` writes nothing.
        config: :class:`GenerateConfig`.
        progress: Called after every chunk with a :class:`~sqltune.generate.engine.ProgressEvent`.
        paraphrase: Optional :class:`Paraphraser` applied to every question.

    Raises:
        GenerationError: ``n`` below 1 or no database to run candidates against.
    """
    cfg = config or GenerateConfig()
    if n < 1:
        raise GenerationError(f"n must be at least 1, got {n}.")
    db_path = Path(db or schema.execution_db or "")
    if not str(db or schema.execution_db or "") or not db_path.is_file():
        raise GenerationError(f"No database to verify candidates against: {str(db_path) or 'none given'}.")
    per_sql = _per_sql(n, cfg.questions_per_sql)
    n_sql = len(per_sql)
    run_key = _run_key(schema, cfg, seed, n)
    parts = Parts(out, run_key)
    started = time.perf_counter()
    cpu_start = _cpu()
    cat = Catalog.build(schema, min_join_confidence=cfg.min_join_confidence, masked_usage=cfg.masked_usage)
    box = Sandbox(db_path)
    try:
        fill_pools(cat, box, cfg.value_pool)
    finally:
        box.close()
    cov = Coverage(cfg.coverage_k, cfg.steer_boost, cfg.steer)
    cov.register_catalog(cat)
    state = State(cov)
    processes = cfg.executor == "process" or (cfg.executor == "auto" and n_sql >= 200 and cfg.workers > 1)
    verifier = open_verifier(db_path, cfg.workers, processes)
    try:
        engine = Engine(cat, verifier, cfg, seed, n_sql, max(per_sql))
        resumed = 0
        for i, items, rejected in parts.load():
            for item in items:
                state.add(item)
            state.rejected.update(rejected)
            resumed = i + 1
            _emit(progress, i, engine.chunks, state, n_sql, True, started)
        loop_start = time.perf_counter()
        i, limit = resumed, engine.chunks + max(2, engine.chunks // 2)
        while len(state.items) < n_sql and i < limit:
            items, rejected = engine.run_chunk(state, i)
            parts.save(i, items, rejected)
            state.rejected.update(rejected)
            _emit(progress, i, engine.chunks, state, n_sql, False, started)
            i += 1
        loop_s = time.perf_counter() - loop_start
    finally:
        verifier.close()
    cpu_s = _cpu() - cpu_start
    pairs, header, coverage = _assemble(schema, cat, cfg, state, seed, n, per_sql, run_key, paraphrase)
    fact_items = schema_facts(cat)
    header["counts"]["facts"] = len(fact_items)
    files: dict[str, str] = {}
    if out is not None:
        folder = Path(out)
        write_jsonl(folder / "facts.jsonl", (f.to_dict() for f in fact_items))
        write_json(folder / "coverage.json", coverage)
        write_jsonl(folder / "pairs.jsonl", [header, *(p.to_dict() for p in pairs)])
        parts.clear()
        files = {name: str(folder / name) for name in ("pairs.jsonl", "facts.jsonl", "coverage.json")}
    new_sql = len(state.items) - sum(1 for it in state.items if it.chunk < resumed)
    stats = {"elapsed_s": round(time.perf_counter() - started, 3), "loop_s": round(loop_s, 3),
             "new_sql": new_sql, "sql_per_s": round(new_sql / loop_s, 2) if loop_s > 0 else None,
             "cpu_s": round(cpu_s, 3), "sql_per_cpu_s": round(new_sql / cpu_s, 2) if cpu_s > 0 else None,
             "resumed_chunks": resumed, "executor": "process" if processes else "thread", "rejected": dict(sorted(state.rejected.items())),
             "timing": {k: round(v, 3) for k, v in engine.timing.items()},
             "shortfall": max(0, n - len(pairs))}
    return GenerationResult(tuple(pairs), fact_items, coverage, header, stats, files)


def _per_sql(n: int, q: int) -> list[int]:
    """Questions per distinct SQL so that they add up to ``n``."""
    n_sql = max(1, n // q)
    return [n // n_sql + (1 if i < n % n_sql else 0) for i in range(n_sql)]


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the worker processes)."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _emit(progress: t.Callable[[ProgressEvent], None] | None, i: int, chunks: int, state: State, n_sql: int,
          resumed: bool, started: float) -> None:
    if progress is not None:
        progress(ProgressEvent(i, chunks, len(state.items), n_sql, resumed, time.perf_counter() - started))


def _run_key(schema: Schema, cfg: GenerateConfig, seed: int, n: int) -> str:
    blob = json.dumps([GENERATOR_VERSION, schema.fingerprint(), schema.domain_hash(), schema.docs_hash(), cfg.to_dict(),
                       seed, n],
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _assemble(schema: Schema, cat: Catalog, cfg: GenerateConfig, state: State, seed: int, n: int,
              per_sql: list[int], run_key: str, paraphrase: Paraphraser | None
              ) -> tuple[list[Pair], dict[str, t.Any], dict[str, t.Any]]:
    items: list[VerifiedSql] = state.items
    plan = splits.assign({it.sql_id: it.skeleton for it in items}, seed, cfg.val_skeleton_fraction,
                         cfg.val_phrasing_fraction, STYLES)
    pairs: list[Pair] = []
    div = []
    for idx, it in enumerate(items):
        split, held = plan[it.sql_id]
        used = it.questions[: per_sql[idx] if idx < len(per_sql) else 0]
        div.append(diversity([q.text for q in used]))
        count: Counter = Counter()
        for q in used:
            count[q.style] += 1
            pid = f"{it.sql_id}-{q.style}" + (f"-{count[q.style]}" if count[q.style] > 1 else "")
            pair_split = split if split != "train" else ("val_phrasing" if q.style == held else "train")
            prov: dict[str, t.Any] = {"production": it.production, "seed": seed, "chunk": it.chunk,
                                      "sql_id": it.sql_id, "skeleton": it.skeleton}
            text = q.text
            if paraphrase is not None:
                text = paraphrase(q.text, style=q.style, sql=it.sql)
                prov["paraphrased"] = True
            pairs.append(Pair(pid, text, it.sql, q.style, it.tier, it.score, it.tables, it.columns, it.values,
                              it.joins, it.result_fingerprint, it.row_count, pair_split, prov))
    coverage = state.coverage.report(cfg.max_unreachable_fraction)
    sql_tiers = Counter(it.tier for it in items)
    header = {
        "kind": "header", "format": 1, "generator": GENERATOR_VERSION, "schema": schema.name,
        "schema_fingerprint": schema.fingerprint(), "domain_hash": schema.domain_hash(), "seed": seed, "n": n,
        "run_key": run_key, "config": cfg.to_dict(),
        "counts": {
            "pairs": len(pairs), "sql": len(items),
            "sql_by_tier": {tier: sql_tiers[tier] for tier in TIERS},
            "tier_mix": {tier: round(sql_tiers[tier] / max(1, len(items)), 4) for tier in TIERS},
            "splits": dict(sorted(Counter(p.split for p in pairs).items())),
            "styles": {s: sum(1 for p in pairs if p.style == s) for s in STYLES},
            "productions": dict(sorted(Counter(it.production for it in items).items())),
        },
        "rejected": dict(sorted(state.rejected.items())),
        "diversity": _mean_diversity(div, [p.question for p in pairs]),
        "coverage": coverage["summary"],
    }
    return pairs, header, coverage


def _mean_diversity(per_sql: list[dict[str, float]], texts: list[str]) -> dict[str, float]:
    if not per_sql:
        return {"jaccard_distance": 0.0, "distinct_2": 0.0, "global_distinct_2": 0.0}
    return {"jaccard_distance": round(sum(d["jaccard_distance"] for d in per_sql) / len(per_sql), 4),
            "distinct_2": round(sum(d["distinct_2"] for d in per_sql) / len(per_sql), 4),
            "global_distinct_2": round(distinct_2(texts), 4)}
