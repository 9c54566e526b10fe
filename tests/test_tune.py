"""Memory tuning with tiny random models: loss, weights, memorisation, stop, resume, save/load."""

from __future__ import annotations

import random
import string
from pathlib import Path

import pytest

from sqltune.schema import Column, ColumnProfile, Schema, Table
from sqltune.tune.config import TuneConfig
from sqltune.tune.data import Item, encode, identifier_strings
from sqltune.tune.train import memory_tune
from tests.tiny import tiny_llama


def _schema() -> Schema:
    cols = (Column("OrderId", "INTEGER", "integer", primary_key=True),
            Column("CHNL_CD", "VARCHAR", "text", profile=ColumnProfile(values=("ECOM", "DTC"))))
    return Schema("shop", "duckdb", (Table("sales", "OrderHeader", cols),), default_schema="main")


def _char_model(folder: Path, seed: int = 0):  # type: ignore[no-untyped-def]
    """A tiny Llama with a character-level tokenizer, so any identifier string can be spelled."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<unk>": 1, "<s>": 2, "</s>": 3}
    for ch in string.ascii_letters + string.digits + " _.\"'*(),=:?":
        vocab.setdefault(ch, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", bos_token="<s>",
                                   eos_token="</s>")
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(fast), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                      pad_token_id=0, bos_token_id=2, eos_token_id=3)
    return LlamaForCausalLM(cfg), fast


SYLLABLES = [a + b for a in "BDKMPRTXZ" for b in "AEIOU"]


def _word_model(n_facts: int, seed: int = 0):  # type: ignore[no-untyped-def]
    """A tiny Llama whose word-level vocabulary has one token per fact key and identifier syllable.

    The output layer is scaled up: a random head of std 0.02 behind a frozen RMSNorm cannot make
    a peaked distribution at all, which a trained model's head can.
    """
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<unk>": 1, "<s>": 2, "</s>": 3, "SQL:": 4}
    for w in [f"fact_{i:02d}" for i in range(n_facts)] + SYLLABLES:
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", bos_token="<s>",
                                   eos_token="</s>")
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(fast), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                      pad_token_id=0, bos_token_id=2, eos_token_id=3)
    model = LlamaForCausalLM(cfg)
    with torch.no_grad():
        model.lm_head.weight.mul_(20)
        model.model.embed_tokens.weight.mul_(20)
    return model, fast


def _facts(n: int, seed: int = 1) -> list[Item]:
    rng = random.Random(seed)
    return [Item(f"f{i}", f"fact_{i:02d}", " ".join(rng.choice(SYLLABLES) for _ in range(3)), kind="fact")
            for i in range(n)]


def test_identifier_tokens_get_the_configured_weight(tmp_path: Path) -> None:
    from sqltune.prompt import PromptBuilder

    model, tok = _char_model(tmp_path)
    schema = _schema()
    item = Item("p1", "online orders?", "SELECT count(*) FROM sales.\"OrderHeader\" WHERE \"CHNL_CD\" = 'ECOM'")
    enc = encode(item, PromptBuilder(schema, tok), tok, schema, identifier_weight=5.0, max_len=512,
                 strings=identifier_strings(schema))
    target = [(tok.convert_ids_to_tokens(i), w) for i, lab, w in zip(enc.input_ids, enc.labels, enc.weights)
              if lab != -100]
    text = "".join(t for t, _ in target)
    heavy = "".join(t for t, w in target if w == 5.0)
    assert heavy == 'sales"OrderHeader""CHNL_CD"ECOM'
    prefix = len("SELECT count(*) FROM ")
    assert "".join(t for t, _ in target[:prefix]) == "SELECT count(*) FROM "
    assert all(w == 1.0 for _, w in target[:prefix])
    assert text.startswith("SELECT") and all(lab == -100 for lab in enc.labels[: len(enc.labels) - len(target)])


@pytest.mark.parametrize("adapter", ["lora"])
def test_memorises_random_identifiers_and_stops(tmp_path: Path, adapter: str) -> None:
    from sqltune.prompt import PromptBuilder, PromptConfig
    from sqltune.tune.recall import exact_recall

    model, tok = _word_model(24)
    facts = _facts(24)
    schema = _schema()
    builder = PromptBuilder(schema, tok, PromptConfig(mode="none"))
    before, _ = exact_recall(model, tok, builder, facts)
    cfg = TuneConfig(adapter=adapter, lora_r=16, lora_alpha=32, lr=3e-3, max_steps=300, batch_tokens=4096,
                     eval_every=10, stop_identifier_loss=0.02, prompt_mode="none", warmup_steps=5)
    tuned, result = memory_tune(model, tok, facts, schema, cfg, tmp_path / "run")
    after, misses = exact_recall(tuned, tok, builder, facts)
    assert before == 0.0
    assert result.stopped == "memorised" and result.steps < 300
    assert after == 1.0, misses
    losses = [r["loss"] for r in result.history]
    assert losses[min(40, len(losses) - 1)] < losses[0] / 2
    assert (tmp_path / "run" / "train_log.jsonl").is_file() and (tmp_path / "run" / "loss.svg").is_file()


def test_resume_continues_the_same_run(tmp_path: Path) -> None:
    import torch

    facts = _facts(8)
    schema = _schema()
    cfg = TuneConfig(lr=5e-3, max_steps=12, save_every=6, eval_every=100, prompt_mode="none", batch_tokens=256,
                     stop_identifier_loss=0.0)
    model, tok = _word_model(8, seed=3)
    straight, res_a = memory_tune(model, tok, facts, schema, cfg, tmp_path / "a")
    # the same run, killed after step 6 (simulated by a first run of 6 steps that keeps its checkpoint)
    model, tok = _word_model(8, seed=3)
    short = TuneConfig.from_dict({**cfg.to_dict(), "max_steps": 12})
    def stop_after_checkpoint(row):  # type: ignore[no-untyped-def]
        if row["step"] == 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        memory_tune(model, tok, facts, schema, short, tmp_path / "b", progress=stop_after_checkpoint)
    assert (tmp_path / "b" / "checkpoint.pt").is_file()
    model, tok = _word_model(8, seed=3)  # the same base model, as a real resume loads the same weights
    redone: list[int] = []
    resumed, res_b = memory_tune(model, tok, facts, schema, short, tmp_path / "b",
                                 progress=lambda row: redone.append(row["step"]))
    assert res_b.steps == 12 and redone == [7, 8, 9, 10, 11, 12], "steps 1-6 come from the checkpoint"
    a = dict(straight.named_parameters())
    for name, p in resumed.named_parameters():
        if p.requires_grad:
            assert torch.allclose(p, a[name], atol=1e-6), name
    assert [r["loss"] for r in res_a.history] == pytest.approx([r["loss"] for r in res_b.history], rel=1e-5)
