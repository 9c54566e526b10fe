"""The nightly accuracy regression job: ``sqltune nightly CONFIG``.

* :mod:`~sqltune.nightly.config`: the YAML config (projects, evalsets, models, adapters, options, thresholds);
* :mod:`~sqltune.nightly.run`: predict, grade, record and compare every combination (:func:`run_nightly`);
* :mod:`~sqltune.nightly.history`: the ``history.duckdb`` of runs and per-item results;
* :mod:`~sqltune.nightly.compare`: deltas per tier, flipped items, the exact McNemar test;
* :mod:`~sqltune.nightly.report`: JUnit XML, Markdown and HTML with SVG trend plots.
"""

from __future__ import annotations

from sqltune.nightly.compare import Comparison, Delta, Flip, compare, mcnemar
from sqltune.nightly.config import Combination, NightlyConfig, Thresholds, load_config
from sqltune.nightly.history import History, ItemRecord, RunRecord
from sqltune.nightly.run import EXIT_ERROR, EXIT_OK, EXIT_REGRESSION, ComboOutcome, NightlyResult, run_nightly

__all__ = [
    "EXIT_ERROR", "EXIT_OK", "EXIT_REGRESSION", "Combination", "ComboOutcome", "Comparison", "Delta", "Flip",
    "History", "ItemRecord", "NightlyConfig", "NightlyResult", "RunRecord", "Thresholds", "compare", "load_config",
    "mcnemar", "run_nightly",
]  # fmt: skip
