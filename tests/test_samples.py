"""Sample databases: build, determinism, ground truth, dictionary, quirks, atomic writes."""

from __future__ import annotations

import dataclasses
import json
import re
import typing as t
from pathlib import Path

import duckdb
import pytest

from sqltune import samples
from sqltune.errors import NotFoundError, SampleError
from sqltune.samples import _gen

NAMES = ("cpg", "biotech")
FACT = {"cpg": ("sales.ORDER_LINE", 200_000), "biotech": ("research.AssayResult", 50_000)}
MIN_TABLES = {"cpg": 15, "biotech": 12}


def q(ident: str) -> str:
    """Quote a ``schema.table`` or ``schema.table.column`` identifier."""
    return ".".join(_gen.quote(p) for p in ident.split("."))


def split(col: str) -> tuple[str, str]:
    """``schema.table.column`` → (``schema.table``, ``column``)."""
    table, _, name = col.rpartition(".")
    return table, name


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[Path]:
    """A fresh SQLTUNE_HOME with both samples built, for the whole module."""
    root = tmp_path_factory.mktemp("samples-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SQLTUNE_HOME", str(root))
        for name in NAMES:
            samples.build_sample(name)
        yield root


@pytest.fixture(scope="module")
def cons(home: Path) -> t.Iterator[dict[str, duckdb.DuckDBPyConnection]]:
    out = {n: duckdb.connect(str(home / "samples" / f"{n}.duckdb"), read_only=True) for n in NAMES}
    yield out
    for con in out.values():
        con.close()


def scalar(con: duckdb.DuckDBPyConnection, sql: str) -> t.Any:
    return con.execute(sql).fetchone()[0]


def tables_of(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [
        f"{s}.{n}"
        for s, n in con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE NOT internal ORDER BY ALL"
        ).fetchall()
    ]


def columns_of(con: duckdb.DuckDBPyConnection) -> dict[str, str | None]:
    """``schema.table.column`` → database comment."""
    rows = con.execute(
        "SELECT schema_name, table_name, column_name, comment FROM duckdb_columns() WHERE NOT internal"
    ).fetchall()
    return {f"{s}.{tb}.{c}": cm for s, tb, c, cm in rows}


def fingerprint(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, int]]:
    """Row count and an order-insensitive content hash per table."""
    return {
        tb: tuple(con.execute(f"SELECT count(*), sum(hash(t)::HUGEINT) FROM {q(tb)} AS t").fetchone())
        for tb in tables_of(con)
    }


# ------------------------------------------------------------------ build and sidecar
@pytest.mark.parametrize("name", NAMES)
def test_sidecar_records_version_seed_counts(home: Path, cons: dict, name: str) -> None:
    meta = json.loads((home / "samples" / f"{name}.json").read_text())
    spec = samples.SAMPLES[name]
    assert (meta["name"], meta["sample_version"], meta["seed"]) == (name, spec.sample_version, spec.seed)
    assert meta["reference_date"] == spec.reference_date
    assert 0 < meta["build_seconds"] < 60
    actual = {tb: n for tb, (n, _) in fingerprint(cons[name]).items()}
    assert meta["tables"] == actual


def test_sample_info_and_list(home: Path) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SQLTUNE_HOME", str(home))
        listed = {s["name"]: s for s in samples.list_samples()}
        assert set(listed) == set(NAMES) and all(s["built"] for s in listed.values())
        info = samples.sample_info("cpg")
        assert info["sample_version"] == samples.SAMPLES["cpg"].sample_version
        assert Path(info["path"]) == home / "samples" / "cpg.duckdb"


def test_up_to_date_file_is_not_rebuilt(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SQLTUNE_HOME", str(home))
    spec = samples.SAMPLES["biotech"]

    def boom(seed: int) -> _gen.Tables:
        raise AssertionError("rebuilt although up to date")

    monkeypatch.setitem(samples.SAMPLES, "biotech", dataclasses.replace(spec, builder=boom))
    assert samples.build_sample("biotech") == home / "samples" / "biotech.duckdb"


@pytest.mark.parametrize("name", NAMES)
def test_deterministic(cons: dict, tmp_path: Path, name: str) -> None:
    again = samples.build_sample(name, out=tmp_path / f"{name}.duckdb")
    sidecar = json.loads((tmp_path / f"{name}.json").read_text())
    assert sidecar["checksums"] == {tb: str(h) for tb, (_, h) in fingerprint(cons[name]).items()}
    con = duckdb.connect(str(again), read_only=True)
    try:
        assert fingerprint(con) == fingerprint(cons[name])
    finally:
        con.close()


def test_failed_build_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SQLTUNE_HOME", str(tmp_path))

    def half_load(con: duckdb.DuckDBPyConnection, ddl: str, tables: _gen.Tables) -> dict[str, int]:
        con.execute(ddl)  # the temporary database (and its WAL) now exists
        con.execute("CREATE TABLE main.partial AS SELECT range AS x FROM range(1000)")
        raise RuntimeError("killed mid-build")

    spec = samples.SAMPLES["biotech"]
    monkeypatch.setitem(samples.SAMPLES, "biotech", dataclasses.replace(spec, builder=lambda seed: {}))
    monkeypatch.setattr(_gen, "load", half_load)
    with pytest.raises(RuntimeError, match="killed"):
        samples.build_sample("biotech")
    assert list((tmp_path / "samples").iterdir()) == []

    # a failed forced rebuild keeps the previous file untouched
    target = tmp_path / "samples" / "biotech.duckdb"
    target.write_bytes(b"previous build")
    with pytest.raises(RuntimeError):
        samples.build_sample("biotech", force=True)
    assert target.read_bytes() == b"previous build"
    assert sorted(p.name for p in target.parent.iterdir()) == ["biotech.duckdb"]


def test_stale_temp_files_of_killed_builds_are_swept(tmp_path: Path) -> None:
    import os

    target = tmp_path / "biotech.duckdb"
    old, fresh = tmp_path / ".biotech.duckdb.abc.tmp", tmp_path / ".biotech.duckdb.def.tmp.wal"
    for p in (old, fresh):
        p.write_bytes(b"x")
    os.utime(old, (1, 1))
    samples._sweep_stale_temps(target)
    assert not old.exists() and fresh.exists()


def test_generated_columns_must_match_ddl() -> None:
    import pandas as pd

    con = duckdb.connect()
    try:
        with pytest.raises(SampleError, match="columns"):
            _gen.load(con, "CREATE TABLE main.x (a INTEGER, b INTEGER)", {"main.x": pd.DataFrame({"a": [1]})})
    finally:
        con.close()


def test_unknown_sample_suggests_a_name() -> None:
    with pytest.raises(NotFoundError, match="Did you mean 'cpg'"):
        samples.build_sample("cgp")
    with pytest.raises(NotFoundError, match="Did you mean 'biotech'"):
        samples.ground_truth("biotek")
    with pytest.raises(NotFoundError):
        samples.sample_info("nope")


def test_sample_info_before_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SQLTUNE_HOME", str(tmp_path))
    with pytest.raises(SampleError, match="not built"):
        samples.sample_info("cpg")
    assert not any(s["built"] for s in samples.list_samples())


# ------------------------------------------------------------------ shape and quirks
@pytest.mark.parametrize("name", NAMES)
def test_tables_and_fact_rows(cons: dict, name: str) -> None:
    con = cons[name]
    tables = tables_of(con)
    assert len(tables) >= MIN_TABLES[name]
    schemas = {tb.split(".")[0] for tb in tables}
    assert len(schemas - {"main"}) >= 3 and "main" in schemas
    fact, minimum = FACT[name]
    assert con.execute(f"SELECT count(*) FROM {q(fact)}").fetchone()[0] >= minimum


def test_cpg_quirks(cons: dict) -> None:
    con = cons["cpg"]
    cols = columns_of(con)
    for ident in (
        "sales.OrderHeader.OrderDate",
        "sales.OrderHeader.OrderId",
        "mdm.SKU.SKU_NBR",
        "sales.store.rtl_id",
        "supply.shipment.ShipDt",
        "supply.shipment.ship_from_dc",
    ):
        assert ident in cols
    assert any(c != c.upper() and c != c.lower() for c in (i.rsplit(".", 1)[1] for i in cols))
    lo, hi = con.execute('SELECT min("OrderDate"), max("OrderDate") FROM sales."OrderHeader"').fetchone()
    assert str(lo) >= "2023-01-01" and str(hi) == samples.SAMPLES["cpg"].reference_date
    # seasonality, skew, NULLs and price changes
    by_month = dict(
        con.execute(
            'SELECT month("OrderDate"), count(*) FROM sales."OrderHeader" WHERE year("OrderDate") = 2024 GROUP BY 1'
        ).fetchall()
    )
    assert max(by_month, key=by_month.get) == 8 and by_month[12] < by_month[11]  # back-to-school peak, holiday dip
    top, total = con.execute(
        "SELECT max(n), sum(n) FROM (SELECT count(*) n FROM sales.ORDER_LINE GROUP BY SKU_NBR)"
    ).fetchone()
    assert top > 10 * total / 316
    assert con.execute('SELECT count(*) FROM sales."OrderHeader" WHERE "ReqDelivDt" IS NULL').fetchone()[0] > 0
    changes = con.execute(
        "SELECT count(*) FROM mdm.price_list WHERE EFF_FROM IN ('2024-03-01', '2025-01-01')"
    ).fetchone()[0]
    assert changes > 100
    # list prices on the lines come from the price list valid on the order date
    wrong = con.execute("""
        SELECT count(*) FROM sales.ORDER_LINE l JOIN sales."OrderHeader" h USING ("OrderId")
        JOIN mdm.price_list p ON p.SKU_NBR = l.SKU_NBR AND p.CURRENCY_CD = h.CURRENCY_CD
         AND h."OrderDate" BETWEEN p.EFF_FROM AND coalesce(p.EFF_TO, DATE '9999-12-31')
        WHERE l.UOM_CD = 'CS' AND l.LIST_PRC <> p.LIST_PRC""").fetchone()[0]
    assert wrong == 0
    # order status agrees with shipments; returns follow delivery
    assert (
        scalar(
            con,
            """SELECT count(*) FROM sales."OrderHeader" h JOIN supply.shipment s ON s.ORDER_ID = h."OrderId"
                          WHERE h.STATUS = 'INV' AND s.STATUS <> 'DLV'""",
        )
        == 0
    )
    assert (
        scalar(
            con,
            """SELECT count(*) FROM sales.RTRN_LN r JOIN sales.ORDER_LINE l ON l.LINE_ID = r.ORIG_LINE_ID
                          JOIN supply.shipment s ON s.ORDER_ID = l."OrderId"
                          WHERE r.RTRN_DT < s."DelivDt" """,
        )
        == 0
    )


def test_biotech_quirks(cons: dict) -> None:
    con = cons["biotech"]
    cols = columns_of(con)
    for ident in (
        "research.AssayResult.IC50_nM",
        "chem.COMPOUND.CMPD_ID",
        "clin.subject.PtInitials",
        "clin.ADVERSE_EVENT.OnsetDt",
        "clin.TRIAL.PHASE",
    ):
        assert ident in cols
    # potency improves as a project progresses
    early, late = con.execute("""
        SELECT median(r."pIC50") FILTER (WHERE year(e.RUN_DT) <= 2018),
               median(r."pIC50") FILTER (WHERE year(e.RUN_DT) >= 2024)
        FROM research."AssayResult" r JOIN research.experiment e USING (EXP_ID) JOIN research.ASSAY a USING (ASSAY_ID)
        WHERE a.ASSAY_TYPE = 'BIOCHEM' AND e.PROJECT_ID = 'PRJ-001'""").fetchone()
    assert late > early + 1
    assert con.execute('SELECT max("OnsetDt") FROM clin.ADVERSE_EVENT').fetchone()[0].isoformat() <= "2025-06-30"
    assert con.execute("SELECT count(*) FROM research.\"AssayResult\" WHERE QUALIFIER = '>'").fetchone()[0] > 0
    # denormalised copies agree with their source
    assert (
        scalar(
            con,
            """SELECT count(*) FROM research."AssayResult" r JOIN chem.BATCH b USING (BATCH_ID)
                          WHERE b.CMPD_ID <> r.CMPD_ID""",
        )
        == 0
    )
    assert (
        scalar(
            con,
            """SELECT count(*) FROM clin.ADVERSE_EVENT a JOIN clin.subject s USING (SUBJ_ID)
                          WHERE a.STUDY_ID <> s.TRIAL_ID OR a."OnsetDt" < s.ENROLL_DT""",
        )
        == 0
    )


# ------------------------------------------------------------------ ground truth
def _declared_fks(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    rows = con.execute("""
        SELECT schema_name, table_name, constraint_column_names, referenced_table, referenced_column_names
        FROM duckdb_constraints() WHERE constraint_type = 'FOREIGN KEY'""").fetchall()
    out = set()
    for schema, table, cols, ref_table, ref_cols in rows:
        assert len(cols) == 1, "composite declared FKs are not expected"
        out.add((f"{schema}.{table}.{cols[0]}", f"{schema}.{ref_table}.{ref_cols[0]}"))
    return out


def _orphans(con: duckdb.DuckDBPyConnection, src: list[str], dst: list[str]) -> int:
    (st, _), (dt, _) = split(src[0]), split(dst[0])
    cond = " AND ".join(
        f"d.{_gen.quote(split(b)[1])} = s.{_gen.quote(split(a)[1])}" for a, b in zip(src, dst, strict=True)
    )
    not_null = " AND ".join(f"s.{_gen.quote(split(a)[1])} IS NOT NULL" for a in src)
    return con.execute(
        f"SELECT count(*) FROM {q(st)} s WHERE {not_null} AND NOT EXISTS (SELECT 1 FROM {q(dt)} d WHERE {cond})"
    ).fetchone()[0]


@pytest.mark.parametrize("name", NAMES)
def test_truth_joins_hold_in_data(cons: dict, name: str) -> None:
    con = cons[name]
    truth = samples.ground_truth(name)
    cols = columns_of(con)
    declared = _declared_fks(con)
    joins = [(j["from"], j["to"], j["declared"]) for j in truth["joins"]]
    assert len({(a, b) for a, b, _ in joins}) == len(joins)
    assert sum(not d for _, _, d in joins) >= 3
    for src, dst, is_declared in joins:
        assert src in cols and dst in cols, (src, dst)
        assert _orphans(con, [src], [dst]) == 0, f"{src} -> {dst} has values missing from the target"
        table, col = split(dst)
        n, distinct = con.execute(
            f"SELECT count({_gen.quote(col)}), count(DISTINCT {_gen.quote(col)}) FROM {q(table)}"
        ).fetchone()
        assert n == distinct > 0, f"{dst} is not a key"
        used = con.execute(f"SELECT count({_gen.quote(split(src)[1])}) FROM {q(split(src)[0])}").fetchone()[0]
        assert used > 0, f"{src} is always NULL"
        assert ((src, dst) in declared) == is_declared, f"{src} -> {dst}: declared flag is wrong"
    assert declared <= {(a, b) for a, b, _ in joins}, "a declared FK is missing from truth.yaml"
    for cj in truth.get("composite_joins", []):
        assert _orphans(con, cj["from"], cj["to"]) == 0
    calendar = truth.get("calendar")
    if calendar:
        for src in calendar["from"]:
            assert _orphans(con, [src], [calendar["to"]]) == 0, src


@pytest.mark.parametrize("name", NAMES)
def test_false_friends_and_masking(cons: dict, name: str) -> None:
    con = cons[name]
    truth = samples.ground_truth(name)
    cols = columns_of(con)
    joined = {frozenset((j["from"], j["to"])) for j in truth["joins"]}
    assert len(truth["false_friends"]) >= 5
    for ff in truth["false_friends"]:
        a, b = ff["a"], ff["b"]
        assert a in cols and b in cols and split(a)[0] != split(b)[0]
        assert split(a)[1].lower() == split(b)[1].lower(), "false friends share a column name"
        assert frozenset((a, b)) not in joined
    masked = truth["masked_candidates"]
    assert masked
    for m in masked:
        table, col = split(m["column"])
        assert m["column"] in cols
        assert con.execute(f"SELECT count({_gen.quote(col)}) FROM {q(table)}").fetchone()[0] > 0


def test_biotech_has_medical_personal_columns() -> None:
    kinds = {m["kind"] for m in samples.ground_truth("biotech")["masked_candidates"]}
    assert {"dob", "medical", "name"} <= kinds


# ------------------------------------------------------------------ comments and dictionary
@pytest.mark.parametrize("name", NAMES)
def test_comments_and_dictionary_cover_everything(cons: dict, name: str) -> None:
    con = cons[name]
    table_comments = dict(
        (
            (f"{s}.{n}", c)
            for s, n, c in con.execute(
                "SELECT schema_name, table_name, comment FROM duckdb_tables() WHERE NOT internal"
            ).fetchall()
        )
    )
    cols = columns_of(con)
    commented_tables = sum(bool(c) for c in table_comments.values())
    assert 0.5 * len(table_comments) <= commented_tables < len(table_comments), "most but not all tables commented"
    commented_cols = sum(bool(c) for c in cols.values())
    assert 0.15 * len(cols) <= commented_cols < len(cols)
    d = samples.dictionary(name)
    assert {"tables", "glossary"} <= set(d) <= {"tables", "glossary", "metrics"}, \
        "sqltune.introspect.dictionary accepts only these keys"
    assert set(d["tables"]) == set(table_comments), "dictionary tables must match the database exactly"
    for table, entry in d["tables"].items():
        assert set(entry) == {"description", "columns"}
        assert entry["description"].strip()
        described = set(entry["columns"])
        actual = {c.rsplit(".", 1)[1] for c in cols if c.rsplit(".", 1)[0] == table}
        assert described <= actual, f"unknown columns in dictionary: {described - actual}"
        assert actual <= described, f"columns without a description: {actual - described}"
        assert all(str(v).strip() for v in entry["columns"].values())
    assert len(d["glossary"]) >= 10
    for g in d["glossary"]:
        assert set(g) == {"term", "means"} and g["term"] and g["means"]
    for m in d.get("metrics", []):  # each metric computes a positive total on the sample's data
        sql = f"SELECT {m['expr']} FROM {m['from']}" + (f" WHERE {m['where']}" if m.get("where") else "")
        value = con.execute(sql).fetchone()[0]
        assert value is not None and value > 0, m["name"]


@pytest.mark.parametrize("name", NAMES)
def test_code_columns_take_documented_values(cons: dict, name: str) -> None:
    con = cons[name]
    d = samples.dictionary(name)
    code_values = samples.ground_truth(name)["code_values"]
    assert len(code_values) >= 10
    for ident, codes in code_values.items():
        table, col = split(ident)
        allowed = {str(k) for k in codes}
        seen = {
            str(v)
            for (v,) in con.execute(
                f"SELECT DISTINCT {_gen.quote(col)} FROM {q(table)} WHERE {_gen.quote(col)} IS NOT NULL"
            ).fetchall()
        }
        assert seen, f"{ident} is empty"
        assert seen <= allowed, f"{ident} has undocumented values {seen - allowed}"
        text = str(d["tables"][table]["columns"][col])
        missing = [c for c in allowed if not re.search(re.escape(c), text)]
        assert not missing, f"{ident}: codes {missing} not mentioned in its description"


def test_cpg_channel_codes() -> None:
    assert {"ECOM", "DTC", "WHSL"} <= set(samples.ground_truth("cpg")["code_values"]["sales.RETAILER.CHNL_CD"])
    assert set(samples.ground_truth("biotech")["code_values"]["clin.TRIAL.PHASE"]) == {"P1", "P2", "P3", "P4"}
