"""``sqltune.evaluate``: predict + grade in one call, cached by configuration; the package's API surface."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import duckdb
import pytest

import sqltune
from sqltune.evaluate import EvalConfig, evaluate, tier_table
from sqltune.introspect import introspect

GOLD = "SELECT count(*) FROM orders WHERE \"CHNL_CD\" = 'ECOM'"


@pytest.fixture()
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    from sqltune import project

    monkeypatch.setenv("SQLTUNE_HOME", str(tmp_path / "home"))
    db = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(db))
    con.execute('CREATE TABLE orders("OrderId" INT PRIMARY KEY, "CHNL_CD" VARCHAR, amount DOUBLE)')
    con.execute("INSERT INTO orders VALUES (1,'ECOM',10),(2,'DTC',5),(3,'ECOM',7)")
    con.close()
    project.save_snapshot(introspect(db, name="shop"), "shop")
    ev = tmp_path / "home" / "projects" / "shop" / "evalsets" / "ev"
    ev.mkdir(parents=True)
    (ev / "ev.yaml").write_text("name: ev\nproject: shop\nversion: 1\n")
    (ev / "ev.jsonl").write_text(
        json.dumps({"id": "q1", "question": "Online orders?", "gold_sql": GOLD, "difficulty": "easy"}) + "\n" +
        json.dumps({"id": "q2", "question": "All orders?", "gold_sql": "SELECT count(*) FROM orders",
                    "difficulty": "medium"}) + "\n")
    return "shop"


def _fake_predict(answers: dict[str, str], calls: list[int]):  # type: ignore[no-untyped-def]
    def predict(schema, ev, model, adapter, config, out, project_dir, progress, first=None) -> None:  # type: ignore[no-untyped-def]
        calls.append(len(ev.cases))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(json.dumps({"id": c.id, "sql": answers.get(c.id, "SELECT 0")}) + "\n" for c in ev.cases))
    return predict


def test_evaluate_grades_and_caches_by_config(shop: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr("sqltune.evaluate._predict", _fake_predict({"q1": GOLD, "q2": "SELECT 2"}, calls))
    e = evaluate(shop, "ev", "some-model", config=EvalConfig(suite=False))
    assert e.metric("easy") == 1.0 and e.metric("medium") == 0.0 and e.metric("overall") == 0.5
    assert e.reports["json"].is_file() and e.predictions.is_file() and not e.cached
    again = evaluate(shop, "ev", "some-model", config=EvalConfig(suite=False))
    assert again.cached and calls == [2] and again.predictions == e.predictions
    other = evaluate(shop, "ev", "some-model", config=EvalConfig(suite=False, constrained=True))
    assert not other.cached and calls == [2, 2] and other.label == "some-model-constrained"
    table = tier_table([e, other])
    assert table.splitlines()[0].startswith("| run | ex_strict easy") and "| some-model | 100% | 0% | 50%" in table


def test_evaluate_subset_and_missing_pairs_for_fewshot(shop: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqltune.errors import MissingArtifactError

    calls: list[int] = []
    monkeypatch.setattr("sqltune.evaluate._predict", _fake_predict({}, calls))
    e = evaluate(shop, "ev", "m", config=EvalConfig(subset=1, suite=False))
    assert calls == [2] and len(e.run.items) == 2  # one per tier
    monkeypatch.undo()
    monkeypatch.setenv("SQLTUNE_HOME", str(Path(e.predictions).parents[4]))
    with pytest.raises(MissingArtifactError, match="sqltune generate"):
        evaluate(shop, "ev", "m", config=EvalConfig(suite=False, shots=2))


def test_evaluate_with_a_tiny_model_end_to_end(shop: str, tmp_path: Path) -> None:
    from tests.tiny import tiny_llama

    model = tiny_llama(tmp_path / "tiny")
    e = evaluate(shop, "ev", str(model), config=EvalConfig(suite=False, max_new_tokens=8))
    rows = [json.loads(line) for line in e.predictions.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["q1", "q2"] and all(r["model"] == str(model) for r in rows)
    assert e.run.aggregates["overall"].metrics["ex_strict"].n == 2 and e.predict_s > 0


def test_api_surface_is_lazy_and_the_verbs_are_callable_modules() -> None:
    import subprocess

    code = ("import sys, sqltune; assert 'torch' not in sys.modules; "
            "import sqltune.grade as g; from sqltune import grade, evaluate, introspect, generate; "
            "assert g is grade and callable(grade) and callable(evaluate) and callable(introspect); "
            "assert hasattr(g, 'evaluate_predictions') and 'torch' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr
    for name in ("introspect", "generate", "onboard", "load_model", "memory_tune", "Text2SQL", "evaluate", "grade"):
        assert name in sqltune.__all__ and getattr(sqltune, name) is not None
    with pytest.raises(AttributeError):
        sqltune.nope  # noqa: B018


def test_retrained_adapter_invalidates_cached_predictions(shop: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr("sqltune.evaluate._predict", _fake_predict({}, calls))
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_model.safetensors").write_bytes(b"v1")
    cfg = EvalConfig(suite=False)
    assert not evaluate(shop, "ev", "m", adapter=str(adapter), config=cfg).cached
    assert evaluate(shop, "ev", "m", adapter=str(adapter), config=cfg).cached
    (adapter / "adapter_model.safetensors").write_bytes(b"v2 retrained")
    assert not evaluate(shop, "ev", "m", adapter=str(adapter), config=cfg).cached and calls == [2, 2]


def test_evaluation_asks_with_the_prompt_builders_default_budget() -> None:
    from sqltune.evaluate import EvalConfig
    from sqltune.prompt import DEFAULT_BUDGET_TOKENS, PromptConfig

    from sqltune.cli import cli

    assert EvalConfig().prompt_budget == PromptConfig().budget_tokens == DEFAULT_BUDGET_TOKENS
    for command in ("ask", "predict"):
        option = next(p for p in cli.commands[command].params if p.name == "prompt_budget")
        assert option.default == DEFAULT_BUDGET_TOKENS


def test_cache_keys_keep_earlier_predictions_and_follow_the_constraints_revision() -> None:
    """Options added later enter a key only when set, so predictions cached before keep theirs (the hashes
    are those of cached runs); a constrained run's key carries the constraint's revision, so predictions
    made under an older constraint are not taken for this one's."""
    from sqltune.evaluate import EvalConfig
    from sqltune.infer.constrain import REVISION

    main_job = EvalConfig(subset=10, max_new_tokens=128, batch_size=8, prompt_budget=3000)
    assert main_job.key() == "3e42fcc3c9b3"  # as before repair and prompt_budget existed
    assert EvalConfig(subset=10, max_new_tokens=128, batch_size=8, prompt_budget=0).key() != main_job.key()
    assert EvalConfig(subset=10, max_new_tokens=128, batch_size=8).key() != main_job.key()  # the default is 600 now
    constrained = EvalConfig(subset=10, max_new_tokens=128, batch_size=8, constrained=True)
    assert constrained.key_dict()["constraint_revision"] == REVISION >= 2
    assert constrained.key() != "594b759b80ce"  # the key of revision 1's cached predictions
