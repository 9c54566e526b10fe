"""Every hard case of an evalset, base against a tuned adapter (free and constrained decoding).

The main job grades 10 cases a tier; on cpg's 10 hard ones every model so far scores 0. This grades
all 50 hard cases with the main job's settings (256 new tokens, batches of 8, test-suite accuracy;
the tuned model asked with the 600-token linked schema, as it was trained).

    SQLTUNE_HOME=… python benchmarks/results/hard-tier.py cpg ADAPTER_DIR OUT.json "tuned, constrained;base;tuned"

Writes OUT.json after every run (EX, TS, invented-identifier rate, seconds, report paths).
"""
import json
import sys
import tempfile
import time
from pathlib import Path

from sqltune.evaluate import EvalConfig, evaluate

sample, adapter, out = sys.argv[1], sys.argv[2], sys.argv[3]
labels = sys.argv[4].split(";") if len(sys.argv) > 4 else ["base", "base, constrained", "tuned", "tuned, constrained"]
root = Path(__file__).resolve().parents[2] / "evalsets"
folder = Path(tempfile.mkdtemp())
name = f"{sample}-hard"
(folder / f"{name}.yaml").write_text((root / f"{sample}.yaml").read_text().replace(f"name: {sample}\n", f"name: {name}\n", 1))
lines = [line for line in (root / f"{sample}.jsonl").read_text().splitlines() if json.loads(line)["difficulty"] == "hard"]
(folder / f"{name}.jsonl").write_text("\n".join(lines) + "\n")

common = dict(subset=0, suite=True, max_new_tokens=256, batch_size=8)
rows = {}
for label in labels:
    tuned = label.startswith("tuned")
    cfg = EvalConfig(**common, constrained=label.endswith("constrained"), **({"prompt_budget": 600} if tuned else {}))
    t0 = time.time()
    ev = evaluate(sample, str(folder / f"{name}.yaml"), None, adapter=adapter if tuned else None, config=cfg,
                  label=f"hard{len(lines)} {label}")
    rows[label] = {"cases": len(lines), "ex": ev.metric("overall"), "ts": ev.metric("overall", "ts"),
                   "invented": ev.metric("overall", "invented_identifier_rate"),
                   "seconds": round(time.time() - t0, 1), "cached": ev.cached,
                   "reports": {k: str(v) for k, v in ev.reports.items()}}
    print(label, rows[label], flush=True)
    Path(out).write_text(json.dumps({"sample": sample, "adapter": adapter, "runs": rows}, indent=1))
