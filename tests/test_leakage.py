"""Evalset leakage: planted SQL duplicates are found through cosmetic differences, paraphrases score high,
unrelated questions low, and the CLI reports (and gates) on a tiny project."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sqltune.cli import cli
from sqltune.evalset import EvalCase, Evalset
from sqltune.generate.records import Pair
from sqltune.leakage import leakage, leakage_line, question_similarity, sql_keys
from sqltune.schema import Column, Schema, Table

GOLD_JOIN = ("SELECT b.NAME, count(*) AS skus FROM mdm.BRAND AS b JOIN mdm.SKU AS s ON s.BRAND_ID = b.BRAND_ID "
             "WHERE s.STATUS = 'ACT' GROUP BY b.NAME")
# The same query: other whitespace, quoting, keyword and alias-reference casing, alias names, main. prefix.
PLANTED = ('select  B."NAME",\n   COUNT(*) as n\nfrom mdm."BRAND" as B\n'
           '  join mdm."SKU" as x on X."BRAND_ID" = b."BRAND_ID"'
           '\nwhere x."STATUS" = \'ACT\'\ngroup by B."NAME"')
# The same template with another constant: a near duplicate.
TEMPLATE = PLANTED.replace("'ACT'", "'DISC'")
OTHER = "SELECT NAME FROM mdm.BRAND WHERE TIER = 'PREMIUM' ORDER BY NAME"


def _pair(i: int, question: str, sql: str, split: str = "train") -> Pair:
    return Pair(id=f"p{i}", question=question, sql=sql, style="direct", tier="easy", score=1.0, tables=(),
                columns=(), values=(), joins=(), result_fingerprint="x", row_count=1, split=split)


def _evalset(cases: list[EvalCase]) -> Evalset:
    return Evalset("tiny", "1", tuple(cases), policy=None, project="tiny")  # type: ignore[arg-type]


TRAIN = [
    _pair(0, "What is the number of SKUs with a discontinuation date and with no GTIN?",
          'SELECT COUNT(*) FROM mdm."SKU" WHERE "GTIN" IS NULL AND NOT "DISC_DT" IS NULL'),
    _pair(1, "Give the number of active SKUs for every brand name.", PLANTED),
    _pair(2, "How many discontinued SKUs does each brand have?", TEMPLATE, split="val_skeleton"),
    _pair(3, "Which plants are located in Ohio?", "SELECT NAME FROM mdm.plant WHERE STATE = 'OH'"),
    _pair(4, "Show the launch year of brands in the value tier.",
          "SELECT LAUNCH_YR FROM mdm.BRAND WHERE TIER = 'VALUE'"),
]
CASES = [
    EvalCase("e1", "For each brand, how many of its SKUs are active?", (GOLD_JOIN,), "medium"),
    EvalCase("e2", "how many skus have no gtin and a discontinuation date", ("SELECT 1",), "easy"),
    EvalCase("e3", "Tell me tomorrow's weather forecast in Paris.", (OTHER,), "easy"),
    EvalCase("e4", "Brands with discontinued items?", ("SELECT NOT VALID SQL (((",), "hard"),
]


def test_planted_duplicate_is_found_through_cosmetic_differences() -> None:
    assert sql_keys(GOLD_JOIN)[0] == sql_keys(PLANTED)[0]  # type: ignore[index]
    assert sql_keys(GOLD_JOIN)[0] != sql_keys(TEMPLATE)[0]  # type: ignore[index]
    assert sql_keys(GOLD_JOIN)[1] == sql_keys(TEMPLATE)[1]  # type: ignore[index]
    # Identifiers stay case-exact: another column spelling is another query.
    assert sql_keys(GOLD_JOIN.replace("b.NAME", "b.Name"))[0] != sql_keys(GOLD_JOIN)[0]  # type: ignore[index]
    report = leakage(TRAIN, _evalset(CASES))
    by_id = {c.id: c for c in report.cases}
    assert by_id["e1"].sql_match == "exact" and by_id["e1"].exact_ids == ("p1",)
    assert by_id["e1"].near_ids == ("p2",)  # the other-constant template, from any split by default
    assert by_id["e3"].sql_match is None
    assert report.unparsed_golds == ("e4",) and by_id["e4"].sql_match is None
    assert report.to_dict()["exact_sql"] == ["e1"]
    assert report.tiers["medium"].exact == 1 and report.tiers["easy"].exact == 0
    # Restricted to the train split the near duplicate (val_skeleton) is gone.
    only_train = leakage(TRAIN, _evalset(CASES), splits={"train"})
    assert only_train.pairs == 4 and {c.id: c for c in only_train.cases}["e1"].near_ids == ()


def test_paraphrase_scores_high_and_unrelated_low() -> None:
    report = leakage(TRAIN, _evalset(CASES))
    by_id = {c.id: c for c in report.cases}
    # Five training questions make a poor IDF; against 2,000 generated pairs the same paraphrase scores ~0.7.
    assert by_id["e2"].nearest_id == "p0" and by_id["e2"].score >= 0.5
    assert by_id["e3"].score < 0.1
    assert by_id["e2"].score > by_id["e1"].score > by_id["e3"].score
    # e1 overlaps by SQL, e2 by question once the threshold is below its score.
    assert {c.id for c in report.overlapping} == {"e1"}
    overlapping = {c.id for c in leakage(TRAIN, _evalset(CASES), threshold=0.5).overlapping}
    assert overlapping == {"e1", "e2"}
    assert report.overlap_share == len(report.overlapping) / 4
    assert sum(n for _, _, n in report.histogram) == 4
    line = leakage_line(report)
    assert line.startswith("leakage vs 5 training pairs: exact SQL 25.0% (1/4)")


def test_similarity_is_deterministic_bounded_and_exact_on_copies() -> None:
    train = [p.question for p in TRAIN]
    first = question_similarity(["Which plants are located in Ohio?", "plants in ohio"], train)
    assert first == question_similarity(["Which plants are located in Ohio?", "plants in ohio"], train)
    assert first[0] == (3, pytest.approx(1.0))
    assert first[1][0] == 3 and 0.3 < first[1][1] < 1.0
    assert question_similarity(["anything"], []) == [(None, 0.0)]


def _tiny_project(home: Path) -> Path:
    folder = home / "projects" / "tiny"
    (folder / "evalsets").mkdir(parents=True)
    Schema("tiny", "duckdb", (Table("mdm", "BRAND", (Column("NAME", "VARCHAR", "text"),)),)).save(
        folder / "snapshot.json")
    (folder / "pairs").mkdir()
    rows = [{"kind": "header", "format": 1}] + [p.to_dict() for p in TRAIN]
    (folder / "pairs" / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "evalsets" / "tiny.yaml").write_text("name: tiny\nproject: tiny\nversion: 1\n")
    cases = [{"id": c.id, "question": c.question, "gold_sql": list(c.gold_sql), "difficulty": c.difficulty}
             for c in CASES]
    (folder / "evalsets" / "tiny.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    return folder


def test_cli_on_a_tiny_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SQLTUNE_HOME", str(tmp_path))
    _tiny_project(tmp_path)
    runner = CliRunner()
    res = runner.invoke(cli, ["evalset", "leakage", "tiny", "--evalset", "tiny"])
    assert res.exit_code == 0, res.output
    assert "1 exact duplicates (25.0%)" in res.output and "exact SQL duplicates: e1" in res.output
    res = runner.invoke(cli, ["evalset", "leakage", "tiny", "--evalset", "tiny", "--json"])
    data = json.loads(res.output)
    assert data["exact_sql"] == ["e1"] and data["near_sql"] == [] and data["pairs"] == 5
    assert data["tiers"]["overall"]["n"] == 4
    # Gate: 1 of 4 cases overlaps at the default threshold.
    res = runner.invoke(cli, ["evalset", "leakage", "tiny", "--evalset", "tiny", "--fail-above", "0.2"])
    assert res.exit_code == 1 and "overlap share 25.0% exceeds 20.0%" in res.output
    res = runner.invoke(cli, ["evalset", "leakage", "tiny", "--evalset", "tiny", "--fail-above", "0.3"])
    assert res.exit_code == 0
    res = runner.invoke(cli, ["evalset", "leakage", "tiyn", "--evalset", "tiny"])
    assert res.exit_code == 1 and "Did you mean 'tiny'?" in res.output and "Traceback" not in res.output
