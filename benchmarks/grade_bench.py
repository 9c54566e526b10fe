"""Benchmark: grading throughput, the grader's overhead beyond DuckDB's own query time, and TS cost vs EX.

Predictions are the shipped evalsets' golds (right answers) plus mutants (wrong ones): the cpg
mutation corpus (tests/fixtures/mutations/cpg.yaml) and one automatic mutant per gold (a dropped
``WHERE`` conjunct, ``<`` for ``<=``, ``avg`` for ``sum``, a toggled ``DISTINCT``…). For each item, in
one run on the same machine, on the database and on the first perturbed copy (small, so its
queries are the fast ones):

* **baseline**: bare :func:`sqltune.sandbox.execute` of the prediction and of every gold (after one
  untimed warm-up run of each, so all measurements see warm buffers);
* **EX**: :func:`sqltune.grade.grade` with an empty gold cache (the golds run again, plus the re-run
  the grader needs for a gold with ``ORDER BY … LIMIT`` to find ties at the cut, the comparison
  and the verdict);
* **TS** (on the database only): :func:`sqltune.grade.suite.grade_suite` on the database and k=5
  copies, empty gold cache.

Baseline and EX are the fastest of three runs (the machine may be busy; the load average is
recorded). Overhead = EX time − baseline time. Targets: under 25 % of the query time for items
whose baseline is over 10 ms, under 2 ms per item for faster ones; both are also shown without the
top-N golds, whose re-run is grading work DuckDB does, not Python. Also: end-to-end
:func:`~sqltune.grade.run.evaluate_predictions` throughput (EX + TS, suite cached) with 1 and 2
workers, and the suite build time. Prints tables and writes ``benchmarks/out/grade.json``.

Run: ``python benchmarks/grade_bench.py`` (``--quick``: every third item, cpg only).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import typing as t
from pathlib import Path

import duckdb
import sqlglot
import yaml
from sqlglot import exp

from sqltune import samples, sandbox
from sqltune.difficulty import TIERS
from sqltune.evalset import EvalCase, Evalset, load_evalset
from sqltune.grade import grade
from sqltune.grade.run import evaluate_predictions
from sqltune.grade.suite import build_suite, grade_suite
from sqltune.introspect import introspect

ROOT = Path(__file__).resolve().parents[1]
MUTANTS = ROOT / "tests" / "fixtures" / "mutations" / "cpg.yaml"


# ---------------------------------------------------------------------------------------- mutants
def auto_mutant(sql: str, n: int) -> str | None:
    """One wrong variant of ``sql``: operators tried in a rotating order starting at ``n``."""
    ops: list[t.Callable[[exp.Expression], bool]] = [_drop_conjunct, _flip_comparison, _swap_aggregate,
                                                     _toggle_distinct]  # fmt: skip
    for k in range(len(ops)):
        tree = sqlglot.parse_one(sql, read="duckdb")
        if ops[(n + k) % len(ops)](tree):
            return tree.sql(dialect="duckdb")
    return None


def _drop_conjunct(tree: exp.Expression) -> bool:
    where = tree.find(exp.Where)
    if where is None or not isinstance(where.this, exp.And):
        return False
    where.set("this", where.this.this)  # keep the left side of the top AND
    return True


def _flip_comparison(tree: exp.Expression) -> bool:
    swap = {exp.LT: exp.LTE, exp.LTE: exp.LT, exp.GT: exp.GTE, exp.GTE: exp.GT}
    for node in tree.find_all(*swap):
        node.replace(swap[type(node)](this=node.this.copy(), expression=node.expression.copy()))
        return True
    between = tree.find(exp.Between)
    if between is not None:
        between.replace(exp.and_(exp.GT(this=between.this.copy(), expression=between.args["low"].copy()),
                                 exp.LTE(this=between.this.copy(), expression=between.args["high"].copy())))  # fmt: skip
        return True
    return False


def _swap_aggregate(tree: exp.Expression) -> bool:
    for node in tree.find_all(exp.Sum, exp.Avg, exp.Max, exp.Min):
        other = {exp.Sum: exp.Avg, exp.Avg: exp.Sum, exp.Max: exp.Min, exp.Min: exp.Max}[type(node)]
        node.replace(other(this=node.this.copy()))
        return True
    return False


def _toggle_distinct(tree: exp.Expression) -> bool:
    if not isinstance(tree, exp.Select):
        return False
    tree.set("distinct", None if tree.args.get("distinct") else exp.Distinct())
    return True


def predictions(es: Evalset, name: str) -> list[tuple[EvalCase, str, str]]:
    """``(case, sql, kind)``: every gold, the corpus mutants (cpg) and one automatic mutant per gold."""
    out = [(c, g, "gold") for c in es.cases for g in c.gold_sql]
    if name == "cpg" and MUTANTS.is_file():
        for m in yaml.safe_load(MUTANTS.read_text(encoding="utf-8"))["mutants"]:
            out.append((es.case(m["case"]), m["sql"], "gold" if m["kind"] == "equivalent" else "mutant"))
    for n, c in enumerate(es.cases):
        sql = auto_mutant(c.gold_sql[0], n)
        if sql is not None:
            out.append((c, sql, "mutant"))
    return out


# --------------------------------------------------------------------------------------- timing
def _timed(fn: t.Callable[[], t.Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _best(fn: t.Callable[[], t.Any], repeat: int) -> float:
    """The fastest of ``repeat`` runs (the usual defence against a busy machine)."""
    return min(_timed(fn) for _ in range(repeat))


def _top_n(sql: str) -> bool:
    """A top-level ``ORDER BY … LIMIT``: the grader re-runs such a gold to find ties at the cut."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    return bool(tree.args.get("order") and tree.args.get("limit"))


def measure(es: Evalset, db: Path, suite: list[Path], items: list[tuple[EvalCase, str, str]],
            repeat: int = 3) -> list[dict[str, t.Any]]:  # fmt: skip
    """Per item, on the database and on the first copy (where queries are fast): baseline, EX, overhead;
    and TS on the whole suite."""
    rows = []
    for case, sql, kind in items:
        queries = [sql, *case.gold_sql]
        top_n = any(_top_n(g) for g in case.gold_sql)
        tier = case.difficulty or "hard"
        verdicts = {}
        for where, path in (("db", db), ("copy", suite[0])):
            for q in queries:  # warm-up, untimed
                sandbox.execute(path, q)
            base = _best(lambda: [sandbox.execute(path, q) for q in queries], repeat)

            def ex() -> None:
                verdicts[where] = grade(sql, case, path, es.policy, gold_cache={})

            t_ex = _best(ex, repeat)
            rows.append({"case": case.id, "tier": tier, "kind": kind, "where": where, "top_n": top_n,
                         "base_s": base, "ex_s": t_ex, "overhead_s": t_ex - base,
                         "ex_correct": verdicts[where].correct})  # fmt: skip
        ts_verdict = None

        def ts() -> None:
            nonlocal ts_verdict
            ts_verdict = grade_suite(sql, case, db, suite, es.policy, gold_cache={})

        rows[-2]["ts_s"] = _timed(ts)
        assert ts_verdict is not None
        rows[-2]["ts_correct"] = ts_verdict.correct
    return rows


def summarise(rows: list[dict[str, t.Any]]) -> dict[str, dict[str, t.Any]]:
    """Per tier: throughput, TS/EX, and the overhead split by baseline query time (both databases pooled)."""
    out: dict[str, dict[str, t.Any]] = {}
    for tier in ("overall", *TIERS):
        group = [r for r in rows if tier == "overall" or r["tier"] == tier]
        on_db = [r for r in group if r["where"] == "db"]
        if not on_db:
            continue
        slow = [r for r in group if r["base_s"] > 0.010]
        fast = [r for r in group if r["base_s"] <= 0.010]
        fast_plain = [r for r in fast if not r["top_n"]]
        ex_total, ts_total = sum(r["ex_s"] for r in on_db), sum(r["ts_s"] for r in on_db)
        right = [r for r in on_db if r["ex_correct"]]

        def pct(rs: list[dict[str, t.Any]]) -> float | None:
            return 100 * sum(r["overhead_s"] for r in rs) / sum(r["base_s"] for r in rs) if rs else None

        def ms(rs: list[dict[str, t.Any]], q: float = 0.5) -> float | None:
            vals = sorted(r["overhead_s"] for r in rs)
            return 1000 * vals[int(q * (len(vals) - 1))] if vals else None

        out[tier] = {
            "items": len(on_db),
            "ex_items_per_s": len(on_db) / ex_total, "ts_items_per_s": len(on_db) / ts_total,
            "median_query_ms": 1000 * statistics.median(r["base_s"] for r in on_db),
            "slow_items": len(slow), "slow_overhead_pct": pct(slow),
            "slow_overhead_pct_no_top_n": pct([r for r in slow if not r["top_n"]]),
            "fast_items": len(fast), "fast_median_overhead_ms": ms(fast), "fast_p90_overhead_ms": ms(fast, 0.9),
            "fast_no_top_n_items": len(fast_plain), "fast_no_top_n_median_overhead_ms": ms(fast_plain),
            "ts_over_ex": ts_total / ex_total,
            "ts_over_ex_correct_preds": (sum(r["ts_s"] for r in right) / sum(r["ex_s"] for r in right)) if right else None,
        }  # fmt: skip
    return out


def _fmt(v: t.Any, spec: str) -> str:
    return "–" if v is None else format(v, spec)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="every third item, cpg only")
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "grade.json"))
    args = ap.parse_args()
    results: dict[str, t.Any] = {"python": sys.version.split()[0], "machine": platform.machine(),
                                 "cpus": os.cpu_count(), "duckdb": duckdb.__version__,
                                 "sqlglot": sqlglot.__version__, "load_avg_start": os.getloadavg()[0],
                                 "samples": {}}  # fmt: skip
    for name in ("cpg",) if args.quick else ("cpg", "biotech"):
        db = samples.build_sample(name)
        sandbox.close_all()
        schema = introspect(db)
        es = load_evalset(name)
        t0 = time.perf_counter()  # a fresh build, into the default cache that evaluate_predictions uses
        suite = build_suite(db, schema, k=5, seed=0, golds=es.cases, force=True)
        build_s = time.perf_counter() - t0
        items = predictions(es, name)
        if args.quick:
            items = items[::3]
        rows = measure(es, db, suite, items)
        e2e: dict[str, float] = {}
        preds = [{"id": c.id, "sql": c.gold_sql[0]} for c in es.cases]
        for workers in (1, 2):
            seconds = _timed(lambda: evaluate_predictions(es, preds, db, schema=schema, suite=True, workers=workers))
            e2e[f"workers_{workers}_items_per_s"] = len(preds) / seconds
        sandbox.close_all()
        summary = summarise(rows)
        results["samples"][name] = {"suite_build_s": build_s, "items": sum(r["where"] == "db" for r in rows), "summary": summary,
                                    "end_to_end": e2e, "rows": rows}  # fmt: skip
        n_items = sum(r["where"] == "db" for r in rows)
        print(f"\n{name}: {n_items} items ({sum(r['kind'] == 'mutant' and r['where'] == 'db' for r in rows)} mutants); suite of 5 copies "
              f"built in {build_s:.1f} s; evaluate_predictions (EX+TS, suite cached): "
              + ", ".join(f"{k.split('_')[1]} worker(s) {v:.1f} items/s" for k, v in e2e.items()))  # fmt: skip
        print(f"{'tier':<8} {'items':>5} {'EX it/s':>8} {'TS it/s':>8} {'TS/EX':>6} {'query ms':>9} | {'>10ms n':>7} "
              f"{'ovh %':>6} {'no-top-N %':>10} | {'<=10ms n':>8} {'ovh ms':>7} {'p90 ms':>7} {'no-top-N ms':>11}")  # fmt: skip
        for tier, s in summary.items():
            print(f"{tier:<8} {s['items']:>5} {s['ex_items_per_s']:>8.1f} {s['ts_items_per_s']:>8.1f} "
                  f"{s['ts_over_ex']:>6.2f} {s['median_query_ms']:>9.2f} | {s['slow_items']:>7} "
                  f"{_fmt(s['slow_overhead_pct'], '>6.1f')} {_fmt(s['slow_overhead_pct_no_top_n'], '>10.1f')} | "
                  f"{s['fast_items']:>8} {_fmt(s['fast_median_overhead_ms'], '>7.2f')} "
                  f"{_fmt(s['fast_p90_overhead_ms'], '>7.2f')} {_fmt(s['fast_no_top_n_median_overhead_ms'], '>11.2f')}")  # fmt: skip
    results["load_avg_end"] = os.getloadavg()[0]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nload average {results['load_avg_start']:.1f} → {results['load_avg_end']:.1f}; wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
