"""Benchmark: the accuracy table — base vs retrieval few-shot vs memory-tuned, per tier, both samples.

For each sample (``cpg``, ``biotech``) it runs the main job (:func:`sqltune.main_job.main_job`):
onboard the sample, memory-tune the model with the chosen preset on generated pairs only, then
evaluate on the sample's hand-written evalset (the fixed stratified subset, 10 cases per tier;
``--full`` for all 150) several ways, in the same run:

* **base**: the untuned model with the schema rendered into the prompt;
* **base + k-shot**: the same plus the k most similar verified training pairs (the RAG baseline);
* **tuned**: the memory-tuned model, asked as it was tuned (the ``cpu`` preset: with the schema text;
  ``--tune '{"prompt_mode": "none"}'``: without it, the schema in the weights); ``--constrained`` adds
  the base and the tuned model with schema-constrained decoding, ``--tuned-schema-prompt`` an adapter
  tuned without the schema text asked with it (and constrained). ``--adapters lora,mome`` tunes and
  evaluates each adapter (the base rows are computed once and then read from the prediction cache).

With two or more samples it also checks **forgetting**: the adapter tuned on one sample, attached to
the base model, answers the *next* sample's evalset with that sample's schema in the prompt, against
the untuned model's answers there (the "base" row). Memory tuning should put one schema into the
weights without costing the model what it could do on another. ``--forgetting-on biotech`` makes a
sample only a forgetting target: onboarded and evaluated (base, and with every tuned sample's adapter)
but not tuned, which saves its tuning run.

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
    ap.add_argument("--adapters", "--adapter", dest="adapters", default="lora",
                    help="Comma-separated adapters to tune and compare: lora, mome (each a tuning run per sample).")
    ap.add_argument("--pairs", type=int, default=2000)
    ap.add_argument("--shots", type=int, default=3)
    ap.add_argument("--full", action="store_true", help="All evalset cases instead of 10 per tier.")
    ap.add_argument("--constrained", action="store_true",
                    help="Also the base and the tuned model with constrained decoding.")
    ap.add_argument("--tuned-schema-prompt", action="store_true", help="Also the tuned model with the schema text in "
                    "the prompt (an adapter tuned without it; with --constrained, that constrained too).")
    ap.add_argument("--no-suite", action="store_true", help="EX only.")
    ap.add_argument("--smoke", action="store_true", help="Shrink every step (with a tiny --model folder; a check).")
    ap.add_argument("--no-forgetting", action="store_true", help="Skip the forgetting check across samples.")
    ap.add_argument("--forgetting-from", default="", help="Comma-separated samples whose adapter the forgetting check "
                    "attaches to the next sample (default: every sample).")
    ap.add_argument("--forgetting-on", default="", help="Comma-separated samples that are only forgetting targets: "
                    "onboarded and evaluated (base, and with each tuned sample's adapter), not tuned.")
    ap.add_argument("--tune", default="", help='TuneConfig fields over the preset, as JSON (e.g. \'{"review": true}\').')
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"), help="Folder for accuracy.json/.md.")
    args = ap.parse_args(argv)
    from sqltune.samples import SAMPLES

    for name in [s for s in (args.samples + "," + args.forgetting_on).split(",") if s]:
        if name not in SAMPLES:
            ap.error(f"unknown sample {name!r} (known: {', '.join(SAMPLES)})")
    adapters = [a for a in args.adapters.split(",") if a]
    for name in adapters:
        if name not in ("lora", "mome"):
            ap.error(f"unknown adapter {name!r} (known: lora, mome)")

    from sqltune.grade.result_schema import git_hash
    from sqltune.leakage import leakage_line, project_leakage
    from sqltune.main_job import JobConfig, main_job

    started = time.perf_counter()
    results = []
    md = ["# Accuracy: base vs retrieval few-shot vs memory-tuned", ""]
    only = [s for s in args.forgetting_from.split(",") if s]
    targets = [s for s in args.forgetting_on.split(",") if s]
    forgetting = []
    for adapter in adapters:
        jobs = {}
        for sample in [s for s in args.samples.split(",") if s]:
            cfg = JobConfig(sample=sample, model=args.model, preset=args.preset, adapter=adapter, pairs=args.pairs,
                            subset=0 if args.full else 10, fewshot=True, shots=args.shots,
                            constrained=args.constrained, tuned_schema_prompt=args.tuned_schema_prompt,
                            suite=not args.no_suite, smoke=args.smoke, tune=json.loads(args.tune) if args.tune else {})
            job = main_job(cfg, say=lambda line: print(line, flush=True))
            leak = project_leakage(sample, sample)
            line = leakage_line(leak)
            tuned = job.summary["tune"]
            print(f"\n{sample} ({adapter}): {job.summary['model']}, {job.tune.result.steps} tuning steps\n{job.table}\n"
                  f"leakage: {line}\n")
            md += [f"## {sample}, {adapter}", "", f"Model `{job.summary['model']}`, preset `{args.preset}`, adapter "
                   f"`{adapter}`, {job.summary['pairs']['train']} training pairs, {job.tune.result.steps} steps "
                   f"({job.tune.result.stopped}), {tuned['tokens_per_s']:.0f} tokens/s, tuning and recall "
                   f"{job.summary['timings_s']['tune'] / 60:.0f} min"
                   f"{' (reused)' if tuned['reused'] else ''}, {job.tune.recall.summary()}; process peak RSS so far "
                   f"{_peak_rss_gib():.1f} GiB.", "", job.table, "",
                   f"Leakage (training pairs vs evalset): {line}", ""]
            results.append({"sample": sample, "adapter": adapter, "main_job": job.summary, "leakage": leak.to_dict(),
                            "leakage_line": line})
            jobs[sample] = job
        if args.no_forgetting:
            continue
        if targets:
            forgetting += _forgetting_on(jobs, targets, md, adapter)
        elif len(jobs) > 1:
            forgetting += _forgetting(jobs, md, only, adapter)
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


def _peak_rss_gib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def _forgetting(jobs: dict, md: list[str], only: list[str] | None, adapter: str) -> list[dict]:
    """Each sample's adapter on the next sample's evalset (schema in the prompt) against the untuned base there."""
    names = list(jobs)
    nexts = {tuned_on: names[(i + 1) % len(names)] for i, tuned_on in enumerate(names)}
    pairs = [(tuned_on, other, jobs[other].evaluations[0]) for tuned_on, other in nexts.items()
             if not only or tuned_on in only]
    return _forgetting_rows(jobs, pairs, md, adapter)


def _forgetting_on(jobs: dict, targets: list[str], md: list[str], adapter: str) -> list[dict]:
    """Every tuned sample's adapter on each target sample, which is onboarded and evaluated but not tuned."""
    from sqltune import samples
    from sqltune.evaluate import evaluate
    from sqltune.onboard import onboard

    some = next(iter(jobs.values()))  # its pair count and base evaluation settings (smoke-shrunk or not)
    pairs = []
    for other in targets:
        samples.build_sample(other)
        onboard(f"sample:{other}", other, n=some.config.pairs, seed=0, draft_per_tier=1 if some.config.smoke else 10,
                progress=None)
        base = evaluate(other, other, some.summary["model"], config=some.evaluations[0].config, label="base")
        pairs += [(tuned_on, other, base) for tuned_on in jobs if tuned_on != other]
    return _forgetting_rows(jobs, pairs, md, adapter)


def _forgetting_rows(jobs: dict, pairs: list, md: list[str], adapter: str) -> list[dict]:
    from sqltune.evaluate import evaluate, tier_table

    rows = []
    md += [f"## Forgetting ({adapter})", "", "The adapter tuned on one sample, on another sample's evalset with "
           "that schema in the prompt, against the untuned model there (EX per tier).", ""]
    for tuned_on, other, base in pairs:
        label = f"base + {tuned_on} {adapter} adapter"
        ev = evaluate(other, other, jobs[tuned_on].summary["model"], adapter=jobs[tuned_on].summary["tune"]["adapter_dir"],
                      config=base.config, label=label)
        delta = {tier: (None if ev.metric(tier) is None or base.metric(tier) is None
                        else round(ev.metric(tier) - base.metric(tier), 4))
                 for tier in ("easy", "medium", "hard", "overall")}
        print(f"\nforgetting: {tuned_on} {adapter} adapter on {other}\n{tier_table([base, ev])}\nEX change: {delta}\n", flush=True)
        md += [f"### {tuned_on} {adapter} adapter on {other}", "", tier_table([base, ev]), ""]
        rows.append({"tuned_on": tuned_on, "adapter": adapter, "evaluated_on": other, "ex_change": delta,
                     "base": {t: base.metric(t) for t in delta}, "with_adapter": {t: ev.metric(t) for t in delta},
                     "s_per_question": round(ev.predict_s / max(1, len(ev.run.items)), 2), "cached": ev.cached})
    return rows


if __name__ == "__main__":
    sys.exit(main())
