"""Attaching a tuned adapter folder to a loaded base model.

Two formats: a LoRA adapter is a peft folder (``adapter_config.json`` + safetensors); a mixture of
memory experts is ``mome_config.json`` + safetensors (:mod:`sqltune.tune.mome`). Both record the
fingerprint of the base model they were trained on (architecture, width, depth, vocabulary);
attaching one to another base is an error. When the adapter was trained on a schema that has
changed since (the schema given, or else the current snapshot of the project it was tuned for),
a :class:`~sqltune.tune.artifact.SchemaDriftWarning` names what changed.
"""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

from sqltune.errors import ModelError


def adapter_kind(folder: str | Path) -> str:
    """``"mome"`` or ``"lora"`` by the files in ``folder``; :class:`ModelError` when it holds neither."""
    folder = Path(folder)
    if (folder / "mome_config.json").is_file():
        return "mome"
    if (folder / "adapter_config.json").is_file():
        return "lora"
    what = ("is not a folder" if not folder.is_dir()
            else "has neither adapter_config.json (LoRA) nor mome_config.json (MoME)")
    raise ModelError(f"No adapter at {folder}: it {what}.")


def attach(model: t.Any, folder: str | Path, *, schema: t.Any = None) -> t.Any:
    """Return ``model`` with the adapter in ``folder`` attached (LoRA through peft, or MoME)."""
    folder = Path(folder)
    kind = adapter_kind(folder)
    config = folder / ("mome_config.json" if kind == "mome" else "adapter_config.json")
    try:
        info = json.loads(config.read_text())
    except json.JSONDecodeError as e:
        raise ModelError(f"Adapter config {config} is not valid JSON: {e}") from None
    expected = info.get("sqltune_base_fingerprint") or _meta(folder).get("sqltune_base_fingerprint")
    actual = base_fingerprint(model)
    if expected and expected != actual:
        trained_on = info.get("base_model_name_or_path") or _meta(folder).get("base_model") or "unknown"
        raise ModelError(f"Adapter {folder} was trained on another base model ({trained_on}, {expected}); this "
                         f"model is {actual}. Load the model it was trained on, or re-tune.")
    if kind == "mome":
        from sqltune.tune.mome import TuneError, load_mome

        try:
            wrapped = load_mome(model, folder)
        except TuneError as e:
            raise ModelError(str(e)) from None
        wrapped.eval()
    else:
        from peft import PeftModel

        wrapped = PeftModel.from_pretrained(model, str(folder))
    check_drift(folder, schema)
    return wrapped


def check_drift(folder: str | Path, schema: t.Any = None) -> list[str]:
    """Warn when the adapter's schema changed: against ``schema``, else its project's current snapshot."""
    from sqltune.tune.artifact import check_schema

    if schema is None:
        project = _meta(folder).get("project")
        if not project:
            return []
        from sqltune import home
        from sqltune.schema import Schema

        snapshot = home.project_dir(project) / "snapshot.json"
        if not snapshot.is_file():
            return []
        schema = Schema.load(snapshot)
    return check_schema(folder, schema)


def base_fingerprint(model: t.Any) -> str:
    """Architecture, size and vocabulary of a base model: what an adapter must match."""
    cfg = model.config
    parts = [getattr(cfg, "model_type", "?"), getattr(cfg, "hidden_size", "?"), getattr(cfg, "num_hidden_layers", "?"),
             getattr(cfg, "vocab_size", "?")]
    return ":".join(map(str, parts))


def _meta(folder: Path | str) -> dict[str, t.Any]:
    path = Path(folder) / "sqltune_adapter.json"
    try:
        return dict(json.loads(path.read_text())) if path.is_file() else {}
    except (OSError, ValueError):
        return {}
