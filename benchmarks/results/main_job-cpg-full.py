"""The main job's rows on the whole cpg evalset (150 cases), as measured in session 13 (2 torch threads).

The `cpu` preset's fields are passed as `tune` overrides (the digest, and so the adapter folder, is
the preset's own, `-d6b6ec63`). Run from a checkout of the commit named in the result JSON, with
SQLTUNE_HOME set: `python benchmarks/results/main_job-cpg-full.py OUT.json`.
"""
import sys

import torch

from sqltune.main_job import JobConfig, main_job

torch.set_num_threads(2)
ov = {"prompt_mode": "schema", "prompt_budget_tokens": 600, "max_seq_len": 1024, "batch_tokens": 2048,
      "facts_ratio": 0.5, "max_items": 128, "lr": 0.0005, "bf16_autocast": True}
cfg = JobConfig(sample="cpg", subset=0, constrained=False, fewshot=False, tune=ov, max_new_tokens=256)
r = main_job(cfg, say=lambda s: print(s, flush=True), out=sys.argv[1])
print(r.table)
