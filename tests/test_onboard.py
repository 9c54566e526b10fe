"""Onboarding: DuckDB, SQLite and PostgreSQL end to end, drift with partial regeneration, the drafted
evalset (unreviewed, held out of training, skipped by grading until reviewed), review, resume, CLI errors.

The small ``shop`` database of :mod:`tests.shop` (mixed-case names, a non-default schema, declared
and undeclared keys, categorical codes) keeps every onboarding to a few seconds.
"""

from __future__ import annotations

import json
import sqlite3
import typing as t
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from sqltune import sandbox
from sqltune.cli import cli
from sqltune.errors import ConfigError, NotFoundError
from sqltune.evalset import EvalsetError, load_evalset
from sqltune.generate import GenerateConfig, Pair
from sqltune.grade import evaluate_predictions
from sqltune.onboard import CaseFile, onboard, review, training_pairs
from sqltune.onboard import files
from sqltune.onboard.draft import informative
from sqltune.onboard.holdout import normalise_sql
from tests import shop

N = 60  # pairs per onboarding: 12 distinct SQL
PER_TIER = 1


# ----------------------------------------------------------------------------------------- helpers
def _duckdb(path: Path) -> Path:
    con = duckdb.connect(str(path))
    for stmt in shop.ddl("sales", comments=True):
        con.execute(stmt)
    for stmt, rows in shop.inserts("sales"):
        con.executemany(stmt, rows)
    con.close()
    return path


def _sqlite(path: Path) -> Path:
    con = sqlite3.connect(path)
    for stmt in shop.ddl(None, comments=False):
        con.execute(stmt)
    for stmt, rows in shop.inserts(None):
        con.executemany(stmt, rows)
    con.commit()
    con.close()
    return path


def _postgres(make_db: t.Callable[[str, str], str]) -> str:
    import sqlalchemy as sa

    url = make_db("sqltune_onboard", ";\n".join(shop.ddl("sales", comments=True)))
    eng = sa.create_engine(url)
    with eng.begin() as conn:
        for stmt, rows in shop.inserts("sales", placeholder="%s"):
            conn.exec_driver_sql(stmt, rows)
    eng.dispose()
    return url


def _alter(db: Path, *sql: str) -> None:
    sandbox.close_all()  # the sandbox holds the file read-only
    con = duckdb.connect(str(db))
    for stmt in sql:
        con.execute(stmt)
    con.close()


def _pairs(folder: Path) -> dict[str, Pair]:
    """Every pair of the project (training and held out), by id."""
    _, train = files.read_pairs(folder / "pairs" / files.PAIRS)
    _, held = files.read_pairs(folder / "pairs" / files.HELDOUT)
    return {p.id: p for p in train + held}


def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("SQLTUNE_HOME", str(home))
    return home


def _run(*args: str, input: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), input=input)
    return result.exit_code, result.output


def _check_project(res: t.Any, backend: str) -> None:
    folder = res.folder
    assert res.regenerated == "all" and res.pairs == N and res.new_pairs == N and res.kept_pairs == 0
    # introspection: exact identifiers, the copy for non-DuckDB sources
    tables = {str(tb.key) for tb in res.schema.tables}
    prefix = "main." if backend == "sqlite" else "sales."
    assert {prefix + "OrderHeader", prefix + "Customer", prefix + "order_line"} <= tables
    if backend != "duckdb":
        assert Path(res.schema.execution_db) == folder / "data.duckdb" and (folder / "data.duckdb").is_file()
    # every artifact carries config, schema fingerprint and data hash
    manifest = json.loads((folder / files.MANIFEST).read_text())
    header, train = files.read_pairs(folder / "pairs" / files.PAIRS)
    coverage = json.loads((folder / "pairs" / files.COVERAGE).read_text())
    draft = load_evalset("draft", project_dir=folder)
    for carrier in (manifest, header, coverage["provenance"], draft.provenance):
        assert carrier["schema_fingerprint"] == res.schema.fingerprint() == res.fingerprint
        assert carrier["data_hash"] == res.data_hash and len(res.data_hash) == 16
    assert header["config"] == GenerateConfig().to_dict() and header["seed"] == 0 and header["n"] == N
    assert manifest["config"]["n"] == N and coverage["provenance"]["config"]["generate"] == GenerateConfig().to_dict()
    assert coverage["summary"]["table"]["total"] == len(res.schema.tables)
    # the draft: balanced, unreviewed, held out of training
    assert len(draft.cases) == 3 and sorted(c.difficulty for c in draft.cases) == ["easy", "hard", "medium"]
    assert all(not c.reviewed for c in draft.cases) and draft.unreviewed == res.unreviewed
    assert all(informative(c.gold_sql[0], res.schema.execution_db) for c in draft.cases)
    golds = {normalise_sql(c.gold_sql[0]) for c in draft.cases}
    assert not [p.id for p in train if normalise_sql(p.sql) in golds]
    _, held = files.read_pairs(folder / "pairs" / files.HELDOUT)
    assert {normalise_sql(p.sql) for p in held} == golds and len(held) == 5 * len(golds)  # every phrasing
    assert res.train_pairs == len(train) == N - len(held) and res.heldout_pairs == len(held)
    assert not [p for p in training_pairs(res.name, splits=None) if normalise_sql(p.sql) in golds]
    text = res.summary()
    assert f"pairs: {N}" in text and "draft evalset" in text and "3 to review" in text and "coverage" in text


# ------------------------------------------------------------------------------------- end to end
@pytest.mark.parametrize("backend", ["duckdb", "sqlite"])
def test_onboard_file_end_to_end(backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _home(tmp_path, monkeypatch)
    source = _duckdb(tmp_path / "shop.duckdb") if backend == "duckdb" else _sqlite(tmp_path / "shop.sqlite")
    steps: list[str] = []
    res = onboard(source, "shop", n=N, draft_per_tier=PER_TIER, progress=steps.append)
    _check_project(res, backend)
    assert [s for s in steps if s[:5] in ("[1/4]", "[2/4]", "[3/4]", "[4/4]")] and any("SQL" in s for s in steps)


@pytest.mark.postgres
def test_onboard_postgres_end_to_end(pg_database: t.Callable[[str, str], str], tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _home(tmp_path, monkeypatch)
    url = _postgres(pg_database)
    res = onboard(url, "shop", n=N, draft_per_tier=PER_TIER)
    _check_project(res, "postgres")
    assert res.schema.dialect == "postgresql"
    again = onboard(url, "shop", n=N, draft_per_tier=PER_TIER)  # a fresh copy of the same data
    assert again.regenerated == "none" and again.new_pairs == 0


# ------------------------------------------------------------------------- drift and regeneration
def test_unchanged_schema_regenerates_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _home(tmp_path, monkeypatch)
    db = _duckdb(tmp_path / "shop.duckdb")
    first = onboard(db, "shop", n=N, draft_per_tier=PER_TIER)
    before = {p: Path(first.files[p]).read_bytes() for p in ("pairs", "heldout", "coverage", "facts")}
    cases = (first.folder / "evalsets" / "draft" / "draft.jsonl").read_bytes()
    again = onboard(db, "shop", n=N, draft_per_tier=PER_TIER)
    assert (again.regenerated, again.new_pairs, again.kept_pairs, again.draft_added) == ("none", 0, N, ())
    assert again.drift is not None and again.drift.empty and not again.changed_tables
    assert {p: Path(again.files[p]).read_bytes() for p in before} == before
    assert (first.folder / "evalsets" / "draft" / "draft.jsonl").read_bytes() == cases
    assert [h["regenerated"] for h in json.loads((first.folder / files.MANIFEST).read_text())["history"]] == \
        ["all", "none"]
    # other generation settings: everything is generated again
    other = onboard(db, "shop", n=N, seed=1, draft_per_tier=PER_TIER)
    assert other.regenerated == "all" and "settings" in other.reason
    # a new generator (an upgrade that changes what a seed produces): everything is generated again, once
    import sqltune.generate.run
    import sqltune.onboard.run

    for module in (sqltune.generate.run, sqltune.onboard.run):
        monkeypatch.setattr(module, "GENERATOR_VERSION", 99)
    upgraded = onboard(db, "shop", n=N, seed=1, draft_per_tier=PER_TIER)
    assert upgraded.regenerated == "all" and "generator changed" in upgraded.reason, upgraded.reason
    assert onboard(db, "shop", n=N, seed=1, draft_per_tier=PER_TIER).regenerated == "none"


def test_drift_regenerates_only_changed_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _home(tmp_path, monkeypatch)
    db = _duckdb(tmp_path / "shop.duckdb")
    n = 100  # 20 distinct SQL, so that most tables have pairs
    first = onboard(db, "shop", n=n, draft_per_tier=2)
    old = _pairs(first.folder)
    product = {i for i, p in old.items() if "sales.product" in p.tables}
    assert product and len(product) < len(old)
    # an expert accepts one drafted case over the product table and edits nothing else
    ev = load_evalset("draft", project_dir=first.folder)
    over_product = [c for c in ev.cases if any('product' in g for g in c.gold_sql)]
    target = (over_product or list(ev.cases))[0]
    review("shop", accept=[target.id])
    row_before = next(json.loads(x) for x in (first.folder / "evalsets/draft/draft.jsonl").read_text().splitlines()
                      if json.loads(x)["id"] == target.id)
    assert row_before["reviewed"] is True

    _alter(db, "ALTER TABLE sales.product ADD COLUMN weight_kg DOUBLE",
           "UPDATE sales.product SET weight_kg = 0.5, \"STATUS\" = 'RETIRED' WHERE \"SKU_NBR\" = 'SKU-0001'")
    res = onboard(db, "shop", n=n, draft_per_tier=2)
    assert res.regenerated == "changed" and set(res.changed_tables) == {"sales.product"}
    assert {"structure", "values", "data"} <= set(res.changed_tables["sales.product"])
    assert "+ column sales.product.weight_kg" in res.summary() and "RETIRED" in res.drift.summary()
    new = _pairs(res.folder)
    untouched = {i: p for i, p in old.items() if i not in product}
    assert all(new.get(i) == p for i, p in untouched.items()), "pairs of unchanged tables are kept as they were"
    added = {i: p for i, p in new.items() if i not in old}
    assert added and all("sales.product" in p.tables for p in added.values()), "only the changed table's pairs"
    assert res.kept_pairs == len(untouched) and res.new_pairs == len(new) - len(untouched)
    assert res.pairs == len(new) and abs(res.pairs - n) <= 5
    # the reviewed case is never overwritten
    row_after = next(json.loads(x) for x in (res.folder / "evalsets/draft/draft.jsonl").read_text().splitlines()
                     if json.loads(x)["id"] == target.id)
    assert row_after == row_before
    if over_product:
        assert target.id in res.stale_reviewed
    # data-only change: just that table's pairs
    _alter(db, "UPDATE sales.order_line SET amount = amount + 1 WHERE line_id < 10")
    data_only = onboard(db, "shop", n=n, draft_per_tier=2)
    assert data_only.drift is not None and data_only.drift.empty
    assert data_only.changed_tables == {"sales.order_line": ("data",)} and data_only.regenerated == "changed"
    after = _pairs(data_only.folder)
    assert all(after[i] == p for i, p in new.items() if "sales.order_line" not in p.tables)


def test_a_changed_metric_regenerates_the_pairs_of_its_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _home(tmp_path, monkeypatch)
    db = _duckdb(tmp_path / "shop.duckdb")
    metric = {"name": "booked sales", "expr": "sum(l.qty * l.amount)", "time": "h.OrderDate",
              "from": "sales.order_line l JOIN sales.OrderHeader h ON h.OrderId = l.OrderId"}
    first = onboard(db, "shop", n=100, draft_per_tier=1, dictionary={"metrics": [metric]})
    old = [p for p in _pairs(first.folder).values() if "booked sales" in p.question.lower()]
    assert old
    assert onboard(db, "shop", n=100, draft_per_tier=1, dictionary={"metrics": [metric]}).regenerated == "none"
    metric["where"] = "h.STATUS <> 'CANCELLED'"  # finance now leaves cancelled orders out
    res = onboard(db, "shop", n=100, draft_per_tier=1, dictionary={"metrics": [metric]})
    assert res.regenerated == "changed"
    assert res.changed_tables == {"sales.OrderHeader": ("docs",), "sales.order_line": ("docs",)}
    now = _pairs(res.folder).values()
    assert res.new_pairs > 0 and not {p.sql for p in old} & {p.sql for p in now}, "no pair keeps the old definition"
    assert all("<> 'CANCELLED'" in p.sql for p in now if "booked sales" in p.question.lower())


def test_interrupted_generation_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _home(tmp_path, monkeypatch)
    db = _duckdb(tmp_path / "shop.duckdb")
    cfg = GenerateConfig(chunk_size=4)

    class Stop(Exception):
        pass

    def stop_after_first_chunk(msg: str) -> None:
        if "generate:" in msg:
            raise Stop

    with pytest.raises(Stop):
        onboard(db, "shop", n=N, config=cfg, progress=stop_after_first_chunk)
    assert not (tmp_path / "home/projects/shop" / files.MANIFEST).exists()
    steps: list[str] = []
    res = onboard(db, "shop", n=N, config=cfg, progress=steps.append)
    assert any("(resumed)" in s for s in steps) and res.regenerated == "all"
    fresh = onboard(db, "shop2", n=N, config=cfg)
    assert [p.to_dict() for p in _pairs(res.folder).values()] == [p.to_dict() for p in _pairs(fresh.folder).values()]
    assert not (res.folder / "pairs" / ".generate").exists()


# ------------------------------------------------------------------------------ review and grading
def test_unreviewed_cases_are_skipped_until_reviewed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _home(tmp_path, monkeypatch)
    db = _duckdb(tmp_path / "shop.duckdb")
    res = onboard(db, "shop", n=N, draft_per_tier=PER_TIER)
    ev = load_evalset("draft", project_dir=res.folder)
    preds = [{"id": c.id, "sql": c.gold_sql[0]} for c in ev.cases]
    run = evaluate_predictions(ev, preds, db, schema=res.schema, suite=False)
    assert run.aggregates["overall"].n == 0 and set(run.skipped) == {c.id for c in ev.cases}
    assert any("unreviewed" in p for p in run.problems)
    first = ev.cases[0].id
    code, out = _run("evalset", "review", "shop", "--accept", first)
    assert code == 0 and "accepted 1" in out and "2 still to review" in out, out
    ev = load_evalset("draft", project_dir=res.folder)
    assert ev.case(first).reviewed and ev.version == "2"
    run = evaluate_predictions(ev, preds, db, schema=res.schema, suite=False)
    assert run.aggregates["overall"].n == 1 and run.headline.value == 1.0 and first not in run.skipped
    assert [i.id for i in run.items] == [first]
    everything = evaluate_predictions(ev, preds, db, schema=res.schema, suite=False, include_unreviewed=True)
    assert everything.aggregates["overall"].n == 3 and not everything.skipped
    code, out = _run("evalset", "review", "shop", "--accept-all")
    assert code == 0 and "0 still to review" in out
    assert not load_evalset("draft", project_dir=res.folder).unreviewed


def test_review_edit_drop_and_redraft(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _home(tmp_path, monkeypatch)
    db = _duckdb(tmp_path / "shop.duckdb")
    res = onboard(db, "shop", n=N, draft_per_tier=PER_TIER)
    ev = load_evalset("draft", project_dir=res.folder)
    a, b, c = (case.id for case in ev.cases)
    cases_file = res.folder / "evalsets/draft/draft.jsonl"
    before = cases_file.read_bytes()
    with pytest.raises(ConfigError, match="rejected"):
        review("shop", sql={a: 'SELECT nope FROM sales."OrderHeader"'}, accept=[a])
    assert cases_file.read_bytes() == before, "a broken gold writes nothing"
    with pytest.raises(NotFoundError, match="Did you mean"):
        review("shop", accept=[a + "x"])
    # a training pair's SQL becomes a gold: that pair moves out of training
    _, train = files.read_pairs(res.folder / "pairs" / files.PAIRS)
    taken = train[0]
    out = review("shop", sql={a: taken.sql}, accept=[a], drop=[b])
    assert out.accepted == (a,) and out.edited == (a,) and out.dropped == (b,)
    edited = load_evalset("draft", project_dir=res.folder)
    assert edited.case(a).gold_sql == (taken.sql,) and edited.case(a).reviewed and edited.case(a).difficulty
    assert b not in [c.id for c in edited.cases]
    _, train = files.read_pairs(res.folder / "pairs" / files.PAIRS)
    assert taken.id not in {p.id for p in train}
    assert taken.id not in {p.id for p in training_pairs("shop", splits=None)}
    dropped_file = res.folder / "evalsets/draft/draft.dropped.jsonl"
    dropped = [json.loads(x)["id"] for x in dropped_file.read_text().splitlines()]
    assert dropped == [b]
    # a person's SQL for a case not yet accepted: not a generated pair's SQL, but kept as well
    own_sql = 'SELECT count(DISTINCT "Segment") + 0 AS segments FROM sales."Customer"'
    review("shop", sql={c: own_sql})
    edited = load_evalset("draft", project_dir=res.folder)
    assert not edited.case(c).reviewed and edited.case(c).gold_sql == (own_sql,)
    # re-onboarding fills the tier again, never with the dropped SQL, never touching the edited cases
    again = onboard(db, "shop", n=N, draft_per_tier=PER_TIER)
    assert again.regenerated == "none" and b not in again.draft_added and not again.draft_replaced
    assert again.draft.case(a) == edited.case(a) and again.draft.case(c) == edited.case(c)
    assert b not in [case.id for case in again.draft.cases]


def test_case_file_interactive_review(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _home(tmp_path, monkeypatch)
    db = _duckdb(tmp_path / "shop.duckdb")
    res = onboard(db, "shop", n=N, draft_per_tier=PER_TIER)
    ids = list(res.unreviewed)
    monkeypatch.delenv("EDITOR", raising=False)
    monkeypatch.delenv("VISUAL", raising=False)
    # accept the first, change the second's question then skip it, drop the third
    code, out = _run("evalset", "review", "shop", input="a\nq\nHow many, exactly?\ns\nd\n")
    assert code == 0, out
    assert "result" in out and "accepted 1, edited 1, dropped 1; 1 still to review" in out, out
    ev = load_evalset("draft", project_dir=res.folder)
    assert [c.id for c in ev.cases] == ids[:2] and ev.case(ids[0]).reviewed and not ev.case(ids[1]).reviewed
    assert ev.case(ids[1]).question == "How many, exactly?"
    f = CaseFile("draft", project_dir=res.folder)
    assert f.unreviewed() == [ids[1]]


def test_evalset_reviewed_field_and_provenance(tmp_path: Path) -> None:
    d = tmp_path / "x"
    d.mkdir()
    (d / "x.yaml").write_text("name: x\nproject: p\nversion: 1\nprovenance: {tool: test, data_hash: abc}\n")
    (d / "x.jsonl").write_text('{"id": "a", "question": "Q?", "gold_sql": "SELECT 1"}\n'
                               '{"id": "b", "question": "Q?", "gold_sql": "SELECT 2", "reviewed": false}\n')
    ev = load_evalset(d)
    assert ev.provenance == {"tool": "test", "data_hash": "abc"}
    assert ev.case("a").reviewed and not ev.case("b").reviewed and ev.unreviewed == ("b",)
    assert [c.id for c in ev.reviewed_only().cases] == ["a"]
    (d / "x.yaml").write_text("name: x\nproject: p\nversion: 1\nprovenance: [1]\n")
    with pytest.raises(EvalsetError, match="provenance"):
        load_evalset(d)


# ---------------------------------------------------------------------------------------------- CLI
def test_cli_onboard_and_one_line_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = _home(tmp_path, monkeypatch)
    db = _duckdb(tmp_path / "shop.duckdb")
    for args, message in [
        (["onboard", str(tmp_path / "missing.duckdb"), "--name", "shop"], "Database file not found"),
        (["onboard", "postgress://me@localhost/shop", "--name", "shop"], "Did you mean 'postgres"),
        (["onboard", str(db), "--name", "../evil"], "Invalid project name"),
        (["onboard", str(db), "--name", "shop", "--config", '{"kk": 1}'], "kk"),
        (["evalset", "review", "nosuch"], "Unknown project 'nosuch'"),
    ]:
        code, out = _run(*args)
        lines = [ln for ln in out.splitlines() if ln.strip()]
        assert code == 1 and len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], out
        assert not (home / "projects" / "shop").exists(), "nothing is written for bad input"
    code, out = _run("onboard", str(db), "--name", "shop", "--n", str(N), "--draft-per-tier", "1")
    assert code == 0, out
    for expected in ("sales.OrderHeader", "declared join", "inferred join", "categorical: ", f"pairs: {N}",
                     "coverage", "draft evalset", "next:", "sqltune evalset review shop", "sqltune tune shop",
                     "sqltune ask shop"):
        assert expected in out, (expected, out)
    code, out = _run("evalset", "review", "shop", "--accept", "nope")
    assert code == 1 and "error: Unknown case" in out


def test_informative_rejects_trivial_golds(tmp_path: Path) -> None:
    db = _duckdb(tmp_path / "shop.duckdb")
    assert informative('SELECT count(*) FROM sales."OrderHeader"', db)
    assert not informative('SELECT count(*) FROM sales."OrderHeader" WHERE "STATUS" = \'NONE\'', db)
    assert not informative('SELECT max("OrderDate") FROM sales."OrderHeader" WHERE "STATUS" = \'NONE\'', db)
    assert not informative('SELECT * FROM sales."OrderHeader" WHERE "STATUS" = \'NONE\'', db)
    assert not informative('SELECT * FROM sales.order_line', db, max_rows=100)
    assert not informative("SELECT nope FROM sales.order_line", db)
