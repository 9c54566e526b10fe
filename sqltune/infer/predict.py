"""Predicting an evalset: one JSONL line per case in the grader's prediction format.

Each line has ``id`` and ``sql`` (what the grader needs) plus ``candidates``, ``chosen``,
``rejected``, ``seconds``, ``model``, ``adapter`` and ``constrained``, carried into reports.
"""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

from sqltune import atomic
from sqltune.evalset import Evalset
from sqltune.infer.text2sql import Text2SQL


def predict_evalset(bot: Text2SQL, evalset: Evalset, out: str | Path,
                    progress: t.Callable[[int], None] | None = None) -> Path:
    """Answer every case of ``evalset`` and write the predictions JSONL atomically to ``out``."""
    answers = bot.predict([c.question for c in evalset.cases], progress=progress)
    lines = []
    for case, ans in zip(evalset.cases, answers):
        lines.append(json.dumps({
            "id": case.id, "sql": ans.sql, "candidates": list(ans.candidates), "chosen": ans.chosen,
            "rejected": list(ans.rejected), "seconds": ans.seconds, "model": bot.model.name,
            "adapter": bot.model.adapter, "constrained": ans.constrained,
        }, ensure_ascii=False))
    atomic.write_text(out, "\n".join(lines) + "\n")
    return Path(out)
