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
    At most four queries per table: the row count; one pass over a sample (block sampling, so its
    cost does not grow with the table) for counts, ranges and examples; and, for the columns that
    look categorical, one full pass for their distinct counts and one for their complete domains.
    """
    deadline = time.monotonic() + opts.table_budget_s
    left = lambda: max(0.2, deadline - time.monotonic())  # noqa: E731
    count = box.execute(f"SELECT count(*) FROM {relation}", timeout_s=left(), row_cap=1)
    rows = int(count.rows[0][0]) if count.ok else None
    sampled = rows is not None and rows > opts.sample_rows
    source = relation
    if sampled:
        pct = max(0.01, min(100.0, 100.0 * opts.sample_rows / rows))
        source = f"{relation} USING SAMPLE {pct:.4f}% (system, {opts.seed})"
    stats, seen_rows = _column_stats(box, table.columns, source, opts, left())
    domains = _domains(box, table.columns, relation, stats, sampled, opts, left)
    columns = []
    for col in table.columns:
        st = stats.get(col.name)
        if st is None:
            columns.append(replace(col, profile=ColumnProfile(sampled_rows=seen_rows)))
            continue
        non_null, distinct, lo, hi, top = st
        prof = ColumnProfile(distinct_count=distinct,
                             null_fraction=round(1 - non_null / seen_rows, 6) if seen_rows else None,
                             sampled_rows=seen_rows)
        if not col.masked:
            if col.type in _RANGED:
                prof = replace(prof, min=json_value(lo), max=json_value(hi))
            prof = replace(prof, examples=tuple(json_value(v) for v in (top or ())[: opts.examples]))
            if col.name in domains:
                values, counts = domains[col.name]
                by_count = sorted(values, key=lambda v: (-counts[v], str(v)))
                prof = replace(prof, values=tuple(sorted(values, key=str)), values_complete=True,
                               distinct_count=len(values), examples=tuple(by_count[: opts.examples]))
        columns.append(replace(col, profile=prof))
    unique = {c.name for c in columns if rows and not sampled and c.profile
              and c.profile.null_fraction == 0 and c.profile.distinct_count == rows}
    columns = [replace(c, unique=c.unique or c.name in unique) for c in columns]
    return replace(table, columns=tuple(columns), row_count=rows)


def _integer_code(col: Column) -> bool:
    """A small-integer column whose name or type says it holds codes."""
    from sqltune.introspect.joins import tokens

    if col.type != "integer":
        return False
    return col.raw_type.upper() in ("TINYINT", "UTINYINT", "INT1") or bool(set(tokens(col.name)) & _CODE_WORDS)


def _column_stats(box: Sandbox, columns: t.Sequence[Column], source: str, opts: ProfileOptions, timeout_s: float
                  ) -> tuple[dict[str, tuple[int, int, t.Any, t.Any, t.Any]], int | None]:
    parts = ["count(*)"]
    for col in columns:
        q = render_identifier(col.name)
        plain = col.type not in ("binary", "struct", "array", "json")
        ranged = col.type in _RANGED and not col.masked
        parts += [f"count({q})", f"count(DISTINCT {q})" if plain else "NULL",
                  f"min({q})" if ranged else "NULL", f"max({q})" if ranged else "NULL",
                  f"approx_top_k({q}, {opts.examples})" if plain and not col.masked else "NULL"]
    res = box.execute(f"SELECT {', '.join(parts)} FROM {source}", timeout_s=timeout_s, row_cap=1)
    if not res.ok or not res.rows:
        return {}, None
    row = res.rows[0]
    out = {col.name: (int(row[1 + 5 * i] or 0), int(row[2 + 5 * i] or 0), row[3 + 5 * i], row[4 + 5 * i],
                      row[5 + 5 * i]) for i, col in enumerate(columns)}
    return out, int(row[0])


def _domains(box: Sandbox, columns: t.Sequence[Column], relation: str, stats: dict[str, t.Any], sampled: bool,
             opts: ProfileOptions, left: t.Callable[[], float]) -> dict[str, tuple[list[t.Any], dict[t.Any, int]]]:
    """The complete value lists of the categorical columns, read from the whole table."""
    cap = opts.categorical_max_distinct
    cands = [c for c in columns if not c.masked and c.name in stats and 0 < stats[c.name][1] <= cap
             and (c.type == "text" or _integer_code(c))]
    if not cands:
        return {}
    if sampled:  # a sample can miss values: check the whole table's distinct counts first (HyperLogLog)
        approx = box.execute("SELECT " + ", ".join(f"approx_count_distinct({render_identifier(c.name)})"
                                                   for c in cands) + f" FROM {relation}",
                             timeout_s=left(), row_cap=1)
        if not approx.ok:
            return {}
        cands = [c for c, n in zip(cands, approx.rows[0]) if n is not None and n <= cap * 1.2]
        if not cands:
            return {}
    hist = box.execute("SELECT " + ", ".join(f"histogram({render_identifier(c.name)})" for c in cands)
                       + f" FROM {relation}", timeout_s=left(), row_cap=1)
    if not hist.ok:
        return {}
    out = {}
    for col, h in zip(cands, hist.rows[0]):
        counts = {json_value(k): int(v) for k, v in (h or {}).items() if k is not None}
        if 0 < len(counts) <= cap:
            out[col.name] = (list(counts), counts)
    return out
