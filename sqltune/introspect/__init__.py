"""Introspection: a live database → a :class:`~sqltune.schema.Schema` snapshot.

Steps, in order: resolve the source; read its structure (DuckDB natively, anything else through
SQLAlchemy); copy a non-DuckDB source into a DuckDB execution file; profile every column in that
file within a time budget; infer undeclared joins; overlay the data dictionary.

>>> import duckdb, tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "shop.duckdb"
>>> con = duckdb.connect(str(path))
>>> _ = con.execute('CREATE TABLE "Customer"(cust_id INT PRIMARY KEY, "Segment" VARCHAR)')
>>> _ = con.execute("INSERT INTO \\"Customer\\" VALUES (1, 'SMB'), (2, 'ENT'), (3, 'SMB')")
>>> con.close()
>>> s = introspect(path)
>>> s.table("Customer").column("Segment").profile.values
('ENT', 'SMB')
"""

from __future__ import annotations

import fnmatch
import hashlib
import typing as t
from dataclasses import replace
from pathlib import Path

from sqltune import home
from sqltune.errors import ConfigError, did_you_mean
from sqltune.identifiers import render_table
from sqltune.introspect.dictionary import apply_dictionary, load_dictionary
from sqltune.introspect.joins import JoinOptions, infer_joins
from sqltune.introspect.profile import ProfileOptions, profile_table
from sqltune.introspect.reflect import Structure, reflect_duckdb, reflect_sqlalchemy
from sqltune.introspect.source import Source, check_connection, create_engine, resolve
from sqltune.sandbox import Sandbox
from sqltune.schema import Schema, Table

__all__ = ["introspect", "ProfileOptions", "JoinOptions", "resolve"]


def introspect(
    source: t.Any,
    *,
    name: str | None = None,
    masks: t.Sequence[str] = (),
    dictionary: str | Path | dict[str, t.Any] | None = None,
    include_schemas: t.Collection[str] | None = None,
    copy_to: str | Path | None = None,
    max_copy_rows: int = 1_000_000,
    profile: ProfileOptions | None = ProfileOptions(),
    joins: JoinOptions | None = JoinOptions(),
    progress: t.Callable[[str], None] | None = None,
) -> Schema:
    """Read ``source`` (path, SQLAlchemy URL or engine, or ``sample:NAME``) into a snapshot.

    Args:
        name: the snapshot's name (default: the file's stem or the database name).
        masks: ``fnmatch`` patterns over ``schema.table.column`` (case-exact) for columns whose
            values must never leave the database (personal or medical data).
        dictionary: a data dictionary (path or parsed mapping) laid over the database comments;
            a sample's own dictionary is applied automatically.
        copy_to: where a non-DuckDB source is copied for execution (default: a cache file).
        max_copy_rows: tables larger than this are copied as a seeded sample.
        profile: profiling options, or ``None`` to skip profiling (and join inference).
        joins: join-inference options, or ``None`` to keep only declared keys.
    """
    src = resolve(source)
    say = progress or (lambda _msg: None)
    if src.kind == "duckdb":
        assert src.path is not None
        structure = reflect_duckdb(src.path, include_schemas)
        exec_db = src.path
    else:
        from sqltune.introspect.copy import copy_to_duckdb

        engine = create_engine(src)
        try:
            check_connection(engine, src.display_url)
            structure = reflect_sqlalchemy(engine, include_schemas)
            exec_db = Path(copy_to) if copy_to else _scratch_copy(src)
            copy_to_duckdb(engine, list(structure.tables), structure.default_schema, exec_db,
                           max_rows=max_copy_rows, progress=lambda tb: say(f"copy {tb}"))
        finally:
            if src.engine is None:
                engine.dispose()
    tables = _mask(structure.tables, masks)
    schema_name = name or _default_name(src)
    schema = Schema(name=schema_name, dialect=structure.dialect, default_schema=structure.default_schema,
                    tables=tables, joins=structure.joins, source_url=src.display_url,
                    execution_db=str(exec_db), sample_version=_sample_version(src),
                    settings={"masks": list(masks), "max_copy_rows": max_copy_rows})
    if profile is not None:
        schema = _profile(schema, exec_db, profile, joins, say)
    for overlay in _dictionaries(src, dictionary):
        schema = apply_dictionary(schema, *overlay)
    return schema


def relation_sql(schema: Schema | Structure, table: Table) -> str:
    """How ``table`` is written in DuckDB SQL against the execution file."""
    return render_table(table.key, "duckdb", default_schema=schema.default_schema)


def _profile(schema: Schema, exec_db: Path, opts: ProfileOptions, join_opts: JoinOptions | None,
             say: t.Callable[[str], None]) -> Schema:
    box = Sandbox(exec_db, memory_limit="2GB", threads=2)
    try:
        tables = []
        for tb in schema.tables:
            say(f"profile {tb.key}")
            tables.append(profile_table(box, tb, relation_sql(schema, tb), opts))
        schema = replace(schema, tables=tuple(tables))
        if join_opts is not None:
            say("infer joins")
            inferred = infer_joins(box, schema.tables, schema.joins, lambda tb: relation_sql(schema, tb), join_opts)
            schema = replace(schema, joins=schema.joins + inferred)
    finally:
        box.close()
    return schema


def _mask(tables: t.Sequence[Table], patterns: t.Sequence[str]) -> tuple[Table, ...]:
    if not patterns:
        return tuple(tables)
    names = [f"{tb.key}.{c.name}" for tb in tables for c in tb.columns]
    for pat in patterns:
        if not any(fnmatch.fnmatchcase(n, pat) for n in names):
            raise ConfigError(f"Mask {pat!r} matches no column (write schema.table.column). "
                              f"{did_you_mean(pat, names)}".strip())
    out = []
    for tb in tables:
        cols = tuple(replace(c, masked=any(fnmatch.fnmatchcase(f"{tb.key}.{c.name}", p) for p in patterns))
                     for c in tb.columns)
        out.append(replace(tb, columns=cols))
    return tuple(out)


def _default_name(src: Source) -> str:
    if src.sample:
        return src.sample
    if src.path is not None:
        return src.path.stem
    if src.url is not None and src.url.database:
        return Path(src.url.database).stem
    return "database"


def _sample_name(src: Source) -> str | None:
    if src.sample:
        return src.sample
    if src.path is not None and src.path.parent == home.samples_dir().resolve():
        return src.path.stem
    return None


def _sample_version(src: Source) -> int | None:
    sample = _sample_name(src)
    if not sample:
        return None
    from sqltune import samples

    try:
        return int(samples.sample_info(sample)["sample_version"])
    except Exception:
        return None


def _dictionaries(src: Source, extra: str | Path | dict[str, t.Any] | None) -> list[tuple[dict[str, t.Any], str]]:
    out = []
    sample = _sample_name(src)
    if sample:
        from sqltune.resources import resource_dir

        path = resource_dir("schemas") / sample / "dictionary.yaml"
        if path.is_file():
            out.append((load_dictionary(path), str(path)))
    if isinstance(extra, dict):
        out.append((extra, "dictionary"))
    elif extra is not None:
        out.append((load_dictionary(extra), str(extra)))
    return out


def _scratch_copy(src: Source) -> Path:
    digest = hashlib.sha256(src.display_url.encode()).hexdigest()[:12]
    return home.home() / "copies" / f"{digest}.duckdb"


from sqltune.callable_module import make_callable as _make_callable  # noqa: E402

_make_callable(__name__, "introspect")  # sqltune.introspect(...) calls introspect() (see sqltune.callable_module)
