"""Grade one predicted query against an evalset case: :func:`grade`.

The prediction runs once in the sandbox; a failure becomes a typed :class:`Verdict`, never an
exception. Every gold of the case runs first (once per ``(db, sql)`` with a shared ``gold_cache``),
so a broken gold raises whatever the prediction does, and becomes an
:class:`~sqltune.grade.compare.Expected`:

* without a top-level ``ORDER BY`` (decided on the sqlglot tree, DuckDB dialect; an ``ORDER BY``
  inside a subquery, CTE or set-operation branch does not count) the rows form one multiset;
* with one, the rows are cut into groups tied on the sort keys, which may come in any order. Keys
  that are output columns (by position, name or identical expression) are read off the result;
  other keys are appended to the gold's select list as extra columns and the gold is re-run
  (under ``DISTINCT`` or a set operation they are computed over the finished result instead);
* with ``LIMIT``/``OFFSET`` as well, the gold is re-run without them (keys appended), and a tie
  group the window cuts through becomes a partial segment: any of its rows may fill the places
  the window gives it. The gold's own result must fit what is derived this way; otherwise the
  grader falls back to the gold's own row order and says so in the reason.

A broken gold (does not parse, fails, times out, returns more than ``row_cap`` rows) is an evalset
problem and raises :class:`GoldError` naming the case.

>>> import duckdb, os, tempfile
>>> db = os.path.join(tempfile.mkdtemp(), "g.duckdb")
>>> duckdb.connect(db).execute("CREATE TABLE s AS SELECT * FROM (VALUES ('a', 3), ('b', 3), ('c', 1)) v(k, n)").close()
>>> gold = "SELECT k FROM s ORDER BY n DESC, k LIMIT 1"
>>> grade("SELECT k AS key FROM s ORDER BY n DESC, k LIMIT 1", gold, db).status
<Status.CORRECT: 'CORRECT'>
>>> grade("SELECT k FROM s ORDER BY n LIMIT 1", gold, db).reason
'1 row missing, 1 extra'
>>> tied = "SELECT k FROM s ORDER BY n DESC LIMIT 1"  # 'a' and 'b' tie: either is right
>>> grade("SELECT k FROM s ORDER BY n DESC, k DESC LIMIT 1", tied, db).status
<Status.CORRECT: 'CORRECT'>
>>> grade("SELECT kk FROM s", gold, db).label
'EXEC_ERROR:UNKNOWN_COLUMN'
"""

from __future__ import annotations

import dataclasses
import os
import time
import typing as t
from pathlib import Path

import sqlglot
from sqlglot import exp

from sqltune import sandbox
from sqltune.difficulty import measure
from sqltune.errors import SqlParseError
from sqltune.evalset import EvalCase, EvalsetError
from sqltune.grade.compare import Expected, Segment, compare
from sqltune.grade.policy import ComparisonPolicy
from sqltune.grade.verdict import Status, Verdict, error_subtype
from sqltune.sql_safety import classify

_KEY_PREFIX = "__sqltune_key_"
_NONDETERMINISTIC = frozenset({"random", "rand", "uuid", "gen_random_uuid", "now", "current_date", "current_timestamp",
                               "today", "get_current_time", "get_current_timestamp", "setseed"})  # fmt: skip


class GoldError(EvalsetError):
    """A gold query is broken: the evalset needs fixing, not the prediction."""


def grade(
    pred_sql: str | None, case: EvalCase | str | t.Sequence[str], db: str | os.PathLike[str],
    policy: ComparisonPolicy | None = None, *, gold_cache: dict[t.Any, t.Any] | None = None,
    timeout_s: float = 5.0, row_cap: int = 10_000, gold_timeout_s: float | None = None,
) -> Verdict:  # fmt: skip
    """Grade ``pred_sql`` against ``case`` (an :class:`EvalCase`, or gold SQL: one string or several).

    Args:
        pred_sql: The model's SQL; ``None``, blank or comment-only SQL is ``EMPTY``.
        case: The case; its golds are acceptable alternatives, tried in order.
        db: The DuckDB file both queries run against (read-only sandbox).
        policy: The comparison rules; default :class:`ComparisonPolicy()` (pass the evalset's).
        gold_cache: A dict reused across calls, keyed by ``(db, sql)``, holding gold executions.
        timeout_s: Limit for the prediction.
        row_cap: Most rows fetched from either query.
        gold_timeout_s: Limit for the golds (default ``max(timeout_s, 30)``).

    Raises:
        GoldError: A gold is broken (names the case); bad predictions never raise.
    """
    policy = policy or ComparisonPolicy()
    case_id, golds = _case_parts(case)
    if not golds:
        raise GoldError(f"Case {case_id!r} has no gold SQL.")
    gold_timeout = gold_timeout_s if gold_timeout_s is not None else max(timeout_s, 30.0)
    expected: list[Expected] = []
    gold_s = 0.0
    for sql in golds:  # every gold first: a broken one raises whatever the prediction does
        exp_, seconds = expected_for(sql, db, case_id=case_id, policy=policy, cache=gold_cache,
                                     timeout_s=gold_timeout, row_cap=row_cap)  # fmt: skip
        expected.append(exp_)
        gold_s += seconds
    verdict = Verdict(Status.EMPTY, reason="empty prediction", policy_version=policy.label, case_id=case_id,
                      gold_s=gold_s)  # fmt: skip
    if pred_sql is None or not pred_sql.strip() or (
        pred_sql.lstrip()[:1] in "-/;" and classify(pred_sql).statement_kind == "EMPTY"
    ):
        return verdict
    run = sandbox.execute(db, pred_sql, timeout_s=timeout_s, row_cap=row_cap)
    verdict = dataclasses.replace(verdict, pred_s=run.elapsed_s, error_class=run.error_class)
    message = run.error_message.strip().splitlines()[0] if run.error_message and run.error_message.strip() else ""
    if run.status is sandbox.Status.UNSAFE:
        return dataclasses.replace(verdict, status=Status.UNSAFE, reason=message or "unsafe SQL")
    if run.status is sandbox.Status.TIMEOUT:
        return dataclasses.replace(verdict, status=Status.TIMEOUT, reason=message or f"timed out after {timeout_s:g} s")
    if run.status is not sandbox.Status.OK:
        subtype = error_subtype(run.error_class, run.error_message)
        return dataclasses.replace(verdict, status=Status.EXEC_ERROR, subtype=subtype, reason=message)
    start = time.perf_counter()
    results = []
    for index, exp_ in enumerate(expected):
        if run.truncated:
            results.append((index, False, False, f"more than {row_cap:,} rows (row cap), gold has {exp_.size:,}"))
            continue
        result = compare(run.columns, run.rows, exp_, policy)
        results.append((index, result.strict, result.lenient, result.reason))
        if result.strict:
            break
    verdict = dataclasses.replace(verdict, status=Status.WRONG_RESULT, compare_s=time.perf_counter() - start,
                                  pred_row_count=len(run.rows))  # fmt: skip
    best = next((r for r in results if r[1]), None) or next((r for r in results if r[2]), None)
    if best is not None:
        index, strict, lenient, reason = best
        status = Status.CORRECT if strict else Status.WRONG_RESULT
        return dataclasses.replace(verdict, status=status, strict=strict, lenient=lenient, reason=reason,
                                   gold_index=index)  # fmt: skip
    suffix = f" (none of {len(golds)} golds match)" if len(golds) > 1 else ""
    return dataclasses.replace(verdict, reason=results[0][3] + suffix)


def _case_parts(case: EvalCase | str | t.Sequence[str]) -> tuple[str | None, tuple[str, ...]]:
    if isinstance(case, str):
        return None, (case,)
    if isinstance(case, EvalCase) or hasattr(case, "gold_sql"):
        golds = case.gold_sql  # type: ignore[union-attr]
        return case.id, ((golds,) if isinstance(golds, str) else tuple(golds))  # type: ignore[union-attr]
    return None, tuple(case)


# --------------------------------------------------------------------------------------- golds
def expected_for(
    sql: str, db: str | os.PathLike[str], *, case_id: str | None = None, policy: ComparisonPolicy | None = None,
    cache: dict[t.Any, t.Any] | None = None, timeout_s: float = 30.0, row_cap: int = 10_000,
) -> tuple[Expected, float]:  # fmt: skip
    """What ``sql`` (a gold) allows, and the seconds its executions took; raises :class:`GoldError`."""
    policy = policy or ComparisonPolicy()
    cache = {} if cache is None else cache
    key = (str(Path(db).expanduser().resolve()), sql, "expected", policy.label, row_cap)
    if key not in cache:
        cache[key] = _build_expected(sql, db, case_id, policy, cache, timeout_s, row_cap)
    return cache[key]


def _run_gold(sql: str, db: t.Any, case_id: str | None, cache: dict[t.Any, t.Any], timeout_s: float,
              row_cap: int, *, check: bool = True) -> sandbox.Execution:  # fmt: skip
    key = (str(Path(db).expanduser().resolve()), sql)
    run = cache.get(key)
    if run is None or (run.truncated and len(run.rows) < row_cap):
        run = cache[key] = sandbox.execute(db, sql, timeout_s=timeout_s, row_cap=row_cap)
    if len(run.rows) > row_cap:  # cached under a larger cap
        run = dataclasses.replace(run, rows=run.rows[:row_cap], truncated=True)
    if check and not run.ok:
        detail = (run.error_message or "").strip().splitlines()[0] if run.error_message else ""
        raise GoldError(f"Gold SQL of case {case_id!r} {_failure(run.status)}: {run.error_class}: {detail}")
    if check and run.truncated:
        raise GoldError(f"Gold SQL of case {case_id!r} returns more than {row_cap:,} rows (the row cap).")
    return run


def _failure(status: sandbox.Status) -> str:
    return {sandbox.Status.TIMEOUT: "timed out", sandbox.Status.UNSAFE: "is unsafe"}.get(status, "fails")


@dataclasses.dataclass(frozen=True)
class OrderPlan:
    """The gold's top-level ordering, decided on its sqlglot tree.

    ``key_columns`` are sort keys that are output columns (indexes); ``key_exprs`` must be computed
    as extra columns. ``limit``/``offset`` are set when they are plain integers; ``window_literal`` is
    false when the query has a non-literal ``LIMIT``/``OFFSET`` (the window then cannot be moved).
    """

    tree: exp.Expression
    ordered: bool
    key_columns: tuple[int, ...] = ()
    key_exprs: tuple[exp.Expression, ...] = ()
    limit: int | None = None
    offset: int = 0
    window_literal: bool = True

    @property
    def windowed(self) -> bool:
        return self.limit is not None or self.offset > 0


def parse_gold(sql: str, case_id: str | None = None) -> exp.Expression:
    """The gold's sqlglot tree (DuckDB dialect, no normalisation); :class:`GoldError` if it does not parse."""
    try:
        trees = [x for x in sqlglot.parse(sql, read="duckdb") if x is not None]
    except sqlglot.errors.SqlglotError as e:
        raise GoldError(f"Gold SQL of case {case_id!r} does not parse: {str(e).splitlines()[0]}") from None
    if len(trees) != 1 or not isinstance(trees[0], exp.Query):
        raise GoldError(f"Gold SQL of case {case_id!r} is not exactly one query.")
    tree = trees[0]
    while isinstance(tree, exp.Subquery) and not tree.alias and not (tree.args.get("order") or tree.args.get("limit")):
        tree = tree.this
    return tree


def order_plan(tree: exp.Expression, columns: t.Sequence[str]) -> OrderPlan:
    """Which output columns and expressions order ``tree``'s result, and its ``LIMIT``/``OFFSET``."""
    limit, offset, literal = None, 0, True
    node = tree.args.get("limit")
    if node is not None:
        limit = _int_literal(node.args.get("count") if isinstance(node, exp.Fetch) else node.expression)
        options = node.args.get("limit_options")
        literal = limit is not None and not (options and options.args.get("percent"))
    if tree.args.get("offset") is not None:
        value = _int_literal(tree.args["offset"].expression)
        offset, literal = (value, literal) if value is not None else (0, False)
    limit, offset = (limit, offset) if literal else (None, 0)
    order = tree.args.get("order")
    if not order or not order.expressions:
        return OrderPlan(tree, False, limit=limit, offset=offset, window_literal=literal)
    selects = tree.selects if isinstance(tree, exp.Select) else []
    starless = bool(selects) and not any(s.find(exp.Star) for s in selects) and len(selects) == len(columns)
    key_columns: list[int] = []
    key_exprs: list[exp.Expression] = []
    for ordered in order.expressions:
        key = ordered.this
        if isinstance(key, (exp.Var, exp.Column)) and key.name.upper() == "ALL" and not _quoted(key):
            key_columns.extend(range(len(columns)))
            continue
        index = _output_index(key, columns, selects if starless else [])
        if index is None:
            key_exprs.append(key)
        else:
            key_columns.append(index)
    return OrderPlan(tree, True, tuple(key_columns), tuple(key_exprs), limit, offset, literal)


def _quoted(node: exp.Expression) -> bool:
    ident = node.this if isinstance(node, exp.Column) else None
    return bool(isinstance(ident, exp.Identifier) and ident.quoted)


def _int_literal(node: exp.Expression | None) -> int | None:
    if isinstance(node, exp.Literal) and not node.is_string and node.this.isdigit():
        return int(node.this)
    return None


def _output_index(key: exp.Expression, columns: t.Sequence[str], selects: t.Sequence[exp.Expression]) -> int | None:
    value = _int_literal(key)
    if value is not None:
        return value - 1 if 1 <= value <= len(columns) else None
    if isinstance(key, exp.Column) and not key.table:
        hits = [i for i, c in enumerate(columns) if c == key.name]
        if not hits and not _quoted(key):
            hits = [i for i, c in enumerate(columns) if c.casefold() == key.name.casefold()]
        if len(hits) == 1:
            return hits[0]
    hits = [i for i, s in enumerate(selects) if s.unalias() == key]
    return hits[0] if len(hits) == 1 else None


def _keyed_sql(plan: OrderPlan, drop_window: bool) -> str:
    """The gold with its sort keys appended as extra columns, optionally without LIMIT/OFFSET."""
    query = plan.tree.copy()
    if drop_window:
        query.set("limit", None)
        query.set("offset", None)
    keys = [exp.alias_(e.copy(), f"{_KEY_PREFIX}{k}", quoted=True) for k, e in enumerate(plan.key_exprs)]
    if not keys:
        return query.sql(dialect="duckdb")
    if isinstance(query, exp.Select) and not query.args.get("distinct"):
        return query.select(*keys, append=True, copy=False).sql(dialect="duckdb")
    # DISTINCT or a set operation: compute the keys over the finished result (keys over outputs only)
    outer = exp.select("*", *keys).from_(t.cast(exp.Query, query.copy()).subquery("__sqltune_q"))
    outer.set("order", query.args["order"].copy())
    return outer.sql(dialect="duckdb")


def _build_expected(
    sql: str, db: t.Any, case_id: str | None, policy: ComparisonPolicy, cache: dict[t.Any, t.Any],
    timeout_s: float, row_cap: int,
) -> tuple[Expected, float]:  # fmt: skip
    tree = parse_gold(sql, case_id)
    run = _run_gold(sql, db, case_id, cache, timeout_s, row_cap)
    seconds = run.elapsed_s
    plan = order_plan(tree, run.columns)
    if not plan.ordered:
        return Expected.unordered(run.columns, run.rows), seconds
    own_keys = plan.key_columns if not plan.key_exprs else None
    if own_keys is not None and not plan.windowed:
        return _ordered(run.columns, run.rows, [tuple(r[i] for i in own_keys) for r in run.rows], policy), seconds
    drop = plan.window_literal and policy.limit_ties
    keyed_sql = _keyed_sql(plan, drop_window=drop)
    cap = row_cap + (plan.offset + (plan.limit or 0) if drop else 0)
    keyed = _run_gold(keyed_sql, db, case_id, cache, timeout_s, cap, check=False)
    seconds += keyed.elapsed_s
    n = len(run.columns)
    if keyed.ok and len(keyed.columns) == n + len(plan.key_exprs):
        keys = [tuple(r[i] for i in plan.key_columns) + tuple(r[n:]) for r in keyed.rows]
        start = plan.offset if drop else 0
        end = start + plan.limit if drop and plan.limit is not None else len(keyed.rows)
        note = ""
        if keyed.truncated and 0 < end <= len(keys) and keys[end - 1] == keys[-1]:
            note = "the tie group at the LIMIT boundary exceeds the row cap; only its first rows are accepted"
        rows = [r[:n] for r in keyed.rows]
        expected = _ordered(run.columns, run.rows, keys, policy, candidates=rows, window=(start, end), note=note)
        if compare(run.columns, run.rows, expected, policy).strict:
            return expected, seconds
    note = "ties could not be determined, the gold's own row order is required"
    if own_keys is not None:
        keys = [tuple(r[i] for i in own_keys) for r in run.rows]
        return _ordered(run.columns, run.rows, keys, policy, note=note), seconds
    segments = tuple(Segment((r,), 1) for r in run.rows)
    return Expected(tuple(run.columns), tuple(run.rows), segments, True, note), seconds


def _ordered(
    columns: t.Sequence[str], rows: t.Sequence[tuple[t.Any, ...]], keys: t.Sequence[tuple[t.Any, ...]],
    policy: ComparisonPolicy, *, candidates: t.Sequence[tuple[t.Any, ...]] | None = None,
    window: tuple[int, int] | None = None, note: str = "",
) -> Expected:  # fmt: skip
    """Segments from consecutive runs of equal sort keys in ``candidates`` that overlap ``window``."""
    candidates = rows if candidates is None else candidates
    start, end = window or (0, len(candidates))
    canon_keys = [tuple(map(policy.canon, k)) for k in keys]
    segments: list[Segment] = []
    first = 0
    for i in range(1, len(candidates) + 1):
        if i == len(candidates) or canon_keys[i] != canon_keys[first]:
            take = min(i, end) - max(first, start)
            if take > 0:
                segments.append(Segment(tuple(candidates[first:i]), take))
            first = i
    return Expected(tuple(columns), tuple(tuple(r) for r in rows), tuple(segments), True, note)


# ----------------------------------------------------------------------------------- validation
def check_gold(
    sql: str, db: str | os.PathLike[str], *, case_id: str | None = None, policy: ComparisonPolicy | None = None,
    cache: dict[t.Any, t.Any] | None = None, timeout_s: float = 30.0, row_cap: int = 10_000,
) -> tuple[list[tuple[str, str]], str | None]:  # fmt: skip
    """Findings ``(severity, message)`` about one gold, and its measured difficulty tier.

    Used by :func:`sqltune.evalset.validate_evalset`; never raises on a broken gold.
    """
    policy = dataclasses.replace(policy or ComparisonPolicy(), limit_ties=True)
    found: list[tuple[str, str]] = []
    try:
        tier = measure(sql).tier
        tree = parse_gold(sql, case_id)
    except (SqlParseError, GoldError) as e:
        return [("error", f"does not parse: {e}")], None
    selects = [s for s in tree.find_all(exp.Select) if s is not tree]
    if any(s.args.get("limit") and not s.args.get("order") for s in selects):
        found.append(("error", "non-deterministic: LIMIT without ORDER BY in a subquery"))
    names = {f.sql_name().lower() for f in tree.find_all(exp.Func)} | {
        a.name.lower() for a in tree.find_all(exp.Anonymous)
    }  # fmt: skip
    if names & _NONDETERMINISTIC:
        found.append(("error", "non-deterministic function: " + ", ".join(sorted(names & _NONDETERMINISTIC))))
    try:
        expected, _ = expected_for(sql, db, case_id=case_id, policy=policy, cache=cache, timeout_s=timeout_s,
                                   row_cap=row_cap)  # fmt: skip
    except GoldError as e:
        return [*found, ("error", str(e).replace(f"Gold SQL of case {case_id!r} ", ""))], tier
    plan = order_plan(tree, expected.columns)
    if tree.args.get("limit") and not plan.ordered and (plan.limit is None or len(expected.rows) >= plan.limit):
        found.append(("error", "non-deterministic: LIMIT without ORDER BY"))
    if plan.ordered and not plan.window_literal:
        found.append(("warning", "LIMIT/OFFSET is not a plain integer: ties at its boundary cannot be resolved"))
    if not expected.rows:
        found.append(("error", "returns no rows (an empty gold accepts any query returning nothing)"))
    cut = [s for s in expected.segments if not s.full]
    if cut:
        found.append(("error", f"non-deterministic: LIMIT/OFFSET cuts through {len(cut[0].rows)} rows tied on the "
                               "ORDER BY keys"))  # fmt: skip
    if expected.note:
        found.append(("warning", expected.note))
    return found, tier
