"""The sandbox: hostile and benign SQL corpora (tests as data), limits, settings, threads.

The corpora live in ``tests/fixtures/sandbox/{hostile,benign}.sql``; see the header of
``hostile.sql`` for the format.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import threading
import time
from pathlib import Path

import duckdb
import pytest

from sqltune import sandbox
from sqltune.errors import SandboxError
from sqltune.sandbox import Sandbox, Status, classify

FIXTURES = Path(__file__).parent / "fixtures" / "sandbox"
HEADER = re.compile(r"^-- (expect|truncated|error_class|timeout_s|escapes|rows):\s*(.*?)\s*$")


@dataclasses.dataclass(frozen=True)
class Case:
    title: str
    sql: str
    expect: Status
    truncated: bool | None = None
    error_class: str | None = None
    timeout_s: float = 0.5
    rows: int | None = None


def load_cases(name: str) -> list[Case]:
    """Parse a corpus file: blocks opened by ``-- title:``, then header lines, then the SQL."""
    blocks: list[tuple[str, list[str]]] = []
    for line in (FIXTURES / name).read_text(encoding="utf-8").splitlines():
        if line.startswith("-- title:"):
            blocks.append((line.removeprefix("-- title:").strip(), []))
        elif blocks:
            blocks[-1][1].append(line)
    cases = []
    for title, lines in blocks:
        headers: dict[str, str] = {}
        while lines and (m := HEADER.match(lines[0])):
            headers[m[1]] = m[2]
            lines.pop(0)
        sql = "\n".join(lines).strip("\n")
        if headers.get("escapes") == "yes":
            sql = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m[1], 16)), sql)
        assert sql.strip(), f"{name}: case {title!r} has no SQL"
        cases.append(
            Case(
                title=title,
                sql=sql,
                expect=Status(headers["expect"]),
                truncated={"yes": True, "no": False}.get(headers.get("truncated", "")),
                error_class=headers.get("error_class"),
                timeout_s=float(headers.get("timeout_s", 0.5)),
                rows=int(headers["rows"]) if "rows" in headers else None,
            )
        )
    titles = [c.title for c in cases]
    assert len(titles) == len(set(titles)), f"{name}: duplicate titles"
    return cases


HOSTILE = load_cases("hostile.sql")
BENIGN = load_cases("benign.sql")


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sandbox") / "shop.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE t AS SELECT range::INTEGER AS i, 'n' || range AS name FROM range(100)")
        con.execute("CREATE TABLE u AS SELECT range::INTEGER AS i FROM range(5)")
        con.execute(
            """CREATE TABLE words AS SELECT * FROM (VALUES ('a', 'b'), ('c', 'd'), ('e', 'f')) v("update", "delete")"""
        )
        con.execute("CREATE SCHEMA sales")
        con.execute(
            """CREATE TABLE sales."OrderHeader" AS SELECT * FROM (VALUES
               (1, DATE '2024-01-15', 10.50::DECIMAL(10,2)), (2, DATE '2024-02-03', 20.00),
               (3, DATE '2024-02-20', 5.25), (4, DATE '2024-03-01', 99.99)) v("OrderID", "OrderDate", "Total")"""
        )
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Untouched:
    """Snapshot of the database file, its folder and the absolute paths a SQL text names."""

    def __init__(self, db: Path, sql: str) -> None:
        self.db, self.digest, self.listing = db, sha256(db), sorted(db.parent.iterdir())
        self.named = {Path(p): Path(p).exists() for p in re.findall(r"'(/[^']+)'", sql)}

    def check(self) -> None:
        sandbox.close_all()
        assert sha256(self.db) == self.digest, "database file changed"
        assert sorted(self.db.parent.iterdir()) == self.listing, "files appeared beside the database"
        created = [str(p) for p, existed in self.named.items() if not existed and p.exists()]
        assert not created, f"files created: {created}"


# ----------------------------------------------------------------------------- corpora


def test_corpus_sizes() -> None:
    assert len(HOSTILE) >= 40
    assert {c.expect for c in HOSTILE} == set(Status)


@pytest.mark.parametrize("case", HOSTILE, ids=[c.title for c in HOSTILE])
def test_hostile(case: Case, db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(db.parent)  # relative file names in the corpus land beside the database
    untouched = Untouched(db, case.sql)
    run = sandbox.execute(db, case.sql, timeout_s=case.timeout_s)
    assert run.status is case.expect, run
    if case.truncated is not None:
        assert run.truncated is case.truncated
    if case.error_class:
        assert run.error_class == case.error_class, run
    if run.status is Status.UNSAFE:
        assert run.error_class == "Unsafe" and run.error_message
    untouched.check()


@pytest.mark.parametrize("case", BENIGN, ids=[c.title for c in BENIGN])
def test_benign(case: Case, db: Path) -> None:
    untouched = Untouched(db, case.sql)
    run = sandbox.execute(db, case.sql, timeout_s=5)
    assert run.status is case.expect, run
    assert len(run.columns) == len(run.types) > 0
    if case.rows is not None:
        assert len(run.rows) == case.rows
    untouched.check()


# Layer 1 alone: the connection must refuse these even when classification is skipped.
CONNECTION_REFUSES = {
    "SET memory_limit = '100GB'": "InvalidInputException",
    "SET enable_external_access = true": "InvalidInputException",
    "SET lock_configuration = false": "InvalidInputException",
    "RESET threads": "InvalidInputException",
    "SELECT * FROM read_csv('/etc/passwd')": "PermissionException",
    "SELECT * FROM read_text('/etc/hostname')": "PermissionException",
    "SELECT * FROM glob('/etc/*')": "PermissionException",
    "SELECT * FROM 'data.csv'": "PermissionException",
    "COPY t TO '/tmp/x.csv'": "PermissionException",
    "ATTACH '/tmp/sqltune_sandbox_evil.duckdb' AS evil": "PermissionException",
    "EXPORT DATABASE '/tmp/sqltune_sandbox_export'": "PermissionException",
    "INSTALL httpfs": "PermissionException",
    "LOAD httpfs": "PermissionException",
    "DELETE FROM t": "InvalidInputException",
    "DROP TABLE t": "InvalidInputException",
    "CREATE TABLE evil (i INTEGER)": "InvalidInputException",
    "INSERT INTO t VALUES (1, 'x')": "InvalidInputException",
    "SELECT getenv('HOME')": "CatalogException",
}


@pytest.mark.parametrize("sql", list(CONNECTION_REFUSES))
def test_connection_refuses_without_classification(sql: str, db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(db.parent)
    untouched = Untouched(db, sql)
    with Sandbox(db) as box:
        run = box._execute_unchecked(sql)
    assert (run.status, run.error_class) == (Status.ERROR, CONNECTION_REFUSES[sql]), run
    untouched.check()


def test_unsafe_corpus_cannot_harm_without_classification(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the classifier misses, the read-only locked connection leaves no trace."""
    monkeypatch.chdir(db.parent)
    cases = [c for c in HOSTILE if c.expect is Status.UNSAFE]
    everything = Untouched(db, "\n".join(c.sql for c in cases))
    with Sandbox(db) as box:
        for case in cases:
            run = box._execute_unchecked(case.sql, timeout_s=case.timeout_s)
            assert run.status is not Status.TIMEOUT, (case.title, run)
            # nothing the unchecked statement did leaks into the next call
            assert box.execute("SELECT count(*) FROM t").rows == ((100,),), case.title
    everything.check()


def test_settings_are_applied_and_locked(db: Path) -> None:
    with Sandbox(db, memory_limit="512MB", threads=1) as box:
        run = box._execute_unchecked("SELECT name, value FROM duckdb_settings()")
    settings = dict(run.rows)
    assert settings["access_mode"] == "read_only"
    assert settings["enable_external_access"] == "false"
    assert settings["autoinstall_known_extensions"] == "false"
    assert settings["autoload_known_extensions"] == "false"
    assert settings.get("allow_community_extensions", "false") == "false"
    assert settings.get("python_enable_replacements", "false") == "false"
    assert settings["temp_directory"] == ""
    assert settings["threads"] == "1"
    assert settings["lock_configuration"] == "true"
    assert settings["memory_limit"] in ("488.2 MiB", "512.0 MiB", "512MB")


def test_python_variables_are_not_tables(db: Path) -> None:
    pd = pytest.importorskip("pandas")
    secret_df = pd.DataFrame({"secret": [42]})  # noqa: F841 - DuckDB's replacement scan would find it
    with Sandbox(db) as box:
        run = box._execute_unchecked("SELECT * FROM secret_df")
    assert (run.status, run.error_class) == (Status.ERROR, "CatalogException")


# ----------------------------------------------------------------------------- limits


def test_timeout_interrupts_promptly(db: Path) -> None:
    sql = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r"
    run = sandbox.execute(db, sql, timeout_s=0.5)
    assert run.status is Status.TIMEOUT and run.error_class == "InterruptException"
    assert 0.5 <= run.elapsed_s < 10  # promptly: a runaway query would never return (bounds, not timings)
    assert sandbox.execute(db, "SELECT 1").rows == ((1,),)  # the sandbox is still usable


def test_timeout_while_streaming(db: Path) -> None:
    sql = "SELECT * FROM range(1000000) a, range(1000000) b WHERE a.range + b.range = -1"
    run = sandbox.execute(db, sql, timeout_s=0.5)
    assert run.status is Status.TIMEOUT and run.elapsed_s < 10


def test_timeout_returns_even_when_duckdb_cannot_stop(db: Path) -> None:
    """One huge function call is not interruptible; the caller still gets TIMEOUT on time."""
    run = sandbox.execute(db, "SELECT len(range(15000000)) AS n", timeout_s=0.3)
    assert run.status is Status.TIMEOUT and run.elapsed_s < 10, run
    assert sandbox.execute(db, "SELECT 1").ok  # other queries go on meanwhile
    started = time.perf_counter()
    sandbox.close_all()  # waits for the abandoned query to stop
    assert time.perf_counter() - started < 30
    duckdb.connect(str(db)).close()  # and then the file is free


def test_row_cap_streams_without_materialising(db: Path) -> None:
    run = sandbox.execute(db, "SELECT * FROM range(100000000)", memory_limit="1GB")
    assert run.ok and run.truncated
    assert len(run.rows) == 10_000 and run.rows[:3] == ((0,), (1,), (2,)) and run.rows[-1] == (9_999,)
    assert run.elapsed_s < 10  # materialising 10^8 rows would take far longer and gigabytes


def test_row_cap_keeps_order(db: Path) -> None:
    run = sandbox.execute(db, "SELECT i FROM t ORDER BY i DESC", row_cap=3)
    assert run.rows == ((99,), (98,), (97,)) and run.truncated
    exact = sandbox.execute(db, "SELECT i FROM t ORDER BY i", row_cap=100)
    assert len(exact.rows) == 100 and not exact.truncated
    assert sandbox.execute(db, "SELECT i FROM t", row_cap=0).truncated


def test_memory_limit_fails_cleanly(db: Path) -> None:
    sql = "SELECT string_agg(repeat('x', 1000), ',') FROM range(10000000)"
    run = sandbox.execute(db, sql, timeout_s=30, memory_limit="256MB")
    assert (run.status, run.error_class) == (Status.ERROR, "OutOfMemoryException"), run
    assert sandbox.execute(db, "SELECT 1", memory_limit="256MB").ok


def test_byte_cap(db: Path) -> None:
    with Sandbox(db, byte_cap=10_000_000) as box:
        run = box.execute("SELECT repeat('x', 1000000) AS s FROM range(50)")
        assert (run.status, run.error_class) == (Status.ERROR, "ResultTooLarge")
        assert box.execute("SELECT repeat('x', 1000) AS s FROM range(50)").ok


# ----------------------------------------------------------------------------- results


def test_columns_types_and_elapsed(db: Path) -> None:
    run = sandbox.execute(
        db, """SELECT 1::INTEGER AS a, 'x' AS b, 1.5::DECIMAL(18,3) AS c, DATE '2024-01-01' AS d, [1] AS e"""
    )
    assert run.ok and run.error_class is None and not run.truncated
    assert run.columns == ("a", "b", "c", "d", "e")
    assert run.types == ("INTEGER", "VARCHAR", "DECIMAL(18,3)", "DATE", "INTEGER[]")
    assert run.elapsed_s > 0


def test_empty_result(db: Path) -> None:
    run = sandbox.execute(db, "SELECT i FROM t WHERE i < 0")
    assert run.ok and run.rows == () and run.columns == ("i",) and not run.truncated


@pytest.mark.parametrize(
    ("sql", "error_class"),
    [
        ("SELEC 1", "ParserException"),
        ("", "ParserException"),
        ("SELECT nope FROM t", "BinderException"),
        ("SELECT * FROM missing", "CatalogException"),
        ("SELECT 1 / 0::INTEGER + 'a'", "ConversionException"),
        ("SELECT * FROM t WHERE i = ?", "InvalidInputException"),
    ],
)
def test_errors_are_results(sql: str, error_class: str, db: Path) -> None:
    run = sandbox.execute(db, sql)
    assert (run.status, run.error_class) == (Status.ERROR, error_class), run
    assert run.error_message and not run.ok


@pytest.mark.parametrize(
    ("sql", "kind", "safe"),
    [
        ("SELECT 1", "SELECT", True),
        ("VALUES (1)", "SELECT", True),
        ("SELECT 1; DROP TABLE t", "SELECT+DROP", False),
        ("WITH x AS (SELECT 1) DELETE FROM t", "DELETE", False),
        ("SELEC 1", "INVALID", False),
        ("-- nothing", "EMPTY", False),
        ("SELECT * FROM read_parquet('x.parquet')", "SELECT", False),
    ],
)
def test_classify(sql: str, kind: str, safe: bool) -> None:
    safety = classify(sql)
    assert (safety.statement_kind, safety.safe) == (kind, safe)
    assert (safety.reason is None) is safe


def test_overlong_sql_is_refused(db: Path) -> None:
    from sqltune.sql_safety import MAX_SQL_CHARS

    sql = "SELECT " + " UNION ALL SELECT ".join(["1"] * (MAX_SQL_CHARS // 16 + 1))
    run = sandbox.execute(db, sql)
    assert run.status is Status.UNSAFE and "limit" in (run.error_message or "")
    assert classify(sql).statement_kind == "TOO_LONG"


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM t JOIN duckdb_tables() d ON true",
        "SELECT getenv('HOME')",
        "SELECT * FROM t, LATERAL read_text(t.name)",
    ],
)
def test_token_and_tree_layers_each_refuse(sql: str) -> None:
    from sqltune import sql_safety

    assert sql_safety._token_check(sql) is not None
    assert sql_safety._tree_check(sql) is not None


def test_unparseable_by_sqlglot_uses_duckdb_tokens() -> None:
    assert classify("SELECT x'ff' AS b").safe
    assert not classify("SELECT x'ff' AS b, 'https://example.com/x.csv' AS u").safe


# ----------------------------------------------------------------------------- lifecycle


def test_missing_database(tmp_path: Path) -> None:
    missing = tmp_path / "nope.duckdb"
    with pytest.raises(SandboxError, match="nope.duckdb"):
        sandbox.execute(missing, "SELECT 1")
    assert not missing.exists()


def test_not_a_database(tmp_path: Path) -> None:
    junk = tmp_path / "junk.duckdb"
    junk.write_text("not a database")
    with pytest.raises(SandboxError, match="junk.duckdb"):
        Sandbox(junk)


def test_invalid_memory_limit(db: Path) -> None:
    with pytest.raises(SandboxError):
        Sandbox(db, memory_limit="lots")


def test_closed_sandbox_raises(db: Path) -> None:
    box = Sandbox(db)
    box.close()
    box.close()  # idempotent
    with pytest.raises(SandboxError, match="closed"):
        box.execute("SELECT 1")


def test_close_all_releases_the_file(db: Path) -> None:
    assert sandbox.execute(db, "SELECT 1").ok
    with pytest.raises(duckdb.ConnectionException):  # DuckDB: one file, one configuration per process
        duckdb.connect(str(db)).close()
    sandbox.close_all()
    duckdb.connect(str(db)).close()  # read-write open works once the sandbox is gone
    assert sandbox.execute(db, "SELECT 1").ok  # and the sandbox reopens on demand


def test_settings_change_reopens(db: Path) -> None:
    sql = "SELECT current_setting('memory_limit')"
    small = sandbox.execute(db, sql, memory_limit="256MB").rows
    large = sandbox.execute(db, sql, memory_limit="1GB").rows
    assert small != large


def test_close_interrupts_running_queries(db: Path) -> None:
    results: list[sandbox.Execution] = []
    runaway = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r"
    worker = threading.Thread(target=lambda: results.append(sandbox.execute(db, runaway, timeout_s=60)))
    worker.start()
    time.sleep(0.3)
    started = time.perf_counter()
    sandbox.close_all()
    worker.join(30)
    assert time.perf_counter() - started < 15  # the runaway query would run for ever
    assert results and results[0].status is Status.ERROR and "closed" in (results[0].error_message or "")


def test_concurrent_queries(db: Path) -> None:
    """Threads share one cached sandbox; a timeout in one never disturbs the others."""
    errors: list[object] = []
    runaway = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r"

    def normal(k: int) -> None:
        for j in range(15):
            run = sandbox.execute(db, f"SELECT sum(i) + {k * 100 + j} FROM t")
            if run.rows != ((4950 + k * 100 + j,),):
                errors.append(run)

    def slow() -> None:
        for _ in range(3):
            run = sandbox.execute(db, runaway, timeout_s=0.3)
            if run.status is not Status.TIMEOUT:
                errors.append(run)

    threads = [threading.Thread(target=normal, args=(k,)) for k in range(8)]
    threads += [threading.Thread(target=slow) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert not errors
    assert not any(th.is_alive() for th in threads)


def test_sandbox_defaults_and_overrides(db: Path) -> None:
    with Sandbox(db, row_cap=2, timeout_s=0.3) as box:
        assert box.execute("SELECT i FROM t ORDER BY i").rows == ((0,), (1,))
        assert len(box.execute("SELECT i FROM t", row_cap=5).rows) == 5
        run = box.execute("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT max(n) FROM r")
        assert run.status is Status.TIMEOUT and run.elapsed_s < 10
