"""The grader: data-driven pred/gold fixtures (tests/fixtures/grade/*.sql) plus unit tests."""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import decimal
import itertools
import json
import re
import typing as t
from pathlib import Path

import duckdb
import pytest

from sqltune import sandbox
from sqltune.errors import ConfigError, SqltuneError
from sqltune.grade import (
    ComparisonPolicy,
    EvalCase,
    Expected,
    GoldError,
    Segment,
    Status,
    Subtype,
    Verdict,
    compare,
    grade,
)
from sqltune.grade.compare import match_count
from sqltune.grade.verdict import error_subtype

FIXTURES = Path(__file__).parent / "fixtures" / "grade"
_LABELS = {s.value for s in Status if s is not Status.EXEC_ERROR} | {f"EXEC_ERROR:{s.value}" for s in Subtype}


@dataclasses.dataclass(frozen=True)
class Fixture:
    file: str
    line: int
    title: str
    expect: str
    golds: tuple[str, ...]
    pred: str
    lenient: bool | None = None
    reason: str | None = None
    gold_index: int | None = None
    timeout: float = 5.0

    @property
    def id(self) -> str:
        return f"{Path(self.file).stem}:{self.line}:{self.title}"


def load_fixtures(path: Path) -> list[Fixture]:
    """Parse one fixture file (format documented at the top of rows.sql)."""
    out: list[Fixture] = []
    block: dict[str, t.Any] | None = None
    section: list[str] | None = None

    def close() -> None:
        if block is None:
            return
        golds = tuple(_sql(g) for g in block["golds"])
        assert golds and all(golds), f"{path.name}:{block['line']}: a block needs non-empty -- gold: SQL"
        assert "pred" in block, f"{path.name}:{block['line']}: a block needs -- pred:"
        assert block.get("expect") in _LABELS, f"{path.name}:{block['line']}: bad expect {block.get('expect')!r}"
        out.append(Fixture(path.name, block["line"], block["title"], block["expect"], golds, _sql(block["pred"]),
                           block.get("lenient"), block.get("reason"), block.get("gold_index"),
                           block.get("timeout", 5.0)))  # fmt: skip

    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith("-- title:"):
            close()
            block, section = {"title": line.split(":", 1)[1].strip(), "line": n, "golds": []}, None
            continue
        if block is None:
            continue
        if line.strip() == "-- gold:":
            section = []
            block["golds"].append(section)
        elif line.strip() == "-- pred:":
            section = block["pred"] = []
        elif section is None and (m := re.match(r"^-- (\w+):\s*(.*)$", line)):
            key, value = m.groups()
            assert key in ("expect", "lenient", "reason", "gold_index", "timeout"), f"{path.name}:{n}: {key}"
            block[key] = {"lenient": lambda v: v == "true", "gold_index": int, "timeout": float}.get(key, str)(value)
        elif section is not None:
            section.append(line)
    close()
    return out


def _sql(lines: list[str]) -> str:
    return "\n".join(lines).strip().removesuffix(";").strip()


ALL = [fx for p in sorted(FIXTURES.glob("*.sql")) if not p.name.startswith("_") for fx in load_fixtures(p)]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("grade") / "fixture.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute((FIXTURES / "_db.sql").read_text(encoding="utf-8"))
    return path


@pytest.fixture(scope="module")
def gold_cache() -> dict[t.Any, t.Any]:
    return {}


# ---------------------------------------------------------------------------------- fixtures
def test_fixture_corpus_covers_every_outcome() -> None:
    assert len(ALL) >= 40
    labels = collections.Counter(fx.expect for fx in ALL)
    assert set(labels) == _LABELS, f"uncovered: {_LABELS - set(labels)}"
    assert labels["CORRECT"] >= 15 and labels["WRONG_RESULT"] >= 15
    assert len({fx.id for fx in ALL}) == len(ALL)


@pytest.mark.parametrize("fx", ALL, ids=lambda fx: fx.id)
def test_fixture(fx: Fixture, db: Path, gold_cache: dict[t.Any, t.Any]) -> None:
    v = grade(fx.pred, EvalCase(fx.id, fx.title, fx.golds), db, gold_cache=gold_cache, timeout_s=fx.timeout)
    assert v.label == fx.expect, f"{fx.id}: {v.label} ({v.reason})"
    assert v.case_id == fx.id and v.policy_version == ComparisonPolicy().label
    assert v.strict == (fx.expect == "CORRECT")
    if v.strict:
        assert v.lenient and v.reason == "match" and v.gold_index is not None
    if fx.lenient is not None:
        assert v.lenient == fx.lenient, v.reason
    if fx.reason is not None:
        assert fx.reason in v.reason, v.reason
    if fx.gold_index is not None:
        assert v.gold_index == fx.gold_index
    assert v.pred_s >= 0 and v.gold_s >= 0 and v.compare_s >= 0
    json.dumps(v.to_dict())


@pytest.mark.parametrize("fx", ALL, ids=lambda fx: fx.id)
def test_every_gold_grades_correct_against_itself(fx: Fixture, db: Path, gold_cache: dict[t.Any, t.Any]) -> None:
    for index, gold in enumerate(fx.golds):
        v = grade(gold, EvalCase(fx.id, fx.title, fx.golds), db, gold_cache=gold_cache)
        assert v.status is Status.CORRECT, f"gold {index}: {v.reason}"


# ---------------------------------------------------------------------------------- grading
def test_broken_gold_raises_naming_the_case(db: Path) -> None:
    with pytest.raises(GoldError, match="case 'q7'.*BinderException"):
        grade("SELECT 1", EvalCase("q7", "?", ("SELECT nope FROM customers",)), db)
    with pytest.raises(GoldError, match="case 'q8' does not parse"):
        grade("SELECT 1", EvalCase("q8", "?", ("SELECT FROM WHERE (",)), db)
    assert issubclass(GoldError, SqltuneError)


def test_gold_over_the_row_cap_is_an_evalset_error(db: Path) -> None:
    with pytest.raises(GoldError, match="more than 3 rows"):
        grade("SELECT 1", EvalCase("big", "?", ("SELECT id FROM orders",)), db, row_cap=3)


def test_prediction_over_the_row_cap_is_wrong(db: Path) -> None:
    v = grade("SELECT id FROM orders", "SELECT id FROM orders LIMIT 2", db, row_cap=3)
    assert v.status is Status.WRONG_RESULT and "more than 3 rows" in v.reason


def test_gold_executions_are_cached(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = sandbox.execute

    def spy(db_: t.Any, sql: str, **kw: t.Any) -> sandbox.Execution:
        calls.append(sql)
        return real(db_, sql, **kw)

    monkeypatch.setattr(sandbox, "execute", spy)
    cache: dict[t.Any, t.Any] = {}
    gold = "SELECT player FROM scores ORDER BY points DESC LIMIT 3"
    for pred in ("SELECT 'ann'", "SELECT 'bob'", "SELECT 'cat'"):
        grade(pred, gold, db, gold_cache=cache)
    assert calls.count(gold) == 1
    assert len(calls) == 3 + 2  # three predictions, the gold once, its re-run without LIMIT once
    assert (str(db.resolve()), gold) in cache


def test_policy_from_the_caller_is_recorded_and_applied(db: Path) -> None:
    loose = ComparisonPolicy(rel_tol=1e-3)
    v = grade("SELECT sum(weight) * 1.0001 FROM orders", "SELECT sum(weight) FROM orders", db, loose)
    assert v.correct and v.policy_version == "1.0+rel_tol=0.001"
    strict_ties = ComparisonPolicy(limit_ties=False)
    gold = "SELECT player FROM scores ORDER BY points DESC LIMIT 3"
    tie_choice = "SELECT player FROM scores ORDER BY points DESC, player DESC LIMIT 3"
    assert grade(tie_choice, gold, db).correct
    assert not grade(tie_choice, gold, db, strict_ties).correct


def test_a_gold_string_or_list_is_a_case(db: Path) -> None:
    assert grade("SELECT 1", "SELECT 1", db).correct
    assert grade("SELECT 2", ["SELECT 1", "SELECT 2"], db).gold_index == 1
    assert grade(None, "SELECT 1", db).status is Status.EMPTY


def test_verdict_is_frozen_and_serialisable() -> None:
    v = Verdict(Status.EXEC_ERROR, subtype=Subtype.TYPE, reason="x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.reason = "y"  # type: ignore[misc]
    assert v.label == "EXEC_ERROR:TYPE" and v.to_dict()["subtype"] == "TYPE"


@pytest.mark.parametrize(
    ("cls", "message", "subtype"),
    [
        ("ParserException", 'Parser Error: syntax error at or near "SELEC"', Subtype.SYNTAX),
        ("CatalogException", "Catalog Error: Table with name nope does not exist!", Subtype.UNKNOWN_TABLE),
        ("CatalogException", 'Table with name "x.t" does not exist because schema "x" does not exist.',
         Subtype.UNKNOWN_TABLE),
        ("BinderException", 'Binder Error: Referenced table "z" not found!', Subtype.UNKNOWN_TABLE),
        ("BinderException", 'Binder Error: Referenced column "nope" not found in FROM clause!', Subtype.UNKNOWN_COLUMN),
        ("BinderException", 'Values list "v" does not have a column named "q"', Subtype.UNKNOWN_COLUMN),
        ("ConversionException", "Conversion Error: Could not convert string 'x' to INT32", Subtype.TYPE),
        ("BinderException", "No function matches the given name and argument types 'length(INTEGER)'", Subtype.TYPE),
        ("BinderException", "Cannot compare values of type VARCHAR and type INTEGER", Subtype.TYPE),
        ("CatalogException", "Scalar Function with name nofunc does not exist!", Subtype.OTHER),
        ("BinderException", 'column "id" must appear in the GROUP BY clause', Subtype.OTHER),
        ("ResultTooLarge", "The first 64 rows take more than 10 bytes.", Subtype.OTHER),
    ],
)
def test_error_subtypes(cls: str, message: str, subtype: Subtype) -> None:
    assert error_subtype(cls, message) is subtype


# ---------------------------------------------------------------------------------- compare
def test_policy_rejects_unknown_and_bad_values() -> None:
    with pytest.raises(ConfigError, match="Did you mean 'abs_tol'"):
        ComparisonPolicy.from_dict({"abs_tolerance": 0.1})
    with pytest.raises(ConfigError, match="version"):
        ComparisonPolicy.from_dict({"version": "9.9"})
    with pytest.raises(ConfigError, match="rel_tol"):
        ComparisonPolicy(rel_tol=-1)
    with pytest.raises(ConfigError, match="limit_ties"):
        ComparisonPolicy.from_dict({"limit_ties": "yes"})
    assert ComparisonPolicy.from_dict({"version": 1.0}).label == "1.0"
    assert ComparisonPolicy.from_dict(ComparisonPolicy().to_dict()) == ComparisonPolicy()


def test_value_rules() -> None:
    p = ComparisonPolicy()
    eq = lambda a, b: p.equal(p.canon(a), p.canon(b))  # noqa: E731
    assert eq(1, 1.0) and eq(1, decimal.Decimal("1.00")) and eq(decimal.Decimal("0.3"), 0.1 + 0.2)
    assert not eq(1, True) and not eq("1", 1) and not eq(None, 0) and eq(None, None)
    assert eq(float("nan"), float("nan")) and not eq(float("nan"), 0.0)
    assert eq(float("inf"), float("inf")) and not eq(float("inf"), float("-inf"))
    assert eq(dt.date(2024, 1, 1), dt.datetime(2024, 1, 1)) and not eq(dt.date(2024, 1, 1), dt.datetime(2024, 1, 1, 1))
    utc2 = dt.timezone(dt.timedelta(hours=2))
    assert eq(dt.datetime(2024, 1, 1, 2, tzinfo=utc2), dt.datetime(2024, 1, 1, 0, tzinfo=dt.timezone.utc))
    assert eq([1, 2.0000000001], [1, 2]) and not eq([1, 2], [2, 1]) and eq({"a": 1}, {"a": 1.0})
    assert not eq({"a": 1}, {"b": 1})
    assert not eq(10**8, 10**8 + 1) and eq(10.0**8, 10.0**8 + 1)  # relative tolerance for floats only
    off = ComparisonPolicy(nan_equals_nan=False, date_equals_midnight=False)
    assert not off.equal(off.canon(float("nan")), off.canon(float("nan")))
    assert not off.equal(off.canon(dt.date(2024, 1, 1)), off.canon(dt.datetime(2024, 1, 1)))


def test_duplicates_count_in_both_directions() -> None:
    exp = Expected.unordered(("a",), [(1,), (1,), (2,)])
    assert not compare(("a",), [(1,), (2,), (2,)], exp).strict
    assert compare(("a",), [(2,), (1,), (1,)], exp).strict


def test_fuzzy_matching_finds_the_maximum_matching() -> None:
    # Greedy pairing of 1.0 with 1.0000001 would strand 1.0000002; a maximum matching pairs all.
    policy = ComparisonPolicy(rel_tol=1.5e-7)
    left = collections.Counter([(1.0,), (1.0000001,)])
    right = collections.Counter([(1.0000001 + 5e-8,), (0.99999995,)])
    assert match_count(left, right, policy) == 2


def test_many_float_rows_match_quickly() -> None:
    rows = [(i, i * 0.1) for i in range(3000)]
    noisy = [(i, sum([0.1] * 10) * i / 10) for i in reversed(range(3000))]
    assert compare(("i", "x"), noisy, Expected.unordered(("i", "x"), rows)).strict


def test_ambiguous_columns_need_backtracking() -> None:
    # Every column holds {1, 2, 3}; only one of the 6 maps pairs the rows right.
    gold = [(1, 1, 2), (2, 3, 3), (3, 2, 1)]
    perms = itertools.permutations(range(3))
    valid = [p for p in perms if sorted(tuple(r[i] for i in p) for r in gold) == sorted(gold)]
    assert valid == [(0, 1, 2)]
    pred = [(r[2], r[0], r[1]) for r in gold]
    result = compare(("x", "y", "z"), pred, Expected.unordered(("a", "b", "c"), gold))
    assert result.strict and result.mapping == (1, 2, 0)
    assert not compare(("x", "y", "z"), [(r[0], r[2], r[1]) for r in gold[:2]] + [gold[2]],
                       Expected.unordered(("a", "b", "c"), gold)).lenient


def test_empty_results_and_column_counts() -> None:
    empty = Expected.unordered(("a", "b"), [])
    assert compare(("x", "y"), [], empty).strict
    wider = compare(("x", "y", "z"), [], empty)
    assert not wider.strict and wider.lenient
    assert not compare(("x",), [], empty).lenient


def test_partial_segments_accept_any_choice() -> None:
    # ORDER BY k LIMIT 2 over k = 1, 2, 2, 2: row 'a' first, then any one of the k = 2 rows.
    exp = Expected(("v",), (("a",), ("b",)), (Segment((("a",),), 1), Segment((("b",), ("c",), ("d",)), 1)), True)
    assert compare(("v",), [("a",), ("d",)], exp).strict
    assert compare(("v",), [("d",), ("a",)], exp).reason == "order differs at row 1"
    assert not compare(("v",), [("a",), ("e",)], exp).strict
