"""Saving a tuned adapter with everything needed to trust it later.

Beside the weights, ``sqltune_adapter.json`` records the schema's structural fingerprint and
domain hash, the data hash, the full resolved config, the base model's fingerprint and the run's
figures. Attaching an adapter to another base model is an error; to a drifted schema, a warning
that names what changed (see :func:`check_schema`).
"""

from __future__ import annotations

import json
import typing as t
import warnings
from pathlib import Path

from sqltune import atomic
from sqltune.models.adapters import base_fingerprint
from sqltune.schema import Schema

META = "sqltune_adapter.json"


def save_adapter(model: t.Any, folder: str | Path, *, schema: Schema, config: dict[str, t.Any], data_hash: str,
                 base_name: str, figures: dict[str, t.Any]) -> Path:
    """Write the adapter (peft LoRA or MoME) and its metadata atomically into ``folder``."""
    meta = {"schema_name": schema.name, "schema_fingerprint": schema.fingerprint(),
            "domain_hash": schema.domain_hash(), "data_hash": data_hash, "config": config,
            "base_model": base_name, "sqltune_base_fingerprint": base_fingerprint(_inner(model)), **figures}
    with atomic.replacing(folder, is_dir=True) as tmp:
        if hasattr(model, "peft_config"):
            model.save_pretrained(tmp)
            cfg_path = tmp / "adapter_config.json"
            cfg = json.loads(cfg_path.read_text())
            cfg["sqltune_base_fingerprint"] = meta["sqltune_base_fingerprint"]
            cfg_path.write_text(json.dumps(cfg, indent=2))
        else:
            from sqltune.tune.mome import save_mome

            save_mome(model, tmp, metadata=meta)
        (tmp / META).write_text(json.dumps(meta, indent=2, default=str))
    return Path(folder)


def read_meta(folder: str | Path) -> dict[str, t.Any]:
    path = Path(folder) / META
    return json.loads(path.read_text()) if path.is_file() else {}


def check_schema(folder: str | Path, schema: Schema) -> list[str]:
    """Warn (and return the lines) when the adapter was trained on another version of the schema."""
    meta = read_meta(folder)
    notes = []
    if meta.get("schema_fingerprint") and meta["schema_fingerprint"] != schema.fingerprint():
        notes.append(f"the schema's structure changed since adapter {folder} was trained "
                     f"({meta['schema_fingerprint']} -> {schema.fingerprint()})")
    if meta.get("domain_hash") and meta["domain_hash"] != schema.domain_hash():
        notes.append(f"categorical values changed since adapter {folder} was trained")
    for note in notes:
        warnings.warn(note, stacklevel=2)
    return notes


def _inner(model: t.Any) -> t.Any:
    return model.get_base_model() if hasattr(model, "get_base_model") else model
