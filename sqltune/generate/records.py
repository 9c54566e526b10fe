"""The records generation writes: pairs, schema facts, and the verified SQL they come from.

>>> p = Pair(id="s1-direct", question="How many brands are there?", sql="SELECT COUNT(*) FROM mdm.\\"BRAND\\"",
...          style="direct", tier="easy", score=1.5, tables=("mdm.BRAND",), columns=(), values=(), joins=(),
...          result_fingerprint="ab12", row_count=1, split="train", provenance={"production": "count"})
>>> Pair.from_dict(p.to_dict()) == p
True
"""

from __future__ import annotations

import dataclasses
import typing as t
from dataclasses import dataclass, field

SPLITS = ("train", "val_skeleton", "val_phrasing")


@dataclass(frozen=True)
class Pair:
    """One question with one verified SQL.

    Attributes:
        id: ``<sql_id>-<style>[-<k>]``, stable for a seed.
        question: The natural-language question.
        sql: DuckDB SQL with identifiers exactly as the database spells them.
        style: One of :data:`sqltune.generate.config.STYLES`.
        tier: Measured difficulty tier (:func:`sqltune.difficulty.measure`); ``score`` its score.
        tables: ``schema.table`` of every table touched.
        columns: ``schema.table.column`` of every column touched.
        values: ``(schema.table.column, value)`` of every literal taken from the data.
        joins: Join paths used, as ``from -> to`` (:class:`sqltune.schema.Join` text).
        result_fingerprint: Hash of the normalised result (see :mod:`sqltune.generate.verify`).
        row_count: Rows the SQL returns.
        split: ``train``, ``val_skeleton`` or ``val_phrasing``.
        provenance: ``production``, ``seed``, ``chunk``, ``sql_id`` and ``skeleton``.
    """

    id: str
    question: str
    sql: str
    style: str
    tier: str
    score: float
    tables: tuple[str, ...]
    columns: tuple[str, ...]
    values: tuple[tuple[str, t.Any], ...]
    joins: tuple[str, ...]
    result_fingerprint: str
    row_count: int
    split: str
    provenance: dict[str, t.Any] = field(default_factory=dict, compare=True, hash=False)

    def to_dict(self) -> dict[str, t.Any]:
        d = dataclasses.asdict(self)
        d["values"] = [list(v) for v in self.values]
        return d

    @classmethod
    def from_dict(cls, d: t.Mapping[str, t.Any]) -> Pair:
        d = dict(d)
        for key in ("tables", "columns", "joins"):
            d[key] = tuple(d[key])
        d["values"] = tuple((str(c), v) for c, v in d["values"])
        return cls(**d)


@dataclass(frozen=True)
class Fact:
    """One short statement of the schema itself, for the tuner to mix in."""

    id: str
    kind: str
    prompt: str
    target: str

    def to_dict(self) -> dict[str, t.Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Question:
    style: str
    text: str


@dataclass(frozen=True)
class VerifiedSql:
    """A distinct SQL that passed verification, with its questions (what a resumable chunk holds)."""

    sql_id: str
    sql: str
    canonical: str
    skeleton: str
    tier: str
    score: float
    production: str
    chunk: int
    tables: tuple[str, ...]
    columns: tuple[str, ...]
    values: tuple[tuple[str, t.Any], ...]
    joins: tuple[str, ...]
    result_fingerprint: str
    row_count: int
    questions: tuple[Question, ...]

    def to_dict(self) -> dict[str, t.Any]:
        d = dataclasses.asdict(self)
        d["values"] = [list(v) for v in self.values]
        d["questions"] = [[q.style, q.text] for q in self.questions]
        return d

    @classmethod
    def from_dict(cls, d: t.Mapping[str, t.Any]) -> VerifiedSql:
        d = dict(d)
        for key in ("tables", "columns", "joins"):
            d[key] = tuple(d[key])
        d["values"] = tuple((str(c), v) for c, v in d["values"])
        d["questions"] = tuple(Question(s, q) for s, q in d["questions"])
        return cls(**d)


@dataclass(frozen=True)
class GenerationResult:
    """What :func:`sqltune.generate.generate` returns.

    Attributes:
        pairs: Every pair, in file order.
        facts: The schema facts.
        coverage: The coverage report (also ``coverage.json``).
        header: The first line of ``pairs.jsonl`` (config, seed, fingerprints, counts, diversity).
        stats: Run statistics that vary between runs (timings, rejections, resumed chunks); not written.
        files: Paths written, by name (empty when ``out`` is ``None``).
    """

    pairs: tuple[Pair, ...]
    facts: tuple[Fact, ...]
    coverage: dict[str, t.Any]
    header: dict[str, t.Any]
    stats: dict[str, t.Any]
    files: dict[str, str] = field(default_factory=dict)

    @property
    def distinct_sql(self) -> int:
        return len({p.sql for p in self.pairs})
