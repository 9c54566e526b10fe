"""Predicting an evalset: one JSONL line per case in the grader's prediction format.

Each line has ``id`` and ``sql`` (what the grader needs) plus ``candidates``, ``chosen``,
``rejected``, ``seconds``, ``model``, ``adapter`` and ``constrained``, carried into reports.

A run is resumable: after every decoding batch the lines so far are written atomically to
``<out>.partial``; a later call with the same ``out`` skips the cases found there (the batches are
the same ones, so the result is too) and the finished file replaces the partial one atomically.
"""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

from sqltune import atomic
from sqltune.evalset import Evalset
from sqltune.infer.text2sql import Text2SQL


def predict_evalset(bot: Text2SQL, evalset: Evalset, out: str | Path,
                    progress: t.Callable[[int], None] | None = None,
                    first: t.Mapping[str, tuple[t.Sequence[str], float]] | None = None) -> Path:
    """Answer every case of ``evalset`` and write the predictions JSONL atomically to ``out``.

    ``first``: per case id, free candidates and their seconds for a repairing ``bot`` (see
    :meth:`Text2SQL.predict`); used when it has every case of a batch.
    """
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    done = _read_partial(partial, {c.id for c in evalset.cases})
    lines = [done[c.id] for c in evalset.cases if c.id in done]
    if progress and lines:
        progress(len(lines))
    todo = [c for c in evalset.cases if c.id not in done]
    step = max(bot.decode.batch_size, 1)
    for start in range(0, len(todo), step):
        chunk = todo[start:start + step]
        given = [first[c.id] for c in chunk if c.id in first] if first else []
        answers = bot.predict([c.question for c in chunk], progress=progress,
                              **({"first": given} if len(given) == len(chunk) else {}))
        for case, ans in zip(chunk, answers):
            lines.append(json.dumps({
                "id": case.id, "sql": ans.sql, "candidates": list(ans.candidates), "chosen": ans.chosen,
                "rejected": list(ans.rejected), "seconds": ans.seconds, "model": bot.model.name,
                "adapter": bot.model.adapter, "constrained": ans.constrained,
            }, ensure_ascii=False))
        if start + step < len(todo):
            atomic.write_text(partial, "\n".join(lines) + "\n")
    order = {c.id: i for i, c in enumerate(evalset.cases)}
    lines.sort(key=lambda line: order[json.loads(line)["id"]])
    atomic.write_text(out, "\n".join(lines) + "\n")
    partial.unlink(missing_ok=True)
    return out


def read_candidates(path: str | Path) -> dict[str, tuple[list[str], float]]:
    """Per case id, the candidates and generation seconds of a predictions file (for ``first``)."""
    out: dict[str, tuple[list[str], float]] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            out[row["id"]] = (list(row.get("candidates") or [row["sql"]]), float(row.get("seconds", {}).get("generate", 0)))
    return out


def resumed_seconds(out: str | Path) -> float:
    """Decoding and selection seconds already spent on the cases in ``<out>.partial`` (0 without one)."""
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    total = 0.0
    for line in _read_partial(partial, None).values():
        total += sum(float(v) for v in json.loads(line).get("seconds", {}).values())
    return total


def _read_partial(path: Path, ids: set[str] | None) -> dict[str, str]:
    """The lines of a partial run by case id (unreadable lines are dropped: those cases run again)."""
    if not path.is_file():
        return {}
    found: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            case_id = json.loads(line)["id"]
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
        if ids is None or case_id in ids:
            found[case_id] = line
    return found
