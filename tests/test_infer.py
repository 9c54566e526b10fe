"""Inference: SQL extraction, execution-guided selection, few-shot retrieval, and the predict command."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from sqltune.infer.select import choose
from sqltune.introspect import introspect
from sqltune.sandbox import Sandbox


@pytest.fixture()
def shop(tmp_path: Path):  # type: ignore[no-untyped-def]
    db = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(db))
    con.execute('CREATE TABLE orders("OrderId" INT PRIMARY KEY, "CHNL_CD" VARCHAR, amount DOUBLE)')
    con.execute("INSERT INTO orders VALUES (1,'ECOM',10),(2,'DTC',5),(3,'ECOM',7)")
    con.close()
    return introspect(db, name="shop")


def test_first_candidate_that_resolves_and_runs_wins(shop) -> None:  # type: ignore[no-untyped-def]
    box = Sandbox(shop.execution_db)
    cands = ["", "SELEC nonsense", "SELECT total FROM orders", "SELECT count(*) FROM orderz",
             "SELECT 1/0::INT FROM orders WHERE \"OrderId\" = 'x'", 'SELECT count(*) FROM orders WHERE "CHNL_CD" = \'ECOM\'']
    pick = choose(cands, shop, box)
    assert pick.index == 5 and pick.execution is not None and pick.execution.rows == ((2,),)
    assert any("invented" in r for r in pick.rejected) and any("does not parse" in r for r in pick.rejected)
    box.close()


def test_a_candidate_nested_too_deeply_to_parse_is_passed_over(shop) -> None:  # type: ignore[no-untyped-def]
    """A runaway of parentheses (model output) exhausts sqlglot's recursive parser; it must be rejected, not raise."""
    box = Sandbox(shop.execution_db)
    deep = "SELECT " + "(" * 300 + "1" + ")" * 300 + " FROM orders"
    pick = choose([deep, "SELECT count(*) FROM orders"], shop, box)
    assert pick.index == 1 and pick.rejected == ("0: does not parse",)
    box.close()


def test_self_consistency_votes_on_results(shop) -> None:  # type: ignore[no-untyped-def]
    box = Sandbox(shop.execution_db)
    cands = ["SELECT count(*) FROM orders", "SELECT count(*) FROM orders WHERE amount > 6",
             "SELECT count(\"OrderId\") FROM orders WHERE amount >= 7"]
    assert choose(cands, shop, box).index == 0
    assert choose(cands, shop, box, vote=True).index == 1
    box.close()


def test_nothing_runs(shop) -> None:  # type: ignore[no-untyped-def]
    box = Sandbox(shop.execution_db)
    pick = choose(["DROP TABLE orders", "SELECT nope FROM orders"], shop, box)
    assert pick.index is None and len(pick.rejected) == 2
    box.close()


def test_predict_command_writes_grader_format(shop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from sqltune import project
    from sqltune.cli import cli
    from tests.tiny import tiny_llama

    monkeypatch.setenv("SQLTUNE_HOME", str(tmp_path / "home"))
    project.save_snapshot(shop, "shop")
    (tmp_path / "ev.yaml").write_text("name: ev\nproject: shop\nversion: 1\n")
    (tmp_path / "ev.jsonl").write_text(
        json.dumps({"id": "q1", "question": "How many orders?", "gold_sql": "SELECT count(*) FROM orders",
                    "difficulty": "easy"}) + "\n" +
        json.dumps({"id": "q2", "question": "Online orders?", "gold_sql":
                    "SELECT count(*) FROM orders WHERE \"CHNL_CD\" = 'ECOM'", "difficulty": "easy"}) + "\n")
    model = tiny_llama(tmp_path / "tiny")
    out = tmp_path / "preds.jsonl"
    res = CliRunner().invoke(cli, ["predict", "shop", "--evalset", str(tmp_path / "ev.yaml"), "--out", str(out),
                                   "--model", str(model), "--candidates", "2"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["q1", "q2"]
    assert all(isinstance(r["sql"], str) and len(r["candidates"]) == 2 and r["model"] == str(model) for r in rows)


def test_grade_command_writes_reports(shop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from sqltune import project
    from sqltune.cli import cli

    monkeypatch.setenv("SQLTUNE_HOME", str(tmp_path / "home"))
    project.save_snapshot(shop, "shop")
    (tmp_path / "ev.yaml").write_text("name: ev\nproject: shop\nversion: 1\n")
    gold = "SELECT count(*) FROM orders WHERE \"CHNL_CD\" = 'ECOM'"
    (tmp_path / "ev.jsonl").write_text(
        json.dumps({"id": "q1", "question": "Online orders?", "gold_sql": gold, "difficulty": "easy"}) + "\n" +
        json.dumps({"id": "q2", "question": "All orders?", "gold_sql": "SELECT count(*) FROM orders",
                    "difficulty": "easy"}) + "\n")
    preds = tmp_path / "p.jsonl"
    preds.write_text(json.dumps({"id": "q1", "sql": gold}) + "\n" + json.dumps({"id": "q2", "sql": "SELECT 2"}) + "\n")
    res = CliRunner().invoke(cli, ["grade", "shop", "--evalset", str(tmp_path / "ev.yaml"), "--predictions",
                                   str(preds), "--no-suite", "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert "ex_strict 50.0%" in res.output
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results and (tmp_path / "out" / "report.html").is_file()
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "q9", "sql": "SELECT 1"}) + "\n")
    res = CliRunner().invoke(cli, ["grade", "shop", "--evalset", str(tmp_path / "ev.yaml"), "--predictions",
                                   str(bad), "--no-suite", "--out", str(tmp_path / "out2")])
    assert res.exit_code == 1 and "q9" in res.output and "Traceback" not in res.output


class _Bot:
    """A stand-in for Text2SQL: answers ``SELECT <n>``; raises on the question it is told to."""

    def __init__(self, fail_on: str | None = None) -> None:
        from types import SimpleNamespace

        self.decode = SimpleNamespace(batch_size=2)
        self.model = SimpleNamespace(name="fake", adapter=None)
        self.asked: list[str] = []
        self.fail_on = fail_on

    def predict(self, questions, progress=None):  # type: ignore[no-untyped-def]
        from sqltune.infer.text2sql import Answer

        if self.fail_on in questions:
            raise KeyboardInterrupt
        self.asked += questions
        return [Answer(question=q, sql=f"SELECT {q[1:]}", source_sql=None, status="ok", seconds={"generate": 2.0})
                for q in questions]


def test_predict_evalset_resumes_after_the_last_finished_batch(tmp_path: Path) -> None:
    from sqltune.evalset import EvalCase, Evalset
    from sqltune.grade.policy import ComparisonPolicy
    from sqltune.infer.predict import predict_evalset, resumed_seconds

    cases = tuple(EvalCase(id=f"c{i}", question=f"q{i}", gold_sql=("SELECT 1",), difficulty="easy") for i in range(5))
    ev = Evalset(name="ev", version="1", cases=cases, policy=ComparisonPolicy())
    out = tmp_path / "preds.jsonl"
    with pytest.raises(KeyboardInterrupt):  # interrupted in the third batch
        predict_evalset(_Bot(fail_on="q4"), ev, out)  # type: ignore[arg-type]
    partial = tmp_path / "preds.jsonl.partial"
    assert not out.exists() and [json.loads(x)["id"] for x in partial.read_text().splitlines()] == ["c0", "c1", "c2", "c3"]
    assert resumed_seconds(out) == 8.0
    bot = _Bot()
    predict_evalset(bot, ev, out)  # type: ignore[arg-type]
    assert bot.asked == ["q4"] and not partial.exists()
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [f"c{i}" for i in range(5)] and rows[4]["sql"] == "SELECT 4"
