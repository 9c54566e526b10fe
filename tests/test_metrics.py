"""Dictionary metrics: checked and made case-exact at introspection, shown in prompts, and trained
through generated pairs whose answers are the metric's own computation."""

from __future__ import annotations

import collections
from pathlib import Path

import duckdb
import pytest
import sqlglot

from sqltune.errors import ConfigError
from sqltune.generate import generate
from sqltune.introspect import introspect
from sqltune.introspect.dictionary import apply_dictionary
from sqltune.introspect.metrics import metric_text, metrics_in
from sqltune.prompt.link import link
from sqltune.schema import Schema
from tests.test_generate import build_shop

#: Written the way a data team types it: unquoted, in other case than the database spells it.
SALES = {"name": "sales", "synonyms": ["booked sales"], "description": "line amounts of orders not cancelled",
         "expr": "sum(l.QTY * l.Amount)",
         "from": "sales.orderheader h JOIN sales.ORDER_LINE l ON l.orderid = h.orderid",
         "where": "h.status <> 'CANC'", "time": "h.orderdate"}
UNITS = {"name": "units", "expr": "sum(qty)", "from": "sales.order_line"}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Schema:
    db = build_shop(tmp_path_factory.mktemp("shop") / "shop.duckdb")
    return introspect(db, dictionary={"metrics": [SALES, UNITS]})


def test_metric_sql_is_resolved_to_exact_quoted_identifiers(shop: Schema) -> None:
    sales = next(m for m in shop.metrics if m.name == "sales")
    assert sales.expr == 'SUM(l.qty * l.amount)'
    assert sales.source == ('sales."OrderHeader" AS h JOIN sales.order_line AS l ON l."OrderId" = h."OrderId"')
    assert (sales.where, sales.time) == ('h."STATUS" <> \'CANC\'', 'h."OrderDate"')
    assert next(m for m in shop.metrics if m.name == "units").expr == "SUM(qty)"
    # the canonical text runs where every name is case-sensitive (quoted), and a reload keeps it
    assert Schema.from_dict(shop.to_dict()).metrics == shop.metrics
    con = duckdb.connect(str(shop.execution_db), read_only=True)
    try:
        got = con.execute(f"SELECT {sales.expr} FROM {sales.source} WHERE {sales.where}").fetchone()[0]
        want = con.execute('SELECT sum(qty * amount) FROM sales.order_line JOIN sales."OrderHeader" USING ("OrderId") '
                           "WHERE \"STATUS\" <> 'CANC'").fetchone()[0]
    finally:
        con.close()
    assert got == want and got > 0


@pytest.mark.parametrize("change, message", [
    ({"expr": "sum(l.Amout)"}, r"table sales.order_line \(l\) has no column 'Amout'. Did you mean 'amount'\?"),
    ({"from": "sales.OrderHeadr h JOIN sales.order_line l ON l.OrderId = h.OrderId"},
     r"no table 'sales.OrderHeadr'. Did you mean 'sales.OrderHeader'\?"),
    ({"expr": "l.qty * l.amount"}, "'expr' must aggregate"),
    ({"time": "h.CHNL_CD"}, "'time' must be one date or timestamp column"),
    ({"where": "x.STATUS <> 'CANC'"}, "'x' is not a table or alias of its FROM clause"),
    ({"expr": "sum(OrderId)"}, "column 'OrderId' is in several of its tables; qualify it"),
    ({"unit": "USD"}, "unknown key 'unit'"),
    ({"expr": "sum(l.qty"}, "its SQL does not parse"),
])
def test_a_bad_metric_is_a_one_line_error_naming_it(shop: Schema, change: dict, message: str) -> None:
    bare = Schema(shop.name, shop.dialect, shop.tables, shop.default_schema, shop.joins)
    with pytest.raises(ConfigError, match=message) as info:
        apply_dictionary(bare, {"metrics": [{**SALES, **change}]}, "dict.yaml")
    assert str(info.value).startswith("dict.yaml: metrics entry 1: metric 'sales': ")
    assert "\n" not in str(info.value)


def test_questions_name_metrics_and_the_prompt_shows_their_sql(shop: Schema) -> None:
    assert [m.name for m in metrics_in(shop, "What were booked sales per channel?")] == ["sales"]
    assert metrics_in(shop, "Which salesperson ...") == [] and metrics_in(shop, "wholesales") == []
    linked = link(shop, "Booked sales by customer segment in 2024")
    assert {str(k) for k in linked.tables} >= {"sales.OrderHeader", "sales.order_line"}
    assert {"OrderDate", "STATUS"} <= set(linked.columns[next(k for k in linked.tables if k.name == "OrderHeader")])
    sales = next(m for m in shop.metrics if m.name == "sales")
    assert metric_text(sales).startswith('sales = SELECT SUM(l.qty * l.amount) FROM sales."OrderHeader" AS h JOIN')


def test_metric_pairs_compute_the_metric_as_defined(shop: Schema, tmp_path: Path) -> None:
    result = generate(shop, n=600, seed=4, out=tmp_path / "pairs")
    made = [p for p in result.pairs if p.provenance.get("production", "").startswith("metric_")]
    productions = collections.Counter(p.provenance["production"] for p in made)
    assert set(productions) == {"metric_total", "metric_group", "metric_top", "metric_month", "metric_pivot"}
    con = duckdb.connect(str(shop.execution_db), read_only=True)
    try:
        for p in made:
            metric = next(m for m in shop.metrics if any(n.lower() in p.question.lower() for n in m.names))
            assert metric.source in p.sql and (not metric.where or metric.where in p.sql), p.sql
            if p.provenance["production"] != "metric_group" or metric.name != "sales":
                continue
            # a breakdown by any dimension adds up to the metric over the same rows and period
            tree = sqlglot.parse_one(p.sql, read="duckdb")
            where = tree.args.get("where")
            filters = where.this.sql("duckdb") if where else "TRUE"
            total = con.execute(f"SELECT {metric.expr} FROM {metric.source} WHERE {filters}").fetchone()[0]
            parts = con.execute(p.sql).fetchall()
            assert sum(r[-1] or 0 for r in parts) == pytest.approx(float(total))
    finally:
        con.close()
    facts = [f for f in result.facts if f.kind == "metric"]
    assert {f.prompt for f in facts} == {"Which SQL computes sales?", "Which SQL computes booked sales?",
                                         "Which SQL computes units?"}
