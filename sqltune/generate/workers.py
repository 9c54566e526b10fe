"""Where candidates are checked: threads sharing one sandbox, or worker processes with one each.

The sandbox classifies every query before running it (parsing it with sqlglot and DuckDB), which is
Python work that holds the GIL; worker processes spread it over the cores. A worker process is
``python -m sqltune.generate._worker DB`` reading one JSON plan per line and answering one JSON
outcome per line, so no pickling of the caller's ``__main__`` is involved.

>>> import duckdb, os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "w.duckdb")
>>> duckdb.connect(path).execute("CREATE TABLE t AS SELECT range AS i FROM range(3)").close()
>>> from sqltune.generate.verify import Plan
>>> with ThreadVerifier(path, 1) as v:
...     v.submit(Plan("SELECT COUNT(*) FROM t", None, (), 0, 1.0, 10, False)).result().row_count
1
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import queue
import subprocess
import sys
import typing as t
from pathlib import Path

from sqltune.generate.config import GenerationError
from sqltune.generate.verify import Outcome, Plan, check
from sqltune.sandbox import Sandbox


class ThreadVerifier:
    """Checks plans on threads sharing one :class:`~sqltune.sandbox.Sandbox`."""

    def __init__(self, db: str | Path, workers: int) -> None:
        self.box = Sandbox(db)
        self.pool = cf.ThreadPoolExecutor(workers, thread_name_prefix="verify")

    def submit(self, plan: Plan) -> cf.Future[Outcome]:
        return self.pool.submit(check, self.box, plan)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.box.close()

    def __enter__(self) -> ThreadVerifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ProcessVerifier:
    """Checks plans in ``workers`` child processes, each with its own read-only sandbox."""

    def __init__(self, db: str | Path, workers: int) -> None:
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.procs: queue.Queue[subprocess.Popen[str]] = queue.Queue()
        self._all = []
        for _ in range(workers):
            proc = subprocess.Popen([sys.executable, "-m", "sqltune.generate._worker", str(db)], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, text=True, bufsize=1, env=env)
            self._all.append(proc)
            self.procs.put(proc)
        self.pool = cf.ThreadPoolExecutor(workers, thread_name_prefix="verify-io")

    def _call(self, plan: Plan) -> Outcome:
        proc = self.procs.get()
        try:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(json.dumps(plan.to_dict()) + "\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
            if not line:
                raise GenerationError(f"A verification worker stopped (exit code {proc.poll()}).")
            d = json.loads(line)
            return Outcome(d["reason"], d["row_count"], d["fingerprint"], d["elapsed_s"], d["error"])
        finally:
            self.procs.put(proc)

    def submit(self, plan: Plan) -> cf.Future[Outcome]:
        return self.pool.submit(self._call, plan)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        for proc in self._all:
            try:
                if proc.stdin:
                    proc.stdin.close()
                proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()

    def __enter__(self) -> ProcessVerifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


Verifier = t.Union[ThreadVerifier, ProcessVerifier]


def open_verifier(db: str | Path, workers: int, processes: bool) -> Verifier:
    return ProcessVerifier(db, workers) if processes else ThreadVerifier(db, workers)
