"""Tuning a base model on a schema's question/SQL pairs.

:mod:`sqltune.tune.mome` is the mixture-of-memory-experts adapter (Lamini memory tuning).
"""

from __future__ import annotations

from sqltune.tune.mome import MoMEConfig, MoMEModel, TuneError, apply_mome, load_mome, save_mome

__all__ = ["MoMEConfig", "MoMEModel", "TuneError", "apply_mome", "load_mome", "save_mome"]
