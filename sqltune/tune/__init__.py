"""Memory tuning: teach a base model one schema's exact identifiers from its generated pairs and facts.

* :func:`memory_tune` — tune on pairs you hold (records, dicts or ``(question, sql)`` tuples);
* :func:`sqltune.tune.project.tune_project` — tune on a project's generated ``pairs/`` (``sqltune tune``);
* :class:`TuneConfig` and its presets ``cpu`` / ``full``; :class:`TuneOutcome` (alias ``Adapter``);
* :mod:`sqltune.tune.mome` — the mixture-of-memory-experts adapter (Lamini memory tuning);
* the parts: ``data`` (encoding, weights), ``loss``, ``train`` (the loop), ``recall``, ``artifact``.

Heavy modules (torch) load on first use, so ``import sqltune.tune`` stays cheap.

>>> from sqltune.tune import TuneConfig
>>> TuneConfig.preset("cpu").prompt_mode, TuneConfig.preset("cpu").prompt_budget_tokens
('schema', 600)
"""

from __future__ import annotations

import hashlib
import typing as t
from pathlib import Path

from sqltune.tune.config import TuneConfig

if t.TYPE_CHECKING:
    from sqltune.schema import Schema
    from sqltune.tune.pipeline import Progress, TuneOutcome

_LAZY = {
    "TuneOutcome": "sqltune.tune.pipeline", "Adapter": "sqltune.tune.pipeline", "Recall": "sqltune.tune.pipeline",
    "tune_project": "sqltune.tune.project", "TuneResult": "sqltune.tune.train",
    "MoMEConfig": "sqltune.tune.mome", "MoMEModel": "sqltune.tune.mome", "TuneError": "sqltune.tune.mome",
    "apply_mome": "sqltune.tune.mome", "load_mome": "sqltune.tune.mome", "save_mome": "sqltune.tune.mome",
}

__all__ = ["Adapter", "MoMEConfig", "MoMEModel", "Recall", "TuneConfig", "TuneError", "TuneOutcome", "TuneResult",
           "apply_mome", "load_mome", "memory_tune", "save_mome", "tune_project"]


def __getattr__(name: str) -> t.Any:
    if name in _LAZY:
        import importlib

        module = importlib.import_module(_LAZY[name])
        return getattr(module, "TuneOutcome" if name == "Adapter" else name)
    raise AttributeError(f"module 'sqltune.tune' has no attribute {name!r}")


def memory_tune(model: t.Any, pairs: t.Iterable[t.Any], schema: Schema,
                config: TuneConfig | t.Mapping[str, t.Any] | str | None = None, *, facts: t.Iterable[t.Any] = (),
                out: str | Path | None = None, progress: Progress | None = None, resume: bool = True) -> TuneOutcome:
    """Memory-tune ``model`` on ``pairs`` (and schema ``facts``) of ``schema``; returns the saved adapter.

    Args:
        model: A registry alias, folder or hub id, or a loaded :class:`~sqltune.models.Model` (changed in place).
        pairs: Generated :class:`~sqltune.generate.Pair` records, dicts with ``question``/``sql`` (as in
            ``pairs.jsonl``), or ``(question, sql)`` tuples. Only ``train``-split pairs are trained on.
        config: A :class:`TuneConfig`, a dict of its fields over the ``cpu`` preset, or a preset name.
        facts: :class:`~sqltune.generate.Fact` records, dicts with ``prompt``/``target``, or tuples.
        out: The adapter folder (default ``SQLTUNE_HOME/adapters/<schema>-<adapter>-<model>-<hash>``).

    Example::

        from sqltune.tune import memory_tune
        adapter = memory_tune("smollm2-135m", [("How many brands?", 'SELECT count(*) FROM mdm."BRAND"')],
                              schema, {"max_steps": 30})
        adapter.adapter_dir, adapter.recall.summary()
    """
    from sqltune import home
    from sqltune.tune.items import fact_items, pair_items, training_mix
    from sqltune.tune.pipeline import tune_items
    from sqltune.tune.project import model_slug

    if isinstance(config, TuneConfig):
        cfg = config
    elif isinstance(config, str):
        cfg = TuneConfig.preset(config)
    else:
        cfg = TuneConfig.preset("cpu", **dict(config or {}))
    items = training_mix(pair_items(pairs), fact_items(facts), cfg)
    name = str(model) if isinstance(model, (str, Path)) else str(model.name)
    if out is None:
        digest = hashlib.sha256(f"{schema.fingerprint()}|{name}|{cfg.digest()}".encode()).hexdigest()[:8]
        out = home.home() / "adapters" / f"{schema.name}-{cfg.adapter}-{model_slug(name)}-{digest}"
    return tune_items(model, items, schema, cfg, out, base_name=name, progress=progress, resume=resume)
