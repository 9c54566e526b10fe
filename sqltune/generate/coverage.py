"""Coverage as a target: how many distinct SQL use each table, column, join and categorical value.

Steering weights choices by what is missing (``1 + boost * max(0, k - count)``); the report lists
every item with its count, and items no production can use with a reason from a closed list
(:data:`sqltune.generate.catalog.UNREACHABLE_REASONS`).

>>> cov = Coverage(k=2, boost=4.0)
>>> cov.register("column", "s.t.a")
>>> cov.weight("column", "s.t.a")
9.0
>>> cov.add({"column": ["s.t.a"]})
>>> cov.count("column", "s.t.a"), cov.weight("column", "s.t.a")
(1, 5.0)
"""

from __future__ import annotations

import json
import typing as t

from sqltune.generate.catalog import Catalog, TableInfo

KINDS = ("table", "column", "join", "value")


def value_key(ref: str, value: t.Any) -> str:
    """The coverage key of one categorical value of column ``ref``."""
    return f"{ref}={json.dumps(value, ensure_ascii=False)}"


class Coverage:
    """Counts of distinct SQL per item, with the steering weights they imply.

    Deficits are also kept summed per table and per column, updated as counts change, so a
    weight costs the same however large the schema is.
    """

    def __init__(self, k: int = 3, boost: float = 8.0, steer: bool = True) -> None:
        self.k, self.boost, self.steer = k, boost, steer
        self.counts: dict[str, dict[str, int]] = {kind: {} for kind in KINDS}
        self.unreachable: dict[str, dict[str, str]] = {kind: {} for kind in KINDS}
        self._parent: dict[tuple[str, str], str] = {}  # (kind, key) -> column (values) or table (columns)
        self._col_sum: dict[str, float] = {}  # table -> summed column deficits
        self._val_sum: dict[str, float] = {}  # column or table -> summed value deficits
        self._kind_sum: dict[str, float] = {kind: 0.0 for kind in KINDS}

    # ---------------------------------------------------------------- set up
    def register(self, kind: str, key: str, unreachable: str | None = None, parent: str | None = None) -> None:
        if key in self.counts[kind]:
            return
        self.counts[kind][key] = 0
        if unreachable:
            self.unreachable[kind][key] = unreachable
        if parent is not None:
            self._parent[(kind, key)] = parent
        self._shift(kind, key, self.deficit(kind, key))

    def register_catalog(self, cat: Catalog) -> None:
        """Every item of the catalog, reachable or not."""
        for ti in cat.tables:
            usable = [c for c in ti.columns if c.usable]
            self.register("table", ti.key, None if usable else ("empty_table" if ti.rows == 0 else "unsupported_type"))
            for ci in ti.columns:
                self.register("column", ci.ref, ci.unreachable, parent=ti.key)
                if ci.usable and ci.role == "category":
                    for v in ci.values:
                        self.register("value", value_key(ci.ref, v), parent=ci.ref)
        for e in cat.edges:
            self.register("join", e.label)
        for label, reason in cat.skipped_joins:
            self.register("join", label, reason)

    def _shift(self, kind: str, key: str, delta: float) -> None:
        """Propagate a change of ``delta`` in the deficit of one item to the sums above it."""
        if not delta:
            return
        self._kind_sum[kind] += delta
        parent = self._parent.get((kind, key))
        if kind == "column" and parent is not None:
            self._col_sum[parent] = self._col_sum.get(parent, 0.0) + delta
        elif kind == "value" and parent is not None:
            self._val_sum[parent] = self._val_sum.get(parent, 0.0) + delta
            table = self._parent.get(("column", parent))
            if table is not None:
                self._val_sum[table] = self._val_sum.get(table, 0.0) + delta

    # ------------------------------------------------------------- counting
    def add(self, touched: t.Mapping[str, t.Iterable[str]], sign: int = 1) -> None:
        """Count one distinct SQL (``sign=-1`` takes a provisional count back): ``touched`` maps a
        kind to the item keys it uses."""
        for kind, keys in touched.items():
            bucket = self.counts[kind]
            for key in set(keys):
                if key in bucket:
                    before = self.deficit(kind, key)
                    bucket[key] += sign
                    self._shift(kind, key, self.deficit(kind, key) - before)

    def count(self, kind: str, key: str) -> int:
        return self.counts[kind].get(key, 0)

    def deficit(self, kind: str, key: str) -> int:
        if key in self.unreachable[kind] or key not in self.counts[kind]:
            return 0
        return max(0, self.k - self.counts[kind][key])

    # ------------------------------------------------------------- steering
    def weight(self, kind: str, key: str) -> float:
        if not self.steer:
            return 1.0
        return 1.0 + self.boost * self.deficit(kind, key)

    def column_weight(self, ref: str) -> float:
        """Column deficits first; missing values only tip the balance between columns equally short."""
        if not self.steer:
            return 1.0
        values = self._val_sum.get(ref, 0.0) / max(1, self.k)
        return 1.0 + self.boost * (self.deficit("column", ref) + 0.15 * min(values, 8.0))

    def table_weight(self, ti: TableInfo) -> float:
        if not self.steer:
            return 1.0
        values = self._val_sum.get(ti.key, 0.0) / max(1, self.k)
        missing = self.deficit("table", ti.key) + self._col_sum.get(ti.key, 0.0) / 2 + 0.1 * min(values, 12.0)
        return 1.0 + self.boost * missing

    def value_deficit(self, ref: str) -> float:
        """Missing uses summed over the categorical values of column ``ref`` (0 when not steering)."""
        return self._val_sum.get(ref, 0.0) if self.steer else 0.0

    def missing_share(self, kind: str) -> float:
        """Share of the ``k`` uses still missing over all items of ``kind`` (0 when not steering)."""
        if not self.steer or not self.counts[kind]:
            return 0.0
        return self._kind_sum[kind] / (self.k * len(self.counts[kind]))

    def missing(self, kind: str) -> list[str]:
        return [key for key in self.counts[kind] if self.deficit(kind, key) > 0]

    # --------------------------------------------------------------- report
    def report(self, max_unreachable_fraction: float = 0.05) -> dict[str, t.Any]:
        """The coverage report written as ``coverage.json`` (deterministic order)."""
        summary: dict[str, t.Any] = {}
        items: dict[str, list[dict[str, t.Any]]] = {}
        for kind in KINDS:
            rows = []
            covered = under = unreachable = 0
            for key in sorted(self.counts[kind]):
                n = self.counts[kind][key]
                reason = self.unreachable[kind].get(key)
                if reason and n < self.k:
                    status = "unreachable"
                    unreachable += 1
                elif n >= self.k:
                    status = "covered"
                    covered += 1
                else:
                    status, reason = "under", "budget"
                    under += 1
                row: dict[str, t.Any] = {"item": key, "count": n, "status": status}
                if reason and status != "covered":
                    row["reason"] = reason
                rows.append(row)
            total = len(rows)
            summary[kind] = {"total": total, "covered": covered, "under": under, "unreachable": unreachable,
                             "covered_fraction": round(covered / total, 4) if total else 1.0}
            items[kind] = rows
        cols = summary["column"]
        frac = cols["unreachable"] / cols["total"] if cols["total"] else 0.0
        summary["column"]["unreachable_fraction"] = round(frac, 4)
        summary["column"]["within_cap"] = frac <= max_unreachable_fraction
        reasons: dict[str, int] = {}
        for row in items["column"]:
            if row["status"] == "unreachable":
                reasons[row["reason"]] = reasons.get(row["reason"], 0) + 1
        summary["column"]["unreachable_reasons"] = dict(sorted(reasons.items()))
        return {"k": self.k, "summary": summary, "items": items}
