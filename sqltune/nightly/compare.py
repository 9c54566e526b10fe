"""A run against its baseline: per-scope deltas, the items that flipped, and an exact McNemar test.

The two runs are paired on the case ids both have. For each gated metric and scope (``overall`` and
each tier) the baseline and current accuracy, their difference in absolute points, the items that
went correct → wrong (*regressed*) and wrong → correct (*fixed*), and the two-sided exact McNemar
p-value of those discordant counts (a binomial test with p = ½; no SciPy needed). A drop beyond the
scope's limit fails, and with ``alpha`` set only if also ``p < alpha``. The invented-identifier
rate is compared the same way, a rise beyond its limit failing.

>>> round(mcnemar(0, 6), 4), mcnemar(3, 3), mcnemar(0, 0)
(0.0312, 1.0, 1.0)
>>> from sqltune.nightly.history import ItemRecord
>>> base = {f"q{i}": ItemRecord(f"q{i}", "easy", True, None, False, "CORRECT", None) for i in range(10)}
>>> cur = {**base, "q0": ItemRecord("q0", "easy", False, None, False, "WRONG_RESULT", None)}
>>> from sqltune.nightly.config import Thresholds
>>> cmp = compare(base, cur, Thresholds(metrics=("ex_strict",)))
>>> d = cmp.delta("overall", "ex_strict")
>>> d.base, d.current, d.points, d.regressed, d.fixed, d.failed
(1.0, 0.9, -10.0, 1, 0, True)
>>> print(d.message())
ex_strict overall: 100.0% -> 90.0% (-10.0 points, limit 2.0; 1 regressed, 0 fixed; McNemar p=1.000)
"""

from __future__ import annotations

import dataclasses
import math
import typing as t

from sqltune.nightly.config import SCOPES, Thresholds
from sqltune.nightly.history import ItemRecord

if t.TYPE_CHECKING:
    from sqltune.drift import SchemaDiff

__all__ = ["Comparison", "Delta", "Flip", "compare", "mcnemar"]

INVENTED: t.Final = "invented_identifier_rate"


def mcnemar(regressed: int, fixed: int) -> float:
    """Two-sided exact McNemar p-value of ``regressed`` vs ``fixed`` discordant pairs (1.0 when none)."""
    if regressed < 0 or fixed < 0:
        raise ValueError("counts must be >= 0")
    n = regressed + fixed
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(regressed, fixed) + 1))
    return min(1.0, 2 * tail / (1 << n))


@dataclasses.dataclass(frozen=True)
class Flip:
    """An item whose verdict on ``metric`` changed; ``regressed`` when it went correct -> wrong
    (for the invented rate: clean -> invented)."""

    item_id: str
    tier: str
    metric: str
    regressed: bool
    base_sql: str | None
    current_sql: str | None
    label: str
    drifted_tables: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Delta:
    """One metric on one scope: baseline vs current (rates in ``[0, 1]``, ``points`` = 100 × difference)."""

    scope: str
    metric: str
    n: int
    base: float | None
    current: float | None
    regressed: int
    fixed: int
    p: float
    limit: float | None
    failed: bool
    higher_is_better: bool = True

    @property
    def points(self) -> float | None:
        if self.base is None or self.current is None:
            return None
        return round(100 * (self.current - self.base), 6)

    def message(self) -> str:
        def pct(v: float | None) -> str:
            return "-" if v is None else f"{v:.1%}"

        pts = "-" if self.points is None else f"{self.points:+.1f} points"
        limit = "not gated" if self.limit is None else f"limit {self.limit:.1f}"
        verbs = ("regressed", "fixed") if self.higher_is_better else ("new", "gone")
        return (f"{self.metric} {self.scope}: {pct(self.base)} -> {pct(self.current)} ({pts}, {limit}; "
                f"{self.regressed} {verbs[0]}, {self.fixed} {verbs[1]}; McNemar p={self.p:.3f})")


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Everything a run shows against its baseline."""

    deltas: tuple[Delta, ...]
    flips: tuple[Flip, ...]
    shared: int
    only_baseline: tuple[str, ...] = ()
    only_current: tuple[str, ...] = ()
    drift: SchemaDiff | None = None
    primary: str = "ex_strict"

    def flipped(self, metric: str | None = None) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Ids of the items that regressed and that were fixed on ``metric`` (default: the first gated one)."""
        metric = metric or self.primary
        return (tuple(f.item_id for f in self.flips if f.metric == metric and f.regressed),
                tuple(f.item_id for f in self.flips if f.metric == metric and not f.regressed))

    @property
    def failed(self) -> bool:
        return any(d.failed for d in self.deltas)

    @property
    def failures(self) -> tuple[Delta, ...]:
        return tuple(d for d in self.deltas if d.failed)

    def delta(self, scope: str, metric: str) -> Delta:
        for d in self.deltas:
            if d.scope == scope and d.metric == metric:
                return d
        raise KeyError((scope, metric))

    def for_scope(self, scope: str) -> tuple[Delta, ...]:
        return tuple(d for d in self.deltas if d.scope == scope)


def _value(item: ItemRecord, metric: str) -> bool | None:
    if metric == "ex_strict":
        return item.correct_ex
    if metric == "ts":
        return item.correct_ts
    if metric == INVENTED:
        return item.invented
    raise KeyError(metric)


def compare(baseline: t.Mapping[str, ItemRecord], current: t.Mapping[str, ItemRecord], thresholds: Thresholds,
            *, drift: SchemaDiff | None = None, tables_of: t.Callable[[str], t.Collection[str]] | None = None,
            ) -> Comparison:  # fmt: skip
    """Compare two runs' items (by id) under ``thresholds``.

    Args:
        drift: Schema changes since the baseline; flipped items touching a changed table say which.
        tables_of: ``schema.table`` names an item's gold reads (to match flips with ``drift``).
    """
    shared = [i for i in current if i in baseline]
    changed = drift.changed_tables() if drift is not None and not drift.empty else set()
    deltas: list[Delta] = []
    flips: list[Flip] = []
    for metric in (*thresholds.metrics, INVENTED):
        higher = metric != INVENTED
        for scope in SCOPES:
            ids = [i for i in shared if scope == "overall" or current[i].tier == scope]
            if not ids:
                continue
            pairs = [(i, _value(baseline[i], metric), _value(current[i], metric)) for i in ids]
            if metric != INVENTED and any(b is None or c is None for _, b, c in pairs):
                continue  # e.g. TS absent from one of the runs
            known_b = [b for _, b, _ in pairs if b is not None]
            known_c = [c for _, _, c in pairs if c is not None]
            base = sum(known_b) / len(known_b) if known_b else None
            cur = sum(known_c) / len(known_c) if known_c else None
            paired = [(i, b, c) for i, b, c in pairs if b is not None and c is not None and b != c]
            worse = [i for i, b, _ in paired if b == higher]
            better = [i for i, b, _ in paired if b != higher]
            p = mcnemar(len(worse), len(better))
            limit = thresholds.drop_limit(scope) if higher else thresholds.invented_limit(scope)
            failed = False
            if limit is not None and base is not None and cur is not None:
                moved = 100 * ((base - cur) if higher else (cur - base))
                failed = moved > limit + 1e-9 and (thresholds.alpha is None or p < thresholds.alpha)
            deltas.append(Delta(scope, metric, len(ids), base, cur, len(worse), len(better), p, limit, failed, higher))
            if scope == "overall":
                for i in worse + better:
                    drifted = tuple(sorted(set(tables_of(i)) & changed)) if tables_of and changed else ()
                    flips.append(Flip(i, current[i].tier, metric, i in worse, baseline[i].pred_sql,
                                      current[i].pred_sql, current[i].label, drifted))
    flips.sort(key=lambda f: (f.metric != thresholds.metrics[0], not f.regressed, f.item_id))
    return Comparison(
        deltas=tuple(deltas), flips=tuple(flips), shared=len(shared),
        only_baseline=tuple(sorted(set(baseline) - set(current))),
        only_current=tuple(sorted(set(current) - set(baseline))), drift=drift, primary=thresholds.metrics[0],
    )  # fmt: skip
