"""Configuration of a mixture of memory experts (MoME) adapter.

A frozen dataclass, validated on construction; every error names the field it is about.

>>> cfg = MoMEConfig(n_experts=16, top_k=2, rank=4)
>>> cfg.scaling
2.0
>>> MoMEConfig.from_dict(cfg.to_dict()) == cfg
True
>>> MoMEConfig.from_dict({"n_expert": 8})
Traceback (most recent call last):
...
sqltune.errors.ConfigError: Unknown MoMEConfig key 'n_expert'. Did you mean 'n_experts'?
"""

from __future__ import annotations

import dataclasses
import typing as t
from dataclasses import dataclass, field

from sqltune.errors import ConfigError, did_you_mean

#: The attention and MLP projections of Llama / Qwen / Mistral style decoders.
LLAMA_TARGETS: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

DISPATCHES: tuple[str, ...] = ("gather", "dense")


@dataclass(frozen=True)
class MoMEConfig:
    """How many memory experts each targeted linear gets, how they are routed and trained.

    Each targeted ``nn.Linear`` computes ``base(x) + scaling * sum_{e in topk(x)} g_e(x) * B_e(A_e x)``
    with ``scaling = alpha / rank``; ``top_k * rank`` is the *active* rank per token.
    """

    n_experts: int = field(default=64, metadata={"help": "Experts per targeted linear (E); hundreds+ on a GPU."})
    top_k: int = field(default=2, metadata={"help": "Experts each token is routed to."})
    rank: int = field(default=4, metadata={"help": "Low rank r of each expert (A: r x in, B: out x r)."})
    alpha: float = field(default=8.0, metadata={"help": "Expert output is scaled by alpha / rank, as in LoRA."})
    dropout: float = field(default=0.0, metadata={"help": "Dropout on the expert input (not on the router input)."})
    target_modules: tuple[str, ...] = field(
        default=LLAMA_TARGETS,
        metadata={"help": "Module names (exact dotted path or last components, e.g. 'q_proj' or 'mlp.up_proj')."})
    router_hidden: int = field(
        default=0, metadata={"help": "0: linear router (hidden state -> E logits); >0: a SiLU hidden layer this wide."})
    router_warmup_steps: int = field(
        default=50, metadata={"help": "Optimizer steps the router trains for before it is frozen (0: frozen at once)."})
    load_balance_coef: float = field(
        default=0.01, metadata={"help": "Weight of the Switch-style load-balancing loss E * sum_i f_i * P_i."})
    router_noise: float = field(
        default=0.0, metadata={"help": "Std of Gaussian noise on the logits picking experts while the router trains."})
    dispatch: str = field(
        default="gather",
        metadata={"help": "'gather': index the top-k experts' weights (cost grows with tokens, not E); "
                          "'dense': project onto all experts then mask (cost grows with E; faster for small E)."})
    seed: int = field(default=0, metadata={"help": "Seed of the expert and router initialisation."})

    def __post_init__(self) -> None:
        if isinstance(self.target_modules, str):
            object.__setattr__(self, "target_modules", (self.target_modules,))
        elif isinstance(self.target_modules, (list, tuple)):
            object.__setattr__(self, "target_modules", tuple(self.target_modules))
        for name in ("n_experts", "top_k", "rank"):
            _check(name, self, lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
                   "must be a positive integer")
        for name in ("router_hidden", "router_warmup_steps", "seed"):
            _check(name, self, lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
                   "must be a non-negative integer")
        _check("alpha", self, lambda v: _is_number(v) and v > 0, "must be a positive number")
        _check("dropout", self, lambda v: _is_number(v) and 0 <= v < 1, "must be in [0, 1)")
        for name in ("load_balance_coef", "router_noise"):
            _check(name, self, lambda v: _is_number(v) and v >= 0, "must be a non-negative number")
        if self.top_k > self.n_experts:
            raise ConfigError(f"MoMEConfig.top_k={self.top_k} must be <= n_experts={self.n_experts}.")
        if not self.target_modules or not all(isinstance(m, str) and m for m in self.target_modules):
            raise ConfigError(f"MoMEConfig.target_modules={self.target_modules!r} must be a non-empty list of names.")
        if self.dispatch not in DISPATCHES:
            hint = did_you_mean(str(self.dispatch), DISPATCHES) or f"Choose one of {', '.join(DISPATCHES)}."
            raise ConfigError(f"MoMEConfig.dispatch={self.dispatch!r} is unknown. {hint}")

    @property
    def scaling(self) -> float:
        return self.alpha / self.rank

    def to_dict(self) -> dict[str, t.Any]:
        out = dataclasses.asdict(self)
        out["target_modules"] = list(self.target_modules)
        return out

    @classmethod
    def from_dict(cls, data: t.Mapping[str, t.Any]) -> MoMEConfig:
        """Build from a mapping (e.g. parsed JSON); unknown keys are an error with a did-you-mean."""
        known = [f.name for f in dataclasses.fields(cls)]
        for key in data:
            if key not in known:
                hint = did_you_mean(key, known)
                raise ConfigError(f"Unknown MoMEConfig key {key!r}." + (f" {hint}" if hint else
                                                                         f" Known: {', '.join(known)}."))
        return cls(**dict(data))


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check(name: str, cfg: MoMEConfig, ok: t.Callable[[t.Any], bool], what: str) -> None:
    value = getattr(cfg, name)
    if not ok(value):
        raise ConfigError(f"MoMEConfig.{name}={value!r} {what}.")
