"""The measured-difficulty rule, one line per case."""

from __future__ import annotations

import pytest

from sqltune.difficulty import measure
from sqltune.errors import SqlParseError

CASES = [
    ("SELECT * FROM t", "easy"),
    ('SELECT "SKU_NBR", prod_name FROM mdm.product WHERE "STATUS" = \'ACTIVE\' ORDER BY prod_name', "easy"),
    ("SELECT count(DISTINCT rtl_id) FROM sales.orders WHERE \"OrderDate\" >= DATE '2024-01-01'", "easy"),
    ("SELECT * FROM t ORDER BY x DESC LIMIT 5", "medium"),
    ("SELECT region, sum(x) FROM t GROUP BY region", "medium"),
    ("SELECT region FROM t GROUP BY region HAVING count(*) > 3", "medium"),
    ("SELECT a.x, b.y FROM a JOIN b ON a.id = b.id", "medium"),
    ("SELECT * FROM a JOIN b ON a.id = b.id JOIN c ON c.id = b.cid", "hard"),
    ("SELECT * FROM a WHERE id IN (SELECT id FROM b)", "hard"),
    ("SELECT (SELECT max(x) FROM b) FROM a", "hard"),
    ("WITH c AS (SELECT 1 AS x) SELECT * FROM c", "hard"),
    ("SELECT x, rank() OVER (ORDER BY y) FROM t", "hard"),
    ("SELECT x FROM a UNION ALL SELECT x FROM b", "hard"),
    ("SELECT x FROM a EXCEPT SELECT x FROM b", "hard"),
    ("SELECT sum(CASE WHEN ch = 'ECOM' THEN amt ELSE 0 END) FROM t", "hard"),
    ("SELECT count(*) FILTER (WHERE ch = 'ECOM') FROM t", "hard"),
    ("SELECT CASE WHEN x > 1 THEN 'a' ELSE 'b' END FROM t", "easy"),
]


@pytest.mark.parametrize("sql,tier", CASES)
def test_tier(sql: str, tier: str) -> None:
    assert measure(sql).tier == tier


def test_score_orders_within_a_tier() -> None:
    assert measure("SELECT * FROM a JOIN b ON a.i=b.i JOIN c ON c.i=b.i JOIN d ON d.i=c.i").score > \
        measure("SELECT * FROM a JOIN b ON a.i=b.i JOIN c ON c.i=b.i").score


@pytest.mark.parametrize("bad", ["SELEC * FRM", "SELECT 1; SELECT 2", ""])
def test_bad_sql_is_a_clear_error(bad: str) -> None:
    with pytest.raises(SqlParseError):
        measure(bad)
