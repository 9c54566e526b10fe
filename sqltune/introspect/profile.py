"""Profiling columns: counts, null fraction, ranges, categorical domains and examples.

All queries run through the sandbox on the DuckDB execution file, each table within a time
budget: tables above ``sample_rows`` are profiled on a seeded sample, and only the full value
list of a low-cardinality text column (its categorical domain) is read from the whole table, so
a code no sample happened to hit is not lost. Masked columns get counts only, never values.
"""

from __future__ import annotations

import datetime as dt
import decimal
import time
import typing as t
from dataclasses import dataclass, replace

from sqltune.identifiers import render_identifier
from sqltune.sandbox import Sandbox
from sqltune.schema import Column, ColumnProfile, Table

_RANGED = {"integer", "decimal", "float", "date", "timestamp", "time"}
#: Name words that mark a small-integer column as a code (``GRADE`` 1-5, ``PRIORITY``), not a measure.
_CODE_WORDS = {"cd", "code", "grade", "level", "lvl", "tier", "type", "status", "stat", "flag", "phase", "class",
               "category", "cat", "priority", "severity", "rating", "score", "band", "kind", "ind"}


@dataclass(frozen=True)
class ProfileOptions:
    """How much profiling may cost and what counts as categorical."""

    sample_rows: int = 200_000
    categorical_max_distinct: int = 50
    examples: int = 5
    table_budget_s: float = 10.0
    seed: int = 0


def json_value(v: t.Any) -> t.Any:
    """A profile value as JSON can hold it (dates as ISO text, decimals as floats)."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if v == v and v not in (float("inf"), float("-inf")) else None
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, (dt.date, dt.datetime, dt.time)):
        return v.isoformat()
    if isinstance(v, (bytes, bytearray, memoryview)):
        return None
    return str(v)


def profile_table(box: Sandbox, table: Table, relation: str, opts: ProfileOptions) -> Table:
    """Return ``table`` with its row count and every column's profile filled in.

    ``relation`` is the table as written in DuckDB SQL (for example ``sales."OrderHeader"``).
    """
    deadline = time.monotonic() + opts.table_budget_s
    left = lambda: max(0.2, deadline - time.monotonic())  # noqa: E731
    count = box.execute(f"SELECT count(*) FROM {relation}", timeout_s=left(), row_cap=1)
    rows = int(count.rows[0][0]) if count.ok else None
    source = relation
    sampled = rows
    if rows is not None and rows > opts.sample_rows:
        source = f"(SELECT * FROM {relation} USING SAMPLE reservoir({opts.sample_rows} ROWS) REPEATABLE ({opts.seed}))"
        sampled = opts.sample_rows
    stats = _column_stats(box, table.columns, source, left())
    columns = []
    for col in table.columns:
        st = stats.get(col.name)
        if st is None:
            columns.append(replace(col, profile=ColumnProfile(sampled_rows=sampled)))
            continue
        non_null, distinct, lo, hi = st
        total = sampled or 0
        prof = ColumnProfile(distinct_count=distinct, null_fraction=round(1 - non_null / total, 6) if total else None,
                             sampled_rows=sampled)
        if not col.masked:
            if col.type in _RANGED:
                prof = replace(prof, min=json_value(lo), max=json_value(hi))
            prof = _values(box, col, relation, source, prof, distinct, opts, left())
        columns.append(replace(col, profile=prof))
    unique = {c.name for c in columns if rows and sampled == rows and c.profile
              and c.profile.null_fraction == 0 and c.profile.distinct_count == rows}
    columns = [replace(c, unique=c.unique or c.name in unique) for c in columns]
    return replace(table, columns=tuple(columns), row_count=rows)


def _integer_code(col: Column) -> bool:
    """A small-integer column whose name or type says it holds codes."""
    from sqltune.introspect.joins import tokens

    if col.type != "integer":
        return False
    return col.raw_type.upper() in ("TINYINT", "UTINYINT", "INT1") or bool(set(tokens(col.name)) & _CODE_WORDS)


def _column_stats(box: Sandbox, columns: t.Sequence[Column], source: str, timeout_s: float
                  ) -> dict[str, tuple[int, int, t.Any, t.Any]]:
    parts = []
    for col in columns:
        q = render_identifier(col.name)
        ranged = col.type in _RANGED and not col.masked
        parts += [f"count({q})", f"count(DISTINCT {q})" if col.type not in ("binary", "struct", "array") else "NULL",
                  f"min({q})" if ranged else "NULL", f"max({q})" if ranged else "NULL"]
    if not parts:
        return {}
    res = box.execute(f"SELECT {', '.join(parts)} FROM {source} AS _t", timeout_s=timeout_s, row_cap=1)
    if not res.ok or not res.rows:
        return {}
    row = res.rows[0]
    return {col.name: (int(row[4 * i] or 0), int(row[4 * i + 1] or 0), row[4 * i + 2], row[4 * i + 3])
            for i, col in enumerate(columns)}


def _values(box: Sandbox, col: Column, relation: str, source: str, prof: ColumnProfile, distinct: int,
            opts: ProfileOptions, timeout_s: float) -> ColumnProfile:
    q = render_identifier(col.name)
    cap = opts.categorical_max_distinct
    if 0 < distinct <= cap and (col.type == "text" or _integer_code(col)):
        full = box.execute(
            f"SELECT {q}, count(*) AS n FROM {relation} WHERE {q} IS NOT NULL GROUP BY 1 ORDER BY n DESC, 1 LIMIT {cap + 1}",
            timeout_s=timeout_s, row_cap=cap + 1,
        )
        if full.ok and len(full.rows) <= cap:
            values = tuple(sorted(json_value(r[0]) for r in full.rows))
            top = tuple(json_value(r[0]) for r in full.rows[: opts.examples])
            return replace(prof, values=values, values_complete=True, examples=top, distinct_count=len(values))
        if not full.ok:  # out of time on the whole table: keep what the sample saw, flagged incomplete
            seen = box.execute(f"SELECT DISTINCT {q} FROM {source} AS _t WHERE {q} IS NOT NULL ORDER BY 1",
                               timeout_s=2.0, row_cap=cap + 1)
            if seen.ok and len(seen.rows) <= cap:
                return replace(prof, values=tuple(json_value(r[0]) for r in seen.rows), values_complete=False,
                               examples=tuple(json_value(r[0]) for r in seen.rows[: opts.examples]))
    if distinct == 0 or col.type in ("binary", "struct", "array", "json"):
        return prof
    ex = box.execute(
        f"SELECT {q}, count(*) AS n FROM {source} AS _t WHERE {q} IS NOT NULL GROUP BY 1 ORDER BY n DESC, 1 "
        f"LIMIT {opts.examples}",
        timeout_s=min(timeout_s, 5.0), row_cap=opts.examples,
    )
    if ex.ok:
        return replace(prof, examples=tuple(json_value(r[0]) for r in ex.rows))
    return prof
