"""Every hard case of an evalset, base against a tuned adapter (free and constrained decoding).

The main job grades 10 cases a tier; on cpg's 10 hard ones every model so far scores 0. This grades
all 50 hard cases with the main job's settings (256 new tokens, batches of 8, test-suite accuracy;
the tuned model asked with the 600-token linked schema, as it was trained).

    SQLTUNE_HOME=… python benchmarks/results/hard-tier.py cpg ADAPTER_DIR OUT.json "tuned, constrained;base;tuned"

Writes OUT.json after every run (EX, TS, invented-identifier rate, seconds, report paths).
"""
import dataclasses
import json
import sys
import time
from pathlib import Path

from sqltune.evaluate import EvalConfig, evaluate
from sqltune.evalset import load_evalset

sample, adapter, out = sys.argv[1], sys.argv[2], sys.argv[3]
labels = sys.argv[4].split(";") if len(sys.argv) > 4 else ["base", "base, constrained", "tuned", "tuned, constrained"]
evalset = load_evalset(Path(__file__).resolve().parents[2] / "evalsets" / f"{sample}.yaml")
evalset = dataclasses.replace(evalset, cases=tuple(c for c in evalset.cases if c.difficulty == "hard"))
n = len(evalset.cases)

common = dict(subset=0, suite=True, max_new_tokens=256, batch_size=8)
rows = {}
for label in labels:
    tuned = label.startswith("tuned")
    cfg = EvalConfig(**common, constrained=label.endswith("constrained"), **({"prompt_budget": 600} if tuned else {}))
    t0 = time.time()
    ev = evaluate(sample, evalset, None, adapter=adapter if tuned else None, config=cfg,
                  label=f"hard{n} {label}")
    rows[label] = {"cases": n, "ex": ev.metric("overall"), "ts": ev.metric("overall", "ts"),
                   "invented": ev.metric("overall", "invented_identifier_rate"),
                   "seconds": round(time.time() - t0, 1), "cached": ev.cached,
                   "reports": {k: str(v) for k, v in ev.reports.items()}}
    print(label, rows[label], flush=True)
    Path(out).write_text(json.dumps({"sample": sample, "adapter": adapter, "runs": rows}, indent=1))
