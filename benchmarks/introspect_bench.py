"""Benchmark: introspection cost per table and per million rows, and bounded profiling.

Measures, in one run:
1. the two samples (``cpg``, ``biotech``): wall time of ``introspect`` per table and per 1M rows;
2. a synthetic fact table at 1M and 10M rows, profiled with the default bounded profile
   (sampled above ``sample_rows``) and, as the baseline in the same run, unbounded (whole table);
   the ratio shows that bounded profiling stays flat while the unbounded one grows with the data.

Prints a table and writes ``benchmarks/out/introspect.json``. Run: ``python benchmarks/introspect_bench.py``
(``--quick`` skips the 10M-row table).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from sqltune import samples, sandbox
from sqltune.introspect import ProfileOptions, introspect


def _fact_table(path: Path, rows: int) -> None:
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE fact AS SELECT range AS id, range % 5000 AS store_id, "
        "['ECOM','DTC','WHSL'][1 + range % 3] AS chnl_cd, (range * 7919) % 100000 / 100.0 AS amount, "
        "DATE '2023-01-01' + CAST(range % 900 AS INTEGER) AS order_dt, 'note ' || (range % 100000) AS note "
        f"FROM range({rows})"
    )
    con.close()


def _time(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    sandbox.close_all()
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip the 10M-row table")
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "introspect.json"))
    args = ap.parse_args()
    results: dict[str, object] = {"python": sys.version.split()[0], "machine": platform.machine(),
                                  "cpus": os.cpu_count(), "duckdb": duckdb.__version__}
    rows_out = []
    for name in samples.SAMPLES:
        path = samples.build_sample(name)
        snap = None

        def run() -> None:
            nonlocal snap
            snap = introspect(path, name=name)

        secs = _time(run)
        assert snap is not None
        total = sum(tb.row_count or 0 for tb in snap.tables)
        rows_out.append({"case": f"sample {name}", "tables": len(snap.tables), "rows": total, "seconds": secs,
                         "s_per_table": secs / len(snap.tables), "s_per_1M_rows": secs / (total / 1e6)})
    sizes = [1_000_000] if args.quick else [1_000_000, 10_000_000]
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = Path(tmp) / f"fact_{n}.duckdb"
            _fact_table(path, n)
            bounded = _time(lambda: introspect(path, joins=None))
            unbounded = _time(lambda: introspect(path, joins=None,
                                                 profile=ProfileOptions(sample_rows=10**12, table_budget_s=600)))
            rows_out.append({"case": f"fact {n // 1_000_000}M bounded", "tables": 1, "rows": n, "seconds": bounded,
                             "s_per_table": bounded, "s_per_1M_rows": bounded / (n / 1e6)})
            rows_out.append({"case": f"fact {n // 1_000_000}M whole-table (baseline)", "tables": 1, "rows": n,
                             "seconds": unbounded, "s_per_table": unbounded, "s_per_1M_rows": unbounded / (n / 1e6),
                             "bounded_speedup": unbounded / bounded})
    results["rows"] = rows_out
    print(f"{'case':<34} {'tables':>6} {'rows':>12} {'seconds':>8} {'s/table':>8} {'s/1M rows':>10} {'speedup':>8}")
    for r in rows_out:
        sp = f"{r['bounded_speedup']:.1f}x" if "bounded_speedup" in r else ""
        print(f"{r['case']:<34} {r['tables']:>6} {r['rows']:>12,} {r['seconds']:>8.2f} {r['s_per_table']:>8.3f} "
              f"{r['s_per_1M_rows']:>10.2f} {sp:>8}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
