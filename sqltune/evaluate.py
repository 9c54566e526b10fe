"""``evaluate``: predict an evalset with a model (and adapter), grade it, write the reports.

One call does what ``sqltune predict`` followed by ``sqltune grade`` do. Predictions are cached by
a hash of everything that shapes them (model, adapter, evalset, subset, prompt and decoding
options, the schema's fingerprint), so a re-run or a resumed main job skips what is done.

>>> cfg = EvalConfig(subset=10, constrained=True)
>>> cfg.key() == EvalConfig(subset=10, constrained=True).key() != EvalConfig(subset=10).key()
True
>>> EvalConfig.from_dict({"subsets": 3})
Traceback (most recent call last):
...
sqltune.errors.ConfigError: Unknown evaluation option 'subsets'. Did you mean 'subset'?
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

from sqltune import atomic, home
from sqltune.errors import check_keys

if t.TYPE_CHECKING:
    from sqltune.evalset import Evalset
    from sqltune.grade.run import GradeRun
    from sqltune.models.load import Model
    from sqltune.schema import Schema


#: Options added after predictions were first cached, with their defaults (see :meth:`EvalConfig.key`).
LATE_OPTIONS: dict[str, t.Any] = {"repair": False, "prompt_budget": 3000}  # 3000: the budget before keys held it


@dataclass(frozen=True)
class EvalConfig:
    """What shapes the predictions and the grading.

    Attributes:
        subset: Cases per tier (:func:`sqltune.evalset.stratified_subset`); 0 for all.
        schema_in_prompt: Put the schema rendering in the prompt (off for tuned models: schema in the weights).
        constrained: Schema-constrained decoding.
        repair: With ``constrained``: decode freely, and again with the constraint only where no candidate
            parses, resolves and runs (:class:`~sqltune.infer.Text2SQL`'s ``repair``).
        shots: Retrieval few-shot examples from the project's generated pairs (0: none).
        candidates: Candidates per question (beam); the first that parses, resolves and runs wins.
        max_new_tokens: Decoding budget per query.
        batch_size: Questions decoded together.
        suite: Also test-suite accuracy on ``k`` perturbed copies.
        prompt_budget: Prompt tokens for the schema text; a larger schema is linked per question.
            0: always the whole schema, so every prompt starts alike and that start runs once
            (:mod:`sqltune.infer.prefix`).
    """

    subset: int = 0
    schema_in_prompt: bool = True
    constrained: bool = False
    repair: bool = False
    shots: int = 0
    candidates: int = 1
    max_new_tokens: int = 256
    batch_size: int = 4
    suite: bool = True
    k: int = 5
    prompt_budget: int = 600  # sqltune.prompt.builder.DEFAULT_BUDGET_TOKENS (not imported: it pulls in SQLAlchemy)

    @classmethod
    def from_dict(cls, d: t.Mapping[str, t.Any]) -> EvalConfig:
        check_keys(cls, d, "evaluation option")
        return cls(**d)

    def to_dict(self) -> dict[str, t.Any]:
        return dataclasses.asdict(self)

    def key(self) -> str:
        """A hash of the options; one added later (:data:`LATE_OPTIONS`) counts only when set, so the
        predictions cached before it existed keep their key."""
        return hashlib.sha256(json.dumps(self.key_dict(), sort_keys=True).encode()).hexdigest()[:12]

    def key_dict(self) -> dict[str, t.Any]:
        """The options that shape predictions, as they enter cache keys (constrained runs: with the
        constraint's revision, from 2 on)."""
        out = {k: v for k, v in self.to_dict().items() if not (k in LATE_OPTIONS and v == LATE_OPTIONS[k])}
        if self.constrained:
            from sqltune.infer.constrain import REVISION

            if REVISION > 1:
                out["constraint_revision"] = REVISION
        return out


@dataclass(frozen=True)
class Evaluation:
    """A graded run: the grader's :class:`~sqltune.grade.run.GradeRun` plus where everything went."""

    run: GradeRun
    label: str
    predictions: Path
    reports: dict[str, Path]
    config: EvalConfig
    predict_s: float
    cached: bool
    extra: dict[str, t.Any] = field(default_factory=dict)

    def metric(self, tier: str, key: str = "ex_strict") -> float | None:
        stats = self.run.aggregates.get(tier)
        m = stats.metrics.get(key) if stats else None
        return m.value if m is not None else None


def evaluate(target: str, evalset: str | Evalset, model: str | Model | None = None, *, adapter: str | None = None,
             config: EvalConfig = EvalConfig(), out: str | os.PathLike[str] | None = None, label: str | None = None,
             progress: t.Callable[[str, int, int], None] | None = None) -> Evaluation:
    """Predict every case of ``evalset`` for project ``target`` (or ``sample:NAME``) and grade it.

    Args:
        target: A project name (``SQLTUNE_HOME/projects/NAME``) or ``sample:cpg``.
        evalset: An evalset name or path (looked up in the project first), or a loaded one.
        model: A :class:`~sqltune.models.load.Model`, a registry alias, folder or hub id (default: the embedded default).
        adapter: A tuned adapter folder to attach (ignored when ``model`` is already loaded).
        out: Folder for ``predictions.jsonl`` and the reports (default: ``<project>/runs/eval-<label>-<key>``).
        progress: ``progress(stage, done, total)`` with stage ``predict`` or ``grade``.

    Returns:
        An :class:`Evaluation`; ``.run.aggregates[tier].metrics["ex_strict"].value`` is execution accuracy.
    """
    from sqltune.evalset import Evalset, load_evalset, stratified_subset
    from sqltune.grade import evaluate_predictions, write_reports
    from sqltune.models import DEFAULT_MODEL

    schema, db, project_dir = _target(target)
    ev = evalset if isinstance(evalset, Evalset) else load_evalset(evalset, project_dir=project_dir)
    if config.subset:
        ev = stratified_subset(ev, config.subset)
    model_name = model if isinstance(model, str) else (model.name if model is not None else DEFAULT_MODEL)
    model_adapter = adapter if (model is None or isinstance(model, str)) else model.adapter
    key = _key(model_name, model_adapter, ev, config, schema)
    label = label or _label(model_name, model_adapter, config)
    folder = Path(out) if out else (project_dir or home.home() / "runs") / "runs" / f"eval-{label}-{key}"
    preds = folder / "predictions.jsonl"
    cached = _complete(preds, [c.id for c in ev.cases])
    predict_s = 0.0
    extra: dict[str, t.Any] = {}
    if not cached:
        from sqltune.grade.result_schema import git_hash
        from sqltune.infer.predict import resumed_seconds

        before = resumed_seconds(preds)
        commit = git_hash()  # the code that made the predictions (the cache key does not hold it)
        first = _free_run(folder.parent, _key(model_name, model_adapter, ev,
                                              dataclasses.replace(config, constrained=False, repair=False), schema),
                          [c.id for c in ev.cases]) if config.repair else None
        t0 = time.perf_counter()
        stats = _predict(schema, ev, model if model is not None else DEFAULT_MODEL, model_adapter, config, preds,
                         project_dir, progress, first)
        reused = sum(sec for _, sec in first.values()) if first else 0.0  # the free pass, done before
        predict_s = time.perf_counter() - t0 + before + reused
        extra = {"constraint": stats, "sqltune_commit": commit} if config.constrained else {"sqltune_commit": commit}
        atomic.write_json(folder / "predict.json", {"seconds": round(predict_s, 2), "cases": len(ev.cases),
                                                    "resumed_s": round(before, 2), "reused_free_s": round(reused, 2),
                                                    **extra})
    elif (folder / "predict.json").is_file():
        meta = json.loads((folder / "predict.json").read_text())
        predict_s = float(meta["seconds"])
        extra = {k: meta[k] for k in ("constraint", "sqltune_commit") if k in meta}

    def graded(*_: t.Any) -> None:
        graded.n += 1  # type: ignore[attr-defined]
        if progress:
            progress("grade", graded.n, len(ev.cases))  # type: ignore[attr-defined]

    graded.n = 0  # type: ignore[attr-defined]
    run = evaluate_predictions(ev, preds, db, schema=schema, suite=config.suite, k=config.k, progress=graded)
    reports = write_reports(run, folder)
    return Evaluation(run=run, label=label, predictions=preds, reports=reports, config=config,
                      predict_s=predict_s, cached=cached, extra=extra)


def tier_table(evaluations: t.Sequence[Evaluation], metrics: t.Sequence[str] = ("ex_strict", "ts")) -> str:
    """A Markdown table: one row per evaluation, one column per tier and metric (plus invented identifiers).

    >>> tier_table([])
    '(no evaluations)'
    """
    if not evaluations:
        return "(no evaluations)"
    tiers = [tt for tt in ("easy", "medium", "hard", "overall")
             if any(tt in e.run.aggregates and e.run.aggregates[tt].metrics["ex_strict"].n for e in evaluations)]
    metrics = [m for m in metrics if any(e.metric("overall", m) is not None for e in evaluations)]
    head = ["run"] + [f"{m} {tt}" for m in metrics for tt in tiers] + ["invented", "s/question"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for e in evaluations:
        cells = [e.label]
        for m in metrics:
            for tt in tiers:
                v = e.metric(tt, m)
                cells.append("-" if v is None else f"{v:.0%}")
        inv = e.metric("overall", "invented_identifier_rate")
        cells.append("-" if inv is None else f"{inv:.0%}")
        n = len(e.run.items) or 1
        cells.append(f"{e.predict_s / n:.1f}" if e.predict_s else "-")
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _target(target: str) -> tuple[Schema, Path, Path | None]:
    from sqltune.targets import resolve_target

    if target.startswith("sample:"):
        db, schema = resolve_target(sample=target.split(":", 1)[1])
        project_dir = None
    else:
        db, schema = resolve_target(project=target)
        project_dir = home.project_dir(target)
    if not schema.execution_db:
        schema = dataclasses.replace(schema, execution_db=str(db))
    return schema, Path(db), project_dir


def _predict(schema: Schema, ev: Evalset, model: t.Any, adapter: str | None, config: EvalConfig, out: Path,
             project_dir: Path | None, progress: t.Callable[[str, int, int], None] | None,
             first: dict[str, tuple[list[str], float]] | None = None) -> dict[str, float]:
    """Write the predictions; return the constraint's totals (seconds, masks computed, dead ends)."""
    from sqltune.infer import DecodeConfig, Text2SQL
    from sqltune.infer.predict import predict_evalset
    from sqltune.prompt import PromptConfig

    examples: list[tuple[str, str]] = []
    if config.shots:
        examples = _examples(project_dir, schema.name)
    decode = DecodeConfig(num_candidates=config.candidates, num_beams=config.candidates,
                          max_new_tokens=config.max_new_tokens, batch_size=config.batch_size)
    bot = Text2SQL(schema, model, adapter=adapter, constrained=config.constrained, repair=config.repair, decode=decode,
                   prompt=PromptConfig(mode="schema" if config.schema_in_prompt else "none",
                                       budget_tokens=config.prompt_budget),
                   examples=examples, shots=config.shots)
    done = [0]

    def tick(n: int) -> None:
        done[0] += n
        if progress:
            progress("predict", done[0], len(ev.cases))

    try:
        predict_evalset(bot, ev, out, progress=tick, first=first)
    finally:
        bot.close()
    return {k: round(v, 3) for k, v in bot.constraint_stats.items()}


def _key(model_name: str, adapter: str | None, ev: Evalset, config: EvalConfig, schema: Schema) -> str:
    from sqltune.prompt.builder import METRIC_PROMPT_VERSION, PROMPT_VERSION

    key = {"model": model_name, "adapter": str(adapter or ""), "adapter_state": _state(adapter), "evalset": ev.name,
           "version": ev.version, "cases": [c.id for c in ev.cases], "config": config.key_dict(),
           "schema": schema.fingerprint(), "schema_docs": schema.docs_hash()}
    if PROMPT_VERSION != "1":  # keys made before prompt versions existed stay valid
        key["prompt"] = PROMPT_VERSION
    if schema.metrics and METRIC_PROMPT_VERSION != "1":
        key["metric_prompt"] = METRIC_PROMPT_VERSION
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]


def _free_run(runs: Path, key: str, ids: t.Sequence[str]) -> dict[str, tuple[list[str], float]] | None:
    """The candidates of a finished unconstrained run of the same configuration, for a repair run to reuse."""
    from sqltune.infer.predict import read_candidates

    for path in sorted(runs.glob(f"eval-*-{key}/predictions.jsonl")):
        if _complete(path, ids):
            return read_candidates(path)
    return None


def _examples(project_dir: Path | None, name: str) -> list[tuple[str, str]]:
    """Training pairs for retrieval few-shot: the project's generated ``train`` split."""
    from sqltune.errors import MissingArtifactError
    from sqltune.generate.files import load_pairs

    if project_dir is None or not (project_dir / "pairs" / "pairs.jsonl").is_file():
        raise MissingArtifactError(f"Few-shot needs generated pairs: run `sqltune generate {name}` first.")
    _, pairs = load_pairs(project_dir / "pairs")
    return [(p.question, p.sql) for p in pairs if p.split == "train"]


def _state(adapter: str | os.PathLike[str] | None) -> list[t.Any]:
    """What identifies an adapter folder's weights: its files' names, sizes and modification times."""
    if not adapter or not Path(adapter).is_dir():
        return []
    return sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in Path(adapter).iterdir() if p.is_file()
                  and p.suffix in (".safetensors", ".json", ".bin"))


def _complete(path: Path, ids: t.Sequence[str]) -> bool:
    if not path.is_file():
        return False
    try:
        seen = {json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}
    except (json.JSONDecodeError, KeyError):
        return False
    return set(ids) <= seen


def _label(model: str, adapter: str | None, config: EvalConfig) -> str:
    parts = [Path(model).name if os.sep in model else model]
    if adapter:
        parts.append("tuned")
    if not config.schema_in_prompt:
        parts.append("noschema")
    if config.constrained:
        parts.append("repair" if config.repair else "constrained")
    if config.shots:
        parts.append(f"{config.shots}shot")
    return "-".join(parts)


from sqltune.callable_module import make_callable as _make_callable  # noqa: E402

_make_callable(__name__, "evaluate")  # sqltune.evaluate(...) calls evaluate() (see sqltune.callable_module)
