"""Keeping evalset golds out of training.

Every gold of every evalset in ``<project>/evalsets/`` (the drafted one included, reviewed or
not) is normalised (:func:`normalise_sql`: sqlglot canonical form, aliases renamed, AND operands
and IN lists sorted); a generated pair whose SQL normalises to one of them is *held out*: it is
written to ``pairs/heldout.jsonl`` instead of ``pairs/pairs.jsonl``, with every phrasing of that
SQL. :func:`training_pairs` applies the same rule again when a tuner reads the pairs, so a
hand-edited gold, a new evalset or a later ``sqltune generate`` cannot leak into training.

>>> normalise_sql('SELECT count(*) AS n FROM t AS x WHERE x.b = 2 AND x.a = 1') == \\
...     normalise_sql('select COUNT(*) as m from t as y where y.a = 1 and y.b = 2')
True
"""

from __future__ import annotations

import typing as t
from pathlib import Path

from sqltune import home
from sqltune.generate.records import Pair
from sqltune.onboard import files

__all__ = ["evalset_golds", "normalise_sql", "resplit", "split", "training_pairs"]


def normalise_sql(sql: str) -> str:
    """The canonical text of ``sql`` (whitespace-normalised text when it does not parse)."""
    import sqlglot

    from sqltune.generate.verify import canonical

    try:
        return canonical(sqlglot.parse_one(sql, read="duckdb"))
    except Exception:  # noqa: BLE001 - any parse failure falls back to the text itself
        return " ".join(sql.split())


def evalset_golds(project_dir: str | Path) -> tuple[dict[str, list[str]], list[str]]:
    """Normalised gold SQL → ``["evalset:case", …]`` over the project's evalsets, and warnings
    about evalsets that could not be read (those hold nothing out, so fix them)."""
    from sqltune.errors import SqltuneError
    from sqltune.evalset import load_evalset

    root = Path(project_dir) / "evalsets"
    golds: dict[str, list[str]] = {}
    warnings: list[str] = []
    if not root.is_dir():
        return golds, warnings
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") or not (entry.is_dir() or entry.suffix in (".yaml", ".yml")):
            continue
        try:
            ev = load_evalset(entry)
        except SqltuneError as e:
            warnings.append(f"evalset {entry.name} not read, nothing held out for it: {str(e).splitlines()[0]}")
            continue
        for case in ev.cases:
            for sql in case.gold_sql:
                golds.setdefault(normalise_sql(sql), []).append(f"{ev.name}:{case.id}")
    return golds, warnings


def split(pairs: t.Iterable[Pair], golds: t.Mapping[str, t.Any]) -> tuple[list[Pair], list[Pair]]:
    """``(train, heldout)``: pairs whose SQL normalises to a gold are held out."""
    memo: dict[str, bool] = {}
    train: list[Pair] = []
    held: list[Pair] = []
    for p in pairs:
        if p.sql not in memo:
            memo[p.sql] = normalise_sql(p.sql) in golds
        (held if memo[p.sql] else train).append(p)
    return train, held


def resplit(project_dir: str | Path) -> tuple[int, int]:
    """Re-split the project's pairs against its evalsets as they are now (after a review, say);
    returns ``(train, heldout)`` pair counts. Nothing is written when no pairs exist."""
    folder = Path(project_dir) / "pairs"
    header, train = files.read_pairs(folder / files.PAIRS)
    held_header, held = files.read_pairs(folder / files.HELDOUT)
    if header is None:
        return 0, 0
    everything = files.unique(train + held)
    golds, _ = evalset_golds(project_dir)
    new_train, new_held = split(everything, golds)
    if [p.id for p in new_train] != [p.id for p in train] or [p.id for p in new_held] != [p.id for p in held]:
        info = dict(header.get("heldout", {}))
        info.update({"pairs": len(new_held), "sql": len({p.sql for p in new_held})})
        files.write_pairs(folder / files.PAIRS, {**header, "heldout": info}, new_train)
        files.write_pairs(folder / files.HELDOUT, {**(held_header or header), "kind": "header",
                                                   "heldout": info}, new_held)
    return len(new_train), len(new_held)


def training_pairs(project: str | Path, *, splits: t.Collection[str] | None = ("train",)) -> tuple[Pair, ...]:
    """The pairs a tuner may train on: ``pairs/pairs.jsonl`` of project ``project`` (a name or a
    folder), minus any pair whose SQL is a gold of one of the project's evalsets, restricted to
    ``splits`` (``None``: every split).

    Raises:
        NotFoundError: No such project.
    """
    folder = Path(project) if isinstance(project, Path) or "/" in str(project) else home.existing_project_dir(project)
    _, pairs = files.read_pairs(folder / "pairs" / files.PAIRS)
    golds, _ = evalset_golds(folder)
    train, _ = split(pairs, golds)
    return tuple(p for p in train if splits is None or p.split in splits)
