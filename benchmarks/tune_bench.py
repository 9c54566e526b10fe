"""Benchmark: the memory-tuning loop against a plain transformers ``Trainer`` + peft LoRA, and fact recall.

One run, on generated pairs and facts only (a seeded slice of ``sample:cpg``'s, ``--items`` of them):

1. ``trainer``: the baseline, transformers ``Trainer`` with a peft LoRA of the same rank, targets, learning
   rate, steps and items per batch (``group_by_length``), plain cross-entropy over the full logits;
2. ``lora``: :func:`sqltune.tune.pipeline.tune_items` with LoRA (shared prompt prefix, loss on target
   tokens only through a chunked head, identifier-weighted), then exact recall of the trained facts and
   pairs, tuned and untuned (``base``);
3. ``mome``: the same with the mixture-of-memory-experts adapter;
4. ``lora-bf16``, ``mome-bf16``: the same under bf16 autocast (``TuneConfig.bf16_autocast``; on a CPU with
   AVX-512 BF16 the matrix products run in bf16, the weights, the adapter and its optimizer stay fp32);
5. ``lora-compile``, ``lora-bf16-compile`` (and MoME's): the same with each decoder block compiled by
   ``torch.compile`` (``TuneConfig.torch_compile="inductor"``); its rate includes the compiling.

Each runs in its own subprocess so its peak RSS (``VmHWM``) is its own. ``tokens/s`` counts the
tokens of the training sequences (no padding) over the wall time of the training steps; the ratio
column divides by the baseline's, measured in the same run on the same machine. Accuracy on the
evalsets is measured elsewhere; ``--evaluate`` runs :func:`sqltune.evaluate.evaluate` on the sample's
evalset (``--subset`` cases per tier) for the base model and both adapters, where that module exists.

Prints a table and writes ``benchmarks/results/tune.json`` and ``tune.md``.
Run: ``python benchmarks/tune_bench.py [--model smollm2-135m] [--steps 40] [--items 32]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

from sqltune.tune.bf16 import cpu_name

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


class Clock:
    """Wall and process CPU time at each step's end, and the tokens trained on so far.

    Rates are taken over steps 2..N (the first step pays one-off costs). With one thread, CPU seconds
    are what a step costs even when other processes share the machine; wall seconds are not.
    """

    def __init__(self) -> None:
        self.marks: list[tuple[float, float, int]] = []

    def mark(self, tokens: int) -> None:
        self.marks.append((time.perf_counter(), time.process_time(), tokens))

    def rates(self) -> dict[str, float]:
        if len(self.marks) < 2:
            return {}
        (w0, c0, n0), (w1, c1, n1) = self.marks[0], self.marks[-1]
        return {"tokens_per_s": round((n1 - n0) / max(w1 - w0, 1e-9), 1),
                "tokens_per_cpu_s": round((n1 - n0) / max(c1 - c0, 1e-9), 1),
                "step_s": round((w1 - w0) / (len(self.marks) - 1), 2),
                "step_cpu_s": round((c1 - c0) / (len(self.marks) - 1), 2)}


def _setup(spec: dict[str, t.Any]) -> tuple[t.Any, list[t.Any], t.Any]:
    """Schema, training items and config of the run (the same in every worker)."""
    from sqltune.generate import generate
    from sqltune.targets import resolve_target
    from sqltune.tune.config import PLAIN_EPOCHS, TuneConfig
    from sqltune.tune.items import fact_items, pair_items, training_mix

    _, schema = resolve_target(sample=spec["sample"])
    gen = generate(schema, n=spec["generate_n"], seed=0, out=Path(spec["work"]) / "pairs")
    adapter = "mome" if spec.get("adapter") == "mome" else "lora"  # the Trainer baseline is a LoRA
    config = TuneConfig.preset("cpu", adapter=adapter, max_items=spec["items"],
                               max_steps=spec["steps"], batch_tokens=spec["batch_tokens"], lr=spec["lr"],
                               recall_items=spec["recall_items"], time_budget_s=0, stop_identifier_loss=0.0,
                               **PLAIN_EPOCHS,  # as the Trainer's
                               bf16_autocast=bool(spec.get("bf16")),
                               torch_compile="inductor" if spec.get("compile") else "",
                               mome={"n_experts": 32, "router_warmup_steps": max(1, spec["steps"] // 4)})
    items = training_mix(pair_items(gen.pairs), fact_items(gen.facts), config)
    return schema, items, config


def run_ours(spec: dict[str, t.Any]) -> dict[str, t.Any]:
    from sqltune.models import load_model
    from sqltune.tune.pipeline import tune_items

    schema, items, config = _setup(spec)
    model = load_model(spec["model"], device="cpu")
    clock, seen = Clock(), [0]

    def tick(row: dict[str, t.Any]) -> None:
        if "step" in row:
            seen[0] += row["tokens"]
            clock.mark(seen[0])

    start = time.perf_counter()
    out = tune_items(model, items, schema, config, Path(spec["work"]) / f"adapter-{spec['method']}", resume=False,
                     progress=tick)
    wall = time.perf_counter() - start
    train_s = out.result.history[-1]["elapsed_s"] if out.result.history else 0.0
    return {"method": spec["method"], "steps": out.result.steps, "items": len(items), "train_s": round(train_s, 1),
            "tokens": out.result.tokens, **clock.rates(),
            "wall_s": round(wall, 1), "peak_rss_mb": _peak_rss_mb(), "recall": out.recall.to_dict(),
            "final_loss": out.result.history[-1]["loss"] if out.result.history else None,
            "adapter_dir": str(out.adapter_dir)}


def run_trainer(spec: dict[str, t.Any]) -> dict[str, t.Any]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from sqltune.models import load_model
    from sqltune.prompt import PromptBuilder, PromptConfig
    from sqltune.tune.data import batches, encode, identifier_strings
    from sqltune.tune.train import adapter_targets

    schema, items, config = _setup(spec)
    model = load_model(spec["model"], device="cpu")
    tok = model.tokenizer
    builder = PromptBuilder(schema, tok, PromptConfig(mode=config.prompt_mode))
    strings = identifier_strings(schema)
    data = [encode(it, builder, tok, schema, identifier_weight=1.0, max_len=config.max_seq_len, strings=strings)
            for it in items]
    per_batch = max(1, round(len(data) / len(batches(data, config.batch_tokens, config.seed, 0))))
    rows = [{"input_ids": list(d.input_ids), "labels": list(d.labels)} for d in data]
    counted = {"tokens": 0}

    def collate(batch: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        n = max(len(r["input_ids"]) for r in batch)
        ids = torch.full((len(batch), n), tok.pad_token_id, dtype=torch.long)
        labels = torch.full((len(batch), n), -100, dtype=torch.long)
        mask = torch.zeros((len(batch), n), dtype=torch.long)
        for i, r in enumerate(batch):
            k = len(r["input_ids"])
            ids[i, :k], labels[i, :k], mask[i, :k] = torch.tensor(r["input_ids"]), torch.tensor(r["labels"]), 1
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}

    lora = get_peft_model(model.model, LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=0.0,
                                                  target_modules=adapter_targets(model.model, config),
                                                  task_type="CAUSAL_LM"))
    args = TrainingArguments(output_dir=str(Path(spec["work"]) / "trainer"), max_steps=config.max_steps,
                             per_device_train_batch_size=per_batch, learning_rate=config.lr,
                             lr_scheduler_type="constant_with_warmup", warmup_steps=config.warmup_steps,
                             weight_decay=0.0, logging_steps=max(1, config.max_steps // 4), save_strategy="no",
                             report_to=[], use_cpu=True, remove_unused_columns=False, **_grouped(),
                             dataloader_num_workers=0, seed=config.seed, disable_tqdm=True)

    def count(_module: t.Any, _args: t.Any, kwargs: dict[str, t.Any]) -> None:  # tokens the steps really trained on
        if torch.is_grad_enabled() and kwargs.get("attention_mask") is not None:
            counted["tokens"] += int(kwargs["attention_mask"].sum())

    lora.register_forward_pre_hook(count, with_kwargs=True)
    clock = Clock()

    class Marks(TrainerCallback):  # type: ignore[misc]
        def on_step_end(self, *_: t.Any, **__: t.Any) -> None:
            clock.mark(counted["tokens"])

    trainer = Trainer(model=lora, args=args, train_dataset=rows, data_collator=collate, callbacks=[Marks()])
    start = time.perf_counter()
    metrics = trainer.train().metrics
    train_s = time.perf_counter() - start
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {"method": "trainer", "steps": config.max_steps, "items": len(items), "per_batch": per_batch,
            "train_s": round(train_s, 1), "tokens": counted["tokens"], **clock.rates(), "wall_s": round(train_s, 1),
            "peak_rss_mb": _peak_rss_mb(), "final_loss": losses[-1] if losses else None,
            "train_runtime": metrics.get("train_runtime")}


def _grouped() -> dict[str, t.Any]:
    """Length-grouped batches: ``train_sampling_strategy`` in transformers 5, ``group_by_length`` before."""
    import dataclasses

    from transformers import TrainingArguments

    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    if "train_sampling_strategy" in names:
        return {"train_sampling_strategy": "group_by_length"}
    return {"group_by_length": True}


def run_worker(spec: dict[str, t.Any]) -> dict[str, t.Any]:
    import torch

    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    return run_trainer(spec) if spec["adapter"] == "trainer" else run_ours(spec)


def _spawn(spec: dict[str, t.Any]) -> dict[str, t.Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], capture_output=True, text=True,
                          env=env, cwd=ROOT)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"worker {spec['adapter']} failed:\n{proc.stderr[-3000:]}")
    return dict(json.loads(lines[-1][7:]))


def _evaluate(args: argparse.Namespace, runs: dict[str, dict[str, t.Any]]) -> dict[str, t.Any]:
    try:
        from sqltune.evaluate import EvalConfig, evaluate
    except ImportError:
        return {"skipped": "sqltune.evaluate is not available"}
    cfg = EvalConfig(subset=args.subset, schema_in_prompt=False, suite=False)
    out: dict[str, t.Any] = {}
    for label, adapter in [("base", None)] + [(m, runs[m]["adapter_dir"]) for m in ("lora", "mome") if m in runs]:
        ev = evaluate(f"sample:{args.sample}", args.sample, args.model, adapter=adapter, config=cfg,
                      out=Path(args.work) / f"eval-{label}", label=label)
        out[label] = {tier: ev.metric(tier) for tier in ("easy", "medium", "hard", "overall")}
        from sqltune import sandbox

        sandbox.close_all()  # the next evaluate re-introspects the sample: no read-only connection may stay open
    return out


def _markdown(report: dict[str, t.Any]) -> str:
    runs = report["runs"]
    base = runs.get("trainer", {}).get("tokens_per_s")
    base_cpu = runs.get("trainer", {}).get("tokens_per_cpu_s")
    lines = [f"# Memory tuning benchmark ({report['model']}, {report['items']} items, {report['steps']} steps)", "",
             f"{report['machine']}; {report['threads']} threads; load average at start {report['load_start']}.", "",
             "| method | train s | s/step | tokens/s | vs Trainer | tokens/CPU-s | vs Trainer (CPU) | peak RSS MB "
             "| final loss | fact recall | pair recall |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    recall = runs.get("lora", {}).get("recall", {})
    lines.append(f"| base (untuned) | - | - | - | - | - | - | - | - | {_pct(recall.get('base_facts'))} | "
                 f"{_pct(recall.get('base_pairs'))} |")
    for name in runs:
        r = runs[name]
        rc = r.get("recall", {})
        ratio = f"{r['tokens_per_s'] / base:.2f}x" if base else "-"
        cpu_ratio = f"{r['tokens_per_cpu_s'] / base_cpu:.2f}x" if base_cpu else "-"
        label = "transformers Trainer + peft LoRA" if name == "trainer" else ", ".join(
            [{"lora": "sqltune LoRA", "mome": "sqltune MoME"}[name.split("-")[0]]]
            + [{"bf16": "bf16 autocast", "compile": "torch.compile"}[f] for f in name.split("-")[1:]])
        lines.append(f"| {label} | {r['train_s']} | {r['step_s']} | {r['tokens_per_s']} | {ratio} | "
                     f"{r['tokens_per_cpu_s']} | {cpu_ratio} | {r['peak_rss_mb']} | {_loss(r.get('final_loss'))} | "
                     f"{_pct(rc.get('facts'))} | "
                     f"{_pct(rc.get('pairs'))} |")
    if report.get("evaluate"):
        lines += ["", "Evalset execution accuracy (ex_strict), schema left out of the prompt:", "",
                  "| run | easy | medium | hard | overall |", "|---|---|---|---|---|"]
        for label, tiers in report["evaluate"].items():
            if isinstance(tiers, dict):
                lines.append(f"| {label} | " + " | ".join(_pct(tiers.get(tt)) for tt in
                                                         ("easy", "medium", "hard", "overall")) + " |")
    lines += ["", "Recall: exact greedy reproduction of trained targets from prompts without the schema "
              f"({report['recall_items']} facts and pairs each). tokens/s: training-sequence tokens (no padding) per "
              "second of wall time, over steps 2..N; tokens/CPU-s: the same per second of process CPU time (with one "
              "thread, what a step costs even on a shared machine). The Trainer row uses the same items, rank, "
              "learning rate and items per batch."]
    return "\n".join(lines) + "\n"


def _loss(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="smollm2-135m", help="Registry alias or model path (default: smollm2-135m).")
    ap.add_argument("--steps", type=int, default=40, help="Optimizer steps per method.")
    ap.add_argument("--items", type=int, default=32, help="Training items (half facts, half pairs).")
    ap.add_argument("--batch-tokens", type=int, default=512)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--recall-items", type=int, default=16)
    ap.add_argument("--sample", default="cpg")
    ap.add_argument("--generate-n", type=int, default=60, help="Pairs to generate (the items are a slice).")
    ap.add_argument("--methods", default="trainer,lora,mome")
    ap.add_argument("--threads", type=int, default=0, help="torch threads per worker (0: torch's default).")
    ap.add_argument("--evaluate", action="store_true", help="Also run sqltune.evaluate on the sample's evalset.")
    ap.add_argument("--subset", type=int, default=5, help="With --evaluate: cases per tier.")
    ap.add_argument("--out", default=str(RESULTS / "tune.json"))
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(run_worker(json.loads(args.worker))), flush=True)
        return
    import torch

    args.work = tempfile.mkdtemp(prefix="tune-bench-")
    load_start = round(os.getloadavg()[0], 2)
    spec = {"model": args.model, "steps": args.steps, "items": args.items, "batch_tokens": args.batch_tokens,
            "lr": args.lr, "recall_items": args.recall_items, "sample": args.sample, "generate_n": args.generate_n,
            "work": args.work, "threads": args.threads}
    runs: dict[str, dict[str, t.Any]] = {}
    start = time.perf_counter()
    report: dict[str, t.Any] = {}
    for method in args.methods.split(","):  # the files are rewritten after each method: a cut run keeps its part
        t0 = time.perf_counter()
        kind, *flags = method.split("-")
        if kind not in ("trainer", "lora", "mome") or (kind == "trainer" and flags) \
                or any(f not in ("bf16", "compile") for f in flags):
            raise SystemExit(f"unknown method {method!r} (known: trainer, and lora or mome with optional "
                             "-bf16 and -compile, e.g. lora-bf16-compile)")
        runs[method] = _spawn({**spec, "method": method, "adapter": kind, "bf16": "bf16" in flags,
                               "compile": "compile" in flags})
        print(f"{method}: {runs[method]['tokens_per_s']} tokens/s, {time.perf_counter() - t0:.0f}s", flush=True)
        report = _report(args, runs, load_start, start, threads=args.threads or torch.get_num_threads())
    if args.evaluate:
        report["evaluate"] = _evaluate(args, runs)
        _write(args, report)
    print(_markdown(report))


def _report(args: argparse.Namespace, runs: dict[str, dict[str, t.Any]], load_start: float, start: float,
            threads: int) -> dict[str, t.Any]:
    report = {"model": args.model, "steps": args.steps, "items": runs[next(iter(runs))]["items"],
              "batch_tokens": args.batch_tokens, "lr": args.lr, "recall_items": args.recall_items, "threads": threads,
              "machine": f"{cpu_name()}, {os.cpu_count()} CPUs", "load_start": load_start,
              "load_end": round(os.getloadavg()[0], 2), "wall_s": round(time.perf_counter() - start, 1), "runs": runs,
              "ratio_vs_trainer": {m: round(r["tokens_per_s"] / runs["trainer"]["tokens_per_s"], 3)
                                   for m, r in runs.items() if "trainer" in runs and m != "trainer"},
              "cpu_ratio_vs_trainer": {m: round(r["tokens_per_cpu_s"] / runs["trainer"]["tokens_per_cpu_s"], 3)
                                       for m, r in runs.items() if "trainer" in runs and m != "trainer"}}
    _write(args, report)
    return report


def _write(args: argparse.Namespace, report: dict[str, t.Any]) -> None:
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(_markdown(report))


if __name__ == "__main__":
    main()
