"""Reading what :func:`sqltune.generate.generate` wrote: ``pairs.jsonl`` (header first) and ``facts.jsonl``.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "pairs.jsonl").write_text('{"kind": "header", "format": 1}\\n')
>>> header, pairs = load_pairs(d)
>>> header["format"], pairs
(1, [])
>>> load_pairs(d / "nowhere")
Traceback (most recent call last):
...
sqltune.errors.MissingArtifactError: No generated pairs in ... run `sqltune generate NAME` first.
"""

from __future__ import annotations

import json
import os
import typing as t
from pathlib import Path

from sqltune.errors import MissingArtifactError, SchemaError
from sqltune.generate.records import Fact, Pair


def load_pairs(folder: str | os.PathLike[str]) -> tuple[dict[str, t.Any], list[Pair]]:
    """The run header and the pairs of a generation folder (or a ``pairs.jsonl`` path)."""
    path = _file(folder, "pairs.jsonl")
    header: dict[str, t.Any] = {}
    pairs = []
    for n, row in _rows(path):
        if n == 1 and row.get("kind") == "header":
            header = row
            continue
        try:
            pairs.append(Pair.from_dict(row))
        except (TypeError, KeyError, ValueError) as e:
            raise SchemaError(f"{path}:{n}: not a generated pair ({e}).") from None
    return header, pairs


def load_facts(folder: str | os.PathLike[str]) -> list[Fact]:
    """The schema facts of a generation folder (or a ``facts.jsonl`` path); none if the file is absent."""
    path = Path(folder)
    path = path if path.suffix == ".jsonl" else path / "facts.jsonl"
    if not path.is_file():
        return []
    try:
        return [Fact(**row) for _, row in _rows(path)]
    except TypeError as e:
        raise SchemaError(f"{path}: not a facts file ({e}).") from None


def _file(folder: str | os.PathLike[str], name: str) -> Path:
    path = Path(folder)
    path = path if path.suffix == ".jsonl" else path / name
    if not path.is_file():
        raise MissingArtifactError(f"No generated pairs in {path.parent}: run `sqltune generate NAME` first.")
    return path


def _rows(path: Path) -> t.Iterator[tuple[int, dict[str, t.Any]]]:
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield n, json.loads(line)
            except json.JSONDecodeError as e:
                raise SchemaError(f"{path}:{n}: not JSON ({e.msg}).") from None
