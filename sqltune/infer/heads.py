"""Each prompt's own frozen head: the base model's keys and values of what comes before the question.

With the linked schema in the prompt (``PromptConfig(budget_tokens=600)``) every question has its own
schema text, so no long start is shared. An adapter tuned with ``TuneConfig(frozen_prefix=True)`` and
a linked schema attends to each prompt's *head* (system turn, schema text and glossary: everything
before the ``Question:`` line, :func:`head_length`) as the base model computes it, with no gradient
through it; a training step runs only the question and the SQL, a tenth of a pair's tokens. The base
keys and values of a head are computed once and kept (:class:`HeadCache`), so later epochs of the
same pair cost nothing for its schema, and inference computes each head the same way.

Rows of a batch have heads of different lengths: each row's keys and values sit at the start, padded
to the longest head, and the attention mask hides the padding; the row's own tokens take positions
that continue from its head (training passes them, generation derives them from the mask).

>>> class Tok:  # one token per character
...     def __call__(self, text, add_special_tokens=False, return_offsets_mapping=False):
...         return {"input_ids": [ord(c) for c in text], "offset_mapping": [(i, i + 1) for i in range(len(text))]}
>>> head_length(Tok(), "sys\\nSchema: t(a)\\n\\nQuestion: how many?\\nSQL: ")
18
>>> head_length(Tok(), "no question line here")
0
"""

from __future__ import annotations

import typing as t
from collections import OrderedDict
from dataclasses import dataclass, field

from sqltune.infer.prefix import run_start

#: The line that starts the question in every SQL prompt (:meth:`sqltune.prompt.builder.PromptBuilder.user`).
QUESTION_LINE = "\nQuestion: "


def head_length(tokenizer: t.Any, prompt: str) -> int:
    """Tokens of ``prompt`` before its first ``Question:`` line (0 where it has none): the prompt's head.

    Counted on the tokenization of the whole prompt, so the head is always a token prefix of it.
    """
    pos = prompt.find(QUESTION_LINE)
    if pos < 0:
        return 0
    end = pos + 1  # the newline belongs to the head
    enc = tokenizer(prompt, add_special_tokens=False, return_offsets_mapping=True)
    n = 0
    for a, b in enc["offset_mapping"]:
        if b > end:
            break
        n += 1
    return n


@dataclass
class HeadCache:
    """Base-model keys and values per head (a tuple of token ids), computed once and kept.

    ``max_entries`` and ``max_bytes``: the most heads, and bytes of keys and values, kept (0: no limit;
    the least recently used goes first; a 600-token head of the 0.5B model is about 15 MB, so
    thousands of pairs would not fit). ``split``: a prompt's head length (inference:
    :func:`head_length` with the model's tokenizer).
    """

    max_entries: int = 0
    max_bytes: int = 0
    split: t.Callable[[str], int] | None = None
    store: OrderedDict[tuple[int, ...], list[tuple[t.Any, t.Any]]] = field(default_factory=OrderedDict)
    cache_arg: str = "past_key_values"
    stats: dict[str, int] = field(default_factory=lambda: {"hits": 0, "misses": 0, "tokens_reused": 0})
    nbytes: int = 0

    def kv(self, model: t.Any, ids: t.Sequence[int]) -> list[tuple[t.Any, t.Any]]:
        """Per layer ``(keys, values)`` of ``ids`` (one batch row), as the base model computes them."""
        key = tuple(int(i) for i in ids)
        got = self.store.get(key)
        if got is not None:
            self.stats["hits"] += 1
            self.stats["tokens_reused"] += len(key)
            self.store.move_to_end(key)
            return got
        self.cache_arg, cache = run_start(model, key, base=True)
        got = [(layer.keys, layer.values) for layer in cache.layers]
        self.stats["misses"] += 1
        self.store[key] = got
        self.nbytes += _size(got)
        while len(self.store) > 1 and ((self.max_entries and len(self.store) > self.max_entries)
                                       or (self.max_bytes and self.nbytes > self.max_bytes)):
            self.nbytes -= _size(self.store.popitem(last=False)[1])
        return got

    def copy_for(self, model: t.Any, ids: t.Sequence[int]) -> t.Any:
        """A cache of exactly ``ids`` (one row), as :meth:`sqltune.infer.prefix.PrefixCache.copy_for`."""
        from transformers import DynamicCache

        return DynamicCache([(k, v) for k, v in self.kv(model, ids)])

    def batch(self, model: t.Any, heads: t.Sequence[t.Sequence[int]]) -> tuple[t.Any, t.Any]:
        """``(cache, mask)``: the heads' keys and values, each row's at its start and padded to the
        longest head, and the ``(rows, longest)`` mask of the real ones."""
        import torch
        import torch.nn.functional as F
        from transformers import DynamicCache

        width = max(len(h) for h in heads)
        kvs = [self.kv(model, h) if len(h) else None for h in heads]
        ref = next(kv for kv in kvs if kv is not None)
        layers = []
        for li, (k0, v0) in enumerate(ref):
            ks, vs = [], []
            for kv, h in zip(kvs, heads):
                if kv is None:
                    shape = (1, k0.shape[1], width, k0.shape[-1])
                    ks.append(k0.new_zeros(shape))
                    vs.append(v0.new_zeros((1, v0.shape[1], width, v0.shape[-1])))
                else:
                    k, v = kv[li]
                    ks.append(F.pad(k, (0, 0, 0, width - len(h))))
                    vs.append(F.pad(v, (0, 0, 0, width - len(h))))
            layers.append((torch.cat(ks), torch.cat(vs)))
        mask = torch.zeros((len(heads), width), dtype=torch.long, device=ref[0][0].device)
        for i, h in enumerate(heads):
            mask[i, :len(h)] = 1
        return DynamicCache(layers), mask

    def inputs_for(self, model: t.Any, prompts: t.Sequence[str], rows: t.Sequence[t.Sequence[int]], pad_id: int,
                   device: t.Any) -> tuple[dict[str, t.Any], t.Any] | None:
        """Generation inputs for ``prompts`` (token ``rows``): ``input_ids``/``attention_mask`` with each
        row's head first (padded to the longest) and its own tokens right-aligned, and the heads' cache;
        ``None`` when no prompt has a head."""
        import torch

        if self.split is None:
            raise ValueError("HeadCache.inputs_for needs split (a prompt's head length)")
        lens = [min(self.split(p), len(r) - 1) for p, r in zip(prompts, rows)]
        if not any(lens):
            return None
        heads = [tuple(r[:n]) for r, n in zip(rows, lens)]
        cache, head_mask = self.batch(model, heads)
        width = head_mask.shape[1]
        own = max(len(r) - n for r, n in zip(rows, lens))
        ids = torch.full((len(rows), width + own), pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width + own), dtype=torch.long)
        for i, (r, n) in enumerate(zip(rows, lens)):
            ids[i, :n] = torch.tensor(r[:n], dtype=torch.long)
            mask[i, :n] = 1
            rest = r[n:]
            ids[i, width + own - len(rest):] = torch.tensor(rest, dtype=torch.long)
            mask[i, width + own - len(rest):] = 1
        return {"input_ids": ids.to(device), "attention_mask": mask.to(device)}, cache


def _size(kv: t.Sequence[tuple[t.Any, t.Any]]) -> int:
    return sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in kv)
