"""Test-suite accuracy: a prediction is right only if it matches the gold on the database *and* on
K perturbed copies of it, so a wrong query that happens to give the right rows once is caught.

:func:`build_suite` writes K small DuckDB copies of a database, seeded and cached on disk;
:func:`grade_suite` grades a prediction on the original and on every copy with
:func:`~sqltune.grade.grade`, and returns a :class:`SuiteVerdict`.

**How a copy is made** (all randomness is a seeded hash of the row, so a copy is reproducible):

1. *Rows.* Each table keeps a random 50–90 % of at most ``cap`` rows (``ORDER BY hash(rowid, seed)``).
   Then, along every declared **and inferred** join, the parent rows that kept child rows
   reference are added until nothing changes, so no original value dangles.
2. *Duplicates.* About 5 % of the rows of a table whose keys can be renewed are copied under a fresh
   primary key (and fresh values of every unique or referenced column), so duplicates appear where
   only keys keep rows apart (``DISTINCT``, ``COUNT(DISTINCT …)`` and join-fanout mistakes).
3. *Cells.* Key, unique and join columns never change. The other columns are split into groups
   that move together: functional dependencies found on a sample (``CAL_MTH`` → ``MTH_NM``),
   arithmetic triples (``LINE_AMT = QTY * NET_PRC``), columns sharing a scale (``LIST_PRC`` and
   ``NET_PRC``) and columns derived from a date (``DOW_NM`` of ``CAL_DT``; frozen when the date is
   a key). In about 12 % of the rows a group takes the values of a *donor* row of the same table:
   for a group with a number or a date, a donor a few ranks away in that column (same magnitude,
   so a yen amount never lands in a euro order), else a random one. Values, ranges and NULL
   fractions so stay those of the column. A categorical column draws half of its changes from
   its profile's value domain, uniformly (rare codes show up). A column a gold compares with a
   literal gets that literal or a neighbour (``± 1``, ``± 1`` day, ``± 1`` second, within the
   column's min/max) in about 6 % of the rows: that separates ``<`` from ``<=`` and off-by-one dates.
4. *Joins.* About 12 % of the rows re-point each foreign key (declared or inferred, not part of a
   key) to another key of the parent copy, among parents with the same values in the categorical
   columns the golds join on (an order line moves to another order in the same currency). A
   foreign key whose child has a number on the scale of one of its parent's is never re-pointed.

Each copy is checked by running every gold on it. When golds that return rows on the original
return none on a copy, the copy is rebuilt once more with another seed and with *witness* rows for
those golds: each ``SELECT`` of the gold with base tables in its ``FROM`` is rewritten to return the
``rowid`` s of the rows it reads (same joins and ``WHERE``); some of these rows join the copy and one
tuple per ``SELECT`` is an *anchor* that is never perturbed. Later copies take those witnesses from
the start. The copy with the fewest empty golds is kept; :func:`suite_manifest` says how many golds
stay non-empty on each copy.

What perturbation cannot keep: invariants across tables (an order's currency matching its
retailer's country), invariants tied to key columns (``DATE_KEY`` spelling ``CAL_DT``) and
inequalities between columns (``NET_PRC <= LIST_PRC``). A prediction that relies on such an
invariant differently from the gold can fail on a copy although it is right on real data; that is
why EX (the original database only) stays the headline and TS is reported beside it.

>>> import duckdb, os, tempfile
>>> from sqltune.introspect import introspect
>>> db = os.path.join(tempfile.mkdtemp(), "shop.duckdb")
>>> con = duckdb.connect(db)
>>> _ = con.execute("CREATE TABLE t AS SELECT range AS id, ['A', 'B'][1 + range % 2] AS k FROM range(40)")
>>> con.close()
>>> copies = build_suite(db, introspect(db), k=2, golds=["SELECT count(*) FROM t WHERE k = 'A'"])
>>> len(copies), suite_manifest(copies)["golds_nonempty"]
(2, [1, 1])
>>> gold = "SELECT id FROM t WHERE k = 'A' AND id < 10"
>>> lucky = "SELECT id FROM t WHERE id IN (0, 2, 4, 6, 8)"  # right rows on the original only
>>> grade_suite(lucky, gold, db, copies).original.status, grade_suite(lucky, gold, db, copies).correct
(<Status.CORRECT: 'CORRECT'>, False)
>>> grade_suite(gold, gold, db, copies).correct
True
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import functools
import hashlib
import json
import os
import random
import re
import time
import typing as t
from pathlib import Path

import duckdb
import numpy
import sqlglot
from sqlglot import exp

from sqltune import atomic, home, sandbox
from sqltune.errors import ConfigError
from sqltune.evalset import EvalCase
from sqltune.grade.grader import GoldError, grade
from sqltune.grade.policy import ComparisonPolicy
from sqltune.grade.verdict import Verdict
from sqltune.schema import Column, Join, Schema, Table, TableKey
from sqltune.sql_safety import classify

__all__ = ["SUITE_VERSION", "SuiteOptions", "SuiteVerdict", "build_suite", "grade_suite", "suite_manifest"]

#: Bump whenever the perturbation changes: it is part of the cache key.
SUITE_VERSION: t.Final = "1"

_P = "__sqltune_"  # prefix of the work columns and temp tables
_SCALE = 100_000  # hash(...) % _SCALE < rate * _SCALE is a coin with probability ``rate``
_INT_MAX: t.Final = {"TINYINT": 2**7 - 1, "SMALLINT": 2**15 - 1, "INTEGER": 2**31 - 1, "BIGINT": 2**63 - 1,
                     "UTINYINT": 2**8 - 1, "USMALLINT": 2**16 - 1, "UINTEGER": 2**32 - 1, "UBIGINT": 2**64 - 1,
                     "INT": 2**31 - 1, "INT4": 2**31 - 1, "INT8": 2**63 - 1, "INT2": 2**15 - 1, "INT1": 2**7 - 1}  # fmt: skip
_NUMERIC = ("integer", "decimal", "float")
_NEW_KEY_FAMILIES = ("integer", "decimal", "float", "date", "timestamp", "text")


@dataclasses.dataclass(frozen=True)
class SuiteOptions:
    """How copies are perturbed (part of the cache key).

    Attributes:
        cap: Rows sampled per table before witnesses and parent rows are added.
        keep: Range of the share of ``min(rows, cap)`` each table keeps (drawn per table and copy).
        cell_rate: Share of rows in which a column group takes a donor row's values.
        domain_rate: Of those, for a categorical column, the share drawn uniformly from its domain.
        literal_rate: Share of rows in which a column a gold compares with a literal gets it or a neighbour.
        fk_rate: Share of rows whose foreign key is re-pointed to another parent key.
        dup_rate: Share of rows duplicated under fresh keys.
        witnesses: Witness rows fetched per gold ``SELECT``.
        witness_keep: Share of the other witness rows kept (one tuple is always an anchor).
        attempts: Seeds tried per copy to keep golds non-empty.
        timeout_s: Limit for each gold or witness query while building.
    """

    cap: int = 2000
    keep: tuple[float, float] = (0.5, 0.9)
    cell_rate: float = 0.12
    domain_rate: float = 0.5
    literal_rate: float = 0.06
    fk_rate: float = 0.12
    dup_rate: float = 0.05
    witnesses: int = 40
    witness_keep: float = 0.3
    attempts: int = 2
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        rates = ("cell_rate", "domain_rate", "literal_rate", "fk_rate", "dup_rate", "witness_keep")
        bad = [f"{n}={getattr(self, n)!r}" for n in rates if not 0.0 <= getattr(self, n) <= 1.0]
        lo, hi = self.keep
        if not 0.0 < lo <= hi <= 1.0:
            bad.append(f"keep={self.keep!r}")
        if self.cap < 1 or self.witnesses < 1 or self.attempts < 1 or self.timeout_s <= 0:
            bad.append("cap, witnesses and attempts must be at least 1 and timeout_s positive")
        if bad:
            raise ConfigError("Invalid suite options (rates and keep within [0, 1]): " + ", ".join(bad))


# ============================================================================== grading
@dataclasses.dataclass(frozen=True)
class SuiteVerdict:
    """A prediction graded on the original database and on every copy.

    Attributes:
        correct: Strictly correct on the original and on every copy where the gold ran.
        original: The verdict on the original database (what EX reports).
        copies: Verdicts on the copies in order; ``None`` for a copy not graded (after the first
            failure with ``stop_early``, or where the gold broke).
        failed_copy: Index of the first copy where the prediction is wrong, else ``None``.
        skipped: Copies where a gold broke (:class:`GoldError`): they do not count.
        reason: Why, in words.
        seconds: Wall time of the copies' grading (the original's excluded when it was given).
    """

    correct: bool
    original: Verdict
    copies: tuple[Verdict | None, ...] = ()
    failed_copy: int | None = None
    skipped: tuple[int, ...] = ()
    reason: str = ""
    seconds: float = 0.0

    @property
    def copies_checked(self) -> int:
        return sum(v is not None for v in self.copies)

    def to_dict(self) -> dict[str, t.Any]:
        """A JSON-ready summary (verdicts of copies as labels)."""
        return {
            "correct": self.correct, "failed_copy": self.failed_copy, "skipped": list(self.skipped),
            "copies_checked": self.copies_checked, "copies": [v.label if v else None for v in self.copies],
            "reason": self.reason, "seconds": self.seconds,
        }  # fmt: skip


def grade_suite(
    pred_sql: str | None, case: EvalCase | str | t.Sequence[str], db: str | os.PathLike[str],
    suite_dbs: t.Sequence[str | os.PathLike[str]], policy: ComparisonPolicy | None = None, *,
    gold_cache: dict[t.Any, t.Any] | None = None, original: Verdict | None = None, timeout_s: float = 5.0,
    row_cap: int = 10_000, stop_early: bool = True,
) -> SuiteVerdict:  # fmt: skip
    """Grade ``pred_sql`` on ``db`` and on every copy in ``suite_dbs`` (see :func:`build_suite`).

    Args:
        pred_sql, case, db, policy, gold_cache, timeout_s, row_cap: As for :func:`~sqltune.grade.grade`.
        suite_dbs: The perturbed copies.
        original: The verdict on ``db`` when already computed (it is not graded again).
        stop_early: Stop at the first copy where the prediction is wrong.

    Raises:
        GoldError: A gold is broken on the original database (on a copy the copy is skipped).
    """
    policy = policy or ComparisonPolicy()
    cache = {} if gold_cache is None else gold_cache
    if original is None:
        original = grade(pred_sql, case, db, policy, gold_cache=cache, timeout_s=timeout_s, row_cap=row_cap)
    if not original.correct:
        return SuiteVerdict(False, original, (None,) * len(suite_dbs), reason=f"original: {original.reason}")
    start = time.perf_counter()
    verdicts: list[Verdict | None] = []
    skipped: list[int] = []
    failed: int | None = None
    for i, path in enumerate(suite_dbs):
        if failed is not None and stop_early:
            verdicts.append(None)
            continue
        try:
            v = grade(pred_sql, case, path, policy, gold_cache=cache, timeout_s=timeout_s, row_cap=row_cap)
        except GoldError:
            skipped.append(i)
            verdicts.append(None)
            continue
        verdicts.append(v)
        if not v.correct and failed is None:
            failed = i
    seconds = time.perf_counter() - start
    if failed is not None:
        bad = verdicts[failed]
        assert bad is not None
        return SuiteVerdict(False, original, tuple(verdicts), failed, tuple(skipped),
                            f"copy {failed}: {bad.label}: {bad.reason}", seconds)  # fmt: skip
    checked = len(suite_dbs) - len(skipped)
    note = f" ({len(skipped)} skipped: gold broke there)" if skipped else ""
    return SuiteVerdict(True, original, tuple(verdicts), None, tuple(skipped),
                        f"match on the original and {checked} copies{note}", seconds)  # fmt: skip


# ============================================================================== building
def build_suite(
    db: str | os.PathLike[str], schema: Schema, k: int = 5, seed: int = 0, *,
    golds: t.Iterable[str | EvalCase] = (), options: SuiteOptions | None = None,
    root: str | os.PathLike[str] | None = None, force: bool = False,
    progress: t.Callable[[str], None] | None = None,
) -> list[Path]:  # fmt: skip
    """Build (or reuse) ``k`` perturbed copies of ``db`` and return their paths.

    Copies are cached under ``root`` (default ``$SQLTUNE_HOME/suites``) in a folder named by a
    hash of the database's content, the schema fingerprint, ``k``, ``seed``, the golds, the
    options and :data:`SUITE_VERSION`; the folder appears atomically, complete with its
    ``manifest.json``. See the module docstring for the perturbation.

    Args:
        db: The DuckDB file to perturb (opened read-only).
        schema: Its snapshot (keys, joins, profiles).
        k: Number of copies.
        seed: Root seed.
        golds: Gold SQL (or cases) whose results should stay non-empty and whose literals guide
            the perturbation.
        options: :class:`SuiteOptions`.
        root: Cache folder.
        force: Rebuild even when cached.
        progress: Called with a line of text per step.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}.")
    opts = options or SuiteOptions()
    db_path = Path(db).expanduser().resolve()
    if not db_path.is_file():
        raise FileNotFoundError(f"Database file not found: {db_path}")
    gold_sqls = _gold_list(golds)
    key_data = {
        "v": SUITE_VERSION, "db": _file_digest(db_path), "fp": schema.fingerprint(), "dom": schema.domain_hash(),
        "k": k, "seed": seed, "golds": hashlib.sha256("\x00".join(gold_sqls).encode()).hexdigest(),
        "opts": dataclasses.asdict(opts), "duckdb": duckdb.__version__,
    }  # fmt: skip
    key = hashlib.sha256(json.dumps(key_data, sort_keys=True).encode()).hexdigest()[:20]
    folder = Path(root).expanduser() if root is not None else home.home() / "suites"
    target = folder / key
    paths = [target / f"copy_{i}.duckdb" for i in range(k)]
    if not force and _complete(target, paths):
        return paths
    say = progress or (lambda _line: None)
    started = time.perf_counter()
    builder = _Builder(db_path, schema, gold_sqls, opts, say)
    try:
        builder.plan()
        copies: list[dict[str, t.Any]] = []
        if force and target.exists():
            sandbox.close_all()  # copies about to be replaced may be open read-only
        with atomic.replacing(target, is_dir=True) as tmp:
            for i in range(k):
                copies.append(builder.build_copy(tmp, i, seed))
            for info in copies:  # what later copies learnt about the originals
                info["golds_nonempty"] = builder.nonempty_count(info["empty_golds"])
            manifest = {
                "suite_version": SUITE_VERSION, "key": key, "db": str(db_path), "db_digest": key_data["db"],
                "schema_fingerprint": key_data["fp"], "domain_hash": key_data["dom"], "k": k, "seed": seed,
                "options": dataclasses.asdict(opts), "golds": len(gold_sqls),
                "golds_empty_on_original": builder.empty_on_original,
                "golds_nonempty": [c["golds_nonempty"] for c in copies],
                "copies": copies, "build_s": round(time.perf_counter() - started, 3),
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "duckdb": duckdb.__version__,
            }  # fmt: skip
            atomic.write_json(tmp / "manifest.json", manifest)
    finally:
        builder.close()
    return paths


def suite_manifest(suite: str | os.PathLike[str] | t.Sequence[str | os.PathLike[str]]) -> dict[str, t.Any]:
    """The ``manifest.json`` of a suite, from its folder or its copies' paths.

    Keys: ``suite_version``, ``key``, ``db``, ``db_digest``, ``schema_fingerprint``, ``domain_hash``,
    ``k``, ``seed``, ``options``, ``golds`` (how many), ``golds_empty_on_original`` (indexes into the
    golds, among those checked: golds are run on the original only when a copy finds them empty),
    ``golds_nonempty`` (per copy: golds returning rows on the original and on that copy), ``copies``
    (per copy: ``file``, ``seed``, ``attempts``, ``rows`` per table, ``golds_nonempty``,
    ``empty_golds`` and ``broken_golds`` as gold indexes, ``seconds``), ``build_s``, ``built_at``,
    ``duckdb``.
    """
    if isinstance(suite, (str, os.PathLike)):
        folder = Path(suite)
        folder = folder if folder.is_dir() else folder.parent
    else:
        if not suite:
            raise ValueError("An empty suite has no manifest.")
        folder = Path(suite[0]).parent
    return t.cast(dict[str, t.Any], json.loads((folder / "manifest.json").read_text(encoding="utf-8")))


def _complete(target: Path, paths: list[Path]) -> bool:
    return (target / "manifest.json").is_file() and all(p.is_file() for p in paths)


def _gold_list(golds: t.Iterable[str | EvalCase]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for g in golds:
        for sql in [g] if isinstance(g, str) else list(g.gold_sql):
            if sql not in seen:
                seen.add(sql)
                out.append(sql)
    return out


_DIGESTS: dict[tuple[str, int, int], str] = {}


def _file_digest(path: Path) -> str:
    """BLAKE2b of the file's bytes (memoised per path, size and mtime)."""
    st = path.stat()
    memo = (str(path), st.st_size, st.st_mtime_ns)
    if memo not in _DIGESTS:
        h = hashlib.blake2b(digest_size=16)
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        _DIGESTS[memo] = h.hexdigest()
    return _DIGESTS[memo]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _s(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _text_list(values: t.Iterable[t.Any]) -> str:
    return "[" + ", ".join(_s(str(v)) for v in values) + "]"


@dataclasses.dataclass
class _TablePlan:
    """What the builder knows about one table (mutable: filled in while planning)."""

    table: Table
    src: str  # src."schema"."name"
    pool: str  # temp table: a random sample of the table, the donors
    n: int
    idx: int
    frozen: set[str] = dataclasses.field(default_factory=set)
    links: set[str] = dataclasses.field(default_factory=set)  # categorical columns golds join on
    groups: list[tuple[str, ...]] = dataclasses.field(default_factory=list)
    rank_by: dict[int, str] = dataclasses.field(default_factory=dict)  # group -> column its donors are near in
    domains: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # column -> values as text
    literals: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # column -> values as text
    new_keys: dict[str, str] = dataclasses.field(default_factory=dict)  # column -> SQL of a fresh value
    dup: bool = False
    pool_size: int = 0


@dataclasses.dataclass(frozen=True)
class _Edge:
    child: int
    child_cols: tuple[str, ...]
    parent: int
    parent_cols: tuple[str, ...]
    remap: bool


class _Builder:
    """Plans once (groups, literals, donors, witnesses), then writes one copy per call."""

    def __init__(self, db: Path, schema: Schema, golds: list[str], opts: SuiteOptions,
                 say: t.Callable[[str], None]) -> None:  # fmt: skip
        self.db, self.schema, self.golds, self.opts, self.say = db, schema, golds, opts, say
        self.con = duckdb.connect(":memory:")
        self.con.execute(f"ATTACH {_s(str(db))} AS src (READ_ONLY)")
        self.tables: list[_TablePlan] = []
        self.edges: list[_Edge] = []
        self.trees: list[exp.Expression | None] = []
        self.safe: list[bool] = []
        self.witness_cache: dict[int, list[list[dict[int, int]]]] = {}
        self.needy: set[int] = set()  # golds found empty on some copy: their witnesses join every later copy
        self.nonempty: dict[int, bool] = {}  # gold -> returns rows on the original (asked lazily)

    def nonempty_count(self, empty: t.Collection[int]) -> int:
        """Golds that are safe, return rows on the original (as far as known) and not in ``empty``."""
        return sum(1 for j, ok in enumerate(self.safe) if ok and self.nonempty.get(j, True) and j not in empty)

    @property
    def empty_on_original(self) -> list[int]:
        return sorted(j for j, ok in self.nonempty.items() if not ok)

    def close(self) -> None:
        self.con.close()

    def _one(self, sql: str) -> t.Any:
        row = self.con.execute(sql).fetchone()
        return row[0] if row else None

    # ------------------------------------------------------------------------------ plan
    def plan(self) -> None:
        existing = set(self.con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = 'src'").fetchall())  # fmt: skip
        for tb in self.schema.tables:
            schema_name = tb.schema or "main"
            if tb.kind != "table" or (schema_name, tb.name) not in existing:
                continue
            src = f"src.{_q(schema_name)}.{_q(tb.name)}"
            idx = len(self.tables)
            n = int(self._one(f"SELECT count(*) FROM {src}"))
            self.tables.append(_TablePlan(tb, src, f"{_P}pool{idx}", n, idx))
        for sql in self.golds:
            try:
                tree: exp.Expression | None = sqlglot.parse_one(sql, read="duckdb")
            except sqlglot.errors.SqlglotError:
                tree = None
            self.trees.append(tree)
        self._plan_edges()
        literals, links = self._gold_columns()
        for tp in self.tables:
            tp.links = {c for c in links.get(tp.idx, set()) if self._categorical(tp.table.column(c))}
            tp.frozen |= tp.links
        for tp in self.tables:
            self._plan_table(tp, literals.get(tp.idx, {}))
        self.edges = [dataclasses.replace(e, remap=False) if e.remap and self._bound(e) else e for e in self.edges]
        self._plan_golds()

    @staticmethod
    def _categorical(col: Column) -> bool:
        return col.type == "text" and col.profile is not None and col.profile.values is not None

    def _plan_edges(self) -> None:
        joins = sorted(self.schema.joins, key=lambda j: (j.source != "declared", -j.confidence))
        valid: list[tuple[int, int, Join]] = []
        referenced: set[tuple[int, str]] = set()
        for j in joins:
            c, p = self._index(j.from_table), self._index(j.to_table)
            if c is None or p is None or len(j.from_columns) != len(j.to_columns):
                continue
            ct, pt = self.tables[c].table, self.tables[p].table
            if not set(j.from_columns) <= set(ct.column_names) or not set(j.to_columns) <= set(pt.column_names):
                continue
            valid.append((c, p, j))
            referenced.update((p, col) for col in j.to_columns)
        remapped: set[tuple[int, str]] = set()
        for c, p, j in valid:
            ct, pt = self.tables[c].table, self.tables[p].table
            same = all(ct.column(a).type == pt.column(b).type for a, b in zip(j.from_columns, j.to_columns))
            keyish = any(ct.column(a).primary_key or ct.column(a).unique or a in ct.primary_key
                         or (c, a) in referenced for a in j.from_columns)  # fmt: skip
            remap = same and not keyish and not any((c, a) in remapped for a in j.from_columns)
            if remap:
                remapped.update((c, a) for a in j.from_columns)
            self.edges.append(_Edge(c, tuple(j.from_columns), p, tuple(j.to_columns), remap))
            self.tables[c].frozen.update(j.from_columns)
            self.tables[p].frozen.update(j.to_columns)

    def _bound(self, e: _Edge) -> bool:
        """Whether a numeric column of the child shares its scale with one of the parent (then re-pointing the
        key would pair, say, a yen amount with a euro order): such keys are never re-pointed."""
        c, p = self.tables[e.child], self.tables[e.parent]
        xs = [col.name for col in c.table.columns if col.type in _NUMERIC and col.name not in c.frozen][:8]
        ys = [col.name for col in p.table.columns if col.type in _NUMERIC and col.name not in p.frozen][:8]
        if not xs or not ys:
            return False
        on = " AND ".join(f"x.{_q(a)} = y.{_q(b)}" for a, b in zip(e.child_cols, e.parent_cols))
        pick = ", ".join([f"x.{_q(a)}" for a in xs] + [f"y.{_q(b)}" for b in ys])
        try:
            rows = self.con.execute(f"SELECT {pick} FROM {c.src} x JOIN {p.src} y ON {on} "
                                    f"ORDER BY hash(x.rowid, 'fd') LIMIT {self.opts.cap}").fetchall()  # fmt: skip
        except duckdb.Error:
            return True
        if not rows:
            return False
        arr = numpy.array([[numpy.nan if v is None else float(v) for v in r] for r in rows])
        return any(_coscaled(arr[:, i], arr[:, len(xs) + j]) for i in range(len(xs)) for j in range(len(ys)))

    def _index(self, key: TableKey) -> int | None:
        for tp in self.tables:
            if tp.table.key == key or (key.schema is None and tp.table.name == key.name):
                return tp.idx
        return None

    def _resolve(self, node: exp.Table) -> int | None:
        if not isinstance(node.this, exp.Identifier):
            return None
        name, db = node.name.casefold(), (node.db or "").casefold()
        hits = [tp.idx for tp in self.tables if tp.table.name.casefold() == name
                and (not db or (tp.table.schema or "main").casefold() == db)]  # fmt: skip
        if len(hits) > 1 and not db:
            default = (self.schema.default_schema or "main").casefold()
            hits = [i for i in hits if (self.tables[i].table.schema or "main").casefold() == default]
        return hits[0] if len(hits) == 1 else None

    def _gold_columns(self) -> tuple[dict[int, dict[str, list[str]]], dict[int, set[str]]]:
        """Per table: columns golds compare with literals (and the literals' SQL), and columns they join on."""
        literals: dict[int, dict[str, list[str]]] = {}
        links: dict[int, set[str]] = {}
        for tree in self.trees:
            if tree is None:
                continue
            aliases: dict[str, set[int]] = {}
            used: set[int] = set()
            for node in tree.find_all(exp.Table):
                idx = self._resolve(node)
                if idx is not None:
                    used.add(idx)
                    aliases.setdefault(node.alias_or_name.casefold(), set()).add(idx)

            def owners(column: exp.Column) -> list[tuple[int, str]]:
                out = []
                for idx in aliases.get(column.table.casefold(), set()) if column.table else used:
                    tb = self.tables[idx].table
                    hit = next((c.name for c in tb.columns if c.name.casefold() == column.name.casefold()), None)
                    if hit is not None:
                        out.append((idx, hit))
                return out

            for column, lit in _comparisons(tree):
                for idx, name in owners(column):
                    bucket = literals.setdefault(idx, {}).setdefault(name, [])
                    if lit not in bucket:
                        bucket.append(lit)
            for eq in tree.find_all(exp.EQ):
                if isinstance(eq.this, exp.Column) and isinstance(eq.expression, exp.Column):
                    left, right = owners(eq.this), owners(eq.expression)
                    if left and right and {i for i, _ in left} != {i for i, _ in right}:
                        for idx, name in left + right:
                            links.setdefault(idx, set()).add(name)
        return literals, links

    def _plan_table(self, tp: _TablePlan, literals: dict[str, list[str]]) -> None:
        tb = tp.table
        keys = set(tb.primary_key) | {c.name for c in tb.columns if c.primary_key or c.unique}
        tp.frozen |= keys
        cand = [c for c in tb.columns if c.name not in tp.frozen]
        groups = _UnionFind([c.name for c in cand])
        frozen_groups: set[str] = set()
        if tp.n >= 20 and cand:
            self._dependencies(tp, cand, groups, frozen_groups)
        comps = groups.components()
        tp.groups = [g for g in comps if not any(c in frozen_groups for c in g)]
        tp.frozen |= {c for g in comps if any(x in frozen_groups for x in g) for c in g}
        for g, group in enumerate(tp.groups):
            ordered = [c for c in group if tb.column(c).type in (*_NUMERIC, "date", "timestamp")]
            if ordered:  # donors near the row in its most spread-out numeric (else date) column
                tp.rank_by[g] = max(ordered, key=lambda c: (tb.column(c).type in _NUMERIC, _distinct(tb.column(c))))
            if len(group) == 1:
                col = tb.column(group[0])
                prof = col.profile
                if prof is not None and prof.values and prof.values_complete and not col.masked:
                    tp.domains[col.name] = [str(v) for v in prof.values if v is not None]
        single = {g[0] for g in tp.groups if len(g) == 1}
        self._plan_literals(tp, {c: v for c, v in literals.items() if c in single})
        self._plan_new_keys(tp, keys)
        self._plan_pool(tp)

    def _dependencies(self, tp: _TablePlan, cand: list[Column], groups: _UnionFind, frozen: set[str]) -> None:
        """Functional dependencies, arithmetic triples and date-derived columns, on a sample of the table."""
        names = [c.name for c in cand]
        dates = [c.name for c in tp.table.columns if c.type in ("date", "timestamp")]
        wanted = names + [d for d in dates if d not in names]
        rows = self.con.execute(f"SELECT {', '.join(_q(c) for c in wanted)} FROM {tp.src} "
                                f"ORDER BY hash(rowid, 'fd') LIMIT {min(self.opts.cap, 1000)}").fetchall()  # fmt: skip
        n = len(rows)
        if n < 20:
            return
        cols = {name: [r[i] for r in rows] for i, name in enumerate(wanted)}
        nd = {name: len(set(map(_hashable, cols[name]))) for name in names}

        def determines(a: list[t.Any], b: list[t.Any], distinct: int) -> bool:
            return len(set(zip(map(_hashable, a), map(_hashable, b)))) == distinct

        for i, a in enumerate(names):  # a -> b: each a value (repeating) has one b value
            for b in names[i + 1:]:
                for x, y in ((a, b), (b, a)):
                    if 2 <= nd[x] and n >= 3 * nd[x] and nd[y] >= 2 and determines(cols[x], cols[y], nd[x]):
                        groups.union(x, y)
                        break
        for d in dates:  # b = f(year / quarter / month / weekday / day of a date)
            for part in _DATE_PARTS:
                values = [part(v) if isinstance(v, (dt.date, dt.datetime)) else None for v in cols[d]]
                distinct = len(set(values))
                if distinct < 2 or n < 3 * distinct:
                    continue
                for b in names:
                    if b != d and nd[b] >= 2 and determines(values, cols[b], distinct):
                        if d in tp.frozen:
                            frozen.add(b)
                        else:
                            groups.union(d, b)
        nums = [c for c in names if tp.table.column(c).type in _NUMERIC][:10]
        arrays = {c: numpy.array([numpy.nan if v is None else float(v) for v in cols[c]]) for c in nums}
        for i, a in enumerate(nums):  # prices in one currency: a and b share their scale
            for b in nums[i + 1:]:
                if _coscaled(arrays[a], arrays[b]):
                    groups.union(a, b)
        for i, a in enumerate(nums):  # c = a * b or c = a + b (so also a = c / b, a = c - b)
            for b in nums[i + 1:]:
                for c in nums:
                    if c in (a, b) or groups.find(c) == groups.find(a) == groups.find(b):
                        continue
                    if any(_holds(arrays[c], op(arrays[a], arrays[b])) for op in (numpy.multiply, numpy.add)):
                        groups.union(a, b)
                        groups.union(a, c)

    def _plan_literals(self, tp: _TablePlan, literals: dict[str, list[str]]) -> None:
        """The gold literals and their neighbours, cast to each column's type, within its min/max."""
        parts: list[str] = []
        names: list[str] = []
        for name, lits in literals.items():
            col = tp.table.column(name)
            typ, c = col.raw_type, _q(col.name)
            if col.type not in (*_NUMERIC, "date", "timestamp", "text"):
                continue
            exprs: list[str] = []
            for lit in lits:
                v = f"TRY_CAST(({lit}) AS {typ})"
                if col.type == "integer" or col.type == "date":
                    exprs += [f"{v} - 1", v, f"{v} + 1"]
                elif col.type == "decimal":
                    m = re.search(r"\(\s*\d+\s*,\s*(\d+)\s*\)", typ)
                    step = f"CAST(1e-{m.group(1)} AS {typ})" if m and int(m.group(1)) else "1"
                    exprs += [f"{v} - {step}", v, f"{v} + {step}"]
                elif col.type == "timestamp":
                    exprs += [f"{v} - INTERVAL 1 SECOND", v, f"{v} + INTERVAL 1 SECOND", f"{v} + INTERVAL 12 HOUR"]
                else:
                    exprs.append(v)
            within = (f"v IN (SELECT {c} FROM {tp.src})" if col.type == "text" else
                      f"v BETWEEN (SELECT min({c}) FROM {tp.src}) AND (SELECT max({c}) FROM {tp.src})")  # fmt: skip
            values = ", ".join(f"TRY_CAST({e} AS {typ})" for e in exprs)
            parts.append(f"(SELECT list(DISTINCT CAST(v AS VARCHAR)) FROM (SELECT unnest([{values}]) AS v) "
                         f"WHERE v IS NOT NULL AND {within})")  # fmt: skip
            names.append(name)
        if not parts:
            return
        try:
            row = self.con.execute(f"SELECT {', '.join(parts)}").fetchone()
        except duckdb.Error:
            return
        for name, values in zip(names, row or ()):
            if values:
                tp.literals[name] = sorted(values)

    def _plan_new_keys(self, tp: _TablePlan, keys: set[str]) -> None:
        """Fresh values for duplicated rows: every unique or referenced column, one part of a composite key."""
        tb = tp.table
        pk = list(tb.primary_key) or [c.name for c in tb.columns if c.primary_key]
        fk_cols = {c for e in self.edges if e.child == tp.idx for c in e.child_cols}
        renew = {c.name for c in tb.columns if c.unique or (c.primary_key and len(pk) <= 1)}
        renew |= {c for e in self.edges if e.parent == tp.idx for c in e.parent_cols}
        if len(pk) == 1:
            renew.add(pk[0])
        elif len(pk) > 1 and not renew & set(pk):
            free = [c for c in pk if c not in fk_cols and tb.column(c).type in _NEW_KEY_FAMILIES]
            if not free:
                return
            renew.add(free[-1])
        most = int(min(tp.n, self.opts.cap) * 1.5 * self.opts.dup_rate) + 8
        fresh: dict[str, str] = {}
        for name in sorted(renew):
            col = tb.column(name)
            c = _q(name)
            if col.type not in _NEW_KEY_FAMILIES:
                return
            top = self._one(f"SELECT max({c}) FROM {tp.src}")
            if col.type != "text" and top is None:
                return
            top_sql = f"(SELECT max({c}) FROM {tp.src})"
            if col.type == "integer":
                limit = _INT_MAX.get(col.raw_type.upper())
                if limit is not None and top + most > limit:
                    return
                fresh[name] = f"CAST({top_sql} + k.dn AS {col.raw_type})"
            elif col.type in ("decimal", "float"):
                fresh[name] = f"CAST({top_sql} + k.dn AS {col.raw_type})"
            elif col.type == "date":
                fresh[name] = f"CAST({top_sql} + CAST(k.dn AS INTEGER) AS {col.raw_type})"
            elif col.type == "timestamp":
                fresh[name] = f"CAST({top_sql} + to_days(CAST(k.dn AS INTEGER)) AS {col.raw_type})"
            else:
                fresh[name] = f"CAST(s.{c} || '~' || k.dn AS {col.raw_type})"
        tp.new_keys = fresh
        tp.dup = bool(fresh) or not (pk or keys)

    def _plan_pool(self, tp: _TablePlan) -> None:
        """The donors: a random sample of the table, ranked by each group's ordering column."""
        ranks = "".join(f", row_number() OVER (ORDER BY {_q(c)} NULLS LAST, {_P}d) - 1 AS {_P}r{g}"
                        for g, c in tp.rank_by.items())  # fmt: skip
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {tp.pool} AS SELECT *{ranks} FROM (SELECT *, row_number() "
                         f"OVER (ORDER BY {_P}h) - 1 AS {_P}d FROM (SELECT *, hash(rowid, 'pool') AS {_P}h "
                         f"FROM {tp.src} ORDER BY {_P}h LIMIT {self.opts.cap}))")  # fmt: skip
        tp.pool_size = int(self._one(f"SELECT count(*) FROM {tp.pool}"))

    def _plan_golds(self) -> None:
        """Classify every gold once (copies then run them unchecked); a gold that is not safe is never run."""
        self.safe = [classify(sql).safe for sql in self.golds]

    def _nonempty_on_original(self, j: int) -> bool:
        """Whether gold ``j`` returns rows on the original (asked only of golds empty on some copy)."""
        if j not in self.nonempty:
            run = sandbox.execute(self.db, self.golds[j], timeout_s=self.opts.timeout_s, row_cap=1)
            self.nonempty[j] = run.ok and bool(run.rows)
        return self.nonempty[j]

    def _witnesses_of(self, j: int) -> list[list[dict[int, int]]]:
        """The rows gold ``j``'s SELECTs read on the original: per SELECT, tuples ``{table: rowid}``."""
        if j not in self.witness_cache:
            found: list[list[dict[int, int]]] = []
            tree = self.trees[j]
            for query, idxs in self._witness_queries(tree) if tree is not None and self.safe[j] else []:
                res = sandbox.execute(self.db, query, timeout_s=self.opts.timeout_s, row_cap=self.opts.witnesses)
                tuples = [{i: r for i, r in zip(idxs, row) if r is not None} for row in res.rows] if res.ok else []
                tuples = [x for x in tuples if x]
                if tuples:
                    found.append(tuples)
            self.witness_cache[j] = found
        return self.witness_cache[j]

    def _witness_queries(self, tree: exp.Expression) -> list[tuple[str, list[int]]]:
        """Each SELECT with base tables in its FROM, rewritten to return their rowids (same joins and WHERE)."""
        ctes = {c.alias_or_name.casefold() for c in tree.find_all(exp.CTE)}
        with_ = tree.args.get("with_") or tree.args.get("with")
        out = []
        for sel in tree.find_all(exp.Select):
            from_ = sel.args.get("from_") or sel.args.get("from")
            if from_ is None:
                continue
            cols, idxs = [], []
            for node in [from_.this] + [j.this for j in sel.args.get("joins") or []]:
                if not isinstance(node, exp.Table) or (not node.db and node.name.casefold() in ctes):
                    continue
                idx = self._resolve(node)
                if idx is None:
                    continue
                ref = exp.column("rowid", table=exp.to_identifier(node.alias_or_name, quoted=True))
                cols.append(exp.alias_(ref, f"{_P}w{len(cols)}", quoted=True))
                idxs.append(idx)
            if not cols:
                continue
            w = sel.copy()
            w.set("expressions", cols)
            for arg in ("distinct", "group", "having", "qualify", "order", "limit", "offset", "windows"):
                w.set(arg, None)
            if with_ is not None and sel is not tree and not (w.args.get("with_") or w.args.get("with")):
                w.set("with_" if "with_" in w.arg_types else "with", with_.copy())
            out.append((w.sql(dialect="duckdb"), idxs))
        return out

    # ------------------------------------------------------------------------------ copies
    def build_copy(self, folder: Path, i: int, seed: int) -> dict[str, t.Any]:
        """Write copy ``i``; when golds that return rows on the original return none on it, retry with
        another seed and the witness rows of those golds (until no new gold goes empty)."""
        best: dict[str, t.Any] | None = None
        target = folder / f"copy_{i}.duckdb"
        started = time.perf_counter()
        tries = 0
        for attempt in range(max(1, self.opts.attempts)):
            tries = attempt + 1
            s = int(hashlib.sha256(f"{seed}:{i}:{attempt}".encode()).hexdigest()[:8], 16)
            path = folder / f"copy_{i}.try{attempt}.duckdb"
            rows = self._write_copy(path, s)
            empty, broken = self._check_golds(path)
            empty = [j for j in empty if j in broken or self._nonempty_on_original(j)]
            info = {"file": target.name, "seed": s, "rows": rows, "golds_nonempty": self.nonempty_count(empty),
                    "empty_golds": empty, "broken_golds": broken}  # fmt: skip
            self.say(f"copy {i}, try {tries}: {len(empty)} golds return no rows ({len(broken)} fail)")
            if best is None or len(empty) < len(best["empty_golds"]):
                if best is not None:
                    Path(best["_path"]).unlink(missing_ok=True)
                best = {**info, "_path": str(path)}
            else:
                path.unlink(missing_ok=True)
            fresh = set(empty) - self.needy
            self.needy |= fresh
            if not fresh:
                break
        assert best is not None
        os.replace(best.pop("_path"), target)
        best["attempts"] = tries
        best["seconds"] = round(time.perf_counter() - started, 3)
        return best

    def _check_golds(self, path: Path) -> tuple[list[int], list[int]]:
        """Indexes of the golds that return no rows on the copy, and of those that fail there."""
        todo = [j for j, ok in enumerate(self.safe) if ok and self.nonempty.get(j, True)]
        if not todo:
            return [], []
        box = sandbox.Sandbox(path, timeout_s=self.opts.timeout_s)
        try:  # the golds were classified in plan(): run them unchecked here
            with concurrent.futures.ThreadPoolExecutor(max_workers=_workers()) as pool:
                runs = list(pool.map(lambda j: box._execute_unchecked(self.golds[j], row_cap=1), todo))
        finally:
            box.close()
        empty = [j for j, run in zip(todo, runs) if not (run.ok and run.rows)]
        broken = [j for j, run in zip(todo, runs) if not run.ok]
        return empty, broken

    def _write_copy(self, path: Path, s: int) -> dict[str, int]:
        con, rng = self.con, random.Random(s)
        for tp in self.tables:
            frac = rng.uniform(*self.opts.keep)
            m = max(1, round(min(tp.n, self.opts.cap) * frac)) if tp.n else 0
            con.execute(f"CREATE OR REPLACE TEMP TABLE {_P}k{tp.idx} AS SELECT rowid AS rid, false AS anchor "
                        f"FROM {tp.src} ORDER BY hash(rowid, {s}) LIMIT {m}")  # fmt: skip
        picks: dict[int, list[tuple[int, bool]]] = {}
        for j in sorted(self.needy):
            for tuples in self._witnesses_of(j):
                anchor = rng.randrange(len(tuples))
                for n, tup in enumerate(tuples):
                    if n == anchor or rng.random() < self.opts.witness_keep:
                        for idx, rid in tup.items():
                            picks.setdefault(idx, []).append((rid, n == anchor))
        for idx, rows in sorted(picks.items()):
            con.execute(f"INSERT INTO {_P}k{idx} SELECT unnest($1::BIGINT[]), unnest($2::BOOLEAN[])",
                        [[r for r, _ in rows], [a for _, a in rows]])  # fmt: skip
        self._close_parents()
        for tp in self.tables:
            self._final_keep(tp, s)
        for n, e in enumerate(self.edges):
            if e.remap:
                self._parent_keys(n, e)
        path.unlink(missing_ok=True)
        counts: dict[str, int] = {}
        con.execute(f"ATTACH {_s(str(path))} AS dst")
        try:
            for tp in self.tables:
                counts[str(tp.table.key)] = self._fill(tp, s)
            self._copy_views()
        finally:
            con.execute("DETACH dst")
        Path(f"{path}.wal").unlink(missing_ok=True)
        return counts

    def _copy_views(self) -> None:
        views = self.con.execute("SELECT schema_name, sql FROM duckdb_views() WHERE database_name = 'src' "
                                 "AND NOT internal AND sql IS NOT NULL").fetchall()  # fmt: skip
        if not views:
            return
        self.con.execute("USE dst")
        try:
            for schema_name, sql in views:
                try:
                    self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {_q(schema_name)}")
                    self.con.execute(f"SET schema = {_s(schema_name)}")
                    self.con.execute(sql)
                except duckdb.Error:
                    pass  # a view that cannot be recreated is left out
        finally:
            self.con.execute("USE memory")
            self.con.execute("SET schema = 'main'")

    def _close_parents(self) -> None:
        """Add the parent rows that kept child rows reference, until nothing changes (a worklist, children first)."""
        dirty = {tp.idx for tp in self.tables}
        steps = 0
        while dirty and steps < 20 * max(1, len(self.edges)):
            child = min(dirty, key=lambda i: (self._depths[i], i))
            dirty.discard(child)
            for e in self.edges:
                if e.child != child:
                    continue
                steps += 1
                c, p = self.tables[e.child], self.tables[e.parent]
                on = " AND ".join(f"p.{_q(b)} = x.{_P}f{n}" for n, b in enumerate(e.parent_cols))
                pick = ", ".join(f"c.{_q(a)} AS {_P}f{n}" for n, a in enumerate(e.child_cols))
                sql = (f"INSERT INTO {_P}k{p.idx} SELECT DISTINCT p.rowid, false FROM {p.src} p JOIN "
                       f"(SELECT DISTINCT {pick} FROM {c.src} c JOIN {_P}k{c.idx} k ON c.rowid = k.rid) x ON {on} "
                       f"WHERE p.rowid NOT IN (SELECT rid FROM {_P}k{p.idx})")  # fmt: skip
                try:
                    added = self.con.execute(sql).fetchone()
                except duckdb.Error:
                    continue
                if added and added[0]:
                    dirty.add(p.idx)

    @functools.cached_property
    def _depths(self) -> dict[int, int]:
        """How far each table is from the leaves (children first, so parents are closed once)."""
        depth = {tp.idx: 0 for tp in self.tables}
        for _ in range(len(self.tables)):
            for e in self.edges:
                if e.child != e.parent and depth[e.parent] < depth[e.child] + 1:
                    depth[e.parent] = min(depth[e.child] + 1, len(self.tables))
        return depth

    def _final_keep(self, tp: _TablePlan, s: int) -> None:
        """``kf<idx>``: the kept rows and the duplicates (``dn > 0``), numbered ``i`` in source order."""
        dups = ""
        if tp.dup and self.opts.dup_rate > 0:
            dups = (f" UNION ALL SELECT rid, false, row_number() OVER (ORDER BY rid) FROM base WHERE NOT anchor "
                    f"AND hash(rid, 'dup', {s}) % {_SCALE} < {int(self.opts.dup_rate * _SCALE)}")  # fmt: skip
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {_P}kf{tp.idx} AS WITH base AS (SELECT rid, bool_or(anchor) "
                         f"AS anchor FROM {_P}k{tp.idx} GROUP BY rid) SELECT row_number() OVER (ORDER BY rid, dn) - 1 "
                         f"AS i, rid, anchor, dn FROM (SELECT rid, anchor, 0 AS dn FROM base{dups})")  # fmt: skip

    def _parent_keys(self, n: int, e: _Edge) -> None:
        """``pk<n>``: the parent copy's keys of edge ``n``, numbered ``j`` within their link values (strata)."""
        p = self.tables[e.parent]
        strata = sorted(p.links - set(e.parent_cols))
        keys = ", ".join(f"{self._value(p, b)} AS {_P}v{m}" for m, b in enumerate(e.parent_cols))
        group = ", ".join(f"{_P}v{m}" for m in range(len(e.parent_cols)))
        strat = "".join(f", min(s.{_q(x)}) AS {_P}s{m}" for m, x in enumerate(strata))
        notnull = " AND ".join(f"{_P}v{m} IS NOT NULL" for m in range(len(e.parent_cols)))
        part = ", ".join(f"{_P}s{m}" for m in range(len(strata)))
        over = f"PARTITION BY {part} " if strata else ""
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {_P}pk{n} AS SELECT row_number() OVER ({over}ORDER BY {group}) "
                         f"- 1 AS {_P}j, count(*) OVER ({over.strip()}) AS {_P}n, * FROM (SELECT {keys}{strat} "
                         f"FROM {_P}kf{p.idx} k JOIN {p.src} s ON s.rowid = k.rid GROUP BY ALL) WHERE {notnull}")  # fmt: skip

    @staticmethod
    def _value(tp: _TablePlan, name: str) -> str:
        """SQL of column ``name``'s value in the copy when it is never perturbed (keys renewed on duplicates)."""
        c = f"s.{_q(name)}"
        return f"CASE WHEN k.dn > 0 THEN {tp.new_keys[name]} ELSE {c} END" if name in tp.new_keys else c

    def _fill(self, tp: _TablePlan, s: int) -> int:
        """Write the copy of ``tp`` into ``dst``: kept rows and duplicates with literal, domain, donor and key draws."""
        con, o = self.con, self.opts
        group_of = {c: g for g, cols in enumerate(tp.groups) for c in cols}
        remaps = {a: (n, e, m) for n, e in enumerate(self.edges) if e.child == tp.idx and e.remap
                  for m, a in enumerate(e.child_cols)}  # fmt: skip
        rate, size = int(o.cell_rate * _SCALE), tp.pool_size
        exprs: list[str] = []
        for col in tp.table.columns:
            c, typ = _q(col.name), col.raw_type
            if col.name in remaps:
                n, e, m = remaps[col.name]
                exprs.append(f"CASE WHEN NOT k.anchor AND q{n}.{_P}v{m} IS NOT NULL THEN q{n}.{_P}v{m} ELSE s.{c} END")
                continue
            g = group_of.get(col.name)
            if g is None or not size:
                exprs.append(self._value(tp, col.name))
                continue
            flag = f"hash(k.i, 'g{g}', {s}) % {_SCALE} < {rate}"
            cases = [f"WHEN k.anchor THEN s.{c}"]
            lits = tp.literals.get(col.name)
            if lits:
                pick = _pick(lits, f"hash(k.i, {_s(col.name)}, {s})")
                cases.append(f"WHEN hash(k.i, 'lit', {_s(col.name)}, {s}) % {_SCALE} < {int(o.literal_rate * _SCALE)} "
                             f"THEN CAST({pick} AS {typ})")  # fmt: skip
            dom = tp.domains.get(col.name)
            if dom:
                pick = _pick(dom, f"hash(k.i, {_s(col.name)}, {s}, 1)")
                cases.append(f"WHEN {flag} AND hash(k.i, 'dom', {s}) % {_SCALE} < {int(o.domain_rate * _SCALE)} "
                             f"THEN CAST({pick} AS {typ})")  # fmt: skip
            donor = f"coalesce(n{g}.{c}, p.{c})" if g in tp.rank_by else f"p.{c}"
            cases.append(f"WHEN {flag} THEN {donor}")
            exprs.append(f"CASE {' '.join(cases)} ELSE s.{c} END")
        joins: list[str] = []
        if size:
            joins.append(f"LEFT JOIN {tp.pool} p ON p.{_P}d = hash(k.i, 'donor', {s}) % {size}")
            width = max(1, size // 50)
            for g, key_name in tp.rank_by.items():  # a donor near the row in the group's ordering column
                key = _q(key_name)
                near = (f"greatest(0, least({size - 1}, a{g}.{_P}r{g} + CAST(hash(k.i, 'n{g}', {s}) % "
                        f"{2 * width + 1} AS BIGINT) - {width}))")  # fmt: skip
                joins.append(f"ASOF LEFT JOIN (SELECT {key}, {_P}r{g} FROM {tp.pool} WHERE {key} IS NOT NULL) a{g} "
                             f"ON s.{key} >= a{g}.{key} LEFT JOIN {tp.pool} n{g} ON n{g}.{_P}r{g} = {near}")  # fmt: skip
        for n, e in enumerate(self.edges):
            if e.child != tp.idx or not e.remap:
                continue
            p = self.tables[e.parent]
            strata = sorted(p.links - set(e.parent_cols))
            cur = " AND ".join(f"cur{n}.{_P}v{m} = s.{_q(a)}" for m, a in enumerate(e.child_cols))
            same = "".join(f" AND q{n}.{_P}s{m} IS NOT DISTINCT FROM cur{n}.{_P}s{m}" for m in range(len(strata)))
            salt = _s(f"fk{n}")
            joins.append(f"LEFT JOIN {_P}pk{n} cur{n} ON {cur} LEFT JOIN {_P}pk{n} q{n} ON hash(k.i, {salt}, {s}) % "
                         f"{_SCALE} < {int(o.fk_rate * _SCALE)} AND q{n}.{_P}j = hash(k.i, {salt}, {s}, 'v') % "
                         f"cur{n}.{_P}n{same}")  # fmt: skip
        sch = _q(tp.table.schema or "main")
        dst = f"dst.{sch}.{_q(tp.table.name)}"
        con.execute(f"CREATE SCHEMA IF NOT EXISTS dst.{sch}")
        con.execute(f"CREATE TABLE {dst} AS SELECT * FROM {tp.src} LIMIT 0")
        row = con.execute(f"INSERT INTO {dst} SELECT {', '.join(exprs)} FROM {_P}kf{tp.idx} k JOIN {tp.src} s "
                          f"ON s.rowid = k.rid {' '.join(joins)} ORDER BY k.i").fetchone()  # fmt: skip
        return int(row[0]) if row else 0


def _workers() -> int:
    return max(2, min(4, os.cpu_count() or 1))


def _pick(values: list[str], h: str) -> str:
    """SQL drawing one of ``values`` (text) by the hash expression ``h``."""
    return f"{_text_list(values)}[1 + CAST(({h}) % {len(values)} AS BIGINT)]"


def _hashable(v: t.Any) -> t.Any:
    try:
        hash(v)
    except TypeError:
        return repr(v)
    return v


def _holds(actual: t.Any, expected: t.Any) -> bool:
    """``actual == expected`` (to a cent, or 1e-6 relative) on at least 20 rows and 99 % of the rows with both."""
    present = ~(numpy.isnan(actual) | numpy.isnan(expected))
    count = int(present.sum())
    if count < 20:
        return False
    a, e = actual[present], expected[present]
    good = numpy.abs(a - e) <= numpy.maximum(0.011, 1e-6 * numpy.abs(a))
    return bool(good.sum() >= 0.99 * count)


def _coscaled(a: t.Any, b: t.Any) -> bool:
    """Positive columns spanning orders of magnitude whose ratio barely varies (same currency, same unit)."""
    ok = (a > 0) & (b > 0)
    if int(ok.sum()) < 20:
        return False
    la, lb = numpy.log(a[ok]), numpy.log(b[ok])
    spread = min(float(la.std()), float(lb.std()))
    return spread > 0.5 and float((la - lb).std()) < 0.3 * spread


def _distinct(col: Column) -> int:
    return (col.profile.distinct_count or 0) if col.profile is not None else 0


_DATE_PARTS: t.Final[tuple[t.Callable[[t.Any], t.Any], ...]] = (
    lambda d: d.year, lambda d: (d.year, (d.month - 1) // 3), lambda d: d.month, lambda d: (d.month - 1) // 3,
    lambda d: d.weekday(), lambda d: d.day, lambda d: (d.year, d.month),
)  # fmt: skip


def _comparisons(tree: exp.Expression) -> t.Iterator[tuple[exp.Column, str]]:
    """``(column, literal SQL)`` for every comparison of a column with a literal in ``tree``."""

    def lit(node: exp.Expression | None) -> str | None:
        if isinstance(node, exp.Literal) or (isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal)):
            return node.sql(dialect="duckdb")
        if isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal):
            return node.sql(dialect="duckdb")
        return None

    for node in tree.find_all(exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between, exp.In):
        target: exp.Expression = node.this
        if isinstance(node, exp.Between):
            sides: list[exp.Expression | None] = [node.args.get("low"), node.args.get("high")]
        elif isinstance(node, exp.In):
            sides = list(node.expressions)
        else:
            other = node.expression
            if isinstance(other, exp.Column) and not isinstance(target, exp.Column):
                target, other = other, target
            sides = [other]
        if isinstance(target, exp.Column):
            for side in sides:
                value = lit(side)
                if value is not None:
                    yield target, value


class _UnionFind:
    def __init__(self, items: t.Iterable[str]) -> None:
        self.parent = {x: x for x in items}

    def find(self, x: str) -> str:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        if a in self.parent and b in self.parent:
            self.parent[self.find(a)] = self.find(b)

    def components(self) -> list[tuple[str, ...]]:
        out: dict[str, list[str]] = {}
        for x in self.parent:
            out.setdefault(self.find(x), []).append(x)
        return [tuple(v) for v in out.values()]
