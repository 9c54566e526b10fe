"""The tuning configuration, with two presets: ``cpu`` (2 cores, the main job) and ``full`` (a GPU).

>>> TuneConfig.preset("cpu").max_steps
120
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

    def __post_init__(self) -> None:
        if self.adapter not in ADAPTERS:
            raise ConfigError(f"Unknown adapter {self.adapter!r}. {did_you_mean(self.adapter, ADAPTERS)}".strip())
        if self.prompt_mode not in ("schema", "none"):
            raise ConfigError(f"prompt_mode must be 'schema' or 'none', not {self.prompt_mode!r}.")
        for name in ("lora_r", "max_steps", "batch_tokens", "max_seq_len", "eval_every", "save_every", "loss_chunk"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"Tuning option {name} must be positive, not {getattr(self, name)!r}.")
        if not 0 <= self.facts_ratio < 1:
            raise ConfigError(f"facts_ratio must be in [0, 1), not {self.facts_ratio!r}.")
        if self.identifier_weight < 1:
            raise ConfigError(f"identifier_weight must be at least 1, not {self.identifier_weight!r}.")

    @classmethod
    def from_dict(cls, data: t.Mapping[str, t.Any]) -> TuneConfig:
        names = [f.name for f in dataclasses.fields(cls)]
        for key in data:
            if key not in names:
                raise ConfigError(f"Unknown tuning option {key!r}. {did_you_mean(key, names)}".strip())
        kwargs = dict(data)
        if "target_modules" in kwargs:
            kwargs["target_modules"] = tuple(kwargs["target_modules"])
        return cls(**kwargs)

    @classmethod
    def preset(cls, name: str, **overrides: t.Any) -> TuneConfig:
        """``cpu``: a budget for 2 cores (the README main job); ``full``: for a GPU."""
        presets = {
            "cpu": dict(max_steps=120, batch_tokens=1536, max_seq_len=384, lr=1e-3, lora_r=16,
                        prompt_mode="none", eval_every=20, bf16_autocast=False),
            "full": dict(max_steps=2000, batch_tokens=16384, max_seq_len=1024, lr=2e-4, lora_r=64, lora_alpha=128,
                         prompt_mode="schema", prompt_budget_tokens=3000, eval_every=100, bf16_autocast=True,
                         grad_checkpointing=True),
        }
        if name not in presets:
            raise ConfigError(f"Unknown preset {name!r}. {did_you_mean(name, presets)}".strip())
        return cls.from_dict({**presets[name], **overrides})

    def to_dict(self) -> dict[str, t.Any]:
        d = dataclasses.asdict(self)
        d["target_modules"] = list(self.target_modules)
        return d

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]
