"""``memory_tune``: train an adapter until the schema's exact tokens are recalled.

The loop: length-bucketed batches of pairs and facts, the identifier-weighted loss on target
tokens only, AdamW with warm-up and (``lr_schedule="cosine"``, the default) a cosine decay to
``min_lr_ratio`` of the rate over the run, where the run's progress is the larger of the share of
``max_steps`` and of ``time_budget_s`` spent: a constant rate leaves the loss on a noisy floor
(about 0.05-0.1 nats for smollm2-135m at 2e-3), the decay takes it to the exact-recall regime.
Then a memorisation stop: training stops once the loss on
identifier tokens is below ``stop_identifier_loss`` (or ``max_steps`` or ``time_budget_s`` run
out). With ``eval_items`` > 0 that loss is measured every ``eval_every`` steps (teacher-forced, no
dropout) on a fixed sample of that many training items; with ``eval_items=0`` it is the mean over
the last whole epoch of the training batches' own identifier loss, measured before each update: it
covers every item and costs nothing (the adapters have no dropout by default).
With ``review`` an epoch trains only the items that are due under a spaced
review (:mod:`sqltune.tune.review`): one the model already reproduced exactly at its last visit
comes back after 2, 4, 8 … epochs, one it missed in the next epoch. Once every item was reproduced
at its last visit, one teacher-forced pass over all items (no update) checks that they still are
(later updates can undo an early hit); misses are due again, and when there are none training
stops as ``memorised``: greedy decoding then reproduces every training item exactly. That is the
only memorisation stop under review, besides the identifier loss of that same pass over all items
falling below ``stop_identifier_loss``: a low loss over an epoch of due items (the misses) says
nothing of the rest.
With ``fact_phase`` the epochs that start in that first share of the budget train the fact items alone
(under review only while some fact was not reproduced at its last visit: :func:`in_fact_phase`).
With ``fact_final`` the facts train alone again in the last share of the budget (:func:`in_final_phase`;
it cuts the epoch under way short), under a spaced review of their own that starts with every fact
due; once each was reproduced at its last visit, one teacher-forced pass checks them all, and with no
miss training stops as ``facts_recalled``. ``fact_final_replay`` adds pairs to each of its epochs;
``fact_final_lr`` holds its learning rate at that share of ``lr`` (the decay then ends where it starts).
With ``fact_every`` a reproduced fact waits at most that many epochs under review, not 2, 4, 8 ….
It checkpoints every ``save_every`` steps and resumes from the last checkpoint of the same
config and data; with a seed it is deterministic (unless ``time_budget_s`` cuts it short). It
writes a JSONL log and an SVG loss plot.
"""

from __future__ import annotations

import json
import math
import random
import re
import time
import typing as t
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from sqltune import atomic
from sqltune.errors import ConfigError
from sqltune.prompt import PromptBuilder, PromptConfig
from sqltune.schema import Schema
from sqltune.tune.bf16 import SlowBf16Warning, native_bf16
from sqltune.tune.config import TuneConfig
from sqltune.tune.data import Encoded, Item, batches, collate, encode, frozen_parts, identifier_strings
from sqltune.tune.loss import LossStats, weighted_loss
from sqltune.tune.parallel import Ranks, current
from sqltune.tune.plot import write_loss_svg
from sqltune.tune.review import Review


@dataclass(frozen=True)
class TuneResult:
    adapter_dir: Path
    steps: int
    stopped: str  # "memorised" | "facts_recalled" | "max_steps" | "time_budget"
    identifier_loss: float
    seconds: float
    tokens: int
    tokens_per_s: float
    log_path: Path
    plot_path: Path
    history: tuple[dict[str, t.Any], ...] = field(default=(), repr=False)


def wrap_adapter(model: t.Any, config: TuneConfig) -> t.Any:
    """The base model with a fresh trainable adapter (LoRA through peft, or MoME)."""
    targets = adapter_targets(model, config)
    if config.adapter == "lora":
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                          target_modules=targets, task_type="CAUSAL_LM")
        return get_peft_model(model, lora)
    from sqltune.tune.mome import MoMEConfig, apply_mome

    return apply_mome(model, MoMEConfig.from_dict({"seed": config.seed, **config.mome, "target_modules": targets}))


def adapter_targets(model: t.Any, config: TuneConfig) -> list[str]:
    """Module names the adapter wraps: the configured leaf names, only in the top ``top_layers`` layers if set.

    >>> import torch
    >>> from transformers import LlamaConfig, LlamaForCausalLM
    >>> m = LlamaForCausalLM(LlamaConfig(vocab_size=8, hidden_size=8, intermediate_size=8, num_hidden_layers=3,
    ...                                  num_attention_heads=2, num_key_value_heads=1))
    >>> adapter_targets(m, TuneConfig(target_modules=("q_proj", "nope")))
    ['q_proj']
    >>> adapter_targets(m, TuneConfig(target_modules=("q_proj", "v_proj"), top_layers=1))
    ['model.layers.2.self_attn.q_proj', 'model.layers.2.self_attn.v_proj']
    """
    names = [n for n, _ in model.named_modules() if n]
    leaves = {n.rsplit(".", 1)[-1] for n in names}
    targets = [m for m in config.target_modules if m in leaves]
    if not targets:
        raise ConfigError(f"None of the target modules {list(config.target_modules)} exist in this model.")
    if not config.top_layers:
        return targets
    layer_of = {n: int(m.group(1)) for n in names if (m := _LAYER.search(n))}
    if not layer_of:
        raise ConfigError("top_layers needs a model whose blocks are named '...layers.<i>...'; this one has none.")
    first = max(layer_of.values()) + 1 - config.top_layers
    return [n for n in names if n.rsplit(".", 1)[-1] in targets and layer_of.get(n, -1) >= first]


_LAYER = re.compile(r"(?:^|\.)layers\.(\d+)\.")
_BLOCK = re.compile(r"(?:^|\.)layers\.\d+\Z")


def compile_blocks(model: t.Any, backend: str = "inductor") -> list[t.Any]:
    """Compile each decoder block (``...layers.<i>``) of ``model`` in place with ``torch.compile``; returns them.

    In place (``nn.Module.compile``), so parameter names, the adapter and checkpoints stay as they are;
    with dynamic shapes, as length-bucketed batches vary in length.

    >>> from transformers import LlamaConfig, LlamaForCausalLM
    >>> m = LlamaForCausalLM(LlamaConfig(vocab_size=8, hidden_size=8, intermediate_size=8, num_hidden_layers=2,
    ...                                  num_attention_heads=2, num_key_value_heads=1))
    >>> len(compile_blocks(m, "eager")), [n for n, _ in m.named_parameters()][1]
    (2, 'model.layers.0.self_attn.q_proj.weight')
    """
    blocks = [mod for name, mod in model.named_modules() if _BLOCK.search(name)]
    if not blocks:
        raise ConfigError("torch_compile needs a model whose blocks are named '...layers.<i>'; this one has none.")
    for block in blocks:
        block.compile(backend=backend, dynamic=True)
    return blocks


def epoch_items(indices: t.Iterable[int], facts: t.Collection[int], fact_repeats: int = 1,
                only: t.Collection[int] | None = None) -> list[int]:
    """The item indices an epoch trains: each of ``indices`` (those in ``only``, if given), those in
    ``facts`` ``fact_repeats`` times.

    >>> epoch_items([0, 1, 2], facts={1}, fact_repeats=3)
    [0, 1, 2, 1, 1]
    >>> epoch_items([0, 1, 2], facts={1, 2}, only={1, 2})
    [1, 2]
    """
    idx = [i for i in indices if only is None or i in only]
    return idx + [i for _ in range(fact_repeats - 1) for i in idx if i in facts]


def in_fact_phase(config: TuneConfig, step: int, elapsed: float, facts: t.Collection[int],
                  levels: t.Sequence[int] | None = None) -> bool:
    """Whether an epoch starting now trains the facts alone (``config.fact_phase``): while that share of
    the run (:func:`run_progress`) is not spent, and (``levels``: the review's) some fact was not
    reproduced at its last visit.

    >>> cfg = TuneConfig(fact_phase=0.25, max_steps=100)
    >>> in_fact_phase(cfg, 24, 0.0, {0, 1}), in_fact_phase(cfg, 25, 0.0, {0, 1})
    (True, False)
    >>> in_fact_phase(cfg, 0, 0.0, {0, 1}, levels=[1, 1, -1])  # both facts reproduced: the pairs join
    False
    """
    if not config.fact_phase or not facts:
        return False
    if levels is not None and all(levels[i] >= 1 for i in facts):
        return False
    return run_progress(config, step, elapsed) < config.fact_phase


def in_final_phase(config: TuneConfig, step: int, elapsed: float, facts: t.Collection[int]) -> bool:
    """Whether the facts train alone again now (``config.fact_final``): its share at the end of the run
    (:func:`run_progress`) has begun.

    >>> cfg = TuneConfig(fact_final=0.2, max_steps=100)
    >>> in_final_phase(cfg, 79, 0.0, {0}), in_final_phase(cfg, 80, 0.0, {0}), in_final_phase(cfg, 99, 0.0, set())
    (False, True, False)
    >>> in_final_phase(TuneConfig(fact_final=0.2, time_budget_s=100), 0, 80.0, {0})
    True
    >>> in_final_phase(TuneConfig(fact_final=0.2, max_steps=100, time_budget_s=1e4), 80, 5.0, {0})  # steps end first
    True
    """
    if not config.fact_final or not facts:
        return False
    return run_progress(config, step, elapsed) >= 1 - config.fact_final


def run_progress(config: TuneConfig, step: int, elapsed: float) -> float:
    """How much of the run is spent: the larger of the shares of ``max_steps`` and of ``time_budget_s``
    (whichever ends the run first), so a phase keeps its share on a machine fast enough to reach
    ``max_steps`` before the time budget.

    >>> cfg = TuneConfig(max_steps=100, time_budget_s=50)
    >>> run_progress(cfg, 10, 40.0), run_progress(cfg, 90, 5.0), run_progress(TuneConfig(max_steps=100), 30, 1e9)
    (0.8, 0.9, 0.3)
    """
    share = step / config.max_steps
    return max(share, elapsed / config.time_budget_s) if config.time_budget_s else share


def with_replay(facts: list[int], pairs: t.Sequence[int], start: int, ratio: float,
                cost: t.Sequence[int]) -> tuple[list[int], int]:
    """A final epoch's items: ``facts``, then pairs from ``pairs[start:]`` (round and round) until their
    cost reaches ``ratio`` times the facts' (at least one pair); and where the next epoch's pairs start.

    >>> with_replay([0, 1], [5, 6, 7], 2, 1.0, cost=[10, 10, 0, 0, 0, 15, 15, 15])
    ([0, 1, 7, 5], 4)
    >>> with_replay([0], [5, 6], 0, 1.0, cost=[10, 0, 0, 0, 0, 50, 50]), with_replay([0], [5], 0, 0.0, [1] * 6)
    (([0, 5], 1), ([0], 0))
    """
    items, pos, budget = list(facts), start, ratio * sum(cost[i] for i in facts)
    while pairs and ratio and facts and (pos == start or budget > 0):
        items.append(pairs[pos % len(pairs)])
        budget -= cost[items[-1]]
        pos += 1
    return items, pos


def memory_tune(model: t.Any, tokenizer: t.Any, items: t.Sequence[Item], schema: Schema, config: TuneConfig,
                out_dir: str | Path, *, progress: t.Callable[[dict[str, t.Any]], None] | None = None,
                resume: bool = True, data_hash: str = "", keep_checkpoint: bool = False,
                ranks: Ranks | None = None, head_cache: t.Any = None) -> tuple[t.Any, TuneResult]:
    """Train an adapter on ``items``; returns the wrapped model and a :class:`TuneResult`.

    ``keep_checkpoint``: leave a final checkpoint in ``out_dir``, so that a caller interrupted after
    training (while it measures or saves) gets the trained adapter back from a rerun at no cost.
    ``ranks``: this process's place in a data-parallel run (default: from the launcher's environment,
    :func:`sqltune.tune.parallel.current`); each batch is split over the processes and only process 0
    writes files. ``head_cache``: the :class:`sqltune.infer.heads.HeadCache` to keep the pairs' frozen
    heads in (``frozen_prefix`` with a linked schema), e.g. to measure recall with them afterwards.
    """
    import torch

    ranks = ranks if ranks is not None else current()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _seed(config.seed)
    builder = PromptBuilder(schema, tokenizer, PromptConfig(mode=config.prompt_mode,
                                                            budget_tokens=config.prompt_budget_tokens))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    strings = identifier_strings(schema)
    frozen, heads, fcache = frozen_parts(config, builder, tokenizer, [it.question for it in items if it.kind == "pair"],
                                         head_cache)
    data = [encode(it, builder, tokenizer, schema, identifier_weight=config.identifier_weight,
                   max_len=config.max_seq_len, strings=strings, frozen=frozen, heads=heads) for it in items]
    if not data:
        raise ConfigError("Nothing to train on: no pairs or facts were given.")
    probe = _probe(data, config)
    model = wrap_adapter(model, config)
    share = config.share_prefix and not config.grad_checkpointing  # checkpointing turns the KV cache off
    if config.grad_checkpointing:
        model.gradient_checkpointing_enable()
        if hasattr(model, "enable_input_require_grads"):
            model.enable_input_require_grads()
    compiled = compile_blocks(model, config.torch_compile) if config.torch_compile else []
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    sched = _Schedule(opt, config)
    state = {"step": 0, "epoch": 0, "batch": 0, "tokens": 0, "seconds": 0.0, "elapsed": 0.0,
             "epoch_id_sum": 0.0, "epoch_id_n": 0}
    ckpt = out / "checkpoint.pt"
    key = {"config": config.digest(), "data": data_hash or _data_digest(data)}
    if resume and ckpt.is_file():
        _restore(ckpt, key, model, opt, sched, state)
        if hasattr(model, "after_step"):
            model.after_step(state["step"])  # a MoME router frozen before the checkpoint stays frozen
    log_path = out / "train_log.jsonl"
    history = _read_log(log_path, state["step"], write=ranks.main)
    stopped, id_loss = str(state.get("stopped", "max_steps")), float("nan")  # a finished run stays finished
    model.train()
    pad = tokenizer.pad_token_id
    device = _device(model)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.bf16_autocast)
    if config.bf16_autocast and not native_bf16(device.type):
        warnings.warn(f"bf16_autocast on a {device.type} without bf16 instructions: a step may take many "
                      f"times as long as in fp32 (set bf16_autocast to false).", SlowBf16Warning, stacklevel=2)
    review = (Review.from_dict(state["review"]) if "review" in state else Review.start(len(data))) \
        if config.review else None
    facts = frozenset(i for i, it in enumerate(items) if it.kind == "fact")
    fact_list = sorted(facts)
    fact_pos = {i: j for j, i in enumerate(fact_list)}
    replay = [i for i in range(len(data)) if i not in facts]
    random.Random(f"replay:{config.seed}").shuffle(replay)
    while state["step"] < config.max_steps and stopped == "max_steps":
        if state["batch"] == 0 and state.get("epoch_items") is None:  # an epoch starts: which phase (kept)
            if not state.get("final") and in_final_phase(config, state["step"], state["elapsed"], facts):
                state["final"], state["final_review"] = True, Review.start(len(fact_list)).to_dict()
            state["facts_only"] = state.get("final") or in_fact_phase(config, state["step"], state["elapsed"], facts,
                                                                      review.levels if review is not None else None)
        only = facts if state.get("facts_only") else None
        if state.get("final"):  # the facts under a review of their own: every one first, then the misses
            if state.get("epoch_items") is None:
                final = Review.from_dict(state["final_review"])
                state["epoch"] = final.next_epoch(state["epoch"])
                chosen = [fact_list[j] for j in final.due(state["epoch"])]
                state["epoch_items"], state["replay"] = with_replay(chosen, replay, state.get("replay", 0),
                                                                    config.fact_final_replay, [d.cost for d in data])
            due = state["epoch_items"]
        elif review is not None:
            if state.get("epoch_items") is None:  # an epoch's items are fixed at its start (a resume redoes them)
                state["epoch"] = review.next_epoch(state["epoch"])
                state["epoch_items"] = epoch_items(review.due(state["epoch"]), facts, config.fact_repeats, only)
            due = state["epoch_items"]
        else:
            due = epoch_items(range(len(data)), facts, config.fact_repeats, only)
        order = [[due[j] for j in b] for b in batches([data[i] for i in due], config.batch_tokens, config.seed,
                                                      state["epoch"])]
        while state["batch"] < len(order) and state["step"] < config.max_steps:
            if not state.get("final") and in_final_phase(config, state["step"], state["elapsed"], facts):
                state["batch"] = len(order)  # the final phase cuts an epoch short (what it left stays due)
                break
            t0 = time.perf_counter()
            sched.set(state["step"], state["elapsed"], final=bool(state.get("final")))
            idx = order[state["batch"]]
            stats = _step(model, data, idx, pad, share, config, fcache, autocast, ranks, params)
            opt.step()
            opt.zero_grad(set_to_none=True)
            if hasattr(model, "after_step"):
                model.after_step(state["step"] + 1)
            if review is not None:
                for i, ok in zip(idx, stats.recalled):
                    review = review.visit(i, state["epoch"], ok, config.fact_every if i in facts else 0)
                state["review"] = review.to_dict()
            if state.get("final"):
                final = Review.from_dict(state["final_review"])
                for i, ok in zip(idx, stats.recalled):
                    if i in fact_pos:  # a replayed pair is not reviewed here
                        final = final.visit(fact_pos[i], state["epoch"], ok)
                state["final_review"] = final.to_dict()
            dt = ranks.max(time.perf_counter() - t0)
            n_tokens = sum(data[i].cost for i in idx)  # a frozen start is not run
            state["step"] += 1
            state["batch"] += 1
            if stats.identifier_tokens:
                state["epoch_id_sum"] += stats.identifier_loss * stats.identifier_tokens
                state["epoch_id_n"] += stats.identifier_tokens
            state["tokens"] += n_tokens
            state["seconds"] += dt
            row = {"step": state["step"], "epoch": state["epoch"], "loss": round(stats.loss, 5),
                   "identifier_loss": _r(stats.identifier_loss), "lr": sched.lr,
                   "tokens": n_tokens, "tokens_per_s": round(n_tokens / dt, 1)}
            if review is not None:
                row["recalled_share"] = round(review.recalled_share(), 4)
            if only is not None:
                row["phase"] = "final" if state.get("final") else "facts"
            if state["batch"] == len(order):  # the epoch's last batch
                row["epoch_identifier_loss"] = _r(state["epoch_id_sum"] / max(state["epoch_id_n"], 1)
                                                  if state["epoch_id_n"] else math.nan)
                state["epoch_id_sum"], state["epoch_id_n"] = 0.0, 0
                if not probe and row["epoch_identifier_loss"] is not None:
                    id_loss = row["epoch_identifier_loss"]
                    row["eval_identifier_loss"] = row["epoch_identifier_loss"]
            if probe and (state["step"] % config.eval_every == 0 or state["step"] == config.max_steps):
                id_loss = _eval_identifier_loss(model, probe, pad, config.loss_chunk, share, fcache, ranks)
                row["eval_identifier_loss"] = _r(id_loss)
            final = Review.from_dict(state["final_review"]) if state.get("final") else None
            if final is not None and final.all_recalled():  # each fact reproduced at its last visit: check them all
                hits, _ = _recalled(model, [data[i] for i in fact_list], pad, config.loss_chunk, share, fcache, ranks)
                for j, ok in enumerate(hits):
                    if not ok:
                        final = final.visit(j, state["epoch"], False)
                state["final_review"] = final.to_dict()
                row["checked_fact_misses"] = sum(not ok for ok in hits)
            if review is not None and review.all_recalled():  # stale for items seen long ago: check them all
                hits, all_loss = _recalled(model, data, pad, config.loss_chunk, share, fcache, ranks)
                missed = [i for i, ok in enumerate(hits) if not ok]
                for i in missed:
                    review = review.visit(i, state["epoch"], False)
                state["review"] = review.to_dict()
                row["checked_misses"] = len(missed)
                row["checked_identifier_loss"] = _r(all_loss)
                id_loss = all_loss
            state["elapsed"] += ranks.max(time.perf_counter() - t0)  # every process decides alike
            row["elapsed_s"] = round(state["elapsed"], 2)
            history.append(row)
            if ranks.main:
                _append(log_path, row)
                if progress:
                    progress(row)
                if state["step"] % config.save_every == 0:
                    _checkpoint(ckpt, key, model, opt, sched, state)
            if row.get("checked_misses") == 0 or (row.get("checked_identifier_loss") is not None
                                                  and all_loss < config.stop_identifier_loss):
                stopped = "memorised"
                break
            if row.get("checked_fact_misses") == 0:
                stopped = "facts_recalled"
                break
            if review is None and "eval_identifier_loss" in row and id_loss < config.stop_identifier_loss:
                stopped = "memorised"
                break
            if config.time_budget_s and state["elapsed"] >= config.time_budget_s:
                stopped = "time_budget"
                break
        if state["batch"] >= len(order):
            state["epoch"] += 1
            state["batch"] = 0
            state["epoch_items"] = None
    if probe and (math.isnan(id_loss) or "eval_identifier_loss" not in (history[-1] if history else {})):
        id_loss = _eval_identifier_loss(model, probe, pad, config.loss_chunk, share, fcache, ranks)
    elif not probe:  # the last whole epoch's, else the running mean of the first one
        done = [r["epoch_identifier_loss"] for r in history if r.get("epoch_identifier_loss") is not None]
        id_loss = done[-1] if done else (state["epoch_id_sum"] / state["epoch_id_n"] if state["epoch_id_n"]
                                         else math.nan)
    model.eval()
    for block in compiled:  # recall and inference decode token by token: eager
        block._compiled_call_impl = None
    plot = out / "loss.svg"
    if ranks.main:
        write_loss_svg(history, plot)
        if keep_checkpoint:
            state["stopped"] = stopped
            _checkpoint(ckpt, key, model, opt, sched, state)
        else:
            ckpt.unlink(missing_ok=True)
    ranks.barrier()  # the files are written before any process goes on
    result = TuneResult(out / "adapter", state["step"], stopped, id_loss, round(state["seconds"], 2), state["tokens"],
                        round(state["tokens"] / max(state["seconds"], 1e-9), 1), log_path, plot, tuple(history))
    return model, result


class _Schedule:
    """The learning rate at a step: linear warm-up, then constant or a cosine decay over the run's progress.

    >>> import torch
    >>> opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    >>> s = _Schedule(opt, TuneConfig(lr=1.0, warmup_steps=2, max_steps=10, min_lr_ratio=0.1))
    >>> [round(s.set(i, 0.0), 3) for i in (0, 1, 2, 6, 9)]
    [0.5, 1.0, 1.0, 0.55, 0.134]
    >>> s = _Schedule(opt, TuneConfig(lr=1.0, warmup_steps=0, max_steps=100, time_budget_s=10, min_lr_ratio=0))
    >>> round(s.set(1, 5.0), 3)  # half the time budget spent: half-way down
    0.5
    >>> s = _Schedule(opt, TuneConfig(lr=1.0, warmup_steps=0, max_steps=100, min_lr_ratio=0, fact_final=0.2,
    ...                               fact_final_lr=0.3))
    >>> round(s.set(40, 0.0), 3), round(s.set(79, 0.0), 3), s.set(80, 0.0, final=True)  # down by the phase
    (0.5, 0.0, 0.3)
    """

    def __init__(self, opt: t.Any, config: TuneConfig) -> None:
        self.opt, self.config, self.lr = opt, config, config.lr

    def factor(self, step: int, elapsed: float, final: bool = False) -> float:
        c = self.config
        if final and c.fact_final_lr:
            return c.fact_final_lr
        warm = min(1.0, (step + 1) / c.warmup_steps) if c.warmup_steps else 1.0
        if c.lr_schedule == "constant" or step < c.warmup_steps:
            return warm
        share = 1 - c.fact_final if c.fact_final_lr else 1.0  # the decay ends where the final phase starts
        span = max(1, round(c.max_steps * share) - c.warmup_steps)
        progress = (step - c.warmup_steps) / span
        if c.time_budget_s:
            progress = max(progress, elapsed / (c.time_budget_s * share))
        progress = min(1.0, progress)
        return c.min_lr_ratio + (1 - c.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    def set(self, step: int, elapsed: float, final: bool = False) -> float:
        self.lr = self.config.lr * self.factor(step, elapsed, final)
        for group in self.opt.param_groups:
            group["lr"] = self.lr
        return self.lr


def _probe(data: t.Sequence[Encoded], config: TuneConfig) -> list[Encoded]:
    rng = random.Random(config.seed)
    with_ids = [d for d in data if any(d.ident)]
    probe = rng.sample(with_ids, min(config.eval_items, len(with_ids))) if with_ids else list(data[: config.eval_items])
    return sorted(probe, key=len)  # batches of similar lengths: little padding


def _step(model: t.Any, data: t.Sequence[Encoded], idx: t.Sequence[int], pad: int, share: bool,
          config: TuneConfig, fcache: t.Any, autocast: t.Any, ranks: Ranks, params: t.Sequence[t.Any]) -> LossStats:
    """Forward and backward of one batch (this process's share of it), gradients summed over the
    processes; the batch's stats (every process's rows, ``recalled`` in ``idx`` order)."""
    if not ranks.parallel:
        batch = {k: v.to(_device(model)) for k, v in collate([data[i] for i in idx], pad, share_prefix=share).items()}
        with autocast:
            loss, stats = weighted_loss(model, batch, config.loss_chunk, fcache)
            if hasattr(model, "aux_loss"):
                loss = loss + model.aux_loss()
        loss.backward()
        return stats
    mine = ranks.shard(range(len(idx)))  # positions in the batch
    weight, stats = 0.0, None
    if mine:
        batch = {k: v.to(_device(model)) for k, v in collate([data[idx[p]] for p in mine], pad,
                                                              share_prefix=share).items()}
        weight = float(batch["weights"][:, 1:][batch["labels"][:, 1:] != -100].sum())
    total = ranks.sum([weight])[0]
    if mine:
        with autocast:
            loss, stats = weighted_loss(model, batch, config.loss_chunk, fcache)
            loss = loss * (weight / total if total else 0.0)  # this process's share of the batch's mean
            if hasattr(model, "aux_loss"):
                loss = loss + model.aux_loss() / ranks.world
        loss.backward()
    ranks.sum_grads(params)
    mine_stats: tuple[float, float, int, tuple[tuple[int, bool], ...]] = (0.0, 0.0, 0, ())
    if stats is not None:
        id_sum = 0.0 if math.isnan(stats.identifier_loss) else stats.identifier_loss * stats.identifier_tokens
        mine_stats = (stats.loss * weight, id_sum, stats.identifier_tokens, tuple(zip(mine, stats.recalled)))
    parts = ranks.gather(mine_stats)
    id_tokens = sum(p[2] for p in parts)
    recalled = dict(pair for p in parts for pair in p[3])
    return LossStats(loss=sum(p[0] for p in parts) / total if total else math.nan, token_loss=math.nan,
                     identifier_loss=sum(p[1] for p in parts) / id_tokens if id_tokens else math.nan,
                     tokens=0, identifier_tokens=id_tokens,
                     recalled=tuple(recalled.get(k, False) for k in range(len(idx))))


def _eval_identifier_loss(model: t.Any, probe: t.Sequence[Encoded], pad: int, chunk: int,
                          share: bool = False, fcache: t.Any = None, ranks: Ranks = Ranks()) -> float:
    """Teacher-forced mean loss over the identifier tokens of ``probe`` (no dropout, no update)."""
    return _recalled(model, probe, pad, chunk, share, fcache, ranks)[1]


def _recalled(model: t.Any, data: t.Sequence[Encoded], pad: int, chunk: int, share: bool = False,
              fcache: t.Any = None, ranks: Ranks = Ranks()) -> tuple[list[bool], float]:
    """Per item: greedy decoding reproduces it exactly now; and the mean identifier loss over all items
    (one teacher-forced pass, no update; in a data-parallel run each process checks its share)."""
    import torch

    was = model.training
    model.eval()
    hits: list[tuple[int, bool]] = []
    total, n = 0.0, 0
    device = _device(model)
    with torch.no_grad():
        for group in _groups(ranks.shard(range(len(data))), data, 8):
            batch = collate([data[i] for i in group], pad, share_prefix=share)
            _, stats = weighted_loss(model, {k: v.to(device) for k, v in batch.items()}, chunk, fcache)
            hits += zip(group, stats.recalled)
            if stats.identifier_tokens:
                total += stats.identifier_loss * stats.identifier_tokens
                n += stats.identifier_tokens
    if was:
        model.train()
    out = [False] * len(data)
    for part in ranks.gather(hits):
        for i, ok in part:
            out[i] = ok
    total, n = ranks.sum([total, n])
    return out, (total / n if n else float("nan"))


def _groups(indices: t.Sequence[int], data: t.Sequence[Encoded], size: int) -> list[list[int]]:
    """``indices`` in runs of at most ``size`` whose rows all have a frozen start or all have none."""
    out: list[list[int]] = []
    for frozen in sorted({data[i].frozen > 0 for i in indices}):
        same = [i for i in indices if (data[i].frozen > 0) == frozen]
        out += [same[k:k + size] for k in range(0, len(same), size)]
    return out


def _device(model: t.Any) -> t.Any:
    return next(model.parameters()).device


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


def _read_log(path: Path, upto: int, write: bool = True) -> list[dict[str, t.Any]]:
    """Log rows up to the resumed step (rows after it belong to work that is being redone; ``write``:
    the file is cut there too)."""
    if not path.is_file():
        return []
    rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    rows = [r for r in rows if r["step"] <= upto]
    if write:
        atomic.write_text(path, "".join(json.dumps(r) + "\n" for r in rows))
    return rows


def _trainable(model: t.Any) -> dict[str, t.Any]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def _checkpoint(path: Path, key: dict[str, str], model: t.Any, opt: t.Any, sched: t.Any,
                state: dict[str, t.Any]) -> None:
    import torch

    blob = {"key": key, "state": dict(state), "params": _trainable(model), "opt": opt.state_dict(),
            "rng": torch.get_rng_state(), "py_rng": random.getstate()}
    with atomic.replacing(path) as tmp:
        torch.save(blob, tmp)


def _restore(path: Path, key: dict[str, str], model: t.Any, opt: t.Any, sched: t.Any,
             state: dict[str, t.Any]) -> None:
    import torch

    blob = torch.load(path, weights_only=False)
    if blob["key"] != key:
        return  # another config or data: start afresh
    named = dict(model.named_parameters())
    with torch.no_grad():
        for n, v in blob["params"].items():
            named[n].copy_(v)
    opt.load_state_dict(blob["opt"])
    torch.set_rng_state(blob["rng"])
    random.setstate(blob["py_rng"])
    state.update(blob["state"])
