"""Evalset leakage: how close the training pairs come to the held-out evalset.

Two measures per evalset case:

* **SQL overlap.** Every gold and every training SQL is reduced to a key with the generator's own
  canonical form (:func:`sqltune.generate.verify.canonical`: aliases renamed in order, AND operands
  and IN lists sorted) after dropping identifier quotes, the default ``main.`` schema and the
  casing of table-alias references. An *exact* duplicate has the same key as some training SQL
  (whitespace, keyword case, alias names, quoting and operand order do not count). A *near*
  duplicate is the same query up to its constants: literals masked, column qualifiers and table
  aliases dropped (the model has seen the template, though not the answer).
* **Question similarity.** The cosine between TF-IDF vectors (sublinear term frequency, IDF fitted on
  the training questions) of word 1-2-grams and, separately, of character 3-5-grams within words;
  the score is their mean, in ``[0, 1]``. Each case gets its nearest training question and score.
  It is deterministic and needs nothing beyond numpy. As a guide: a light paraphrase of a training
  question ("how many skus have no gtin and a discontinuation date") scores about 0.7; the shipped
  hand-written cpg evalset against 2,000 generated cpg pairs scores median 0.26, max 0.65.

A case *overlaps* when a gold has an exact duplicate among the training SQL or its nearest training
question scores at least ``threshold``; :attr:`LeakageReport.overlap_share` is the share of such
cases (``sqltune evalset leakage --fail-above`` gates on it). Near duplicates are reported, not
counted: schema-specific generation is expected to cover the evalset's query shapes.

>>> from sqltune.evalset import EvalCase, Evalset
>>> ev = Evalset("demo", "1", (
...     EvalCase("e1", "How many brands are active?", ("SELECT count(*) FROM mdm.BRAND WHERE STATUS = 'A'",), "easy"),
...     EvalCase("e2", "Total revenue per region last year?", ("SELECT region, sum(amt) FROM s GROUP BY 1",), "medium"),
... ), policy=None)
>>> pairs = [("Count the active brands.", 'SELECT COUNT(*) AS n FROM mdm."BRAND" AS b WHERE b."STATUS" = \\'A\\''),
...          ("Which plants are in Ohio?", "SELECT name FROM plant WHERE state = 'OH'")]
>>> report = leakage(pairs, ev)
>>> [(c.id, c.sql_match, c.nearest_id) for c in report.cases]
[('e1', 'exact', 'pair0'), ('e2', None, 'pair0')]
>>> report.cases[0].score > 0.3 > report.cases[1].score
True
>>> report.tiers["overall"].exact, report.overlap_share
(1, 0.5)
>>> leakage_line(report)
'leakage vs 2 training pairs: exact SQL 50.0% (1/2), near SQL 0.0%, questions >= 0.70 0.0% (max 0.35)'
"""

from __future__ import annotations

import dataclasses
import math
import re
import statistics
import typing as t
import unicodedata
from collections import Counter

import numpy as np
import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from sqltune.difficulty import TIERS, measure
from sqltune.errors import ConfigError, SqltuneError
from sqltune.generate.verify import canonical

if t.TYPE_CHECKING:
    from sqltune.evalset import Evalset
    from sqltune.generate.records import Pair

__all__ = ["CaseLeak", "LeakageReport", "TierLeak", "leakage", "leakage_line", "project_leakage", "question_similarity",
           "sql_keys"]

#: Default question-similarity threshold: at or above it a case counts as overlapping.
DEFAULT_THRESHOLD: t.Final = 0.7
#: Training pair ids kept per case and per kind of SQL match.
_MAX_IDS: t.Final = 5


# ------------------------------------------------------------------------------------------ records
@dataclasses.dataclass(frozen=True)
class CaseLeak:
    """One evalset case against the training pairs.

    Attributes:
        id, tier, question: The case (``tier``: declared difficulty, else measured).
        nearest_id, nearest_question: The most similar training question (``None`` without training pairs).
        score: Its similarity in ``[0, 1]``.
        sql_match: ``"exact"``, ``"near"`` or ``None``: the closest SQL overlap of any gold.
        exact_ids, near_ids: Training pair ids with an exact / near duplicate SQL (first few).
    """

    id: str
    tier: str
    question: str
    nearest_id: str | None
    nearest_question: str | None
    score: float
    sql_match: str | None
    exact_ids: tuple[str, ...] = ()
    near_ids: tuple[str, ...] = ()

    def overlaps(self, threshold: float) -> bool:
        return self.sql_match == "exact" or self.score >= threshold


@dataclasses.dataclass(frozen=True)
class TierLeak:
    """Aggregates over one tier (or ``overall``)."""

    n: int
    exact: int
    near: int
    above: int
    mean: float | None
    median: float | None
    p90: float | None
    max: float | None

    def to_dict(self) -> dict[str, t.Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class LeakageReport:
    """Leakage of one evalset against a set of training pairs (see the module docstring)."""

    evalset: str
    pairs: int
    distinct_sql: int
    threshold: float
    cases: tuple[CaseLeak, ...]
    tiers: t.Mapping[str, TierLeak]
    histogram: tuple[tuple[float, float, int], ...]
    unparsed_golds: tuple[str, ...] = ()

    @property
    def overlapping(self) -> tuple[CaseLeak, ...]:
        """Cases with an exact SQL duplicate or a question at or above the threshold."""
        return tuple(c for c in self.cases if c.overlaps(self.threshold))

    @property
    def overlap_share(self) -> float:
        return len(self.overlapping) / len(self.cases) if self.cases else 0.0

    def to_dict(self) -> dict[str, t.Any]:
        return {
            "kind": "sqltune.leakage", "evalset": self.evalset, "pairs": self.pairs,
            "distinct_sql": self.distinct_sql, "threshold": self.threshold,
            "overlap_share": self.overlap_share, "overlapping": [c.id for c in self.overlapping],
            "exact_sql": [c.id for c in self.cases if c.sql_match == "exact"],
            "near_sql": [c.id for c in self.cases if c.sql_match == "near"],
            "tiers": {k: v.to_dict() for k, v in self.tiers.items()},
            "histogram": [{"low": lo, "high": hi, "count": n} for lo, hi, n in self.histogram],
            "unparsed_golds": list(self.unparsed_golds),
            "cases": [dataclasses.asdict(c) for c in self.cases],
        }  # fmt: skip

    def summary(self, top: int = 5) -> list[str]:
        """Lines for a terminal: headline, per-tier table, histogram and the ``top`` most similar cases."""
        o = self.tiers["overall"]
        lines = [
            f"leakage of evalset {self.evalset!r} ({o.n} cases) vs {self.pairs} training pairs "
            f"({self.distinct_sql} distinct SQL)",
            f"  SQL: {o.exact} exact duplicates ({_pct(o.exact, o.n)}), {o.near} near (same query up to constants, "
            f"{_pct(o.near, o.n)})",
        ]
        if o.median is not None:
            lines.append(f"  questions: nearest-training similarity median {o.median:.2f}, p90 {o.p90:.2f}, "
                         f"max {o.max:.2f}; {o.above} cases ({_pct(o.above, o.n)}) >= {self.threshold:.2f}")
        lines.append(f"  overlap share {self.overlap_share:.1%} (exact SQL or question >= {self.threshold:.2f})")
        lines.append(f"  {'tier':<8} {'n':>4} {'exact':>6} {'near':>6} {'>=thr':>6} {'median':>7} {'max':>6}")
        for tier, s in self.tiers.items():
            med = "-" if s.median is None else f"{s.median:.2f}"
            mx = "-" if s.max is None else f"{s.max:.2f}"
            lines.append(f"  {tier:<8} {s.n:>4} {s.exact:>6} {s.near:>6} {s.above:>6} {med:>7} {mx:>6}")
        if any(n for _, _, n in self.histogram):
            lines.append("  similarity histogram: " + "  ".join(f"{lo:.1f}-{hi:.1f}:{n}" for lo, hi, n in self.histogram
                                                               if n))
        exact = [c.id for c in self.cases if c.sql_match == "exact"]
        if exact:
            lines.append("  exact SQL duplicates: " + ", ".join(exact))
        if self.unparsed_golds:
            lines.append(f"  golds sqlglot could not parse (no SQL key): {', '.join(self.unparsed_golds)}")
        for c in sorted(self.cases, key=lambda c: (-c.score, c.id))[:top]:
            lines.append(f"  {c.score:.2f} {c.id}: {c.question!r} ~ {c.nearest_id}: {c.nearest_question!r}")
        return lines


def project_leakage(name: str, evalset: str, *, threshold: float = DEFAULT_THRESHOLD,
                    splits: t.Collection[str] | None = None) -> LeakageReport:
    """:func:`leakage` of project ``name``'s generated pairs against ``evalset`` (a name or path, looked up
    in the project first), for benchmarks that print :func:`leakage_line` next to their accuracy."""
    from sqltune import home
    from sqltune.evalset import load_evalset
    from sqltune.generate.files import load_pairs

    folder = home.existing_project_dir(name)
    _, pairs = load_pairs(folder / "pairs")
    return leakage(pairs, load_evalset(evalset, project_dir=folder), threshold=threshold, splits=splits)


def leakage_line(report: LeakageReport) -> str:
    """One line to print next to an accuracy figure (benchmarks, grading reports)."""
    o = report.tiers["overall"]
    mx = "-" if o.max is None else f"{o.max:.2f}"
    return (f"leakage vs {report.pairs} training pairs: exact SQL {_pct(o.exact, o.n)} ({o.exact}/{o.n}), "
            f"near SQL {_pct(o.near, o.n)}, questions >= {report.threshold:.2f} {_pct(o.above, o.n)} (max {mx})")


def _pct(k: int, n: int) -> str:
    return f"{k / n:.1%}" if n else "-"


# ------------------------------------------------------------------------------------------ SQL keys
def sql_keys(sql: str, dialect: str = "duckdb") -> tuple[str, str] | None:
    """``(exact_key, near_key)`` of one query, or ``None`` when sqlglot cannot parse it.

    >>> a = sql_keys("select  b.NAME from mdm.BRAND B where B.STATUS='A' and b.TIER in ('X','P')")
    >>> b = sql_keys('SELECT x."NAME" FROM mdm."BRAND" AS x '
    ...              'WHERE x."TIER" IN (\\'P\\', \\'X\\') AND x."STATUS" = \\'A\\'')
    >>> a == b
    True
    >>> c = sql_keys("SELECT NAME FROM mdm.BRAND WHERE TIER IN ('P', 'Q') AND STATUS = 'I'")
    >>> c[0] == a[0], c[1] == a[1], sql_keys("SELECT NAME FROM t")[1] == a[1]
    (False, True, False)
    """
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except (SqlglotError, ValueError):
        return None
    if tree is None:
        return None
    _prepare(tree)
    exact_key = canonical(tree.copy())
    for node in list(tree.walk()):
        if isinstance(node, exp.Literal):
            node.replace(exp.Placeholder())
        elif isinstance(node, exp.Column):
            for part in ("table", "db", "catalog"):
                node.set(part, None)
        elif isinstance(node, exp.Table):
            node.set("alias", None)
    return exact_key, canonical(tree)


def _prepare(tree: exp.Expression) -> None:
    """In place, what does not change a query's meaning: identifier quotes, the ``main.`` schema, table
    aliases of tables used once (references spelt with the table instead, any casing), column qualifiers
    when the query reads one table, and the names of the outer query's output columns."""
    nodes = list(tree.walk())
    for ident in nodes:
        if isinstance(ident, exp.Identifier):
            ident.set("quoted", False)
    tables = [n for n in nodes if isinstance(n, exp.Table)]
    columns = [n for n in nodes if isinstance(n, exp.Column)]
    for table in tables:
        if table.args.get("db") is not None and table.db == "main" and not table.catalog:
            table.set("db", None)
    uses = Counter((tb.db, tb.name) for tb in tables)
    renames: dict[str, exp.Table] = {}
    for table in tables:
        if table.alias and uses[(table.db, table.name)] == 1:
            renames[table.alias.lower()] = table
            table.set("alias", None)
    single = len(tables) == 1 and not any(isinstance(n, (exp.Subquery, exp.CTE, exp.SetOperation)) for n in nodes)
    for col in columns:
        ref = col.args.get("table")
        if single:
            for part in ("table", "db", "catalog"):
                col.set(part, None)
        elif isinstance(ref, exp.Identifier) and ref.name.lower() in renames:
            target = renames[ref.name.lower()]
            col.set("table", exp.to_identifier(target.name))
            col.set("db", exp.to_identifier(target.db) if target.db else None)
    if isinstance(tree, exp.Select):
        referenced = {c.name.lower() for c in columns if not c.table}
        for i, proj in enumerate(tree.expressions):
            if isinstance(proj, exp.Alias) and proj.alias.lower() not in referenced:
                tree.expressions[i].replace(proj.this)


# ---------------------------------------------------------------------------- question similarity
_WORD = re.compile(r"[^\W_]+")


def _words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower())


def _word_features(words: t.Sequence[str]) -> Counter[str]:
    return Counter([*words, *(f"{a} {b}" for a, b in zip(words, words[1:]))])


def _char_features(words: t.Sequence[str]) -> Counter[str]:
    grams: Counter[str] = Counter()
    for w in words:
        padded = f" {w} "
        for n in (3, 4, 5):
            grams.update(padded[i:i + n] for i in range(max(1, len(padded) - n + 1)))
    return grams


class _Space:
    """TF-IDF over one kind of feature: sublinear tf, smoothed IDF fitted on the training documents."""

    def __init__(self, train: t.Sequence[Counter[str]]) -> None:
        df: Counter[str] = Counter()
        for doc in train:
            df.update(doc.keys())
        self.n = len(train)
        self.index = {f: i for i, f in enumerate(sorted(df))}
        self.idf = np.array([math.log((1 + self.n) / (1 + df[f])) + 1 for f in sorted(df)], dtype=np.float64)
        self.unseen_idf = math.log(1 + self.n) + 1
        docs, feats, vals = [], [], []
        for d, doc in enumerate(train):
            idx, w, _ = self._vector(doc)
            docs.append(np.full(len(idx), d, dtype=np.int64))
            feats.append(idx)
            vals.append(w)
        cat = (lambda xs, dt: np.concatenate(xs) if xs else np.zeros(0, dtype=dt))  # noqa: E731
        all_feats, all_docs, all_vals = cat(feats, np.int64), cat(docs, np.int64), cat(vals, np.float64)
        order = np.argsort(all_feats, kind="stable")
        self.post_docs, self.post_vals = all_docs[order], all_vals[order]
        self.starts = np.searchsorted(all_feats[order], np.arange(len(self.index) + 1))

    def _vector(self, doc: Counter[str]) -> tuple[np.ndarray, np.ndarray, float]:
        """Known feature indexes, their L2-normalised weights, and the norm (unseen features count in it)."""
        known = sorted((self.index[f], 1 + math.log(c)) for f, c in doc.items() if f in self.index)
        idx = np.array([i for i, _ in known], dtype=np.int64)
        w = np.array([tf for _, tf in known], dtype=np.float64) * (self.idf[idx] if len(idx) else 1.0)
        unseen = sum((1 + math.log(c)) ** 2 for f, c in doc.items() if f not in self.index) * self.unseen_idf ** 2
        norm = math.sqrt(float(np.dot(w, w)) + unseen)
        return idx, (w / norm if norm else w), norm

    def scores(self, doc: Counter[str]) -> np.ndarray:
        """Cosine of ``doc`` with every training document."""
        idx, w, _ = self._vector(doc)
        if not len(idx) or not self.n:
            return np.zeros(self.n)
        lo, hi = self.starts[idx], self.starts[idx + 1]
        lens = hi - lo
        sel = np.repeat(lo - np.cumsum(lens) + lens, lens) + np.arange(int(lens.sum()))
        weights = self.post_vals[sel] * np.repeat(w, lens)
        return np.bincount(self.post_docs[sel], weights=weights, minlength=self.n)


def question_similarity(questions: t.Sequence[str], train: t.Sequence[str]) -> list[tuple[int | None, float]]:
    """For each question, the index of its most similar training question and the score in ``[0, 1]``.

    Ties go to the earliest training question; without training questions the index is ``None``.

    >>> train = ["How many brands are active?", "List the plants in Ohio."]
    >>> [(i, round(s, 2)) for i, s in question_similarity(["how many brands are ACTIVE", "Revenue by month"], train)]
    [(0, 1.0), (0, 0.0)]
    """
    if not train:
        return [(None, 0.0) for _ in questions]
    train_words = [_words(q) for q in train]
    spaces = [(_Space([_word_features(w) for w in train_words]), _word_features),
              (_Space([_char_features(w) for w in train_words]), _char_features)]
    out: list[tuple[int | None, float]] = []
    for q in questions:
        words = _words(q)
        total = sum(space.scores(feat(words)) for space, feat in spaces) / len(spaces)
        best = int(np.argmax(total))
        out.append((best, float(min(1.0, max(0.0, total[best])))))
    return out


# ------------------------------------------------------------------------------------------- report
def leakage(pairs: t.Sequence[Pair | tuple[str, str]], evalset: Evalset, *, threshold: float = DEFAULT_THRESHOLD,
            splits: t.Collection[str] | None = None) -> LeakageReport:
    """Compare the training ``pairs`` (generated :class:`~sqltune.generate.records.Pair` s or
    ``(question, sql)`` tuples, ids ``pair0``, ``pair1``…) with every case of ``evalset``.

    Args:
        threshold: Question similarity at or above which a case counts as overlapping.
        splits: Only generated pairs of these splits (e.g. ``{"train"}``; tuples always count); default every pair.
    """
    if not 0.0 < threshold <= 1.0:
        raise ConfigError(f"Similarity threshold must be in (0, 1], not {threshold!r}.")
    train: list[tuple[str, str, str]] = []
    for i, p in enumerate(pairs):
        if isinstance(p, tuple):
            train.append((f"pair{i}", p[0], p[1]))
        elif splits is None or p.split in splits:
            train.append((p.id, p.question, p.sql))
    exact_index: dict[str, list[str]] = {}
    near_index: dict[str, list[str]] = {}
    sql_cache: dict[str, tuple[str, str] | None] = {}
    for pid, _, sql in train:
        if sql not in sql_cache:
            sql_cache[sql] = sql_keys(sql)
        keys = sql_cache[sql]
        if keys is not None:
            exact_index.setdefault(keys[0], []).append(pid)
            near_index.setdefault(keys[1], []).append(pid)
    unique_q = list(dict.fromkeys(q for _, q, _ in train))
    first_of = {}
    for pid, q, _ in train:
        first_of.setdefault(q, pid)
    nearest = question_similarity([c.question for c in evalset.cases], unique_q)
    cases: list[CaseLeak] = []
    unparsed: list[str] = []
    for case, (qi, score) in zip(evalset.cases, nearest):
        exact_ids: list[str] = []
        near_ids: list[str] = []
        for gold in case.gold_sql:
            keys = sql_keys(gold)
            if keys is None:
                unparsed.append(case.id)
                continue
            exact_ids += [x for x in exact_index.get(keys[0], []) if x not in exact_ids]
            near_ids += [x for x in near_index.get(keys[1], []) if x not in near_ids and x not in exact_ids]
        match = "exact" if exact_ids else ("near" if near_ids else None)
        nq = unique_q[qi] if qi is not None else None
        cases.append(CaseLeak(case.id, _tier(case), case.question, first_of[nq] if nq is not None else None, nq,
                              round(score, 4), match, tuple(exact_ids[:_MAX_IDS]), tuple(near_ids[:_MAX_IDS])))
    return LeakageReport(
        evalset=evalset.name, pairs=len(train), distinct_sql=len({s for _, _, s in train}), threshold=threshold,
        cases=tuple(cases), tiers=_tiers(cases, threshold), histogram=_histogram([c.score for c in cases]),
        unparsed_golds=tuple(dict.fromkeys(unparsed)),
    )  # fmt: skip


def _tier(case: t.Any) -> str:
    if case.difficulty:
        return str(case.difficulty)
    try:
        return measure(case.gold_sql[0]).tier
    except SqltuneError:
        return "hard"


def _tiers(cases: t.Sequence[CaseLeak], threshold: float) -> dict[str, TierLeak]:
    out = {}
    for tier in ("overall", *TIERS):
        group = [c for c in cases if tier == "overall" or c.tier == tier]
        if not group and tier != "overall":
            continue
        scores = sorted(c.score for c in group)
        out[tier] = TierLeak(
            n=len(group), exact=sum(c.sql_match == "exact" for c in group),
            near=sum(c.sql_match == "near" for c in group), above=sum(c.score >= threshold for c in group),
            mean=round(statistics.fmean(scores), 4) if scores else None,
            median=round(statistics.median(scores), 4) if scores else None,
            p90=round(scores[min(len(scores) - 1, math.ceil(0.9 * len(scores)) - 1)], 4) if scores else None,
            max=scores[-1] if scores else None,
        )  # fmt: skip
    return out


def _histogram(scores: t.Sequence[float], bins: int = 10) -> tuple[tuple[float, float, int], ...]:
    counts = [0] * bins
    for s in scores:
        counts[min(bins - 1, int(s * bins))] += 1
    return tuple((round(i / bins, 2), round((i + 1) / bins, 2), n) for i, n in enumerate(counts))


from sqltune.callable_module import make_callable as _make_callable  # noqa: E402

_make_callable(__name__, "leakage")  # sqltune.leakage(...) calls leakage() (see sqltune.callable_module)
