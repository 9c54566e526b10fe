"""Mixture of memory experts (MoME): a large bank of small routed adapters for memory tuning.

The recipe of Lamini memory tuning (arXiv 2406.17642): keep the backbone frozen, give each targeted
linear a bank of low-rank "memory experts" and a router that picks a few of them per token; train
each fact until its loss is about zero; train the router only for a short warm-up, then freeze it so
a fact keeps its experts. peft cannot register an out-of-tree adapter type (its ``PeftType`` enum is
closed), so this package mirrors peft's ``tuners/poly`` layout instead: ``config``, ``router``,
``layer``, ``model``.

>>> import torch
>>> from transformers import LlamaConfig, LlamaForCausalLM
>>> _ = torch.manual_seed(0)
>>> base = LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
...                                     num_attention_heads=2, num_key_value_heads=1))
>>> ids = torch.randint(0, 32, (2, 5))
>>> before = base(ids).logits
>>> model = apply_mome(base, MoMEConfig(n_experts=8, top_k=2, rank=2, router_warmup_steps=1))
>>> len(model.mome_layers()), torch.equal(model(ids).logits, before)
(7, True)
>>> loss = model(ids, labels=ids).loss + model.aux_loss()
>>> loss.backward(); model.step()
>>> model.router_frozen
True
"""

from __future__ import annotations

from sqltune.tune.mome.config import LLAMA_TARGETS, MoMEConfig
from sqltune.tune.mome.layer import MoMELinear, UnsupportedModuleError, expert_mix
from sqltune.tune.mome.model import MoMEModel, TuneError, apply_mome, load_mome, save_mome
from sqltune.tune.mome.router import ExpertUsage, Router, normalized_entropy

__all__ = ["LLAMA_TARGETS", "ExpertUsage", "MoMEConfig", "MoMELinear", "MoMEModel", "Router", "TuneError",
           "UnsupportedModuleError", "apply_mome", "expert_mix", "load_mome", "normalized_entropy", "save_mome"]
