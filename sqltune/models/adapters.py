"""Attaching a tuned adapter folder to a loaded base model.

A LoRA adapter is a peft folder (``adapter_config.json`` + safetensors). The base model it was
trained on is recorded in the adapter's config; attaching it to another base is an error.
"""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

from sqltune.errors import ModelError


def attach(model: t.Any, folder: Path) -> t.Any:
    """Return ``model`` with the adapter in ``folder`` attached (peft LoRA format)."""
    config = folder / "adapter_config.json"
    if not config.is_file():
        raise ModelError(f"No adapter at {folder}: adapter_config.json is missing.")
    try:
        info = json.loads(config.read_text())
    except json.JSONDecodeError as e:
        raise ModelError(f"Adapter config {config} is not valid JSON: {e}") from None
    expected = info.get("sqltune_base_fingerprint")
    if expected and expected != base_fingerprint(model):
        raise ModelError(f"Adapter {folder} was trained on another base model "
                         f"({info.get('base_model_name_or_path', 'unknown')}); refusing to attach it.")
    from peft import PeftModel

    return PeftModel.from_pretrained(model, str(folder))


def base_fingerprint(model: t.Any) -> str:
    """Architecture, size and vocabulary of a base model: what an adapter must match."""
    cfg = model.config
    parts = [getattr(cfg, "model_type", "?"), getattr(cfg, "hidden_size", "?"), getattr(cfg, "num_hidden_layers", "?"),
             getattr(cfg, "vocab_size", "?")]
    return ":".join(map(str, parts))
