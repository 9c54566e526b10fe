"""The main job: sample -> onboard -> generate -> memory-tune -> evaluate base vs tuned -> a before/after table.

``sqltune pipeline cpg`` (the README's main command) runs it on a sample database with the
embedded default model and the ``cpu`` tuning preset: build the sample, onboard it as a project
(introspect, verified pairs, a draft evalset held out of training), tune, then grade the base
model (schema in the prompt) and the tuned model (schema in the weights: no schema text) on the
fixed stratified subset of the sample's hand-written evalset. Every step is resumable: a re-run
reuses the project, the finished adapter and cached predictions, so an interrupted job picks up
where it stopped. ``smoke=True`` shrinks every step (a tiny model, a handful of pairs, steps and
cases) so the test suite runs the whole chain.

>>> JobConfig.from_dict({"sample": "cpg"}).subset
10
>>> JobConfig.from_dict({"samples": "cpg"})
Traceback (most recent call last):
...
sqltune.errors.ConfigError: Unknown main-job option 'samples'. Did you mean 'sample'?
"""

from __future__ import annotations

import dataclasses
import sys
import time
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

from sqltune import atomic, home
from sqltune.errors import check_keys
from sqltune.grade.result_schema import git_hash

if t.TYPE_CHECKING:
    from sqltune.evaluate import Evaluation

Say = t.Callable[[str], None]


@dataclass(frozen=True)
class JobConfig:
    """The main job's settings (the defaults are the README's main command).

    Attributes:
        sample: The sample database (``cpg`` or ``biotech``); also the project name and the evalset.
        model: Base model (default: the embedded default, ``qwen2.5-coder-0.5b``).
        preset, adapter: Tuning preset (``cpu``/``full``) and adapter (``lora``/``mome``).
        pairs: Question/SQL pairs to generate.
        subset: Evalset cases per tier to evaluate (0: all).
        fewshot: Also evaluate the base model with retrieval few-shot (the RAG baseline), ``shots`` examples.
        constrained: Also evaluate the base and the tuned model with schema-constrained decoding.
        tuned_schema_prompt: Also evaluate the tuned model with the schema in the prompt, as the base
            model is asked (and, with ``constrained``, that constrained too); on by default.
        suite: Test-suite accuracy as well as EX.
        tune: :class:`~sqltune.tune.config.TuneConfig` fields over the preset.
        smoke: Shrink everything to seconds (for tests; pass a tiny ``model`` folder).
    """

    sample: str = "cpg"
    model: str | None = None
    preset: str = "cpu"
    adapter: str = "lora"
    pairs: int = 2000
    subset: int = 10
    fewshot: bool = False
    shots: int = 3
    constrained: bool = False
    tuned_schema_prompt: bool = True
    suite: bool = True
    max_new_tokens: int = 256
    batch_size: int = 8
    tune: dict[str, t.Any] = field(default_factory=dict)
    smoke: bool = False

    @classmethod
    def from_dict(cls, d: t.Mapping[str, t.Any]) -> JobConfig:
        check_keys(cls, d, "main-job option")
        return cls(**d)

    def resolved(self) -> JobConfig:
        """With the smoke-test shrinkage applied."""
        if not self.smoke:
            return self
        tune = {"max_steps": 2, "eval_every": 1, "batch_tokens": 256, "max_seq_len": 128, **self.tune}
        return dataclasses.replace(self, pairs=min(self.pairs, 40), subset=1, suite=False, max_new_tokens=12,
                                   tune=tune)


@dataclass(frozen=True)
class JobResult:
    """What the main job measured: the evaluations (base first), the tuning run, timings and files."""

    config: JobConfig
    evaluations: tuple[Evaluation, ...]
    tune: t.Any
    timings: dict[str, float]
    table: str
    files: dict[str, Path]
    summary: dict[str, t.Any]


def main_job(config: JobConfig = JobConfig(), *, say: Say | None = None,
             out: str | Path | None = None) -> JobResult:
    """Run the whole pipeline on one sample and return the before/after comparison.

    Args:
        config: See :class:`JobConfig`.
        say: Called with one line per step (default: silent).
        out: Also write the result JSON here (e.g. ``benchmarks/results/main_job.json``).
    """
    from sqltune import samples
    from sqltune.evaluate import EvalConfig, evaluate, tier_table
    from sqltune.models import DEFAULT_MODEL
    from sqltune.onboard import onboard
    from sqltune.tune.project import tune_config, tune_project

    cfg = config.resolved()
    if cfg.sample not in samples.SAMPLES:
        from sqltune.errors import NotFoundError

        raise NotFoundError("sample", cfg.sample, samples.SAMPLES)
    tcfg = tune_config(cfg.preset, cfg.adapter, cfg.tune or None)  # a bad tuning option fails before any work
    tell = say or (lambda _line: None)
    model = cfg.model or DEFAULT_MODEL
    timings: dict[str, float] = {}
    started = time.perf_counter()

    def step(name: str) -> t.Callable[[], None]:
        t0 = time.perf_counter()
        tell(f"[{name}] ...")
        return lambda: timings.__setitem__(name, round(time.perf_counter() - t0, 1))

    done = step("build")
    db = samples.build_sample(cfg.sample)
    done()
    tell(f"[build] sample {cfg.sample}: {db} ({timings['build']}s)")

    done = step("onboard")
    ob = onboard(f"sample:{cfg.sample}", cfg.sample, n=cfg.pairs, seed=0,
                 draft_per_tier=1 if cfg.smoke else 10, progress=None)
    done()
    tell(f"[onboard] {len(ob.schema.tables)} tables, {ob.train_pairs} training pairs ({ob.regenerated} generated: "
         f"{ob.reason}), {ob.heldout_pairs} held out for the draft evalset ({timings['onboard']}s)")

    done = step("tune")
    last = [0.0]

    def tuning(row: t.Mapping[str, t.Any]) -> None:
        if "step" in row and time.perf_counter() - last[0] > 30:
            last[0] = time.perf_counter()
            loss = row.get("loss")
            tell(f"[tune] step {row['step']}" + (f" loss {loss:.3f}" if isinstance(loss, float) else ""))

    tuned = tune_project(cfg.sample, model=model, preset=cfg.preset, adapter=cfg.adapter,
                         overrides=cfg.tune or None, progress=tuning)
    done()
    tell(f"[tune] {tuned.result.steps} steps ({tuned.result.stopped}), {tuned.recall.summary()}"
         f"{' (reused)' if tuned.reused else ''} -> {tuned.adapter_dir} ({timings['tune']}s)")
    if tuned.recall.fact_kinds:
        tell(f"[tune] facts recalled by kind: {tuned.recall.kinds_summary()}")
    adapter = str(tuned.adapter_dir)

    common = dict(subset=cfg.subset, suite=cfg.suite, max_new_tokens=cfg.max_new_tokens, batch_size=cfg.batch_size)
    runs: list[tuple[str, str | None, EvalConfig]] = [("base", None, EvalConfig(**common))]
    if cfg.constrained:  # the like-for-like baseline of the constrained tuned rows
        runs.append(("base, constrained", None, EvalConfig(**common, constrained=True)))
    if cfg.fewshot:
        runs.append((f"base + {cfg.shots}-shot retrieval", None, EvalConfig(**common, shots=cfg.shots)))
    if tcfg.prompt_mode == "schema":  # tuned with the schema in its prompts: asked the same way
        schema_run = EvalConfig(**common, prompt_budget=tcfg.prompt_budget_tokens)
        runs.append(("tuned + schema text", adapter, schema_run))
        if cfg.constrained:
            runs.append(("tuned + schema text, constrained", adapter, dataclasses.replace(schema_run, constrained=True)))
    else:
        runs.append(("tuned (no schema text)", adapter, EvalConfig(**common, schema_in_prompt=False)))
        if cfg.constrained:
            runs.append(("tuned, constrained", adapter, EvalConfig(**common, schema_in_prompt=False, constrained=True)))
        if cfg.tuned_schema_prompt:
            runs.append(("tuned + schema text", adapter, EvalConfig(**common)))
            if cfg.constrained:
                runs.append(("tuned + schema text, constrained", adapter, EvalConfig(**common, constrained=True)))
    evaluations: list[Evaluation] = []
    for label, adapter_dir, ecfg in runs:
        done = step(f"evaluate {label}")

        def shown(stage: str, k: int, n: int, label: str = label) -> None:
            if stage == "predict":
                tell(f"[evaluate] {label}: {k}/{n} predicted")

        ev = evaluate(cfg.sample, cfg.sample, model, adapter=adapter_dir, config=ecfg, label=label, progress=shown)
        done()
        evaluations.append(ev)
        tell(f"[evaluate] {label}: EX {_pct(ev.metric('overall'))}{' (cached)' if ev.cached else ''} "
             f"({timings[f'evaluate {label}']}s) -> {ev.reports['md']}")
    timings["total"] = round(time.perf_counter() - started, 1)
    table = tier_table(evaluations)
    summary = {
        "kind": "sqltune.main_job", "format": 1, "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "command": " ".join(sys.argv), "sqltune_commit": git_hash(),
        "config": dataclasses.asdict(cfg), "model": str(model), "sample": cfg.sample,
        "schema_fingerprint": ob.schema.fingerprint(), "timings_s": timings,
        "pairs": {"train": ob.train_pairs, "heldout": ob.heldout_pairs},
        "tune": {"adapter_dir": adapter, "steps": tuned.result.steps, "stopped": tuned.result.stopped,
                 "identifier_loss": tuned.result.identifier_loss, "tokens_per_s": tuned.result.tokens_per_s,
                 "seconds": tuned.result.seconds, "recall": tuned.recall.to_dict(), "reused": tuned.reused,
                 "config": tcfg.to_dict()},
        "evaluations": [_row(ev) for ev in evaluations],
        "table_md": table,
    }
    folder = home.project_dir(cfg.sample) / "runs" / f"main-{time.strftime('%Y%m%d-%H%M%S')}"
    files = {"json": folder / "main.json", "md": folder / "main.md"}
    atomic.write_json(files["json"], summary)
    atomic.write_text(files["md"], f"# Main job: {cfg.sample}, {model}\n\n{table}\n")
    if out:
        files["out"] = Path(out)
        atomic.write_json(files["out"], summary)
    return JobResult(config=cfg, evaluations=tuple(evaluations), tune=tuned, timings=timings, table=table,
                     files=files, summary=summary)


def _row(ev: Evaluation) -> dict[str, t.Any]:
    tiers = {}
    for tier, stats in ev.run.aggregates.items():
        tiers[tier] = {key: {"value": m.value, "n": m.n, "ci": list(m.ci) if m.ci else None}
                       for key, m in stats.metrics.items() if m.n}
    return {"label": ev.label, "config": ev.config.to_dict(), "predict_s": round(ev.predict_s, 1),
            "s_per_question": round(ev.predict_s / max(1, len(ev.run.items)), 2), "cached": ev.cached,
            "tiers": tiers, "report": str(ev.reports["md"]), "predictions": str(ev.predictions)}


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"
