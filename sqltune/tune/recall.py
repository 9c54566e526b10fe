"""Exact-match recall of trained items by free-running greedy generation."""

from __future__ import annotations

import typing as t

from sqltune.tune.data import Item


def exact_recall(model: t.Any, tokenizer: t.Any, builder: t.Any, items: t.Sequence[Item], *,
                 batch_size: int = 8, max_new_tokens: int | None = None) -> tuple[float, list[str]]:
    """Share of ``items`` whose target the model reproduces exactly (greedy), and the misses' ids."""
    import torch

    if not items:
        return float("nan"), []
    was_training = model.training
    model.eval()
    tokenizer.padding_side = "left"
    misses: list[str] = []
    eos = tokenizer.eos_token or ""
    for start in range(0, len(items), batch_size):
        chunk = items[start:start + batch_size]
        prompts = [builder.prompt(it.question) for it in chunk]
        enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        longest = max(len(tokenizer(it.target, add_special_tokens=False)["input_ids"]) for it in chunk)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_new_tokens or longest + 2, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
        texts = tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=False)
        for it, text in zip(chunk, texts):
            got = text.split(eos)[0] if eos else text
            got = got.replace(tokenizer.pad_token or "\0", "").strip()
            if got != it.target.strip():
                misses.append(it.id)
    if was_training:
        model.train()
    return 1 - len(misses) / len(items), misses
