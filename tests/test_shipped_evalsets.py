"""The shipped, hand-written evalsets: tier counts, validation against their samples, self-grading."""

from __future__ import annotations

import collections

import pytest

from sqltune.difficulty import measure
from sqltune.evalset import load_evalset, validate_evalset
from sqltune.grade import grade, invented_identifiers
from sqltune.samples import SAMPLES
from sqltune.targets import resolve_target


@pytest.fixture(scope="module", params=["cpg", "biotech"])
def shipped(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    ev = load_evalset(request.param)
    request.getfixturevalue(f"{ev.sample}_db")
    db, schema = resolve_target(sample=ev.sample)
    return ev, db, schema


def test_tiers_and_size(shipped) -> None:  # type: ignore[no-untyped-def]
    ev, _, _ = shipped
    tiers = collections.Counter(measure(c.gold_sql[0]).tier for c in ev)
    assert tiers == {"easy": 50, "medium": 50, "hard": 50}
    assert all(c.difficulty == measure(c.gold_sql[0]).tier for c in ev)
    assert sum("schema-trap" in c.tags for c in ev) >= 10
    assert ev.sample_version == SAMPLES[ev.sample].sample_version and ev.reference_date


def test_validates_against_its_sample(shipped) -> None:  # type: ignore[no-untyped-def]
    ev, db, schema = shipped
    report = validate_evalset(ev, db, schema=schema)
    assert report.ok, report.summary()
    assert not report.warnings, report.summary()


def test_every_gold_grades_correct_against_itself_with_no_invented_identifiers(shipped) -> None:  # type: ignore[no-untyped-def]
    ev, db, schema = shipped
    cache: dict = {}  # type: ignore[type-arg]
    for case in ev:
        for gold in case.gold_sql:
            verdict = grade(gold, case, db, ev.policy, gold_cache=cache)
            assert verdict.correct, (case.id, verdict.reason)
            assert invented_identifiers(gold, schema).clean, case.id
