"""Benchmark: what schema-constrained decoding costs, against unconstrained decoding in the same run.

A real model (default ``smollm2-135m``) answers a handful of cpg questions with the project's own
prompt, greedy and (``--beams``) beam search, three ways each:

* **free**: no constraint (the baseline);
* **top-k**: :class:`~sqltune.infer.constrain.SchemaConstraint` with ``top_k=exact_top_k(beams)``, what
  :class:`~sqltune.infer.Text2SQL` uses: each row's best tokens are checked one by one;
* **masks**: the same constraint computing full vocabulary masks (what sampling needs).

For each: the time per decoding step (the model's forward plus the processors, measured between
steps, so the prompt's prefill, reported apart, does not dilute it), the processor's own time per
step, the ratio to **free** in the same run, the invented-identifier count of the answers
(:func:`sqltune.grade.invented.invented_identifiers`), and whether **top-k** and **masks** wrote the
same answers (they must: top-k is exact for greedy and beam search). The prompt carries a small
schema budget (``--prompt-budget``): the prefill is not what is measured. One untimed warm-up run
comes first (the one-off vocabulary trie build is reported on its own); with ``--repeat`` the
fastest run counts (the machine may be busy; the load average is recorded). Prints a table and
writes ``benchmarks/results/constrain.json``.

Run: ``python benchmarks/constrain_bench.py`` (2 cores: about five minutes; ``--beams 0`` for less).
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


class Clock:
    """A logits processor that only notes when each decoding step reaches it (after the model's forward)."""

    def __init__(self, inner: t.Any = None) -> None:
        self.inner, self.times = inner, []  # type: ignore[var-annotated]

    def __call__(self, input_ids: t.Any, scores: t.Any) -> t.Any:
        out = scores if self.inner is None else self.inner(input_ids, scores)
        self.times.append(time.perf_counter())
        return out


def run_config(model: t.Any, schema: t.Any, prompts: list[str], mode: str, beams: int,
               max_new_tokens: int) -> dict[str, t.Any]:
    """One decoding of every prompt (one batch): prefill, per-step decode time, processor stats, answers."""
    import torch

    from sqltune.infer.constrain import SchemaConstraint, exact_top_k
    from sqltune.infer.decode import DecodeConfig, generate_candidates

    procs: list[SchemaConstraint] = []
    clocks: list[Clock] = []

    def factory(prompt_len: int) -> Clock:
        inner = None
        if mode != "free":
            top_k = exact_top_k(beams) if mode == "top-k" else None
            inner = SchemaConstraint(schema, model.tokenizer, prompt_lengths=prompt_len, top_k=top_k)
            procs.append(inner)
        clocks.append(Clock(inner))
        return clocks[-1]

    cfg = DecodeConfig(max_new_tokens=max_new_tokens, num_beams=beams, batch_size=len(prompts))
    t0 = time.perf_counter()
    with torch.no_grad():
        answers, _ = generate_candidates(model.model, model.tokenizer, prompts, cfg, logits_processor_factory=factory)
    wall = time.perf_counter() - t0
    times = clocks[0].times
    stats = {k: sum(p.stats[k] for p in procs) for k in ("calls", "rows", "seconds", "masks_computed", "checked")}
    steps = len(times) - 1
    return {"wall_s": wall, "prefill_s": times[0] - t0, "steps": steps,
            "step_s": (times[-1] - times[0]) / steps if steps > 0 else None,
            "answers": [a[0] for a in answers], "processor": stats}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--questions", type=int, default=3, help="How many cpg questions (easy, medium, hard in turn).")
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--beams", type=int, default=2, help="Also beam search with this many beams (0: greedy only).")
    ap.add_argument("--prompt-budget", type=int, default=600,
                    help="Schema tokens in the prompt (small: the prefill is not what is measured).")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: steadiest on a shared machine).")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "constrain.json"))
    args = ap.parse_args(argv)

    import torch

    from sqltune import atomic
    from sqltune.evalset import load_evalset, stratified_subset
    from sqltune.grade.invented import invented_identifiers
    from sqltune.infer.constrain import compile_vocab
    from sqltune.models import load_model
    from sqltune.prompt import PromptBuilder, PromptConfig
    from sqltune.targets import resolve_target

    started = time.perf_counter()
    if args.threads:
        torch.set_num_threads(args.threads)
    ev = load_evalset("cpg")
    per_tier = -(-args.questions // 3)
    sub = stratified_subset(ev, per_tier).cases
    tiers = {tier: [c for c in sub if c.difficulty == tier] for tier in ("easy", "medium", "hard")}
    cases = [tiers[tier][i] for i in range(per_tier) for tier in tiers][:args.questions]
    _, schema = resolve_target(sample="cpg")
    model = load_model(args.model)
    builder = PromptBuilder(schema, model.tokenizer, PromptConfig(budget_tokens=args.prompt_budget))
    prompts = [builder.prompt(c.question) for c in cases]
    t0 = time.perf_counter()
    compile_vocab(model.tokenizer)
    trie_s = time.perf_counter() - t0
    print(f"{args.model}: {len(prompts)} cpg questions, vocabulary trie built in {trie_s:.2f}s, "
          f"{torch.get_num_threads()} threads, load {os.getloadavg()[0]:.1f}", flush=True)

    rows = []
    run_config(model, schema, prompts[:1], "top-k", 1, 4)  # warm-up, untimed
    for beams in [1] + ([args.beams] if args.beams > 1 else []):
        base: dict[str, t.Any] | None = None
        for mode in ("free", "top-k", "masks"):
            runs = [run_config(model, schema, prompts, mode, beams, args.max_new_tokens) for _ in range(args.repeat)]
            best = min(runs, key=lambda r: r["step_s"] or 0.0)
            p = best["processor"]
            row = {
                "beams": beams, "mode": mode, "wall_s": round(best["wall_s"], 2),
                "prefill_s": round(best["prefill_s"], 2),
                "steps": best["steps"], "ms_per_step": round(1000 * best["step_s"], 2) if best["step_s"] else None,
                "processor_ms_per_step": round(1000 * p["seconds"] / p["calls"], 3) if p["calls"] else 0.0,
                "processor_ms_per_row": round(1000 * p["seconds"] / p["rows"], 3) if p["rows"] else 0.0,
                "masks_computed": p["masks_computed"], "tokens_checked": p["checked"],
                "invented": sum(invented_identifiers(a, schema).count for a in best["answers"]),
                "answers": best["answers"],
            }
            if base is None:
                base = row
            ok = row["ms_per_step"] and base["ms_per_step"]
            row["ratio_per_step"] = round(row["ms_per_step"] / base["ms_per_step"], 3) if ok else None
            rows.append(row)
            print(f"  beams={beams} {mode}: {row['ms_per_step']} ms/step", flush=True)
        by = {r["mode"]: r for r in rows if r["beams"] == beams}
        by["masks"]["same_answers_as_top_k"] = by["masks"]["answers"] == by["top-k"]["answers"]

    print(f"{'beams':>5} {'mode':<6} {'steps':>5} {'ms/step':>8} {'ratio':>6} {'proc ms/step':>12} {'masks':>6} "
          f"{'checked':>7} {'invented':>8}")
    for r in rows:
        print(f"{r['beams']:>5} {r['mode']:<6} {r['steps']:>5} {r['ms_per_step'] or 0:>8.1f} "
              f"{r['ratio_per_step'] or 0:>6.3f} {r['processor_ms_per_step']:>12.2f} {r['masks_computed']:>6} "
              f"{r['tokens_checked']:>7} {r['invented']:>8}")
    for r in rows:
        if "same_answers_as_top_k" in r:
            print(f"beams={r['beams']}: top-k and full masks wrote the same answers: {r['same_answers_as_top_k']}")
    doc = {
        "kind": "sqltune.bench.constrain", "format": 1, "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "command": "python benchmarks/constrain_bench.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "torch_threads": torch.get_num_threads(), "load_avg": os.getloadavg()},
        "model": args.model, "questions": [c.id for c in cases], "max_new_tokens": args.max_new_tokens,
        "trie_build_s": round(trie_s, 3), "baseline": "free (unconstrained) decoding in the same run",
        "wall_s": round(time.perf_counter() - started, 1), "rows": rows,
        "prompt_budget": args.prompt_budget,
        "higher_is_better": {"ratio_per_step": False, "ms_per_step": False, "invented": False},
    }
    atomic.write_json(args.out, doc)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
