"""Grade a whole evalset's predictions: :func:`evaluate_predictions` → :class:`GradeRun`.

Predictions are JSON lines, one per case: ``id`` and ``sql`` are required (``sql`` may be null for
"no answer"); every other key (``candidates``, ``timings``, ``model``, ``adapter``…) is carried
into the report unchanged. :func:`load_predictions` reads such a file and reports every bad line
with its number; a case without a prediction is graded ``EMPTY`` and listed in
:attr:`GradeRun.missing`; an id the evalset does not have is an error naming it.

Each case is graded in a thread pool (DuckDB releases the GIL while a query runs) with one shared
gold cache: the verdict on the database (EX, :func:`~sqltune.grade.grade`), the test-suite verdict
on perturbed copies (TS, :func:`~sqltune.grade.suite.grade_suite`), the invented tables, columns
and literals (:func:`~sqltune.grade.invented_identifiers`) and the gold's measured difficulty.
Aggregates per tier (``easy``/``medium``/``hard``: the declared difficulty, else the measured one)
and overall carry ``n``, a 95 % Wilson interval and the direction of the metric.

Cases marked ``reviewed: false`` (drafted, not yet accepted by an expert) are not graded and not
counted: their ids are in :attr:`GradeRun.skipped` and one line of :attr:`GradeRun.problems` says
so (pass ``include_unreviewed=True`` to grade them anyway).

>>> import duckdb, os, tempfile
>>> from sqltune.evalset import EvalCase, Evalset
>>> from sqltune.grade.policy import ComparisonPolicy
>>> db = os.path.join(tempfile.mkdtemp(), "shop.duckdb")
>>> duckdb.connect(db).execute("CREATE TABLE t AS SELECT range AS id, range % 3 AS g FROM range(30)").close()
>>> cases = (EvalCase("q1", "How many rows?", ("SELECT count(*) FROM t",), "easy"),
...          EvalCase("q2", "Rows per group?", ("SELECT g, count(*) FROM t GROUP BY g",), "medium"))
>>> es = Evalset("demo", "1", cases, ComparisonPolicy(), sample="demo")
>>> run = evaluate_predictions(es, [{"id": "q1", "sql": "SELECT count(id) FROM t", "model": "m"}], db, suite=False)
>>> run.aggregates["overall"].metrics["ex_strict"].value, run.missing
(0.5, ('q2',))
>>> run.items[0].extra
{'model': 'm'}
>>> draft = Evalset("demo", "1", cases + (EvalCase("q3", "Groups?", ("SELECT DISTINCT g FROM t",), reviewed=False),),
...                 ComparisonPolicy(), sample="demo")
>>> preds = [{"id": "q1", "sql": "SELECT 30"}, {"id": "q3", "sql": "SELECT 1"}]
>>> run = evaluate_predictions(draft, preds, db, suite=False)
>>> run.aggregates["overall"].n, run.skipped
(2, ('q3',))
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import math
import os
import threading
import time
import typing as t
from pathlib import Path

from sqltune import sandbox
from sqltune.difficulty import TIERS, measure
from sqltune.errors import ConfigError, SqltuneError, did_you_mean
from sqltune.evalset import EvalCase, Evalset
from sqltune.grade import result_schema
from sqltune.grade.grader import GoldError, grade
from sqltune.grade.invented import Invented, invented_identifiers
from sqltune.grade.policy import ComparisonPolicy
from sqltune.grade.suite import SuiteOptions, SuiteVerdict, build_suite, grade_suite, suite_manifest
from sqltune.grade.verdict import Status, Verdict
from sqltune.schema import Schema

__all__ = [
    "METRICS", "GradeRun", "ItemResult", "Metric", "Prediction", "PredictionsError", "TierStats",
    "evaluate_predictions", "load_predictions", "wilson",
]  # fmt: skip

#: Every metric and whether higher is better (the headline is ``ex_strict``).
METRICS: t.Final[dict[str, bool]] = {
    "ex_strict": True, "ex_lenient": True, "ts": True, "invented_identifier_rate": False,
    "invented_literal_rate": False,
}  # fmt: skip
HEADLINE: t.Final = "ex_strict"


class PredictionsError(ConfigError):
    """A predictions file or list is malformed or names unknown cases; ``problems`` lists each one."""

    def __init__(self, message: str, problems: t.Sequence[str] = ()) -> None:
        self.problems = tuple(problems)
        super().__init__(message)


@dataclasses.dataclass(frozen=True)
class Prediction:
    """One predicted query: ``sql`` is ``None`` for no answer; ``extra`` holds every other key."""

    id: str
    sql: str | None
    extra: t.Mapping[str, t.Any] = dataclasses.field(default_factory=dict)
    line: int | None = None


@dataclasses.dataclass(frozen=True)
class Metric:
    """``k`` of ``n`` items, with the 95 % Wilson interval; ``value`` is ``None`` when ``n`` is 0."""

    name: str
    k: int
    n: int
    higher_is_better: bool

    @property
    def value(self) -> float | None:
        return self.k / self.n if self.n else None

    @property
    def ci(self) -> tuple[float, float] | None:
        return wilson(self.k, self.n) if self.n else None

    def to_dict(self) -> result_schema.Metric:
        lo, hi = self.ci or (None, None)
        return result_schema.Metric(name=self.name, value=self.value, k=self.k, n=self.n, ci_low=lo, ci_high=hi,
                                    higher_is_better=self.higher_is_better)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class TierStats:
    """Aggregates over one tier (or ``overall``)."""

    n: int
    metrics: t.Mapping[str, Metric]
    taxonomy: t.Mapping[str, int]
    ts_only: int = 0


@dataclasses.dataclass(frozen=True)
class ItemResult:
    """Everything known about one case's prediction."""

    case: EvalCase
    tier: str
    measured_difficulty: str | None
    measured_score: float | None
    pred_sql: str | None
    missing: bool
    verdict: Verdict
    ts: SuiteVerdict | None
    invented: Invented | None
    extra: t.Mapping[str, t.Any]
    seconds: float

    @property
    def id(self) -> str:
        return self.case.id

    @property
    def invented_identifier(self) -> bool | None:
        """At least one invented table or column; ``None`` when missing or unparseable."""
        if self.invented is None or self.invented.unparseable:
            return None
        return bool(self.invented.tables or self.invented.columns)

    @property
    def invented_literal(self) -> bool | None:
        if self.invented is None or self.invented.unparseable:
            return None
        return bool(self.invented.literals)


@dataclasses.dataclass(frozen=True)
class GradeRun:
    """A graded evalset: per-item results, aggregates and provenance (see :mod:`sqltune.grade.report`)."""

    evalset: Evalset
    db: str
    schema_fingerprint: str
    domain_hash: str
    schema_sample_version: int | None
    policy: ComparisonPolicy
    config: t.Mapping[str, t.Any]
    items: tuple[ItemResult, ...]
    aggregates: t.Mapping[str, TierStats]
    missing: tuple[str, ...]
    problems: tuple[str, ...]
    suite: t.Mapping[str, t.Any] | None
    date: str
    git_hash: str | None
    versions: t.Mapping[str, str]
    wall_s: float
    suite_build_s: float
    skipped: tuple[str, ...] = ()

    @property
    def headline(self) -> Metric:
        return self.aggregates["overall"].metrics[HEADLINE]


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson score interval of ``k`` successes in ``n`` trials (95 % by default).

    >>> [round(x, 3) for x in wilson(8, 10)]
    [0.49, 0.943]
    """
    if n <= 0:
        raise ValueError("n must be positive")
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


# ------------------------------------------------------------------------------------ predictions
def load_predictions(path: str | os.PathLike[str], *, strict: bool = True) -> tuple[list[Prediction], list[str]]:
    """Read a predictions JSONL file: ``(predictions, problems)``.

    Problems (invalid JSON, not an object, missing or mistyped ``id``/``sql``, duplicate ids) name
    the file and line. With ``strict`` (default) any problem raises :class:`PredictionsError`
    listing them all; otherwise the bad lines are skipped and the problems returned.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PredictionsError(f"Predictions file not found: {p}") from None
    preds: list[Prediction] = []
    problems: list[str] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{p.name}:{n}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as e:
            problems.append(f"{where}: invalid JSON: {e.msg} (column {e.colno})")
            continue
        pred = _prediction(data, where, n, problems)
        if pred is not None:
            preds.append(pred)
    preds = _dedupe(preds, problems, p.name)
    if problems and strict:
        raise PredictionsError(_listing(f"Predictions {p.name}", problems), problems)
    return preds, problems


def _prediction(data: t.Any, where: str, line: int | None, problems: list[str]) -> Prediction | None:
    if isinstance(data, Prediction):
        return data
    if not isinstance(data, t.Mapping):
        problems.append(f"{where}: expected a JSON object, got {type(data).__name__}")
        return None
    missing = [k for k in ("id", "sql") if k not in data]
    if missing:
        problems.append(f"{where}: missing " + ", ".join(repr(k) for k in missing))
        return None
    if not isinstance(data["id"], str) or not data["id"].strip():
        problems.append(f"{where}: 'id' must be a non-empty string, got {data['id']!r}")
        return None
    if data["sql"] is not None and not isinstance(data["sql"], str):
        problems.append(f"{where}: 'sql' must be a string or null, got {type(data['sql']).__name__}")
        return None
    extra = {k: v for k, v in data.items() if k not in ("id", "sql")}
    return Prediction(data["id"], data["sql"], extra, line)


def _dedupe(preds: list[Prediction], problems: list[str], name: str) -> list[Prediction]:
    first: dict[str, Prediction] = {}
    for pred in preds:
        if pred.id in first:
            at = f"{name}:{pred.line}" if pred.line else name
            was = f"line {first[pred.id].line}" if first[pred.id].line else "earlier"
            problems.append(f"{at}: duplicate id {pred.id!r} (first on {was})")
        else:
            first[pred.id] = pred
    return list(first.values())


def _listing(head: str, problems: t.Sequence[str]) -> str:
    noun = "problem" if len(problems) == 1 else "problems"
    return f"{head} has {len(problems)} {noun}:\n" + "\n".join("  " + p for p in problems)


def _normalise(
    predictions: str | os.PathLike[str] | t.Iterable[t.Mapping[str, t.Any] | Prediction], evalset: Evalset,
) -> tuple[dict[str, Prediction], list[str]]:  # fmt: skip
    if isinstance(predictions, (str, os.PathLike)):
        preds, problems = load_predictions(predictions)
    else:
        problems = []
        preds = []
        for i, data in enumerate(predictions):
            pred = _prediction(data, f"prediction {i + 1}", None, problems)
            if pred is not None:
                preds.append(pred)
        preds = _dedupe(preds, problems, "predictions")
        if problems:
            raise PredictionsError(_listing("Predictions", problems), problems)
    known = [c.id for c in evalset.cases]
    unknown = [p.id for p in preds if p.id not in set(known)]
    if unknown:
        lines = [f"unknown case id {u!r}. " + (did_you_mean(u, known) or f"Evalset {evalset.name!r} has "
                 f"{len(known)} cases.") for u in unknown]  # fmt: skip
        raise PredictionsError(_listing(f"Predictions for evalset {evalset.name!r}", lines), lines)
    return {p.id: p for p in preds}, problems


# ---------------------------------------------------------------------------------------- grading
def evaluate_predictions(
    evalset: Evalset,
    predictions: str | os.PathLike[str] | t.Iterable[t.Mapping[str, t.Any] | Prediction],
    db: str | os.PathLike[str],
    *,
    schema: Schema | None = None,
    suite: bool = True,
    k: int = 5,
    seed: int = 0,
    policy: ComparisonPolicy | None = None,
    workers: int = 2,
    progress: t.Callable[[int, int], None] | None = None,
    timeout_s: float = 5.0,
    row_cap: int = 10_000,
    suite_options: SuiteOptions | None = None,
    include_unreviewed: bool = False,
) -> GradeRun:
    """Grade ``predictions`` for every case of ``evalset`` against the DuckDB file ``db``.

    Args:
        evalset: The cases (:func:`sqltune.evalset.load_evalset`).
        predictions: A JSONL path, or mappings / :class:`Prediction` s with ``id`` and ``sql``.
        db: The database the golds were written for.
        schema: Its snapshot (for invented identifiers and the suite); default: introspected.
        suite: Also grade on ``k`` perturbed copies (test-suite accuracy); built once and cached.
        k, seed: Copies and seed of the suite.
        policy: Comparison rules; default the evalset's.
        workers: Grading threads.
        progress: Called as ``progress(done, total)`` after each case.
        timeout_s, row_cap: Limits for each prediction.
        suite_options: How copies are perturbed (:class:`~sqltune.grade.suite.SuiteOptions`).
        include_unreviewed: Also grade cases marked ``reviewed: false`` (by default they are
            skipped: listed in ``skipped``, in neither ``items`` nor any count).

    Raises:
        PredictionsError: Malformed predictions or ids the evalset lacks (all named).
        GoldError: A gold is broken on ``db`` (every broken case named); fix the evalset.
    """
    started = time.perf_counter()
    by_id, problems = _normalise(predictions, evalset)
    graded = evalset if include_unreviewed else evalset.reviewed_only()
    skipped = () if include_unreviewed else evalset.unreviewed
    if skipped:
        problems.append(f"{len(skipped)} unreviewed cases skipped, not counted until reviewed: " + ", ".join(skipped))
    db_path = str(Path(db).expanduser().resolve())
    if schema is None:
        from sqltune.introspect import introspect

        sandbox.close_all()  # introspection opens the file with other settings than the cached sandbox
        schema = introspect(db_path)
    policy = policy or evalset.policy
    suite_dbs: list[Path] = []
    manifest: dict[str, t.Any] | None = None
    build_s = 0.0
    if suite:
        t0 = time.perf_counter()
        suite_dbs = build_suite(db_path, schema, k=k, seed=seed, golds=graded.cases, options=suite_options)
        build_s = time.perf_counter() - t0
        manifest = suite_manifest(suite_dbs)
    cache: dict[t.Any, t.Any] = {}
    total = len(graded.cases)
    done = 0
    lock = threading.Lock()

    def one(case: EvalCase) -> ItemResult | GoldError:
        nonlocal done
        try:
            return _grade_item(case, by_id.get(case.id), db_path, schema, policy, suite_dbs, cache, timeout_s,
                               row_cap)  # fmt: skip
        except GoldError as e:
            return e
        finally:
            with lock:
                done += 1
                if progress is not None:
                    progress(done, total)

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        outcomes = list(pool.map(one, graded.cases))
    broken = [o for o in outcomes if isinstance(o, GoldError)]
    if broken:
        raise GoldError(_listing(f"Evalset {evalset.name!r}", [str(e) for e in broken]))
    items = tuple(t.cast(ItemResult, o) for o in outcomes)
    missing = tuple(c.id for c in graded.cases if c.id not in by_id)
    return GradeRun(
        evalset=evalset, db=db_path, schema_fingerprint=schema.fingerprint(), domain_hash=schema.domain_hash(),
        schema_sample_version=schema.sample_version, policy=policy,
        config={"suite": suite, "k": k, "seed": seed, "workers": workers, "timeout_s": timeout_s,
                "row_cap": row_cap},
        items=items, aggregates=aggregate(items, suite=suite), missing=missing, problems=tuple(problems),
        suite=_suite_summary(manifest, suite_dbs, graded) if manifest is not None else None,
        date=result_schema.now(), git_hash=result_schema.git_hash(), versions=dict(result_schema.versions()),
        wall_s=time.perf_counter() - started, suite_build_s=build_s, skipped=skipped,
    )  # fmt: skip


def _grade_item(
    case: EvalCase, pred: Prediction | None, db: str, schema: Schema, policy: ComparisonPolicy,
    suite_dbs: t.Sequence[Path], cache: dict[t.Any, t.Any], timeout_s: float, row_cap: int,
) -> ItemResult:  # fmt: skip
    start = time.perf_counter()
    sql = pred.sql if pred is not None else None
    verdict = grade(sql, case, db, policy, gold_cache=cache, timeout_s=timeout_s, row_cap=row_cap)
    ts = None
    if suite_dbs:
        ts = grade_suite(sql, case, db, suite_dbs, policy, gold_cache=cache, original=verdict, timeout_s=timeout_s,
                         row_cap=row_cap)  # fmt: skip
    invented = invented_identifiers(sql, schema) if sql is not None and verdict.status is not Status.EMPTY else None
    try:
        difficulty = measure(case.gold_sql[0])
        tier_m, score = difficulty.tier, difficulty.score
    except SqltuneError:
        tier_m, score = None, None
    tier = case.difficulty or tier_m or "hard"
    return ItemResult(case, tier, tier_m, score, sql, pred is None, verdict, ts, invented,
                      dict(pred.extra) if pred is not None else {}, time.perf_counter() - start)  # fmt: skip


def aggregate(items: t.Sequence[ItemResult], *, suite: bool = True) -> dict[str, TierStats]:
    """Metrics, failure taxonomy and TS-only failures, overall and per tier."""
    out: dict[str, TierStats] = {}
    for tier in ("overall", *TIERS):
        group = [i for i in items if tier == "overall" or i.tier == tier]
        present = [i for i in group if i.invented_identifier is not None]
        metrics = {
            "ex_strict": Metric("ex_strict", sum(i.verdict.strict for i in group), len(group), True),
            "ex_lenient": Metric("ex_lenient", sum(i.verdict.lenient for i in group), len(group), True),
        }
        if suite:
            metrics["ts"] = Metric("ts", sum(bool(i.ts and i.ts.correct) for i in group), len(group), True)
        metrics["invented_identifier_rate"] = Metric(
            "invented_identifier_rate", sum(bool(i.invented_identifier) for i in present), len(present), False)
        metrics["invented_literal_rate"] = Metric(
            "invented_literal_rate", sum(bool(i.invented_literal) for i in present), len(present), False)
        taxonomy: dict[str, int] = {}
        for i in group:
            if not i.verdict.correct:
                taxonomy[i.verdict.label] = taxonomy.get(i.verdict.label, 0) + 1
        taxonomy = dict(sorted(taxonomy.items(), key=lambda kv: (-kv[1], kv[0])))
        ts_only = sum(1 for i in group if i.verdict.correct and i.ts is not None and not i.ts.correct)
        out[tier] = TierStats(len(group), metrics, taxonomy, ts_only)
    return out


def _suite_summary(manifest: dict[str, t.Any], paths: t.Sequence[Path], evalset: Evalset) -> dict[str, t.Any]:
    golds: list[str] = []
    owners: dict[str, list[str]] = {}
    for case in evalset.cases:
        for sql in case.gold_sql:
            if sql not in owners:
                golds.append(sql)
            owners.setdefault(sql, []).append(case.id)

    def ids(indexes: t.Iterable[int]) -> list[str]:
        return sorted({cid for j in indexes if j < len(golds) for cid in owners[golds[j]]})

    return {
        "key": manifest["key"], "copies": [str(p) for p in paths], "golds": manifest["golds"],
        "golds_nonempty": list(manifest["golds_nonempty"]),
        "empty_golds": [ids(c["empty_golds"]) for c in manifest["copies"]], "build_s": manifest["build_s"],
    }  # fmt: skip
