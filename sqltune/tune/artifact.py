"""Saving a tuned adapter with everything needed to trust it later.

An adapter folder holds the weights (a peft LoRA folder, or a MoME ``mome_config.json`` +
``adapter_model.safetensors``), ``sqltune_adapter.json`` (the schema's structural fingerprint and
domain hash, the data hash, the full resolved config, the base model's name and fingerprint, the
run's figures), ``schema.json`` (the snapshot it was trained on) and the run's files: the training
log ``train_log.jsonl``, the loss plot ``loss.svg`` and ``recall.json``. The folder is written
atomically: it is either the previous adapter or the complete new one.

Attaching an adapter to another base model is an error; to a schema that drifted since training,
a warning that names what changed (:func:`check_schema`, from the saved ``schema.json``).
"""

from __future__ import annotations

import json
import shutil
import typing as t
import warnings
from pathlib import Path

from sqltune.models.adapters import base_fingerprint
from sqltune.schema import Schema

META = "sqltune_adapter.json"
SCHEMA = "schema.json"


class SchemaDriftWarning(UserWarning):
    """An adapter is used with a schema that changed since it was trained."""


def save_adapter(model: t.Any, folder: str | Path, *, schema: Schema, config: dict[str, t.Any], data_hash: str,
                 base_name: str, figures: dict[str, t.Any], files: t.Mapping[str, str | Path] | None = None,
                 project: str | None = None) -> Path:
    """Write the adapter (peft LoRA or MoME), its metadata and ``files`` (name -> source path) atomically."""
    meta = {"schema_name": schema.name, "schema_fingerprint": schema.fingerprint(),
            "domain_hash": schema.domain_hash(), "data_hash": data_hash, "config": config,
            "base_model": base_name, "sqltune_base_fingerprint": base_fingerprint(_inner(model)),
            "adapter": "mome" if hasattr(model, "mome_layers") else "lora", "project": project, **figures}
    with _replacing_dir(Path(folder)) as tmp:
        if hasattr(model, "peft_config"):
            model.save_pretrained(tmp)
            cfg_path = tmp / "adapter_config.json"
            cfg = json.loads(cfg_path.read_text())
            cfg["base_model_name_or_path"] = base_name  # the fingerprint is in META: peft warns on unknown keys
            cfg_path.write_text(json.dumps(cfg, indent=2))
        else:
            from sqltune.tune.mome import save_mome

            save_mome(model, tmp, metadata=meta)
        schema.save(tmp / SCHEMA)
        for name, src in (files or {}).items():
            if Path(src).is_file():
                shutil.copyfile(src, tmp / name)
        (tmp / META).write_text(json.dumps(meta, indent=2, default=str))
    return Path(folder)


def read_meta(folder: str | Path) -> dict[str, t.Any]:
    path = Path(folder) / META
    return json.loads(path.read_text()) if path.is_file() else {}


def check_schema(folder: str | Path, schema: Schema) -> list[str]:
    """Warn (:class:`SchemaDriftWarning`) when ``schema`` is not the one the adapter was trained on.

    Returns the changes, one per line (``+ column sales.OrderHeader.RTN_FL``, ``~ values ...``), or
    ``[]`` when the schema is the same.
    """
    meta = read_meta(folder)
    same = (meta.get("schema_fingerprint") in (None, schema.fingerprint())
            and meta.get("domain_hash") in (None, schema.domain_hash()))
    if same:
        return []
    saved = Path(folder) / SCHEMA
    if saved.is_file():
        from sqltune.drift import diff

        changes = diff(Schema.load(saved), schema).summary().splitlines()
    else:
        changes = []
    if not changes or changes == ["no changes"]:
        changes = [f"structure {meta.get('schema_fingerprint')} -> {schema.fingerprint()}, "
                   f"domains {meta.get('domain_hash')} -> {schema.domain_hash()}"]
    shown = "; ".join(changes[:8]) + (f"; and {len(changes) - 8} more" if len(changes) > 8 else "")
    warnings.warn(f"Adapter {folder} was trained on another version of schema {schema.name!r}; since then: "
                  f"{shown}. Re-tune (`sqltune tune {meta.get('project') or schema.name}`) to learn the changes.",
                  SchemaDriftWarning, stacklevel=2)
    return changes


def _inner(model: t.Any) -> t.Any:
    if hasattr(model, "get_base_model"):
        return model.get_base_model()
    if hasattr(model, "mome_layers"):
        return model.model
    return model


def _replacing_dir(path: Path) -> t.Any:
    from sqltune import atomic

    return atomic.replacing(path, is_dir=True)
