"""Shared helpers for the sample-database generators.

Everything here is deterministic given a seed: random numbers come from
``numpy.random.default_rng`` streams, never from the wall clock, Python's ``hash()``
or DuckDB's ``random()``, so a build is identical across runs and machines.

A generator returns :data:`Tables`: an ordered mapping ``"schema.table"`` → one
DataFrame (or a list of them, inserted one after another, for self-referencing
tables whose parents must be committed before their children). Columns whose name
starts with ``_`` are generator-internal and are never loaded.
"""

from __future__ import annotations

import typing as t
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from sqltune.errors import SampleError

if t.TYPE_CHECKING:
    import duckdb

Frames = pd.DataFrame | list[pd.DataFrame]
Tables = dict[str, Frames]

_PACKAGE_DATA = Path(__file__).resolve().parents[1] / "_data" / "schemas"
_REPO_SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"

FIRST_NAMES = np.array(
    [
        "James",
        "Maria",
        "Wei",
        "Aisha",
        "Lukas",
        "Sofia",
        "Rahul",
        "Emma",
        "Carlos",
        "Yuki",
        "Olivia",
        "Mateo",
        "Priya",
        "Noah",
        "Fatima",
        "Liam",
        "Chloe",
        "Diego",
        "Hannah",
        "Arjun",
        "Grace",
        "Ahmed",
        "Isabel",
        "Tomasz",
        "Mei",
        "Daniel",
        "Ana",
        "Kwame",
        "Sarah",
        "Jonas",
        "Lucia",
        "Ravi",
        "Elena",
        "Samuel",
        "Nadia",
        "Felix",
        "Amara",
        "Pedro",
        "Ingrid",
        "Omar",
    ]
)
LAST_NAMES = np.array(
    [
        "Smith",
        "Garcia",
        "Chen",
        "Khan",
        "Muller",
        "Rossi",
        "Sharma",
        "Johnson",
        "Silva",
        "Tanaka",
        "Brown",
        "Lopez",
        "Patel",
        "Wilson",
        "Haddad",
        "Martin",
        "Dubois",
        "Fernandez",
        "Schmidt",
        "Nair",
        "Taylor",
        "Hassan",
        "Moreau",
        "Kowalski",
        "Wang",
        "Anderson",
        "Costa",
        "Mensah",
        "Davies",
        "Berg",
        "Romero",
        "Iyer",
        "Petrov",
        "Okafor",
        "Novak",
        "Weber",
        "Adeyemi",
        "Santos",
        "Larsen",
        "Farouk",
    ]
)


def schema_dir(name: str) -> Path:
    """Folder holding ``schema.sql``, ``dictionary.yaml`` and ``truth.yaml`` of a sample.

    Prefers the copy packaged inside the wheel (``sqltune/_data/schemas``), else the
    repository's ``schemas/`` folder.
    """
    for root in (_PACKAGE_DATA, _REPO_SCHEMAS):
        if (root / name / "schema.sql").is_file():
            return root / name
    raise SampleError(f"Schema files of sample {name!r} not found under {_REPO_SCHEMAS}.")


def stream(seed: int, label: str) -> np.random.Generator:
    """An independent random stream per component, so editing one leaves the others unchanged."""
    return np.random.default_rng([seed, zlib.crc32(label.encode("utf-8"))])


def day(text: str) -> np.datetime64:
    """A ``datetime64[D]`` scalar from ``YYYY-MM-DD``."""
    return np.datetime64(text, "D")


def day_range(start: str, end: str) -> np.ndarray:
    """All days from ``start`` to ``end`` inclusive."""
    return np.arange(day(start), day(end) + 1, dtype="datetime64[D]")


def month_ends(start: str, end: str) -> np.ndarray:
    """Last day of every month from ``start``'s month to ``end``'s month."""
    months = np.arange(np.datetime64(start[:7], "M"), np.datetime64(end[:7], "M") + 1)
    return (months + 1).astype("datetime64[D]") - 1


def random_days(rng: np.random.Generator, start: str, end: str, size: int) -> np.ndarray:
    """Uniformly random days in ``[start, end]``."""
    lo, hi = day(start).astype(np.int64), day(end).astype(np.int64)
    return rng.integers(lo, hi + 1, size).astype("datetime64[D]")


def zipf(n: int, a: float = 1.0) -> np.ndarray:
    """Normalised Zipf weights ``1/rank**a`` for ranks ``1..n``."""
    w = 1.0 / np.arange(1, n + 1, dtype=float) ** a
    return w / w.sum()


def norm(w: np.ndarray) -> np.ndarray:
    """``w`` scaled to sum to one."""
    w = np.asarray(w, dtype=float)
    return w / w.sum()


def pick(
    rng: np.random.Generator,
    values: t.Sequence[t.Any] | np.ndarray,
    size: int,
    p: t.Sequence[float] | np.ndarray | None = None,
) -> np.ndarray:
    """``size`` draws (with replacement) from ``values`` with probabilities ``p``."""
    arr = np.asarray(values)
    idx = rng.choice(len(arr), size=size, p=None if p is None else norm(np.asarray(p)))
    return arr[idx]


def month_factor(dates: np.ndarray, factors: t.Sequence[float]) -> np.ndarray:
    """Per-date multiplier from a 12-value monthly seasonality profile."""
    month = dates.astype("datetime64[M]").astype(np.int64) % 12
    return np.asarray(factors, dtype=float)[month]


def weekday(dates: np.ndarray) -> np.ndarray:
    """ISO weekday index, Monday = 0 … Sunday = 6."""
    return (dates.astype("datetime64[D]").astype(np.int64) + 3) % 7


def people(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Random first and last names."""
    return pick(rng, FIRST_NAMES, size), pick(rng, LAST_NAMES, size)


def full_names(rng: np.random.Generator, size: int) -> np.ndarray:
    """Random ``"First Last"`` names."""
    first, last = people(rng, size)
    return np.char.add(np.char.add(first, " "), last)


def emails(first: np.ndarray, last: np.ndarray, domain: str | np.ndarray) -> np.ndarray:
    """``first.last@domain`` in lower case."""
    local = np.char.lower(np.char.add(np.char.add(first.astype(str), "."), last.astype(str)))
    return np.char.add(np.char.add(local, "@"), np.asarray(domain, dtype=str))


def codes(prefix: str, numbers: t.Iterable[int], width: int) -> np.ndarray:
    """``prefix`` followed by each number zero-padded to ``width``."""
    return np.array([f"{prefix}{int(n):0{width}d}" for n in numbers])


def money(x: np.ndarray | float) -> np.ndarray:
    """Round to cents (half-to-even, as numpy does everywhere)."""
    return np.round(np.asarray(x, dtype=float), 2)


def nullable_int(values: np.ndarray, mask: np.ndarray | None = None) -> pd.arrays.IntegerArray:
    """An ``Int64`` column; positions where ``mask`` is true become NULL."""
    out = pd.array(np.asarray(values, dtype=np.int64), dtype="Int64")
    if mask is not None:
        out[np.asarray(mask, dtype=bool)] = pd.NA
    return out


def with_nulls(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``values`` as an object array (or NaT dates) with ``None`` where ``mask`` is true."""
    if np.issubdtype(values.dtype, np.datetime64):
        out = values.copy()
        out[mask] = np.datetime64("NaT")
        return out
    out = values.astype(object)
    out[mask] = None
    return out


def quote(identifier: str) -> str:
    """A double-quoted SQL identifier."""
    return '"' + identifier.replace('"', '""') + '"'


def table_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    """Column names of ``schema.table`` in declaration order."""
    rows = con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? ORDER BY column_index",
        [schema, table],
    ).fetchall()
    return [r[0] for r in rows]


def load(con: duckdb.DuckDBPyConnection, ddl: str, tables: Tables) -> dict[str, int]:
    """Run ``ddl``, insert every frame of ``tables`` in order, return row counts.

    Raises:
        SampleError: a frame's public columns differ from its table's, or a table
            declared by the DDL received no frame.
    """
    con.execute(ddl)
    declared = {
        f"{s}.{n}"
        for s, n in con.execute("SELECT schema_name, table_name FROM duckdb_tables() WHERE NOT internal").fetchall()
    }
    missing = declared - set(tables)
    if missing:
        raise SampleError(f"No data generated for tables: {', '.join(sorted(missing))}.")
    counts: dict[str, int] = {}
    for qualified, frames in tables.items():
        schema, table = qualified.split(".", 1)
        cols = table_columns(con, schema, table)
        target = f"{quote(schema)}.{quote(table)}"
        for frame in frames if isinstance(frames, list) else [frames]:
            public = [c for c in frame.columns if not str(c).startswith("_")]
            if sorted(public) != sorted(cols):
                raise SampleError(f"{qualified}: generated columns {sorted(public)} != table columns {sorted(cols)}.")
            collist = ", ".join(quote(c) for c in cols)
            con.register("_sample_frame", frame[cols])
            try:
                con.execute(f"INSERT INTO {target} ({collist}) SELECT {collist} FROM _sample_frame")
            finally:
                con.unregister("_sample_frame")
        counts[qualified] = int(con.execute(f"SELECT count(*) FROM {target}").fetchone()[0])
    return counts


def checksums(con: duckdb.DuckDBPyConnection, tables: t.Iterable[str]) -> dict[str, str]:
    """Order-insensitive content checksum per table (sum of DuckDB row hashes, as text).

    Equal checksums mean equal row multisets under the same DuckDB version; the sidecar
    records them so a drift in the generated data is visible without rebuilding.
    """
    out = {}
    for qualified in tables:
        schema, table = qualified.split(".", 1)
        row = con.execute(f"SELECT sum(hash(t)::HUGEINT) FROM {quote(schema)}.{quote(table)} AS t").fetchone()
        out[qualified] = str(row[0] or 0)
    return out
