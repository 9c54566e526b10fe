"""Generation settings: one frozen dataclass, read from a mapping that must not hold unknown keys.

>>> cfg = GenerateConfig.from_dict({"timeout_s": 0.5, "coverage_k": 2})
>>> cfg.timeout_s, cfg.mix
(0.5, (0.3, 0.4, 0.3))
>>> GenerateConfig.from_dict({"timout_s": 1})
Traceback (most recent call last):
...
sqltune.errors.ConfigError: Unknown generate setting 'timout_s'. Did you mean 'timeout_s'?
"""

from __future__ import annotations

import dataclasses
import typing as t
from dataclasses import dataclass, field

from sqltune.errors import ConfigError, SqltuneError, did_you_mean

#: The question styles; every distinct SQL gets one question in each.
STYLES = ("direct", "analyst", "terse", "glossary", "conversational")
TIERS = ("easy", "medium", "hard")
#: Where masked columns may appear: only inside COUNT(...) / IS [NOT] NULL, or nowhere.
MASKED_USAGE = ("aggregate_only", "never")


class GenerationError(SqltuneError):
    """Pair generation cannot run (bad input, a resume folder of another run, too few pairs)."""


@dataclass(frozen=True)
class GenerateConfig:
    """How pairs are generated, verified, steered and split (the seed and ``n`` are arguments)."""

    mix: tuple[float, float, float] = field(default=(0.3, 0.4, 0.3), metadata={
        "help": "Share of distinct SQL per measured tier: easy, medium, hard."})
    questions_per_sql: int = field(default=5, metadata={"help": "Questions per distinct SQL (>= number of styles)."})
    timeout_s: float = field(default=1.0, metadata={"help": "Candidates running longer are dropped."})
    max_rows: int = field(default=1000, metadata={"help": "Candidates returning more rows are dropped."})
    allow_empty: bool = field(default=False, metadata={"help": "Keep SQL that returns no rows."})
    coverage_k: int = field(default=3, metadata={"help": "Distinct SQL wanted per table, column, join, value."})
    steer: bool = field(default=True, metadata={"help": "Steer choices toward under-covered items."})
    steer_boost: float = field(default=8.0, metadata={"help": "Weight added per missing use of an item."})
    chunk_size: int = field(default=50, metadata={"help": "Distinct SQL per resumable chunk."})
    batch_size: int = field(default=24, metadata={
        "help": "Candidates in flight: candidate j is built once candidate j - batch_size is settled."})
    workers: int = field(default=2, metadata={"help": "Parallel checks of candidates (threads or processes)."})
    executor: str = field(default="auto", metadata={
        "help": "thread | process | auto (processes from 200 distinct SQL on, when workers > 1)."})
    min_join_confidence: float = field(default=0.8, metadata={"help": "Inferred joins below this are not used."})
    masked_usage: str = field(default="aggregate_only", metadata={"help": "aggregate_only | never."})
    value_pool: int = field(default=24, metadata={"help": "Real values read per non-categorical column."})
    max_attempts_per_sql: int = field(default=40, metadata={"help": "Give up after this many candidates per SQL."})
    val_skeleton_fraction: float = field(default=0.05, metadata={"help": "SQL whose skeleton is held out."})
    val_phrasing_fraction: float = field(default=0.05, metadata={"help": "Train SQL with one style held out."})
    max_unreachable_fraction: float = field(default=0.05, metadata={"help": "Columns that may stay unreachable."})

    def __post_init__(self) -> None:
        if len(self.mix) != 3 or any(x < 0 for x in self.mix) or abs(sum(self.mix) - 1.0) > 1e-6:
            raise ConfigError(f"Setting 'mix' must be three non-negative shares summing to 1, got {self.mix!r}.")
        if self.questions_per_sql < len(STYLES):
            raise ConfigError(f"Setting 'questions_per_sql' must be at least {len(STYLES)} (one per style).")
        if self.executor not in ("auto", "thread", "process"):
            raise ConfigError(f"Setting 'executor' must be auto, thread or process; got {self.executor!r}.")
        if self.masked_usage not in MASKED_USAGE:
            raise ConfigError(f"Setting 'masked_usage' must be one of {', '.join(MASKED_USAGE)}; "
                              f"got {self.masked_usage!r}.")
        for name in ("timeout_s", "max_rows", "chunk_size", "batch_size", "workers", "coverage_k",
                     "max_attempts_per_sql"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"Setting {name!r} must be positive, got {getattr(self, name)!r}.")
        for name in ("val_skeleton_fraction", "val_phrasing_fraction", "max_unreachable_fraction",
                     "min_join_confidence"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"Setting {name!r} must lie in [0, 1], got {getattr(self, name)!r}.")

    @classmethod
    def from_dict(cls, data: t.Mapping[str, t.Any]) -> GenerateConfig:
        """Build from a mapping; an unknown key raises :class:`ConfigError` with a did-you-mean."""
        names = [f.name for f in dataclasses.fields(cls)]
        for key in data:
            if key not in names:
                hint = did_you_mean(str(key), names)
                raise ConfigError(f"Unknown generate setting {key!r}." + (f" {hint}" if hint else ""))
        values = dict(data)
        if "mix" in values:
            values["mix"] = tuple(float(x) for x in values["mix"])
        return cls(**values)

    def to_dict(self) -> dict[str, t.Any]:
        out = dataclasses.asdict(self)
        out["mix"] = list(self.mix)
        return out

    def tier_targets(self, n_sql: int) -> dict[str, int]:
        """Distinct SQL wanted per tier for ``n_sql`` in total (largest remainder rounding)."""
        raw = [share * n_sql for share in self.mix]
        counts = [int(x) for x in raw]
        order = sorted(range(3), key=lambda i: (-(raw[i] - counts[i]), i))
        for i in order[: n_sql - sum(counts)]:
            counts[i] += 1
        return dict(zip(TIERS, counts))
