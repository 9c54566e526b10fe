"""A small 'shop' database written for several backends, with the quirks introspection must keep.

Quirks: mixed-case quoted names (``"Customer"``, ``"OrderId"``), a non-default schema (``sales``
where the backend has schemas), a declared foreign key (``OrderHeader.cust_id``), two undeclared
ones (``order_line.OrderId`` and ``order_line.sku_nbr``), a false friend (``STATUS`` on orders and
on products), categorical codes, and a personal column to mask (``Customer.email``).
"""

from __future__ import annotations

import datetime as dt
import random

SEGMENTS = ("ENT", "GOV", "SMB")
CHANNELS = ("DTC", "ECOM", "WHSL")
ORDER_STATUS = ("CANCELLED", "OPEN", "SHIPPED")
PRODUCT_STATUS = ("ACTIVE", "DISCONTINUED")

EXPECTED_INFERRED = {
    ("{s}order_line.OrderId", "{s}OrderHeader.OrderId"),
    ("{s}order_line.sku_nbr", "{s}product.SKU_NBR"),
}
EXPECTED_DECLARED = {("{s}OrderHeader.cust_id", "{s}Customer.cust_id")}


def rows(seed: int = 7) -> dict[str, list[tuple]]:
    rng = random.Random(seed)
    customers = [(i, f"Customer {i}", f"user{i}@example.com", rng.choice(SEGMENTS),
                  dt.date(2024, 1, 1) + dt.timedelta(days=i)) for i in range(1, 31)]
    products = [(f"SKU-{i:04d}", f"Product {i}", PRODUCT_STATUS[i % 5 == 0]) for i in range(1, 21)]
    orders = [(1000 + i, rng.randint(1, 30), dt.date(2024, 3, 1) + dt.timedelta(days=rng.randint(0, 200)),
               rng.choice(CHANNELS), rng.choice(ORDER_STATUS)) for i in range(200)]
    lines = []
    for i in range(600):
        lines.append((i + 1, 1000 + rng.randrange(200), f"SKU-{rng.randint(1, 20):04d}", rng.randint(1, 9),
                      round(rng.uniform(1, 500), 2)))
    return {"Customer": customers, "product": products, "OrderHeader": orders, "order_line": lines}


def ddl(schema: str | None, *, comments: bool) -> list[str]:
    p = f"{schema}." if schema else ""
    out = [f"CREATE SCHEMA {schema}"] if schema else []
    out += [
        f'CREATE TABLE {p}"Customer" (cust_id INTEGER PRIMARY KEY, "FullName" VARCHAR(80) NOT NULL, '
        f'email VARCHAR(120), "Segment" VARCHAR(8), created_dt DATE)',
        f'CREATE TABLE {p}product ("SKU_NBR" VARCHAR(12) PRIMARY KEY, prod_name VARCHAR(80), "STATUS" VARCHAR(16))',
        f'CREATE TABLE {p}"OrderHeader" ("OrderId" INTEGER PRIMARY KEY, cust_id INTEGER REFERENCES {p}"Customer"(cust_id), '
        f'"OrderDate" DATE, "CHNL_CD" VARCHAR(4), "STATUS" VARCHAR(12))',
        f'CREATE TABLE {p}order_line (line_id INTEGER PRIMARY KEY, "OrderId" INTEGER, sku_nbr VARCHAR(12), '
        f'qty INTEGER, amount DECIMAL(10,2))',
        "CREATE TABLE misc_public (id INTEGER PRIMARY KEY, note VARCHAR(20))",
    ]
    if comments:
        out += [f"COMMENT ON TABLE {p}\"Customer\" IS 'One row per customer account.'",
                f"COMMENT ON COLUMN {p}\"OrderHeader\".\"CHNL_CD\" IS 'Sales channel code.'"]
    return out


def inserts(schema: str | None, placeholder: str = "?") -> list[tuple[str, list[tuple]]]:
    p = f"{schema}." if schema else ""
    data = rows()
    out = []
    for table, table_rows in data.items():
        quoted = f'"{table}"' if table != table.lower() else table
        marks = ", ".join([placeholder] * len(table_rows[0]))
        out.append((f"INSERT INTO {p}{quoted} VALUES ({marks})", table_rows))
    out.append(("INSERT INTO misc_public VALUES (" + ", ".join([placeholder] * 2) + ")", [(1, "x"), (2, "y")]))
    return out


def expected(pairs: set[tuple[str, str]], schema: str | None) -> set[tuple[str, str]]:
    s = f"{schema}." if schema else ""
    return {(a.format(s=s), b.format(s=s)) for a, b in pairs}
