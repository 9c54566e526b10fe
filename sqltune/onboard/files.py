"""The files onboarding reads and writes in a project folder, each written atomically.

``onboard.json`` (the manifest: config, hashes, per-table signatures, counts, history),
``pairs/pairs.jsonl`` (training pairs) and ``pairs/heldout.jsonl`` (pairs held out because their
SQL is an evalset gold); both JSONL files start with a header line like ``sqltune generate``'s.

>>> import tempfile, pathlib
>>> from sqltune.generate import Pair
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> p = Pair("q1-direct", "How many?", "SELECT 1", "direct", "easy", 0.0, (), (), (), (), "f", 1, "train")
>>> write_pairs(d / "pairs.jsonl", {"kind": "header"}, [p])
>>> read_pairs(d / "pairs.jsonl") == ({"kind": "header"}, [p])
True
>>> read_pairs(d / "missing.jsonl")
(None, [])
"""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

from sqltune import atomic
from sqltune.errors import ConfigError
from sqltune.generate.records import Pair
from sqltune.generate.writer import dumps

MANIFEST: t.Final = "onboard.json"
PAIRS: t.Final = "pairs.jsonl"
HELDOUT: t.Final = "heldout.jsonl"
FACTS: t.Final = "facts.jsonl"
COVERAGE: t.Final = "coverage.json"
#: Scratch folders under ``pairs/`` where generation keeps its resumable chunks.
SCRATCH: t.Final = (".generate", ".regenerate")
FORMAT: t.Final = 1


def sql_id(pair: Pair) -> str:
    """The id of a pair's distinct SQL (``provenance['sql_id']``, else the first part of its id)."""
    return str(pair.provenance.get("sql_id") or pair.id.split("-", 1)[0])


def unique(pairs: t.Iterable[Pair]) -> list[Pair]:
    """``pairs`` without repeated ids (the first one kept), in order."""
    seen: set[str] = set()
    out = []
    for p in pairs:
        if p.id not in seen:
            seen.add(p.id)
            out.append(p)
    return out


def group_by_sql(pairs: t.Iterable[Pair]) -> dict[str, list[Pair]]:
    """Pairs by distinct SQL (:func:`sql_id`), in file order."""
    out: dict[str, list[Pair]] = {}
    for p in pairs:
        out.setdefault(sql_id(p), []).append(p)
    return out


def read_pairs(path: Path) -> tuple[dict[str, t.Any] | None, list[Pair]]:
    """The header line and the pairs of a pairs JSONL file; ``(None, [])`` when it does not exist."""
    if not path.is_file():
        return None, []
    header: dict[str, t.Any] | None = None
    pairs: list[Pair] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if row.get("kind") == "header":
                header = row
            else:
                pairs.append(Pair.from_dict(row))
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            raise ConfigError(f"{path}:{n}: not a pair: {e}") from None
    return header, pairs


def write_pairs(path: Path, header: t.Mapping[str, t.Any], pairs: t.Iterable[Pair]) -> None:
    atomic.write_text(path, "".join(dumps(r) + "\n" for r in [dict(header), *(p.to_dict() for p in pairs)]))


def write_jsonl(path: Path, rows: t.Iterable[t.Mapping[str, t.Any]]) -> None:
    atomic.write_text(path, "".join(dumps(dict(r)) + "\n" for r in rows))


def write_json(path: Path, obj: t.Any) -> None:
    atomic.write_text(path, json.dumps(obj, ensure_ascii=False, indent=1, default=str) + "\n")


def read_manifest(folder: Path) -> dict[str, t.Any]:
    """The project's ``onboard.json``, or ``{}`` when the project was never onboarded."""
    path = folder / MANIFEST
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ConfigError(f"{path} is not valid JSON ({e}); delete it to onboard from scratch.") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigError(f"{path} is not an onboarding manifest of format {FORMAT}; delete it to start over.")
    return data


def write_manifest(folder: Path, data: t.Mapping[str, t.Any]) -> None:
    write_json(folder / MANIFEST, {"format": FORMAT, **{k: v for k, v in data.items() if k != "format"}})
