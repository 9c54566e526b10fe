"""A frozen ``nn.Linear`` plus a routed bank of low-rank memory experts.

``y = base(x) + scaling * sum_{e in topk(x)} g_e(x) * B_e (A_e x)`` per token, with the banks stored
as stacked parameters ``mome_A`` (E x r x in) and ``mome_B`` (E x out x r). ``mome_B`` starts at zero,
so a freshly wrapped layer computes exactly what the base layer does.

Two dispatches give the same numbers (see :func:`expert_mix`):

* ``gather`` indexes only the k chosen experts' weights per token (``index_select`` on the banks plus a
  batched einsum). Its cost grows with tokens x k x r x (in + out) and not with E, and
  :class:`GatheredMatmul` re-gathers in backward instead of keeping the gathered weights alive.
* ``dense`` projects every token onto all E experts (one matmul), keeps the top-k, and scatters them
  back for one matmul with B. Its cost grows with E; it can be the faster one when E is small.

Neither has Python control flow that depends on the data, so both trace under ``torch.compile``; both
run under ``torch.autocast`` (bf16) as well as in plain fp32 or bf16.

>>> import torch
>>> from sqltune.tune.mome.config import MoMEConfig
>>> base = torch.nn.Linear(8, 6)
>>> layer = MoMELinear(base, MoMEConfig(n_experts=4, top_k=2, rank=2))
>>> x = torch.randn(3, 5, 8)
>>> torch.equal(layer(x), base(x))  # B = 0 at init
True
>>> layer.mome_A.shape, layer.mome_B.shape
(torch.Size([4, 2, 8]), torch.Size([4, 6, 2]))
"""

from __future__ import annotations

import math
import typing as t

import torch
from torch import nn

from sqltune.errors import ConfigError
from sqltune.tune.mome.config import MoMEConfig
from sqltune.tune.mome.router import Router

SUPPORTED_MODULES: tuple[type[nn.Module], ...] = (nn.Linear,)


class UnsupportedModuleError(ConfigError, TypeError):
    """A target module is not one of :data:`SUPPORTED_MODULES` (a ``TypeError`` and a ``ConfigError``)."""


class GatheredMatmul(torch.autograd.Function):
    """Multiply by the weights ``bank[idx[n, k]]`` of each token's k chosen experts, gathered on the fly.

    ``mode="fan_out"``: ``inp`` (N, i) -> (N, k, o), one input per token fed to each of its k experts (A side).
    ``mode="fan_in"``: ``inp`` (N, k, i) -> (N, o), each slot through its expert, summed over the k (B side).
    ``bank`` is (E, o, i), ``idx`` (N, k). Backward gathers the weights again instead of keeping the
    (N, k, o, i) copy alive, and sums the bank's gradient in fp32.
    """

    @staticmethod
    def forward(ctx: t.Any, inp: torch.Tensor, bank: torch.Tensor, idx: torch.Tensor, mode: str) -> torch.Tensor:
        ctx.save_for_backward(inp, bank, idx)
        ctx.mode = mode
        return torch.einsum(_EINSUM[mode][0], inp, _gather(bank, idx))

    @staticmethod
    def backward(ctx: t.Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None, None]:
        inp, bank, idx = ctx.saved_tensors
        _, inp_spec, bank_spec = _EINSUM[ctx.mode]
        g_inp = g_bank = None
        if ctx.needs_input_grad[0]:  # in the gradient's dtype: under autocast the forward ran in bf16
            g_inp = torch.einsum(inp_spec, grad, _gather(bank, idx).to(grad.dtype)).to(inp.dtype)
        if ctx.needs_input_grad[1]:
            per_slot = torch.einsum(bank_spec, grad, inp.to(grad.dtype)).reshape(-1, *bank.shape[1:])
            acc = torch.zeros(bank.shape, dtype=torch.float32, device=bank.device)
            g_bank = acc.index_add_(0, idx.reshape(-1), per_slot.float()).to(bank.dtype)
        return g_inp, g_bank, None, None


# mode -> (forward, gradient of the input, gradient of the gathered weights)
_EINSUM = {"fan_out": ("ni,nkoi->nko", "nko,nkoi->ni", "nko,ni->nkoi"),
           "fan_in": ("nki,nkoi->no", "no,nkoi->nki", "no,nki->nkoi")}


def _gather(bank: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    return bank.index_select(0, idx.reshape(-1)).view(*idx.shape, *bank.shape[1:])


def expert_mix(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor, idx: torch.Tensor, gates: torch.Tensor,
               dispatch: str = "gather") -> torch.Tensor:
    """``sum_k gates[n, k] * b[idx[n, k]] @ a[idx[n, k]] @ x[n]`` for tokens ``x`` (N x in) -> (N x out).

    >>> x, a, b = torch.randn(4, 3), torch.randn(5, 2, 3), torch.randn(5, 6, 2)
    >>> idx, gates = torch.tensor([[0, 4]] * 4), torch.full((4, 2), 0.5)
    >>> ref = 0.5 * (x @ a[0].T @ b[0].T + x @ a[4].T @ b[4].T)
    >>> all(torch.allclose(expert_mix(x, a, b, idx, gates, d), ref, atol=1e-5) for d in ("gather", "dense"))
    True
    """
    if dispatch == "gather":
        h = GatheredMatmul.apply(x, a, idx, "fan_out")  # N x k x r
        return GatheredMatmul.apply(h * gates.to(h.dtype).unsqueeze(-1), b, idx, "fan_in")
    n_experts, rank, _ = a.shape
    h_all = (x @ a.reshape(n_experts * rank, -1).t()).view(x.shape[0], n_experts, rank)
    sel = idx.unsqueeze(-1).expand(-1, -1, rank)
    h = h_all.gather(1, sel) * gates.to(h_all.dtype).unsqueeze(-1)
    routed = torch.zeros_like(h_all).scatter(1, sel, h)  # N x E x r, zero outside the top-k
    return torch.einsum("ner,eor->no", routed, b)


class MoMELinear(nn.Module):
    """Wraps one ``nn.Linear``: the base stays frozen; experts and router are the trainable part."""

    adapter_layer_names = ("mome_A", "mome_B", "mome_router")

    def __init__(self, base_layer: nn.Module, config: MoMEConfig, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        if not isinstance(base_layer, SUPPORTED_MODULES):
            names = ", ".join(f"torch.nn.{c.__name__}" for c in SUPPORTED_MODULES)
            raise UnsupportedModuleError(f"MoME cannot wrap a {type(base_layer).__name__}; supported: {names}.")
        self.base_layer = base_layer
        self.base_layer.requires_grad_(False)
        self.in_features, self.out_features = base_layer.in_features, base_layer.out_features
        self.n_experts, self.top_k, self.rank = config.n_experts, config.top_k, config.rank
        self.scaling = config.scaling
        self.dispatch = config.dispatch
        self.disabled = False
        w = base_layer.weight
        kw: dict[str, t.Any] = {"device": w.device, "dtype": w.dtype}
        self.mome_A = nn.Parameter(torch.empty(config.n_experts, config.rank, self.in_features, **kw))
        self.mome_B = nn.Parameter(torch.zeros(config.n_experts, self.out_features, config.rank, **kw))
        self.mome_router = Router(self.in_features, config, generator=generator, **kw)
        self.mome_dropout: nn.Module = nn.Dropout(config.dropout) if config.dropout else nn.Identity()
        self.reset_experts(generator)

    @torch.no_grad()
    def reset_experts(self, generator: torch.Generator | None = None) -> None:
        """A as ``nn.Linear`` would draw it (uniform +-1/sqrt(in)), B = 0: the layer equals its base."""
        bound = 1.0 / math.sqrt(self.in_features)
        a = torch.empty(self.mome_A.shape, device=self.mome_A.device, dtype=torch.float32)
        self.mome_A.copy_(a.uniform_(-bound, bound, generator=generator))
        self.mome_B.zero_()

    def forward(self, x: torch.Tensor, *args: t.Any, **kwargs: t.Any) -> torch.Tensor:
        result = self.base_layer(x, *args, **kwargs)
        if self.disabled:
            return result
        tokens = x.reshape(-1, self.in_features).to(self.mome_A.dtype)
        gates, idx = self.mome_router(tokens)
        delta = expert_mix(self.mome_dropout(tokens), self.mome_A, self.mome_B, idx, gates.to(tokens.dtype),
                           self.dispatch)
        return result + (delta * self.scaling).view(*x.shape[:-1], self.out_features).to(result.dtype)

    def extra_repr(self) -> str:
        return f"experts={self.n_experts}, top_k={self.top_k}, rank={self.rank}, dispatch={self.dispatch!r}"
