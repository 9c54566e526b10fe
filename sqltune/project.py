"""Project folders: one onboarded database under ``SQLTUNE_HOME/projects/<name>/``.

``snapshot.json`` is the current schema snapshot; the one it replaced is kept as
``snapshot.prev.json`` so drift can be reported. ``data.duckdb`` is the execution copy for
non-DuckDB sources (a DuckDB source is executed in place: see ``Schema.execution_db``).
"""

from __future__ import annotations

from pathlib import Path

from sqltune import home
from sqltune.drift import SchemaDiff, diff
from sqltune.schema import Schema


def project_path(name: str, out: str | Path | None = None) -> Path:
    return Path(out) if out else home.project_dir(name)


def save_snapshot(schema: Schema, name: str, out: str | Path | None = None) -> tuple[Path, SchemaDiff | None]:
    """Write ``schema`` as the project's snapshot; return the folder and the drift from the last one."""
    folder = project_path(name, out)
    folder.mkdir(parents=True, exist_ok=True)
    for sub in home.PROJECT_SUBDIRS:
        (folder / sub).mkdir(exist_ok=True)
    current = folder / "snapshot.json"
    drift = None
    if current.is_file():
        previous = Schema.load(current)
        drift = diff(previous, schema)
        previous.save(folder / "snapshot.prev.json")
    schema.save(current)
    return folder, drift


def load_snapshot(name: str, out: str | Path | None = None) -> Schema:
    """The project's current snapshot; an unknown project gets a did-you-mean error."""
    folder = Path(out) if out else home.existing_project_dir(name)
    return Schema.load(folder / "snapshot.json")
