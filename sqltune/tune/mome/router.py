"""Per-token top-k router over a bank of memory experts, with a Switch-style load-balancing loss.

The router reads the hidden state entering its layer, gives E logits, takes a softmax and keeps
the ``top_k`` largest probabilities, renormalised to sum to one. Every forward records expert usage
(for the load-balancing loss and for monitoring). After :meth:`Router.freeze` its parameters get
``requires_grad=False`` and never change again, so a memorised fact keeps its experts.

>>> import torch
>>> from sqltune.tune.mome.config import MoMEConfig
>>> router = Router(8, MoMEConfig(n_experts=4, top_k=2))
>>> gates, idx = router(torch.randn(5, 8))
>>> gates.shape, idx.shape, bool(torch.allclose(gates.sum(-1), torch.ones(5)))
(torch.Size([5, 2]), torch.Size([5, 2]), True)
>>> float(router.last_aux.detach()) >= 1.0 - 1e-6  # E * sum f_i P_i is 1 when usage is perfectly uniform
True
>>> int(router.usage.sum())
10
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from sqltune.tune.mome.config import MoMEConfig


class Router(nn.Module):
    """Linear (or one-hidden-layer) router: hidden state -> E logits -> softmax -> top-k gates."""

    def __init__(self, in_features: int, config: MoMEConfig, *, generator: torch.Generator | None = None,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.n_experts = config.n_experts
        self.top_k = config.top_k
        self.noise = float(config.router_noise)
        kw = {"device": device, "dtype": dtype}
        if config.router_hidden:
            self.net: nn.Module = nn.Sequential(nn.Linear(in_features, config.router_hidden, **kw), nn.SiLU(),
                                                nn.Linear(config.router_hidden, config.n_experts, **kw))
        else:
            self.net = nn.Linear(in_features, config.n_experts, **kw)
        self.frozen = False
        # int64 so that casting the model to bf16 leaves the counts exact
        self.register_buffer("usage", torch.zeros(config.n_experts, device=device, dtype=torch.long), persistent=False)
        self.last_aux: torch.Tensor | None = None
        self.last_counts: torch.Tensor | None = None
        self.reset_parameters(generator)

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Uniform(+-1/sqrt(fan_in)) weights (nn.Linear's default bound) drawn from ``generator``; zero biases."""
        for mod in self.net.modules():
            if isinstance(mod, nn.Linear):
                bound = 1.0 / math.sqrt(mod.in_features)
                w = torch.empty(mod.weight.shape, device=mod.weight.device, dtype=torch.float32)
                mod.weight.copy_(w.uniform_(-bound, bound, generator=generator))
                if mod.bias is not None:
                    mod.bias.zero_()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Route ``x`` (tokens x in_features): fp32 gates (tokens x k) summing to 1, and expert ids (tokens x k)."""
        logits = self.net(x).float()
        probs = logits.softmax(dim=-1)
        choose = logits
        if self.noise > 0 and self.training and not self.frozen:
            choose = logits + torch.randn_like(logits) * self.noise
        idx = choose.topk(self.top_k, dim=-1).indices
        top = probs.gather(-1, idx)
        gates = top / top.sum(dim=-1, keepdim=True)
        flat = idx.reshape(-1)
        counts = torch.zeros(self.n_experts, device=x.device, dtype=torch.long)
        counts = counts.index_add(0, flat, torch.ones_like(flat))
        self.last_counts = counts
        self.usage.add_(counts)
        if not self.frozen:
            fraction = counts.float() / flat.numel()  # f_i: share of routed slots (not differentiable)
            self.last_aux = self.n_experts * (fraction * probs.mean(dim=0)).sum()
        else:
            self.last_aux = None
        return gates, idx

    def freeze(self) -> None:
        """Stop training the router for good: no grad, no stale grad, no routing noise."""
        for p in self.parameters():
            p.requires_grad_(False)
            p.grad = None
        self.frozen = True
        self.last_aux = None

    def reset_usage(self) -> None:
        self.usage.zero_()


@dataclass(frozen=True)
class ExpertUsage:
    """How often each layer's experts were chosen since the last :meth:`MoMEModel.reset_usage`."""

    counts: dict[str, list[int]]
    entropy: dict[str, float]  # normalised: 1 = uniform use, 0 = one expert takes every token

    @property
    def mean_entropy(self) -> float:
        return sum(self.entropy.values()) / max(len(self.entropy), 1)

    @property
    def min_entropy(self) -> float:
        return min(self.entropy.values(), default=0.0)

    @property
    def unused_fraction(self) -> float:
        """Share of (layer, expert) pairs never chosen."""
        total = sum(len(c) for c in self.counts.values())
        return sum(v == 0 for c in self.counts.values() for v in c) / max(total, 1)


def normalized_entropy(counts: torch.Tensor) -> float:
    """Entropy of a usage histogram divided by log(E): 1 for uniform use, 0 when one expert takes all.

    >>> normalized_entropy(torch.ones(16)), normalized_entropy(torch.tensor([5.0, 0, 0, 0]))
    (1.0, 0.0)
    """
    total = float(counts.sum())
    if counts.numel() < 2 or total <= 0:
        return 0.0
    p = counts.double() / total
    h = -(p * p.clamp_min(1e-300).log()).sum()
    return round(float(h / math.log(counts.numel())), 12) + 0.0  # + 0.0 turns -0.0 into 0.0
