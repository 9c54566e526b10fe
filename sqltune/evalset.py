"""Evalsets: hand-checked questions with gold SQL, as data (lm-eval's task-as-YAML, sqlglot's tests-as-data).

An evalset is a YAML header plus a JSONL file of cases, either side by side (``<name>.yaml`` and
``<name>.jsonl``) or in a folder ``<name>/`` holding ``<name>.yaml`` (or ``evalset.yaml``) and
``<name>.jsonl`` (or ``cases.jsonl``). The header::

    name: cpg-core                # required
    sample: cpg                   # exactly one of sample / project
    sample_version: 1             # optional: the sample database version the golds were checked on
    dialect: duckdb               # optional; only duckdb
    version: 3                    # required: bump whenever cases change
    reference_date: 2025-06-30    # optional: the "today" relative questions are about
    policy: {rel_tol: 1.0e-6}     # optional: sqltune.grade.ComparisonPolicy fields
    description: Core questions.  # optional
    provenance: {tool: sqltune onboard}  # optional mapping: how a drafted evalset was made

One case per line (blank lines are skipped)::

    {"id": "c1", "question": "How many brands?", "gold_sql": "SELECT count(*) FROM mdm.BRAND",
     "difficulty": "easy", "tags": ["count"], "notes": "", "reviewed": true}

``gold_sql`` is a string or a list of acceptable alternatives; ``difficulty`` (``easy``, ``medium``,
``hard``), ``tags``, ``notes`` and ``reviewed`` (default ``true``) are optional. A case with
``reviewed: false`` (a drafted one, see :mod:`sqltune.onboard`) is not graded: grading reports it
as skipped until an expert accepts it (``sqltune evalset review``). Loading collects
every problem (bad JSON, missing or mistyped keys, unknown keys with a did-you-mean, duplicate ids)
with its file and line, and raises one :class:`EvalsetError` listing them all.
:func:`validate_evalset` then runs every gold through the sandbox.

>>> import pathlib, tempfile
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "demo.yaml").write_text("name: demo\\nsample: cpg\\nversion: 1\\n")
>>> _ = (d / "demo.jsonl").write_text('{"id": "q1", "question": "Two?", "gold_sql": "SELECT 2"}\\n{"id": "q1"}\\n')
>>> try:
...     load_evalset(d / "demo.yaml")
... except EvalsetError as e:
...     print(e)
Evalset demo.yaml has 2 problems:
  demo.jsonl:2: missing 'question', 'gold_sql'
  demo.jsonl:2: duplicate id 'q1' (first on line 1)
>>> _ = (d / "demo.jsonl").write_text('{"id": "q1", "question": "Two?", "gold_sql": ["SELECT 2", "SELECT 1 + 1"]}\\n')
>>> load_evalset(d / "demo.yaml").case("q1").gold_sql
('SELECT 2', 'SELECT 1 + 1')
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import typing as t
from pathlib import Path

import yaml

from sqltune import home
from sqltune.difficulty import TIERS
from sqltune.errors import ConfigError, NotFoundError, did_you_mean
from sqltune.resources import resource_dir

if t.TYPE_CHECKING:
    from sqltune.grade.policy import ComparisonPolicy
    from sqltune.schema import Schema

__all__ = ["EvalCase", "Evalset", "EvalsetError", "Problem", "ValidationReport", "load_evalset", "validate_evalset"]

HEADER_KEYS: t.Final = ("name", "sample", "project", "sample_version", "dialect", "version", "reference_date",
                        "policy", "description", "provenance")  # fmt: skip
CASE_KEYS: t.Final = ("id", "question", "gold_sql", "difficulty", "tags", "notes", "reviewed")
_REQUIRED_CASE_KEYS: t.Final = ("id", "question", "gold_sql")


class EvalsetError(ConfigError):
    """An evalset file is malformed, or one of its golds is broken; ``problems`` lists each one."""

    def __init__(self, message: str, problems: t.Sequence[str] = ()) -> None:
        self.problems = tuple(problems)
        super().__init__(message)


@dataclasses.dataclass(frozen=True)
class EvalCase:
    """One question with its acceptable gold queries (``line`` is where it is in the JSONL file)."""

    id: str
    question: str
    gold_sql: tuple[str, ...]
    difficulty: str | None = None
    tags: tuple[str, ...] = ()
    notes: str = ""
    reviewed: bool = True
    line: int = dataclasses.field(default=0, compare=False)


@dataclasses.dataclass(frozen=True)
class Evalset:
    """A loaded evalset: its header fields and its cases in file order."""

    name: str
    version: str
    cases: tuple[EvalCase, ...]
    policy: ComparisonPolicy
    sample: str | None = None
    project: str | None = None
    sample_version: int | None = None
    dialect: str = "duckdb"
    reference_date: str | None = None
    description: str = ""
    path: Path | None = dataclasses.field(default=None, compare=False)
    provenance: t.Mapping[str, t.Any] = dataclasses.field(default_factory=dict, compare=False)

    def __len__(self) -> int:
        return len(self.cases)

    def __iter__(self) -> t.Iterator[EvalCase]:
        return iter(self.cases)

    def case(self, case_id: str) -> EvalCase:
        """The case with this id; a did-you-mean :class:`NotFoundError` otherwise."""
        for c in self.cases:
            if c.id == case_id:
                return c
        raise NotFoundError(f"case of evalset {self.name!r}", case_id, [c.id for c in self.cases])

    @property
    def unreviewed(self) -> tuple[str, ...]:
        """Ids of the cases marked ``reviewed: false`` (graders skip them)."""
        return tuple(c.id for c in self.cases if not c.reviewed)

    def reviewed_only(self) -> Evalset:
        """This evalset without its unreviewed cases (itself when every case is reviewed)."""
        if not self.unreviewed:
            return self
        return dataclasses.replace(self, cases=tuple(c for c in self.cases if c.reviewed))


# ------------------------------------------------------------------------------------- loading
def load_evalset(path_or_name: str | os.PathLike[str], *, project_dir: str | os.PathLike[str] | None = None) -> Evalset:
    """Load an evalset from a header path, a cases path, a folder, or a name.

    A name is looked up in ``<project_dir>/evalsets/`` (when given), then among the evalsets that
    ship with sqltune (:func:`sqltune.resources.resource_dir`).

    Raises:
        NotFoundError: No evalset has that name (with a did-you-mean).
        EvalsetError: The files are malformed; the message lists every problem with its line.
    """
    header_path, cases_path = _locate(path_or_name, project_dir)
    problems: list[str] = []
    header = _read_header(header_path, problems)
    cases = _read_cases(cases_path, problems) if cases_path.is_file() else []
    if not cases_path.is_file():
        problems.append(f"{header_path.name}: cases file {cases_path.name} not found")
    elif not cases and not problems:
        problems.append(f"{cases_path.name}: no cases")
    if problems:
        noun = "problem" if len(problems) == 1 else "problems"
        listing = "\n".join("  " + p for p in problems)
        raise EvalsetError(f"Evalset {header_path.name} has {len(problems)} {noun}:\n{listing}", problems)
    return Evalset(cases=tuple(cases), path=header_path, **header)


def _locate(target: str | os.PathLike[str], project_dir: str | os.PathLike[str] | None) -> tuple[Path, Path]:
    path = Path(target).expanduser()
    if path.is_dir():
        header = _first(path / f"{path.name}.yaml", path / f"{path.name}.yml", path / "evalset.yaml")
        return header, _first(path / f"{path.name}.jsonl", path / "cases.jsonl")
    if path.suffix in (".yaml", ".yml", ".jsonl") or path.is_file():
        if not path.is_file():
            raise EvalsetError(f"Evalset file not found: {path}")
        if path.suffix == ".jsonl":
            return _first(path.with_suffix(".yaml"), path.with_suffix(".yml")), path
        return path, _first(path.with_suffix(".jsonl"), path.parent / "cases.jsonl")
    name = home.check_name(str(target), "evalset")
    roots = ([Path(project_dir) / "evalsets"] if project_dir else []) + [resource_dir("evalsets")]
    known: set[str] = set()
    for root in roots:
        for candidate in (root / f"{name}.yaml", root / f"{name}.yml", root / name):
            if candidate.exists():
                return _locate(candidate, None)
        if root.is_dir():
            known |= {p.stem for p in root.iterdir() if p.suffix in (".yaml", ".yml") or p.is_dir()}
    raise NotFoundError("evalset", name, known)


def _first(*paths: Path) -> Path:
    return next((p for p in paths if p.is_file()), paths[0])


def _read_header(path: Path, problems: list[str]) -> dict[str, t.Any]:
    from sqltune.grade.policy import ComparisonPolicy

    where = path.name
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvalsetError(f"Evalset header not found: {path}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problems.append(f"{where}{line}: invalid YAML: {getattr(e, 'problem', None) or e}")
        return {}
    if not isinstance(data, dict):
        problems.append(f"{where}: expected a mapping of header keys, got {type(data).__name__}")
        return {}
    out: dict[str, t.Any] = {}
    _unknown_keys(data, HEADER_KEYS, where, problems)
    for key in ("name", "version"):
        if data.get(key) in (None, ""):
            problems.append(f"{where}: missing {key!r}")
    if bool(data.get("sample")) == bool(data.get("project")):
        problems.append(f"{where}: give exactly one of 'sample' or 'project'")
    for key in ("name", "sample", "project", "description"):
        if data.get(key) is not None and not isinstance(data[key], str):
            problems.append(f"{where}: {key!r} must be a string, got {type(data[key]).__name__}")
        elif data.get(key) is not None:
            out[key] = data[key]
    if data.get("version") not in (None, ""):
        out["version"] = str(data["version"])
    if data.get("sample_version") is not None:
        if isinstance(data["sample_version"], bool) or not isinstance(data["sample_version"], int):
            problems.append(f"{where}: 'sample_version' must be an integer, got {data['sample_version']!r}")
        else:
            out["sample_version"] = data["sample_version"]
    if str(data.get("dialect", "duckdb")).lower() != "duckdb":
        problems.append(f"{where}: dialect {data['dialect']!r} is not supported (only 'duckdb')")
    ref = data.get("reference_date")
    if ref is not None:
        try:
            out["reference_date"] = (ref if isinstance(ref, dt.date) else dt.date.fromisoformat(str(ref))).isoformat()
        except ValueError:
            problems.append(f"{where}: 'reference_date' must be YYYY-MM-DD, got {ref!r}")
    if data.get("provenance") is not None:
        if not isinstance(data["provenance"], dict):
            problems.append(f"{where}: 'provenance' must be a mapping, got {type(data['provenance']).__name__}")
        else:
            out["provenance"] = data["provenance"]
    try:
        out["policy"] = ComparisonPolicy.from_dict(data.get("policy"))
    except ConfigError as e:
        problems.append(f"{where}: policy: {e}")
    return out


def _read_cases(path: Path, problems: list[str]) -> list[EvalCase]:
    cases: list[EvalCase] = []
    first_line: dict[str, int] = {}
    for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        where = f"{path.name}:{n}"
        if not text.strip():
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            problems.append(f"{where}: invalid JSON: {e.msg} (column {e.colno})")
            continue
        if not isinstance(data, dict):
            problems.append(f"{where}: expected a JSON object, got {type(data).__name__}")
            continue
        before = len(problems)
        case = _case(data, where, n, problems)
        cid = data.get("id")
        if isinstance(cid, str) and cid:
            if cid in first_line:
                problems.append(f"{where}: duplicate id {cid!r} (first on line {first_line[cid]})")
            else:
                first_line[cid] = n
        if case is not None and len(problems) == before:
            cases.append(case)
    return cases


def _case(data: dict[str, t.Any], where: str, line: int, problems: list[str]) -> EvalCase | None:
    _unknown_keys(data, CASE_KEYS, where, problems)
    missing = [k for k in _REQUIRED_CASE_KEYS if k not in data]
    if missing:
        problems.append(f"{where}: missing " + ", ".join(repr(k) for k in missing))
    bad: list[str] = []
    for key in ("id", "question"):
        if key in data and (not isinstance(data[key], str) or not data[key].strip()):
            bad.append(f"{key!r} must be a non-empty string")
    gold = data.get("gold_sql")
    golds = (gold,) if isinstance(gold, str) else tuple(gold) if isinstance(gold, list) else None
    if "gold_sql" in data and (not golds or not all(isinstance(g, str) and g.strip() for g in golds)):
        bad.append("'gold_sql' must be a non-empty string or a non-empty list of them")
    if data.get("difficulty") is not None and data["difficulty"] not in TIERS:
        hint = did_you_mean(str(data["difficulty"]), TIERS) or f"Use one of: {', '.join(TIERS)}."
        bad.append(f"'difficulty' {data['difficulty']!r} is not a tier. {hint}")
    tags = data.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(x, str) for x in tags):
        bad.append("'tags' must be a list of strings")
    if not isinstance(data.get("notes", ""), str):
        bad.append("'notes' must be a string")
    if not isinstance(data.get("reviewed", True), bool):
        bad.append("'reviewed' must be true or false")
    problems.extend(f"{where}: {b}" for b in bad)
    if missing or bad:
        return None
    return EvalCase(data["id"], data["question"], t.cast(tuple, golds), data.get("difficulty"), tuple(tags),
                    data.get("notes", ""), data.get("reviewed", True), line)  # fmt: skip


def _unknown_keys(data: dict[str, t.Any], known: t.Sequence[str], where: str, problems: list[str]) -> None:
    for key in data:
        if key not in known:
            hint = did_you_mean(str(key), known) or "Known: " + ", ".join(known) + "."
            problems.append(f"{where}: unknown key {key!r}. {hint}")


# ----------------------------------------------------------------------------------- validation
@dataclasses.dataclass(frozen=True)
class Problem:
    """One finding of :func:`validate_evalset`; ``case_id`` is ``None`` for the evalset as a whole."""

    case_id: str | None
    severity: str  # "error" | "warning"
    message: str

    def __str__(self) -> str:
        return f"{self.case_id or '(evalset)'}: {self.severity}: {self.message}"


@dataclasses.dataclass(frozen=True)
class ValidationReport:
    """Everything :func:`validate_evalset` found; truthy (``.ok``) when there is no error."""

    evalset: str
    cases: int
    problems: tuple[Problem, ...] = ()
    measured: dict[str, str] = dataclasses.field(default_factory=dict, compare=False)

    @property
    def ok(self) -> bool:
        return not self.errors

    def __bool__(self) -> bool:
        return self.ok

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "warning")

    def for_case(self, case_id: str) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.case_id == case_id)

    def summary(self) -> str:
        head = f"{self.evalset}: {self.cases} cases, {len(self.errors)} errors, {len(self.warnings)} warnings"
        return "\n".join([head, *("  " + str(p) for p in self.problems)])


def validate_evalset(
    evalset: Evalset, db: str | os.PathLike[str], *, schema: Schema | None = None,
    sample_version: int | None = None, timeout_s: float = 30.0, row_cap: int = 10_000,
) -> ValidationReport:  # fmt: skip
    """Run every gold through the sandbox and check the evalset against the database.

    Errors: the database's ``sample_version`` (argument, else ``schema.sample_version``) differs from
    the evalset's; a gold does not parse, fails, times out, is unsafe, returns nothing or more than
    ``row_cap`` rows, or is non-deterministic (a ``LIMIT`` without ``ORDER BY`` anywhere, a top-level
    ``LIMIT``/``OFFSET`` cutting through rows tied on the ``ORDER BY`` keys, ``random()`` and the like);
    with ``schema``, a gold naming tables or columns the snapshot lacks. Warnings: a declared difficulty
    other than the measured one (:func:`sqltune.difficulty.measure`), unreviewed cases, golds relying
    on case-insensitive identifiers, ties the grader could not resolve exactly.
    """
    from sqltune.grade import grader
    from sqltune.grade.invented import invented_identifiers

    problems: list[Problem] = []
    db_version = sample_version if sample_version is not None else (schema.sample_version if schema else None)
    if evalset.sample_version is not None and db_version is not None and db_version != evalset.sample_version:
        problems.append(Problem(None, "error", f"evalset is for sample_version {evalset.sample_version}, "
                                               f"the database is version {db_version}"))  # fmt: skip
    measured: dict[str, str] = {}
    cache: dict[t.Any, t.Any] = {}
    for case in evalset.cases:
        found: list[tuple[str, str]] = []
        if not case.reviewed:
            found.append(("warning", "not reviewed"))
        for k, sql in enumerate(case.gold_sql):
            tag = f"gold {k + 1}: " if len(case.gold_sql) > 1 else "gold: "
            findings, tier = grader.check_gold(sql, db, case_id=case.id, policy=evalset.policy, cache=cache,
                                               timeout_s=timeout_s, row_cap=row_cap)  # fmt: skip
            found += [(sev, tag + msg) for sev, msg in findings]
            if tier is None:
                continue
            measured.setdefault(case.id, tier)
            if case.difficulty and case.difficulty != tier:
                found.append(("warning", f"{tag}declared difficulty {case.difficulty!r}, measured {tier!r}"))
            if schema is not None:
                inv = invented_identifiers(sql, schema)
                if inv.tables or inv.columns:
                    found.append(("error", tag + "not in the schema snapshot: " + ", ".join(inv.tables + inv.columns)))
                if inv.case_mismatches:
                    found.append(("warning", tag + "identifiers resolved only case-insensitively: "
                                  + ", ".join(inv.case_mismatches)))  # fmt: skip
        problems += [Problem(case.id, sev, msg) for sev, msg in found]
    return ValidationReport(evalset.name, len(evalset.cases), tuple(problems), measured)



def stratified_subset(evalset: Evalset, per_tier: int = 10) -> Evalset:
    """A fixed subset: the first ``per_tier`` cases of each declared tier, in file order.

    >>> ev = Evalset("x", "1", tuple(EvalCase(f"c{i}", "q", ("SELECT 1",), tier)
    ...              for i, tier in enumerate(["easy", "hard", "easy", "medium", "easy"])), policy=None)
    >>> [c.id for c in stratified_subset(ev, 2).cases]
    ['c0', 'c1', 'c2', 'c3']
    """
    seen: dict[str | None, int] = {}
    keep = []
    for case in evalset.cases:
        if seen.get(case.difficulty, 0) < per_tier:
            seen[case.difficulty] = seen.get(case.difficulty, 0) + 1
            keep.append(case)
    return dataclasses.replace(evalset, cases=tuple(keep))
