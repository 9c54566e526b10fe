"""Rendering identifiers for a dialect, exactly as the database spells them.

The one rule: an identifier is quoted unless it is all lower case, a plain word and not a
reserved keyword, so no database or library can fold ``OrderDate`` to ``orderdate``.

>>> render_identifier("OrderDate")
'"OrderDate"'
>>> render_identifier("ship_dt")
'ship_dt'
>>> render_identifier("update")
'"update"'
>>> render_identifier("OrderDate", "mysql")
'`OrderDate`'
>>> render_table(TableKey("sales", "OrderHeader"), default_schema="main")
'sales."OrderHeader"'
>>> normalize_type("DECIMAL(12,2)"), normalize_type("character varying(30)"), normalize_type("TIMESTAMP WITH TIME ZONE")
('decimal', 'text', 'timestamp')
"""

from __future__ import annotations

import functools
import re

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from sqltune.errors import ConfigError, did_you_mean
from sqltune.schema import TableKey

_PLAIN = re.compile(r"^[a-z_][a-z0-9_]*$")

#: Words reserved in standard SQL or a major dialect; quoted everywhere to be safe.
_ALWAYS_RESERVED = frozenset("""
ALL ALTER ANALYSE ANALYZE AND ANY ARRAY AS ASC ASYMMETRIC AUTHORIZATION BETWEEN BINARY BOTH CASE CAST CHECK
COLLATE COLUMN CONSTRAINT CREATE CROSS CURRENT_CATALOG CURRENT_DATE CURRENT_ROLE CURRENT_SCHEMA CURRENT_TIME
CURRENT_TIMESTAMP CURRENT_USER DEFAULT DEFERRABLE DELETE DESC DISTINCT DO DROP ELSE END EXCEPT EXISTS FALSE
FETCH FOR FOREIGN FROM FULL GRANT GROUP HAVING ILIKE IN INITIALLY INNER INSERT INTERSECT INTO IS ISNULL JOIN
LATERAL LEADING LEFT LIKE LIMIT LOCALTIME LOCALTIMESTAMP NATURAL NOT NOTNULL NULL OFFSET ON ONLY OR ORDER OUTER
OVERLAPS PLACING PRIMARY QUALIFY REFERENCES RETURNING RIGHT SELECT SESSION_USER SIMILAR SOME SYMMETRIC TABLE
TABLESAMPLE THEN TO TRAILING TRUE UNION UNIQUE UPDATE USER USING VARIADIC VERBOSE WHEN WHERE WINDOW WITH
PIVOT UNPIVOT QUALIFY SET VALUES TOP KEY INDEX VIEW DATE TIME TIMESTAMP INTERVAL
""".split())

_DIALECT_ALIASES = {"postgres": "postgres", "postgresql": "postgres", "sqlite": "sqlite", "duckdb": "duckdb",
                    "mysql": "mysql", "mariadb": "mysql", "mssql": "tsql", "tsql": "tsql",
                    "snowflake": "snowflake", "bigquery": "bigquery", "oracle": "oracle",
                    "redshift": "redshift", "trino": "trino", "databricks": "databricks", "spark": "spark"}


def sqlglot_dialect(name: str) -> str:
    """Map a SQLAlchemy/sqltune dialect name to sqlglot's; unknown names get a did-you-mean."""
    key = (name or "").lower()
    if key in _DIALECT_ALIASES:
        return _DIALECT_ALIASES[key]
    try:
        Dialect.get_or_raise(key)
        return key
    except ValueError:
        raise ConfigError(f"Unknown SQL dialect {name!r}. {did_you_mean(key, _DIALECT_ALIASES)}".strip()) from None


@functools.lru_cache(maxsize=None)
def _reserved(dialect: str) -> frozenset[str]:
    d = Dialect.get_or_raise(dialect)
    words = {k.upper() for k in d.tokenizer_class.KEYWORDS if k.replace("_", "").isalpha()}
    words |= {w.upper() for w in getattr(d.generator_class, "RESERVED_KEYWORDS", set())}
    return frozenset(words | _ALWAYS_RESERVED)


def needs_quotes(name: str, dialect: str = "duckdb") -> bool:
    """Whether ``name`` must be quoted to survive exactly in ``dialect``."""
    return not _PLAIN.match(name) or name.upper() in _reserved(sqlglot_dialect(dialect))


def identifier(name: str, dialect: str = "duckdb") -> exp.Identifier:
    """A sqlglot identifier node for ``name``, quoted when it must be."""
    return exp.Identifier(this=name, quoted=needs_quotes(name, dialect))


def render_identifier(name: str, dialect: str = "duckdb") -> str:
    """``name`` as it must be written in ``dialect``'s SQL."""
    return identifier(name, dialect).sql(dialect=sqlglot_dialect(dialect))


def render_table(key: TableKey, dialect: str = "duckdb", default_schema: str | None = None) -> str:
    """A table reference, schema-qualified unless it lives in the default schema."""
    name = render_identifier(key.name, dialect)
    if key.schema and key.schema != default_schema:
        return f"{render_identifier(key.schema, dialect)}.{name}"
    return name


def table_expression(key: TableKey, dialect: str = "duckdb", default_schema: str | None = None) -> exp.Table:
    """A sqlglot ``Table`` node for ``key`` with exact, correctly quoted parts."""
    db = identifier(key.schema, dialect) if key.schema and key.schema != default_schema else None
    return exp.Table(this=identifier(key.name, dialect), db=db)


_TYPE_RULES: tuple[tuple[str, str], ...] = (
    (r"\[\]$|^(list|array)\b", "array"),
    (r"^(struct|map|row|union)\b", "struct"),
    (r"^(tinyint|smallint|mediumint|int|integer|bigint|hugeint|uhugeint|utinyint|usmallint|uinteger|ubigint"
     r"|int[1248]|serial|bigserial|smallserial|long|short|byte|varint)\b", "integer"),
    (r"^(decimal|numeric|number|money)\b", "decimal"),
    (r"^(real|float|double|float4|float8|binary_double|binary_float)\b", "float"),
    (r"^(bool|boolean|bit)\b", "boolean"),
    (r"^(date)$", "date"),
    (r"^(timestamp|datetime|timestamptz|smalldatetime|datetime2|datetimeoffset)", "timestamp"),
    (r"^(time|timetz)\b", "time"),
    (r"^interval\b", "interval"),
    (r"^(blob|bytea|binary|varbinary|bytes|longblob|image|raw)\b", "binary"),
    (r"^uuid|uniqueidentifier", "uuid"),
    (r"^jsonb?\b", "json"),
    (r"^(varchar|char|character|text|string|nvarchar|nchar|clob|nclob|citext|name|enum|tinytext|mediumtext"
     r"|longtext|bpchar|varchar2|nvarchar2)\b", "text"),
)


def normalize_type(raw: str) -> str:
    """Map a database type name to one of :data:`sqltune.schema.TYPE_FAMILIES`."""
    text = (raw or "").strip().lower()
    for pattern, family in _TYPE_RULES:
        if re.search(pattern, text):
            return family
    return "other"


def parse_one(sql: str, dialect: str = "duckdb") -> exp.Expression:
    """Parse one statement without any case normalisation."""
    return sqlglot.parse_one(sql, read=sqlglot_dialect(dialect))
