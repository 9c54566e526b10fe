"""Benchmark: the accuracy table — base vs retrieval few-shot vs memory-tuned, per tier, both samples.

For each sample (``cpg``, ``biotech``) it runs the main job (:func:`sqltune.main_job.main_job`):
onboard the sample, memory-tune the model with the chosen preset on generated pairs only, then
evaluate on the sample's hand-written evalset (the fixed stratified subset, 10 cases per tier;
``--full`` for all 150) three ways, in the same run:

* **base**: the untuned model with the schema rendered into the prompt;
* **base + k-shot**: the same plus the k most similar verified training pairs (the RAG baseline);
* **tuned**: the memory-tuned model with no schema text (the schema lives in the weights);
  ``--constrained`` adds the tuned model with schema-constrained decoding.

With two or more samples it also checks **forgetting**: the adapter tuned on one sample, attached to
the base model, answers the *next* sample's evalset with that sample's schema in the prompt, against
the untuned model's answers there (the "base" row). Memory tuning should put one schema into the
weights without costing the model what it could do on another.

Each row reports EX and test-suite accuracy per tier, the invented-identifier rate and seconds per
question; next to every sample the leakage check (:mod:`sqltune.leakage`) says how close the
training pairs came to the evalset, so an accuracy gain can't silently be a leak. Everything is
resumable (the main job reuses adapters and cached predictions). Prints a table and writes
``benchmarks/results/accuracy.json`` and ``accuracy.md``.

Run: ``python benchmarks/accuracy_bench.py`` (2 cores: about 40 minutes per sample with the default
model; ``--samples cpg`` for one; ``--preset full --full --model qwen2.5-coder-1.5b`` on a GPU).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", default="cpg,biotech", help="Comma-separated sample names.")
    ap.add_argument("--model", default=None, help="Base model (default: the embedded default).")
    ap.add_argument("--preset", default="cpu", choices=["cpu", "full"])
    ap.add_argument("--adapter", default="lora", choices=["lora", "mome"])
    ap.add_argument("--pairs", type=int, default=2000)
    ap.add_argument("--shots", type=int, default=3)
    ap.add_argument("--full", action="store_true", help="All evalset cases instead of 10 per tier.")
    ap.add_argument("--constrained", action="store_true", help="Also the tuned model with constrained decoding.")
    ap.add_argument("--no-suite", action="store_true", help="EX only.")
    ap.add_argument("--smoke", action="store_true", help="Shrink every step (with a tiny --model folder; a check).")
    ap.add_argument("--no-forgetting", action="store_true", help="Skip the forgetting check across samples.")
    ap.add_argument("--forgetting-from", default="", help="Comma-separated samples whose adapter the forgetting check "
                    "attaches to the next sample (default: every sample).")
    ap.add_argument("--tune", default="", help='TuneConfig fields over the preset, as JSON (e.g. \'{"review": true}\').')
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"), help="Folder for accuracy.json/.md.")
    args = ap.parse_args(argv)

    from sqltune.grade.result_schema import git_hash
    from sqltune.leakage import leakage_line, project_leakage
    from sqltune.main_job import JobConfig, main_job

    started = time.perf_counter()
    results = []
    jobs = {}
    md = ["# Accuracy: base vs retrieval few-shot vs memory-tuned", ""]
    for sample in [s for s in args.samples.split(",") if s]:
        cfg = JobConfig(sample=sample, model=args.model, preset=args.preset, adapter=args.adapter, pairs=args.pairs,
                        subset=0 if args.full else 10, fewshot=True, shots=args.shots,
                        constrained=args.constrained, suite=not args.no_suite, smoke=args.smoke,
                        tune=json.loads(args.tune) if args.tune else {})
        job = main_job(cfg, say=lambda line: print(line, flush=True))
        leak = project_leakage(sample, sample)
        line = leakage_line(leak)
        print(f"\n{sample}: {job.summary['model']}, {job.tune.result.steps} tuning steps\n{job.table}\nleakage: {line}\n")
        md += [f"## {sample}", "", f"Model `{job.summary['model']}`, preset `{args.preset}`, adapter `{args.adapter}`, "
               f"{job.summary['pairs']['train']} training pairs, {job.tune.result.steps} steps "
               f"({job.tune.result.stopped}), {job.tune.recall.summary()}.", "", job.table, "",
               f"Leakage (training pairs vs evalset): {line}", ""]
        results.append({"sample": sample, "main_job": job.summary, "leakage": leak.to_dict(),
                        "leakage_line": line})
        jobs[sample] = job
    only = [s for s in args.forgetting_from.split(",") if s]
    forgetting = _forgetting(jobs, md, only) if len(jobs) > 1 and not args.no_forgetting else []
    doc = {
        "kind": "sqltune.bench.accuracy", "format": 1, "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "command": "python benchmarks/accuracy_bench.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "sqltune_commit": git_hash(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "wall_s": round(time.perf_counter() - started, 1), "results": results, "forgetting": forgetting,
        "higher_is_better": {"ex_strict": True, "ts": True, "invented_identifier_rate": False, "s_per_question": False},
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from sqltune import atomic

    atomic.write_json(out / "accuracy.json", doc)
    md += [f"Command: `{doc['command']}`; {doc['wall_s'] / 60:.0f} min on {os.cpu_count()} CPUs."]
    atomic.write_text(out / "accuracy.md", "\n".join(md) + "\n")
    print(f"wrote {out / 'accuracy.json'} and {out / 'accuracy.md'}")
    return 0


def _forgetting(jobs: dict, md: list[str], only: list[str] | None = None) -> list[dict]:
    """Each sample's adapter on the next sample's evalset (schema in the prompt) against the untuned base there."""
    from sqltune.evaluate import evaluate, tier_table

    names = list(jobs)
    rows = []
    md += ["## Forgetting", "", "The adapter tuned on one sample, on another sample's evalset with that schema in the "
           "prompt, against the untuned model there (EX per tier).", ""]
    for i, tuned_on in enumerate(names):
        if only and tuned_on not in only:
            continue
        other = names[(i + 1) % len(names)]
        base = jobs[other].evaluations[0]
        label = f"base + {tuned_on} adapter"
        ev = evaluate(other, other, jobs[tuned_on].summary["model"], adapter=jobs[tuned_on].summary["tune"]["adapter_dir"],
                      config=base.config, label=label)
        delta = {tier: (None if ev.metric(tier) is None or base.metric(tier) is None
                        else round(ev.metric(tier) - base.metric(tier), 4))
                 for tier in ("easy", "medium", "hard", "overall")}
        print(f"\nforgetting: {tuned_on} adapter on {other}\n{tier_table([base, ev])}\nEX change: {delta}\n", flush=True)
        md += [f"### {tuned_on} adapter on {other}", "", tier_table([base, ev]), ""]
        rows.append({"tuned_on": tuned_on, "evaluated_on": other, "ex_change": delta,
                     "base": {t: base.metric(t) for t in delta}, "with_adapter": {t: ev.metric(t) for t in delta},
                     "s_per_question": round(ev.predict_s / max(1, len(ev.run.items)), 2), "cached": ev.cached})
    return rows


if __name__ == "__main__":
    sys.exit(main())
