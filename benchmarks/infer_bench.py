"""Benchmark: inference accuracy and speed, with and without constrained decoding and retrieval few-shot.

On a fixed stratified subset of both shipped evalsets (:func:`sqltune.evalset.stratified_subset`:
the first 10 easy, 10 medium and 10 hard cases of each; ``--full`` for all 150, ``--limit N`` for
N per tier), one model (default: the embedded default) answers every question through
:class:`~sqltune.infer.Text2SQL` in up to six configurations, in the same run:

* **base**: the schema in the prompt, free decoding;
* **constrained**: the same with schema-constrained decoding (:mod:`sqltune.infer.constrain`);
* **repair**: free decoding, then constrained decoding only for the questions none of whose
  candidates parses, resolves and runs (the free candidates are the ``base`` row's, reused);
  ``--repair all`` adds it to the few-shot configuration too;
* **k-shot** and **k-shot constrained**: plus the ``--shots`` most similar verified question/SQL
  pairs retrieved from the project's generated training pairs
  (``SQLTUNE_HOME/projects/<evalset>/pairs``, for a project onboarded from the same sample, as the
  main job does). Without such pairs these two are skipped, and the report says so.

Each row is one :func:`sqltune.evaluate.evaluate` call (EX, test-suite accuracy unless
``--no-suite``, invented-identifier rate, per tier), labelled as the main job labels its rows.
Predictions are cached by evaluate's hash of everything that shapes them (model, evalset cases,
configuration, decoding options, schema fingerprint) under the project's ``runs/`` folder, so a
main job or accuracy benchmark run in the same ``SQLTUNE_HOME`` has already paid for the ``base``
and few-shot rows, and an interrupted run resumes after the last finished batch. Reported: those
metrics per tier, seconds per question (cached seconds are the ones measured when they were made),
and for constrained rows the overhead ratio (seconds per question against the same configuration
unconstrained) and the constraint processor's own share of the decoding time, and how many
questions got no SQL (under the constraint: every candidate was cut at the token budget, so the
answer is none rather than a cut query). Prints a table and
writes ``benchmarks/results/infer.json`` and ``infer.md`` (``infer-limitN`` with ``--limit``).

Run: ``python benchmarks/infer_bench.py`` (2 cores, default model: about an hour or two; a quick
check: ``--limit 1 --model smollm2-135m``).
"""

from __future__ import annotations

import argparse
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


def target_for(name: str, schema: t.Any) -> tuple[str, str]:
    """The project to evaluate in (its generated pairs feed few-shot), or the bare sample, and a note."""
    from sqltune import home, project
    from sqltune.errors import SqltuneError

    if not (home.project_dir(name) / "pairs" / "pairs.jsonl").is_file():
        return f"sample:{name}", f"no generated pairs for {name} (run `sqltune generate {name}`): few-shot rows skipped"
    try:
        snap = project.load_snapshot(name)
    except SqltuneError as e:
        return f"sample:{name}", f"project {name} cannot be read ({e}): few-shot rows skipped"
    if snap.fingerprint() != schema.fingerprint():
        return f"sample:{name}", f"project {name} has another schema than the sample: few-shot rows skipped"
    return name, f"project {name} (its generated training pairs feed few-shot)"


def configs(shots: int, few_shot: bool, common: dict[str, t.Any], repair: str = "base") -> list[tuple[str, t.Any]]:
    """The rows, labelled as the main job labels them (so a main job's cached predictions are reused)."""
    from sqltune.evaluate import EvalConfig

    rows = []
    for k in ([0, shots] if few_shot and shots else [0]):
        name = f"base + {k}-shot retrieval" if k else "base"
        rows.append((name, EvalConfig(**common, shots=k)))
        rows.append((f"{name}, constrained", EvalConfig(**common, shots=k, constrained=True)))
        if repair == "all" or (repair == "base" and not k):
            rows.append((f"{name}, repair", EvalConfig(**common, shots=k, constrained=True, repair=True)))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="Model alias, folder or hub id (default: the embedded default).")
    ap.add_argument("--evalsets", default="cpg,biotech")
    ap.add_argument("--full", action="store_true", help="All cases instead of 10 per tier.")
    ap.add_argument("--limit", type=int, default=None, help="Cases per tier (a quick run).")
    ap.add_argument("--shots", type=int, default=3)
    ap.add_argument("--candidates", type=int, default=1, help="Beam candidates per question.")
    ap.add_argument("--max-new-tokens", type=int, default=256, help="Decoding budget (the main job's default).")
    ap.add_argument("--prompt-budget", type=int, default=None,
                    help="Schema tokens in the prompt (default: the prompt builder's, 600).")
    ap.add_argument("--batch-size", type=int, default=8, help="Questions decoded together (the main job's default).")
    ap.add_argument("--no-suite", action="store_true", help="EX only (no test-suite accuracy).")
    ap.add_argument("--repair", default="base", choices=["none", "base", "all"],
                    help="Repair rows: none, for the base configuration only (default), or also with few-shot.")
    ap.add_argument("--threads", type=int, default=None, help="torch threads on CPU (default: torch's).")
    ap.add_argument("--out", default=None, help="Results file (default: benchmarks/results/infer[-limitN].json).")
    args = ap.parse_args(argv)

    from sqltune import atomic
    from sqltune.evalset import load_evalset
    from sqltune.evaluate import evaluate
    from sqltune.models import DEFAULT_MODEL, load_model
    from sqltune.targets import resolve_target

    started = time.perf_counter()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    model_name = args.model or DEFAULT_MODEL
    model = load_model(model_name)
    per_tier = 0 if args.full else (args.limit or 10)
    common = dict(subset=per_tier, candidates=args.candidates, max_new_tokens=args.max_new_tokens,
                  batch_size=args.batch_size, suite=not args.no_suite,
                  **({} if args.prompt_budget is None else {"prompt_budget": args.prompt_budget}))
    rows: list[dict[str, t.Any]] = []
    notes: list[str] = []
    for name in [e for e in args.evalsets.split(",") if e]:
        ev = load_evalset(name)
        _, schema = resolve_target(sample=ev.sample)
        target, note = target_for(name, schema)
        notes.append(f"{name}: {note}")
        print(f"{name}: {note}", flush=True)
        base_s: dict[int, float] = {}
        for label, cfg in configs(args.shots, not target.startswith("sample:"), common, args.repair):
            res = evaluate(target, name, model, config=cfg, label=label,
                           progress=lambda stage, k, n, label=label: print(f"  {label}: {k}/{n} predicted", flush=True)
                           if stage == "predict" else None)
            cases = len(res.run.items)
            per_q = res.predict_s / max(cases, 1)
            if not cfg.constrained:
                base_s[cfg.shots] = per_q
            row: dict[str, t.Any] = {"evalset": name, "config": label, **cfg.to_dict(), "cases": cases,
                                     "s_per_question": round(per_q, 2), "cached": res.cached,
                                     "made_at": res.extra.get("sqltune_commit"),
                                     "predictions": str(res.predictions)}
            for tier in TIERS:
                for m in METRICS:
                    v = res.metric(tier, m)
                    row[f"{m}.{tier}"] = None if v is None else round(v, 4)
            # no SQL at all: under the constraint, every candidate was cut at the token budget (an abstention)
            row["no_answer"] = sum(1 for i in res.run.items if i.verdict.status.value == "EMPTY")
            if cfg.constrained:
                row["overhead_ratio"] = round(per_q / base_s[cfg.shots], 3) if base_s.get(cfg.shots) else None
                proc = res.extra.get("constraint", {}).get("seconds")
                row["processor_share"] = round(proc / res.predict_s, 4) if proc is not None and res.predict_s else None
            rows.append(row)
            print(f"  {label}: EX {row['ex_strict.overall']}, invented {row['invented_identifier_rate.overall']}, "
                  f"{per_q:.1f} s/question{' (cached)' if res.cached else ''}", flush=True)

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
    head += ["invented", "no answer", "s/question", "overhead", "made at"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def pct(v: t.Any) -> str:
        return "-" if v is None else f"{v:.0%}"

    for r in rows:
        cells = [r["evalset"], r["config"]] + [pct(r[f"{m}.{tier}"]) for m in metrics for tier in TIERS]
        cells += [pct(r["invented_identifier_rate.overall"]), str(r.get("no_answer", "-")), f"{r['s_per_question']:.1f}",
                  f"×{r['overhead_ratio']:.2f}" if r.get("overhead_ratio") else "-", (r.get("made_at") or "-")[:7]]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
