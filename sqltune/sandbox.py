"""Run untrusted SQL against a DuckDB file: the one place sqltune executes queries.

Model-generated SQL is untrusted. Pair verification, grading and answering all
call :func:`execute` (or a :class:`Sandbox`), which never raises on bad SQL and
returns an :class:`Execution` record instead.

What the sandbox does:

- Layer one, the connection: the file is opened ``read_only=True`` with external
  access off (``read_csv``, ``COPY``, ``ATTACH``, ``INSTALL``, ``EXPORT`` fail),
  extension auto-install/auto-load, community extensions, Python replacement
  scans and spilling to disk (``temp_directory=''``) off, a ``memory_limit`` and
  ``threads``, then ``lock_configuration`` so SQL cannot ``SET`` them back. Each
  setting is read back; one that did not take effect is a ``SandboxError``.
- Layer two, :func:`sqltune.sql_safety.classify`: exactly one read-only query
  reaching no files, network or environment, else ``UNSAFE`` without running.
- Each query runs on its own cursor in its own thread: threads may share a
  sandbox, and session state (temp tables, variables) dies with the call.
- Past ``timeout_s`` the query is interrupted (``TIMEOUT``). If DuckDB has not
  stopped 1 s later, the caller gets ``TIMEOUT`` anyway and the query is left
  to stop in the background, still being interrupted.
- Results stream (``cursor.execute()`` does since DuckDB 0.8, duckdb/duckdb#6346):
  at most ``row_cap + 1`` rows are fetched, ``truncated`` says whether more
  existed, and ``ResultTooLarge`` stops a fetch whose values pass ``byte_cap``.

What it does not cover:

- Work DuckDB cannot interrupt keeps a CPU busy after the caller has its
  ``TIMEOUT``: planning (a 4,000-way ``UNION ALL`` plans for over a second,
  hence ``sql_safety.MAX_SQL_CHARS``) and single huge function calls
  (``len(range(10^8))`` runs ~30 s, ``repeat('x', 10^9)`` ~8 s on 2 cores).
- ``memory_limit`` bounds DuckDB's buffer pool, not every allocation or the
  Python values of a result; expect peaks of two to three times the limit.
- Views and macros stored in the database file (sqltune's own) are not
  classified; layer one still applies to them.
- ``memory_limit`` and ``threads`` belong to the DuckDB instance, and DuckDB
  opens a file only once per process: :func:`execute` reopens its cached
  sandbox when they change, and a second :class:`Sandbox` on the same file
  with other settings is a ``SandboxError``.

>>> import duckdb, os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "demo.duckdb")
>>> duckdb.connect(path).execute("CREATE TABLE t AS SELECT range AS i FROM range(5)").close()
>>> run = execute(path, "SELECT i FROM t ORDER BY i DESC", row_cap=2)
>>> run.status, run.columns, run.types, run.rows, run.truncated
(<Status.OK: 'ok'>, ('i',), ('BIGINT',), ((4,), (3,)), True)
>>> execute(path, "SELECT 1; DROP TABLE t").status
<Status.UNSAFE: 'unsafe'>
>>> execute(path, "SELECT nope FROM t").error_class
'BinderException'
>>> close_all()
"""

from __future__ import annotations

import atexit
import dataclasses
import enum
import functools
import math
import os
import threading
import time
import weakref
import typing as t
from pathlib import Path

import duckdb

from sqltune.errors import SandboxError
from sqltune.sql_safety import Safety, classify

__all__ = ["Execution", "Sandbox", "Safety", "Status", "classify", "close_all", "execute"]

_FETCH_BATCH = 64
_DEFAULT_BYTE_CAP = 64 * 2**20
_GRACE_S = 1.0  # after a timeout, how long to wait for DuckDB to stop before leaving it


class Status(str, enum.Enum):
    """How an execution ended (``str``-valued: ``Status("ok") is Status.OK``)."""

    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"
    UNSAFE = "unsafe"

    def __str__(self) -> str:
        return self.value


@dataclasses.dataclass(frozen=True)
class Execution:
    """The result of running one piece of SQL in the sandbox.

    Attributes:
        sql: The SQL as given.
        status: ``OK``, ``ERROR``, ``TIMEOUT`` or ``UNSAFE``.
        columns: Result column names.
        types: DuckDB type names of the columns (``"BIGINT"``, ``"DECIMAL(18,3)"``…).
        rows: At most ``row_cap`` rows, in the order DuckDB returned them.
        truncated: More than ``row_cap`` rows existed.
        elapsed_s: Wall time of the whole call, classification included.
        error_class: DuckDB's exception class name (``"BinderException"``…),
            ``"Unsafe"``, or ``"ResultTooLarge"``.
        error_message: The message that goes with ``error_class``.
    """

    sql: str
    status: Status
    columns: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    rows: tuple[tuple[t.Any, ...], ...] = ()
    truncated: bool = False
    elapsed_s: float = 0.0
    error_class: str | None = None
    error_message: str | None = None

    @property
    def ok(self) -> bool:
        """True when the query ran to completion (possibly truncated)."""
        return self.status is Status.OK


class Sandbox:
    """A locked-down, read-only DuckDB connection to one database file.

    Args:
        db: Path of an existing DuckDB file.
        timeout_s: Default wall-clock limit per query.
        row_cap: Default maximum number of rows returned.
        byte_cap: Default limit on the (approximate) size of the fetched rows.
        memory_limit: DuckDB ``memory_limit`` for this database instance.
        threads: DuckDB ``threads`` for this database instance.

    Raises:
        SandboxError: The file does not exist, cannot be opened read-only, or a
            setting did not take effect.
    """

    def __init__(
        self, db: str | os.PathLike[str], *, timeout_s: float = 5.0, row_cap: int = 10_000,
        byte_cap: int = _DEFAULT_BYTE_CAP, memory_limit: str = "1GB", threads: int = 1,
    ) -> None:  # fmt: skip
        self.path = Path(db).expanduser().resolve()
        self.timeout_s, self.row_cap, self.byte_cap = timeout_s, row_cap, byte_cap
        self.memory_limit, self.threads = memory_limit, threads
        if not self.path.is_file():
            raise SandboxError(f"Database file not found: {self.path}")
        config = _config(memory_limit, threads)
        try:
            self._con = duckdb.connect(str(self.path), read_only=True, config=config)
        except duckdb.Error as e:
            raise SandboxError(f"Cannot open {self.path} read-only for the sandbox: {e}") from e
        try:
            _verify(self._con, config)
        except SandboxError:
            self._con.close()
            raise
        self._lock = threading.Condition()
        self._active: set[duckdb.DuckDBPyConnection] = set()
        self._closed = False
        _LIVE.add(self)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def execute(self, sql: str, **overrides: t.Any) -> Execution:
        """Classify and, if safe, run ``sql``; never raises on bad SQL.

        Args:
            sql: One query.
            **overrides: ``timeout_s``, ``row_cap`` or ``byte_cap`` for this call only.

        Raises:
            SandboxError: The sandbox has been closed.
        """
        start = time.perf_counter()
        safety = classify(sql)
        if safety.statement_kind in ("INVALID", "EMPTY"):
            return _result(sql, start, Status.ERROR, error_class="ParserException", error_message=safety.reason)
        if not safety.safe:
            return _result(sql, start, Status.UNSAFE, error_class="Unsafe", error_message=safety.reason)
        return self._execute_unchecked(sql, start=start, **overrides)

    def _execute_unchecked(
        self, sql: str, *, timeout_s: float | None = None, row_cap: int | None = None,
        byte_cap: int | None = None, start: float | None = None,
    ) -> Execution:  # fmt: skip
        """Run ``sql`` unclassified: only the connection's own defences apply (tests use this)."""
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        row_cap = self.row_cap if row_cap is None else row_cap
        byte_cap = self.byte_cap if byte_cap is None else byte_cap
        done = functools.partial(_result, sql, time.perf_counter() if start is None else start)
        with self._lock:
            if self._closed:
                raise SandboxError(f"The sandbox for {self.path} is closed.")
            cur = self._con.cursor()
            self._active.add(cur)
        finished, fired = threading.Event(), threading.Event()
        outcome: list[Execution] = []
        late = f"Timed out after {timeout_s:g} s."

        def work() -> None:  # runs in its own thread, so the caller can stop waiting
            try:
                outcome.append(_run(cur, sql, row_cap, byte_cap, fired, done))
            except Exception as e:
                if fired.is_set():
                    outcome.append(done(Status.TIMEOUT, error_class=type(e).__name__, error_message=late))
                elif self._closed:
                    outcome.append(done(Status.ERROR, error_class=type(e).__name__, error_message="Sandbox closed."))
                else:
                    outcome.append(done(Status.ERROR, error_class=type(e).__name__, error_message=str(e)))
            finally:
                with self._lock:
                    finished.set()
                    self._active.discard(cur)
                    _quietly(cur.close)
                    if self._closed and not self._active:  # close() gave up waiting: last one out closes
                        _quietly(self._con.close)
                    self._lock.notify_all()

        threading.Thread(target=work, daemon=True, name="sandbox-query").start()
        try:
            if not finished.wait(timeout_s):
                fired.set()
                self._interrupt_until(cur, finished, time.monotonic() + _GRACE_S)
        finally:
            if not finished.is_set():  # DuckDB is inside work it cannot interrupt: leave it, keep interrupting
                fired.set()
                threading.Thread(target=self._interrupt_until, args=(cur, finished, math.inf), daemon=True).start()
        if outcome:
            return outcome[0]
        late += f" DuckDB was still busy {_GRACE_S:g} s later; the query stops in the background."
        return done(Status.TIMEOUT, error_class="InterruptException", error_message=late)

    def _interrupt_until(self, cur: duckdb.DuckDBPyConnection, finished: threading.Event, deadline: float) -> None:
        """Interrupt ``cur`` every 50 ms until its query ends or ``time.monotonic()`` passes ``deadline``.

        Repeating matters: an interrupt landing between DuckDB's phases can be cleared unheeded.
        """
        while time.monotonic() < deadline:
            with self._lock:
                if finished.is_set():
                    return
                _quietly(cur.interrupt)
            if finished.wait(0.05):
                return

    def close(self, wait_s: float = 10.0) -> None:
        """Interrupt running queries, wait up to ``wait_s`` for them, and close the connection.

        A query still running after ``wait_s`` closes the connection when it ends.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            deadline = time.monotonic() + wait_s
            while self._active and time.monotonic() < deadline:
                for cur in self._active:
                    _quietly(cur.interrupt)
                self._lock.wait(0.05)
            if not self._active:
                _quietly(self._con.close)


_CACHE: dict[Path, Sandbox] = {}
_LIVE: weakref.WeakSet[Sandbox] = weakref.WeakSet()  # every open sandbox, closed at exit
_CACHE_LOCK = threading.Lock()


def execute(
    db: str | os.PathLike[str], sql: str, *, timeout_s: float = 5.0, row_cap: int = 10_000,
    byte_cap: int = _DEFAULT_BYTE_CAP, memory_limit: str = "1GB", threads: int = 1,
) -> Execution:  # fmt: skip
    """Run ``sql`` against the DuckDB file ``db`` in a cached :class:`Sandbox`.

    One sandbox is kept per resolved path; a call with another ``memory_limit``
    or ``threads`` closes it (interrupting its running queries) and opens a new one.

    Raises:
        SandboxError: The file does not exist or cannot be opened (never for bad SQL).
    """
    path = Path(db).expanduser().resolve()
    for attempt in range(3):
        with _CACHE_LOCK:
            box = _CACHE.get(path)
            if box is not None and (box._closed or (box.memory_limit, box.threads) != (memory_limit, threads)):
                box.close()
                box = None
            if box is None:
                box = _CACHE[path] = Sandbox(path, memory_limit=memory_limit, threads=threads)
        try:
            return box.execute(sql, timeout_s=timeout_s, row_cap=row_cap, byte_cap=byte_cap)
        except SandboxError:
            if not box._closed or attempt == 2:  # closed by another thread meanwhile: open it again
                raise
    raise AssertionError("unreachable")


def close_all() -> None:
    """Close every cached sandbox, e.g. before another part of sqltune opens a file read-write.

    Also runs at interpreter exit: DuckDB aborts the process if a connection is still open while
    Python tears its threads down.
    """
    with _CACHE_LOCK:
        boxes = list(_CACHE.values())
        _CACHE.clear()
    for box in boxes:
        box.close()


def _close_at_exit() -> None:
    close_all()
    for box in list(_LIVE):
        box.close(wait_s=2.0)


atexit.register(_close_at_exit)


# -- helpers ---------------------------------------------------------------------------------

_REQUIRED: t.Final = dict(
    enable_external_access=False, autoinstall_known_extensions=False, autoload_known_extensions=False, temp_directory=""
)
_OPTIONAL: t.Final = dict(  # applied where the installed duckdb knows them
    allow_community_extensions=False, allow_unsigned_extensions=False, allow_persistent_secrets=False,
    python_enable_replacements=False,
)  # fmt: skip


def _config(memory_limit: str, threads: int) -> dict[str, t.Any]:
    optional = {k: v for k, v in _OPTIONAL.items() if k in _known_settings()}
    return {**_REQUIRED, **optional, "memory_limit": memory_limit, "threads": threads, "lock_configuration": True}


@functools.cache
def _known_settings() -> frozenset[str]:
    with duckdb.connect(":memory:") as probe:
        return frozenset(name for (name,) in probe.execute("SELECT name FROM duckdb_settings()").fetchall())


def _verify(con: duckdb.DuckDBPyConnection, config: dict[str, t.Any]) -> None:
    """Read every setting back; raise :class:`SandboxError` unless all took effect."""
    expected = {k: str(v).lower() for k, v in config.items()}
    expected["memory_limit"] = _memory_limit_as_shown(config["memory_limit"])
    expected["access_mode"] = "read_only"
    actual = dict(con.execute("SELECT name, lower(value) FROM duckdb_settings()").fetchall())
    wrong = [f"{k}={actual.get(k)!r} (wanted {v!r})" for k, v in expected.items() if actual.get(k) != v]
    if wrong:
        raise SandboxError("Sandbox settings did not take effect: " + ", ".join(wrong))


def _result(sql: str, start: float, status: Status, **fields: t.Any) -> Execution:
    return Execution(sql, status, elapsed_s=time.perf_counter() - start, **fields)


@functools.cache
def _memory_limit_as_shown(memory_limit: str) -> str:
    """How DuckDB shows ``memory_limit`` once set (``"1GB"`` → ``"953.6 mib"``)."""
    try:
        with duckdb.connect(":memory:", config={"memory_limit": memory_limit}) as ref:
            (shown,) = ref.execute("SELECT lower(current_setting('memory_limit'))").fetchall()[0]
            return str(shown)
    except duckdb.Error as e:
        raise SandboxError(f"Invalid memory_limit {memory_limit!r}: {e}") from e


def _run(
    cur: duckdb.DuckDBPyConnection, sql: str, row_cap: int, byte_cap: int, fired: threading.Event,
    done: t.Callable[..., Execution],
) -> Execution:  # fmt: skip
    """Execute on ``cur`` and fetch at most ``row_cap + 1`` rows of the streaming result, in order."""
    cur.execute(sql)
    description = cur.description or []
    rows: list[tuple[t.Any, ...]] = []
    size = 0.0
    while description and len(rows) <= row_cap:
        if fired.is_set():  # time ran out while Python converted values
            raise duckdb.InterruptException("Interrupted while fetching")
        batch = cur.fetchmany(min(_FETCH_BATCH, row_cap + 1 - len(rows)))
        if not batch:
            break
        rows.extend(batch)
        size += _approx_size(batch, byte_cap - size)
        if size > byte_cap:
            message = f"The first {len(rows)} rows take more than {byte_cap:,} bytes."
            return done(Status.ERROR, error_class="ResultTooLarge", error_message=message)
    return done(
        Status.OK,
        columns=tuple(str(d[0]) for d in description),
        types=tuple(str(d[1]) for d in description),
        rows=tuple(tuple(r) for r in rows[:row_cap]),
        truncated=len(rows) > row_cap,
    )


def _approx_size(value: object, budget: float, sample: int = 32) -> float:
    """Rough byte size of nested values, from the first ``sample`` items of long lists; stops past ``budget``."""
    total, stack = 0.0, [(value, 1.0)]
    while stack and total <= budget:
        v, weight = stack.pop()
        size = 16
        if isinstance(v, (str, bytes, bytearray)):
            size += len(v)
        elif isinstance(v, (list, tuple, dict)):
            items = list(v.items()) if isinstance(v, dict) else v
            size += 8 * len(items)
            scale = weight * max(1.0, len(items) / sample)
            stack.extend((item, scale) for item in items[:sample])
        total += weight * size
    return total


def _quietly(fn: t.Callable[[], object]) -> None:
    try:
        fn()
    except Exception:  # interrupting or closing a finished cursor is harmless
        pass
