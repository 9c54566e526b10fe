"""Turning prompts into SQL candidates with a causal LM (greedy, beams or sampling).

>>> extract_sql("Here it is:\\n```sql\\nSELECT 1;\\n```\\nDone.")
'SELECT 1'
>>> extract_sql("SELECT a FROM t; SELECT b FROM u")
'SELECT a FROM t'
"""

from __future__ import annotations

import re
import time
import typing as t
from dataclasses import dataclass

from sqltune.infer.heads import HeadCache
from sqltune.infer.prefix import PrefixCache, batch_inputs

_FENCE = re.compile(r"```(?:sql|SQL)?\s*\n?(.*?)(?:```|$)", re.S)


@dataclass(frozen=True)
class DecodeConfig:
    max_new_tokens: int = 256
    num_candidates: int = 1
    num_beams: int = 1
    do_sample: bool = False
    temperature: float = 0.7
    top_p: float = 0.95
    batch_size: int = 4
    seed: int = 0
    #: Run the prompt start the questions share once and reuse it (:mod:`sqltune.infer.prefix`); the
    #: outputs are the same. Only where at least this many tokens are shared (0: never).
    prefix_min_tokens: int = 256


def extract_sql(text: str) -> str:
    """The first SQL statement in a model's answer (inside a code fence if there is one)."""
    m = _FENCE.search(text)
    body = m.group(1) if m else text
    body = body.strip()
    body = re.sub(r"^(?:SQL|sql)\s*:\s*", "", body)
    out, quote = [], None
    for ch in body:  # stop at the first semicolon outside a string or quoted identifier
        if quote:
            if ch == quote:
                quote = None
        elif ch in ("'", '"'):
            quote = ch
        elif ch == ";":
            break
        out.append(ch)
    return "".join(out).strip()


def generate_candidates(model: t.Any, tokenizer: t.Any, prompts: t.Sequence[str], config: DecodeConfig = DecodeConfig(),
                        *, logits_processor_factory: t.Callable[[int], t.Any] | None = None,
                        progress: t.Callable[[int], None] | None = None,
                        prefix: PrefixCache | HeadCache | None = None) -> tuple[list[list[str]], list[float]]:
    """``config.num_candidates`` SQL strings per prompt, and seconds spent per prompt.

    Prompts are left-padded into batches; ``logits_processor_factory(prompt_length)`` makes the
    processors (e.g. schema constraints) for one batch. With ``prefix``, the start the prompts share
    runs once and is reused by later batches (:mod:`sqltune.infer.prefix`); the outputs are the same.
    A :class:`sqltune.infer.heads.HeadCache` instead gives each prompt its head's base keys and values.
    """
    import torch
    from transformers import LogitsProcessorList

    tokenizer.padding_side = "left"
    out: list[list[str]] = []
    seconds: list[float] = []
    n = max(config.num_candidates, 1)
    for start in range(0, len(prompts), config.batch_size):
        batch = list(prompts[start:start + config.batch_size])
        t0 = time.perf_counter()
        kwargs: dict[str, t.Any] = {}
        rows = tokenizer(batch, add_special_tokens=False)["input_ids"] if prefix is not None else None
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        k, cache, enc = 0, None, None
        if isinstance(prefix, HeadCache) and rows is not None:  # each prompt's own frozen head
            made = prefix.inputs_for(model, batch, rows, pad, model.device)
            if made is not None:
                enc, cache = made
                cache.batch_repeat_interleave(n if config.do_sample else max(config.num_beams, n))
                kwargs[prefix.cache_arg] = cache
        elif prefix is not None and rows is not None:
            k, cache = prefix.start_for(model, rows)
            if cache is not None:
                enc = batch_inputs(rows, k, pad, model.device)
                cache.batch_repeat_interleave(len(batch) * (n if config.do_sample else max(config.num_beams, n)))
                kwargs[prefix.cache_arg] = cache
        if enc is None:
            enc = tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        kwargs.update(max_new_tokens=config.max_new_tokens, num_return_sequences=n,
                      pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
        if config.do_sample:
            torch.manual_seed(config.seed + start)
            kwargs.update(do_sample=True, temperature=config.temperature, top_p=config.top_p)
        else:
            kwargs.update(do_sample=False, num_beams=max(config.num_beams, n))
        width = enc["input_ids"].shape[1]
        if logits_processor_factory is not None:
            kwargs["logits_processor"] = LogitsProcessorList([logits_processor_factory(width)])
        with torch.no_grad():
            gen = model.generate(**enc, **kwargs)
        elapsed = (time.perf_counter() - t0) / len(batch)
        texts = tokenizer.batch_decode(gen[:, width:], skip_special_tokens=True)
        for i in range(len(batch)):
            out.append([extract_sql(x) for x in texts[i * n:(i + 1) * n]])
            seconds.append(elapsed)
        if progress:
            progress(len(batch))
    return out, seconds
