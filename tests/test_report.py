"""Grading an evalset end to end (sqltune.grade.run) and its reports (results.json, report.md, report.html)."""

from __future__ import annotations

import json
import math
import typing as t
from pathlib import Path

import duckdb
import pytest

from sqltune.evalset import EvalCase, Evalset, load_evalset
from sqltune.grade import ComparisonPolicy, GoldError
from sqltune.grade import result_schema as rs
from sqltune.grade.report import ResultsError, load_results, render_markdown, to_results, write_reports
from sqltune.grade.report_html import render_html
from sqltune.grade.run import (
    METRICS,
    PredictionsError,
    evaluate_predictions,
    load_predictions,
    wilson,
)
from tests.test_suite_accuracy import cpg_schema, cpg_suite


# ------------------------------------------------------------------------------ the cpg run
@pytest.fixture(scope="module")
def cpg_run(cpg_db: Path, tmp_path_factory: pytest.TempPathFactory) -> t.Any:
    """Twelve predictions for cpg (right, lucky, wrong, failing, inventing), the rest missing."""
    es = load_evalset("cpg")
    cpg_suite(str(cpg_db))  # built once per session (shared with the other suite tests)
    gold = {c.id: c.gold_sql[0] for c in es.cases}
    preds = [
        {"id": "cpg-e001", "sql": gold["cpg-e001"], "model": "m1", "adapter": "a1", "timings": {"gen_s": 0.5}},
        {"id": "cpg-e002", "sql": gold["cpg-e002"], "candidates": ["SELECT 1", gold["cpg-e002"]]},
        {"id": "cpg-e009", "sql": "SELECT SKU_NBR FROM mdm.SKU WHERE DISC_DT > DATE '2024-01-01' AND "
                                  "DISC_DT < DATE '2024-12-31'"},  # lucky: EX right, TS wrong
        {"id": "cpg-e051", "sql": gold["cpg-e051"]},
        {"id": "cpg-e056", "sql": "SELECT STATUS, count(*) FROM sales.\"OrderHeader\" WHERE STATUS <> 'CANC' "
                                  "GROUP BY STATUS"},  # wrong result
        {"id": "cpg-e058", "sql": "SELECT STATUS, count(*) FROM mdm.SKU WHERE STATUS = 'ACTIVE' GROUP BY 1"},
        {"id": "cpg-e101", "sql": "SELECT region, sum(amount) FROM sales.revenue GROUP BY 1"},  # invented table
        {"id": "cpg-e102", "sql": "SELECT h.revenue_usd FROM sales.\"OrderHeader\" h"},  # invented column
        {"id": "cpg-e103", "sql": "SELECT <b>oops</b>"},  # syntax error, to be escaped in HTML
        {"id": "cpg-e110", "sql": None},  # no answer
        {"id": "cpg-e112", "sql": gold["cpg-e112"]},
        {"id": "cpg-e145", "sql": gold["cpg-e145"] + " -- same"},
    ]
    calls: list[tuple[int, int]] = []
    run = evaluate_predictions(es, preds, cpg_db, schema=cpg_schema(str(cpg_db)), suite=True, k=5, workers=2,
                               progress=lambda done, total: calls.append((done, total)))  # fmt: skip
    out = tmp_path_factory.mktemp("report")
    return run, write_reports(run, out), calls


def test_run_grades_every_case(cpg_run: t.Any) -> None:
    run, _, calls = cpg_run
    assert len(run.items) == 150 and len(run.missing) == 138 and "cpg-e110" not in run.missing
    assert sorted(calls) == [(i, 150) for i in range(1, 151)]
    by_id = {i.id: i for i in run.items}
    assert by_id["cpg-e001"].verdict.correct and by_id["cpg-e001"].ts.correct
    assert by_id["cpg-e009"].verdict.correct and not by_id["cpg-e009"].ts.correct  # TS-only failure
    assert by_id["cpg-e056"].verdict.label == "WRONG_RESULT"
    assert by_id["cpg-e101"].verdict.label == "EXEC_ERROR:UNKNOWN_TABLE" and by_id["cpg-e101"].invented.tables
    assert by_id["cpg-e102"].invented.columns == ("h.revenue_usd",)
    assert by_id["cpg-e058"].invented.literals == (("mdm.SKU.STATUS", "ACTIVE"),)
    assert by_id["cpg-e103"].verdict.label == "EXEC_ERROR:SYNTAX" and by_id["cpg-e103"].invented.unparseable
    assert by_id["cpg-e110"].verdict.label == "EMPTY" and not by_id["cpg-e110"].missing
    assert by_id["cpg-e120"].missing and by_id["cpg-e120"].verdict.label == "EMPTY"
    assert by_id["cpg-e001"].extra == {"model": "m1", "adapter": "a1", "timings": {"gen_s": 0.5}}
    assert by_id["cpg-e120"].measured_difficulty == "hard" and by_id["cpg-e120"].tier == "hard"


def test_aggregates_per_tier_with_intervals(cpg_run: t.Any) -> None:
    run, _, _ = cpg_run
    overall = run.aggregates["overall"]
    assert set(run.aggregates) == {"overall", "easy", "medium", "hard"}
    assert sum(run.aggregates[t].n for t in ("easy", "medium", "hard")) == overall.n == 150
    ex, ts = overall.metrics["ex_strict"], overall.metrics["ts"]
    assert (ex.k, ex.n) == (6, 150) and (ts.k, ts.n) == (5, 150) and overall.ts_only == 1
    assert run.headline is ex and ex.higher_is_better and not overall.metrics["invented_identifier_rate"].higher_is_better
    inv = overall.metrics["invented_identifier_rate"]  # predictions present and parseable: 12 - null - syntax
    assert (inv.k, inv.n) == (2, 10) and overall.metrics["invented_literal_rate"].k == 1
    lo, hi = ex.ci
    assert lo < ex.value < hi and (round(lo, 4), round(hi, 4)) == tuple(round(x, 4) for x in wilson(6, 150))
    assert overall.taxonomy["EMPTY"] == 139 and overall.taxonomy["EXEC_ERROR:UNKNOWN_TABLE"] == 1
    assert sum(overall.taxonomy.values()) == 150 - 6
    easy = run.aggregates["easy"]
    assert easy.metrics["ex_strict"].k == 3 and easy.ts_only == 1


def test_results_json_follows_the_documented_schema(cpg_run: t.Any) -> None:
    run, paths, _ = cpg_run
    results = load_results(paths["json"])
    assert rs.validate(results) == []
    assert results["schema_version"] == rs.SCHEMA_VERSION and results["kind"] == rs.KIND
    assert results["evalset"] == {"name": "cpg", "version": "1.0", "sample": "cpg", "project": None,
                                  "sample_version": 1, "path": results["evalset"]["path"], "cases": 150}
    assert results["database"]["schema_fingerprint"] == run.schema_fingerprint
    assert results["policy"]["version"] == "1.0" and results["policy"]["params"]["rel_tol"] == 1e-6
    assert results["config"] == {"suite": True, "k": 5, "seed": 0, "workers": 2, "timeout_s": 5.0, "row_cap": 10000}
    assert set(results["versions"]) == {"sqltune", "duckdb", "sqlglot", "python"}
    assert results["git_hash"] is None or len(results["git_hash"].split("-")[0]) == 40
    assert results["higher_is_better"] == METRICS and results["headline"]["metric"] == "ex_strict"
    assert results["suite"] is not None and len(results["suite"]["copies"]) == 5
    assert results["suite"]["empty_golds"][0] and all(x.startswith("cpg-") for x in results["suite"]["empty_golds"][0])
    item = next(i for i in results["items"] if i["id"] == "cpg-e009")
    assert item["strict"] and item["ts"]["correct"] is False and item["ts"]["failed_copy"] is not None
    assert next(i for i in results["items"] if i["id"] == "cpg-e002")["extra"]["candidates"][0] == "SELECT 1"
    documented = (rs.__doc__ or "")
    for typed in (rs.Results, rs.ItemResult, rs.Metric, rs.TierAggregate, rs.SuiteInfo, rs.EvalsetInfo):
        for key in typed.__annotations__:  # every field is documented in the module docstring
            assert f"``{key}``" in documented, f"{typed.__name__}.{key} is not documented"


def test_markdown_and_html_reports(cpg_run: t.Any) -> None:
    _, paths, _ = cpg_run
    md, page = paths["md"].read_text(encoding="utf-8"), paths["html"].read_text(encoding="utf-8")
    assert md.startswith("# sqltune grade: cpg v1.0") and "**EX strict (headline): 4.0% (" in md
    assert "| overall | 150 |" in md and "| easy | 50 |" in md and "| EXEC_ERROR:UNKNOWN_TABLE | 1 |" in md
    assert "### cpg-e009 (easy): TS_ONLY" in md and "- TS: copy " in md
    e056 = md[md.index("### cpg-e056"):]
    assert "WHERE STATUS <> 'CANC'" in e056.split("Gold:")[0] and "GROUP BY STATUS" in e056.split("Gold:")[1]
    assert "- invented: `mdm.SKU.STATUS = 'ACTIVE'`" in md
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "SELECT &lt;b&gt;oops&lt;/b&gt;" in page and "<b>oops</b>" not in page
    assert "<script" not in page and "http://" not in page and "https://" not in page and "<link" not in page
    assert 'id="cpg-e009"' in page and "TS_ONLY" in page
    assert not [p for p in paths["md"].parent.iterdir() if p.name.startswith(".")]  # atomic: no temp files left
    results = load_results(paths["json"])
    assert render_markdown(results) == md and render_html(results) == page  # reports rebuild from the JSON


def test_load_results_names_every_misfit(cpg_run: t.Any, tmp_path: Path) -> None:
    _, paths, _ = cpg_run
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    data["items"][0]["strict"] = "yes"
    del data["aggregates"]["easy"]["ts_only"]
    data["surprise"] = 1
    bad = tmp_path / "results.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ResultsError) as err:
        load_results(tmp_path)
    assert set(err.value.problems) == {"$.items[0].strict: expected bool, got str ('yes')",
                                       "$.aggregates.easy: missing key 'ts_only'", "$: unknown key 'surprise'"}
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    bad.write_text(json.dumps({**data, "schema_version": "0"}), encoding="utf-8")
    with pytest.raises(ResultsError, match="schema version '0'"):
        load_results(bad)
    bad.write_text("{", encoding="utf-8")
    with pytest.raises(ResultsError, match="not valid JSON"):
        load_results(bad)
    with pytest.raises(ResultsError, match="not found"):
        load_results(tmp_path / "none.json")


# --------------------------------------------------------------------------- small, exact tests
@pytest.fixture()
def tiny(tmp_path: Path) -> tuple[Evalset, Path]:
    db = tmp_path / "t.duckdb"
    duckdb.connect(str(db)).execute(
        "CREATE TABLE t AS SELECT range AS id, ['a', 'b', 'c'][1 + range % 3] AS k, range * 1.5 AS v FROM range(60)"
    ).close()  # fmt: skip
    cases = tuple(EvalCase(f"q{i}", f"question {i}?", (sql,), tier) for i, (sql, tier) in enumerate([
        ("SELECT count(*) FROM t", "easy"), ("SELECT k, sum(v) FROM t GROUP BY k", "medium"),
        ("SELECT k FROM t WHERE id < 5 ORDER BY id", "easy"),
        ("WITH x AS (SELECT k, count(*) AS n FROM t GROUP BY k) SELECT max(n) FROM x", None),
    ]))  # fmt: skip
    return Evalset("tiny", "2", cases, ComparisonPolicy(), sample="tiny"), db


def test_predictions_file_problems_are_listed_with_lines(tiny: tuple[Evalset, Path], tmp_path: Path) -> None:
    path = tmp_path / "preds.jsonl"
    path.write_text("\n".join([
        '{"id": "q0", "sql": "SELECT 60"}', "", "{not json", '["q1"]', '{"id": "q1"}', '{"id": "q2", "sql": 3}',
        '{"id": "q0", "sql": "SELECT 1"}', '{"id": "", "sql": "SELECT 1"}', '{"id": "q3", "sql": null, "x": 1}',
    ]), encoding="utf-8")  # fmt: skip
    with pytest.raises(PredictionsError) as err:
        load_predictions(path)
    assert err.value.problems == (
        "preds.jsonl:3: invalid JSON: Expecting property name enclosed in double quotes (column 2)",
        "preds.jsonl:4: expected a JSON object, got list", "preds.jsonl:5: missing 'sql'",
        "preds.jsonl:6: 'sql' must be a string or null, got int", "preds.jsonl:8: 'id' must be a non-empty string, got ''",
        "preds.jsonl:7: duplicate id 'q0' (first on line 1)",
    )  # fmt: skip
    preds, problems = load_predictions(path, strict=False)
    assert [p.id for p in preds] == ["q0", "q3"] and preds[1].sql is None and preds[1].extra == {"x": 1}
    assert len(problems) == 6
    es, db = tiny
    path.write_text('{"id": "q0", "sql": "SELECT 60"}\n{"id": "q9", "sql": "SELECT 1"}\n{"id": "Q1", "sql": "x"}\n')
    with pytest.raises(PredictionsError, match="unknown case id 'q9'") as err:
        evaluate_predictions(es, path, db, suite=False)
    assert "unknown case id 'Q1'. Did you mean 'q1'?" in str(err.value)


def test_tiny_run_exact_numbers(tiny: tuple[Evalset, Path], tmp_path: Path) -> None:
    es, db = tiny
    preds = [{"id": "q0", "sql": "SELECT 60"}, {"id": "q1", "sql": "SELECT k, sum(v), 1 FROM t GROUP BY k"},
             {"id": "q2", "sql": "SELECT k FROM t WHERE id < 5 ORDER BY id DESC"}]  # fmt: skip
    one = evaluate_predictions(es, preds, db, workers=1, suite=True, k=2)
    four = evaluate_predictions(es, preds, db, workers=4, suite=True, k=2)
    ex, lenient = one.aggregates["overall"].metrics["ex_strict"], one.aggregates["overall"].metrics["ex_lenient"]
    assert (ex.k, ex.n, lenient.k) == (1, 4, 2) and one.missing == ("q3",)
    assert one.aggregates["overall"].metrics["ts"].k == 0 and one.aggregates["easy"].ts_only == 1  # SELECT 60 is lucky
    assert one.items[3].tier == "hard" and one.items[3].case.difficulty is None  # measured tier when undeclared
    assert [i.verdict.label for i in one.items] == [i.verdict.label for i in four.items]
    assert [(i.ts.correct if i.ts else None) for i in one.items] == [(i.ts.correct if i.ts else None) for i in four.items]
    assert dict(one.aggregates["overall"].taxonomy) == {"EMPTY": 1, "WRONG_RESULT": 2}
    results = to_results(one)
    assert rs.validate(results) == [] and results["timing"]["items_per_s"] > 0
    assert math.isclose(results["aggregates"]["overall"]["metrics"]["ex_strict"]["value"], 0.25)
    no_suite = evaluate_predictions(es, preds, db, suite=False)
    assert "ts" not in no_suite.aggregates["overall"].metrics and to_results(no_suite)["suite"] is None
    paths = write_reports(no_suite, tmp_path / "r")
    assert load_results(paths["json"])["config"]["suite"] is False and "| TS |" not in paths["md"].read_text()


def test_broken_golds_are_all_named(tiny: tuple[Evalset, Path]) -> None:
    es, db = tiny
    broken = Evalset("b", "1", (EvalCase("x1", "?", ("SELECT nope FROM t",)), EvalCase("x2", "?", ("SELECT 1",)),
                                EvalCase("x3", "?", ("SELECT * FROM missing",))), ComparisonPolicy(), sample="b")  # fmt: skip
    with pytest.raises(GoldError) as err:
        evaluate_predictions(broken, [], db, suite=False)
    assert "'x1'" in str(err.value) and "'x3'" in str(err.value) and "'x2'" not in str(err.value)


def test_wilson_interval() -> None:
    assert [round(x, 4) for x in wilson(0, 10)] == [0.0, 0.2775]
    assert [round(x, 4) for x in wilson(10, 10)] == [0.7225, 1.0]
    assert [round(x, 3) for x in wilson(75, 150)] == [0.421, 0.579]
    with pytest.raises(ValueError):
        wilson(0, 0)
