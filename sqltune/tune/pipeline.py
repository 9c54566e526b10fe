"""One tuning run end to end: train, measure recall, save the adapter folder; resumable.

:func:`tune_items` is what :func:`sqltune.tune.project.tune_project` and the convenience
:func:`sqltune.tune.memory_tune` run. The training loop (:func:`sqltune.tune.train.memory_tune`)
works in a hidden sibling folder ``.<adapter>.work/`` (checkpoints, log); when it ends, exact
recall is measured on a seeded sample of the trained facts and pairs (for the tuned and, with
``recall_base``, the untuned model) and the adapter folder is written atomically with the log,
the loss plot and ``recall.json``. A run that is interrupted continues from its last checkpoint;
a run whose adapter is already complete for the same base model, config and data is not redone.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import shutil
import time
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

from sqltune import atomic
from sqltune.errors import ConfigError, MissingArtifactError
from sqltune.infer.heads import HeadCache
from sqltune.prompt.builder import METRIC_PROMPT_VERSION, PROMPT_VERSION
from sqltune.schema import Schema
from sqltune.tune.artifact import read_meta, save_adapter
from sqltune.tune.config import TuneConfig
from sqltune.tune.data import HEAD_BYTES, Item
from sqltune.tune.items import items_digest
from sqltune.tune.train import TuneResult

Progress = t.Callable[[dict[str, t.Any]], None]


@dataclass(frozen=True)
class Recall:
    """Exact greedy recall of a sample of the trained items; ``None`` where not measured.

    Measured by :func:`~sqltune.tune.recall.greedy_recall` (one teacher-forced pass per item; the same
    answer as free-running greedy generation).
    """

    facts: float | None = None
    pairs: float | None = None
    base_facts: float | None = None
    base_pairs: float | None = None
    n_facts: int = 0
    n_pairs: int = 0
    fact_misses: tuple[str, ...] = ()
    pair_misses: tuple[str, ...] = ()
    seconds: float = 0.0
    #: Per fact kind (``table_of_concept``, ``join``, ``codes`` …) of the sample: ``(recalled, checked)``.
    fact_kinds: t.Mapping[str, tuple[int, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, t.Any]:
        d = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}
        d["fact_kinds"] = {k: list(v) for k, v in sorted(self.fact_kinds.items())}
        return d

    @classmethod
    def from_dict(cls, d: t.Mapping[str, t.Any]) -> Recall:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for k in ("fact_misses", "pair_misses"):
            known[k] = tuple(known.get(k, ()))
        known["fact_kinds"] = {str(k): (int(v[0]), int(v[1])) for k, v in dict(known.get("fact_kinds") or {}).items()}
        return cls(**known)

    def summary(self) -> str:
        """``fact recall 92% (untuned 3%) of 24; pair recall 50% (untuned 0%) of 24``."""
        parts = []
        for what, got, base, n in (("fact", self.facts, self.base_facts, self.n_facts),
                                   ("pair", self.pairs, self.base_pairs, self.n_pairs)):
            if got is not None:
                parts.append(f"{what} recall {got:.0%}" + (f" (untuned {base:.0%})" if base is not None else "")
                             + f" of {n}")
        return "; ".join(parts) or "recall not measured"

    def kinds_summary(self) -> str:
        """Fact recall per kind of fact: ``codes 3/4, join 2/2, table_of_concept 5/5``.

        >>> Recall(facts=0.75, n_facts=4, fact_kinds={"join": (2, 2), "codes": (1, 2)}).kinds_summary()
        'codes 1/2, join 2/2'
        """
        return ", ".join(f"{k} {hit}/{n}" for k, (hit, n) in sorted(self.fact_kinds.items()))


@dataclass(frozen=True)
class TuneOutcome:
    """A finished tuning run: the adapter folder and what it achieved.

    Attributes:
        adapter_dir: The adapter folder (attach it with ``load_model(..., adapter=adapter_dir)``).
        result: Steps, why it stopped, identifier loss, seconds, tokens/s, log and plot paths.
        recall: Exact recall of trained facts and pairs, tuned and untuned.
        config: The resolved tuning config.
        base_model: The base model's name (registry alias, folder or hub id).
        items: How many items were trained on (facts and pairs).
        reused: True when an up-to-date adapter was found and nothing was trained.
        seconds: Wall time of this call.
        model: The tuned model (the base with the adapter attached); ``None`` when ``reused``.
    """

    adapter_dir: Path
    result: TuneResult
    recall: Recall
    config: TuneConfig
    base_model: str
    items: int
    reused: bool = False
    seconds: float = 0.0
    model: t.Any = field(default=None, repr=False, compare=False)

    @property
    def adapter(self) -> str:
        return self.config.adapter


#: The version of how items become training text (prompts, targets); a change retrains finished adapters.
#: 2: schema facts have their own prompt (``PromptBuilder.fact_prompt``); 3: that prompt ends with the
#: answer's cue ``Fact:``. A prompt version other than 1 (:data:`sqltune.prompt.builder.PROMPT_VERSION`)
#: is appended.
TRAINING_FORMAT = "3" + (f"+prompt{PROMPT_VERSION}" if PROMPT_VERSION != "1" else "")


def run_key(base_model: str, config: TuneConfig, items: t.Sequence[Item], schema: Schema | None = None
            ) -> dict[str, str]:
    """What makes two runs the same run: base model, config, data, the training format and, where
    prompts show the schema text, what the data dictionary says (:meth:`Schema.docs_hash`)."""
    key = {"base_model": base_model, "config_digest": config.digest(), "data_hash": items_digest(items),
           "training_format": TRAINING_FORMAT}
    if schema is not None and config.prompt_mode == "schema":
        key["schema_docs"] = schema.docs_hash()
        if schema.metrics and METRIC_PROMPT_VERSION != "1":
            key["metric_prompt"] = METRIC_PROMPT_VERSION
    return key


def finished(folder: str | Path, key: t.Mapping[str, str]) -> TuneOutcome | None:
    """The outcome stored in ``folder`` when it is a complete adapter of the run ``key``, else ``None``."""
    folder = Path(folder)
    meta = read_meta(folder)
    if not meta or any(meta.get(k) != v for k, v in key.items()):
        return None
    if not any((folder / f).is_file() for f in ("adapter_config.json", "mome_config.json")):
        return None
    history = tuple(_jsonl(folder / "train_log.jsonl"))
    r = meta.get("result", {})
    result = TuneResult(folder, int(r.get("steps", 0)), str(r.get("stopped", "")),
                        float(r["identifier_loss"]) if r.get("identifier_loss") is not None else math.nan,
                        float(r.get("seconds", 0.0)), int(r.get("tokens", 0)), float(r.get("tokens_per_s", 0.0)),
                        folder / "train_log.jsonl", folder / "loss.svg", history)
    return TuneOutcome(folder, result, Recall.from_dict(meta.get("recall", {})), TuneConfig.from_dict(meta["config"]),
                       str(meta.get("base_model")), int(meta.get("items", 0)), reused=True)


def tune_items(model: t.Any, items: t.Sequence[Item], schema: Schema, config: TuneConfig, folder: str | Path, *,
               base_name: str | None = None, progress: Progress | None = None, resume: bool = True,
               project: str | None = None, extra_meta: t.Mapping[str, t.Any] | None = None) -> TuneOutcome:
    """Tune ``model`` (a :class:`~sqltune.models.Model`, or an alias/path to load) on ``items``; save to ``folder``.

    The base model is changed in place (the adapter is injected into it); the outcome's ``model`` is
    the tuned one. With ``resume`` an interrupted run continues and a complete one is returned as is.
    In a data-parallel run (:mod:`sqltune.tune.parallel`) every process trains; process 0 alone loads
    the model first (a first load converts it once), measures recall and saves.
    """
    from sqltune.models import load_model
    from sqltune.tune.parallel import current
    from sqltune.tune.train import memory_tune

    start = time.perf_counter()
    if not items:
        raise ConfigError("Nothing to train on: no pairs or facts were given.")
    folder = Path(folder)
    name = base_name or (model if isinstance(model, str) else getattr(model, "name", type(model).__name__))
    key = run_key(str(name), config, items, schema)
    if resume:
        done = finished(folder, key)
        if done is not None:
            return done
    work = folder.with_name(f".{folder.name}.work")
    ranks = current()
    if not resume and ranks.main:
        shutil.rmtree(work, ignore_errors=True)
    if not ranks.main:
        ranks.barrier()  # process 0 loads first
    loaded = load_model(model) if isinstance(model, (str, Path)) else model
    if ranks.main:
        ranks.barrier()
    say = progress or (lambda _row: None)
    heads = HeadCache(max_bytes=HEAD_BYTES)  # the pairs' frozen heads (frozen_prefix, linked schema): computed once for training and recall
    tuned, result = memory_tune(loaded.model, loaded.tokenizer, items, schema, config, work, progress=progress,
                                resume=resume, data_hash=key["data_hash"], keep_checkpoint=True, ranks=ranks,
                                head_cache=heads)
    if not ranks.main:
        ranks.barrier()  # process 0 measures recall and saves
        saved = finished(folder, key)
        if saved is None:
            raise MissingArtifactError(f"Process 0 of this data-parallel run saved no adapter in {folder}.")
        return dataclasses.replace(saved, reused=False, model=tuned)
    say({"event": "recall", "items": min(config.recall_items, _count(items, "fact"))
         + min(config.recall_items, _count(items, "pair"))})
    recall = measure_recall(tuned, loaded.tokenizer, schema, items, config, head_cache=heads)
    atomic.write_json(work / "recall.json", recall.to_dict())
    figures = {**key, "items": len(items), "recall": recall.to_dict(), "project": project,
               "result": {"steps": result.steps, "stopped": result.stopped,
                          "identifier_loss": _num(result.identifier_loss), "seconds": result.seconds,
                          "tokens": result.tokens, "tokens_per_s": result.tokens_per_s},
               **(extra_meta or {})}
    save_adapter(tuned, folder, schema=schema, config=config.to_dict(), data_hash=key["data_hash"],
                 base_name=str(name), figures=figures, project=project,
                 files={"train_log.jsonl": result.log_path, "loss.svg": result.plot_path,
                        "recall.json": work / "recall.json"})
    shutil.rmtree(work, ignore_errors=True)
    ranks.barrier()
    final = TuneResult(folder, result.steps, result.stopped, result.identifier_loss, result.seconds, result.tokens,
                       result.tokens_per_s, folder / "train_log.jsonl", folder / "loss.svg", result.history)
    return TuneOutcome(folder, final, recall, config, str(name), len(items), reused=False,
                       seconds=round(time.perf_counter() - start, 2), model=tuned)


def measure_recall(model: t.Any, tokenizer: t.Any, schema: Schema, items: t.Sequence[Item],
                   config: TuneConfig, head_cache: t.Any = None) -> Recall:
    """Exact recall of up to ``recall_items`` trained facts and pairs each (seeded sample), tuned and untuned
    (``head_cache``: the heads training computed, :func:`sqltune.tune.data.frozen_parts`)."""
    from sqltune.prompt import PromptBuilder, PromptConfig
    from sqltune.tune.data import frozen_parts
    from sqltune.tune.recall import greedy_recall

    if not config.recall_items:
        return Recall()
    start = time.perf_counter()
    builder = PromptBuilder(schema, tokenizer, PromptConfig(mode=config.prompt_mode,
                                                            budget_tokens=config.prompt_budget_tokens))
    rng = random.Random(f"recall:{config.seed}")
    frozen, heads, fcache = frozen_parts(config, builder, tokenizer,  # one cache for tuned and untuned
                                         [it.question for it in items if it.kind == "pair"], head_cache)
    out: dict[str, t.Any] = {}
    for kind, label in (("fact", "facts"), ("pair", "pairs")):
        unique = [it for it in items if it.kind == kind and "~" not in it.id]
        sample = rng.sample(unique, min(config.recall_items, len(unique)))
        if not sample:
            continue
        score, misses = greedy_recall(model, tokenizer, builder, sample, schema, max_len=config.max_seq_len,
                                      frozen=frozen, heads=heads, frozen_cache=fcache)
        out[label], out[f"n_{label}"], out[f"{kind}_misses"] = round(score, 4), len(sample), tuple(misses)
        if kind == "fact":
            out["fact_kinds"] = _by_kind(sample, set(misses))
        if config.recall_base:
            with _base_only(model):
                base, _ = greedy_recall(model, tokenizer, builder, sample, schema, max_len=config.max_seq_len,
                                        frozen=frozen, heads=heads, frozen_cache=fcache)
            out[f"base_{label}"] = round(base, 4)
    return Recall(**out, seconds=round(time.perf_counter() - start, 2))


class _base_only:  # noqa: N801 - a context manager used like a function
    """The untuned model inside the block: peft's and MoME's ``disable_adapter``."""

    def __init__(self, model: t.Any) -> None:
        self.cm = model.disable_adapter() if hasattr(model, "disable_adapter") else None

    def __enter__(self) -> None:
        if self.cm is None:
            raise ConfigError("This model has no adapter to disable; cannot measure the untuned recall.")
        self.cm.__enter__()

    def __exit__(self, *exc: t.Any) -> None:
        self.cm.__exit__(*exc)


def _by_kind(sample: t.Sequence[Item], misses: set[str]) -> dict[str, tuple[int, int]]:
    """``{kind: (recalled, checked)}`` over a sample of fact items (their ``tag`` is the fact's kind)."""
    counts: dict[str, list[int]] = {}
    for it in sample:
        c = counts.setdefault(it.tag or "fact", [0, 0])
        c[0] += it.id not in misses
        c[1] += 1
    return {k: (v[0], v[1]) for k, v in sorted(counts.items())}


def _count(items: t.Sequence[Item], kind: str) -> int:
    return sum(1 for it in items if it.kind == kind and "~" not in it.id)


def _num(x: float) -> float | None:
    return None if math.isnan(x) else round(x, 6)


def _jsonl(path: Path) -> list[dict[str, t.Any]]:
    if not path.is_file():
        return []
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
