"""Re-run every SQL of a ``pairs.jsonl`` against a database and compare result fingerprints.

Meant to run in a fresh process against a database rebuilt from its seed, so a pair file is shown
to hold only SQL that runs and gives the same answer anywhere::

    python -m sqltune.generate.recheck PAIRS.jsonl DB.duckdb

>>> import duckdb, json, os, tempfile
>>> folder = tempfile.mkdtemp()
>>> db = os.path.join(folder, "r.duckdb")
>>> duckdb.connect(db).execute("CREATE TABLE t AS SELECT range AS i FROM range(3)").close()
>>> from sqltune.generate.verify import fingerprint
>>> rows = [{"kind": "header"}, {"sql": "SELECT COUNT(*) FROM t", "result_fingerprint": fingerprint([(3,)], False),
...          "row_count": 1, "provenance": {"sql_id": "q1"}}]
>>> _ = open(os.path.join(folder, "pairs.jsonl"), "w").write("\\n".join(json.dumps(r) for r in rows))
>>> recheck(os.path.join(folder, "pairs.jsonl"), db).failures
()
"""

from __future__ import annotations

import json
import sys
import typing as t
from dataclasses import dataclass
from pathlib import Path

from sqltune.generate.verify import Plan, check, order_keys, plan
from sqltune.identifiers import parse_one
from sqltune.sandbox import Sandbox


@dataclass(frozen=True)
class RecheckReport:
    """``failures`` holds ``(sql_id, reason)`` for every SQL that failed or changed its answer."""

    sql: int
    failures: tuple[tuple[str, str], ...]
    seconds: float


def recheck(pairs: str | Path, db: str | Path, timeout_s: float = 5.0, max_rows: int = 100_000) -> RecheckReport:
    """Run each distinct SQL of ``pairs`` on ``db`` once; compare status, row count and fingerprint."""
    import time

    start = time.perf_counter()
    seen: dict[str, tuple[str, str, int]] = {}
    with open(pairs, encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            if rec.get("kind") == "header":
                continue
            seen.setdefault(rec["sql"], (rec["provenance"].get("sql_id", "?"), rec["result_fingerprint"],
                                         rec["row_count"]))
    failures: list[tuple[str, str]] = []
    box = Sandbox(db)
    try:
        for sql, (sql_id, fp, rows) in seen.items():
            tree = parse_one(sql)
            keys = order_keys(tree)
            p = plan(tree, sql, timeout_s=timeout_s, max_rows=max_rows, allow_empty=True)
            if not isinstance(p, Plan) or keys is None:
                failures.append((sql_id, "unverifiable"))
                continue
            out = check(box, p)
            if not out.ok:
                failures.append((sql_id, f"{out.reason}: {out.error or ''}".strip(": ")))
            elif out.fingerprint != fp or out.row_count != rows:
                failures.append((sql_id, "different result"))
    finally:
        box.close()
    return RecheckReport(len(seen), tuple(failures), round(time.perf_counter() - start, 3))


def main(argv: t.Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m sqltune.generate.recheck PAIRS.jsonl DB.duckdb", file=sys.stderr)
        return 2
    report = recheck(args[0], args[1])
    print(json.dumps({"sql": report.sql, "failures": len(report.failures), "seconds": report.seconds,
                      "first": report.failures[:5]}))
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
