"""Run the nightly job: every combination predicted, graded, recorded, compared with its baseline, reported.

For each combination (:meth:`~sqltune.nightly.config.NightlyConfig.combinations`):

1. predict and grade (EX and, with ``options.suite``, TS) with :func:`sqltune.evaluate.evaluate` into
   ``<out>/<label>/``. The predict step is injectable: a ``predictor(combination, evalset)`` returning
   ``{"id", "sql"}`` mappings, or the config's ``predictions`` template naming files to grade; either
   way the predictions are written first and ``evaluate`` grades them without loading a model;
2. append the run and its per-item results to the history (:mod:`sqltune.nightly.history`);
3. compare with the accepted baseline (:func:`sqltune.nightly.compare.compare`), with schema drift
   since the baseline's snapshot (:func:`sqltune.drift.diff`). The first run of a combination
   becomes its baseline; ``accept=True`` makes this run the baseline of every combination it ran.

Then ``junit.xml``, ``report.md`` and ``report.html`` are written to the output folder
(:mod:`sqltune.nightly.report`) with ``summary.json``. :attr:`NightlyResult.exit_code` is 0 when
nothing regressed (or it was accepted), 2 on a regression, 1 when a combination could not run.
A run is resumable: ``resume=RUN_ID`` reuses that run's folder and finished predictions and
rewrites its history rows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
import traceback
import typing as t
from pathlib import Path

from sqltune import atomic, home
from sqltune.errors import ConfigError, MissingArtifactError, SqltuneError
from sqltune.nightly.compare import Comparison, compare
from sqltune.nightly.config import Combination, NightlyConfig
from sqltune.nightly.history import History, ItemRecord, RunRecord, TrendPoint

if t.TYPE_CHECKING:
    from sqltune.evalset import Evalset
    from sqltune.grade.run import GradeRun
    from sqltune.schema import Schema

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_REGRESSION", "ComboOutcome", "NightlyResult", "Predictor", "run_nightly"]

EXIT_OK: t.Final = 0
EXIT_ERROR: t.Final = 1
EXIT_REGRESSION: t.Final = 2

#: ``predictor(combination, evalset)`` -> predictions (``{"id": ..., "sql": ...}``) for the evalset's cases.
Predictor = t.Callable[[Combination, "Evalset"], t.Iterable[t.Mapping[str, t.Any]]]


@dataclasses.dataclass(frozen=True)
class ComboOutcome:
    """What one combination did tonight.

    Attributes:
        status: ``baseline`` (first run), ``pass``, ``fail`` (a regression) or ``error`` (could not run).
        metrics: Per scope: ``n``, ``ex_strict``, ``ts``, ``invented_identifier_rate`` of this run.
        comparison: Against ``baseline_run`` (``None`` on a first run or an error).
        accepted: This run is now the combination's baseline.
        trend: The last runs' accuracy, for the plots.
        folder: Predictions and the grading reports.
    """

    combo: Combination
    status: str
    metrics: t.Mapping[str, t.Mapping[str, float | int | None]] = dataclasses.field(default_factory=dict)
    comparison: Comparison | None = None
    baseline_run: str | None = None
    accepted: bool = False
    trend: tuple[TrendPoint, ...] = ()
    error: str | None = None
    folder: Path | None = None
    history: Path | None = None
    wall_s: float = 0.0

    def line(self) -> str:
        """One line for a terminal."""
        m = self.metrics.get("overall", {})
        if self.status == "error":
            return f"ERROR    {self.combo.label}: {(self.error or '').splitlines()[0]}"
        parts = [f"{k} {v:.1%}" for k, v in m.items() if k != "n" and isinstance(v, float)]
        head = f"{self.status.upper():<8} {self.combo.label}: " + ", ".join(parts) + f" (n={m.get('n', 0)})"
        if self.comparison is not None:
            c = self.comparison
            worse, better = c.flipped()
            head += f"; vs {self.baseline_run}: {c.primary} {len(worse)} regressed, {len(better)} fixed"
            if c.drift is not None and not c.drift.empty:
                head += "; schema drift"
        if self.accepted and self.status != "baseline":
            head += "; accepted as baseline"
        return head


@dataclasses.dataclass(frozen=True)
class NightlyResult:
    """The whole night: one :class:`ComboOutcome` per combination, and where the reports went."""

    run_id: str
    ts: dt.datetime
    git_hash: str | None
    config_hash: str
    outcomes: tuple[ComboOutcome, ...]
    out: Path
    paths: t.Mapping[str, Path] = dataclasses.field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        if any(o.status == "error" for o in self.outcomes):
            return EXIT_ERROR
        if any(o.status == "fail" and not o.accepted for o in self.outcomes):
            return EXIT_REGRESSION
        return EXIT_OK

    def summary(self) -> list[str]:
        lines = [f"nightly {self.run_id} (git {self.git_hash or 'n/a'}, config {self.config_hash})"]
        lines += ["  " + o.line() for o in self.outcomes]
        for o in self.outcomes:
            for d in o.comparison.failures if o.comparison else ():
                lines.append(f"  regression {o.combo.label}: {d.message()}")
            if o.comparison is not None and o.comparison.drift is not None and not o.comparison.drift.empty:
                lines.append(f"  schema drift {o.combo.label} since {o.baseline_run}:")
                lines += ["    " + x for x in o.comparison.drift.summary().splitlines()]
        return lines

    def to_dict(self) -> dict[str, t.Any]:
        return {
            "kind": "sqltune.nightly", "run_id": self.run_id, "ts": self.ts.isoformat(timespec="seconds"),
            "git_hash": self.git_hash, "config_hash": self.config_hash, "exit_code": self.exit_code,
            "combinations": [{
                "label": o.combo.label, "key": o.combo.key, "project": o.combo.project, "evalset": o.combo.evalset,
                "model": o.combo.model, "adapter": o.combo.adapter, "status": o.status, "accepted": o.accepted,
                "baseline_run": o.baseline_run, "error": o.error, "metrics": o.metrics,
                "deltas": [dict(dataclasses.asdict(d), points=d.points) for d in o.comparison.deltas]
                if o.comparison else [],
                "flips": [dataclasses.asdict(f) for f in o.comparison.flips] if o.comparison else [],
                "drift": o.comparison.drift.summary() if o.comparison and o.comparison.drift else None,
            } for o in self.outcomes],
        }  # fmt: skip


def run_nightly(config: NightlyConfig, *, predictor: Predictor | None = None, accept: bool = False,
                out: str | Path | None = None, resume: str | None = None, now: dt.datetime | None = None,
                progress: t.Callable[[str], None] | None = None) -> NightlyResult:
    """Run every combination of ``config``; see the module docstring.

    Args:
        predictor: Replaces the model: called once per combination with the (subset) evalset.
        accept: Make this run the baseline of every combination that ran.
        out: Reports folder (default: the config's ``out``, else ``SQLTUNE_HOME/nightly/<run id>``).
        resume: The id of an interrupted run to finish.
        now: The run's time (UTC; default now).
        progress: Called with a line as each combination starts.
    """
    from sqltune.grade.result_schema import git_hash

    stamp = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc).replace(tzinfo=None)
    # microseconds in the id: two runs within one second (a retry, a CI job) must not take each other for a resume
    run_id = resume or f"{stamp:%Y%m%dT%H%M%S.%f}-{config.digest()[:6]}"
    if out:
        out_dir = Path(out)
    else:
        out_dir = config.resolve(config.out) if config.out else home.home() / "nightly" / run_id
    combos = config.combinations()
    stamp = _claim(out_dir, run_id, stamp, resume, [c.label for c in combos])
    git = git_hash()
    outcomes = []
    for combo in combos:
        if progress:
            progress(f"{combo.label}: {combo.describe()}")
        start = time.perf_counter()
        try:
            outcome = _one(config, combo, run_id, stamp, git, out_dir, predictor, accept)
        except SqltuneError as e:
            outcome = ComboOutcome(combo, "error", error=str(e) or type(e).__name__)
        except Exception as e:  # noqa: BLE001 - one broken combination must not cost the night's other reports
            trace = out_dir / combo.label / "error.txt"
            atomic.write_text(trace, traceback.format_exc())
            outcome = ComboOutcome(combo, "error", error=f"internal error {type(e).__name__}: {e} (traceback: {trace})")
        outcomes.append(dataclasses.replace(outcome, wall_s=time.perf_counter() - start))
    result = NightlyResult(run_id, stamp, git, config.digest(), tuple(outcomes), out_dir)
    from sqltune.nightly.report import write_reports

    paths = dict(write_reports(result, out_dir))
    paths["json"] = out_dir / "summary.json"
    result = dataclasses.replace(result, paths=paths)
    atomic.write_json(paths["json"], result.to_dict())
    return result


def _claim(out_dir: Path, run_id: str, stamp: dt.datetime, resume: str | None, labels: t.Sequence[str]) -> dt.datetime:
    """Mark ``out_dir`` as this run's (``run.json``); return the run's time (a resumed run keeps its own).

    A folder another run used (a fixed ``out`` reused every night) loses that run's combination
    folders first, so their predictions are never taken for tonight's."""
    import shutil

    marker = out_dir / "run.json"
    previous = json.loads(marker.read_text(encoding="utf-8")) if marker.is_file() else None
    if resume:
        if previous is None or previous.get("run_id") != resume:
            held = f"holds run {previous.get('run_id')!r}" if previous else "has no run"
            raise ConfigError(f"Cannot resume {resume!r}: {out_dir} {held}.")
        return dt.datetime.fromisoformat(previous["ts"])
    if previous is not None:
        for label in labels:
            if (out_dir / label).is_dir():
                shutil.rmtree(out_dir / label)
    atomic.write_json(marker, {"run_id": run_id, "ts": stamp.isoformat()})
    return stamp


def _one(config: NightlyConfig, combo: Combination, run_id: str, stamp: dt.datetime, git: str | None, out_dir: Path,
         predictor: Predictor | None, accept: bool) -> ComboOutcome:  # fmt: skip
    from sqltune import project
    from sqltune.drift import diff
    from sqltune.evalset import load_evalset, stratified_subset
    from sqltune.evaluate import evaluate

    project_dir = home.existing_project_dir(combo.project)
    ev = load_evalset(combo.evalset, project_dir=project_dir)
    if config.options.subset:
        ev = stratified_subset(ev, config.options.subset)
    folder = out_dir / combo.label
    injected = predictor is not None or config.predictions is not None
    adapter = _adapter(combo.adapter, project_dir, config, must_exist=not injected)
    preds = folder / "predictions.jsonl"
    if predictor is not None and not _complete(preds, ev):
        _write_predictions(preds, ev, list(predictor(combo, ev)))
    elif predictor is None and config.predictions is not None and not _complete(preds, ev):
        _write_predictions(preds, ev, _read_predictions(config.predictions_path(combo)))  # type: ignore[arg-type]
    evaluation = evaluate(combo.project, ev, combo.model, adapter=adapter, config=config.options, out=folder,
                          label=combo.label)
    run = evaluation.run
    schema = project.load_snapshot(combo.project)
    items = [ItemRecord(i.id, i.tier, bool(i.verdict.strict), None if i.ts is None else bool(i.ts.correct),
                        i.invented_identifier, i.verdict.label, i.pred_sql) for i in run.items]
    current = {i.item_id: i for i in items}
    history_path = config.history_path(project_dir)
    with History(history_path) as h:
        baseline = h.baseline(combo.key)
        if baseline is not None and baseline.run_id == run_id:  # resuming a run that became the baseline
            baseline = None if baseline.status == "baseline" else h.run(baseline.baseline_run or "", combo.key)
        comparison = None
        if baseline is not None:
            drift = None
            if (baseline.schema_fingerprint, baseline.domain_hash) != (run.schema_fingerprint, run.domain_hash):
                old = h.snapshot(baseline.schema_fingerprint, baseline.domain_hash)
                drift = diff(old, schema) if old is not None else None
            comparison = compare(h.items(baseline.run_id, combo.key), current, config.thresholds, drift=drift,
                                 tables_of=_tables_of(ev, schema))
        status = "baseline" if baseline is None else ("fail" if comparison and comparison.failed else "pass")
        h.record(RunRecord(
            run_id=run_id, combo=combo.key, ts=stamp, git_hash=git, config_hash=config.digest(),
            project=combo.project, evalset=ev.name, evalset_version=str(ev.version), model=combo.model,
            adapter=combo.adapter, options=json.dumps(config.options.to_dict(), sort_keys=True),
            schema_fingerprint=run.schema_fingerprint, domain_hash=run.domain_hash, n=len(items), status=status,
            baseline_run=baseline.run_id if baseline else None, wall_s=run.wall_s + evaluation.predict_s,
        ), items, schema)  # fmt: skip
        accepted = baseline is None or accept
        if accepted:
            h.accept(combo.key, run_id, at=stamp)
        trend = tuple(h.trend(combo.key, config.trend_runs))
    return ComboOutcome(combo, status, _metrics(run), comparison, baseline.run_id if baseline else None, accepted,
                        trend, folder=folder, history=history_path)


def _metrics(run: GradeRun) -> dict[str, dict[str, float | int | None]]:
    out: dict[str, dict[str, float | int | None]] = {}
    for scope, stats in run.aggregates.items():
        if not stats.n:
            continue
        row: dict[str, float | int | None] = {"n": stats.n}
        for key in ("ex_strict", "ts", "invented_identifier_rate"):
            m = stats.metrics.get(key)
            row[key] = m.value if m is not None else None
        out[scope] = row
    return out


def _adapter(adapter: str | None, project_dir: Path, config: NightlyConfig, *, must_exist: bool) -> str | None:
    """An adapter path: absolute as given, relative inside the project folder (else beside the config)."""
    if adapter is None:
        return None
    p = Path(adapter).expanduser()
    candidates = [p] if p.is_absolute() else [project_dir / p, config.resolve(adapter)]
    for c in candidates:
        if c.is_dir():
            return str(c)
    if must_exist:
        raise MissingArtifactError(f"Adapter folder not found: {adapter} (looked in "
                                   + ", ".join(str(c) for c in candidates) + ").")  # fmt: skip
    return str(candidates[0])


def _complete(path: Path, ev: Evalset) -> bool:
    if not path.is_file():
        return False
    try:
        seen = {json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}
    except (json.JSONDecodeError, KeyError, TypeError):
        return False
    return {c.id for c in ev.cases} <= seen


def _read_predictions(path: Path) -> list[dict[str, t.Any]]:
    from sqltune.grade.run import load_predictions

    if not path.is_file():
        raise MissingArtifactError(f"Predictions file not found: {path} (from the config's 'predictions' template).")
    preds, _ = load_predictions(path)
    return [{"id": p.id, "sql": p.sql, **p.extra} for p in preds]


def _write_predictions(path: Path, ev: Evalset, rows: t.Sequence[t.Mapping[str, t.Any]]) -> None:
    """Keep the evalset's cases only, in its order; a case without a prediction gets ``sql: null``
    (so that :func:`~sqltune.evaluate.evaluate` sees a complete file and never calls the model)."""
    by_id: dict[str, t.Mapping[str, t.Any]] = {}
    for row in rows:
        if not isinstance(row, t.Mapping) or not isinstance(row.get("id"), str):
            raise ConfigError(f"A prediction must be a mapping with a string 'id', got {row!r}.")
        by_id.setdefault(row["id"], row)
    lines = [json.dumps(dict(by_id.get(c.id, {"id": c.id, "sql": None})), ensure_ascii=False) for c in ev.cases]
    atomic.write_text(path, "".join(line + "\n" for line in lines))


def _tables_of(ev: Evalset, schema: Schema) -> t.Callable[[str], set[str]]:
    """Item id -> the snapshot's ``schema.table`` names its first gold reads (matched without case)."""
    import sqlglot
    from sqlglot import exp

    known = {str(tb.key).lower(): str(tb.key) for tb in schema.tables}
    default = (schema.default_schema or "main").lower()
    golds = {c.id: c.gold_sql[0] for c in ev.cases}

    def tables(item_id: str) -> set[str]:
        try:
            tree = sqlglot.parse_one(golds.get(item_id, ""), read="duckdb")
        except sqlglot.errors.SqlglotError:
            return set()
        if tree is None:
            return set()
        ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
        out = set()
        for tb in tree.find_all(exp.Table):
            if not tb.db and tb.name.lower() in ctes:
                continue
            name = f"{(tb.db or default).lower()}.{tb.name.lower()}"
            out.add(known.get(name, f"{tb.db or default}.{tb.name}"))
        return out

    return tables
