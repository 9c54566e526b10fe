"""How strictly a predicted result must match a gold result: the comparison policy.

A policy is data: an evalset header carries it as a dict (``policy: {rel_tol: 1e-9}``) and every
verdict records :attr:`ComparisonPolicy.label`, the policy version plus any parameter that differs
from the defaults, so two verdicts graded under different rules never look alike.

The rules of version ``1.0`` (see :mod:`sqltune.grade.compare` for the algorithm):

* rows are a multiset: duplicates count, and row order matters only when the gold query has a
  top-level ``ORDER BY`` (rows tied on the sort keys may come in any order, and where a
  ``LIMIT``/``OFFSET`` cuts through a tie any valid choice of the tied rows is accepted);
* columns are matched by their values, regardless of order and name;
* ``int``/``Decimal`` compare exactly by value (``1 == 1.0 == Decimal("1.00")``); as soon as one
  side is a binary float the comparison is ``|a - b| <= max(rel_tol * max(|a|, |b|), abs_tol)``;
* a ``DATE`` equals a ``TIMESTAMP`` at midnight; time-zone-aware timestamps compare as UTC instants;
* ``NULL`` equals ``NULL``; ``NaN`` equals ``NaN`` (and nothing else) unless ``nan_equals_nan`` is off;
  ``inf`` equals ``inf`` of the same sign only;
* booleans are not numbers (``TRUE`` does not equal ``1``), strings compare exactly (case and
  whitespace included), and a string never equals a number or a date.

>>> p = ComparisonPolicy.from_dict({"rel_tol": 1e-9})
>>> p.rel_tol, p.label
(1e-09, '1.0+rel_tol=1e-09')
>>> ComparisonPolicy().label
'1.0'
>>> p.equal(p.canon(0.1 + 0.2), p.canon(decimal.Decimal("0.3"))), p.equal(1_000_000, 1_000_001)
(True, False)
>>> p.canon(dt.date(2024, 1, 1)) == p.canon(dt.datetime(2024, 1, 1)), p.canon(True) == p.canon(1)
(True, False)
>>> ComparisonPolicy.from_dict({"rel_tole": 1})
Traceback (most recent call last):
...
sqltune.errors.ConfigError: Unknown comparison policy key 'rel_tole'. Did you mean 'rel_tol'?
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import math
import typing as t

from sqltune.errors import ConfigError, did_you_mean

POLICY_VERSION: t.Final = "1.0"
SUPPORTED_VERSIONS: t.Final = (POLICY_VERSION,)


@dataclasses.dataclass(frozen=True)
class ComparisonPolicy:
    """The rules a prediction is graded under.

    Attributes:
        version: Version of the comparison rules (only ``"1.0"`` exists).
        rel_tol: Relative tolerance for comparisons involving a binary float.
        abs_tol: Absolute tolerance for such comparisons, for values near zero.
        nan_equals_nan: Whether a ``NaN`` in the prediction matches a ``NaN`` in the gold.
        date_equals_midnight: Whether a ``DATE`` equals a ``TIMESTAMP`` at midnight of that day.
        limit_ties: Whether a ``LIMIT``/``OFFSET`` that cuts through rows tied on the ``ORDER BY``
            keys accepts any choice of the tied rows (``True``) or only the gold's own rows.
    """

    version: str = dataclasses.field(default=POLICY_VERSION, metadata={"help": "Version of the comparison rules."})
    rel_tol: float = dataclasses.field(default=1e-6, metadata={"help": "Relative tolerance when a float is involved."})
    abs_tol: float = dataclasses.field(default=1e-9, metadata={"help": "Absolute tolerance near zero (floats only)."})
    nan_equals_nan: bool = dataclasses.field(default=True, metadata={"help": "NaN matches NaN."})
    date_equals_midnight: bool = dataclasses.field(default=True, metadata={"help": "DATE equals TIMESTAMP 00:00."})
    limit_ties: bool = dataclasses.field(default=True, metadata={"help": "Any valid tie choice under LIMIT counts."})

    def __post_init__(self) -> None:
        if self.version not in SUPPORTED_VERSIONS:
            raise ConfigError(
                f"Comparison policy version {self.version!r} is not supported (known: {', '.join(SUPPORTED_VERSIONS)})."
            )
        for name in ("rel_tol", "abs_tol"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ConfigError(f"Comparison policy {name!r} must be a finite number >= 0, got {value!r}.")
            object.__setattr__(self, name, float(value))
        if self.rel_tol >= 1:
            raise ConfigError(f"Comparison policy 'rel_tol' must be below 1, got {self.rel_tol!r}.")
        for name in ("nan_equals_nan", "date_equals_midnight", "limit_ties"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"Comparison policy {name!r} must be true or false, got {getattr(self, name)!r}.")

    @classmethod
    def from_dict(cls, data: t.Mapping[str, t.Any] | None) -> ComparisonPolicy:
        """Build a policy from a mapping; unknown keys raise :class:`ConfigError` with a did-you-mean."""
        if data is None:
            return cls()
        if not isinstance(data, t.Mapping):
            raise ConfigError(f"Comparison policy must be a mapping, got {type(data).__name__}.")
        known = [f.name for f in dataclasses.fields(cls)]
        for key in data:
            if key not in known:
                hint = did_you_mean(str(key), known) or "Known: " + ", ".join(known) + "."
                raise ConfigError(f"Unknown comparison policy key {key!r}. {hint}")
        version = data.get("version", POLICY_VERSION)
        return cls(**{**data, "version": str(version)})

    def to_dict(self) -> dict[str, t.Any]:
        """All fields, defaults included (what a results file records)."""
        return dataclasses.asdict(self)

    @property
    def label(self) -> str:
        """The version, plus ``+key=value`` for every parameter that differs from the defaults."""
        default = ComparisonPolicy(version=self.version)
        changed = [
            f"{f.name}={getattr(self, f.name)!r}".replace("'", "")
            for f in dataclasses.fields(self)
            if f.name != "version" and getattr(self, f.name) != getattr(default, f.name)
        ]
        return "+".join([self.version, *changed])

    # ------------------------------------------------------------------------- value rules
    def canon(self, value: t.Any) -> t.Any:
        """The canonical, hashable form of one result value: exact-equal values hash alike.

        ``int``/``Decimal``/``float`` stay as they are (Python already hashes ``1``, ``1.0`` and
        ``Decimal("1.00")`` alike), a date becomes a midnight timestamp, an aware timestamp naive
        UTC, ``NaN`` a sentinel, ``bool`` s, lists and structs tagged tuples.
        """
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, bool):
            return Tagged("bool", (value,))
        if isinstance(value, (int, float, decimal.Decimal)):
            if (isinstance(value, float) and math.isnan(value)) or (
                isinstance(value, decimal.Decimal) and value.is_nan()
            ):
                return Tagged("nan", ()) if self.nan_equals_nan else Unequal()
            return value
        if isinstance(value, dt.datetime):
            if value.tzinfo is not None:
                value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
            return value
        if isinstance(value, dt.date):
            return dt.datetime.combine(value, dt.time()) if self.date_equals_midnight else value
        if isinstance(value, (list, tuple)):
            return Tagged("list", tuple(self.canon(v) for v in value))
        if isinstance(value, dict):
            return Tagged("struct:" + ",".join(map(str, value)), tuple(self.canon(v) for v in value.values()))
        try:
            hash(value)
        except TypeError:
            return Tagged("repr", (repr(value),))
        return value

    def equal(self, a: t.Any, b: t.Any) -> bool:
        """Equality of two canonical values; the tolerance applies only where a float is involved."""
        if is_number(a) and is_number(b):
            if isinstance(a, float) or isinstance(b, float):
                fa, fb = float(a), float(b)
                if math.isinf(fa) or math.isinf(fb):
                    return fa == fb
                return abs(fa - fb) <= max(self.rel_tol * max(abs(fa), abs(fb)), self.abs_tol)
            return bool(a == b)
        if isinstance(a, Tagged) and isinstance(b, Tagged):
            return a.tag == b.tag and len(a.items) == len(b.items) and self.rows_equal(a.items, b.items)
        if type(a) is not type(b):
            return False
        return bool(a == b)

    def rows_equal(self, a: t.Sequence[t.Any], b: t.Sequence[t.Any]) -> bool:
        """Element-wise :meth:`equal` of two canonical rows of the same width."""
        return a == b or all(x == y or self.equal(x, y) for x, y in zip(a, b, strict=True))


class Tagged(t.NamedTuple):
    """A canonical non-scalar value: ``bool``, ``nan``, ``list``, ``struct:<keys>`` or ``repr``."""

    tag: str
    items: tuple[t.Any, ...]


class Unequal:
    """A ``NaN`` under ``nan_equals_nan=False``: equal to nothing but itself."""

    __slots__ = ()


_NUMBER_TYPES: t.Final = frozenset({int, float, decimal.Decimal})


def is_number(v: t.Any) -> bool:
    """``int``, ``float`` or ``Decimal``, but not ``bool``."""
    return type(v) in _NUMBER_TYPES or (isinstance(v, (int, float, decimal.Decimal)) and not isinstance(v, bool))
