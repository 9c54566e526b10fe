"""Test-suite accuracy: perturbed copies keep types, keys, joins, domains, ranges and NULLs; grading on them.

The cpg suite (k=5, seed 0, every cpg gold) is built once per session under SQLTUNE_HOME and reused
by tests/test_mutations.py and tests/test_report.py (same cache key, so the second build is a lookup).
"""

from __future__ import annotations

import functools
import os
import time
import typing as t
from pathlib import Path

import duckdb
import pytest

from sqltune import home, sandbox
from sqltune.evalset import EvalCase, load_evalset
from sqltune.grade import ComparisonPolicy, GoldError, Status
from sqltune.grade.suite import SuiteOptions, build_suite, grade_suite, suite_manifest
from sqltune.introspect import introspect
from sqltune.schema import Schema
from tests import shop


# ------------------------------------------------------------------------------- shared helpers
@functools.lru_cache(maxsize=None)
def cpg_schema(db: str) -> Schema:
    """The cpg snapshot, introspected once per session (kept as JSON under SQLTUNE_HOME)."""
    path = home.home() / "test-snapshots" / "cpg.json"
    if path.is_file():
        return Schema.load(path)
    sandbox.close_all()
    schema = introspect(db)
    schema.save(path)
    return schema


@functools.lru_cache(maxsize=None)
def cpg_suite(db: str) -> tuple[Path, ...]:
    """The default cpg suite: k=5, seed 0, guided by every gold of the shipped cpg evalset."""
    return tuple(build_suite(db, cpg_schema(db), k=5, seed=0, golds=load_evalset("cpg").cases))


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _ref(table: t.Any) -> str:
    return f"{_q(table.schema or 'main')}.{_q(table.name)}"


@pytest.fixture(scope="module")
def suite(cpg_db: Path) -> tuple[Path, ...]:
    return cpg_suite(str(cpg_db))


@pytest.fixture(scope="module")
def schema(cpg_db: Path) -> Schema:
    return cpg_schema(str(cpg_db))


@pytest.fixture(scope="module")
def con(cpg_db: Path, suite: tuple[Path, ...]) -> t.Iterator[duckdb.DuckDBPyConnection]:
    """One in-memory connection with the original attached as ``o`` and each copy as ``c0``…"""
    db = duckdb.connect()
    db.execute(f"ATTACH '{cpg_db}' AS o (READ_ONLY)")
    for i, path in enumerate(suite):
        db.execute(f"ATTACH '{path}' AS c{i} (READ_ONLY)")
    yield db
    db.close()


def _new_keys(schema: Schema) -> set[tuple[str, str]]:
    """Columns that get fresh values on duplicated rows (keys, unique and referenced columns), and the
    foreign keys that may point at such fresh parent keys."""
    out = {(str(tb.key), c.name) for tb in schema.tables for c in tb.columns if c.primary_key or c.unique}
    out |= {(str(j.to_table), c) for j in schema.joins for c in j.to_columns}
    out |= {(str(j.from_table), c) for j in schema.joins for c in j.from_columns}
    return out


# ------------------------------------------------------------------------------- the cpg suite
def test_suite_is_cached_small_and_complete(cpg_db: Path, schema: Schema, suite: tuple[Path, ...]) -> None:
    assert len(suite) == 5 and all(p.is_file() for p in suite)
    assert suite[0].parent.parent == home.home() / "suites"
    mtimes = [p.stat().st_mtime_ns for p in suite]
    start = time.perf_counter()
    again = build_suite(cpg_db, schema, k=5, seed=0, golds=load_evalset("cpg").cases)
    assert tuple(again) == suite and [p.stat().st_mtime_ns for p in again] == mtimes  # a lookup, not a rebuild
    assert time.perf_counter() - start < 5
    manifest = suite_manifest(suite)
    assert manifest["k"] == 5 and manifest["golds"] == 152
    assert not list(suite[0].parent.glob("*.try*")) and not list(suite[0].parent.glob("*.wal"))
    for info in manifest["copies"]:
        assert max(info["rows"].values()) <= 8000, info["rows"]  # small: a few thousand rows per table
        assert info["golds_nonempty"] >= 145  # golds keep returning rows (HAVING count > 700 cannot)
        assert not info["broken_golds"] or len(info["broken_golds"]) <= 2


def test_copies_keep_types_and_tables(con: duckdb.DuckDBPyConnection, schema: Schema) -> None:
    sql = ("SELECT schema_name, table_name, column_name, data_type FROM duckdb_columns() WHERE database_name = '{}' "
           "ORDER BY ALL")  # fmt: skip
    original = con.execute(sql.format("o")).fetchall()
    assert len(original) > 100
    for i in range(5):
        assert con.execute(sql.format(f"c{i}")).fetchall() == original


def test_primary_keys_unique_and_joins_intact(con: duckdb.DuckDBPyConnection, schema: Schema) -> None:
    for i in range(5):
        for tb in schema.tables:
            if tb.primary_key:
                keys = ", ".join(_q(c) for c in tb.primary_key)
                n, distinct = con.execute(f"SELECT count(*), count(DISTINCT ({keys})) FROM c{i}.{_ref(tb)}").fetchone()
                assert n == distinct > 0, (i, tb.key)
        for j in schema.joins:  # declared and inferred: a child value absent from the parent copy must be an
            child, parent = schema.table(j.from_table), schema.table(j.to_table)  # orphan in the original too
            on = " AND ".join(f"p.{_q(b)} = x.{_q(a)}" for a, b in zip(j.from_columns, j.to_columns))
            op = " AND ".join(f"op.{_q(b)} = x.{_q(a)}" for a, b in zip(j.from_columns, j.to_columns))
            present = " AND ".join(f"x.{_q(a)} IS NOT NULL" for a in j.from_columns)
            dangling = con.execute(
                f"SELECT count(*) FROM c{i}.{_ref(child)} x WHERE {present} AND NOT EXISTS "
                f"(SELECT 1 FROM c{i}.{_ref(parent)} p WHERE {on}) AND EXISTS (SELECT 1 FROM o.{_ref(parent)} op WHERE {op})"
            ).fetchone()[0]  # fmt: skip
            assert dangling == 0, (i, str(j))


def test_domains_ranges_and_nulls_are_kept(con: duckdb.DuckDBPyConnection, schema: Schema) -> None:
    fresh = _new_keys(schema)
    for tb in schema.tables:
        for col in tb.columns:
            prof, c = col.profile, _q(col.name)
            if (str(tb.key), col.name) in fresh or prof is None:
                continue
            for i in range(5):
                rel = f"c{i}.{_ref(tb)}"
                if not col.nullable:
                    assert con.execute(f"SELECT count(*) FROM {rel} WHERE {c} IS NULL").fetchone()[0] == 0
                if prof.values is not None and prof.values_complete and not col.masked:
                    values = {v for (v,) in con.execute(f"SELECT DISTINCT {c} FROM {rel} WHERE {c} IS NOT NULL")
                              .fetchall()}  # fmt: skip
                    assert values <= set(prof.values), (tb.key, col.name, values - set(prof.values))
                if col.type in ("integer", "decimal", "float", "date", "timestamp"):
                    lo, hi = con.execute(f"SELECT min({c}), max({c}) FROM o.{_ref(tb)}").fetchone()
                    out = con.execute(f"SELECT count(*) FROM {rel} WHERE {c} < (SELECT min({c}) FROM o.{_ref(tb)}) "
                                      f"OR {c} > (SELECT max({c}) FROM o.{_ref(tb)})").fetchone()[0]  # fmt: skip
                    assert out == 0, (tb.key, col.name, lo, hi)
                n, nulls = con.execute(f"SELECT count(*), count(*) FILTER (WHERE {c} IS NULL) FROM {rel}").fetchone()
                if n >= 300 and prof.null_fraction is not None:
                    assert abs(nulls / n - prof.null_fraction) <= 0.12, (i, tb.key, col.name, nulls / n)


def test_copies_are_perturbed_but_keep_row_invariants(con: duckdb.DuckDBPyConnection) -> None:
    for i in range(5):
        changed, dups = con.execute(
            f"SELECT count(*) FILTER (WHERE o.LINE_ID IS NULL OR o.QTY <> c.QTY OR o.LINE_AMT IS DISTINCT FROM c.LINE_AMT"
            f" OR o.\"OrderId\" <> c.\"OrderId\"), count(*) FILTER (WHERE o.LINE_ID IS NULL) "
            f"FROM c{i}.sales.ORDER_LINE c LEFT JOIN o.sales.ORDER_LINE o USING (LINE_ID)"
        ).fetchone()  # fmt: skip
        assert changed >= 100 and dups >= 10, (i, changed, dups)
        # an arithmetic triple moves together: LINE_AMT = QTY * NET_PRC still holds on every line
        assert con.execute(f"SELECT count(*) FROM c{i}.sales.ORDER_LINE WHERE abs(LINE_AMT - QTY * NET_PRC) > 0.011"
                           ).fetchone()[0] == 0  # fmt: skip
        # columns derived from a key date are frozen: the calendar stays a calendar
        assert con.execute(f"SELECT count(*) FROM c{i}.main.DIM_DATE WHERE CAL_DT <= DATE '2025-12-31' AND "
                           "(DOW_NM <> strftime(CAL_DT, '%a') OR CAL_MTH <> month(CAL_DT))").fetchone()[0] == 0  # fmt: skip
    a = set(con.execute("SELECT LINE_ID, QTY FROM c0.sales.ORDER_LINE").fetchall())
    b = set(con.execute("SELECT LINE_ID, QTY FROM c1.sales.ORDER_LINE").fetchall())
    assert len(a & b) < 0.5 * min(len(a), len(b))  # copies differ from each other


def test_golds_and_their_alternatives_pass_on_every_copy(cpg_db: Path, suite: tuple[Path, ...]) -> None:
    es = load_evalset("cpg")
    cache: dict[t.Any, t.Any] = {}
    cases = [c for n, c in enumerate(es.cases) if n % 10 == 0 or len(c.gold_sql) > 1]
    for case in cases:
        for gold in case.gold_sql:  # every acceptable gold, graded as a prediction: no false rejection
            v = grade_suite(gold, case, cpg_db, suite, es.policy, gold_cache=cache)
            assert v.correct, (case.id, gold, v.reason)
            assert v.copies_checked + len(v.skipped) == 5


# --------------------------------------------------------------------------- small, exact tests
@pytest.fixture(scope="module")
def shop_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Schema]:
    path = tmp_path_factory.mktemp("shop") / "shop.duckdb"
    con = duckdb.connect(str(path))
    for stmt in shop.ddl("sales", comments=False):
        con.execute(stmt)
    for stmt, rows in shop.inserts("sales"):  # one multi-row INSERT per table (executemany is slow)
        head, marks = stmt.split(" VALUES ")
        con.execute(f"{head} VALUES " + ", ".join([marks] * len(rows)), [v for row in rows for v in row])
    con.close()
    return path, introspect(path)


SHOP_GOLDS = (
    "SELECT count(*) FROM sales.\"OrderHeader\" WHERE \"STATUS\" = 'OPEN' AND \"OrderDate\" <= DATE '2024-06-30'",
    "SELECT c.\"Segment\", sum(l.amount) FROM sales.order_line l JOIN sales.\"OrderHeader\" h USING (\"OrderId\") "
    "JOIN sales.\"Customer\" c ON c.cust_id = h.cust_id GROUP BY 1",
)


def test_build_is_deterministic_cached_and_atomic(shop_db: tuple[Path, Schema], tmp_path: Path) -> None:
    db, schema = shop_db
    opts = SuiteOptions(cap=100)
    a = build_suite(db, schema, k=2, seed=3, golds=SHOP_GOLDS, options=opts, root=tmp_path / "a")
    b = build_suite(db, schema, k=2, seed=3, golds=SHOP_GOLDS, options=opts, root=tmp_path / "b")
    other = build_suite(db, schema, k=2, seed=4, golds=SHOP_GOLDS, options=opts, root=tmp_path / "a")
    assert [p.name for p in a] == ["copy_0.duckdb", "copy_1.duckdb"] and a[0].parent != other[0].parent

    def dump(path: Path) -> list[t.Any]:
        with duckdb.connect(str(path), read_only=True) as con:
            return [con.execute(f"SELECT * FROM sales.{_q(n)} ORDER BY ALL").fetchall()
                    for n in ("Customer", "OrderHeader", "order_line", "product")]  # fmt: skip

    assert dump(a[0]) == dump(b[0]) and dump(a[1]) == dump(b[1])  # same inputs, same bytes of data
    assert dump(a[0]) != dump(a[1]) and dump(a[0]) != dump(other[0])
    assert sorted(p.name for p in (tmp_path / "a").iterdir() if p.name.startswith(".")) == []
    manifest = suite_manifest(a[0].parent)
    assert manifest["golds_nonempty"] == [2, 2] and manifest["seed"] == 3
    rebuilt = build_suite(db, schema, k=2, seed=3, golds=SHOP_GOLDS, options=opts, root=tmp_path / "a", force=True)
    assert rebuilt == a and dump(rebuilt[0]) == dump(b[0])


def test_copies_follow_declared_and_inferred_joins(shop_db: tuple[Path, Schema], tmp_path: Path) -> None:
    db, schema = shop_db
    assert any(j.source == "inferred" for j in schema.joins)
    copies = build_suite(db, schema, k=3, seed=0, options=SuiteOptions(cap=120, fk_rate=0.5), root=tmp_path)
    for path in copies:
        with duckdb.connect(str(path), read_only=True) as con:
            for j in schema.joins:
                child, parent = schema.table(j.from_table), schema.table(j.to_table)
                (a,), (b,) = j.from_columns, j.to_columns
                missing = con.execute(f"SELECT count(*) FROM {_ref(child)} WHERE {_q(a)} IS NOT NULL AND {_q(a)} NOT IN "
                                      f"(SELECT {_q(b)} FROM {_ref(parent)})").fetchone()[0]  # fmt: skip
                assert missing == 0, (path.name, str(j))
            lines = con.execute("SELECT count(*) FROM sales.order_line").fetchone()[0]
            assert 40 <= lines <= 160  # cap 120, kept 50-90 %, plus duplicates


def test_witnesses_keep_selective_golds_nonempty(shop_db: tuple[Path, Schema], tmp_path: Path) -> None:
    db, schema = shop_db
    golds = ["SELECT l.qty, h.\"CHNL_CD\" FROM sales.order_line l JOIN sales.\"OrderHeader\" h USING (\"OrderId\") "
             "WHERE l.line_id = 417", "SELECT count(*) FROM sales.product WHERE \"SKU_NBR\" = 'SKU-0007'"]
    copies = build_suite(db, schema, k=3, seed=0, golds=golds, options=SuiteOptions(cap=20), root=tmp_path)
    manifest = suite_manifest(copies)
    assert manifest["golds_nonempty"] == [2, 2, 2]
    assert manifest["copies"][0]["attempts"] == 2 and manifest["copies"][2]["attempts"] == 1  # witnesses learnt once
    expected = sandbox.execute(db, golds[0]).rows
    for path in copies:  # the anchored line and its order keep their values
        assert sandbox.execute(path, golds[0]).rows == expected
    with pytest.raises(Exception, match="Invalid suite options"):
        SuiteOptions(cell_rate=1.5)


def test_grade_suite_catches_a_lucky_query(shop_db: tuple[Path, Schema], tmp_path: Path) -> None:
    db, schema = shop_db
    gold = SHOP_GOLDS[0]
    with duckdb.connect(str(db), read_only=True) as con:
        (n,) = con.execute(gold).fetchone()
    lucky = f"SELECT {n}"  # the right number, for the wrong reason
    copies = build_suite(db, schema, k=3, seed=0, golds=[gold], options=SuiteOptions(cap=150), root=tmp_path)
    v = grade_suite(lucky, gold, db, copies)
    assert v.original.status is Status.CORRECT and not v.correct and v.failed_copy is not None
    assert v.reason.startswith(f"copy {v.failed_copy}: WRONG_RESULT")
    ok = grade_suite(gold.replace("<= DATE '2024-06-30'", "< DATE '2024-07-01'"), gold, db, copies)
    assert ok.correct and ok.copies_checked == 3 and ok.reason == "match on the original and 3 copies"
    bad = grade_suite("SELECT nope FROM sales.product", gold, db, copies)
    assert not bad.correct and bad.copies == (None, None, None) and bad.original.label == "EXEC_ERROR:UNKNOWN_COLUMN"
    assert grade_suite(None, gold, db, copies).original.status is Status.EMPTY


def test_a_copy_where_the_gold_breaks_is_skipped(shop_db: tuple[Path, Schema], tmp_path: Path) -> None:
    db, _ = shop_db
    broken = tmp_path / "broken.duckdb"
    duckdb.connect(str(broken)).execute("CREATE TABLE unrelated (x INTEGER)").close()
    case = EvalCase("s1", "How many products?", ("SELECT count(*) FROM sales.product",))
    v = grade_suite("SELECT count(*) FROM sales.product", case, db, [broken], ComparisonPolicy())
    assert v.correct and v.skipped == (0,) and "1 skipped" in v.reason
    with pytest.raises(GoldError, match="s1"):  # a gold broken on the original is the evalset's problem
        grade_suite("SELECT 1", EvalCase("s1", "?", ("SELECT nope FROM sales.product",)), db, [broken])


def test_build_suite_rejects_bad_arguments(shop_db: tuple[Path, Schema], tmp_path: Path) -> None:
    db, schema = shop_db
    with pytest.raises(ValueError, match="k must be"):
        build_suite(db, schema, k=0, root=tmp_path)
    with pytest.raises(FileNotFoundError):
        build_suite(tmp_path / "nope.duckdb", schema, root=tmp_path)
    assert os.listdir(tmp_path) == []
