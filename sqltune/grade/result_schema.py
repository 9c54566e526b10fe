"""The results file of a grading run (``results.json``): its schema, documented field by field, and its check.

Modelled on lm-evaluation-harness' ``result_schema.py``: the schema is a set of ``TypedDict`` s, this
docstring documents every field, :func:`validate_results` checks a loaded file against the
``TypedDict`` s themselves (so the code and the check cannot drift apart), and every metric says
which direction is better so a regression check knows which way is worse.

Top level (:class:`Results`):

* ``schema_version`` (str): version of this schema, :data:`SCHEMA_VERSION`; bump on any change.
* ``kind`` (str): always ``"sqltune.grade.results"``.
* ``date`` (str): when grading finished, ISO 8601 with time zone.
* ``git_hash`` (str | null): commit of the sqltune checkout that graded (``-dirty`` appended when
  it had uncommitted changes); null outside a git checkout.
* ``versions`` (:class:`Versions`): ``sqltune``, ``duckdb``, ``sqlglot``, ``python``.
* ``evalset`` (:class:`EvalsetInfo`): ``name``, ``version``, ``sample`` / ``project`` (one is
  null), ``sample_version`` (null when the evalset does not pin one), ``path``, ``cases``.
* ``database`` (:class:`DatabaseInfo`): ``path`` of the graded DuckDB file, the snapshot's
  ``schema_fingerprint`` and ``domain_hash`` (:meth:`sqltune.schema.Schema.fingerprint`), and its
  ``sample_version``.
* ``policy`` (:class:`PolicyInfo`): ``version`` of the comparison rules, ``label`` (version plus
  every non-default parameter, as recorded on each verdict) and ``params`` (every field).
* ``config`` (:class:`RunConfig`): ``suite`` (test-suite accuracy on?), ``k`` (perturbed copies),
  ``seed``, ``workers`` (grading threads), ``timeout_s`` (per prediction), ``row_cap``.
* ``suite`` (:class:`SuiteInfo` | null): null without test-suite accuracy; else ``key`` (cache
  folder name), ``copies`` (their paths), ``golds`` (how many golds guided the build),
  ``golds_nonempty`` (per copy, golds that return rows on the original and on the copy),
  ``empty_golds`` (per copy, ids of the cases whose gold returns no rows there) and ``build_s``.
* ``headline`` (:class:`Headline`): ``metric`` (``"ex_strict"``), its ``value`` and ``n``.
* ``higher_is_better`` (dict[str, bool]): direction of every metric name.
* ``aggregates`` (dict[str, :class:`TierAggregate`]): keyed ``overall``, ``easy``, ``medium``,
  ``hard``. A case's tier is its declared difficulty, else the measured one. Each holds ``n``
  (cases), ``metrics`` (dict of :class:`Metric` by name), ``taxonomy`` (count of every failure
  label ``STATUS`` or ``STATUS:SUBTYPE``, e.g. ``EXEC_ERROR:UNKNOWN_COLUMN``; correct items are
  not counted) and ``ts_only`` (items correct on the original database but wrong on a copy).
* ``missing`` (list[str]): ids of cases without a prediction (graded ``EMPTY``).
* ``skipped`` (list[str]): ids of unreviewed cases (``reviewed: false``), not graded and in no count.
* ``problems`` (list[str]): problems found reading the predictions that did not stop grading.
* ``timing`` (:class:`Timing`): ``wall_s`` of grading (suite build included), ``suite_build_s``,
  ``items_per_s``.
* ``items`` (list[:class:`ItemResult`]): one per case, in evalset order.

A :class:`Metric`: ``name``; ``value`` (``k / n``, null when ``n`` is 0); ``k`` (items counted);
``n`` (items in the denominator); ``ci_low`` / ``ci_high`` (95 % Wilson score interval, null when
``n`` is 0); ``higher_is_better``. The metrics:

* ``ex_strict``: result equal to a gold's on the database (same columns), the headline. n: all cases.
* ``ex_lenient``: equal allowing extra predicted columns. n: all cases.
* ``ts``: ``ex_strict`` on the database and on every perturbed copy (test-suite accuracy).
  n: all cases; absent without a suite.
* ``invented_identifier_rate``: share of predictions naming at least one table or column the
  schema snapshot lacks. n: predictions that are present and parse. Lower is better.
* ``invented_literal_rate``: share of predictions comparing a categorical column with a value
  outside its domain. n: as above. Lower is better.

An :class:`ItemResult`: ``id``, ``question``, ``tier``, ``declared_difficulty`` (null if the case
has none), ``measured_difficulty`` and ``measured_score`` (:func:`sqltune.difficulty.measure` of
the first gold), ``tags``, ``pred_sql`` (null when missing), ``gold_sql`` (every acceptable gold),
``missing``; the verdict on the database: ``status``, ``subtype`` (``EXEC_ERROR`` only), ``label``,
``reason``, ``strict``, ``lenient``, ``gold_index`` (which gold matched); ``ts``
(:class:`TsResult` | null: ``correct``, ``failed_copy``, ``copies_checked``, ``skipped`` copies
where the gold broke, ``reason``); ``invented`` (:class:`InventedResult` | null for missing
predictions: ``tables``, ``columns``, ``literals`` as ``[column, value]`` pairs,
``case_mismatches``, ``unparseable``); ``timings`` (``pred_s``, ``gold_s``, ``compare_s``,
``ts_s``, ``total_s``); ``extra`` (every other key of the prediction line: candidates, timings,
model, adapter…).

>>> r = {"name": "ex_strict", "value": 0.5, "k": 1, "n": 2, "ci_low": 0.09, "ci_high": 0.91,
...      "higher_is_better": True}
>>> validate(r, Metric)
[]
>>> validate({**r, "k": "1"}, Metric)
["$.k: expected int, got str ('1')"]
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import platform
import subprocess
import types
import typing as t
from pathlib import Path

SCHEMA_VERSION: t.Final = "2"
KIND: t.Final = "sqltune.grade.results"
TIERS: t.Final = ("overall", "easy", "medium", "hard")


class Versions(t.TypedDict):
    sqltune: str
    duckdb: str
    sqlglot: str
    python: str


class EvalsetInfo(t.TypedDict):
    name: str
    version: str
    sample: str | None
    project: str | None
    sample_version: int | None
    path: str | None
    cases: int


class DatabaseInfo(t.TypedDict):
    path: str
    schema_fingerprint: str
    domain_hash: str
    sample_version: int | None


class PolicyInfo(t.TypedDict):
    version: str
    label: str
    params: dict[str, t.Any]


class RunConfig(t.TypedDict):
    suite: bool
    k: int
    seed: int
    workers: int
    timeout_s: float
    row_cap: int


class SuiteInfo(t.TypedDict):
    key: str
    copies: list[str]
    golds: int
    golds_nonempty: list[int]
    empty_golds: list[list[str]]
    build_s: float


class Headline(t.TypedDict):
    metric: str
    value: float | None
    n: int


class Metric(t.TypedDict):
    name: str
    value: float | None
    k: int
    n: int
    ci_low: float | None
    ci_high: float | None
    higher_is_better: bool


class TierAggregate(t.TypedDict):
    n: int
    metrics: dict[str, Metric]
    taxonomy: dict[str, int]
    ts_only: int


class TsResult(t.TypedDict):
    correct: bool
    failed_copy: int | None
    copies_checked: int
    skipped: list[int]
    reason: str


class InventedResult(t.TypedDict):
    tables: list[str]
    columns: list[str]
    literals: list[list[str]]
    case_mismatches: list[str]
    unparseable: bool


class ItemTimings(t.TypedDict):
    pred_s: float
    gold_s: float
    compare_s: float
    ts_s: float
    total_s: float


class ItemResult(t.TypedDict):
    id: str
    question: str
    tier: str
    declared_difficulty: str | None
    measured_difficulty: str | None
    measured_score: float | None
    tags: list[str]
    pred_sql: str | None
    gold_sql: list[str]
    missing: bool
    status: str
    subtype: str | None
    label: str
    reason: str
    strict: bool
    lenient: bool
    gold_index: int | None
    ts: TsResult | None
    invented: InventedResult | None
    timings: ItemTimings
    extra: dict[str, t.Any]


class Timing(t.TypedDict):
    wall_s: float
    suite_build_s: float
    items_per_s: float


class Results(t.TypedDict):
    schema_version: str
    kind: str
    date: str
    git_hash: str | None
    versions: Versions
    evalset: EvalsetInfo
    database: DatabaseInfo
    policy: PolicyInfo
    config: RunConfig
    suite: SuiteInfo | None
    headline: Headline
    higher_is_better: dict[str, bool]
    aggregates: dict[str, TierAggregate]
    missing: list[str]
    skipped: list[str]
    problems: list[str]
    timing: Timing
    items: list[ItemResult]


# ---------------------------------------------------------------------------------------- checking
def validate(value: t.Any, schema: t.Any = Results, path: str = "$") -> list[str]:
    """Every place where ``value`` does not fit ``schema`` (a ``TypedDict`` or type), as ``"$.a.b: …"``."""
    origin = t.get_origin(schema)
    if schema is t.Any:
        return []
    if origin in (t.Union, types.UnionType):
        options = t.get_args(schema)
        if value is None and type(None) in options:
            return []
        errors: list[str] = []
        for option in (o for o in options if o is not type(None)):
            errors = validate(value, option, path)
            if not errors:
                return []
        return errors or [f"{path}: expected {_name(schema)}, got null"]
    if _is_typeddict(schema):
        if not isinstance(value, dict):
            return [f"{path}: expected an object ({schema.__name__}), got {_got(value)}"]
        hints = t.get_type_hints(schema)
        errors = [f"{path}: missing key {k!r}" for k in schema.__required_keys__ if k not in value]
        errors += [f"{path}: unknown key {k!r}" for k in value if k not in hints]
        for key, hint in hints.items():
            if key in value:
                errors += validate(value[key], hint, f"{path}.{key}")
        return errors
    if origin is list:
        if not isinstance(value, list):
            return [f"{path}: expected a list, got {_got(value)}"]
        (item,) = t.get_args(schema)
        return [e for i, v in enumerate(value) for e in validate(v, item, f"{path}[{i}]")]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{path}: expected an object, got {_got(value)}"]
        _, item = t.get_args(schema)
        return [e for k, v in value.items() for e in validate(v, item, f"{path}.{k}")]
    if schema is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif schema is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif schema is type(None):
        ok = value is None
    else:
        ok = isinstance(value, schema)
    return [] if ok else [f"{path}: expected {_name(schema)}, got {_got(value)}"]


def _is_typeddict(obj: t.Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, dict) and hasattr(obj, "__required_keys__")


def _name(schema: t.Any) -> str:
    return getattr(schema, "__name__", None) or str(schema).replace("typing.", "")


def _got(value: t.Any) -> str:
    if value is None:
        return "null"
    text = repr(value)
    return f"{type(value).__name__} ({text if len(text) <= 40 else text[:37] + '...'})"


# ------------------------------------------------------------------------------------- provenance
def versions() -> Versions:
    """Versions of sqltune and the libraries that decide a verdict."""
    import duckdb
    import sqlglot

    try:
        own = importlib.metadata.version("sqltune")
    except importlib.metadata.PackageNotFoundError:
        own = "unknown"
    return Versions(sqltune=own, duckdb=duckdb.__version__, sqlglot=sqlglot.__version__,
                    python=platform.python_version())  # fmt: skip


def git_hash(where: str | Path | None = None) -> str | None:
    """The commit of the git checkout holding ``where`` (default: sqltune's source), ``-dirty`` when
    it has uncommitted changes; ``None`` outside a checkout or without git."""
    folder = Path(where) if where is not None else Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=5)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=folder,
                               capture_output=True, text=True, timeout=5)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("-dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")


def now() -> str:
    """The current time, ISO 8601 with the local time zone."""
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")
