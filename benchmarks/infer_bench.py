"""Benchmark: inference accuracy and speed, with and without constrained decoding and retrieval few-shot.

On a fixed stratified subset of both shipped evalsets (:func:`sqltune.evalset.stratified_subset`:
the first 10 easy, 10 medium and 10 hard cases of each; ``--full`` for all 150, ``--limit N`` for
N per tier), one model (default: the embedded default) answers every question through
:class:`~sqltune.infer.Text2SQL` in up to four configurations, in the same run:

* **base**: the schema in the prompt, free decoding;
* **constrained**: the same with schema-constrained decoding (:mod:`sqltune.infer.constrain`);
* **k-shot** and **k-shot constrained**: plus the ``--shots`` most similar verified question/SQL
  pairs retrieved from the project's generated training pairs
  (``SQLTUNE_HOME/projects/<evalset>/pairs``, for a project built from the same sample). Without
  such pairs these two are skipped, and the report says so.

Each is graded with :func:`sqltune.grade.evaluate_predictions` (EX, test-suite accuracy with
``--no-suite`` to skip it, invented-identifier rate, per tier). Reported: those per tier, seconds per
question, and for constrained rows the overhead ratio (seconds per question against the same
configuration unconstrained) and the constraint processor's own share of the decoding time.
Predictions are cached under ``benchmarks/out/infer/`` by a hash of everything that shapes them
(model, evalset cases, configuration, decoding options, schema fingerprint, few-shot pairs), so a
re-run only grades (cached seconds are the ones measured when they were made). Prints a table and
writes ``benchmarks/results/infer.json`` and ``infer.md`` (``infer-limitN`` with ``--limit``).

Run: ``python benchmarks/infer_bench.py`` (2 cores, default model: about an hour or two; a quick
check: ``--limit 1 --model smollm2-135m``).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import sys
import time
import typing as t
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TIERS = ("easy", "medium", "hard", "overall")
METRICS = ("ex_strict", "ts", "invented_identifier_rate")


@dataclasses.dataclass(frozen=True)
class Config:
    """One row of the table: what shapes the predictions."""

    constrained: bool = False
    shots: int = 0
    candidates: int = 1
    max_new_tokens: int = 160
    batch_size: int = 4

    @property
    def label(self) -> str:
        parts = [f"{self.shots}-shot" if self.shots else "base"]
        if self.constrained:
            parts.append("constrained")
        return " ".join(parts)


def few_shot_pairs(name: str, schema: t.Any) -> tuple[list[tuple[str, str]], str]:
    """The training pairs of project ``name`` (if it was built from the same schema) and a note on them."""
    from sqltune import home, project
    from sqltune.errors import SqltuneError
    from sqltune.generate.files import load_pairs

    folder = home.project_dir(name) / "pairs"
    if not (folder / "pairs.jsonl").is_file():
        return [], f"no generated pairs for {name} (run `sqltune generate {name}`): few-shot rows skipped"
    try:
        snap = project.load_snapshot(name)
        _, pairs = load_pairs(folder)
    except SqltuneError as e:
        return [], f"the pairs of project {name} cannot be read ({e}): few-shot rows skipped"
    if snap.fingerprint() != schema.fingerprint():
        return [], f"project {name} has another schema than the sample: few-shot rows skipped"
    train = [(p.question, p.sql) for p in pairs if p.split == "train"]
    return train, f"{len(train)} training pairs of project {name}"


def cache_key(model: str, ev: t.Any, cfg: Config, schema: t.Any, examples: list[tuple[str, str]]) -> str:
    blob = json.dumps({"model": model, "evalset": ev.name, "version": ev.version, "cases": [c.id for c in ev.cases],
                       "config": dataclasses.asdict(cfg), "schema": schema.fingerprint(),
                       "examples": hashlib.sha256(json.dumps(examples).encode()).hexdigest() if cfg.shots else None},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def predict(model: t.Any, schema: t.Any, ev: t.Any, cfg: Config, examples: list[tuple[str, str]],
            folder: Path) -> dict[str, t.Any]:
    """Predictions (cached in ``folder``) and how long they took."""
    from sqltune import atomic
    from sqltune.infer import DecodeConfig, Text2SQL
    from sqltune.infer.predict import predict_evalset

    preds, meta = folder / "predictions.jsonl", folder / "predict.json"
    if preds.is_file() and meta.is_file():
        done = {json.loads(line)["id"] for line in preds.read_text(encoding="utf-8").splitlines() if line.strip()}
        if done >= {c.id for c in ev.cases}:
            return dict(json.loads(meta.read_text()), cached=True)
    decode = DecodeConfig(max_new_tokens=cfg.max_new_tokens, num_candidates=cfg.candidates, num_beams=cfg.candidates,
                          batch_size=cfg.batch_size)
    bot = Text2SQL(schema, model, constrained=cfg.constrained, decode=decode, examples=examples, shots=cfg.shots)
    procs: list[t.Any] = []
    if cfg.constrained:  # keep the processors, for their own timing
        make = bot._constraint_factory

        def factory() -> t.Callable[[int], t.Any]:
            inner = make()
            return lambda n: procs.append(inner(n)) or procs[-1]

        bot._constraint_factory = factory  # type: ignore[method-assign]
    t0 = time.perf_counter()
    try:
        predict_evalset(bot, ev, preds)
    finally:
        bot.close()
    seconds = time.perf_counter() - t0
    info = {"seconds": round(seconds, 2), "cases": len(ev.cases),
            "processor_s": round(sum(p.stats["seconds"] for p in procs), 3),
            "masks_computed": sum(p.stats["masks_computed"] for p in procs)}
    atomic.write_json(meta, info)
    return dict(info, cached=False)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="Model alias, folder or hub id (default: the embedded default).")
    ap.add_argument("--evalsets", default="cpg,biotech")
    ap.add_argument("--full", action="store_true", help="All cases instead of 10 per tier.")
    ap.add_argument("--limit", type=int, default=None, help="Cases per tier (a quick run).")
    ap.add_argument("--shots", type=int, default=3)
    ap.add_argument("--candidates", type=int, default=1, help="Beam candidates per question.")
    ap.add_argument("--max-new-tokens", type=int, default=160)
    ap.add_argument("--no-suite", action="store_true", help="EX only (no test-suite accuracy).")
    ap.add_argument("--threads", type=int, default=None, help="torch threads on CPU (default: torch's).")
    ap.add_argument("--out", default=None, help="Results file (default: benchmarks/results/infer[-limitN].json).")
    args = ap.parse_args(argv)

    from sqltune import atomic
    from sqltune.evalset import load_evalset, stratified_subset
    from sqltune.grade import evaluate_predictions
    from sqltune.models import DEFAULT_MODEL, load_model
    from sqltune.targets import resolve_target

    started = time.perf_counter()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    model_name = args.model or DEFAULT_MODEL
    model = load_model(model_name)
    per_tier = 0 if args.full else (args.limit or 10)
    cache = ROOT / "benchmarks" / "out" / "infer"
    rows: list[dict[str, t.Any]] = []
    notes: list[str] = []
    for name in [e for e in args.evalsets.split(",") if e]:
        ev = load_evalset(name)
        if per_tier:
            ev = stratified_subset(ev, per_tier)
        db, schema = resolve_target(sample=ev.sample)
        if not schema.execution_db:
            schema = dataclasses.replace(schema, execution_db=str(db))
        examples, note = few_shot_pairs(name, schema) if args.shots else ([], "few-shot off (--shots 0)")
        notes.append(f"{name}: {note}")
        print(f"{name}: {len(ev.cases)} cases; {note}", flush=True)
        configs = [Config(constrained=c, shots=s, candidates=args.candidates, max_new_tokens=args.max_new_tokens)
                   for s in ([0, args.shots] if examples else [0]) for c in (False, True)]
        base_s: dict[int, float] = {}
        for cfg in configs:
            key = cache_key(model_name, ev, cfg, schema, examples)
            folder = cache / f"{name}-{cfg.label.replace(' ', '-')}-{key}"
            info = predict(model, schema, ev, cfg, examples if cfg.shots else [], folder)
            run = evaluate_predictions(ev, folder / "predictions.jsonl", db, schema=schema, suite=not args.no_suite)
            per_q = info["seconds"] / max(info["cases"], 1)
            if not cfg.constrained:
                base_s[cfg.shots] = per_q
            row: dict[str, t.Any] = {"evalset": name, "config": cfg.label, **dataclasses.asdict(cfg),
                                     "cases": len(ev.cases), "s_per_question": round(per_q, 2),
                                     "cached": info["cached"], "predictions": str(folder.relative_to(ROOT))}
            for tier in TIERS:
                stats = run.aggregates.get(tier)
                for m in METRICS:
                    metric = stats.metrics.get(m) if stats else None
                    row[f"{m}.{tier}"] = None if metric is None or metric.value is None else round(metric.value, 4)
            if cfg.constrained and cfg.shots in base_s:
                row["overhead_ratio"] = round(per_q / base_s[cfg.shots], 3) if base_s[cfg.shots] else None
                share = info.get("processor_s", 0.0) / info["seconds"] if info["seconds"] else None
                row["processor_share"] = None if share is None else round(share, 4)
            rows.append(row)
            print(f"  {cfg.label}: EX {row['ex_strict.overall']}, invented {row['invented_identifier_rate.overall']}, "
                  f"{per_q:.1f} s/question{' (cached)' if info['cached'] else ''}", flush=True)

    table = markdown_table(rows, suite=not args.no_suite)
    print("\n" + table)
    scope = "full" if args.full else f"{per_tier} per tier"
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / (
        f"infer-limit{args.limit}.json" if args.limit and not args.full else "infer.json")
    doc = {
        "kind": "sqltune.bench.infer", "format": 1, "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "command": "python benchmarks/infer_bench.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "device": model.device, "load_avg": os.getloadavg()},
        "model": model_name, "scope": scope, "notes": notes, "wall_s": round(time.perf_counter() - started, 1),
        "baseline": "the same configuration without constrained decoding, in the same run (overhead_ratio)",
        "rows": rows,
        "higher_is_better": {"ex_strict": True, "ts": True, "invented_identifier_rate": False, "s_per_question": False,
                             "overhead_ratio": False},
    }
    atomic.write_json(out, doc)
    md = [f"# Inference: `{model_name}`, {scope}", "", f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, "
          f"device {model.device}. `{doc['command']}`", "", table, "", *[f"- {n}" for n in notes], ""]
    atomic.write_text(out.with_suffix(".md"), "\n".join(md))
    print(f"wrote {out} and {out.with_suffix('.md')}")
    return 0


def markdown_table(rows: list[dict[str, t.Any]], suite: bool = True) -> str:
    """One row per evalset and configuration: EX per tier, TS, invented identifiers, speed.

    >>> print(markdown_table([]))
    (no rows)
    """
    if not rows:
        return "(no rows)"
    metrics = ["ex_strict"] + (["ts"] if suite else [])
    head = ["evalset", "config"] + [f"{'EX' if m == 'ex_strict' else 'TS'} {tier}" for m in metrics for tier in TIERS]
    head += ["invented", "s/question", "overhead"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def pct(v: t.Any) -> str:
        return "-" if v is None else f"{v:.0%}"

    for r in rows:
        cells = [r["evalset"], r["config"]] + [pct(r[f"{m}.{tier}"]) for m in metrics for tier in TIERS]
        cells += [pct(r["invented_identifier_rate.overall"]), f"{r['s_per_question']:.1f}",
                  f"×{r['overhead_ratio']:.2f}" if r.get("overhead_ratio") else "-"]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
