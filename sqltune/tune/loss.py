"""The identifier-weighted loss, computed without materialising the full logits.

Only target positions carry loss, so only their hidden states go through the output layer, in
chunks: with a 151k vocabulary the full ``batch × length × vocab`` logits would dominate memory
(13 GiB of the 0.5B model's peak at 4 × 256 tokens), while prompts, which carry no loss, are the
larger part of every sequence.
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


def unwrap(model: t.Any) -> t.Any:
    """The transformers causal LM inside a peft or sqltune wrapper."""
    inner = model
    if hasattr(inner, "get_base_model"):
        inner = inner.get_base_model()
    return inner


def weighted_loss(model: t.Any, batch: dict[str, t.Any], chunk: int = 512) -> tuple[t.Any, LossStats]:
    """Weighted cross-entropy over target tokens; returns (differentiable loss, stats)."""
    import torch
    import torch.nn.functional as F

    inner = unwrap(model)
    backbone = getattr(inner, inner.base_model_prefix)
    head = inner.get_output_embeddings()
    hidden = backbone(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    labels = batch["labels"][:, 1:]
    weights = batch["weights"][:, 1:].to(hidden.device)
    mask = labels != -100
    h = hidden[:, :-1][mask]
    y = labels[mask].to(hidden.device)
    w = weights[mask]
    ident = batch["ident"][:, 1:].to(hidden.device)[mask]
    ce_parts = []
    for start in range(0, h.shape[0], chunk):
        logits = head(h[start:start + chunk]).float()
        ce_parts.append(F.cross_entropy(logits, y[start:start + chunk], reduction="none"))
    ce = torch.cat(ce_parts) if ce_parts else hidden.new_zeros(0)
    loss = (ce * w).sum() / w.sum().clamp_min(1e-8)
    with torch.no_grad():
        stats = LossStats(
            loss=float(loss), token_loss=float(ce.mean()) if ce.numel() else float("nan"),
            identifier_loss=float(ce[ident].mean()) if ident.any() else float("nan"),
            tokens=int(ce.numel()), identifier_tokens=int(ident.sum()),
        )
    return loss, stats
