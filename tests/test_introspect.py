"""Introspection of the same small 'shop' database on DuckDB, SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import duckdb
import pytest

from sqltune import sandbox
from sqltune.introspect import introspect
from sqltune.schema import Schema
from tests import shop


def _sqlite(path: Path) -> Path:
    con = sqlite3.connect(path)
    for stmt in shop.ddl(None, comments=False):
        con.execute(stmt)
    for stmt, rows in shop.inserts(None):
        con.executemany(stmt, rows)
    con.commit()
    con.close()
    return path


def _duckdb(path: Path) -> Path:
    con = duckdb.connect(str(path))
    for stmt in shop.ddl("sales", comments=True):
        con.execute(stmt)
    for stmt, rows in shop.inserts("sales"):
        con.executemany(stmt, rows) if "misc" not in stmt else con.executemany(stmt, rows)
    con.close()
    return path


def _postgres(make_db) -> str:  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    url = make_db("sqltune_shop", ";\n".join(shop.ddl("sales", comments=True)))
    eng = sa.create_engine(url)
    with eng.begin() as conn:
        for stmt, rows in shop.inserts("sales", placeholder="%s"):
            conn.exec_driver_sql(stmt, rows)
    eng.dispose()
    return url


@pytest.fixture(params=["duckdb", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shop_source(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str, str, str]:
    """(source, schema prefix of the shop tables, default schema, backend)."""
    if request.param == "duckdb":
        return str(_duckdb(tmp_path / "shop.duckdb")), "sales", "main", "duckdb"
    if request.param == "sqlite":
        return str(_sqlite(tmp_path / "shop.sqlite")), "main", "main", "sqlite"
    url = _postgres(request.getfixturevalue("pg_database"))
    if "@" in url and ":" not in url.split("://", 1)[1].split("@", 1)[0]:  # trust auth: any password works
        url = url.replace("@", ":secret@", 1)
    return url, "sales", "public", "postgres"


def _sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_exact_identifiers_keys_and_values(shop_source, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source, s, default, backend = shop_source
    before = _sha(source) if backend != "postgres" else None
    snap = introspect(source, masks=[f"{s}.Customer.email"], copy_to=tmp_path / "data.duckdb")
    sandbox.close_all()
    if before is not None:
        assert _sha(source) == before, "introspection must not modify the source"
    assert snap.default_schema == default
    names = {str(tb.key) for tb in snap.tables}
    assert {f"{s}.Customer", f"{s}.OrderHeader", f"{s}.order_line", f"{s}.product", f"{default}.misc_public"} <= names
    cust = snap.table(f"{s}.Customer")
    assert cust.column_names == ("cust_id", "FullName", "email", "Segment", "created_dt")
    assert cust.primary_key == ("cust_id",)
    assert cust.column("FullName").nullable is False
    assert cust.row_count == 30
    assert cust.column("Segment").profile.values == shop.SEGMENTS
    assert snap.table(f"{s}.OrderHeader").column("CHNL_CD").profile.values == shop.CHANNELS
    assert snap.table(f"{s}.product").column("STATUS").profile.values == shop.PRODUCT_STATUS
    amount = snap.table(f"{s}.order_line").column("amount")
    assert amount.type == "decimal" and 1 <= amount.profile.min <= amount.profile.max <= 500
    assert snap.table(f"{s}.OrderHeader").column("OrderDate").profile.min >= "2024-03-01"
    email = cust.column("email")
    assert email.masked and email.profile.values is None and email.profile.examples == ()
    assert email.profile.min is None and "example.com" not in Schema.to_dict(snap).__repr__()
    declared = {j.pair for j in snap.joins if j.source == "declared"}
    inferred = {j.pair for j in snap.joins if j.source == "inferred"}
    assert declared == shop.expected(shop.EXPECTED_DECLARED, s)
    assert inferred == shop.expected(shop.EXPECTED_INFERRED, s), [str(j) for j in snap.joins]
    if backend != "sqlite":
        assert cust.comment == "One row per customer account."
        assert snap.table(f"{s}.OrderHeader").column("CHNL_CD").comment == "Sales channel code."
    assert "secret" not in (snap.source_url or "")
    # every query sqltune runs happens in DuckDB: the execution file answers with the same data
    res = sandbox.execute(snap.execution_db, 'SELECT count(*), sum(qty) FROM order_line' if s == "main"
                          else 'SELECT count(*), sum(qty) FROM sales.order_line')
    assert res.ok and res.rows[0][0] == 600


def test_snapshot_roundtrip_and_fingerprint_stability(shop_source, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source, s, _default, _backend = shop_source
    a = introspect(source, copy_to=tmp_path / "a.duckdb")
    b = introspect(source, copy_to=tmp_path / "b.duckdb")
    assert a.fingerprint() == b.fingerprint() and a.domain_hash() == b.domain_hash()
    a.save(tmp_path / "snap.json")
    loaded = Schema.load(tmp_path / "snap.json")
    assert loaded == a
    assert loaded.to_dict() == a.to_dict()


def test_drift_is_reported(tmp_path: Path) -> None:
    path = _duckdb(tmp_path / "shop.duckdb")
    old = introspect(path)
    sandbox.close_all()
    con = duckdb.connect(str(path))
    con.execute('ALTER TABLE sales.product ADD COLUMN "LaunchDt" DATE')
    con.execute("INSERT INTO sales.\"OrderHeader\" VALUES (9999, 1, DATE '2024-05-05', 'B2B', 'OPEN')")
    con.execute("DROP TABLE misc_public")
    con.close()
    new = introspect(path)
    from sqltune.drift import diff

    d = diff(old, new)
    assert d.added_columns == ("sales.product.LaunchDt",)
    assert d.removed_tables == ("main.misc_public",)
    assert [(c.column, c.added) for c in d.domain_changes] == [("sales.OrderHeader.CHNL_CD", ("B2B",))]
    assert old.fingerprint() != new.fingerprint() and old.domain_hash() != new.domain_hash()


def test_unchanged_data_new_value_changes_domain_hash_only(tmp_path: Path) -> None:
    path = _duckdb(tmp_path / "shop.duckdb")
    old = introspect(path)
    sandbox.close_all()
    con = duckdb.connect(str(path))
    con.execute("UPDATE sales.\"Customer\" SET \"Segment\" = 'EDU' WHERE cust_id = 1")
    con.close()
    new = introspect(path)
    assert old.fingerprint() == new.fingerprint()
    assert old.domain_hash() != new.domain_hash()


def test_dictionary_overlay_and_typos(tmp_path: Path) -> None:
    from sqltune.errors import ConfigError

    path = _duckdb(tmp_path / "shop.duckdb")
    good = {"tables": {"sales.Customer": {"description": "Accounts.", "columns": {"Segment": "Market segment."}}},
            "glossary": [{"term": "online", "means": "sales.OrderHeader.CHNL_CD = 'ECOM'"}]}
    snap = introspect(path, dictionary=good, joins=None)
    cust = snap.table("sales.Customer")
    assert cust.doc == "Accounts." and cust.comment == "One row per customer account."
    assert cust.column("Segment").doc == "Market segment."
    assert snap.glossary[0].term == "online"
    with pytest.raises(ConfigError, match="Did you mean 'Segment'"):
        introspect(path, dictionary={"tables": {"sales.Customer": {"columns": {"segment": "x"}}}}, joins=None)
    with pytest.raises(ConfigError, match="sales.Customer"):
        introspect(path, dictionary={"tables": {"sales.Customomer": {}}}, joins=None)


def test_mask_typo_is_an_error(tmp_path: Path) -> None:
    from sqltune.errors import ConfigError

    path = _duckdb(tmp_path / "shop.duckdb")
    with pytest.raises(ConfigError, match="Did you mean 'sales.Customer.email'"):
        introspect(path, masks=["sales.Customer.emial"])


def test_bounded_profile_on_large_table(tmp_path: Path) -> None:
    """Tables above sample_rows are profiled on a sample; categorical domains stay complete."""
    from sqltune.introspect import ProfileOptions

    path = tmp_path / "big.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE facts AS SELECT range AS id, CASE WHEN range = 777777 THEN 'RARE' "
                "ELSE ['A','B','C'][1 + range % 3] END AS code, range % 1000 AS n FROM range(1000000)")
    con.close()
    snap = introspect(path, profile=ProfileOptions(sample_rows=50_000))
    facts = snap.table("facts")
    assert facts.row_count == 1_000_000
    assert 25_000 <= facts.column("n").profile.sampled_rows <= 100_000  # block sampling: about sample_rows
    assert facts.column("code").profile.values == ("A", "B", "C", "RARE")


def test_large_tables_are_copied_as_a_seeded_sample(tmp_path: Path) -> None:
    source = _sqlite(tmp_path / "shop.sqlite")
    a = introspect(source, copy_to=tmp_path / "a.duckdb", max_copy_rows=100)
    b = introspect(source, copy_to=tmp_path / "b.duckdb", max_copy_rows=100)
    sandbox.close_all()
    assert a.table("main.order_line").row_count == 100
    assert a.table("main.Customer").row_count == 30
    rows = []
    for db in (tmp_path / "a.duckdb", tmp_path / "b.duckdb"):
        with duckdb.connect(str(db), read_only=True) as con:
            rows.append(con.execute("SELECT * FROM order_line ORDER BY line_id").fetchall())
    assert rows[0] == rows[1]
    ids = [r[0] for r in rows[0]]
    assert ids != list(range(1, 101)), "a sample, not the first rows"
