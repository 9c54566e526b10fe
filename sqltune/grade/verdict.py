"""The typed outcome of grading one prediction: :class:`Verdict`, :class:`Status`, :class:`Subtype`.

An execution error is split into a :class:`Subtype` derived from DuckDB's exception class and
message, so reports can tell invented tables from invented columns, type errors and syntax:

=================================================================== ===============
DuckDB error                                                        Subtype
=================================================================== ===============
``ParserException`` (and SQL the sandbox cannot split)              ``SYNTAX``
``CatalogException`` "Table with name … does not exist", unknown    ``UNKNOWN_TABLE``
schema; ``BinderException`` "Referenced table … not found"
``BinderException`` "Referenced column … not found", "does not      ``UNKNOWN_COLUMN``
have a column named"
``ConversionException``, "No function matches", "Could not choose a ``TYPE``
best candidate", "Cannot compare/mix values of type", type mismatch
anything else (unknown function, GROUP BY errors, out of memory…)   ``OTHER``
=================================================================== ===============

>>> error_subtype("BinderException", 'Binder Error: Referenced column "nope" not found in FROM clause!')
<Subtype.UNKNOWN_COLUMN: 'UNKNOWN_COLUMN'>
>>> v = Verdict(Status.WRONG_RESULT, reason="2 rows missing, 1 extra")
>>> v.correct, v.to_dict()["status"]
(False, 'WRONG_RESULT')
"""

from __future__ import annotations

import dataclasses
import enum
import re
import typing as t

from sqltune.grade.policy import POLICY_VERSION


class Status(str, enum.Enum):
    """How a prediction fared (``str``-valued, e.g. ``Status("CORRECT")``)."""

    CORRECT = "CORRECT"
    WRONG_RESULT = "WRONG_RESULT"
    EXEC_ERROR = "EXEC_ERROR"
    TIMEOUT = "TIMEOUT"
    UNSAFE = "UNSAFE"
    EMPTY = "EMPTY"

    def __str__(self) -> str:
        return self.value


class Subtype(str, enum.Enum):
    """What kind of execution error an ``EXEC_ERROR`` is."""

    SYNTAX = "SYNTAX"
    UNKNOWN_TABLE = "UNKNOWN_TABLE"
    UNKNOWN_COLUMN = "UNKNOWN_COLUMN"
    TYPE = "TYPE"
    OTHER = "OTHER"

    def __str__(self) -> str:
        return self.value


_RULES: tuple[tuple[str, str, Subtype], ...] = (
    # (error class, message pattern, subtype): first hit wins; "" matches any class.
    ("ParserException", "", Subtype.SYNTAX),
    ("CatalogException", r"\b(Table|View) with name .* does not exist|schema .* does not exist", Subtype.UNKNOWN_TABLE),
    ("BinderException", r"Referenced table .* not found|table .* (could not be found|does not exist)",
     Subtype.UNKNOWN_TABLE),
    ("BinderException", r"Referenced column .* not found|does not have a column named|column .* does not exist",
     Subtype.UNKNOWN_COLUMN),
    ("ConversionException", "", Subtype.TYPE),
    ("", r"No function matches|Could not choose a best candidate|Cannot (compare|mix) values? of type|type mismatch"
     r"|Could not convert|Cannot cast|cannot be cast|Conversion Error|implicit cast", Subtype.TYPE),
)  # fmt: skip


def error_subtype(error_class: str | None, message: str | None) -> Subtype:
    """The :class:`Subtype` of a DuckDB error, from its exception class name and message."""
    cls, text = error_class or "", message or ""
    for rule_class, pattern, subtype in _RULES:
        if (not rule_class or rule_class == cls) and (not pattern or re.search(pattern, text, re.IGNORECASE)):
            return subtype
    return Subtype.OTHER


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The result of grading one prediction against one evalset case.

    Attributes:
        status: The headline outcome; ``CORRECT`` exactly when ``strict`` is true.
        strict: The result matches a gold with the same number of columns.
        lenient: The result matches a gold, extra predicted columns allowed.
        reason: Why, in words: ``"match"``, ``"2 rows missing, 1 extra"``, ``"column count 3 vs 2"``,
            ``"order differs at row 4"``, or the error message.
        subtype: For ``EXEC_ERROR`` only.
        gold_index: Which gold matched (strictly, else leniently); ``None`` when none did.
        policy_version: :attr:`ComparisonPolicy.label` of the policy used.
        case_id: The evalset case graded, when known.
        pred_s: Seconds the prediction ran (classification included).
        gold_s: Seconds the gold queries ran when they were executed (cached runs keep their time).
        compare_s: Seconds spent comparing results.
        pred_row_count: Rows the prediction returned (``None`` when it did not run).
        error_class: DuckDB's exception class for ``EXEC_ERROR``/``TIMEOUT``/``UNSAFE``.
    """

    status: Status
    strict: bool = False
    lenient: bool = False
    reason: str = ""
    subtype: Subtype | None = None
    gold_index: int | None = None
    policy_version: str = POLICY_VERSION
    case_id: str | None = None
    pred_s: float = 0.0
    gold_s: float = 0.0
    compare_s: float = 0.0
    pred_row_count: int | None = None
    error_class: str | None = None

    @property
    def correct(self) -> bool:
        return self.status is Status.CORRECT

    @property
    def label(self) -> str:
        """``"CORRECT"``, ``"WRONG_RESULT"``, ``"EXEC_ERROR:UNKNOWN_COLUMN"``…"""
        return f"{self.status}:{self.subtype}" if self.subtype else str(self.status)

    def to_dict(self) -> dict[str, t.Any]:
        """A JSON-ready dict (enums as their string values)."""
        d = dataclasses.asdict(self)
        d["status"] = self.status.value
        d["subtype"] = self.subtype.value if self.subtype else None
        return d
