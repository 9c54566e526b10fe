"""The CLI: one-line errors with a did-you-mean, non-zero exits, nothing half-written."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from sqltune.cli import cli


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    "source,message",
    [
        ("postgress://me@localhost/shop", "Did you mean 'postgres"),
        ("nowhere/missing.duckdb", "Database file not found"),
        ("data.csv", "Cannot tell the database type"),
        ("postgresql://", "Cannot connect"),
        ("://bad", "Invalid database URL"),
    ],
)
def test_bad_source_is_one_line(source: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SQLTUNE_HOME", str(tmp_path / "home"))
    code, out = _run("introspect", source, "--name", "shop")
    assert code == 1
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], out
    assert "Traceback" not in out
    assert not (tmp_path / "home" / "projects" / "shop").exists(), "nothing may be written on failure"


def test_unreachable_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SQLTUNE_HOME", str(tmp_path / "home"))
    code, out = _run("introspect", f"postgresql://me:pw@127.0.0.1:{_closed_port()}/shop", "--name", "shop")
    assert code == 1 and "Cannot connect to postgresql://me@127.0.0.1" in out and "pw" not in out


def test_unknown_sample_and_bad_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SQLTUNE_HOME", str(tmp_path / "home"))
    code, out = _run("introspect", "sample:cgp", "--name", "x")
    assert code == 1 and "Did you mean 'cpg'?" in out
    code, out = _run("introspect", "sample:cpg", "--name", "../evil")
    assert code == 1 and "Invalid project name" in out


def test_introspect_writes_project_and_reports_drift(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import duckdb

    monkeypatch.setenv("SQLTUNE_HOME", str(tmp_path / "home"))
    db = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE \"Item\"(id INT PRIMARY KEY, \"Kind\" VARCHAR); INSERT INTO \"Item\" VALUES (1,'A'),(2,'B')")
    con.close()
    code, out = _run("introspect", str(db), "--name", "shop")
    assert code == 0, out
    assert "1 tables" in out and (tmp_path / "home" / "projects" / "shop" / "snapshot.json").is_file()
    con = duckdb.connect(str(db))
    con.execute("ALTER TABLE \"Item\" ADD COLUMN price DOUBLE")
    con.close()
    code, out = _run("introspect", str(db), "--name", "shop")
    assert code == 0 and "+ column main.Item.price" in out, out
    code, out = _run("schemas")
    assert code == 0 and "shop" in out and "cpg" in out


def test_generate_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import duckdb
    import json

    monkeypatch.setenv("SQLTUNE_HOME", str(tmp_path / "home"))
    db = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE \"Item\"(id INT PRIMARY KEY, \"Kind\" VARCHAR, price DOUBLE)")
    con.execute("INSERT INTO \"Item\" SELECT i, ['A','B','C'][1 + i % 3], i * 1.5 FROM range(1, 60) t(i)")
    con.close()
    assert _run("introspect", str(db), "--name", "shop")[0] == 0
    code, out = _run("generate", "shop", "--n", "40", "--seed", "1")
    assert code == 0, out
    pairs = tmp_path / "home" / "projects" / "shop" / "pairs" / "pairs.jsonl"
    lines = pairs.read_text().splitlines()
    assert len(lines) == 41 and "40 pairs" in out
    assert all('"Item"' in json.loads(x)["sql"] for x in lines[1:])
    code, out = _run("generate", "shop", "--config", '{"kk": 1}')
    assert code == 1 and "kk" in out
