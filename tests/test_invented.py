"""Invented identifiers: every table, column and categorical value a query makes up, found statically."""

from __future__ import annotations

import pytest

from sqltune.grade import Invented, invented_identifiers
from sqltune.schema import Column, ColumnProfile, Schema, Table


def _col(name: str, type_: str = "integer", values: tuple[str, ...] | None = None, complete: bool = True) -> Column:
    profile = ColumnProfile(values=values, values_complete=complete) if values is not None else None
    return Column(name=name, raw_type=type_.upper(), type=type_, profile=profile)


SCHEMA = Schema(
    name="shop",
    dialect="duckdb",
    default_schema="main",
    tables=(
        Table("main", "customers", (_col("id"), _col("name", "text"), _col("city", "text"),
                                    _col("segment", "text", ("RETAIL", "WHOLESALE")), _col("SignupDate", "date"),
                                    _col("prefs", "struct"))),
        Table("main", "orders", (_col("id"), _col("customer_id"), _col("status", "text", ("OPEN", "SHIPPED")),
                                 _col("amount", "decimal"), _col("placed_at", "timestamp"),
                                 _col("channel", "text", ("WEB",), complete=False))),
        Table("sales", "OrderHeader", (_col("OrderID"), _col("OrderDate", "date"), _col("CustomerID"))),
    ),
)  # fmt: skip


def inv(sql: str) -> Invented:
    return invented_identifiers(sql, SCHEMA)


VALID = [
    "SELECT id, name FROM customers",
    "SELECT c.name, o.amount FROM customers AS c JOIN orders o ON o.customer_id = c.id",
    "SELECT * FROM customers",
    "SELECT c.*, o.id FROM customers c, orders o",
    'SELECT "OrderID", "OrderDate" FROM sales."OrderHeader"',
    'SELECT h."OrderID" FROM sales."OrderHeader" AS h WHERE h."CustomerID" IN (SELECT id FROM customers)',
    "WITH big AS (SELECT customer_id, sum(amount) AS total FROM orders GROUP BY 1) SELECT total FROM big WHERE total>1",
    "WITH t(cid, n) AS (SELECT customer_id, count(*) FROM orders GROUP BY ALL) SELECT cid, n FROM t ORDER BY n DESC",
    "WITH a AS (SELECT id FROM customers), b AS (SELECT a.id FROM a) SELECT b.id FROM b",
    "SELECT d.total FROM (SELECT customer_id, sum(amount) AS total FROM orders GROUP BY customer_id) d",
    "SELECT x.k FROM (SELECT id, name FROM customers) AS x(k, v)",
    "SELECT name FROM customers c WHERE EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id)",
    "SELECT name, (SELECT count(*) FROM orders o WHERE o.customer_id = customers.id) AS n FROM customers",
    "SELECT id FROM customers JOIN orders USING (id)",
    "SELECT name FROM customers NATURAL JOIN orders",
    "SELECT city AS town, count(*) AS n FROM customers GROUP BY town HAVING n > 1 ORDER BY n DESC, town",
    "SELECT amount * 2 AS double_amount FROM orders WHERE double_amount > 10 QUALIFY row_number() OVER w = 1 "
    "WINDOW w AS (PARTITION BY customer_id ORDER BY placed_at)",
    "SELECT name FROM customers UNION ALL SELECT status FROM orders ORDER BY name",
    "SELECT i FROM range(3) AS r(i)",
    "SELECT a, b FROM (VALUES (1, 2)) AS v(a, b)",
    "SELECT list_transform([1, 2], x -> x + 1) AS l, list_filter([1], y -> y > 0) FROM customers",
    "FROM orders SELECT status, count(*) GROUP BY status ORDER BY ALL",
    "SELECT * EXCLUDE (city) FROM customers",
    "SELECT DISTINCT ON (customer_id) customer_id, amount FROM orders ORDER BY customer_id, amount DESC",
    "SELECT c.prefs.theme, prefs.lang FROM customers c",
    "SELECT status FROM orders WHERE status IN ('OPEN', 'SHIPPED') AND status <> 'OPEN' AND status LIKE 'SHIP%'",
    "SELECT id FROM orders WHERE status ILIKE 'shipped' AND channel = 'PHONE' AND 'OPEN' = status",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT n FROM r",
    "SELECT o.id FROM orders o, LATERAL (SELECT o.amount * 2 AS twice) l WHERE l.twice > 1",
    "SELECT CASE WHEN segment = 'RETAIL' THEN 1 ELSE 0 END AS r, current_date FROM customers",
    "SELECT id FROM main.customers WHERE \"SignupDate\" > DATE '2024-01-01'",
]


@pytest.mark.parametrize("sql", VALID)
def test_valid_queries_invent_nothing(sql: str) -> None:
    found = inv(sql)
    assert found.clean, found
    assert found.case_mismatches == ()


def test_at_least_fifteen_valid_queries() -> None:
    assert len(VALID) >= 15


def test_a_query_nested_too_deeply_for_the_parser_is_unparseable_not_an_exception() -> None:
    for deep in ("SELECT " + "(" * 300 + "1" + ")" * 300, "SELECT 1 WHERE " + " AND ".join(["(1 = 1"] * 300) + ")" * 300):
        inv = invented_identifiers(deep, SCHEMA)
        assert inv.unparseable and not inv.clean


def test_every_invented_name_is_reported_not_only_the_first() -> None:
    found = inv("SELECT o.total, amount_usd, c.name, z.q FROM orders o JOIN customers c ON c.idx = o.customer_id "
                "JOIN customer z ON z.id = o.id WHERE o.status = 'LOST'")  # fmt: skip
    assert found.tables == ("customer",)
    assert set(found.columns) == {"o.total", "c.idx"}
    assert found.literals == (("main.orders.status", "LOST"),)
    assert found.count == 4 and not found.clean
    assert set(inv("SELECT amount_usd, o.total FROM orders o").columns) == {"amount_usd", "o.total"}


def test_unqualified_columns_next_to_an_unknown_source_are_given_the_benefit_of_the_doubt() -> None:
    assert inv("SELECT amount_usd FROM orders, customer").columns == ()
    assert inv("SELECT i, nope FROM range(3)").columns == ()


def test_columns_of_an_invented_table_are_not_double_reported() -> None:
    assert inv("SELECT whatever FROM nowhere") == Invented(tables=("nowhere",))


def test_unknown_qualifier_is_an_invented_table() -> None:
    assert inv("SELECT x.name FROM customers c").tables == ("x",)


def test_quoted_identifiers_are_case_exact() -> None:
    found = inv('SELECT "orderdate", "OrderDate" FROM sales."OrderHeader"')
    assert found.columns == ("orderdate",)
    assert inv('SELECT 1 FROM "sales"."orderheader"').tables == ("sales.orderheader",)


def test_unquoted_identifiers_resolve_case_insensitively_but_are_counted() -> None:
    found = inv("SELECT orderid, OrderDate FROM sales.orderheader WHERE customerid = 1")
    assert found.clean
    assert set(found.case_mismatches) == {"sales.orderheader", "orderid", "customerid"}
    assert inv("SELECT NAME FROM Customers").case_mismatches == ("Customers", "NAME")


def test_table_outside_the_default_schema_needs_its_schema() -> None:
    assert inv('SELECT 1 FROM "OrderHeader"').tables == ("OrderHeader",)


def test_cte_and_subquery_columns_are_checked() -> None:
    assert inv("WITH t AS (SELECT id FROM orders) SELECT t.amount FROM t").columns == ("t.amount",)
    assert inv("WITH t(a) AS (SELECT id FROM orders) SELECT id FROM t").columns == ("id",)
    assert inv("SELECT d.z FROM (SELECT id FROM orders) d").columns == ("d.z",)
    assert inv("WITH t AS (SELECT nope FROM orders) SELECT * FROM t").columns == ("nope",)


def test_using_columns_must_exist_on_both_sides() -> None:
    assert inv("SELECT 1 FROM customers JOIN orders USING (customer_id)").columns == ("customer_id",)
    assert inv("SELECT 1 FROM customers JOIN orders USING (id)").clean


def test_select_alias_is_not_visible_from_another_query() -> None:
    assert inv("SELECT n FROM (SELECT count(*) AS m FROM orders) AS x").columns == ("n",)


def test_invented_categorical_literals() -> None:
    assert inv("SELECT 1 FROM orders WHERE status = 'DELIVERED'").literals == (("main.orders.status", "DELIVERED"),)
    assert inv("SELECT 1 FROM orders o WHERE o.status IN ('OPEN', 'LOS')").literals == (("main.orders.status", "LOS"),)
    assert inv("SELECT 1 FROM orders WHERE 'shipped' <> status").literals == (("main.orders.status", "shipped"),)
    assert inv("SELECT 1 FROM orders WHERE status LIKE 'Shipped'").literals == (("main.orders.status", "Shipped"),)
    assert inv("SELECT 1 FROM orders WHERE status ILIKE 'closed'").literals == (("main.orders.status", "closed"),)
    assert inv("SELECT 1 FROM customers c WHERE c.segment = 'SMB'").literals == (("main.customers.segment", "SMB"),)


def test_literals_need_a_complete_domain() -> None:
    assert inv("SELECT 1 FROM orders WHERE channel = 'PHONE' AND amount = '3'").literals == ()


def test_unparseable_sql_is_reported_not_raised() -> None:
    found = inv("SELECT FROM WHERE (")
    assert found.unparseable and found.error and not found.clean
    assert inv("").unparseable


def test_one_alias_for_two_sources_is_reported_not_raised() -> None:
    """Model output seen in the main job: sqlglot parses it but cannot scope it (DuckDB refuses it too)."""
    found = inv("SELECT id FROM customers s JOIN orders s ON true")
    assert found.unparseable and "Alias already used" in (found.error or "") and not found.clean


INVENTED = [
    ("SELECT y.nope FROM (SELECT * FROM customers) y", (), ("y.nope",)),
    ("SELECT n2 FROM (SELECT count(*) FROM orders) t(n)", (), ("n2",)),
    ("SELECT name FROM customers ORDER BY c.id", ("c",), ()),
    ("SELECT max(amount) AS m FROM orders HAVING mm > 1", (), ("mm",)),
    ("SELECT name FROM customers UNION SELECT status FROM orders ORDER BY foo", (), ("foo",)),
    ("SELECT o.id FROM orders o WHERE o.amount > (SELECT avg(amt) FROM orders WHERE customer_id = o.cust)", (),
     ("amt", "o.cust")),
    ("WITH x AS (SELECT * FROM customers) SELECT x.segmnt FROM x", (), ("x.segmnt",)),
    ("SELECT c.id FROM customers c JOIN ordrs o ON o.customer_id = c.id", ("ordrs",), ()),
    ("SELECT * FROM sales.OrderHeaders", ("sales.OrderHeaders",), ()),
    ("SELECT o.id FROM orders o WHERE EXISTS (SELECT 1 FROM customers c WHERE c.id = o.customer AND c.seg = 'x')", (),
     ("o.customer", "c.seg")),
]


@pytest.mark.parametrize(("sql", "tables", "columns"), INVENTED)
def test_invented_in_scope(sql: str, tables: tuple[str, ...], columns: tuple[str, ...]) -> None:
    found = inv(sql)
    assert (found.tables, found.columns) == (tables, columns)
