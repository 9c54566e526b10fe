"""The nightly history: a DuckDB file (by default the project's ``history.duckdb``) of runs and per-item results.

Tables:

* ``runs``: one row per run and combination: ``run_id``, ``combo`` (:attr:`Combination.key`), ``ts``
  (UTC), ``git_hash``, ``config_hash``, ``project``, ``evalset``, ``evalset_version``, ``model``,
  ``adapter``, ``options`` (JSON), ``schema_fingerprint``, ``domain_hash``, ``n``, ``status``
  (``baseline``, ``pass``, ``fail``), ``baseline_run`` (the run it was compared with) and ``wall_s``.
* ``items``: one row per run, combination and case: ``item_id``, ``tier``, ``correct_ex`` (EX strict),
  ``correct_ts`` (null without the suite), ``invented`` (an invented table or column; null when the
  prediction is missing or does not parse), ``label`` (the verdict) and ``pred_sql``.
* ``baselines``: the accepted baseline run of each combination.
* ``snapshots``: schema snapshots by fingerprint and domain hash, for drift against a baseline.

>>> import tempfile, pathlib, datetime as dt
>>> path = pathlib.Path(tempfile.mkdtemp()) / "history.duckdb"
>>> run = RunRecord("r1", "k", dt.datetime(2025, 1, 1), None, "c", "p", "e", "1", "m", None, "{}", "fp", "dh", 1,
...                 "baseline", None, 1.0)
>>> with History(path) as h:
...     h.record(run, [ItemRecord("q1", "easy", True, None, False, "CORRECT", "SELECT 1")])
...     h.accept("k", "r1")
...     h.baseline("k").run_id, h.items("r1", "k")["q1"].correct_ex
('r1', True)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import typing as t
from pathlib import Path

import duckdb

from sqltune.errors import SqltuneError

if t.TYPE_CHECKING:
    from sqltune.schema import Schema

__all__ = ["History", "ItemRecord", "RunRecord", "TrendPoint"]

FORMAT: t.Final = 1

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR NOT NULL, combo VARCHAR NOT NULL, ts TIMESTAMP NOT NULL, git_hash VARCHAR,
    config_hash VARCHAR, project VARCHAR, evalset VARCHAR, evalset_version VARCHAR, model VARCHAR,
    adapter VARCHAR, options VARCHAR, schema_fingerprint VARCHAR, domain_hash VARCHAR, n INTEGER,
    status VARCHAR, baseline_run VARCHAR, wall_s DOUBLE, PRIMARY KEY (run_id, combo));
CREATE TABLE IF NOT EXISTS items (
    run_id VARCHAR NOT NULL, combo VARCHAR NOT NULL, item_id VARCHAR NOT NULL, tier VARCHAR,
    correct_ex BOOLEAN, correct_ts BOOLEAN, invented BOOLEAN, label VARCHAR, pred_sql VARCHAR,
    PRIMARY KEY (run_id, combo, item_id));
CREATE TABLE IF NOT EXISTS baselines (combo VARCHAR PRIMARY KEY, run_id VARCHAR NOT NULL, accepted_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS snapshots (
    fingerprint VARCHAR NOT NULL, domain_hash VARCHAR NOT NULL, snapshot VARCHAR NOT NULL,
    PRIMARY KEY (fingerprint, domain_hash));
"""


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """One row of ``runs``."""

    run_id: str
    combo: str
    ts: dt.datetime
    git_hash: str | None
    config_hash: str
    project: str
    evalset: str
    evalset_version: str
    model: str
    adapter: str | None
    options: str
    schema_fingerprint: str
    domain_hash: str
    n: int
    status: str
    baseline_run: str | None
    wall_s: float


@dataclasses.dataclass(frozen=True)
class ItemRecord:
    """One row of ``items`` (without the run and combination)."""

    item_id: str
    tier: str
    correct_ex: bool
    correct_ts: bool | None
    invented: bool | None
    label: str
    pred_sql: str | None


@dataclasses.dataclass(frozen=True)
class TrendPoint:
    """One run's accuracy on one scope (``overall`` or a tier), for the trend plots."""

    run_id: str
    ts: dt.datetime
    scope: str
    n: int
    ex: float | None
    ts_acc: float | None
    invented: float | None
    baseline: bool


class History:
    """A history file, opened for the duration of a ``with`` block (DuckDB allows one writer)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._con: duckdb.DuckDBPyConnection | None = None

    def __enter__(self) -> History:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = duckdb.connect(str(self.path))
        except duckdb.Error as e:
            raise SqltuneError(f"Cannot open history {self.path}: {e}") from None
        self._con.execute(_DDL)
        row = self._con.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        if row is None:
            self._con.execute("INSERT INTO meta VALUES ('format', ?)", [str(FORMAT)])
        elif int(row[0]) > FORMAT:
            raise SqltuneError(f"History {self.path} has format {row[0]}; this sqltune reads up to {FORMAT}.")
        return self

    def __exit__(self, *exc: t.Any) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise RuntimeError("History is not open: use it in a `with` block.")
        return self._con

    # ------------------------------------------------------------------------------------ writing
    def record(self, run: RunRecord, items: t.Sequence[ItemRecord], snapshot: Schema | None = None) -> None:
        """Write one run of one combination (replacing an earlier write of the same run: resumes are idempotent)."""
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute("DELETE FROM items WHERE run_id = ? AND combo = ?", [run.run_id, run.combo])
            con.execute("DELETE FROM runs WHERE run_id = ? AND combo = ?", [run.run_id, run.combo])
            con.execute("INSERT INTO runs VALUES (" + ", ".join("?" * len(dataclasses.fields(run))) + ")",
                        list(dataclasses.astuple(run)))
            if items:
                con.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                [[run.run_id, run.combo, *dataclasses.astuple(i)] for i in items])
            if snapshot is not None:
                con.execute("INSERT OR IGNORE INTO snapshots VALUES (?, ?, ?)",
                            [run.schema_fingerprint, run.domain_hash, json.dumps(snapshot.to_dict())])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def accept(self, combo: str, run_id: str, at: dt.datetime | None = None) -> None:
        """Make ``run_id`` the baseline of ``combo``."""
        if self.run(run_id, combo) is None:
            raise SqltuneError(f"History {self.path} has no run {run_id!r} for this combination.")
        self.con.execute("INSERT OR REPLACE INTO baselines VALUES (?, ?, ?)",
                         [combo, run_id, at or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)])

    # ------------------------------------------------------------------------------------ reading
    def run(self, run_id: str, combo: str) -> RunRecord | None:
        row = self.con.execute("SELECT * FROM runs WHERE run_id = ? AND combo = ?", [run_id, combo]).fetchone()
        return RunRecord(*row) if row else None

    def runs(self, combo: str | None = None) -> list[RunRecord]:
        """Every recorded run (of ``combo``), oldest first."""
        where, args = ("WHERE combo = ?", [combo]) if combo else ("", [])
        return [RunRecord(*r) for r in self.con.execute(f"SELECT * FROM runs {where} ORDER BY ts, run_id",
                                                        args).fetchall()]

    def baseline(self, combo: str) -> RunRecord | None:
        """The accepted baseline of ``combo``, or ``None`` before its first run."""
        row = self.con.execute("SELECT run_id FROM baselines WHERE combo = ?", [combo]).fetchone()
        return self.run(row[0], combo) if row else None

    def items(self, run_id: str, combo: str) -> dict[str, ItemRecord]:
        rows = self.con.execute(
            "SELECT item_id, tier, correct_ex, correct_ts, invented, label, pred_sql FROM items "
            "WHERE run_id = ? AND combo = ? ORDER BY item_id", [run_id, combo]).fetchall()
        return {r[0]: ItemRecord(*r) for r in rows}

    def snapshot(self, fingerprint: str, domain_hash: str) -> Schema | None:
        from sqltune.schema import Schema

        row = self.con.execute("SELECT snapshot FROM snapshots WHERE fingerprint = ? AND domain_hash = ?",
                               [fingerprint, domain_hash]).fetchone()
        return Schema.from_dict(json.loads(row[0])) if row else None

    def trend(self, combo: str, limit: int = 30) -> list[TrendPoint]:
        """Accuracy per scope of the last ``limit`` runs of ``combo``, oldest first."""
        rows = self.con.execute("""
            WITH last AS (SELECT run_id, ts FROM runs WHERE combo = $combo ORDER BY ts DESC, run_id DESC LIMIT $n),
            agg AS (
                SELECT i.run_id, coalesce(i.tier, 'overall') AS scope, count(*) AS n,
                       avg(i.correct_ex::INTEGER) AS ex, avg(i.correct_ts::INTEGER) AS ts_acc,
                       avg(i.invented::INTEGER) AS invented
                FROM items i JOIN last USING (run_id) WHERE i.combo = $combo
                GROUP BY GROUPING SETS ((i.run_id, i.tier), (i.run_id)))
            SELECT agg.run_id, last.ts, agg.scope, agg.n, agg.ex, agg.ts_acc, agg.invented,
                   agg.run_id = (SELECT run_id FROM baselines WHERE combo = $combo) AS baseline
            FROM agg JOIN last USING (run_id) ORDER BY last.ts, agg.run_id, agg.scope
        """, {"combo": combo, "n": limit}).fetchall()  # fmt: skip
        return [TrendPoint(r[0], r[1], r[2], r[3], r[4], r[5], r[6], bool(r[7])) for r in rows]
