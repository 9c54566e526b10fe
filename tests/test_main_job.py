"""The main job (`sqltune pipeline --smoke`): the whole chain runs, resumes, and reports a before/after table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner


def _tiny_model(folder: Path) -> Path:
    from tests.tiny import tiny_llama

    return tiny_llama(folder, max_positions=8192)


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import os

    shared = Path(os.environ["SQLTUNE_HOME"])  # the session home: samples are built once
    monkeypatch.setenv("SQLTUNE_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    if (shared / "samples").is_dir():
        (tmp_path / "home" / "samples").symlink_to(shared / "samples", target_is_directory=True)
    return tmp_path / "home"


def test_smoke_main_job_runs_end_to_end_and_resumes(home: Path, tmp_path: Path) -> None:
    from sqltune.cli import cli

    model = _tiny_model(tmp_path / "tiny")
    out = tmp_path / "main.json"
    args = ["pipeline", "cpg", "--model", str(model), "--smoke", "--out", str(out)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert "Before/after on the cpg evalset" in res.output and "| base |" in res.output
    assert "| tuned + schema text |" in res.output  # the cpu preset tunes pairs with the schema text
    summary = json.loads(out.read_text())
    assert summary["kind"] == "sqltune.main_job" and [e["label"] for e in summary["evaluations"]] == [
        "base", "tuned + schema text"]
    for ev in summary["evaluations"]:
        assert ev["tiers"]["overall"]["ex_strict"]["n"] == 3  # one case per tier
    assert summary["tune"]["steps"] >= 1 and Path(summary["tune"]["adapter_dir"]).is_dir()
    assert summary["command"]
    assert summary["sqltune_commit"] is None or len(summary["sqltune_commit"].removesuffix("-dirty")) == 40
    assert (home / "projects" / "cpg" / "snapshot.json").is_file()

    again = CliRunner().invoke(cli, args)  # everything is reused: no retraining, cached predictions
    assert again.exit_code == 0, again.output
    second = json.loads(out.read_text())
    assert second["tune"]["reused"] and all(e["cached"] for e in second["evaluations"])
    assert "generated: " in again.output and "none" in again.output


def test_unknown_sample_is_one_line(home: Path) -> None:
    from sqltune.cli import cli

    res = CliRunner().invoke(cli, ["pipeline", "cpq", "--smoke"])
    assert res.exit_code == 1 and "Did you mean 'cpg'" in res.output and "Traceback" not in res.output


def test_pipeline_config_sets_tuning_options_and_rejects_a_bad_one_before_any_work(home: Path, tmp_path: Path) -> None:
    from sqltune.cli import cli

    model = _tiny_model(tmp_path / "tiny")
    out = tmp_path / "main.json"
    args = ["pipeline", "cpg", "--model", str(model), "--smoke", "--out", str(out)]
    bad = CliRunner().invoke(cli, [*args, "--config", '{"fact_fnal": 0.1}'])
    assert bad.exit_code == 1 and "Did you mean 'fact_final'" in bad.output and "Traceback" not in bad.output
    assert not (home / "projects").exists()  # nothing was onboarded
    res = CliRunner().invoke(cli, [*args, "--config", '{"lora_r": 4, "max_steps": 3}'])
    assert res.exit_code == 0, res.output
    tune = json.loads(out.read_text())["tune"]
    assert tune["config"]["lora_r"] == 4 and tune["config"]["max_steps"] == 3, tune
