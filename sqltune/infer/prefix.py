"""Run the prompt start that every question shares once, and reuse its keys and values.

Every prompt of one schema starts alike: the system turn and, when the prompt carries the whole
schema (``PromptConfig(budget_tokens=...)`` at least the schema's size), thousands of tokens of schema
text before the question. Without a cache each question runs that start through the model again,
and on a CPU that prefill is most of a question's time. :class:`PrefixCache` keeps the keys and
values of the longest start a batch's prompts share and hands each later batch a copy (cropped
where the batch shares less), so a batch runs only its questions' own tokens.

Rows of a batch keep the shared start at the same positions and are padded *between* the start and
their own tokens; the attention mask hides the padding and position ids follow the mask, so every
row sees exactly what it would see left-padded (the test compares both).

``base=True`` computes the start with the adapter switched off, so the keys and values are the base
model's, shared by the base and every tuned adapter: an adapter trained that way
(``TuneConfig(frozen_prefix=True)``) never saw adapted keys for the schema, and its prefix is computed
once per training run instead of once per step.

>>> shared_start([[1, 2, 3, 4], [1, 2, 5]])
2
>>> shared_start([[1, 2], [1, 2]])  # every row keeps at least one token of its own
1
"""

from __future__ import annotations

import contextlib
import copy
import typing as t
from dataclasses import dataclass, field


def shared_start(rows: t.Sequence[t.Sequence[int]]) -> int:
    """Length of the token start every row shares, short of every row's last token."""
    from sqltune.tune.loss import shared_prefix

    return shared_prefix(rows, [len(r) for r in rows])  # training's rule, with each row's end as its "target"


def _common(a: t.Sequence[int], b: t.Sequence[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def adapter_off(model: t.Any) -> t.ContextManager[t.Any]:
    """A context in which ``model`` runs without its adapter (peft and MoME); a no-op for a plain model."""
    disable = getattr(model, "disable_adapter", None)
    if disable is None or not (hasattr(model, "peft_config") or hasattr(model, "mome_layers")):
        return contextlib.nullcontext()
    return t.cast(t.ContextManager[t.Any], disable())


@dataclass
class PrefixCache:
    """Keys and values of one shared prompt start, reused across batches (see the module docstring).

    ``min_tokens``: a shared start shorter than this is not worth a cache (the rows run left-padded
    as usual). ``base``: compute the start without the adapter. ``limit``: the longest start to cache
    (with ``base``, where the frozen start of the adapter's training ends).
    """

    min_tokens: int = 32
    base: bool = False
    limit: int | None = None
    ids: tuple[int, ...] = ()
    cache: t.Any = None
    cache_arg: str = "cache"
    stats: dict[str, int] = field(default_factory=lambda: {"hits": 0, "misses": 0, "tokens_reused": 0})

    def start_for(self, model: t.Any, rows: t.Sequence[t.Sequence[int]]) -> tuple[int, t.Any]:
        """``(k, cache)``: the rows' first ``k`` tokens have keys and values in ``cache`` (a private copy,
        one batch row); ``(0, None)`` when they share too little."""
        want = shared_start(rows)
        if self.limit is not None:
            want = min(want, self.limit)
        if want < self.min_tokens:
            return 0, None
        start = tuple(rows[0][:want])
        k = _common(self.ids, start)
        if self.cache is None or k < self.min_tokens or k < 0.9 * want:  # a cropped start must be most of it
            self._compute(model, start)
            k = want
            self.stats["misses"] += 1
        else:
            self.stats["hits"] += 1
            self.stats["tokens_reused"] += k * len(rows)
        out = copy.deepcopy(self.cache)
        if k < len(self.ids):
            out.crop(k - len(self.ids))  # a negative count: tokens to drop (every transformers version)
        return k, out

    def copy_for(self, model: t.Any, ids: t.Sequence[int]) -> t.Any:
        """A private copy of the keys and values of exactly ``ids`` (computed once, then reused)."""
        ids = tuple(ids)
        if self.cache is None or self.ids != ids:
            self._compute(model, ids)
            self.stats["misses"] += 1
        else:
            self.stats["hits"] += 1
        return copy.deepcopy(self.cache)

    def _compute(self, model: t.Any, ids: tuple[int, ...]) -> None:
        self.cache_arg, self.cache = run_start(model, ids, base=self.base)
        self.ids = ids


def run_start(model: t.Any, ids: t.Sequence[int], *, base: bool) -> tuple[str, t.Any]:
    """``(cache_arg, cache)``: the keys and values of one row of ``ids`` through ``model``'s backbone, with
    no gradient (and the adapter off with ``base``); ``cache_arg`` is the name the model's forward takes
    the cache by (``cache`` from transformers 5.x, ``past_key_values`` before)."""
    import torch

    from sqltune.tune.loss import unwrap

    inner = unwrap(model)
    backbone = getattr(inner, inner.base_model_prefix)
    device = next(inner.parameters()).device
    with torch.no_grad(), (adapter_off(model) if base else contextlib.nullcontext()):
        out = backbone(input_ids=torch.tensor([list(ids)], device=device), use_cache=True)
    cache_arg = "cache" if "cache" in out else "past_key_values"
    return cache_arg, out[cache_arg]


def batch_inputs(rows: t.Sequence[t.Sequence[int]], k: int, pad_id: int, device: t.Any) -> dict[str, t.Any]:
    """``input_ids``/``attention_mask`` with the shared ``k``-token start first and each row's own tokens
    right-aligned after padding (all rows end at the same column, as with left padding)."""
    import torch

    width = k + max(len(r) - k for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :k] = torch.tensor(r[:k])
        mask[i, :k] = 1
        own = r[k:]
        ids[i, width - len(own):] = torch.tensor(own)
        mask[i, width - len(own):] = 1
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device)}
