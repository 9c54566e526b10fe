"""The schema snapshot: exact identifiers, types, keys, joins, descriptions and profiles.

Every other part of sqltune reads the database through these frozen records. Identifiers are
kept exactly as the database spells them (case included); nothing here folds case.

>>> col = Column(name="OrderDate", raw_type="DATE", type="date")
>>> t = Table(schema="sales", name="OrderHeader", columns=(col,))
>>> s = Schema(name="demo", dialect="duckdb", default_schema="main", tables=(t,))
>>> s.table("sales.OrderHeader").column("OrderDate").type
'date'
>>> Schema.from_dict(s.to_dict()) == s
True
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

from sqltune import atomic
from sqltune.errors import ConfigError, NotFoundError, SchemaError

SNAPSHOT_VERSION = 1

#: Normalised type names, one per family of database types.
TYPE_FAMILIES = (
    "integer", "decimal", "float", "text", "boolean", "date", "timestamp", "time",
    "interval", "binary", "uuid", "json", "array", "struct", "other",
)


@dataclass(frozen=True, order=True)
class TableKey:
    """A table's identity: its schema (``None`` where the database has none) and exact name."""

    schema: str | None
    name: str

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name

    @classmethod
    def parse(cls, text: str) -> TableKey:
        """``"sales.OrderHeader"`` → ``TableKey("sales", "OrderHeader")``; no case folding."""
        schema, dot, name = text.rpartition(".")
        return cls(schema or None, name) if dot else cls(None, text)


@dataclass(frozen=True)
class ColumnProfile:
    """What the data in one column looks like.

    ``values`` is the complete list of values for a low-cardinality text column (its categorical
    domain), ``None`` otherwise; ``examples`` holds a few frequent values for the rest. A masked
    column keeps counts only: no values, examples, minimum or maximum.
    """

    distinct_count: int | None = None
    null_fraction: float | None = None
    min: t.Any = None
    max: t.Any = None
    values: tuple[t.Any, ...] | None = None
    values_complete: bool = True
    examples: tuple[t.Any, ...] = ()
    sampled_rows: int | None = None

    @property
    def is_categorical(self) -> bool:
        return self.values is not None


@dataclass(frozen=True)
class Column:
    name: str
    raw_type: str
    type: str
    nullable: bool = True
    default: str | None = None
    comment: str | None = None
    description: str | None = None
    primary_key: bool = False
    unique: bool = False
    masked: bool = False
    profile: ColumnProfile | None = None

    @property
    def doc(self) -> str | None:
        """The best description: the data dictionary's, else the database comment."""
        return self.description or self.comment


@dataclass(frozen=True)
class Table:
    schema: str | None
    name: str
    columns: tuple[Column, ...]
    kind: str = "table"
    row_count: int | None = None
    comment: str | None = None
    description: str | None = None
    primary_key: tuple[str, ...] = ()

    @property
    def key(self) -> TableKey:
        return TableKey(self.schema, self.name)

    @property
    def doc(self) -> str | None:
        return self.description or self.comment

    def column(self, name: str) -> Column:
        """The column spelled exactly ``name``; a did-you-mean error otherwise."""
        for col in self.columns:
            if col.name == name:
                return col
        raise NotFoundError(f"column of {self.key}", name, [c.name for c in self.columns])

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


@dataclass(frozen=True)
class Join:
    """A join path between two tables: a declared foreign key or an inferred candidate."""

    from_table: TableKey
    from_columns: tuple[str, ...]
    to_table: TableKey
    to_columns: tuple[str, ...]
    source: str = "declared"  # "declared" | "inferred"
    confidence: float = 1.0
    evidence: str = ""

    def __str__(self) -> str:
        left = ",".join(self.from_columns)
        right = ",".join(self.to_columns)
        return f"{self.from_table}.{left} -> {self.to_table}.{right}"

    @property
    def pair(self) -> tuple[str, str]:
        """``("s.t.col", "s.t2.col2")`` for single-column joins (how ground truth is written)."""
        return (f"{self.from_table}.{','.join(self.from_columns)}",
                f"{self.to_table}.{','.join(self.to_columns)}")


@dataclass(frozen=True)
class GlossaryTerm:
    term: str
    means: str


@dataclass(frozen=True)
class Metric:
    """A business metric the data team defined once (the dictionary's ``metrics``): an aggregate
    ``expr`` over the tables of ``source`` (a FROM clause with its joins), rows kept by ``where``,
    dated by the ``time`` column. The SQL text is canonical: every identifier as the database spells
    it, quoted where needed (see :mod:`sqltune.introspect.metrics`)."""

    name: str
    expr: str
    source: str
    where: str = ""
    time: str = ""
    description: str = ""
    synonyms: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.synonyms)

    @property
    def sql(self) -> str:
        """The query that computes the metric over all time."""
        return f"SELECT {self.expr} FROM {self.source}" + (f" WHERE {self.where}" if self.where else "")


@dataclass(frozen=True)
class Schema:
    """A whole database's snapshot."""

    name: str
    dialect: str
    tables: tuple[Table, ...]
    default_schema: str | None = None
    joins: tuple[Join, ...] = ()
    glossary: tuple[GlossaryTerm, ...] = ()
    metrics: tuple[Metric, ...] = ()
    source_url: str | None = None
    execution_db: str | None = None
    sample_version: int | None = None
    settings: dict[str, t.Any] = field(default_factory=dict, compare=False, hash=False)
    version: int = SNAPSHOT_VERSION

    # ----------------------------------------------------------------- lookups
    def table(self, ref: str | TableKey) -> Table:
        """Find a table by ``TableKey``, ``"schema.name"`` or a bare name that is unique.

        Matching is case-exact; a near miss raises :class:`NotFoundError` with a did-you-mean.
        """
        key = ref if isinstance(ref, TableKey) else TableKey.parse(ref)
        for tb in self.tables:
            if tb.key == key:
                return tb
        if key.schema is None:
            hits = [tb for tb in self.tables if tb.name == key.name]
        else:
            hits = [tb for tb in self.tables if tb.name == key.name and tb.schema is None
                    and key.schema == self.default_schema]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise SchemaError(f"Table name {key.name!r} is ambiguous: " + ", ".join(str(h.key) for h in hits))
        raise NotFoundError("table", str(key), [str(tb.key) for tb in self.tables])

    def column(self, ref: str) -> Column:
        """``"schema.table.column"`` (or ``"table.column"``) → :class:`Column`."""
        table_ref, dot, col = ref.rpartition(".")
        if not dot:
            raise SchemaError(f"Column reference {ref!r} needs a table: write 'table.column'.")
        return self.table(table_ref).column(col)

    def iter_columns(self) -> t.Iterator[tuple[Table, Column]]:
        for tb in self.tables:
            for col in tb.columns:
                yield tb, col

    # ------------------------------------------------------------ fingerprints
    def fingerprint(self) -> str:
        """Hash of the structure: tables, columns, types, nullability and keys (not data, not docs)."""
        return _sha(structure_of(self))

    def domain_hash(self) -> str:
        """Hash of every categorical column's value domain."""
        return _sha(domains_of(self))

    def docs_hash(self) -> str:
        """Hash of what the data team wrote about the schema: comments, descriptions, glossary and
        metrics. Prompts show them, so a cached answer or a tuned adapter is stale when it changes."""
        docs = [[str(tb.key), tb.comment, tb.description, [[c.name, c.comment, c.description] for c in tb.columns]]
                for tb in sorted(self.tables, key=lambda x: str(x.key))]
        return _sha([docs, [dataclasses.astuple(g) for g in self.glossary],
                     [dataclasses.astuple(m) for m in self.metrics]])

    # ----------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, t.Any]:
        d = dataclasses.asdict(self)
        if not self.metrics:
            del d["metrics"]  # snapshots without metrics stay as they were before metrics existed
        d["fingerprint"] = self.fingerprint()
        d["domain_hash"] = self.domain_hash()
        return d

    @classmethod
    def from_dict(cls, data: dict[str, t.Any]) -> Schema:
        data = dict(data)
        stored_fp = data.pop("fingerprint", None)
        data.pop("domain_hash", None)
        version = data.get("version", SNAPSHOT_VERSION)
        if version != SNAPSHOT_VERSION:
            raise SchemaError(f"Snapshot format version {version} is not supported (expected {SNAPSHOT_VERSION}).")
        schema = _build(cls, data, "snapshot")
        if stored_fp and stored_fp != schema.fingerprint():
            raise SchemaError("Snapshot fingerprint does not match its content: the file was edited or is corrupt.")
        return schema

    def save(self, path: str | Path) -> None:
        atomic.write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> Schema:
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SchemaError(f"Snapshot file not found: {p}") from None
        except json.JSONDecodeError as e:
            raise SchemaError(f"Snapshot file {p} is not valid JSON: {e}") from None
        return cls.from_dict(data)


# --------------------------------------------------------------------- helpers
def structure_of(schema: Schema) -> list[t.Any]:
    tables = []
    for tb in sorted(schema.tables, key=lambda x: (x.schema or "", x.name)):
        cols = [[c.name, c.raw_type, c.nullable, c.primary_key] for c in tb.columns]
        tables.append([tb.schema, tb.name, tb.kind, list(tb.primary_key), cols])
    fks = sorted(
        [str(j.from_table), list(j.from_columns), str(j.to_table), list(j.to_columns)]
        for j in schema.joins
        if j.source == "declared"
    )
    return [tables, fks]


def domains_of(schema: Schema) -> list[t.Any]:
    out = []
    for tb, col in schema.iter_columns():
        if col.profile is not None and col.profile.values is not None:
            out.append([str(tb.key), col.name, sorted(map(str, col.profile.values))])
    return sorted(out)


def _sha(obj: t.Any) -> str:
    blob = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _build(cls: type, data: t.Any, where: str) -> t.Any:
    """Rebuild a frozen dataclass from JSON data, rejecting unknown keys by name."""
    if not isinstance(data, dict):
        raise SchemaError(f"{where}: expected an object, got {type(data).__name__}.")
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in data if k not in names]
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} for {cls.__name__}.")
    kwargs: dict[str, t.Any] = {}
    for key, value in data.items():
        kwargs[key] = _convert(cls, key, value, f"{where}.{key}")
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise SchemaError(f"{where}: {e}") from None


def _convert(cls: type, key: str, value: t.Any, where: str) -> t.Any:
    spec = _FIELD_TYPES.get((cls.__name__, key))
    if spec is None or value is None:
        if isinstance(value, list):
            return tuple(value)
        return value
    kind, inner = spec
    if kind == "one":
        return _build(inner, value, where)
    if kind == "many":
        return tuple(_build(inner, v, f"{where}[{i}]") for i, v in enumerate(value))
    if kind == "key":
        return TableKey(value["schema"], value["name"])
    if kind == "values":
        return tuple(value)
    raise AssertionError(kind)


_FIELD_TYPES: dict[tuple[str, str], tuple[str, t.Any]] = {
    ("Schema", "tables"): ("many", Table),
    ("Schema", "joins"): ("many", Join),
    ("Schema", "glossary"): ("many", GlossaryTerm),
    ("Schema", "metrics"): ("many", Metric),
    ("Metric", "synonyms"): ("values", None),
    ("Table", "columns"): ("many", Column),
    ("Column", "profile"): ("one", ColumnProfile),
    ("Join", "from_table"): ("key", None),
    ("Join", "to_table"): ("key", None),
}
