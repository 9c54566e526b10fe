"""The shared-prompt-start cache: the same outputs as plain left-padded batches, fewer tokens run."""

from __future__ import annotations

import typing as t

import pytest

from sqltune.infer.decode import DecodeConfig, generate_candidates
from sqltune.infer.prefix import PrefixCache

START = " ".join(["system", "SELECT", "FROM", "orders", "customers", "OrderDate", "CHNL_CD", "\n"] * 6)
QUESTIONS = ["count ( * ) orders", "ECOM DTC", "name id , user", "orders . id = ' ECOM '", "OrderDate", "customers"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[t.Any, t.Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tests.tiny import tiny_llama

    folder = tiny_llama(tmp_path_factory.mktemp("tiny"), seed=2)
    return AutoModelForCausalLM.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)


@pytest.mark.parametrize("decode", [DecodeConfig(max_new_tokens=8, batch_size=4),
                                    DecodeConfig(max_new_tokens=6, batch_size=3, num_beams=3, num_candidates=2)],
                         ids=["greedy", "beams"])
def test_cached_start_gives_the_same_candidates(tiny: tuple[t.Any, t.Any], decode: DecodeConfig) -> None:
    model, tok = tiny
    prompts = [f"{START} {q} assistant" for q in QUESTIONS]
    plain, _ = generate_candidates(model, tok, prompts, decode)
    cache = PrefixCache(min_tokens=8)
    cached, _ = generate_candidates(model, tok, prompts, decode, prefix=cache)
    assert cached == plain
    assert any(c.strip() for cands in plain for c in cands)  # the comparison is not between empty strings
    assert cache.stats["misses"] == 1 and cache.stats["hits"] >= 1  # the start ran once
    assert len(cache.ids) >= len(START.split())


def test_short_or_divergent_starts_fall_back_or_recompute(tiny: tuple[t.Any, t.Any]) -> None:
    model, tok = tiny
    cache = PrefixCache(min_tokens=8)
    k, c = cache.start_for(model, [[4, 5, 6], [4, 5, 7]])  # too short to cache
    assert (k, c) == (0, None)
    a = [5] * 20 + [6, 7]
    k, c = cache.start_for(model, [a, a[:-1] + [8]])
    assert k == 21 and c.get_seq_length() == 21
    k, c = cache.start_for(model, [a[:20] + [9, 9]])  # shares 20 of its 21: reused, cropped
    assert k == 20 and c.get_seq_length() == 20 and cache.stats["hits"] == 1
    assert cache.cache.get_seq_length() == 21  # the kept copy is not cropped
    k, c = cache.start_for(model, [[6] * 30 + [1], [6] * 30 + [2]])  # a different start: recomputed
    assert k == 30 and cache.ids == tuple([6] * 30) and cache.stats["misses"] == 2


def test_base_start_is_the_adapters_off_start(tiny: tuple[t.Any, t.Any]) -> None:
    """``base=True`` computes the start without the adapter: the same keys as the untuned model's."""
    import torch
    from peft import LoraConfig, get_peft_model

    model, _ = tiny
    rows = [[5] * 12 + [6], [5] * 12 + [7]]
    keys = lambda c: c.layers[-1].keys  # noqa: E731
    _, plain = PrefixCache(min_tokens=4).start_for(model, rows)
    lora = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "k_proj", "v_proj"], init_lora_weights=False))
    try:
        _, adapted = PrefixCache(min_tokens=4).start_for(lora, rows)
        _, base = PrefixCache(min_tokens=4, base=True).start_for(lora, rows)
        assert not torch.allclose(keys(adapted), keys(base))
        assert torch.equal(keys(plain), keys(base))
    finally:
        lora.unload()
