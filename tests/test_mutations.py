"""Mutation corpus: wrong variants of cpg golds (tests/fixtures/mutations/cpg.yaml), graded by EX and TS.

EX (the database alone) must reject most mutants; TS (the database and its perturbed copies) must
reject every mutant EX rejects and strictly more, the *lucky* ones that return the gold's rows on
the shipped data by coincidence; and neither may reject an equivalent rewrite.
"""

from __future__ import annotations

import collections
import typing as t
from pathlib import Path

import pytest
import yaml

from sqltune.evalset import load_evalset
from sqltune.grade.suite import grade_suite
from tests.test_suite_accuracy import cpg_suite

FIXTURE = Path(__file__).parent / "fixtures" / "mutations" / "cpg.yaml"
MUTANTS: list[dict[str, t.Any]] = yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))["mutants"]


def test_fixture_is_well_formed() -> None:
    ids = {c.id for c in load_evalset("cpg").cases}
    seen = set()
    for m in MUTANTS:
        assert set(m) <= {"case", "kind", "sql", "note"} and m["case"] in ids, m
        assert (m["case"], m["sql"]) not in seen, m
        seen.add((m["case"], m["sql"]))
    kinds = collections.Counter(m["kind"] for m in MUTANTS)
    assert len(kinds) >= 12 and kinds["equivalent"] >= 10 and sum(kinds.values()) - kinds["equivalent"] >= 60


@pytest.fixture(scope="module")
def graded(cpg_db: Path) -> list[tuple[dict[str, t.Any], bool, bool]]:
    """``(mutant, rejected by EX, rejected by TS)`` for every entry."""
    es = load_evalset("cpg")
    suite = cpg_suite(str(cpg_db))
    cache: dict[t.Any, t.Any] = {}
    out = []
    for m in MUTANTS:
        v = grade_suite(m["sql"], es.case(m["case"]), cpg_db, suite, es.policy, gold_cache=cache)
        out.append((m, not v.original.correct, not v.correct))
    return out


def _table(rows: list[tuple[dict[str, t.Any], bool, bool]]) -> str:
    by_kind: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0, 0])
    for m, ex, ts in rows:
        counts = by_kind[m["kind"]]
        counts[0] += 1
        counts[1] += ex
        counts[2] += ts
    lines = [f"{'mutation':<18} {'n':>3} {'EX rejects':>10} {'TS rejects':>10}"]
    for kind, (n, ex, ts) in sorted(by_kind.items(), key=lambda kv: (kv[0] == "equivalent", kv[0])):
        lines.append(f"{kind:<18} {n:>3} {ex:>10} {ts:>10}")
    mutants = [r for r in rows if r[0]["kind"] != "equivalent"]
    lines.append(f"{'all mutants':<18} {len(mutants):>3} {sum(r[1] for r in mutants):>10} "
                 f"{sum(r[2] for r in mutants):>10}")  # fmt: skip
    return "\n".join(lines)


def test_ts_rejects_strictly_more_mutants_than_ex(graded: list[tuple[dict[str, t.Any], bool, bool]]) -> None:
    print("\n" + _table(graded))
    mutants = [(m, ex, ts) for m, ex, ts in graded if m["kind"] != "equivalent"]
    ex_rejected = sum(ex for _, ex, _ in mutants)
    ts_rejected = sum(ts for _, _, ts in mutants)
    assert all(ts for _, ex, ts in mutants if ex)  # TS grades on the original too: never laxer than EX
    assert ex_rejected >= 0.55 * len(mutants)  # EX alone already rejects most mutants …
    assert ts_rejected >= ex_rejected + 10  # … and TS catches at least 10 lucky ones more
    assert ts_rejected >= 0.75 * len(mutants)
    lucky_caught = {m["kind"] for m, ex, ts in mutants if ts and not ex}
    assert {"lt_for_lte", "dropped_filter", "count_distinct", "wrong_code"} <= lucky_caught


def test_equivalent_rewrites_are_accepted(graded: list[tuple[dict[str, t.Any], bool, bool]]) -> None:
    wrongly = [(m["case"], m["sql"], ex, ts) for m, ex, ts in graded if m["kind"] == "equivalent" and (ex or ts)]
    assert wrongly == []
