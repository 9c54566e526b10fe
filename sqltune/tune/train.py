"""``memory_tune``: train an adapter until the schema's exact tokens are recalled.

The loop: length-bucketed batches of pairs and facts, the identifier-weighted loss on target
tokens only, AdamW with warm-up, and a memorisation stop: every ``eval_every`` steps the
identifier-token loss is measured (teacher-forced, no dropout) on a fixed sample of training
items, and training stops once it is below ``stop_identifier_loss`` (or ``max_steps`` run out).
It checkpoints every ``save_every`` steps and resumes from the last checkpoint of the same
config and data; with a seed it is deterministic. It writes a JSONL log and an SVG loss plot.
"""

from __future__ import annotations

import json
import math
import random
import time
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

from sqltune import atomic
from sqltune.errors import ConfigError
from sqltune.prompt import PromptBuilder, PromptConfig
from sqltune.schema import Schema
from sqltune.tune.config import TuneConfig
from sqltune.tune.data import Encoded, Item, batches, collate, encode, identifier_strings
from sqltune.tune.loss import weighted_loss
from sqltune.tune.plot import write_loss_svg


@dataclass(frozen=True)
class TuneResult:
    adapter_dir: Path
    steps: int
    stopped: str  # "memorised" | "max_steps"
    identifier_loss: float
    seconds: float
    tokens: int
    tokens_per_s: float
    log_path: Path
    plot_path: Path
    history: tuple[dict[str, t.Any], ...] = field(default=(), repr=False)


def wrap_adapter(model: t.Any, config: TuneConfig) -> t.Any:
    """The base model with a fresh trainable adapter (LoRA through peft, or MoME)."""
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    targets = [m for m in config.target_modules if m in names]
    if not targets:
        raise ConfigError(f"None of the target modules {list(config.target_modules)} exist in this model.")
    if config.adapter == "lora":
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                          target_modules=targets, task_type="CAUSAL_LM")
        return get_peft_model(model, lora)
    from sqltune.tune.mome import MoMEConfig, apply_mome

    return apply_mome(model, MoMEConfig.from_dict({"target_modules": targets, "seed": config.seed, **config.mome}))


def memory_tune(model: t.Any, tokenizer: t.Any, items: t.Sequence[Item], schema: Schema, config: TuneConfig,
                out_dir: str | Path, *, progress: t.Callable[[dict[str, t.Any]], None] | None = None,
                resume: bool = True, data_hash: str = "") -> tuple[t.Any, TuneResult]:
    """Train an adapter on ``items``; returns the wrapped model and a :class:`TuneResult`."""
    import torch

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _seed(config.seed)
    builder = PromptBuilder(schema, tokenizer, PromptConfig(mode=config.prompt_mode,
                                                            budget_tokens=config.prompt_budget_tokens))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    strings = identifier_strings(schema)
    data = [encode(it, builder, tokenizer, schema, identifier_weight=config.identifier_weight,
                   max_len=config.max_seq_len, strings=strings) for it in items]
    if not data:
        raise ConfigError("Nothing to train on: no pairs or facts were given.")
    probe = _probe(data, config)
    model = wrap_adapter(model, config)
    if config.grad_checkpointing:
        model.gradient_checkpointing_enable()
        if hasattr(model, "enable_input_require_grads"):
            model.enable_input_require_grads()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, config.warmup_steps)))
    state = {"step": 0, "epoch": 0, "batch": 0, "tokens": 0, "seconds": 0.0}
    ckpt = out / "checkpoint.pt"
    key = {"config": config.digest(), "data": data_hash or _data_digest(data)}
    if resume and ckpt.is_file():
        _restore(ckpt, key, model, opt, sched, state)
    log_path = out / "train_log.jsonl"
    history = _read_log(log_path, state["step"])
    stopped, id_loss = "max_steps", float("nan")
    model.train()
    pad = tokenizer.pad_token_id
    autocast = torch.autocast("cpu" if model.device.type == "cpu" else model.device.type, dtype=torch.bfloat16,
                              enabled=config.bf16_autocast)
    while state["step"] < config.max_steps:
        order = batches(data, config.batch_tokens, config.seed, state["epoch"])
        while state["batch"] < len(order) and state["step"] < config.max_steps:
            batch = collate([data[i] for i in order[state["batch"]]], pad)
            batch = {k: v.to(model.device) for k, v in batch.items()}
            t0 = time.perf_counter()
            with autocast:
                loss, stats = weighted_loss(model, batch, config.loss_chunk)
                if hasattr(model, "aux_loss"):
                    loss = loss + model.aux_loss()
            loss.backward()
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            if hasattr(model, "after_step"):
                model.after_step(state["step"] + 1)
            dt = time.perf_counter() - t0
            state["step"] += 1
            state["batch"] += 1
            state["tokens"] += int(batch["attention_mask"].sum())
            state["seconds"] += dt
            row = {"step": state["step"], "epoch": state["epoch"], "loss": round(stats.loss, 5),
                   "identifier_loss": _r(stats.identifier_loss), "lr": sched.get_last_lr()[0],
                   "tokens_per_s": round(int(batch["attention_mask"].sum()) / dt, 1)}
            if state["step"] % config.eval_every == 0 or state["step"] == config.max_steps:
                id_loss = _eval_identifier_loss(model, probe, pad, config.loss_chunk)
                row["eval_identifier_loss"] = _r(id_loss)
            history.append(row)
            _append(log_path, row)
            if progress:
                progress(row)
            if state["step"] % config.save_every == 0:
                _checkpoint(ckpt, key, model, opt, sched, state)
            if "eval_identifier_loss" in row and id_loss < config.stop_identifier_loss:
                stopped = "memorised"
                break
        if stopped == "memorised":
            break
        if state["batch"] >= len(order):
            state["epoch"] += 1
            state["batch"] = 0
    if math.isnan(id_loss):
        id_loss = _eval_identifier_loss(model, probe, pad, config.loss_chunk)
    model.eval()
    plot = out / "loss.svg"
    write_loss_svg(history, plot)
    ckpt.unlink(missing_ok=True)
    result = TuneResult(out / "adapter", state["step"], stopped, id_loss, round(state["seconds"], 2), state["tokens"],
                        round(state["tokens"] / max(state["seconds"], 1e-9), 1), log_path, plot, tuple(history))
    return model, result


def _probe(data: t.Sequence[Encoded], config: TuneConfig) -> list[Encoded]:
    rng = random.Random(config.seed)
    with_ids = [d for d in data if any(d.ident)]
    return rng.sample(with_ids, min(config.eval_items, len(with_ids))) if with_ids else list(data[: config.eval_items])


def _eval_identifier_loss(model: t.Any, probe: t.Sequence[Encoded], pad: int, chunk: int) -> float:
    import torch

    was = model.training
    model.eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(probe), 8):
            batch = collate(probe[start:start + 8], pad)
            batch = {k: v.to(model.device) for k, v in batch.items()}
            _, stats = weighted_loss(model, batch, chunk)
            if stats.identifier_tokens:
                total += stats.identifier_loss * stats.identifier_tokens
                n += stats.identifier_tokens
    if was:
        model.train()
    return total / n if n else float("nan")


def _seed(seed: int) -> None:
    import torch

    random.seed(seed)
    torch.manual_seed(seed)


def _r(x: float) -> float | None:
    return None if math.isnan(x) else round(x, 5)


def _data_digest(data: t.Sequence[Encoded]) -> str:
    import hashlib

    h = hashlib.sha256()
    for d in data:
        h.update(repr((d.id, d.input_ids, d.labels)).encode())
    return h.hexdigest()[:16]


def _append(path: Path, row: dict[str, t.Any]) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")


def _read_log(path: Path, upto: int) -> list[dict[str, t.Any]]:
    """Log rows up to the resumed step (rows after it belong to work that is being redone)."""
    if not path.is_file():
        return []
    rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    rows = [r for r in rows if r["step"] <= upto]
    atomic.write_text(path, "".join(json.dumps(r) + "\n" for r in rows))
    return rows


def _trainable(model: t.Any) -> dict[str, t.Any]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def _checkpoint(path: Path, key: dict[str, str], model: t.Any, opt: t.Any, sched: t.Any, state: dict[str, t.Any]) -> None:
    import torch

    blob = {"key": key, "state": dict(state), "params": _trainable(model), "opt": opt.state_dict(),
            "sched": sched.state_dict(), "rng": torch.get_rng_state(), "py_rng": random.getstate()}
    with atomic.replacing(path) as tmp:
        torch.save(blob, tmp)


def _restore(path: Path, key: dict[str, str], model: t.Any, opt: t.Any, sched: t.Any, state: dict[str, t.Any]) -> None:
    import torch

    blob = torch.load(path, weights_only=False)
    if blob["key"] != key:
        return  # another config or data: start afresh
    named = dict(model.named_parameters())
    with torch.no_grad():
        for n, v in blob["params"].items():
            named[n].copy_(v)
    opt.load_state_dict(blob["opt"])
    sched.load_state_dict(blob["sched"])
    torch.set_rng_state(blob["rng"])
    random.setstate(blob["py_rng"])
    state.update(blob["state"])
