"""Overlaying a data dictionary file on the database's own comments.

A dictionary is YAML::

    tables:
      sales.OrderHeader:
        description: One row per customer order.
        columns:
          CHNL_CD: Sales channel code (ECOM online, DTC direct to consumer, WHSL wholesale).
    glossary:
      - {term: online sales, means: "sales.OrderHeader.CHNL_CD = 'ECOM'"}
    metrics:
      - {name: net sales, expr: sum(l.LINE_AMT), from: sales.ORDER_LINE l, time: l.OrderDate}

(``metrics``: see :mod:`sqltune.introspect.metrics`.)

Names are exact (case included); a name that matches nothing is an error with a did-you-mean,
so a typo never silently drops a description.
"""

from __future__ import annotations

import typing as t
from dataclasses import replace
from pathlib import Path

import yaml

from sqltune.errors import ConfigError, NotFoundError, SqltuneError
from sqltune.introspect.metrics import resolve_metric
from sqltune.schema import GlossaryTerm, Schema, Table


def load_dictionary(path: str | Path) -> dict[str, t.Any]:
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"Dictionary file not found: {p}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"Dictionary file {p} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"Dictionary file {p}: expected a mapping with 'tables' and 'glossary'.")
    unknown = set(data) - {"tables", "glossary", "metrics"}
    if unknown:
        raise ConfigError(f"Dictionary file {p}: unknown key {sorted(unknown)[0]!r} "
                          f"(expected 'tables', 'glossary', 'metrics').")
    return data


def apply_dictionary(schema: Schema, data: dict[str, t.Any], where: str = "dictionary") -> Schema:
    """Return ``schema`` with the dictionary's descriptions and glossary laid over it."""
    tables = {tb.key: tb for tb in schema.tables}
    for ref, entry in (data.get("tables") or {}).items():
        try:
            table = schema.table(str(ref))
        except SqltuneError as e:
            raise ConfigError(f"{where}: {e}") from None
        tables[table.key] = _apply_table(table, entry or {}, f"{where}: table {ref}")
    glossary = list(schema.glossary)
    for i, item in enumerate(data.get("glossary") or []):
        if not isinstance(item, dict) or set(item) != {"term", "means"}:
            raise ConfigError(f"{where}: glossary entry {i + 1} must have exactly 'term' and 'means'.")
        glossary.append(GlossaryTerm(str(item["term"]), str(item["means"])))
    entries = data.get("metrics") or []
    if not isinstance(entries, list):
        raise ConfigError(f"{where}: 'metrics' must be a list of metric definitions.")
    metrics = {m.name.lower(): m for m in schema.metrics}
    for i, item in enumerate(entries):
        m = resolve_metric(schema, item, f"{where}: metrics entry {i + 1}")
        metrics[m.name.lower()] = m
    return replace(schema, tables=tuple(tables[tb.key] for tb in schema.tables), glossary=tuple(glossary),
                   metrics=tuple(metrics.values()))


def _apply_table(table: Table, entry: t.Any, where: str) -> Table:
    if isinstance(entry, str):
        entry = {"description": entry}
    if not isinstance(entry, dict) or set(entry) - {"description", "columns"}:
        raise ConfigError(f"{where}: expected 'description' and/or 'columns'.")
    cols = {c.name: c for c in table.columns}
    for name, desc in (entry.get("columns") or {}).items():
        if name not in cols:
            raise ConfigError(f"{where}: {NotFoundError('column', str(name), cols)}")
        if isinstance(desc, dict):
            desc = desc.get("description")
        cols[name] = replace(cols[name], description=str(desc) if desc else None)
    return replace(table, description=entry.get("description") or table.description,
                   columns=tuple(cols[c.name] for c in table.columns))
