"""Per-prompt frozen heads: batched rows with heads of different lengths see exactly what each row sees alone."""

from __future__ import annotations

import typing as t

import pytest

from sqltune.infer.decode import DecodeConfig, generate_candidates
from sqltune.infer.heads import HeadCache, head_length

WORDS = ["system", "SELECT", "FROM", "orders", "customers", "OrderDate", "CHNL_CD", "id", "name", "ECOM"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[t.Any, t.Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tests.tiny import tiny_llama

    folder = tiny_llama(tmp_path_factory.mktemp("tiny"), seed=4)
    return AutoModelForCausalLM.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)


def _prompts(n: int) -> list[str]:
    """Prompts whose heads (the text before the ``Question:`` line) differ in text and length."""
    out = []
    for i in range(n):
        schema = " ".join(WORDS[(i + j) % len(WORDS)] for j in range(4 + 5 * i))
        question = " ".join(WORDS[(3 * i + j) % len(WORDS)] for j in range(1 + i % 3))
        out.append(f"system\nSchema: {schema}\n\nQuestion: {question}\nSQL: ")
    return out


def _lora(model: t.Any) -> t.Any:
    from peft import LoraConfig, get_peft_model

    return get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                                            init_lora_weights=False))


def test_the_head_ends_before_the_question_line(tiny: tuple[t.Any, t.Any]) -> None:
    _, tok = tiny
    for prompt in _prompts(4):
        n = head_length(tok, prompt)
        ids = tok(prompt, add_special_tokens=False)["input_ids"]
        assert 0 < n < len(ids)
        offsets = tok(prompt, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        assert prompt[offsets[n][0]:].startswith("Question: ")  # the question line is the first token left out
        assert offsets[n - 1][1] <= prompt.index("\nQuestion: ")


def test_batched_heads_give_each_row_what_it_gets_alone(tiny: tuple[t.Any, t.Any]) -> None:
    """Training's batch (heads padded to the longest, own tokens right-padded) against one row at a time
    with its head's base keys; and, with no adapter, against the whole sequence run plainly."""
    import torch

    from sqltune.tune.loss import hidden_states

    model, tok = tiny
    rows = [tok(p, add_special_tokens=False)["input_ids"] for p in _prompts(4)]
    lens = [head_length(tok, p) for p in _prompts(4)]
    assert len(set(lens)) == 4 and len({len(r) - n for r, n in zip(rows, lens)}) > 1
    width, own = max(lens), max(len(r) - n for r, n in zip(rows, lens))
    batch = {"input_ids": torch.zeros((4, own), dtype=torch.long), "attention_mask": torch.zeros((4, own), dtype=torch.long),
             "head_ids": torch.zeros((4, width), dtype=torch.long), "head_len": torch.tensor(lens)}
    for i, (r, n) in enumerate(zip(rows, lens)):
        batch["input_ids"][i, :len(r) - n] = torch.tensor(r[n:])
        batch["attention_mask"][i, :len(r) - n] = 1
        batch["head_ids"][i, :n] = torch.tensor(r[:n])
    with torch.no_grad():
        plain = hidden_states(model, batch, HeadCache())
        for i, (r, n) in enumerate(zip(rows, lens)):
            whole = model.model(input_ids=torch.tensor([r])).last_hidden_state[0, n:]
            torch.testing.assert_close(plain[i, :len(r) - n], whole, atol=1e-5, rtol=1e-5)
        lora = _lora(model)
        try:
            cache = HeadCache()
            tuned = hidden_states(lora, batch, cache)
            assert cache.stats["misses"] == 4
            hidden_states(lora, batch, cache)
            assert cache.stats == {"hits": 4, "misses": 4, "tokens_reused": sum(lens)}  # each head computed once
            assert not torch.allclose(tuned[0, :2], plain[0, :2])  # the adapter acts on the own tokens
            for i, (r, n) in enumerate(zip(rows, lens)):
                one = {"input_ids": torch.tensor([r[n:]]), "attention_mask": torch.ones((1, len(r) - n), dtype=torch.long),
                       "frozen_ids": torch.tensor(r[:n])}
                alone = hidden_states(lora, one, HeadCache())[0]
                torch.testing.assert_close(tuned[i, :len(r) - n], alone, atol=1e-5, rtol=1e-5)
        finally:
            lora.unload()


@pytest.mark.parametrize("decode", [DecodeConfig(max_new_tokens=8, batch_size=4),
                                    DecodeConfig(max_new_tokens=6, batch_size=3, num_beams=3, num_candidates=2)],
                         ids=["greedy", "beams"])
def test_generation_with_heads_matches_plain_and_one_at_a_time(tiny: tuple[t.Any, t.Any], decode: DecodeConfig) -> None:
    from dataclasses import replace

    model, tok = tiny
    prompts = _prompts(5)
    plain, _ = generate_candidates(model, tok, prompts, decode)
    cache = HeadCache(split=lambda p: head_length(tok, p))
    headed, _ = generate_candidates(model, tok, prompts, decode, prefix=cache)
    assert headed == plain  # without an adapter the base head is the model's own
    assert any(c.strip() for cands in plain for c in cands)
    lora = _lora(model)
    try:
        batched, _ = generate_candidates(lora, tok, prompts, decode, prefix=HeadCache(split=lambda p: head_length(tok, p)))
        alone, _ = generate_candidates(lora, tok, prompts, replace(decode, batch_size=1),
                                       prefix=HeadCache(split=lambda p: head_length(tok, p)))
        assert batched == alone
        assert batched != plain  # the adapter changed what is generated
    finally:
        lora.unload()


def test_inference_freezes_heads_exactly_as_the_adapter_was_tuned(tmp_path: t.Any) -> None:
    """An adapter's saved tuning config says how its inference computes the prompt start."""
    import json

    from sqltune.infer.text2sql import _frozen_prefix
    from sqltune.tune.artifact import META

    def adapter(name: str, **config: t.Any) -> str:
        folder = tmp_path / name
        folder.mkdir()
        (folder / META).write_text(json.dumps({"config": config}))
        return str(folder)

    assert _frozen_prefix(adapter("linked", frozen_prefix=True, prompt_budget_tokens=600)) == "heads"
    assert _frozen_prefix(adapter("whole", frozen_prefix=True, prompt_budget_tokens=0)) == "shared"
    assert _frozen_prefix(adapter("plain", frozen_prefix=False, prompt_budget_tokens=600)) == ""
    assert _frozen_prefix(None) == ""


def test_the_cache_keeps_at_most_its_entries_and_bytes_least_recently_used_first(tiny: tuple[t.Any, t.Any]) -> None:
    model, _ = tiny
    a, b, c = [5] * 10, [6] * 12, [7] * 14
    cache = HeadCache(max_entries=2)
    for ids in (a, b, a, c):  # a is used again after b, so b goes when c comes
        cache.kv(model, ids)
    assert list(cache.store) == [tuple(a), tuple(c)] and cache.stats["misses"] == 3
    one = cache.nbytes // (10 + 14) * 12  # what b's keys and values take
    small = HeadCache(max_bytes=one + 1)
    small.kv(model, b)
    small.kv(model, a)  # a's 10 tokens fit after b's 12 do not: b goes
    assert list(small.store) == [tuple(a)] and 0 < small.nbytes <= one
