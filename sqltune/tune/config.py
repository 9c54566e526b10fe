"""The tuning configuration, with two presets: ``cpu`` (2 cores, the main job) and ``full`` (a GPU).

>>> TuneConfig.preset("cpu").time_budget_s
1200.0
>>> TuneConfig.from_dict({"adapter": "lora", "lr": 1e-3}).lr
0.001
>>> TuneConfig.from_dict({"max_step": 5})
Traceback (most recent call last):
sqltune.errors.ConfigError: Unknown tuning option 'max_step'. Did you mean 'max_steps'?
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing as t
from dataclasses import dataclass, field

from sqltune.errors import ConfigError, did_you_mean

ADAPTERS = ("lora", "mome")
DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class TuneConfig:
    adapter: str = "lora"
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    target_modules: tuple[str, ...] = DEFAULT_TARGETS
    mome: dict[str, t.Any] = field(default_factory=dict)
    lr: float = 2e-4
    weight_decay: float = 0.0
    warmup_steps: int = 10
    lr_schedule: str = "cosine"  # "cosine": decay to min_lr_ratio × lr over the run (see sqltune.tune.train)
    min_lr_ratio: float = 0.05
    max_steps: int = 300
    batch_tokens: int = 2048
    max_seq_len: int = 512
    identifier_weight: float = 4.0
    stop_identifier_loss: float = 0.05
    eval_every: int = 25
    eval_items: int = 64
    facts_ratio: float = 0.25
    prompt_mode: str = "schema"
    prompt_budget_tokens: int = 1200
    loss_chunk: int = 512
    grad_checkpointing: bool = False
    bf16_autocast: bool = False
    save_every: int = 50
    seed: int = 0
    max_items: int = 0  # 0: every train pair and fact; else this many, facts_ratio of them facts
    share_prefix: bool = True  # run the prompts' common start once per batch (see sqltune.tune.loss)
    top_layers: int = 0  # 0: adapt every layer; n: only the top n (backward stops below them)
    time_budget_s: float = 0.0  # 0: none; else stop training (stopped="time_budget") after this many seconds
    recall_items: int = 32  # facts and pairs each whose exact recall is reported after training (0: skip)
    recall_base: bool = True  # also measure the untuned model's recall of the same items
    review: bool = False  # spaced review: train what is not reproduced yet, stop once all is (sqltune.tune.review)
    #: Each fact item comes this many times in an epoch (pairs once): a fact is a few tokens that must be
    #: seen many times to be recalled exactly, a pair with the schema in its prompt is hundreds.
    fact_repeats: int = 1
    #: The share of the training budget (``time_budget_s``, else ``max_steps``) in which an epoch trains
    #: the fact items alone; under ``review`` only while some fact was not reproduced at its last visit
    #: (so the pairs join once every fact is, and the facts train alone again if pairs undo some).
    #: A fact needs many visits and costs a few tokens; a pair with the schema text costs hundreds, so
    #: a mixed epoch visits each fact once per hundreds of pair tokens.
    fact_phase: float = 0.0
    #: The share of the budget at its end in which the facts train alone again: pairs trained after a fact
    #: phase undo the long facts (a column list, a metric's SQL), and under review a fact reproduced early
    #: is not due again for many (long, mixed) epochs. The phase cuts the epoch under way short and
    #: reviews the facts on their own (every fact first, then the ones missed); once each was reproduced,
    #: a pass over all facts checks them, and training stops (``stopped="facts_recalled"``) with no miss.
    fact_final: float = 0.0
    #: In each epoch of the ``fact_final`` phase also train pairs, as many as make this multiple of the
    #: epoch's fact tokens (at least one), in a seeded rotation over the pairs: facts trained alone at the
    #: end pull the SQL answers towards their form (extra columns, the wrong code), so the task is rehearsed.
    fact_final_replay: float = 0.0
    #: The learning rate of the ``fact_final`` phase as a share of ``lr``, held constant (0: the schedule's
    #: own, by then near its floor, where a fact the pairs undid takes many visits to come back). When set,
    #: the cosine decay ends where the phase starts, so the mixed epochs anneal fully before it.
    fact_final_lr: float = 0.0
    #: Under ``review``: a fact is due again at most this many epochs after a visit (0: the review's
    #: doubling wait alone; 1: every epoch). Under the doubling wait a fact reproduced once is next seen
    #: 8 or 16 epochs later, and a run has only a few long mixed epochs after a fact phase, so the pairs
    #: undo it unseen; a fact costs a few tokens where a pair with the schema costs hundreds.
    fact_every: int = 0  # (the fact_final phase has a review of its own, which this does not change)
    #: With ``max_items``: every fact of these kinds (``"table_columns"``: each table's exact column list)
    #: is in the mix (as many as the facts' places hold), and the places left spread over the other
    #: kinds. A capped mix takes a few facts of each kind, so most tables' columns are never trained.
    whole_fact_kinds: tuple[str, ...] = ()
    #: With ``prompt_mode="schema"``: the schema part of a pair's prompt attends as the base model's keys
    #: and values, with no gradient through it; a step runs only the question and the SQL. With the whole
    #: schema (``prompt_budget_tokens=0``) it is the start every pair shares, computed once per run and at
    #: inference once per schema (sqltune.infer.prefix); with a linked schema it is each pair's own head,
    #: all before its question, computed once per head and at inference per question (sqltune.infer.heads).
    frozen_prefix: bool = False
    #: A ``torch.compile`` backend ("inductor"; "" for none): each decoder block is compiled in place for
    #: training (dynamic shapes, as length buckets vary) and back to eager for recall and inference.
    torch_compile: str = ""

    def __post_init__(self) -> None:
        if self.adapter not in ADAPTERS:
            raise ConfigError(f"Unknown adapter {self.adapter!r}. {did_you_mean(self.adapter, ADAPTERS)}".strip())
        if self.lr_schedule not in ("cosine", "constant"):
            raise ConfigError(f"lr_schedule must be 'cosine' or 'constant', not {self.lr_schedule!r}.")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ConfigError(f"min_lr_ratio must be in [0, 1], not {self.min_lr_ratio!r}.")
        if self.prompt_mode not in ("schema", "none"):
            raise ConfigError(f"prompt_mode must be 'schema' or 'none', not {self.prompt_mode!r}.")
        if self.frozen_prefix and self.prompt_mode != "schema":
            raise ConfigError("frozen_prefix needs prompt_mode 'schema' (a frozen start is the schema text).")
        if self.prompt_budget_tokens < 0:
            raise ConfigError(f"prompt_budget_tokens must not be negative (0: the whole schema), "
                              f"not {self.prompt_budget_tokens!r}.")
        for name in ("lora_r", "max_steps", "batch_tokens", "max_seq_len", "eval_every", "save_every", "loss_chunk",
                     "fact_repeats"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"Tuning option {name} must be positive, not {getattr(self, name)!r}.")
        for name in ("max_items", "top_layers", "time_budget_s", "fact_every", "recall_items", "eval_items", "warmup_steps"):
            if getattr(self, name) < 0:
                raise ConfigError(f"Tuning option {name} must not be negative, not {getattr(self, name)!r}.")
        if self.batch_tokens < self.max_seq_len:
            raise ConfigError(f"batch_tokens ({self.batch_tokens}) must hold at least one item of max_seq_len "
                              f"({self.max_seq_len}) tokens.")
        if not 0 <= self.facts_ratio < 1:
            raise ConfigError(f"facts_ratio must be in [0, 1), not {self.facts_ratio!r}.")
        if not 0 <= self.fact_phase < 1:
            raise ConfigError(f"fact_phase must be in [0, 1), not {self.fact_phase!r}.")
        if not 0 <= self.fact_final < 1 or self.fact_phase + self.fact_final >= 1:
            raise ConfigError(f"fact_final must be in [0, 1) and leave the pairs a share after fact_phase "
                              f"({self.fact_phase!r}), not {self.fact_final!r}.")
        if self.fact_every and not self.review:
            raise ConfigError("fact_every needs review (it caps the spaced review's wait for a fact).")
        if not isinstance(self.whole_fact_kinds, (tuple, list)) or not all(
                isinstance(k, str) and k for k in self.whole_fact_kinds):
            raise ConfigError(f"whole_fact_kinds must be a list of fact kinds, not {self.whole_fact_kinds!r}.")
        object.__setattr__(self, "whole_fact_kinds", tuple(sorted(set(self.whole_fact_kinds))))  # order is moot
        if self.whole_fact_kinds and not self.max_items:
            raise ConfigError("whole_fact_kinds needs max_items (without a cap every fact is trained).")
        if not 0 <= self.fact_final_lr <= 1:
            raise ConfigError(f"fact_final_lr is a share of lr in [0, 1], not {self.fact_final_lr!r}.")
        if self.fact_final_lr and not self.fact_final:
            raise ConfigError("fact_final_lr needs fact_final (the phase whose learning rate it sets).")
        if self.fact_final_replay < 0:
            raise ConfigError(f"fact_final_replay must not be negative, not {self.fact_final_replay!r}.")
        if self.mome:
            from sqltune.tune.mome.config import MoMEConfig

            MoMEConfig.from_dict(self.mome)  # unknown or bad MoME options fail here, not after loading a model
        if self.identifier_weight < 1:
            raise ConfigError(f"identifier_weight must be at least 1, not {self.identifier_weight!r}.")

    @classmethod
    def from_dict(cls, data: t.Mapping[str, t.Any]) -> TuneConfig:
        names = [f.name for f in dataclasses.fields(cls)]
        for key in data:
            if key not in names:
                raise ConfigError(f"Unknown tuning option {key!r}. {did_you_mean(key, names)}".strip())
        kwargs = dict(data)
        for name in ("target_modules", "whole_fact_kinds"):
            if name in kwargs:
                if isinstance(kwargs[name], str) or not isinstance(kwargs[name], (list, tuple)):
                    raise ConfigError(f"Tuning option {name} is a list of names, not {kwargs[name]!r}.")
                kwargs[name] = tuple(kwargs[name])
        return cls(**kwargs)

    @classmethod
    def preset(cls, name: str, **overrides: t.Any) -> TuneConfig:
        """``cpu``: a budget for 2 cores (the README main job); ``full``: for a GPU.

        ``cpu`` trains a seeded slice (``max_items``, half facts) on every layer, pairs with the
        600-token linked schema that inference puts in the prompt, frozen (``frozen_prefix``: each
        pair's schema head attends as the base model's keys and values, computed once, so a step runs
        a tenth of a pair's tokens and the budget holds twice the steps on an AVX2 CPU, with EX 90/30/0
        on cpg's subset against 40/30/0 unfrozen, README), under spaced review, in bf16 autocast
        where the CPU has bf16 instructions (fp32 elsewhere: :mod:`sqltune.tune.bf16`) at lr 5e-4 (at
        2e-3 bf16 diverges, and fp32 at 2e-3 overwrites what the model does on other schemas), until
        every item is reproduced exactly or 20 minutes (``time_budget_s``) of training are spent
        (``max_steps`` ends a run on a faster machine). The facts train alone in the first 30% of the
        run (``fact_phase``), come back every epoch after (``fact_every``), and train alone again in
        its last 15% (``fact_final``, with as many pair tokens replayed) at half the rate, the decay
        before it ended (``fact_final_lr``): on an AVX2 CPU (fp32) that takes cpg's fact recall from
        37.5% (13 minutes without these phases) to 97% at the same EX, 90/30/0 on the subset (README).
        ``full`` trains on every pair
        and fact with the schema in the prompt; the schema is the shared prompt prefix
        (``share_prefix``), so it runs once per batch.
        """
        from sqltune.tune.bf16 import native_bf16

        presets = {
            "cpu": dict(max_steps=300, batch_tokens=512, max_seq_len=512, lr=5e-4, lora_r=16, lora_alpha=32,
                        warmup_steps=5, prompt_mode="schema", prompt_budget_tokens=600, frozen_prefix=True,
                        max_items=128, facts_ratio=0.5, eval_items=0, save_every=10, recall_items=32,
                        time_budget_s=1200.0, review=True, bf16_autocast=native_bf16("cpu"),
                        fact_phase=0.3, fact_every=1, fact_final=0.15, fact_final_replay=1.0, fact_final_lr=0.5,
                        mome={"n_experts": 32, "router_warmup_steps": 20, "dispatch": "dense"}),
            "full": dict(max_steps=2000, batch_tokens=65536, max_seq_len=3584, lr=5e-4, lora_r=64, lora_alpha=128,
                         prompt_mode="schema", prompt_budget_tokens=3000, eval_items=0, save_every=200,
                         recall_items=64, bf16_autocast=True, grad_checkpointing=False,
                         mome={"n_experts": 256, "router_warmup_steps": 100}),
        }
        if name not in presets:
            raise ConfigError(f"Unknown preset {name!r}. {did_you_mean(name, presets)}".strip())
        merged = {**presets[name], **overrides}
        if merged.get("prompt_mode") != "schema" and "frozen_prefix" not in overrides:
            merged["frozen_prefix"] = False  # a prompt without the schema has no schema head to freeze
        merged["mome"] = {**presets[name].get("mome", {}), **overrides.get("mome", {})}  # mome options merge too
        return cls.from_dict(merged)

    def to_dict(self) -> dict[str, t.Any]:
        d = dataclasses.asdict(self)
        d["target_modules"] = list(self.target_modules)
        d["whole_fact_kinds"] = list(self.whole_fact_kinds)
        return d

    def digest(self) -> str:
        """A hash of the options; one added later (:data:`LATE_FIELDS`) counts only when set, so adapters
        tuned before it existed stay the same run (and are not tuned again)."""
        d = {k: v for k, v in self.to_dict().items() if not (k in LATE_FIELDS and v == LATE_FIELDS[k])}
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


#: Options over a preset for plain epochs: every item in every epoch, no spaced review and no fact phases
#: (``TuneConfig.preset("cpu", **PLAIN_EPOCHS)``), as a plain ``transformers`` Trainer trains.
PLAIN_EPOCHS: dict[str, t.Any] = {"review": False, "fact_phase": 0.0, "fact_every": 0, "fact_final": 0.0,
                                  "fact_final_replay": 0.0, "fact_final_lr": 0.0}

#: Options added after adapters were first tuned, with their defaults (see :meth:`TuneConfig.digest`).
LATE_FIELDS: dict[str, t.Any] = {"review": False, "frozen_prefix": False, "fact_repeats": 1, "fact_phase": 0.0,
                                 "torch_compile": "", "fact_final": 0.0,
                                 "fact_final_replay": 0.0, "fact_every": 0, "fact_final_lr": 0.0,
                                 "whole_fact_kinds": []}
