"""Which database and schema snapshot an evalset (or a project) runs against.

An evalset names a ``sample`` (built on demand, introspected with its dictionary) or a
``project`` (its saved snapshot and execution file).
"""

from __future__ import annotations

from pathlib import Path

from sqltune.errors import ConfigError
from sqltune.schema import Schema


def resolve_target(sample: str | None = None, project: str | None = None) -> tuple[Path, Schema]:
    """The DuckDB execution file and schema snapshot of a sample or a project."""
    if project:
        from sqltune import project as projects

        schema = projects.load_snapshot(project)
        if not schema.execution_db:
            raise ConfigError(f"Project {project!r} has no execution database; re-run sqltune introspect.")
        return Path(schema.execution_db), schema
    if sample:
        from sqltune import samples
        from sqltune.introspect import introspect

        path = samples.build_sample(sample)
        return path, introspect(f"sample:{sample}", joins=None)
    raise ConfigError("Say which database: a sample or a project.")
