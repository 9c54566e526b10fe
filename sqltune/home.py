"""Where sqltune keeps things on disk.

``SQLTUNE_HOME`` (default ``~/.cache/sqltune``, or ``$XDG_CACHE_HOME/sqltune``)::

    models/<alias>/          converted weights (safetensors), reused across runs
    samples/<name>.duckdb    built sample databases
    projects/<name>/         one onboarded database: snapshot.json, data.duckdb,
                             pairs/, evalsets/, adapters/, runs/, history.duckdb

>>> import os
>>> os.environ["SQLTUNE_HOME"] = "/tmp/sqltune-doc"
>>> str(project_dir("shop"))
'/tmp/sqltune-doc/projects/shop'
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from sqltune.errors import ConfigError, NotFoundError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

PROJECT_SUBDIRS = ("pairs", "evalsets", "adapters", "runs")


def home() -> Path:
    """The root folder; created on first use."""
    env = os.environ.get("SQLTUNE_HOME")
    if env:
        root = Path(env).expanduser()
    else:
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        root = Path(cache) / "sqltune"
    return root


def check_name(name: str, kind: str = "project") -> str:
    """Return ``name`` if it is a valid project/sample name, else raise :class:`ConfigError`."""
    if not _NAME.match(name or ""):
        raise ConfigError(
            f"Invalid {kind} name {name!r}: use letters, digits, '_', '.', '-' (max 64, no leading punctuation)."
        )
    return name


def models_dir() -> Path:
    return home() / "models"


def samples_dir() -> Path:
    return home() / "samples"


def sample_path(name: str) -> Path:
    return samples_dir() / f"{check_name(name, 'sample')}.duckdb"


def projects_dir() -> Path:
    return home() / "projects"


def project_dir(name: str) -> Path:
    return projects_dir() / check_name(name)


def list_projects() -> list[str]:
    root = projects_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "snapshot.json").is_file())


def existing_project_dir(name: str) -> Path:
    """The folder of an onboarded project, or :class:`NotFoundError` with a did-you-mean."""
    path = project_dir(name)
    if not (path / "snapshot.json").is_file():
        raise NotFoundError("project", name, list_projects())
    return path
