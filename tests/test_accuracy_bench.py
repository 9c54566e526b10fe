"""The accuracy benchmark (smoke size): both adapters in one run, every tuned row, and the forgetting check
on a sample that is evaluated but not tuned."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("accuracy_bench", ROOT / "benchmarks" / "accuracy_bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_adapters_compared_and_forgetting_on_a_sample_that_is_not_tuned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.tiny import tiny_llama

    shared = Path(os.environ["SQLTUNE_HOME"])
    monkeypatch.setenv("SQLTUNE_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    if (shared / "samples").is_dir():
        (tmp_path / "home" / "samples").symlink_to(shared / "samples", target_is_directory=True)
    model = tiny_llama(tmp_path / "tiny", max_positions=8192)
    out = tmp_path / "out"
    rc = _bench().main(["--samples", "cpg", "--adapters", "lora,mome", "--forgetting-on", "biotech", "--model",
                        str(model), "--smoke", "--no-suite", "--shots", "1", "--constrained", "--tuned-schema-prompt",
                        "--tune", '{"prompt_mode": "none"}', "--out", str(out)])  # adapters tuned without schema text
    assert rc == 0
    doc = json.loads((out / "accuracy.json").read_text())
    assert [(r["sample"], r["adapter"]) for r in doc["results"]] == [("cpg", "lora"), ("cpg", "mome")]
    assert not list((tmp_path / "home" / "projects" / "biotech").glob("adapters/*"))  # biotech is not tuned
    assert list((tmp_path / "home" / "projects" / "cpg").glob("adapters/*"))
    labels = [e["label"] for e in doc["results"][1]["main_job"]["evaluations"]]
    assert labels == ["base", "base, constrained", "base + 1-shot retrieval", "tuned (no schema text)",
                      "tuned, constrained", "tuned + schema text", "tuned + schema text, constrained"]
    assert all(e["cached"] for e in doc["results"][1]["main_job"]["evaluations"][:3])  # base rows computed once
    assert [(r["tuned_on"], r["adapter"], r["evaluated_on"]) for r in doc["forgetting"]] == [
        ("cpg", "lora", "biotech"), ("cpg", "mome", "biotech")]
    for row in doc["forgetting"]:
        assert set(row["base"]) == set(row["with_adapter"]) == {"easy", "medium", "hard", "overall"}
    md = (out / "accuracy.md").read_text()
    assert "### cpg lora adapter on biotech" in md and "### cpg mome adapter on biotech" in md


def test_an_unknown_forgetting_target_is_refused_before_any_work(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _bench().main(["--samples", "cpg", "--forgetting-on", "biotek"])
    assert "unknown sample 'biotek'" in capsys.readouterr().err
