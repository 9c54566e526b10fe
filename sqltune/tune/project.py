"""``tune_project``: memory-tune a model on one project's generated pairs and facts.

Reads the project's snapshot and ``pairs/`` (written by ``sqltune generate NAME``), builds the
training mix of the chosen preset, trains, measures recall, and saves the adapter into
``SQLTUNE_HOME/projects/NAME/adapters/<adapter>-<model>-<preset>/`` (see
:mod:`sqltune.tune.pipeline` for what the folder holds and how a run resumes).

Example (the README's main job)::

    from sqltune.tune.project import tune_project
    outcome = tune_project("cpg", model="qwen2.5-coder-0.5b", preset="cpu", adapter="lora")
    print(outcome.adapter_dir, outcome.recall.summary())
"""

from __future__ import annotations

import hashlib
import json
import re
import typing as t
from pathlib import Path

from sqltune import home
from sqltune.errors import ConfigError, MissingArtifactError
from sqltune.tune.config import TuneConfig
from sqltune.tune.items import fact_items, pair_items, read_generated, training_mix
from sqltune.tune.pipeline import Progress, TuneOutcome, tune_items


def adapter_folder(name: str, adapter: str, model_name: str, preset: str,
                   overrides: t.Mapping[str, t.Any] | None = None) -> Path:
    """``SQLTUNE_HOME/projects/NAME/adapters/<adapter>-<model>-<preset>[-<overrides hash>]``.

    A run with overrides gets a folder of its own, so an experiment never replaces the preset's adapter.

    >>> import os; os.environ["SQLTUNE_HOME"] = "/tmp/sqltune-doc"
    >>> adapter_folder("cpg", "lora", "Qwen/Qwen2.5-Coder-0.5B-Instruct", "cpu").name
    'lora-Qwen--Qwen2.5-Coder-0.5B-Instruct-cpu'
    >>> adapter_folder("cpg", "lora", "qwen2.5-coder-0.5b", "cpu", {"lr": 5e-4}).name
    'lora-qwen2.5-coder-0.5b-cpu-81f6cc61'
    """
    base = f"{adapter}-{model_slug(model_name)}-{preset}"
    if overrides:
        base += "-" + hashlib.sha256(json.dumps(dict(overrides), sort_keys=True).encode()).hexdigest()[:8]
    return home.project_dir(name) / "adapters" / base


def model_slug(model_name: str) -> str:
    """A folder-safe name for a model alias, hub id or path (``a/b`` -> ``a--b``; a path -> its last part)."""
    name = str(model_name).rstrip("/")
    path = Path(name).expanduser()
    if path.exists():
        name = path.stem if path.suffix == ".gguf" else path.name
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name.replace("/", "--")).strip("-.") or "model"


def tune_config(preset: str = "cpu", adapter: str = "lora",
                overrides: t.Mapping[str, t.Any] | None = None) -> TuneConfig:
    """The preset's config with ``adapter`` and ``overrides`` (unknown keys are a :class:`ConfigError`)."""
    extra = dict(overrides or {})
    if extra.get("adapter", adapter) != adapter:
        raise ConfigError(f"The adapter is given twice: {adapter!r} and {extra['adapter']!r} in the overrides.")
    extra["adapter"] = adapter
    return TuneConfig.preset(preset, **extra)


def tune_project(name: str, *, model: t.Any = None, preset: str = "cpu", adapter: str = "lora",
                 overrides: t.Mapping[str, t.Any] | None = None, out: str | Path | None = None, resume: bool = True,
                 progress: Progress | None = None) -> TuneOutcome:
    """Tune ``model`` (default: the embedded default model) on project ``name``'s generated pairs and facts.

    Args:
        model: A registry alias, local folder, ``.gguf`` file, hub id, or a loaded :class:`~sqltune.models.Model`.
        preset: ``cpu`` (sized for 2 cores, the README main job) or ``full`` (a GPU).
        adapter: ``lora`` or ``mome``.
        overrides: :class:`TuneConfig` fields over the preset, e.g. ``{"max_steps": 40}``.
        out: The adapter folder (default ``projects/NAME/adapters/<adapter>-<model>-<preset>``, with
            ``-<hash of the overrides>`` appended when there are overrides).
        resume: Continue an interrupted run and reuse a finished one; ``False`` starts afresh.
        progress: Called with each step's log row (``step``, ``loss``, ...) and with ``{"event": ...}`` rows.

    Raises :class:`~sqltune.errors.MissingArtifactError` when the project has no generated pairs, and
    :class:`~sqltune.errors.ConfigError` when they were generated for another version of its schema.
    """
    from sqltune import project as projects
    from sqltune.models import DEFAULT_MODEL

    schema = projects.load_snapshot(name)
    config = tune_config(preset, adapter, overrides)
    pairs, facts, header = read_generated(home.project_dir(name) / "pairs", name)
    fp = header.get("schema_fingerprint")
    if fp and fp != schema.fingerprint():
        raise MissingArtifactError(f"Project {name!r}'s pairs were generated for another version of its schema "
                                   f"({fp}, now {schema.fingerprint()}). Run `sqltune generate {name}` again.")
    items = training_mix(pair_items(pairs), fact_items(facts), config)
    model = model if model is not None else DEFAULT_MODEL
    model_name = model if isinstance(model, (str, Path)) else model.name
    folder = Path(out) if out else adapter_folder(name, adapter, str(model_name), preset, overrides)
    return tune_items(model, items, schema, config, folder, base_name=str(model_name), progress=progress,
                      resume=resume, project=name,
                      extra_meta={"preset": preset, "overrides": dict(overrides or {}),
                                  "pairs_run_key": header.get("run_key")})
