"""Evalset files: loading (every problem with its line), name lookup, and validation against a database."""

from __future__ import annotations

import dataclasses
import json
import typing as t
from pathlib import Path

import duckdb
import pytest

from sqltune.errors import NotFoundError
from sqltune.evalset import EvalCase, EvalsetError, load_evalset, validate_evalset
from sqltune.grade import ComparisonPolicy
from sqltune.schema import Column, Schema, Table

HEADER = "name: demo\nsample: cpg\nsample_version: 1\nversion: 2\nreference_date: 2025-06-30\n"


def case(cid: str, gold: str | list[str], **extra: t.Any) -> str:
    return json.dumps({"id": cid, "question": f"Question {cid}?", "gold_sql": gold, **extra})


def write(folder: Path, lines: t.Sequence[str], header: str = HEADER, name: str = "demo") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(header, encoding="utf-8")
    (folder / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder / f"{name}.yaml"


def problems_of(path: Path) -> tuple[str, ...]:
    with pytest.raises(EvalsetError) as info:
        load_evalset(path)
    assert str(info.value).count("\n") == len(info.value.problems)
    return info.value.problems


# ------------------------------------------------------------------------------------ loading
def test_load_a_valid_evalset(tmp_path: Path) -> None:
    path = write(tmp_path, [case("a", "SELECT 1", difficulty="easy", tags=["x"]), "",
                            case("b", ["SELECT 2", "SELECT 1 + 1"], reviewed=False, notes="two golds")])  # fmt: skip
    ev = load_evalset(path)
    header = (ev.name, ev.version, ev.sample, ev.sample_version, ev.reference_date)
    assert header == ("demo", "2", "cpg", 1, "2025-06-30")
    assert ev.policy == ComparisonPolicy() and ev.dialect == "duckdb" and len(ev) == 2
    assert ev.case("a") == EvalCase("a", "Question a?", ("SELECT 1",), "easy", ("x",))
    assert ev.case("b").gold_sql == ("SELECT 2", "SELECT 1 + 1") and not ev.case("b").reviewed
    assert ev.case("b").line == 3
    with pytest.raises(NotFoundError, match="Did you mean 'a'"):
        ev.case("aa")


def test_every_path_form_loads_the_same_evalset(tmp_path: Path) -> None:
    path = write(tmp_path / "demo", [case("a", "SELECT 1")])
    forms = [path, path.with_suffix(".jsonl"), tmp_path / "demo"]
    assert all(load_evalset(p) == load_evalset(path) for p in forms)
    folder = tmp_path / "other"
    folder.mkdir()
    (folder / "evalset.yaml").write_text(HEADER.replace("demo", "other"))
    (folder / "cases.jsonl").write_text(case("z", "SELECT 1") + "\n")
    assert load_evalset(folder).name == "other"


def test_names_resolve_in_the_project_then_the_package(tmp_path: Path) -> None:
    write(tmp_path / "proj" / "evalsets", [case("a", "SELECT 1")], name="mine")
    assert load_evalset("mine", project_dir=tmp_path / "proj").case("a").gold_sql == ("SELECT 1",)
    with pytest.raises(NotFoundError, match="Did you mean 'mine'"):
        load_evalset("mien", project_dir=tmp_path / "proj")


def test_bad_cases_are_all_reported_with_line_numbers(tmp_path: Path) -> None:
    lines = [
        case("ok", "SELECT 1"),
        '{"id": "x", "question": "q", ',
        json.dumps({"id": "g", "question": "q"}),
        json.dumps({"id": "k", "question": "q", "gold": "SELECT 1", "gold_sql": "SELECT 1"}),
        case("ok", "SELECT 2"),
        case("d", "SELECT 1", difficulty="medum"),
        case("t", "SELECT 1", tags="x", reviewed="yes"),
        case("e", []),
        "[1, 2]",
        "",
        json.dumps({"id": 5, "question": "", "gold_sql": ["SELECT 1", ""]}),
    ]
    problems = problems_of(write(tmp_path, lines))
    assert problems == (
        "demo.jsonl:2: invalid JSON: Expecting property name enclosed in double quotes (column 30)",
        "demo.jsonl:3: missing 'gold_sql'",
        "demo.jsonl:4: unknown key 'gold'. Did you mean 'gold_sql'?",
        "demo.jsonl:5: duplicate id 'ok' (first on line 1)",
        "demo.jsonl:6: 'difficulty' 'medum' is not a tier. Did you mean 'medium'?",
        "demo.jsonl:7: 'tags' must be a list of strings",
        "demo.jsonl:7: 'reviewed' must be true or false",
        "demo.jsonl:8: 'gold_sql' must be a non-empty string or a non-empty list of them",
        "demo.jsonl:9: expected a JSON object, got list",
        "demo.jsonl:11: 'id' must be a non-empty string",
        "demo.jsonl:11: 'question' must be a non-empty string",
        "demo.jsonl:11: 'gold_sql' must be a non-empty string or a non-empty list of them",
    )


def test_bad_headers_are_reported(tmp_path: Path) -> None:
    header = ("name: demo\nsample: cpg\nproject: shop\ndialect: postgres\ndescripton: x\nreference_date: June\n"
              "policy: {rel_tole: 1}\nsample_version: one\n")  # fmt: skip
    problems = problems_of(write(tmp_path, [case("a", "SELECT 1")], header))
    assert problems == (
        "demo.yaml: unknown key 'descripton'. Did you mean 'description'?",
        "demo.yaml: missing 'version'",
        "demo.yaml: give exactly one of 'sample' or 'project'",
        "demo.yaml: 'sample_version' must be an integer, got 'one'",
        "demo.yaml: dialect 'postgres' is not supported (only 'duckdb')",
        "demo.yaml: 'reference_date' must be YYYY-MM-DD, got 'June'",
        "demo.yaml: policy: Unknown comparison policy key 'rel_tole'. Did you mean 'rel_tol'?",
    )


def test_invalid_yaml_and_missing_cases(tmp_path: Path) -> None:
    assert problems_of(write(tmp_path / "a", [case("a", "SELECT 1")], "name: [demo\n"))[0].startswith("demo.yaml:")
    path = write(tmp_path / "b", [""])
    assert problems_of(path) == ("demo.jsonl: no cases",)
    path.with_suffix(".jsonl").unlink()
    assert problems_of(path) == ("demo.yaml: cases file demo.jsonl not found",)
    with pytest.raises(EvalsetError, match="not found"):
        load_evalset(tmp_path / "nope.yaml")


def test_policy_comes_from_the_header(tmp_path: Path) -> None:
    ev = load_evalset(write(tmp_path, [case("a", "SELECT 1")], HEADER + "policy:\n  rel_tol: 1.0e-9\n"))
    assert ev.policy.rel_tol == 1e-9 and ev.policy.label == "1.0+rel_tol=1e-09"


# --------------------------------------------------------------------------------- validation
@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("evalset") / "v.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE scores (player VARCHAR, points INTEGER, \"Team\" VARCHAR)")
        con.execute("INSERT INTO scores VALUES ('ann', 10, 'A'), ('bob', 10, 'A'), ('cat', 9, 'B'), ('dan', 5, 'B')")
    return path


VALIDATION = [
    # (gold, declared difficulty, one substring per expected problem, in order)
    ("SELECT player FROM scores WHERE points > 5", "easy", []),
    ("SELECT player FROM scores ORDER BY points DESC, player LIMIT 2", "medium", []),
    ("SELECT player FROM scores ORDER BY points DESC LIMIT 3", "medium", []),
    ("SELECT player FROM scores ORDER BY points DESC LIMIT 1", "medium", ["error: gold: non-deterministic: LIMIT/"]),
    ("SELECT player FROM scores ORDER BY points DESC LIMIT 1 OFFSET 2", "medium", []),
    ("SELECT player FROM scores ORDER BY points LIMIT 1 OFFSET 1", "medium", []),
    ("SELECT player FROM scores ORDER BY points LIMIT 2 OFFSET 1", "medium", ["cuts through 2 rows"]),
    ("SELECT player FROM scores ORDER BY points DESC LIMIT 2 OFFSET 1", "medium", ["LIMIT/OFFSET cuts through 2 rows"]),
    ("SELECT player FROM scores ORDER BY points DESC LIMIT 50%", "medium", ["warning: gold: LIMIT/OFFSET is not"]),
    ("SELECT player FROM scores LIMIT 2", "easy", ["error: gold: non-deterministic: LIMIT without ORDER BY"]),
    ("SELECT player FROM scores LIMIT 10", "easy", []),
    ("SELECT count(*) FROM (SELECT player FROM scores LIMIT 2) AS s", "hard", ["LIMIT without ORDER BY in a subquery"]),
    ("SELECT player, random() FROM scores", "easy", ["non-deterministic function: rand"]),
    ("SELECT nope FROM scores", "easy", ["error: gold: fails: BinderException"]),
    ("SELECT player FROM scores WHERE points > 100", "easy", ["error: gold: returns no rows"]),
    ("SELECT player FROM scores WHERE", "easy", ["error: gold: does not parse"]),
    ("SELECT player FROM scores", "hard", ["warning: gold: declared difficulty 'hard', measured 'easy'"]),
    ("SELECT player FROM scores ORDER BY points DESC LIMIT 1", None, ["cuts through 2 rows"]),
]


@pytest.mark.parametrize(("gold", "difficulty", "expected"), VALIDATION)
def test_validation_flags_each_gold(tmp_path: Path, db: Path, gold: str, difficulty: str | None,
                                    expected: list[str]) -> None:  # fmt: skip
    ev = load_evalset(write(tmp_path, [case("c", gold, difficulty=difficulty)]))
    report = validate_evalset(ev, db, sample_version=1)
    found = [str(p).removeprefix("c: ") for p in report.problems]
    assert len(found) == len(expected), found
    for substring, problem in zip(expected, found, strict=True):
        assert substring in problem
    assert report.ok == (not any(p.severity == "error" for p in report.problems))
    assert bool(report) == report.ok


def test_validation_report_lists_problems_per_case(tmp_path: Path, db: Path) -> None:
    lines = [case("good", "SELECT player FROM scores", difficulty="easy"),
             case("alt", ["SELECT player FROM scores", "SELECT nope FROM scores"], reviewed=False),
             case("slow", "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT count(*) FROM r")]
    report = validate_evalset(load_evalset(write(tmp_path, lines)), db, timeout_s=0.3)
    assert not report.ok and not report
    assert report.for_case("good") == ()
    assert [p.message for p in report.for_case("alt")] == ["not reviewed", report.for_case("alt")[1].message]
    assert report.for_case("alt")[1].message.startswith("gold 2: fails: BinderException")
    assert any("timed out" in p.message for p in report.for_case("slow"))
    assert report.measured["good"] == "easy" and report.measured["alt"] == "easy"
    assert report.summary().startswith("demo: 3 cases, 2 errors, 1 warnings")


def test_validation_checks_the_sample_version(tmp_path: Path, db: Path) -> None:
    ev = load_evalset(write(tmp_path, [case("c", "SELECT player FROM scores")]))
    report = validate_evalset(ev, db, sample_version=2)
    assert [str(p) for p in report.problems] == [
        "(evalset): error: evalset is for sample_version 1, the database is version 2"
    ]
    assert validate_evalset(ev, db, schema=dataclasses.replace(SCHEMA, sample_version=2)).ok is False
    assert validate_evalset(ev, db, schema=SCHEMA).ok


SCHEMA = Schema("v", "duckdb", (Table("main", "scores", (Column("player", "VARCHAR", "text"),
                                                         Column("points", "INTEGER", "integer"))),),
                default_schema="main", sample_version=1)  # fmt: skip


def test_validation_against_a_schema_snapshot(tmp_path: Path, db: Path) -> None:
    schema = SCHEMA
    lines = [case("c", 'SELECT "Team" FROM scores'), case("d", "SELECT PLAYER FROM scores")]
    report = validate_evalset(load_evalset(write(tmp_path, lines)), db, schema=schema)
    assert [str(p) for p in report.problems] == [
        "c: error: gold: not in the schema snapshot: Team",
        "d: warning: gold: identifiers resolved only case-insensitively: PLAYER",
    ]
