"""Benchmark: pair generation on the samples, coverage-steered against unsteered sampling.

Measures, in one run, per sample (``cpg``, ``biotech``; personal-data columns masked as onboarding
would):

1. ``generate(n)`` with the default config (coverage-steered) and, as the baseline in the same run,
   with ``steer=False`` (uniform choices): distinct verified SQL per second (wall clock, and per CPU
   second of the process and its workers), rejections by reason, tier mix, coverage;
2. distinct verified SQL per second per tier (one run per tier, ``mix`` all on that tier);
3. the acceptance checks: ``n`` pairs, at least ``n / 5`` distinct SQL, tier mix within 5 points of
   30/40/30, every table and column covered ``k`` times or unreachable (at most 5 % of columns),
   no duplicate after canonicalisation, and zero failures when every SQL is re-run in a fresh
   process against the sample rebuilt from its seed in a new folder.

The process is pinned to ``--cores`` CPUs (default 2; worker processes inherit the pinning).
Prints a table and writes ``benchmarks/out/generate.json``.
Run: ``python benchmarks/generate_bench.py`` (``--quick``: n=1000, no per-tier runs).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import duckdb
import sqlglot

from sqltune import samples
from sqltune.generate import GenerateConfig, generate
from sqltune.generate.verify import canonical
from sqltune.introspect import introspect

TIER_MIXES = {"easy": (1.0, 0.0, 0.0), "medium": (0.0, 1.0, 0.0), "hard": (0.0, 0.0, 1.0)}


def _pin(cores: int) -> list[int]:
    try:
        cpus = sorted(os.sched_getaffinity(0))[:cores]
        os.sched_setaffinity(0, set(cpus))
        return cpus
    except (AttributeError, OSError):
        return []


def _sql_until_covered(res) -> dict:  # type: ignore[no-untyped-def]
    """How many distinct SQL (in generation order) it took until every reachable table, column and
    join had ``k`` uses (``None``: never reached): the steering's effect, read off one run."""
    k = res.coverage["k"]
    wanted = {kind: {r["item"] for r in res.coverage["items"][kind] if r["status"] != "unreachable"}
              for kind in ("table", "column", "join")}
    counts: dict = {kind: Counter() for kind in wanted}
    done: dict = {kind: None for kind in wanted}
    seen: set = set()
    for p in res.pairs:
        if p.sql in seen:
            continue
        seen.add(p.sql)
        for kind, items in (("table", p.tables), ("column", p.columns), ("join", p.joins)):
            counts[kind].update(set(items))
            if done[kind] is None and all(counts[kind][x] >= k for x in wanted[kind]):
                done[kind] = len(seen)
    return done


def _summary(res, n: int) -> dict:  # type: ignore[no-untyped-def]
    h, s, cov = res.header, res.stats, res.coverage["summary"]
    rejected = s["rejected"]
    attempts = sum(rejected.values()) + h["counts"]["sql"]
    return {
        "pairs": h["counts"]["pairs"], "sql": h["counts"]["sql"], "tier_mix": h["counts"]["tier_mix"],
        "sql_per_s": s["sql_per_s"], "sql_per_cpu_s": s["sql_per_cpu_s"], "loop_s": s["loop_s"],
        "elapsed_s": s["elapsed_s"], "cpu_s": s["cpu_s"], "executor": s["executor"],
        "rejected": rejected, "rejection_rate": {k: round(v / attempts, 4) for k, v in sorted(rejected.items())},
        "coverage": cov, "diversity": h["diversity"], "splits": h["counts"]["splits"],
        "sql_until_covered": _sql_until_covered(res),
    }


def _checks(res, n: int, cfg: GenerateConfig, schema) -> dict:  # type: ignore[no-untyped-def]
    h, cov = res.header, res.coverage["summary"]
    mix = h["counts"]["tier_mix"]
    sqls = sorted({p.sql for p in res.pairs})
    trees = [sqlglot.parse_one(q, read="duckdb") for q in sqls]
    canon = Counter(canonical(tree) for tree in trees)
    names = {c.name for _, c in schema.iter_columns()} | {t.name for t in schema.tables} | {
        t.schema for t in schema.tables if t.schema}
    folded = {x.lower() for x in names}
    exact = all(i.this in names for tree in trees for i in tree.find_all(sqlglot.exp.Identifier)
                if i.this.lower() in folded)
    return {
        "pairs == n": h["counts"]["pairs"] == n,
        "distinct SQL >= n/5": h["counts"]["sql"] >= n // 5,
        "tier mix within 5 points": all(abs(mix[t] - cfg.mix[i]) <= 0.05 for i, t in enumerate(("easy", "medium", "hard"))),
        "tables covered or unreachable": cov["table"]["covered"] + cov["table"]["unreachable"] == cov["table"]["total"],
        "columns covered or unreachable": cov["column"]["covered"] + cov["column"]["unreachable"] == cov["column"]["total"],
        "unreachable columns <= 5%": cov["column"]["within_cap"],
        "no duplicates after canonicalisation": max(canon.values(), default=1) == 1,
        "identifiers spelled exactly as the database does": exact,
    }


def _recheck_fresh(name: str, pairs: str, folder: Path) -> dict:
    """Rebuild the sample from its seed in a new folder and re-run every SQL in a fresh process."""
    start = time.perf_counter()
    db = samples.build_sample(name, force=True, out=folder / f"{name}.duckdb")
    build_s = time.perf_counter() - start
    proc = subprocess.run([sys.executable, "-m", "sqltune.generate.recheck", pairs, str(db)],
                          capture_output=True, text=True, timeout=1800)
    out = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else {"error": proc.stderr[-500:]}
    return {"rebuild_s": round(build_s, 1), "exit_code": proc.returncode, **out}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", nargs="+", default=["cpg", "biotech"])
    ap.add_argument("--n", type=int, default=5000, help="pairs per run")
    ap.add_argument("--tier-n", type=int, default=2500, help="pairs per single-tier run")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="n=1000, no per-tier runs")
    ap.add_argument("--no-recheck", action="store_true", help="skip the fresh-process re-run")
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "generate.json"))
    args = ap.parse_args()
    if args.quick:
        args.n = 1000
    cpus = _pin(args.cores)
    results: dict = {"python": sys.version.split()[0], "machine": platform.machine(), "cpus_pinned": cpus,
                     "cpus_total": os.cpu_count(), "load_avg_start": os.getloadavg(), "duckdb": duckdb.__version__,
                     "sqlglot": sqlglot.__version__, "n": args.n, "samples": {}}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.samples:
            samples.build_sample(name)
            truth = samples.ground_truth(name)
            schema = introspect(f"sample:{name}", masks=[m["column"] for m in truth["masked_candidates"]])
            entry: dict = {"masked_columns": sum(c.masked for _, c in schema.iter_columns())}
            steered_cfg = GenerateConfig()
            for label, cfg in (("steered", steered_cfg), ("uniform (baseline)", GenerateConfig(steer=False))):
                out = Path(tmp) / name / label.split()[0]
                res = generate(schema, n=args.n, seed=0, out=out, config=cfg)
                entry[label] = _summary(res, args.n)
                rows.append((name, label, "all", entry[label]))
                if label == "steered":
                    entry["checks"] = _checks(res, args.n, cfg, schema)
                    entry["examples"] = [{"tier": p.tier, "style": p.style, "question": p.question, "sql": p.sql}
                                         for p in res.pairs[:: max(1, len(res.pairs) // 12)][:12]]
                    if not args.no_recheck:
                        entry["recheck"] = _recheck_fresh(name, res.files["pairs.jsonl"], Path(tmp) / name / "rebuilt")
                        entry["checks"]["zero failures on a rebuilt sample (fresh process)"] = (
                            entry["recheck"].get("exit_code") == 0 and entry["recheck"].get("failures") == 0)
            if not args.quick:
                entry["per_tier"] = {}
                for tier, mix in TIER_MIXES.items():
                    res = generate(schema, n=args.tier_n, seed=1, config=GenerateConfig(mix=mix))
                    entry["per_tier"][tier] = _summary(res, args.tier_n)
                    rows.append((name, "steered", tier, entry["per_tier"][tier]))
            results["samples"][name] = entry
    results["load_avg_end"] = os.getloadavg()
    _print(rows, results)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1, default=str) + "\n")
    print(f"wrote {args.out}")
    failed = [f"{s}: {k}" for s, e in results["samples"].items() for k, ok in e.get("checks", {}).items() if not ok]
    for f in failed:
        print(f"CHECK FAILED  {f}")
    return 1 if failed else 0


def _print(rows: list, results: dict) -> None:
    head = f"{'sample':8} {'run':20} {'tier':6} {'SQL':>5} {'SQL/s':>6} {'SQL/cpu-s':>9} {'cols>=k':>8} {'joins>=k':>8} " \
           f"{'values>=k':>9} {'SQL to cols/joins>=k':>20} {'rejected (share of attempts)'}"
    print(head)
    print("-" * len(head))
    for name, label, tier, r in rows:
        cov = r["coverage"]
        rej = ", ".join(f"{k} {v:.0%}" for k, v in sorted(r["rejection_rate"].items(), key=lambda kv: -kv[1]) if v >= 0.005)
        print(f"{name:8} {label:20} {tier:6} {r['sql']:>5} {r['sql_per_s'] or 0:>6.1f} {r['sql_per_cpu_s'] or 0:>9.1f} "
              f"{cov['column']['covered']:>4}/{cov['column']['total']:<3} {cov['join']['covered']:>4}/{cov['join']['total']:<3} "
              f"{cov['value']['covered']:>4}/{cov['value']['total']:<4} "
              f"{str(r['sql_until_covered']['column']):>9}/{str(r['sql_until_covered']['join']):<10} {rej}")
    for name, e in results["samples"].items():
        print(f"{name}: checks " + ", ".join(f"{k}: {'ok' if v else 'FAIL'}" for k, v in e.get("checks", {}).items()))
    print(f"load average at start/end: {results['load_avg_start']} / {results['load_avg_end']} "
          f"(pinned to CPUs {results['cpus_pinned']})")


if __name__ == "__main__":
    sys.exit(main())
