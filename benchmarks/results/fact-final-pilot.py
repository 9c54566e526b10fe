"""Facts trained alone on top of a finished adapter: how fast the undone facts come back, what the pairs lose (session 16).

The adapter is session 15's run D on cpg (`main_job-cpg-full-fact-cue.md`: the cpu preset with
``fact_phase`` 0.3 and 1115 s, folder ``lora-qwen2.5-coder-0.5b-cpu-1355f574`` under SQLTUNE_HOME).
For each learning rate given: its 64 facts alone, spaced review, constant rate, until every fact is
reproduced (teacher-forced, bf16) or 30 steps; before and after, how many facts (64) and pairs (the
first 24 of the mix) a teacher-forced bf16 pass reproduces exactly. Run with SQLTUNE_HOME set:
``python benchmarks/results/fact-final-pilot.py 3e-5 2e-4``; about 6 minutes on 2 cores. ``3e-5:replay=1``
runs the ``fact_final`` phase with ``fact_final_replay`` 1 instead (all 128 items of the mix, one
mixed step first).
"""
import json, sys, time
from pathlib import Path
import torch
from peft import PeftModel
from sqltune import home, project as projects
from sqltune.models import load_model
from sqltune.tune.config import TuneConfig
from sqltune.tune.items import fact_items, pair_items, read_generated, training_mix
from sqltune.tune.project import tune_config
from sqltune.tune import train
from sqltune.tune.data import encode, identifier_strings
from sqltune.prompt import PromptBuilder, PromptConfig
from sqltune.tune.parallel import current

torch.set_num_threads(2)
runs = [(float(x.split(":")[0]), float(x.split(":replay=")[1]) if ":replay=" in x else 0.0) for x in sys.argv[1:]]
over = {"fact_phase": 0.3, "time_budget_s": 1115, "recall_items": 64}
cfg = tune_config("cpu", "lora", over)
schema = projects.load_snapshot("cpg")
pairs, facts, header = read_generated(home.project_dir("cpg") / "pairs", "cpg")
items = training_mix(pair_items(pairs), fact_items(facts), cfg)
fitems = [i for i in items if i.kind == "fact"]
pitems = [i for i in items if i.kind == "pair"][:24]
D = home.project_dir("cpg") / "adapters/lora-qwen2.5-coder-0.5b-cpu-1355f574"
loaded = load_model("qwen2.5-coder-0.5b")
tok = loaded.tokenizer
model = PeftModel.from_pretrained(loaded.model, str(D), is_trainable=True)
state0 = {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}
builder = PromptBuilder(schema, tok, PromptConfig(mode=cfg.prompt_mode, budget_tokens=cfg.prompt_budget_tokens))
strings = identifier_strings(schema)
pdata = [encode(it, builder, tok, schema, identifier_weight=cfg.identifier_weight, max_len=cfg.max_seq_len,
                strings=strings) for it in pitems]
fdata = [encode(it, builder, tok, schema, identifier_weight=cfg.identifier_weight, max_len=cfg.max_seq_len,
                strings=strings) for it in fitems]
def check(data):
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        hits, loss = train._recalled(model, data, tok.pad_token_id, cfg.loss_chunk, True, None, current())
    return sum(hits), len(hits), loss
model.eval()
t0 = time.time(); print("before: facts", check(fdata)[:2], "pairs", check(pdata), round(time.time()-t0), flush=True)
train.wrap_adapter = lambda m, c: model
for lr, replay in runs:
    with torch.no_grad():
        for k, v in model.named_parameters():
            if k in state0: v.copy_(state0[k])
    c = TuneConfig.from_dict({**cfg.to_dict(), "lr": lr, "lr_schedule": "constant", "warmup_steps": 0, "max_steps": 30,
                              "time_budget_s": 0.0, "fact_phase": 0.0, "review": True})
    if replay:  # the final phase with pairs replayed: after one mixed step, the facts reviewed with pairs
        c = TuneConfig.from_dict({**c.to_dict(), "max_steps": 60, "fact_final": 0.99, "fact_final_replay": replay})
    out = Path(f"/tmp/fact-final-pilot-{lr}-{replay}")
    _, res = train.memory_tune(model, tok, items if replay else fitems, schema, c, out, resume=False)
    print(lr, replay, res.stopped, res.steps, [(r["step"], r.get("recalled_share"), r.get("checked_misses"), r.get("checked_fact_misses")) for r in res.history], flush=True)
    model.eval()
    print(lr, replay, "after: facts", check(fdata)[:2], "pairs", check(pdata), flush=True)
