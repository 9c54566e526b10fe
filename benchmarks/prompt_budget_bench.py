"""Benchmark: how many schema tokens a prompt should carry, measured as accuracy and speed.

The prompt builder (:class:`sqltune.prompt.PromptBuilder`) puts at most ``budget_tokens`` of schema
text into a prompt; a schema larger than that is linked per question (the tables and columns the
question names or whose values it mentions, closed over join paths). A larger budget shows the model
more of the schema, and costs prompt tokens every question pays for. This benchmark asks the base
model (no adapter, free decoding, the main job's decoding options) the fixed stratified subset of
each evalset (10 cases per tier) once per budget, in the same run, and reports EX and test-suite
accuracy per tier, the invented-identifier rate, the mean prompt length and seconds per question,
with each budget's speed as a ratio against the largest budget's (the baseline). ``0`` means the
whole schema in every prompt.

Predictions are cached by :func:`sqltune.evaluate.evaluate` under the label ``base`` (the main job's
and the inference benchmark's label), so a budget any of them has run is not asked again.

Run: ``python benchmarks/prompt_budget_bench.py`` (2 cores, default model: about 10 minutes per
evalset and budget of 600 tokens, 20 for 3,000; ``--budgets 600,3000 --evalsets cpg``).
Prints a table and writes ``benchmarks/results/prompt_budget.json`` and ``prompt_budget.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import typing as t
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TIERS = ("easy", "medium", "hard", "overall")


def prompt_tokens(evalset: str, schema: t.Any, model: t.Any, budget: int, subset: int) -> float:
    """Mean prompt length in tokens (chat template, system turn and schema text) over the subset's questions."""
    from sqltune.evalset import load_evalset, stratified_subset
    from sqltune.prompt import PromptBuilder, PromptConfig

    ev = load_evalset(evalset)
    ev = stratified_subset(ev, subset) if subset else ev
    builder = PromptBuilder(schema, model.tokenizer, PromptConfig(budget_tokens=budget))
    return statistics.mean(builder.count_tokens(builder.prompt(c.question)) for c in ev.cases)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="Model alias, folder or hub id (default: the embedded default).")
    ap.add_argument("--evalsets", default="cpg,biotech")
    ap.add_argument("--budgets", default="600,1200,3000", help="Comma-separated schema-token budgets (0: whole schema).")
    ap.add_argument("--limit", type=int, default=10, help="Cases per tier.")
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "prompt_budget.json"))
    args = ap.parse_args(argv)

    from sqltune import atomic
    from sqltune.evalset import load_evalset
    from sqltune.evaluate import EvalConfig, evaluate
    from sqltune.models import DEFAULT_MODEL, load_model
    from sqltune.targets import resolve_target

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from infer_bench import target_for

    started = time.perf_counter()
    model_name = args.model or DEFAULT_MODEL
    model = load_model(model_name)
    budgets = [int(b) for b in args.budgets.split(",") if b.strip()]
    baseline = 0 if 0 in budgets else max(budgets)
    rows: list[dict[str, t.Any]] = []
    for name in [e for e in args.evalsets.split(",") if e]:
        _, schema = resolve_target(sample=load_evalset(name).sample)
        target, _ = target_for(name, schema)
        for budget in budgets:
            cfg = EvalConfig(subset=args.limit, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size,
                             prompt_budget=budget)
            res = evaluate(target, name, model, config=cfg, label="base",
                           progress=lambda stage, k, n, b=budget: print(f"  {name} @{b}: {k}/{n} predicted", flush=True)
                           if stage == "predict" else None)
            row: dict[str, t.Any] = {"evalset": name, "budget": budget, "cases": len(res.run.items),
                                     "prompt_tokens": round(prompt_tokens(name, schema, model, budget, args.limit), 1),
                                     "s_per_question": round(res.predict_s / max(1, len(res.run.items)), 2),
                                     "cached": res.cached, "made_at": res.extra.get("sqltune_commit"),
                                     "predictions": str(res.predictions)}
            for tier in TIERS:
                for m in ("ex_strict", "ts", "invented_identifier_rate"):
                    v = res.metric(tier, m)
                    row[f"{m}.{tier}"] = None if v is None else round(v, 4)
            rows.append(row)
            print(f"{name} @{budget}: EX {row['ex_strict.overall']}, invented {row['invented_identifier_rate.overall']}, "
                  f"{row['s_per_question']} s/question{' (cached)' if res.cached else ''}", flush=True)
    for r in rows:
        base = next(b for b in rows if b["evalset"] == r["evalset"] and b["budget"] == baseline)
        r["speedup_vs_baseline"] = round(base["s_per_question"] / r["s_per_question"], 2) if r["s_per_question"] else None
    table = markdown_table(rows, baseline)
    print("\n" + table)
    out = Path(args.out)
    doc = {
        "kind": "sqltune.bench.prompt_budget", "format": 1, "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "command": "python benchmarks/prompt_budget_bench.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "device": model.device},
        "model": model_name, "baseline_budget": baseline, "wall_s": round(time.perf_counter() - started, 1),
        "rows": rows,
        "higher_is_better": {"ex_strict": True, "ts": True, "invented_identifier_rate": False, "s_per_question": False,
                             "speedup_vs_baseline": True, "prompt_tokens": False},
    }
    atomic.write_json(out, doc)
    md = [f"# Prompt budget: `{model_name}`, {args.limit} cases per tier", "",
          f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, device {model.device}. `{doc['command']}`", "",
          "Base model, free decoding, the main job's decoding options; seconds of cached rows are those measured "
          "when they were made (see `made at`).", "", table, ""]
    atomic.write_text(out.with_suffix(".md"), "\n".join(md))
    print(f"wrote {out} and {out.with_suffix('.md')}")
    return 0


def markdown_table(rows: list[dict[str, t.Any]], baseline: int) -> str:
    """One row per evalset and budget.

    >>> print(markdown_table([], 3000))
    (no rows)
    """
    if not rows:
        return "(no rows)"

    def pct(v: t.Any) -> str:
        return "-" if v is None else f"{v:.0%}"

    head = ["evalset", "budget", "prompt tokens"] + [f"EX {tier}" for tier in TIERS] + [
        "TS overall", "invented", "s/question", f"speed vs {baseline or 'whole'}", "made at"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["evalset"], str(r["budget"] or "whole"), f"{r['prompt_tokens']:.0f}"]
        cells += [pct(r[f"ex_strict.{tier}"]) for tier in TIERS]
        cells += [pct(r["ts.overall"]), pct(r["invented_identifier_rate.overall"]), f"{r['s_per_question']:.1f}",
                  f"×{r['speedup_vs_baseline']:.2f}" if r.get("speedup_vs_baseline") else "-",
                  (r.get("made_at") or "-")[:7]]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
