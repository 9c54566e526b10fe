"""Schema drift: what changed between two snapshots.

>>> from sqltune.schema import Schema, Table, Column
>>> a = Schema("s", "duckdb", (Table("main", "t", (Column("x", "INTEGER", "integer"),)),))
>>> b = Schema("s", "duckdb", (Table("main", "t", (Column("x", "BIGINT", "integer"), Column("y", "DATE", "date"))),))
>>> d = diff(a, b)
>>> d.added_columns, d.retyped_columns
(('main.t.y',), (('main.t.x', 'INTEGER', 'BIGINT'),))
>>> print(d.summary())
+ column main.t.y
~ column main.t.x: INTEGER -> BIGINT
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

from sqltune.schema import Schema


@dataclass(frozen=True)
class DomainChange:
    column: str
    added: tuple[str, ...]
    removed: tuple[str, ...]


@dataclass(frozen=True)
class SchemaDiff:
    added_tables: tuple[str, ...] = ()
    removed_tables: tuple[str, ...] = ()
    added_columns: tuple[str, ...] = ()
    removed_columns: tuple[str, ...] = ()
    retyped_columns: tuple[tuple[str, str, str], ...] = ()
    key_changes: tuple[str, ...] = ()
    domain_changes: tuple[DomainChange, ...] = field(default=())

    @property
    def structural(self) -> bool:
        return bool(self.added_tables or self.removed_tables or self.added_columns or self.removed_columns
                    or self.retyped_columns or self.key_changes)

    @property
    def empty(self) -> bool:
        return not self.structural and not self.domain_changes

    def changed_tables(self) -> set[str]:
        """Every table touched by the diff, as ``schema.table``."""
        out = set(self.added_tables) | set(self.removed_tables)
        for col in (*self.added_columns, *self.removed_columns, *(r[0] for r in self.retyped_columns),
                    *(d.column for d in self.domain_changes)):
            out.add(col.rsplit(".", 1)[0])
        return out

    def summary(self) -> str:
        lines = [f"+ table {x}" for x in self.added_tables] + [f"- table {x}" for x in self.removed_tables]
        lines += [f"+ column {x}" for x in self.added_columns] + [f"- column {x}" for x in self.removed_columns]
        lines += [f"~ column {c}: {a} -> {b}" for c, a, b in self.retyped_columns]
        lines += [f"~ key {k}" for k in self.key_changes]
        for d in self.domain_changes:
            parts = [f"+{v!r}" for v in d.added] + [f"-{v!r}" for v in d.removed]
            lines.append(f"~ values {d.column}: {' '.join(parts)}")
        return "\n".join(lines) if lines else "no changes"


def diff(old: Schema, new: Schema) -> SchemaDiff:
    """Structural and categorical-domain differences from ``old`` to ``new``."""
    ot = {str(tb.key): tb for tb in old.tables}
    nt = {str(tb.key): tb for tb in new.tables}
    added_cols, removed_cols, retyped, domains = [], [], [], []
    keys: list[str] = []
    for name in sorted(set(ot) & set(nt)):
        oc = {c.name: c for c in ot[name].columns}
        nc = {c.name: c for c in nt[name].columns}
        added_cols += [f"{name}.{c}" for c in nc if c not in oc]
        removed_cols += [f"{name}.{c}" for c in oc if c not in nc]
        for c in sorted(set(oc) & set(nc)):
            if oc[c].raw_type != nc[c].raw_type:
                retyped.append((f"{name}.{c}", oc[c].raw_type, nc[c].raw_type))
            ov = _values(oc[c])
            nv = _values(nc[c])
            if ov is not None and nv is not None and ov != nv:
                domains.append(DomainChange(f"{name}.{c}", tuple(sorted(nv - ov)), tuple(sorted(ov - nv))))
        if ot[name].primary_key != nt[name].primary_key:
            keys.append(f"{name} primary key {list(ot[name].primary_key)} -> {list(nt[name].primary_key)}")
    ofk = {str(j) for j in old.joins if j.source == "declared"}
    nfk = {str(j) for j in new.joins if j.source == "declared"}
    keys += [f"+ foreign key {j}" for j in sorted(nfk - ofk)] + [f"- foreign key {j}" for j in sorted(ofk - nfk)]
    return SchemaDiff(
        added_tables=tuple(sorted(set(nt) - set(ot))), removed_tables=tuple(sorted(set(ot) - set(nt))),
        added_columns=tuple(added_cols), removed_columns=tuple(removed_cols), retyped_columns=tuple(retyped),
        key_changes=tuple(keys), domain_changes=tuple(domains),
    )


def _values(col: t.Any) -> set[str] | None:
    if col.profile is None or col.profile.values is None:
        return None
    return {str(v) for v in col.profile.values}
