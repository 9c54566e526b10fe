"""Statement classification: the second defence layer of :mod:`sqltune.sandbox`.

The first layer is the locked-down DuckDB connection itself (read-only file, no
external access, locked configuration). This module decides, *before* anything
runs, whether a piece of model-generated SQL is a single read-only query that
touches nothing but the database's own tables.

Checks, in order:

1. **DuckDB's own parser** (``extract_statements``) counts the statements and
   names their type. Exactly one statement of type ``SELECT`` is allowed; that
   covers ``SELECT``, ``WITH … SELECT``, ``FROM``-first queries, ``VALUES``,
   set operations, ``DESCRIBE``/``SHOW``/``SUMMARIZE`` and ``PIVOT … IN (…)``.
   Everything else (DML, DDL, ``WITH … DELETE``, ``ATTACH``, ``COPY``,
   ``EXPORT``, ``INSTALL``/``LOAD``, ``PRAGMA``, ``SET``/``RESET``/``USE``,
   ``CALL``, ``CHECKPOINT``, ``VACUUM``, ``EXPLAIN [ANALYZE]``, transactions,
   ``PREPARE``/``EXECUTE``, ``PIVOT`` without an ``IN`` list, which DuckDB
   runs as several statements) is unsafe. SQL DuckDB cannot parse is not
   unsafe but invalid (``statement_kind == "INVALID"``).
2. **DuckDB's own tokenizer** (so comments and strings are split exactly as
   the engine splits them): a denied function name followed by ``(`` anywhere,
   a table function other than ``range``/``generate_series``/``unnest``
   followed by ``(``, or a string literal right after ``FROM``/``JOIN`` (a file
   read through a replacement scan) is unsafe.
3. **The sqlglot tree** (dialect ``duckdb``): every function node is checked
   against the deny list, every table function in ``FROM`` position against
   the allow list, every table name that looks like a path or URL (contains
   one of ``/ \\ : . * ? ~``; DuckDB reads ``FROM 'x.csv'`` *and*
   ``FROM "x.csv"`` as files) is refused, and data-changing nodes anywhere are
   refused. If sqlglot sees a different number of statements than DuckDB, the
   SQL is refused.

Where sqlglot cannot parse SQL that DuckDB accepts (e.g. ``SELECT x'ff'``),
check 3 is replaced by a conservative token check: any string literal or quoted
identifier that looks like a file path or URL makes the SQL unsafe. Checks 1 and
2 still apply in full because they use DuckDB's own parser and tokenizer.

>>> classify("SELECT 1").safe
True
>>> classify("WITH x AS (SELECT 1) DELETE FROM t")
Safety(safe=False, reason='DELETE statements are not allowed; only queries (SELECT) run.', statement_kind='DELETE')
>>> classify("SELECT * FROM read_csv('/etc/passwd')").reason
"Function 'read_csv' is denied (it reaches files, the network, the environment or SQL text)."
"""

from __future__ import annotations

import dataclasses
import functools
import re
import threading
import typing as t

import duckdb
import sqlglot
from sqlglot import exp

ALLOWED_KINDS: t.Final = frozenset({"SELECT"})
"""DuckDB statement types that may run."""

MAX_SQL_CHARS: t.Final = 100_000
"""Longer SQL is refused: DuckDB cannot interrupt planning, which grows faster than linearly."""

ALLOWED_TABLE_FUNCTIONS: t.Final = frozenset({"range", "generate_series", "unnest"})
"""The only table functions allowed in ``FROM``: they generate rows and read nothing."""

DENIED_FUNCTIONS: t.Final = frozenset(
    {
        "getenv", "glob", "sniff_csv", "query", "query_table", "read_text", "read_blob",
        "json_execute_serialized_sql", "json_deserialize_sql", "write_log",
        "load_aws_credentials", "which_secret", "duckdb_secrets", "st_read", "st_read_meta",
    }
)  # fmt: skip
"""Functions refused wherever they appear (scalar or table position)."""

_DENIED_PATTERN: t.Final = re.compile(
    r"^(read_\w*|\w*_scan|\w*_attach|parquet_\w*|iceberg_\w*|delta_\w*|sqlite_\w*|postgres_\w*|"
    r"mysql_\w*|ducklake_\w*|httpfs_\w*|s3_\w*|excel_\w*|__internal_\w*)$"
)
_DENIED_REASON: t.Final = "Function {name!r} is denied (it reaches files, the network, the environment or SQL text)."
_PATH_CHARS: t.Final = re.compile(r"[/\\:.*?~]")
_FILE_LIKE: t.Final = re.compile(
    r"[/\\]|://|\.(csv|tsv|txt|parquet|json|jsonl|ndjson|gz|zst|xlsx?|db|duckdb|sqlite\d?|arrow|ipc|avro)$",
    re.IGNORECASE,
)
_WRITE_NODES: t.Final = tuple(
    getattr(exp, name)  # names vary across sqlglot versions (AlterTable → Alter, …)
    for name in (
        "Insert", "Update", "Delete", "Merge", "Create", "Drop", "Alter", "AlterTable", "Command",
        "Copy", "Set", "Use", "Pragma", "Transaction", "Commit", "Rollback",
    )
    if hasattr(exp, name)
)  # fmt: skip
_NOT_A_STATEMENT: t.Final = (type(None), *[getattr(exp, n) for n in ("Semicolon",) if hasattr(exp, n)])


@dataclasses.dataclass(frozen=True)
class Safety:
    """What :func:`classify` decided about one piece of SQL.

    Attributes:
        safe: True when the SQL may run.
        reason: Why it may not run (``None`` when safe).
        statement_kind: DuckDB's statement type (``"SELECT"``, ``"DELETE"``, …);
            ``"SELECT+DROP"`` for stacked statements, ``"INVALID"`` when DuckDB
            cannot parse it, ``"EMPTY"`` when there is no statement, ``"UNKNOWN"``
            for a type this duckdb client cannot name, ``"TOO_LONG"`` past
            :data:`MAX_SQL_CHARS`.
    """

    safe: bool
    reason: str | None
    statement_kind: str


def classify(sql: str) -> Safety:
    """Decide whether ``sql`` is one read-only query that reads no files.

    Never raises on bad SQL: unparseable SQL comes back with
    ``statement_kind == "INVALID"`` and DuckDB's message as ``reason``.

    Args:
        sql: The SQL text, possibly with comments and one trailing semicolon.

    Returns:
        A :class:`Safety` record.

    >>> classify("SELECT 1; DROP TABLE t").statement_kind
    'SELECT+DROP'
    >>> classify("SELEC 1").statement_kind
    'INVALID'
    """
    if len(sql) > MAX_SQL_CHARS:
        return Safety(False, f"Query is {len(sql):,} characters long; the limit is {MAX_SQL_CHARS:,}.", "TOO_LONG")
    try:
        statements = _parser().extract_statements(sql)
    except duckdb.Error as e:
        return Safety(False, str(e), "INVALID")
    if not statements:
        return Safety(False, "No SQL statement found.", "EMPTY")
    try:
        kinds = [s.type.name for s in statements]
    except ValueError as e:  # a type the Python enum does not know (e.g. UPDATE EXTENSIONS)
        return Safety(False, f"Unrecognised statement type ({e}).", "UNKNOWN")
    if len(kinds) > 1:
        return Safety(False, f"{len(kinds)} statements found; exactly one is allowed.", "+".join(kinds))
    kind = kinds[0]
    if kind not in ALLOWED_KINDS:
        return Safety(False, f"{kind} statements are not allowed; only queries (SELECT) run.", kind)
    try:
        reason = _token_check(sql) or _tree_check(sql)
    except Exception as e:  # RecursionError on absurd nesting, or a bug: refuse rather than guess
        reason = f"Query could not be checked ({type(e).__name__}: {e})."
    return Safety(reason is None, reason, kind)


# -- DuckDB tokens ---------------------------------------------------------------------------

_parser_local = threading.local()


def _parser() -> duckdb.DuckDBPyConnection:
    """A per-thread in-memory connection used only to parse (never shared between threads)."""
    con = getattr(_parser_local, "con", None)
    if con is None:
        con = duckdb.connect(":memory:", config={"enable_external_access": False})
        _parser_local.con = con
    return con


@functools.cache
def _table_only_functions() -> frozenset[str]:
    """Names DuckDB knows only as table functions (``repeat``, also a scalar, is not one)."""
    rows = _parser().execute(
        "SELECT function_name, bool_and(function_type IN ('table', 'table_macro')) "
        "FROM duckdb_functions() GROUP BY ALL"
    ).fetchall()
    return frozenset(name.lower() for name, table_only in rows if table_only)


def _is_denied(name: str) -> bool:
    return name in DENIED_FUNCTIONS or bool(_DENIED_PATTERN.match(name))


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1].replace(text[0] * 2, text[0])
    return text


def _tokens(sql: str) -> list[tuple[str, str]]:
    """``(kind, text)`` for each token DuckDB's tokenizer sees, comments dropped."""
    raw = duckdb.tokenize(sql)
    out = []
    for i, (start, kind) in enumerate(raw):
        if kind == duckdb.token_type.comment:
            continue
        end = raw[i + 1][0] if i + 1 < len(raw) else len(sql)
        out.append((kind.name, sql[start:end].strip()))
    return out


def _token_check(sql: str) -> str | None:
    tokens = _tokens(sql)
    table_only = _table_only_functions()
    for i, (kind, text) in enumerate(tokens):
        nxt = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        prev = tokens[i - 1][1].lower() if i else ""
        if kind in ("identifier", "keyword") and nxt.startswith("("):
            name = _unquote(text).lower()
            if _is_denied(name):
                return _DENIED_REASON.format(name=name)
            if name in table_only and name not in ALLOWED_TABLE_FUNCTIONS:
                return f"Table function {name!r} is not allowed."
        if kind == "string_const" and prev in ("from", "join"):
            return f"A string literal as a table ({text}) reads a file."
    return None


def _fallback_check(sql: str) -> str | None:
    """Used when sqlglot cannot parse the query: refuse anything that looks like a path or URL."""
    for kind, text in _tokens(sql):
        quoted = kind == "string_const" or (kind == "identifier" and text.startswith('"'))
        if quoted and _FILE_LIKE.search(_unquote(text)):
            return f"{text} looks like a file path or URL (checked by tokens only: sqlglot cannot parse this query)."
    return None


# -- sqlglot tree ----------------------------------------------------------------------------


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return node.sql_name().lower()


def _tree_check(sql: str) -> str | None:
    try:
        trees = [tree for tree in sqlglot.parse(sql, read="duckdb") if not isinstance(tree, _NOT_A_STATEMENT)]
    except Exception:  # ParseError, TokenError, or a sqlglot bug: DuckDB's tokens decide
        return _fallback_check(sql)
    if len(trees) != 1:
        return f"sqlglot sees {len(trees)} statements where DuckDB sees one."
    if isinstance(trees[0], exp.Command):  # sqlglot's "could not parse this statement"
        return _fallback_check(sql)
    for node in trees[0].walk():
        if isinstance(node, _WRITE_NODES):
            return f"{type(node).__name__.upper()} is not allowed inside a query."
        if isinstance(node, exp.Func):
            name = _function_name(node)
            if _is_denied(name):
                return _DENIED_REASON.format(name=name)
            in_from = node.arg_key == "this" and isinstance(node.parent, (exp.Table, exp.From, exp.Join, exp.Lateral))
            if in_from and name not in ALLOWED_TABLE_FUNCTIONS:  # (a JOIN's ON is arg "on", not "this")
                return f"Table function {name!r} is not allowed."
        elif isinstance(node, exp.Table) and not isinstance(node.this, exp.Func):
            if _PATH_CHARS.search(node.name):
                return f"Table name {node.name!r} looks like a file path or URL."
    return None
