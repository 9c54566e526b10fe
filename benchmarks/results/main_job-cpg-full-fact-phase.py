"""The main job's rows on the whole cpg evalset (150 cases) with extra tuning options (session 15).

The `cpu` preset's fields plus the JSON object given as the second argument are the `tune`
overrides; the base row is the cached one of `main_job-cpg-full.py`. Run from a checkout of the
commit named in the result JSON, with SQLTUNE_HOME set:
`python benchmarks/results/main_job-cpg-full-fact-phase.py OUT.json '{"fact_phase": 0.3, "recall_items": 64}'`.
A third argument ``--constrained`` adds the base and tuned rows with schema-constrained decoding (session 16).
"""
import json
import sys

import torch

from sqltune.main_job import JobConfig, main_job

torch.set_num_threads(2)
ov = {"prompt_mode": "schema", "prompt_budget_tokens": 600, "max_seq_len": 1024, "batch_tokens": 2048,
      "facts_ratio": 0.5, "max_items": 128, "lr": 0.0005, "bf16_autocast": True, **json.loads(sys.argv[2])}
constrained = sys.argv[3:] == ["--constrained"]
cfg = JobConfig(sample="cpg", subset=0, constrained=constrained, fewshot=False, tune=ov, max_new_tokens=256)
r = main_job(cfg, say=lambda s: print(s, flush=True), out=sys.argv[1])
print(r.table)
