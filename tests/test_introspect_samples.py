"""Introspection of the two samples, pinned against their ground truth and build records."""

from __future__ import annotations

import json

import duckdb
import pytest

from sqltune import samples, sandbox
from sqltune.introspect import introspect
from sqltune.schema import Schema


@pytest.fixture(scope="module", params=["cpg", "biotech"])
def sample(request: pytest.FixtureRequest) -> tuple[str, Schema, dict]:  # type: ignore[type-arg]
    name = request.param
    request.getfixturevalue(f"{name}_db")
    truth = samples.ground_truth(name)
    masks = [m["column"] for m in truth["masked_candidates"]]
    return name, introspect(f"sample:{name}", masks=masks), truth


def test_tables_and_columns_exactly_as_stored(sample) -> None:  # type: ignore[no-untyped-def]
    name, snap, _ = sample
    info = samples.sample_info(name)
    assert {str(tb.key) for tb in snap.tables} == set(info["tables"])
    assert {str(tb.key): tb.row_count for tb in snap.tables} == info["tables"]
    sandbox.close_all()
    with duckdb.connect(info["path"], read_only=True) as con:
        stored = set(con.execute("SELECT schema_name || '.' || table_name || '.' || column_name "
                                 "FROM duckdb_columns() WHERE NOT internal").fetchall())
    assert {(f"{tb.key}.{c.name}",) for tb, c in snap.iter_columns()} == stored
    assert any(c.name != c.name.lower() and c.name != c.name.upper() for _, c in snap.iter_columns()), \
        "the sample must keep mixed-case names"
    assert snap.sample_version == samples.SAMPLES[name].sample_version


def test_categorical_domains_match_the_documented_codes(sample) -> None:  # type: ignore[no-untyped-def]
    _, snap, truth = sample
    checked = 0
    for ref, codes in truth["code_values"].items():
        col = snap.column(ref)
        if col.masked:
            continue
        assert col.profile is not None and col.profile.values is not None, f"{ref} is not seen as categorical"
        assert col.profile.values_complete
        assert set(map(str, col.profile.values)) <= set(map(str, codes)), ref
        checked += 1
    assert checked >= 10


def test_masked_columns_leave_no_values(sample) -> None:  # type: ignore[no-untyped-def]
    name, snap, truth = sample
    blob = json.dumps(snap.to_dict())
    info = samples.sample_info(name)
    sandbox.close_all()
    personal = 0
    with duckdb.connect(info["path"], read_only=True) as con:
        for m in truth["masked_candidates"]:
            col = snap.column(m["column"])
            assert col.masked and col.profile.values is None and col.profile.examples == () and col.profile.min is None
            if m["kind"] not in ("name", "email", "dob"):  # codes like 'HIGH' may be other columns' values
                continue
            personal += 1
            schema, table, column = m["column"].split(".")
            values = con.execute(f'SELECT DISTINCT CAST("{column}" AS VARCHAR) FROM {schema}."{table}" '
                                 f'WHERE "{column}" IS NOT NULL AND length(CAST("{column}" AS VARCHAR)) > 3 '
                                 f'LIMIT 50').fetchall()
            for (value,) in values:
                assert json.dumps(value)[1:-1] not in blob, f"value {value!r} of masked {m['column']} leaked"
    assert personal >= 2


def test_descriptions_come_from_comments_and_dictionary(sample) -> None:  # type: ignore[no-untyped-def]
    _, snap, _ = sample
    assert all(tb.doc for tb in snap.tables)
    undocumented = [f"{tb.key}.{c.name}" for tb, c in snap.iter_columns() if not c.doc]
    assert not undocumented
    assert any(c.comment is None and c.description for _, c in snap.iter_columns()), \
        "some columns are documented only in the dictionary"
    assert snap.glossary


def test_snapshot_is_stable(sample) -> None:  # type: ignore[no-untyped-def]
    name, snap, truth = sample
    again = introspect(f"sample:{name}", masks=[m["column"] for m in truth["masked_candidates"]])
    assert again.fingerprint() == snap.fingerprint() and again.domain_hash() == snap.domain_hash()
    assert Schema.from_dict(json.loads(json.dumps(snap.to_dict()))) == snap
