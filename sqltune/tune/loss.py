"""The identifier-weighted loss, computed without materialising the full logits.

Only target positions carry loss, so only their hidden states go through the output layer, in
chunks: with a 151k vocabulary the full ``batch × length × vocab`` logits would dominate memory
(13 GiB of the 0.5B model's peak at 4 × 256 tokens), while prompts, which carry no loss, are the
larger part of every sequence.

Every training prompt starts with the same system turn. When a batch carries ``prefix_ids`` (that
shared start, see :func:`shared_prefix`), the prefix runs once per batch and its keys/values are
repeated over the rows, instead of running once per row: the same loss, with gradients through the
prefix, for a quarter to a half fewer tokens through the model.

A batch whose rows start with a *frozen* start (``frozen_ids``, ``TuneConfig.frozen_prefix``: the
whole schema text, thousands of tokens) attends to that start's keys and values as the base model
computes them, once per run (``frozen_cache``, a :class:`sqltune.infer.prefix.PrefixCache` with
``base=True``), with no gradient through it: inference computes it the same way. With the linked
schema each row has a frozen head of its own (``head_ids``/``head_len``, a
:class:`sqltune.infer.heads.HeadCache`), computed once per head and padded into the batch.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass


@dataclass(frozen=True)
class LossStats:
    loss: float
    token_loss: float  # unweighted mean over target tokens
    identifier_loss: float  # mean over identifier tokens (nan when none)
    tokens: int
    identifier_tokens: int
    #: Per batch row: greedy decoding would reproduce its target exactly (every target token, the
    #: end-of-sequence one included, is the model's top choice given the prompt and the target so far).
    recalled: tuple[bool, ...] = ()


def unwrap(model: t.Any) -> t.Any:
    """The transformers causal LM inside a peft or sqltune wrapper."""
    inner = model
    if hasattr(inner, "get_base_model"):
        inner = inner.get_base_model()
    elif hasattr(inner, "mome_layers"):
        inner = inner.model
    return inner


def shared_prefix(sequences: t.Sequence[t.Sequence[int]], first_labels: t.Sequence[int]) -> int:
    """Length of the token prefix every sequence shares, kept short of every sequence's first target.

    >>> shared_prefix([[1, 2, 3, 4, 9], [1, 2, 3, 5, 9, 9]], [4, 4])
    3
    >>> shared_prefix([[1, 2, 3, 4], [1, 2, 3, 4]], [2, 3])  # the position before a target must stay
    1
    """
    if not sequences:
        return 0
    first = sequences[0]
    n = min(min(len(s) for s in sequences), min(first_labels) - 1)
    for i in range(max(n, 0)):
        tok = first[i]
        if any(s[i] != tok for s in sequences):
            return i
    return max(n, 0)


def hidden_states(model: t.Any, batch: dict[str, t.Any], frozen_cache: t.Any = None) -> t.Any:
    """Last hidden states of the batch rows (after ``prefix_ids`` or ``frozen_ids`` when the batch has one)."""
    import torch

    inner = unwrap(model)
    backbone = getattr(inner, inner.base_model_prefix)
    if batch.get("head_ids") is not None:  # each row its own frozen head (sqltune.infer.heads)
        if frozen_cache is None or not hasattr(frozen_cache, "batch"):
            raise ValueError("a batch with head_ids needs a HeadCache as frozen_cache")
        lens = batch["head_len"].tolist()
        heads = [tuple(r[:n]) for r, n in zip(batch["head_ids"].tolist(), lens)]
        cache, head_mask = frozen_cache.batch(model, heads)
        mask = torch.cat([head_mask.to(batch["attention_mask"]), batch["attention_mask"]], dim=1)
        n = batch["input_ids"].shape[1]
        positions = batch["head_len"].to(batch["input_ids"].device).unsqueeze(1) + torch.arange(
            n, device=batch["input_ids"].device).unsqueeze(0)
        return backbone(input_ids=batch["input_ids"], attention_mask=mask, use_cache=True, position_ids=positions,
                        **{frozen_cache.cache_arg: cache}).last_hidden_state
    frozen = batch.get("frozen_ids")
    prefix = frozen if frozen is not None else batch.get("prefix_ids")
    if prefix is None or prefix.shape[-1] == 0:
        return backbone(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    rows = batch["input_ids"].shape[0]
    plen = prefix.shape[-1]
    if frozen is not None:
        if frozen_cache is None:
            raise ValueError("a batch with frozen_ids needs a frozen_cache")
        cache, arg = frozen_cache.copy_for(model, frozen.tolist()), frozen_cache.cache_arg
    else:
        out = backbone(input_ids=prefix.view(1, -1), use_cache=True)
        arg = "cache" if "cache" in out else "past_key_values"  # transformers >= 5.x renamed it
        cache = out[arg]
    cache.batch_repeat_interleave(rows)  # out of place per layer: gradients reach the prefix once
    mask = torch.cat([batch["attention_mask"].new_ones(rows, plen), batch["attention_mask"]], dim=1)
    n = batch["input_ids"].shape[1]
    positions = torch.arange(plen, plen + n, device=prefix.device).unsqueeze(0).expand(rows, -1)
    kw = {arg: cache}
    return backbone(input_ids=batch["input_ids"], attention_mask=mask, use_cache=True, position_ids=positions,
                    **kw).last_hidden_state


def weighted_loss(model: t.Any, batch: dict[str, t.Any], chunk: int = 512,
                  frozen_cache: t.Any = None) -> tuple[t.Any, LossStats]:
    """Weighted cross-entropy over target tokens; returns (differentiable loss, stats)."""
    import torch
    import torch.nn.functional as F

    head = unwrap(model).get_output_embeddings()
    hidden = hidden_states(model, batch, frozen_cache)
    labels = batch["labels"][:, 1:]
    weights = batch["weights"][:, 1:].to(hidden.device)
    mask = labels != -100
    h = hidden[:, :-1][mask]
    y = labels[mask].to(hidden.device)
    w = weights[mask]
    ident = batch["ident"][:, 1:].to(hidden.device)[mask]
    ce_parts, hit_parts = [], []
    for start in range(0, h.shape[0], chunk):
        logits = head(h[start:start + chunk]).float()
        ce_parts.append(F.cross_entropy(logits, y[start:start + chunk], reduction="none"))
        with torch.no_grad():
            hit_parts.append(logits.argmax(-1) == y[start:start + chunk])
    ce = torch.cat(ce_parts) if ce_parts else hidden.new_zeros(0)
    loss = (ce * w).sum() / w.sum().clamp_min(1e-8)
    with torch.no_grad():
        rows = labels.shape[0]
        row_of = torch.arange(rows, device=mask.device).unsqueeze(1).expand_as(mask)[mask].to(hidden.device)
        hits = torch.cat(hit_parts) if hit_parts else torch.zeros(0, dtype=torch.bool, device=hidden.device)
        misses = torch.zeros(rows, device=hidden.device).index_add_(0, row_of, (~hits).float())
        targets = torch.zeros(rows, device=hidden.device).index_add_(0, row_of, torch.ones_like(misses[row_of]))
        stats = LossStats(
            loss=float(loss), token_loss=float(ce.mean()) if ce.numel() else float("nan"),
            identifier_loss=float(ce[ident].mean()) if ident.any() else float("nan"),
            tokens=int(ce.numel()), identifier_tokens=int(ident.sum()),
            recalled=tuple(bool(m == 0 and n > 0) for m, n in zip(misses.tolist(), targets.tolist())),
        )
    return loss, stats
