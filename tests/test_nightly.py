"""The nightly regression job on the cpg sample with injected predictions (no model is ever loaded):
baseline, pass, fail with flips and McNemar, --accept, invented identifiers, schema drift, reports, bad configs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
import typing as t
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from sqltune import home
from sqltune.cli import cli
from sqltune.errors import ConfigError
from sqltune.evalset import Evalset
from sqltune.nightly import History, NightlyConfig, load_config, mcnemar, run_nightly
from sqltune.nightly.config import Combination

SUBSET = 3  # cases per tier: 9 cases, easy cpg-e001..e003, medium cpg-e051..e053, hard cpg-e101..e103
EASY = ("cpg-e001", "cpg-e002", "cpg-e003")


@pytest.fixture(scope="module")
def project(cpg_db: Path) -> str:
    """Project ``night``: the cpg sample introspected (executed in place)."""
    from sqltune import project as projects
    from sqltune.introspect import introspect

    schema = introspect("sample:cpg", name="night")
    projects.save_snapshot(schema, "night")
    return "night"


def _config(tmp_path: Path, project: str = "night", **over: t.Any) -> NightlyConfig:
    data: dict[str, t.Any] = {"projects": [{"name": project, "evalsets": ["cpg"]}], "models": ["fake-model"],
                              "history": str(tmp_path / "h.duckdb"), "options": {"subset": SUBSET, "k": 2},
                              "thresholds": {"max_drop": 5}}
    data.update(over)
    return NightlyConfig.from_dict(data)


Predict = t.Callable[..., list[dict[str, t.Any]]]


def _predictor(wrong: t.Collection[str] = (), invent: t.Collection[str] = ()) -> Predict:
    """Gold SQL for every case but ``wrong`` (a wrong answer) and ``invent`` (a column the schema lacks)."""
    calls: list[str] = []

    def predict(combo: Combination, ev: Evalset) -> list[dict[str, t.Any]]:
        calls.append(combo.label)
        out = []
        for c in ev.cases:
            sql = c.gold_sql[0]
            if c.id in wrong:
                sql = "SELECT 42 AS answer"
            elif c.id in invent:
                sql = "SELECT NO_SUCH_COLUMN FROM mdm.BRAND"
            out.append({"id": c.id, "sql": sql})
        return out

    predict.calls = calls  # type: ignore[attr-defined]
    return predict


def _day(n: int) -> dt.datetime:
    return dt.datetime(2025, 3, n, 2, 0, tzinfo=dt.timezone.utc)


def _junit(path: Path) -> ET.Element:
    return ET.parse(path).getroot()


def test_mcnemar_exact_values() -> None:
    assert mcnemar(0, 0) == 1.0 and mcnemar(4, 4) == 1.0
    assert mcnemar(0, 6) == pytest.approx(2 / 64) and mcnemar(6, 0) == mcnemar(0, 6)
    assert mcnemar(1, 9) == pytest.approx(2 * (1 + 10) / 1024)
    assert 0 < mcnemar(400, 600) < 1e-9  # big counts: exact integers, no underflow to a wrong answer
    with pytest.raises(ValueError):
        mcnemar(-1, 2)


def test_first_run_is_baseline_then_a_pass(project: str, tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    pred = _predictor(wrong={"cpg-e051"})
    first = run_nightly(cfg, predictor=pred, out=tmp_path / "r1", now=_day(1))
    assert first.exit_code == 0 and pred.calls == ["night-cpg-fake-model-base"]  # type: ignore[attr-defined]
    (o,) = first.outcomes
    assert o.status == "baseline" and o.accepted and o.comparison is None
    assert o.metrics["overall"]["n"] == 9 and o.metrics["overall"]["ex_strict"] == pytest.approx(8 / 9)
    assert o.metrics["overall"]["ts"] == pytest.approx(8 / 9)  # graded with the test suite too
    with History(tmp_path / "h.duckdb") as h:
        runs = h.runs()
        assert [r.run_id for r in runs] == [first.run_id] and runs[0].status == "baseline"
        assert runs[0].git_hash == first.git_hash and runs[0].config_hash == cfg.digest()
        assert runs[0].model == "fake-model" and runs[0].adapter is None and runs[0].evalset == "cpg"
        items = h.items(first.run_id, o.combo.key)
        assert len(items) == 9 and not items["cpg-e051"].correct_ex and items["cpg-e001"].correct_ts
        assert items["cpg-e051"].tier == "medium" and items["cpg-e001"].invented is False
        assert h.baseline(o.combo.key).run_id == first.run_id  # type: ignore[union-attr]
    junit = _junit(first.paths["junit"])
    assert junit.get("tests") == "4" and junit.get("failures") == "0" and junit.get("errors") == "0"

    second = run_nightly(cfg, predictor=_predictor(wrong={"cpg-e051"}), out=tmp_path / "r2", now=_day(2))
    (o2,) = second.outcomes
    assert second.exit_code == 0 and o2.status == "pass" and not o2.accepted and o2.baseline_run == first.run_id
    assert o2.comparison is not None and o2.comparison.flips == () and not o2.comparison.failed
    assert o2.comparison.delta("overall", "ex_strict").points == 0
    assert [p.run_id for p in o2.trend if p.scope == "overall"] == [first.run_id, second.run_id]
    md = second.paths["md"].read_text()
    assert "PASS" in md and f"Compared with baseline `{first.run_id}`" in md
    assert (second.out / "trend-night-cpg-fake-model-base-overall.svg").read_text().startswith("<svg")
    assert "<svg" in second.paths["html"].read_text() and json.loads(second.paths["json"].read_text())["exit_code"] == 0

    # Resuming the second run rewrites its rows instead of adding a third run, without predicting again.
    again = _predictor(wrong={"cpg-e001"})
    resumed = run_nightly(cfg, predictor=again, out=tmp_path / "r2", resume=second.run_id)
    assert resumed.run_id == second.run_id and resumed.outcomes[0].status == "pass"
    assert again.calls == []  # type: ignore[attr-defined]
    with History(tmp_path / "h.duckdb") as h:
        assert len(h.runs()) == 2


def test_accuracy_drop_fails_with_flips_mcnemar_and_junit(project: str, tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    base = run_nightly(cfg, predictor=_predictor(), out=tmp_path / "r1", now=_day(1))
    assert base.exit_code == 0
    bad = run_nightly(cfg, predictor=_predictor(wrong=EASY), out=tmp_path / "r2", now=_day(2))
    assert bad.exit_code == 2
    (o,) = bad.outcomes
    assert o.status == "fail" and o.comparison is not None
    d = o.comparison.delta("easy", "ex_strict")
    assert (d.base, d.current, d.points, d.regressed, d.fixed) == (1.0, 0.0, -100.0, 3, 0)
    assert d.p == pytest.approx(0.25) and d.failed
    overall = o.comparison.delta("overall", "ex_strict")
    assert overall.points == pytest.approx(-100 / 3, abs=1e-4) and overall.failed
    assert not o.comparison.delta("medium", "ex_strict").failed
    assert o.comparison.flipped() == (EASY, ())
    assert {f.metric for f in o.comparison.flips} == {"ex_strict", "ts"}
    junit = _junit(bad.paths["junit"])
    assert junit.get("failures") == "2"  # overall and easy
    failed = {c.get("name"): c.find("failure") for c in junit.iter("testcase")}
    assert failed["medium"] is None and failed["hard"] is None
    msg = failed["easy"].get("message")  # type: ignore[union-attr]
    assert "ex_strict easy: 100.0% -> 0.0% (-100.0 points, limit 5.0; 3 regressed, 0 fixed; McNemar p=0.250)" in msg
    assert "cpg-e002" in (failed["easy"].text or "")  # type: ignore[union-attr]
    md = bad.paths["md"].read_text()
    assert "FAIL" in md and "`cpg-e003` (easy) ex_strict: correct → wrong" in md
    with History(tmp_path / "h.duckdb") as h:  # a failing run does not move the baseline
        assert h.baseline(o.combo.key).run_id == base.run_id  # type: ignore[union-attr]
        assert [r.status for r in h.runs()] == ["baseline", "fail"]

    # With alpha, the same drop passes: 3 discordant pairs cannot reach p < 0.05.
    gated = dataclasses.replace(cfg, thresholds=dataclasses.replace(cfg.thresholds, alpha=0.05))
    lenient = run_nightly(gated, predictor=_predictor(wrong=EASY), out=tmp_path / "r3", now=_day(3))
    assert lenient.exit_code == 0 and lenient.outcomes[0].status == "pass"
    assert lenient.outcomes[0].comparison.flipped() == (EASY, ())  # type: ignore[union-attr]


def test_accept_makes_the_run_the_baseline(project: str, tmp_path: Path) -> None:
    cfg = _config(tmp_path, options={"subset": SUBSET, "suite": False})
    run_nightly(cfg, predictor=_predictor(), out=tmp_path / "r1", now=_day(1))
    accepted = run_nightly(cfg, predictor=_predictor(wrong=EASY), accept=True, out=tmp_path / "r2", now=_day(2))
    (o,) = accepted.outcomes
    assert o.status == "fail" and o.accepted and accepted.exit_code == 0
    assert "accepted" in accepted.paths["md"].read_text()
    with History(tmp_path / "h.duckdb") as h:
        assert h.baseline(o.combo.key).run_id == accepted.run_id  # type: ignore[union-attr]
    after = run_nightly(cfg, predictor=_predictor(wrong=EASY), out=tmp_path / "r3", now=_day(3))
    assert after.exit_code == 0 and after.outcomes[0].status == "pass"
    assert after.outcomes[0].baseline_run == accepted.run_id
    # Back to all-correct against the accepted (worse) baseline: fixes, not failures.
    better = run_nightly(cfg, predictor=_predictor(), out=tmp_path / "r4", now=_day(4))
    assert better.exit_code == 0 and better.outcomes[0].comparison.flipped() == ((), EASY)  # type: ignore[union-attr]


def test_invented_identifier_rise_fails(project: str, tmp_path: Path) -> None:
    cfg = _config(tmp_path, options={"subset": SUBSET, "suite": False},
                  thresholds={"max_drop": 100, "max_invented_rise": {"overall": 2}})
    run_nightly(cfg, predictor=_predictor(), out=tmp_path / "r1", now=_day(1))
    res = run_nightly(cfg, predictor=_predictor(invent={"cpg-e101"}), out=tmp_path / "r2", now=_day(2))
    (o,) = res.outcomes
    assert res.exit_code == 2 and o.status == "fail" and o.comparison is not None
    (failure,) = o.comparison.failures
    assert failure.metric == "invented_identifier_rate" and failure.scope == "overall"
    assert failure.points == pytest.approx(100 / 9, abs=1e-4) and failure.regressed == 1
    assert not o.comparison.delta("overall", "ex_strict").failed  # the accuracy drop itself is allowed here
    junit = _junit(res.paths["junit"])
    msgs = [f.get("message") for f in junit.iter("failure")]
    assert len(msgs) == 1 and "invented_identifier_rate overall: 0.0% -> 11.1%" in msgs[0]  # type: ignore[operator]


def test_schema_drift_is_reported(project: str, tmp_path: Path) -> None:
    from sqltune import project as projects
    from sqltune.schema import Schema

    shutil.rmtree(home.project_dir("nightdrift"), ignore_errors=True)
    shutil.copytree(home.project_dir(project), home.project_dir("nightdrift"))
    cfg = _config(tmp_path, project="nightdrift", options={"subset": SUBSET, "suite": False})
    first = run_nightly(cfg, predictor=_predictor(), out=tmp_path / "r1", now=_day(1))
    assert first.outcomes[0].status == "baseline"
    # The database moves on: BRAND loses LAUNCH_YR and a column is retyped; the snapshot is re-taken.
    schema = projects.load_snapshot("nightdrift")
    tables = []
    for tb in schema.tables:
        if tb.name == "BRAND":
            tb = dataclasses.replace(tb, columns=tuple(c for c in tb.columns if c.name != "LAUNCH_YR"))
        if tb.name == "SKU":
            tb = dataclasses.replace(tb, columns=tuple(dataclasses.replace(c, raw_type="BIGINT")
                                                       if c.name == "SKU_NBR" else c for c in tb.columns))
        tables.append(tb)
    Schema.save(dataclasses.replace(schema, tables=tuple(tables)), home.project_dir("nightdrift") / "snapshot.json")
    res = run_nightly(cfg, predictor=_predictor(wrong={"cpg-e001"}), out=tmp_path / "r2", now=_day(2))
    (o,) = res.outcomes
    assert o.comparison is not None and o.comparison.drift is not None
    assert o.comparison.drift.removed_columns == ("mdm.BRAND.LAUNCH_YR",)
    assert o.comparison.drift.retyped_columns[0][0] == "mdm.SKU.SKU_NBR"
    (flip,) = [f for f in o.comparison.flips if f.metric == "ex_strict"]
    assert flip.item_id == "cpg-e001" and flip.drifted_tables == ("mdm.BRAND",)  # its gold reads mdm.BRAND
    md = res.paths["md"].read_text()
    assert "Schema drift since the baseline" in md and "- column mdm.BRAND.LAUNCH_YR" in md
    assert "(drifted: mdm.BRAND)" in md
    assert any("schema drift" in line for line in res.summary())


def test_bad_config_is_one_line_with_did_you_mean(tmp_path: Path) -> None:
    runner = CliRunner()
    cases = {
        "projects: [cpg\nmodels: x\n": "not valid YAML (line",
        "projects: [cpg]\nmodles: [a]\n": "unknown key 'modles'. Did you mean 'models'?",
        "projects: [cpg]\noptions: {subsett: 3}\n": "Did you mean 'subset'?",
        "projects: [cpg]\nthresholds: {metrics: [ex_strct]}\n": "unknown metric 'ex_strct'. Did you mean 'ex_strict'?",
        "projects: [cpg]\nthresholds: {max_drop: {hardd: 3}}\n": "unknown tier 'hardd'. Did you mean 'hard'?",
        "projects: [cpg]\noptions: {suite: false}\nthresholds: {metrics: [ts]}\n": "'ts' needs the test suite",
        "projects: [cpg]\npredictions: 'p/{projet}.jsonl'\n": "unknown field {projet}. Did you mean 'project'?",
        "models: [a]\n": "'projects' is required",
        "": "empty",
    }
    for i, (text, message) in enumerate(cases.items()):
        path = tmp_path / f"c{i}.yaml"
        path.write_text(text)
        res = runner.invoke(cli, ["nightly", str(path)])
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        assert res.exit_code == 1 and len(lines) == 1 and lines[0].startswith("error: "), (text, res.output)
        assert message in lines[0], (text, lines[0])
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_cli_with_predictions_files_and_an_unknown_project(project: str, tmp_path: Path) -> None:
    """The CLI end to end, predictions read from files (the config's template); an error is exit 1."""
    from sqltune.evalset import load_evalset, stratified_subset

    ev = stratified_subset(load_evalset("cpg", project_dir=home.project_dir(project)), SUBSET)
    preds = tmp_path / "preds"
    preds.mkdir()

    def write(wrong: t.Collection[str]) -> None:
        rows = [{"id": c.id, "sql": "SELECT 42" if c.id in wrong else c.gold_sql[0]} for c in ev.cases]
        (preds / "night-cpg-fake-model-base.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    config = tmp_path / "nightly.yaml"
    config.write_text(f"projects: [{{name: {project}, evalsets: [cpg]}}]\nmodels: [fake-model]\nhistory: h.duckdb\n"
                      "options: {subset: 3, suite: false}\nthresholds: {max_drop: 5}\n"
                      "predictions: 'preds/{project}-{evalset}-{model}-{adapter}.jsonl'\n")
    runner = CliRunner()
    write(())
    res = runner.invoke(cli, ["nightly", str(config), "--out", str(tmp_path / "o1")])
    assert res.exit_code == 0, res.output
    assert "BASELINE" in res.output and (tmp_path / "h.duckdb").is_file()
    write({"cpg-e101", "cpg-e102"})
    res = runner.invoke(cli, ["nightly", str(config), "--out", str(tmp_path / "o2")])
    assert res.exit_code == 2, res.output
    assert "regression night-cpg-fake-model-base: ex_strict hard" in res.output
    assert _junit(tmp_path / "o2" / "junit.xml").get("failures") == "2"
    # A fixed --out reused the next night: the old predictions are not taken for the new run.
    write(())
    res = runner.invoke(cli, ["nightly", str(config), "--out", str(tmp_path / "o2")])
    assert res.exit_code == 0 and "PASS" in res.output, res.output

    config.write_text(config.read_text().replace(f"name: {project},", "name: nigth,"))
    res = runner.invoke(cli, ["nightly", str(config), "--out", str(tmp_path / "o3")])
    assert res.exit_code == 1 and "ERROR" in res.output and "Did you mean 'night'?" in res.output
    errors = list(_junit(tmp_path / "o3" / "junit.xml").iter("error"))
    assert errors and "Did you mean 'night'?" in (errors[0].get("message") or "")


def test_example_config_is_valid() -> None:
    cfg = load_config(Path(__file__).resolve().parents[1] / "examples" / "nightly.yaml")
    assert [c.label for c in cfg.combinations()] == ["cpg-cpg-qwen2.5-coder-0.5b-base",
                                                     "biotech-biotech-qwen2.5-coder-0.5b-base"]
    assert cfg.thresholds.alpha == 0.05 and cfg.options.subset == 10 and cfg.thresholds.metrics == ("ex_strict", "ts")


def test_a_crashing_combination_does_not_cost_the_others(project: str, tmp_path: Path) -> None:
    cfg = _config(tmp_path, adapters=[None, "adapters/broken"], options={"subset": SUBSET, "suite": False})
    good = _predictor()

    def predict(combo: Combination, ev: Evalset) -> list[dict[str, t.Any]]:
        if combo.adapter:
            raise RuntimeError("CUDA out of memory")
        return good(combo, ev)

    res = run_nightly(cfg, predictor=predict, out=tmp_path / "r1", now=_day(1))
    assert [o.status for o in res.outcomes] == ["baseline", "error"] and res.exit_code == 1
    err = res.outcomes[1].error or ""
    assert err.startswith("internal error RuntimeError: CUDA out of memory")
    assert "Traceback" in (tmp_path / "r1" / "night-cpg-fake-model-broken" / "error.txt").read_text()
    junit = _junit(res.paths["junit"])
    assert junit.get("errors") == "1" and junit.get("failures") == "0"
    assert "ERROR" in res.paths["md"].read_text()


def test_without_a_predictor_the_model_predicts(project: str, tmp_path: Path) -> None:
    """The real predict step (sqltune.evaluate), with a tiny random model folder: it answers nothing useful,
    deterministically, so the second night passes with no flips."""
    from tests.tiny import tiny_llama

    model = tiny_llama(tmp_path / "tiny-model")
    cfg = _config(tmp_path, models=[str(model)], options={"subset": 1, "suite": False, "max_new_tokens": 8,
                                                          "schema_in_prompt": False})
    first = run_nightly(cfg, out=tmp_path / "r1", now=_day(1))
    (o,) = first.outcomes
    assert o.status == "baseline" and o.metrics["overall"]["n"] == 3, o.error
    lines = (tmp_path / "r1" / o.combo.label / "predictions.jsonl").read_text().splitlines()
    assert [json.loads(x)["model"] for x in lines] == [str(model)] * 3  # written by the inference code
    second = run_nightly(cfg, out=tmp_path / "r2", now=_day(2))
    assert second.exit_code == 0 and second.outcomes[0].status == "pass"
    assert second.outcomes[0].comparison.flips == ()  # type: ignore[union-attr]
