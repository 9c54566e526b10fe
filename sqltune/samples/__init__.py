"""Deterministic sample enterprise databases, built into DuckDB files.

Two samples ship with sqltune; all training and evaluation runs against them:

* ``cpg``: Norvale Consumer Products, a global toothpaste-and-soap manufacturer
  (master data, retailers and stores, orders, shipments, promotions, inventory).
* ``biotech``: Aureon Therapeutics, a drug-discovery company (compounds, batches,
  assays and results, projects, patents, clinical trials and adverse events).

Each is described by files under ``schemas/<name>/``: ``schema.sql`` (the DDL, with
declared keys and database comments), ``dictionary.yaml`` (business descriptions and a
glossary) and ``truth.yaml`` (every true join path, false friends, code values, masking
candidates).

A build writes ``$SQLTUNE_HOME/samples/<name>.duckdb`` and a sidecar ``<name>.json``
(version, seed, row counts, content checksums, build time). Both are written
atomically; a build killed outright (SIGKILL) can leave only a hidden ``.<name>.duckdb.*.tmp``
file, which the next build of that sample removes once it is an hour old.

>>> sorted(SAMPLES)
['biotech', 'cpg']
>>> SAMPLES["cpg"].reference_date
'2025-06-30'
"""

from __future__ import annotations

import dataclasses
import json
import platform
import time
import typing as t
from pathlib import Path

from sqltune import atomic, home
from sqltune.errors import NotFoundError, SampleError

if t.TYPE_CHECKING:
    from sqltune.samples._gen import Tables

__all__ = [
    "SAMPLES",
    "SampleSpec",
    "build_sample",
    "dictionary",
    "ground_truth",
    "list_samples",
    "sample_info",
    "schema_dir",
    "sidecar_path",
]


@dataclasses.dataclass(frozen=True)
class SampleSpec:
    """One sample database.

    Attributes:
        name: Sample name, also the file stem (``cpg.duckdb``).
        sample_version: Bump whenever the DDL or the generated data change; a built
            file of another version is rebuilt.
        seed: Root seed of the generator.
        description: One line for listings.
        builder: ``builder(seed)`` → ``{"schema.table": DataFrame | [DataFrame, ...]}``
            in load order (parents first).
        reference_date: The "today" of the data (``YYYY-MM-DD``), so relative questions
            ("last quarter") have one answer.
    """

    name: str
    sample_version: int
    seed: int
    description: str
    builder: t.Callable[[int], Tables]
    reference_date: str = ""


def _build_cpg(seed: int) -> Tables:
    from sqltune.samples import cpg

    return cpg.generate(seed)


def _build_biotech(seed: int) -> Tables:
    from sqltune.samples import biotech

    return biotech.generate(seed)


SAMPLES: dict[str, SampleSpec] = {
    "cpg": SampleSpec(
        "cpg",
        1,
        20230101,
        "Consumer-goods manufacturer: brands, SKUs, retailers, orders, "
        "shipments, promotions, inventory (20 tables, ~290k order lines)",
        _build_cpg,
        "2025-06-30",
    ),
    "biotech": SampleSpec(
        "biotech",
        1,
        20190101,
        "Drug discovery: compounds, batches, assays, results, projects, "
        "patents, clinical trials, adverse events (15 tables, ~60k results)",
        _build_biotech,
        "2025-06-30",
    ),
}


def _spec(name: str) -> SampleSpec:
    try:
        return SAMPLES[name]
    except KeyError:
        raise NotFoundError("sample", name, SAMPLES) from None


def schema_dir(name: str) -> Path:
    """Folder of ``schema.sql``, ``dictionary.yaml`` and ``truth.yaml`` of sample ``name``."""
    from sqltune.samples import _gen

    return _gen.schema_dir(_spec(name).name)


def sidecar_path(db_path: str | Path) -> Path:
    """The JSON sidecar next to a sample database file."""
    return Path(db_path).with_suffix(".json")


def _read_sidecar(db_path: Path) -> dict[str, t.Any] | None:
    try:
        return json.loads(sidecar_path(db_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _is_current(db_path: Path, spec: SampleSpec) -> bool:
    meta = _read_sidecar(db_path)
    return (
        db_path.is_file()
        and meta is not None
        and meta.get("sample_version") == spec.sample_version
        and meta.get("name") == spec.name
    )


def _load_into(path: Path, spec: SampleSpec) -> tuple[dict[str, int], dict[str, str]]:
    """Generate the data and load it, with the DDL, into a new DuckDB file at ``path``.

    Returns:
        Row counts and content checksums per table.
    """
    import duckdb

    from sqltune.samples import _gen

    ddl = (schema_dir(spec.name) / "schema.sql").read_text(encoding="utf-8")
    tables = spec.builder(spec.seed)
    con = duckdb.connect(str(path))
    try:
        counts = _gen.load(con, ddl, tables)
        sums = _gen.checksums(con, list(counts))
        con.execute("CHECKPOINT")
    except duckdb.Error as exc:
        raise SampleError(f"Building sample {spec.name!r} failed: {exc}") from exc
    finally:
        con.close()
    return counts, sums


def _sweep_stale_temps(path: Path, max_age_s: float = 3600.0) -> None:
    """Remove temporary files of builds of ``path`` that were killed before they could clean up."""
    if not path.parent.is_dir():
        return
    now = time.time()
    for tmp in path.parent.glob(f".{path.name}.*.tmp*"):
        try:
            if now - tmp.stat().st_mtime > max_age_s:
                tmp.unlink()
        except OSError:
            pass


def build_sample(name: str, *, force: bool = False, out: Path | None = None) -> Path:
    """Build sample ``name`` into a DuckDB file and return its path.

    A file already built with the same ``sample_version`` is returned as is unless
    ``force``. The database is written to a temporary file that replaces the target
    only when complete, so an interrupted build never leaves a partial database.

    Args:
        name: A key of :data:`SAMPLES`.
        force: Rebuild even if an up-to-date file exists.
        out: Target file; default ``$SQLTUNE_HOME/samples/<name>.duckdb``.

    Raises:
        NotFoundError: Unknown sample (with a did-you-mean hint).
        SampleError: The database could not be built.
    """
    spec = _spec(name)
    path = Path(out) if out is not None else home.sample_path(name)
    if not force and _is_current(path, spec):
        return path
    started = time.perf_counter()
    _sweep_stale_temps(path)
    with atomic.replacing(path) as tmp:
        try:
            counts, sums = _load_into(tmp, spec)
        finally:
            Path(f"{tmp}.wal").unlink(missing_ok=True)
    import duckdb
    import numpy
    import pandas

    atomic.write_json(
        sidecar_path(path),
        {
            "name": spec.name,
            "sample_version": spec.sample_version,
            "seed": spec.seed,
            "reference_date": spec.reference_date,
            "tables": counts,
            "rows": sum(counts.values()),
            "checksums": sums,
            "build_seconds": round(time.perf_counter() - started, 2),
            "versions": {"duckdb": duckdb.__version__, "numpy": numpy.__version__, "pandas": pandas.__version__},
            "python": platform.python_version(),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
    )
    return path


def sample_info(name: str) -> dict[str, t.Any]:
    """The sidecar of a built sample (version, seed, row counts, build seconds).

    Raises:
        NotFoundError: Unknown sample.
        SampleError: The sample has not been built yet.
    """
    _spec(name)
    path = home.sample_path(name)
    meta = _read_sidecar(path)
    if meta is None or not path.is_file():
        raise SampleError(f"Sample {name!r} is not built yet; build it with build_sample({name!r}).")
    current = meta.get("sample_version") == SAMPLES[name].sample_version
    return {**meta, "path": str(path), "current": current}


def list_samples() -> list[dict[str, t.Any]]:
    """Every known sample: name, version, description, whether it is built (and current), path."""
    out = []
    for spec in SAMPLES.values():
        path = home.sample_path(spec.name)
        out.append(
            {
                "name": spec.name,
                "version": spec.sample_version,
                "description": spec.description,
                "built": _is_current(path, spec),
                "path": str(path),
            }
        )
    return out


def _yaml(name: str, file: str) -> dict[str, t.Any]:
    import yaml

    path = schema_dir(name) / file
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SampleError(f"Cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise SampleError(f"{path} is not a mapping.")
    return data


def ground_truth(name: str) -> dict[str, t.Any]:
    """``truth.yaml`` of sample ``name``.

    Keys: ``joins`` (``{from, to, declared}``, every true single-column join),
    ``composite_joins``, ``calendar`` (date columns joinable to the date dimension),
    ``false_friends`` (``{a, b, why}``), ``code_values`` (documented values of each code
    column), ``masked_candidates`` (``{column, kind, why}``) and ``reference_date``.
    """
    return _yaml(name, "truth.yaml")


def dictionary(name: str) -> dict[str, t.Any]:
    """``dictionary.yaml`` of sample ``name``: ``tables`` (descriptions) and ``glossary``."""
    return _yaml(name, "dictionary.yaml")
