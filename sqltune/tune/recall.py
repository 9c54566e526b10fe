"""Exact-match recall of trained items.

Two measures of the same thing:

* :func:`exact_recall` generates greedily (free-running) and compares the text, as inference would;
* :func:`greedy_recall` decides it in one teacher-forced pass: greedy decoding reproduces a target
  exactly if and only if, at every target position (the end-of-sequence token included), the
  target token is the model's most likely next token given the prompt and the target so far. It
  needs one forward pass per item instead of one per generated token, so it is tens of times
  cheaper on a CPU, and it checks the very tokens training used.
"""

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
    device = next(model.parameters()).device
    for start in range(0, len(items), batch_size):
        chunk = items[start:start + batch_size]
        prompts = [builder.prompt_for(it.question, it.kind) for it in chunk]
        enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
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


def greedy_recall(model: t.Any, tokenizer: t.Any, builder: t.Any, items: t.Sequence[Item], schema: t.Any, *,
                  max_len: int = 4096, batch_size: int = 8, chunk: int = 512, frozen: t.Sequence[int] = (),
                  heads: bool = False, frozen_cache: t.Any = None) -> tuple[float, list[str]]:
    """Share of ``items`` that greedy decoding would reproduce exactly, from one teacher-forced pass each.

    A target cut by ``max_len`` counts as a miss (its end cannot be checked). ``frozen``/``frozen_cache``:
    prompts that start with ``frozen`` attend to its base keys and values (``TuneConfig.frozen_prefix``);
    ``heads``: each pair prompt's own head does (a ``HeadCache``).
    """
    import torch

    from sqltune.tune.data import collate, encode
    from sqltune.tune.loss import hidden_states, unwrap

    if not items:
        return float("nan"), []
    eos = getattr(tokenizer, "eos_token", None) or ""
    rows = []
    misses: list[str] = []
    for it in items:
        enc = encode(it, builder, tokenizer, schema, identifier_weight=1.0, max_len=max_len, strings=(), frozen=frozen,
                     heads=heads)
        full = len(tokenizer(it.target.strip() + eos, add_special_tokens=False)["input_ids"])
        if sum(lab != -100 for lab in enc.labels) < full:
            misses.append(it.id)
        else:
            rows.append(enc)
    rows.sort(key=lambda r: (r.frozen > 0, r.cost))
    was_training = model.training
    model.eval()
    head = unwrap(model).get_output_embeddings()
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    with torch.no_grad():
        groups = [[r for r in rows if (r.frozen > 0) == f] for f in sorted({r.frozen > 0 for r in rows})]
        for group in (g[i:i + batch_size] for g in groups for i in range(0, len(g), batch_size)):
            batch = {k: v.to(device) for k, v in collate(group, pad, share_prefix=True).items()}
            hidden = hidden_states(model, batch, frozen_cache)[:, :-1]
            labels = batch["labels"][:, 1:]
            mask = labels != -100
            h, y = hidden[mask], labels[mask]
            pred = torch.cat([head(h[i:i + chunk]).argmax(-1) for i in range(0, h.shape[0], chunk)])
            wrong = torch.zeros(len(group), dtype=torch.long, device=device)
            wrong.index_add_(0, mask.nonzero()[:, 0], (pred != y).long())
            misses += [r.id for r, w in zip(group, wrong.tolist()) if w]
    if was_training:
        model.train()
    order = {it.id: i for i, it in enumerate(items)}
    return 1 - len(misses) / len(items), sorted(misses, key=order.__getitem__)
