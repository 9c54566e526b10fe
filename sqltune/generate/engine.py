"""The generation loop: chunks of candidates, built by steered productions, verified in parallel.

Chunk ``i`` draws its choices from ``Random(seed, i)`` and from the coverage left by chunks
``0..i-1``; everything that state holds is rebuilt from the chunks' records, so a run resumed
after a kill produces exactly what an uninterrupted run produces.

>>> seeded(7, "chunk", 0) == seeded(7, "chunk", 0) != seeded(7, "chunk", 1)
True
"""

from __future__ import annotations

import collections
import hashlib
import math
import random
import time
import typing as t
from collections import Counter
from dataclasses import dataclass, field

from sqlglot import exp

from sqltune.difficulty import Difficulty, measure
from sqltune.generate.build import Draft
from sqltune.generate.catalog import Catalog
from sqltune.generate.config import STYLES, TIERS, GenerateConfig
from sqltune.generate.coverage import Coverage, value_key
from sqltune.generate.grammar import PRODUCTIONS, Production
from sqltune.generate.questions import questions
from sqltune.generate.records import VerifiedSql
from sqltune.generate.verify import Outcome, Plan, canonical, masked_leak, plan, skeleton, to_sql
from sqltune.generate.workers import Verifier


def seeded(*parts: t.Any) -> int:
    return int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:15], 16)


@dataclass(frozen=True)
class ProgressEvent:
    """Reported after every chunk."""

    chunk: int
    chunks: int
    sql_done: int
    sql_target: int
    resumed: bool
    elapsed_s: float


@dataclass
class State:
    """What steering and deduplication know: rebuilt from records on resume."""

    coverage: Coverage
    seen: set[str] = field(default_factory=set)
    texts: set[str] = field(default_factory=set)
    tiers: Counter = field(default_factory=Counter)
    items: list[VerifiedSql] = field(default_factory=list)
    rejected: Counter = field(default_factory=Counter)

    def add(self, item: VerifiedSql, counted: bool = False) -> None:
        """Record an accepted SQL (``counted``: its coverage was already added provisionally)."""
        self.items.append(item)
        self.seen.add(item.canonical)
        self.texts.update(q.text.lower() for q in item.questions)
        self.tiers[item.tier] += 1
        if not counted:
            self.coverage.add(touched(item))


def touched(item: VerifiedSql | Draft) -> dict[str, list[str]]:
    """The coverage items an accepted SQL (or a draft) uses."""
    return {"table": list(item.tables), "column": list(item.columns), "join": list(item.joins),
            "value": [value_key(ref, v) for ref, v in item.values]}


@dataclass
class _Cand:
    tree: t.Any
    sql: str
    plan: Plan
    meaning: t.Any
    prod: Production
    draft: Draft
    canon: str
    skel: str
    tier: str
    score: float
    qs: tuple


class Engine:
    """Runs chunks against one catalog and sandbox."""

    def __init__(self, cat: Catalog, verifier: Verifier, cfg: GenerateConfig, seed: int, n_sql: int,
                 n_questions: int) -> None:
        self.cat, self.verifier, self.cfg, self.seed = cat, verifier, cfg, seed
        self.n_sql, self.n_questions = n_sql, n_questions
        self.targets = cfg.tier_targets(n_sql)
        self.chunks = max(1, math.ceil(n_sql / cfg.chunk_size))
        self.masked = {c.name for c in cat.columns if c.masked}
        self.timing: Counter = Counter()
        self._measured: dict[tuple[str, int], Difficulty] = {}

    def quotas(self, state: State, i: int) -> dict[str, int]:
        if i >= self.chunks - 1:
            return {tier: max(0, self.targets[tier] - state.tiers[tier]) for tier in TIERS}
        frac = (i + 1) / self.chunks
        return {tier: max(0, round(self.targets[tier] * frac) - state.tiers[tier]) for tier in TIERS}

    def run_chunk(self, state: State, i: int) -> tuple[list[VerifiedSql], Counter]:
        """Verified SQL for chunk ``i``; ``state`` is updated as items are accepted.

        Candidates stream through a window of ``batch_size``: candidate ``j`` is built once
        candidate ``j - batch_size`` has been settled, whatever the timing, so steering sees a
        fixed lag (hence the run stays deterministic) while the workers are kept busy.
        """
        quota = self.quotas(state, i)
        rng = random.Random(seeded(self.seed, "chunk", i))
        rejected: Counter = Counter()
        accepted: list[VerifiedSql] = []
        budget = self.cfg.max_attempts_per_sql * max(1, sum(quota.values()))
        attempts = 0
        window: collections.deque[tuple[_Cand, t.Any]] = collections.deque()
        pending: Counter = Counter()
        canon: set[str] = set()
        texts: set[str] = set()

        def settle_oldest() -> None:
            cand, fut = window.popleft()
            start = time.perf_counter()
            out = fut.result()
            self.timing["wait_s"] += time.perf_counter() - start
            self.timing["check_s"] += out.elapsed_s
            self.timing["checks"] += 1
            pending[cand.tier] -= 1
            canon.discard(cand.canon)
            texts.difference_update(q.text.lower() for q in cand.qs)
            self._settle(cand, out, state, quota, accepted, rejected, i)

        while sum(quota.values()) > 0 and attempts < budget:
            if len(window) >= self.cfg.batch_size:
                settle_oldest()
                continue
            open_q = {tier: quota[tier] - math.ceil(0.9 * pending[tier]) for tier in TIERS}
            if not any(v > 0 for v in open_q.values()):
                if not window:
                    break
                settle_oldest()
                continue
            attempts += 1
            cand, reason = self._candidate(state, rng, open_q, canon, texts)
            if cand is None:
                rejected[reason] += 1
                continue
            state.coverage.add(touched(cand.draft))  # provisional, so later choices steer around it
            pending[cand.tier] += 1
            canon.add(cand.canon)
            texts.update(q.text.lower() for q in cand.qs)
            window.append((cand, self.verifier.submit(cand.plan)))
        while window:  # verified work is not wasted: it counts against the run's targets
            settle_oldest()
        return accepted, rejected

    def _settle(self, cand: _Cand, out: Outcome, state: State, quota: dict[str, int], accepted: list[VerifiedSql],
                rejected: Counter, chunk: int) -> None:
        reason = out.reason
        if reason is None and cand.canon in state.seen:
            reason = "duplicate"
        elif reason is None and any(q.text.lower() in state.texts for q in cand.qs):
            reason = "question_clash"
        elif reason is None and state.tiers[cand.tier] >= self.targets[cand.tier]:
            reason = "tier_full"
        if reason is not None:
            rejected[reason] += 1
            state.coverage.add(touched(cand.draft), sign=-1)
            return
        item = self._record(cand, out, chunk)
        quota[cand.tier] -= 1
        accepted.append(item)
        state.add(item, counted=True)

    def _candidate(self, state: State, rng: random.Random, quota: dict[str, int], batch_canon: set[str],
                   batch_texts: set[str]) -> tuple[_Cand | None, str]:
        start = time.perf_counter()
        try:
            open_tiers = [tier for tier in TIERS if quota[tier] > 0]
            tier = rng.choices(open_tiers, weights=[quota[x] for x in open_tiers])[0]
            prods = [p for p in PRODUCTIONS if p.tier == tier]
            lift = 1.0 + 3.0 * state.coverage.missing_share("join")
            prod = rng.choices(prods, weights=[p.weight * (lift if p.joins else 1.0) for p in prods])[0]
            draft = Draft(self.cat, rng, state.coverage, self.cfg.masked_usage)
            try:
                built = prod.build(draft)
            except Exception:  # a production bug must not stop generation; it is counted
                return None, "production_error"
            if built is None:
                return None, "no_candidate"
            tree, meaning = built
            canon = canonical(tree)
            if canon in state.seen or canon in batch_canon:
                return None, "duplicate"
            if masked_leak(tree, self.masked) or any(self.cat.column(ref).masked for ref, _ in draft.values):
                return None, "masked_leak"
            skel = skeleton(canon)
            diff = self._measure(tree, skel)
            if quota.get(diff.tier, 0) <= 0:
                return None, "tier_full"
            sql = to_sql(tree)
            p = plan(tree, sql, timeout_s=self.cfg.timeout_s, max_rows=self.cfg.max_rows, tiebreak=draft.tiebreak,
                     allow_empty=self.cfg.allow_empty)
            if isinstance(p, Outcome):
                return None, p.reason or "error"
            extra = max(1, self.n_questions - len(STYLES))
            qs = questions(meaning, seeded(self.seed, "q", canon), extra=extra, styles=STYLES)
            texts = {q.text.lower() for q in qs}
            if texts & state.texts or texts & batch_texts:
                return None, "question_clash"
            return _Cand(tree, sql, p, meaning, prod, draft, canon, skel, diff.tier, diff.score, qs), ""
        finally:
            self.timing["build_s"] += time.perf_counter() - start

    def _measure(self, tree: t.Any, skel: str) -> Difficulty:
        """:func:`sqltune.difficulty.measure`, cached: every feature it counts but the number of distinct
        tables is fixed by the skeleton (keywords and function names kept), so that is the cache key."""
        key = (skel, len({".".join(p.name for p in x.parts) for x in tree.find_all(exp.Table)}))
        hit = self._measured.get(key)
        if hit is None:
            hit = self._measured[key] = measure(tree)
        return hit

    def _record(self, cand: _Cand, out: t.Any, chunk: int) -> VerifiedSql:
        d = cand.draft
        sql_id = "q" + hashlib.sha256(cand.canon.encode()).hexdigest()[:10]
        return VerifiedSql(
            sql_id=sql_id, sql=cand.sql, canonical=cand.canon, skeleton=cand.skel,
            tier=cand.tier, score=cand.score, production=cand.prod.name, chunk=chunk, tables=tuple(d.tables),
            columns=tuple(d.columns), values=tuple(d.values), joins=tuple(d.joins),
            result_fingerprint=out.fingerprint, row_count=out.row_count, questions=cand.qs)
