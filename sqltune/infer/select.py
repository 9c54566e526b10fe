"""Execution-guided selection among SQL candidates.

The first candidate that parses, resolves against the schema (no invented table or column) and
executes without error within the timeout wins. With ``vote=True`` (self-consistency) every
candidate that runs is executed and the most common result set wins, ties going to the earlier
candidate.
"""

from __future__ import annotations

import collections
import hashlib
import typing as t
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from sqltune.grade.invented import invented_identifiers
from sqltune.sandbox import Execution, Sandbox
from sqltune.schema import Schema


@dataclass(frozen=True)
class Choice:
    index: int | None  # None: no candidate ran; the first one is reported
    execution: Execution | None
    rejected: tuple[str, ...]  # why each earlier candidate was passed over
    #: Unquoted names of the chosen candidate that match the schema only case-insensitively (they run on
    #: DuckDB, which folds them, but not as written on a case-sensitive source).
    case_mismatches: tuple[str, ...] = ()


def choose(candidates: t.Sequence[str], schema: Schema, box: Sandbox, *, vote: bool = False, timeout_s: float = 10.0,
           row_cap: int = 1000) -> Choice:
    runs: list[tuple[int, Execution]] = []
    cases: dict[int, tuple[str, ...]] = {}
    rejected: list[str] = []
    for i, sql in enumerate(candidates):
        if not sql.strip():
            rejected.append(f"{i}: empty")
            continue
        inv = invented_identifiers(sql, schema)
        if inv.unparseable or not _is_query(sql):
            rejected.append(f"{i}: does not parse")
            continue
        if inv.tables or inv.columns:
            rejected.append(f"{i}: invented {', '.join((*inv.tables, *inv.columns))}")
            continue
        ex = box.execute(sql, timeout_s=timeout_s, row_cap=row_cap)
        if not ex.ok:
            rejected.append(f"{i}: {ex.status.value} {ex.error_class or ''}".strip())
            continue
        runs.append((i, ex))
        cases[i] = inv.case_mismatches
        if not vote:
            break
    if not runs:
        return Choice(None, None, tuple(rejected))
    if vote and len(runs) > 1:
        votes = collections.Counter(_fingerprint(ex) for _, ex in runs)
        best = max(votes.values())
        i, ex = next((i, ex) for i, ex in runs if votes[_fingerprint(ex)] == best)
        return Choice(i, ex, tuple(rejected), cases[i])
    return Choice(runs[0][0], runs[0][1], tuple(rejected), cases[runs[0][0]])


def _is_query(sql: str) -> bool:
    try:
        trees = sqlglot.parse(sql, read="duckdb")
    except (sqlglot.errors.SqlglotError, RecursionError):  # model output: deep nesting exhausts the parser's stack
        return False
    return len(trees) == 1 and isinstance(trees[0], exp.Query)


def _fingerprint(ex: Execution) -> str:
    rows = sorted(repr(r) for r in ex.rows)
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()
