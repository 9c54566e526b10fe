"""Reviewing drafted evalset cases: accept, edit the SQL or the question, or drop.

:class:`CaseFile` edits one evalset's JSONL in place (each save atomic, so a review can stop and
resume any time); accepting sets ``reviewed: true``; a new gold is run in the sandbox first and
must return rows (its difficulty is re-measured); a dropped case moves to
``<cases>.dropped.jsonl`` beside the cases file and is never drafted again. Saving bumps an
integer ``version`` in the header once per session and re-splits the project's pairs so that
training never sees a gold (:func:`sqltune.onboard.holdout.resplit`).

:func:`review` is the non-interactive path (``sqltune evalset review NAME --accept ID``).

>>> import pathlib, tempfile
>>> d = pathlib.Path(tempfile.mkdtemp()) / "draft"
>>> d.mkdir()
>>> _ = (d / "draft.yaml").write_text("name: d\\nproject: p\\nversion: 1\\n")
>>> _ = (d / "draft.jsonl").write_text('{"id": "a", "question": "Two?", "gold_sql": "SELECT 2", "reviewed": false}\\n'
...                                    '{"id": "b", "question": "One?", "gold_sql": "SELECT 1", "reviewed": false}\\n')
>>> f = CaseFile(d)
>>> f.accept("a"); f.drop("b"); f.save()
>>> from sqltune.evalset import load_evalset
>>> ev = load_evalset(d)
>>> [(c.id, c.reviewed) for c in ev.cases], ev.version
([('a', True)], '2')
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import typing as t
from pathlib import Path

from sqltune import atomic
from sqltune.errors import ConfigError, NotFoundError

__all__ = ["CaseFile", "ReviewOutcome", "check_sql", "review"]


@dataclasses.dataclass(frozen=True)
class ReviewOutcome:
    """What a review changed, and the ids still unreviewed."""

    accepted: tuple[str, ...]
    edited: tuple[str, ...]
    dropped: tuple[str, ...]
    remaining: tuple[str, ...]
    path: Path


class CaseFile:
    """The cases of one evalset as raw JSON objects, edited in place (see the module docstring).

    Args:
        target: Anything :func:`sqltune.evalset.load_evalset` takes (a folder, a header, a name).
        project_dir: Where names are looked up (and whose pairs are re-split on save).
    """

    def __init__(self, target: str | os.PathLike[str], *, project_dir: str | os.PathLike[str] | None = None) -> None:
        from sqltune.evalset import load_evalset

        self.evalset = load_evalset(target, project_dir=project_dir)  # refuses a malformed file, listing problems
        assert self.evalset.path is not None
        self.header_path = self.evalset.path
        self.project_dir = Path(project_dir) if project_dir else None
        if self.project_dir is not None and self.project_dir.resolve() not in self.header_path.resolve().parents:
            raise ConfigError(f"Evalset {self.evalset.name!r} ({self.header_path}) is not one of the project's "
                              f"evalsets (in {self.project_dir / 'evalsets'}); edit that file directly.")
        cases = [c.line for c in self.evalset.cases]
        self.cases_path = _cases_path(self.header_path)
        lines = self.cases_path.read_text(encoding="utf-8").splitlines()
        self.rows: list[dict[str, t.Any]] = [json.loads(lines[n - 1]) for n in cases]
        self.dropped_path = self.cases_path.with_name(self.cases_path.stem + ".dropped.jsonl")
        self._dropped: list[dict[str, t.Any]] = []  # not yet written to the .dropped.jsonl file
        self.dropped: list[str] = []
        self.accepted: list[str] = []
        self.edited: list[str] = []
        self._dirty = False
        self._bumped = False

    # ------------------------------------------------------------------------- reading
    def ids(self) -> list[str]:
        return [r["id"] for r in self.rows]

    def unreviewed(self) -> list[str]:
        return [r["id"] for r in self.rows if not r.get("reviewed", True)]

    def row(self, case_id: str) -> dict[str, t.Any]:
        for r in self.rows:
            if r["id"] == case_id:
                return r
        raise NotFoundError(f"case of evalset {self.evalset.name!r}", case_id, self.ids())

    # ------------------------------------------------------------------------- editing
    def accept(self, case_id: str) -> None:
        """Mark the case reviewed: from now on it is graded and counted."""
        r = self.row(case_id)
        if r.get("reviewed", True) is not True:
            r["reviewed"] = True
            self.accepted.append(case_id)
            self._dirty = True

    def set_sql(self, case_id: str, sql: str, db: str | os.PathLike[str] | None) -> None:
        """Replace the gold (checked in the sandbox against ``db`` when given); the case stays unreviewed
        until accepted, and its difficulty becomes the measured one.

        Raises:
            ConfigError: The new gold does not parse, fails, returns nothing or is non-deterministic.
        """
        from sqltune.difficulty import measure

        r = self.row(case_id)
        if db is not None:
            errors = check_sql(sql, db)
            if errors:
                raise ConfigError(f"New gold for {case_id!r} rejected: " + "; ".join(errors))
        r["gold_sql"] = sql
        try:
            r["difficulty"] = measure(sql).tier
        except Exception:  # noqa: BLE001 - check_sql already reported a parse problem when db was given
            pass
        self.edited.append(case_id)
        self._dirty = True

    def set_question(self, case_id: str, question: str) -> None:
        if not question.strip():
            raise ConfigError("A question cannot be empty.")
        self.row(case_id)["question"] = question.strip()
        self.edited.append(case_id)
        self._dirty = True

    def drop(self, case_id: str) -> None:
        """Remove the case; it goes to the ``.dropped.jsonl`` file and is never drafted again."""
        r = self.row(case_id)
        self.rows.remove(r)
        self._dropped.append(r)
        self.dropped.append(case_id)
        self._dirty = True

    def save(self) -> None:
        """Write the cases (and the dropped ones) atomically; bump an integer ``version`` once; re-split
        the project's pairs against the evalsets. Nothing is written when nothing changed."""
        if not self._dirty:
            return
        from sqltune.generate.writer import dumps

        atomic.write_text(self.cases_path, "".join(dumps(r) + "\n" for r in self.rows))
        if self._dropped:
            old = self.dropped_path.read_text(encoding="utf-8") if self.dropped_path.is_file() else ""
            atomic.write_text(self.dropped_path, old + "".join(dumps(r) + "\n" for r in self._dropped))
            self._dropped = []
        if not self._bumped:
            self._bumped = _bump_version(self.header_path)
        self._dirty = False
        if self.project_dir is not None:
            from sqltune.onboard.holdout import resplit

            resplit(self.project_dir)


def check_sql(sql: str, db: str | os.PathLike[str]) -> list[str]:
    """The errors a gold would have (does not parse, fails, returns nothing, non-deterministic…)."""
    from sqltune.grade import grader

    findings, _ = grader.check_gold(sql, db)
    return [msg for sev, msg in findings if sev == "error"]


def review(project: str, evalset: str = "draft", *, accept: t.Iterable[str] = (), accept_all: bool = False,
           drop: t.Iterable[str] = (), sql: t.Mapping[str, str] | None = None,
           questions: t.Mapping[str, str] | None = None) -> ReviewOutcome:
    """Apply review decisions to an evalset of project ``project`` without prompting.

    Edits (``sql``, ``questions``: case id → new text) are applied first, then drops, then accepts
    (``accept_all`` accepts every unreviewed case left, edited ones included).

    Raises:
        NotFoundError: No such project, evalset or case id (with a did-you-mean).
        ConfigError: A new gold is broken (nothing is written then).
    """
    from sqltune import home
    from sqltune.targets import resolve_target

    folder = home.existing_project_dir(project)
    f = CaseFile(evalset, project_dir=folder)
    ids = set(f.ids())
    for case_id in [*(sql or {}), *(questions or {}), *drop, *accept]:
        if case_id not in ids:
            f.row(case_id)  # raises NotFoundError with a did-you-mean
    db = resolve_target(project=project)[0] if sql else None
    for case_id, text in (sql or {}).items():
        f.set_sql(case_id, text, db)
    for case_id, text in (questions or {}).items():
        f.set_question(case_id, text)
    for case_id in drop:
        f.drop(case_id)
    for case_id in f.unreviewed() if accept_all else accept:
        f.accept(case_id)
    f.save()
    return ReviewOutcome(tuple(f.accepted), tuple(dict.fromkeys(f.edited)), tuple(f.dropped), tuple(f.unreviewed()),
                         f.cases_path)


def _cases_path(header: Path) -> Path:
    from sqltune.evalset import _locate

    return _locate(header, None)[1]


def _bump_version(header: Path) -> bool:
    """Add one to an integer ``version:`` line of the header, keeping every other line as it is."""
    text = header.read_text(encoding="utf-8")
    m = re.search(r"^version:[ \t]*[\"']?(\d+)[\"']?[ \t]*(#.*)?$", text, flags=re.M)
    if m is None:
        return False
    line = f"version: {int(m.group(1)) + 1}" + (f"  {m.group(2)}" if m.group(2) else "")
    atomic.write_text(header, text[: m.start()] + line + text[m.end():])
    return True
