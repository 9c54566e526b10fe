"""One error base for the whole package, with narrow subclasses.

The CLI catches :class:`SqltuneError` and prints its message as one line;
anything else is a bug and keeps its traceback.

>>> did_you_mean("cgp", ["cpg", "biotech"])
"Did you mean 'cpg'?"
>>> str(NotFoundError("project", "cgp", ["cpg", "biotech"]))
"Unknown project 'cgp'. Did you mean 'cpg'?"
"""

from __future__ import annotations

import difflib
import typing as t


class SqltuneError(Exception):
    """Base class of every error sqltune raises on purpose."""


class ConfigError(SqltuneError):
    """A config, option or file given by the user is malformed."""


class NotFoundError(SqltuneError):
    """A named thing (project, sample, table, column, evalset…) does not exist."""

    def __init__(self, kind: str, name: str, choices: t.Iterable[str] = ()) -> None:
        self.kind = kind
        self.name = name
        self.choices = sorted(set(choices))
        hint = did_you_mean(name, self.choices)
        if not hint and self.choices and len(self.choices) <= 12:
            hint = "Known: " + ", ".join(self.choices) + "."
        super().__init__(f"Unknown {kind} {name!r}." + (f" {hint}" if hint else ""))


class ConnectionFailedError(SqltuneError):
    """A database URL is malformed or its server cannot be reached."""


class IntrospectionError(SqltuneError):
    """The schema of a reachable database could not be read."""


class SchemaError(SqltuneError):
    """A schema snapshot is malformed or does not match what was asked."""


class SandboxError(SqltuneError):
    """The sandbox could not be set up (e.g. a database file that does not exist).

    Bad SQL never raises this: :func:`sqltune.sandbox.execute` returns a failed
    :class:`~sqltune.sandbox.Execution` instead.
    """


class SampleError(SqltuneError):
    """A sample database could not be built or is of another version."""


def did_you_mean(name: str, choices: t.Iterable[str]) -> str:
    """A ``"Did you mean 'x'?"`` hint for a misspelt name, or ``""`` when nothing is close."""
    pool = list(choices)
    close = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in pool}
        close = [lowered[m] for m in difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)]
    return f"Did you mean {close[0]!r}?" if close else ""


class SqlParseError(SqltuneError):
    """SQL that sqltune itself must understand (a gold query, a generated pair) does not parse."""


class ModelError(SqltuneError):
    """A model could not be resolved, fetched, verified or loaded."""


class MissingArtifactError(SqltuneError):
    """A step's input was never produced (e.g. tuning before generation); the message says which command makes it."""


def check_keys(cls: type, data: t.Mapping[str, t.Any], what: str) -> None:
    """Raise :class:`ConfigError` for a key of ``data`` that is not a field of dataclass ``cls``.

    >>> import dataclasses
    >>> @dataclasses.dataclass
    ... class Opts:
    ...     subset: int = 0
    >>> check_keys(Opts, {"subsets": 1}, "evaluation option")
    Traceback (most recent call last):
    ...
    sqltune.errors.ConfigError: Unknown evaluation option 'subsets'. Did you mean 'subset'?
    """
    import dataclasses

    names = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in names:
            raise ConfigError(f"Unknown {what} {key!r}. {did_you_mean(key, names)}".strip())
