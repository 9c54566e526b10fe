"""Tiny random models built from a config, for fast tests (no download, no real weights)."""

from __future__ import annotations

from pathlib import Path

WORDS = ["SELECT", "FROM", "WHERE", "count", "(", ")", "*", ",", ".", "=", "'", ";", "orders", "customers",
         "OrderDate", "CHNL_CD", "ECOM", "DTC", "id", "name", "user", "assistant", "system", "\n"]


def tiny_tokenizer(folder: Path):  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<unk>": 1, "<s>": 2, "</s>": 3}
    for w in WORDS:
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", bos_token="<s>",
                                   eos_token="</s>")
    fast.save_pretrained(folder)
    return fast


def tiny_llama(folder: Path, seed: int = 0, max_positions: int = 128) -> Path:
    """A 2-layer Llama with a word-level tokenizer, saved as a normal model folder.

    ``max_positions`` must cover the longest prompt it will see (schema prompts run to thousands).
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    tok = tiny_tokenizer(folder)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=max_positions,
                      pad_token_id=0, bos_token_id=2, eos_token_id=3)
    LlamaForCausalLM(cfg).save_pretrained(folder)
    return folder
