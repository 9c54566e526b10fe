"""The nightly job's configuration: a YAML file read into frozen dataclasses.

Every key is optional but ``projects``; unknown keys are errors with a did-you-mean::

    projects:                       # projects under SQLTUNE_HOME/projects/
      - name: cpg
        evalsets: [cpg]             # default: [the project's name]
        adapters: [null, adapters/cpg-lora]   # per project; overrides the top-level list
      - biotech                     # shorthand: evalsets [biotech]
    models: [qwen2.5-coder-0.5b]    # registry aliases, folders or hub ids (default: the default model)
    adapters: [null]                # null: the base model; a relative path is inside the project folder
    options: {subset: 10, k: 5}     # sqltune.evaluate.EvalConfig fields
    thresholds:
      metrics: [ex_strict, ts]      # gated metrics (default: ex_strict, and ts when options.suite)
      max_drop: {overall: 2, easy: 5, medium: 5, hard: 5}   # absolute points; one number: every tier
      alpha: null                   # a number: a drop fails only when also McNemar p < alpha
      max_invented_rise: {overall: 2}   # points of invented-identifier rate
    history: null                   # one history.duckdb for all (default: each project's own)
    out: null                       # reports folder (default: SQLTUNE_HOME/nightly/<run id>)
    predictions: null               # grade these files instead of predicting, e.g.
                                    # "preds/{project}-{evalset}-{model}-{adapter}.jsonl"
    trend_runs: 30                  # runs shown in the trend plots

Relative ``history``, ``out`` and ``predictions`` paths are relative to the YAML file's folder.
Every combination of project × evalset × model × adapter is one run
(:meth:`NightlyConfig.combinations`).

>>> cfg = NightlyConfig.from_dict({"projects": ["cpg"], "thresholds": {"max_drop": 3}})
>>> [c.label for c in cfg.combinations()], cfg.thresholds.drop_limit("hard")
(['cpg-cpg-qwen2.5-coder-0.5b-base'], 3.0)
>>> NightlyConfig.from_dict({"projects": ["cpg"], "tresholds": {}})
Traceback (most recent call last):
...
sqltune.errors.ConfigError: nightly config: unknown key 'tresholds'. Did you mean 'thresholds'?
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import string
import typing as t
from pathlib import Path

import yaml

from sqltune.difficulty import TIERS
from sqltune.errors import ConfigError, did_you_mean
from sqltune.evaluate import EvalConfig

__all__ = ["Combination", "NightlyConfig", "ProjectSpec", "Thresholds", "load_config"]

#: Metrics a drop can be gated on.
GATED_METRICS: t.Final = ("ex_strict", "ts")
#: ``overall`` and the difficulty tiers.
SCOPES: t.Final = ("overall", *TIERS)
#: Fields a ``predictions`` template may use.
TEMPLATE_FIELDS: t.Final = ("project", "evalset", "model", "adapter")


def _unknown(data: t.Mapping[str, t.Any], known: t.Sequence[str], where: str) -> None:
    for key in data:
        if key not in known:
            hint = did_you_mean(str(key), known) or "Known: " + ", ".join(known) + "."
            raise ConfigError(f"{where}: unknown key {key!r}. {hint}")


def _mapping(value: t.Any, where: str) -> t.Mapping[str, t.Any]:
    if value is None:
        return {}
    if not isinstance(value, t.Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}.")
    return value


def _strings(value: t.Any, where: str, *, allow_none: bool = False) -> tuple[t.Any, ...]:
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not (isinstance(item, str) and item.strip()) and not (allow_none and item is None):
            raise ConfigError(f"{where}: expected {'a name, a path or null' if allow_none else 'a name'}, "
                              f"got {item!r}.")  # fmt: skip
    if not items:
        raise ConfigError(f"{where}: the list is empty.")
    return tuple(items)


def _limits(value: t.Any, where: str) -> dict[str, float]:
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected points (a number) or a mapping of tier to points, got {value!r}.")
    if isinstance(value, (int, float)):
        value = {scope: value for scope in SCOPES}
    out = {}
    for scope, points in _mapping(value, where).items():
        if scope not in SCOPES:
            raise ConfigError(f"{where}: unknown tier {scope!r}. "
                              + (did_you_mean(str(scope), SCOPES) or f"Known: {', '.join(SCOPES)}."))  # fmt: skip
        if isinstance(points, bool) or not isinstance(points, (int, float)) or points < 0:
            raise ConfigError(f"{where}.{scope}: expected points >= 0, got {points!r}.")
        out[scope] = float(points)
    return out


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """When a run counts as a regression against the baseline (points are absolute percentage points).

    Attributes:
        metrics: Accuracy metrics gated (``ex_strict``, ``ts``).
        max_drop: Per scope (``overall``, ``easy``, ``medium``, ``hard``): the largest drop allowed.
            A scope not listed is reported, not gated.
        alpha: When set, a drop beyond its limit fails only if the exact McNemar test on the flipped
            items also gives ``p < alpha`` (the same holds for the invented-identifier rate).
        max_invented_rise: Per scope: the largest rise of the invented-identifier rate allowed.
    """

    metrics: tuple[str, ...] = ("ex_strict", "ts")
    max_drop: t.Mapping[str, float] = dataclasses.field(
        default_factory=lambda: {"overall": 2.0, "easy": 5.0, "medium": 5.0, "hard": 5.0})
    alpha: float | None = None
    max_invented_rise: t.Mapping[str, float] = dataclasses.field(default_factory=lambda: {"overall": 2.0})

    @classmethod
    def from_dict(cls, data: t.Mapping[str, t.Any], *, suite: bool = True, where: str = "thresholds") -> Thresholds:
        names = [f.name for f in dataclasses.fields(cls)]
        _unknown(data, names, where)
        kwargs: dict[str, t.Any] = {}
        metrics = data.get("metrics")
        if metrics is None:
            kwargs["metrics"] = ("ex_strict", "ts") if suite else ("ex_strict",)
        else:
            kwargs["metrics"] = _strings(metrics, f"{where}.metrics")
            for m in kwargs["metrics"]:
                if m not in GATED_METRICS:
                    raise ConfigError(f"{where}.metrics: unknown metric {m!r}. "
                                      + (did_you_mean(m, GATED_METRICS) or f"Known: {', '.join(GATED_METRICS)}."))
            if "ts" in kwargs["metrics"] and not suite:
                raise ConfigError(f"{where}.metrics: 'ts' needs the test suite, but options.suite is false.")
        for key in ("max_drop", "max_invented_rise"):
            if key in data:
                kwargs[key] = _limits(data[key], f"{where}.{key}")
        alpha = data.get("alpha")
        if alpha is not None and (isinstance(alpha, bool) or not isinstance(alpha, (int, float))
                                  or not 0 < alpha <= 1):
            raise ConfigError(f"{where}.alpha: expected a number in (0, 1] or null, got {alpha!r}.")
        kwargs["alpha"] = None if alpha is None else float(alpha)
        return cls(**kwargs)

    def drop_limit(self, scope: str) -> float | None:
        return self.max_drop.get(scope)

    def invented_limit(self, scope: str) -> float | None:
        return self.max_invented_rise.get(scope)

    def to_dict(self) -> dict[str, t.Any]:
        return {"metrics": list(self.metrics), "max_drop": dict(self.max_drop), "alpha": self.alpha,
                "max_invented_rise": dict(self.max_invented_rise)}


@dataclasses.dataclass(frozen=True)
class ProjectSpec:
    """One project and what to run on it (``None``: the top-level list)."""

    name: str
    evalsets: tuple[str, ...]
    models: tuple[str, ...] | None = None
    adapters: tuple[str | None, ...] | None = None

    @classmethod
    def from_value(cls, value: t.Any, where: str) -> ProjectSpec:
        if isinstance(value, str) and value.strip():
            return cls(value, (value,))
        data = _mapping(value, where)
        _unknown(data, [f.name for f in dataclasses.fields(cls)], where)
        if not isinstance(data.get("name"), str) or not data["name"].strip():
            raise ConfigError(f"{where}: 'name' (the project) is required.")
        name = data["name"]
        return cls(
            name=name, evalsets=_strings(data.get("evalsets", [name]), f"{where}.evalsets"),
            models=_strings(data["models"], f"{where}.models") if "models" in data else None,
            adapters=_strings(data["adapters"], f"{where}.adapters", allow_none=True) if "adapters" in data else None,
        )  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Combination:
    """One project × evalset × model × adapter, run with ``options``; ``key`` names it across nights."""

    project: str
    evalset: str
    model: str
    adapter: str | None
    options: EvalConfig
    label: str = ""

    @property
    def key(self) -> str:
        """Identity for the baseline: a change of any part (options included) starts a new baseline."""
        return f"{self.project}|{self.evalset}|{self.model}|{self.adapter or ''}|{self.options.key()}"

    @property
    def adapter_name(self) -> str:
        return Path(self.adapter).name if self.adapter else "base"

    def describe(self) -> str:
        return f"{self.project} / {self.evalset} / {self.model} / {self.adapter or 'base model'}"


@dataclasses.dataclass(frozen=True)
class NightlyConfig:
    """The whole nightly job (see the module docstring for the YAML)."""

    projects: tuple[ProjectSpec, ...]
    models: tuple[str, ...] = ()
    adapters: tuple[str | None, ...] = (None,)
    options: EvalConfig = EvalConfig()
    thresholds: Thresholds = Thresholds()
    history: str | None = None
    out: str | None = None
    predictions: str | None = None
    trend_runs: int = 30
    base_dir: Path = dataclasses.field(default=Path("."), compare=False)
    source: str = dataclasses.field(default="nightly config", compare=False)

    @classmethod
    def from_dict(cls, data: t.Any, *, base_dir: str | Path = ".", source: str = "nightly config") -> NightlyConfig:
        from sqltune.models import DEFAULT_MODEL

        data = _mapping(data, source)
        known = [f.name for f in dataclasses.fields(cls) if f.name not in ("base_dir", "source")]
        _unknown(data, known, source)
        if "projects" not in data:
            raise ConfigError(f"{source}: 'projects' is required (a list of project names).")
        projects = data["projects"] if isinstance(data["projects"], list) else [data["projects"]]
        if not projects:
            raise ConfigError(f"{source}: projects: the list is empty.")
        specs = tuple(ProjectSpec.from_value(p, f"{source}: projects[{i}]") for i, p in enumerate(projects))
        try:
            options = EvalConfig.from_dict(_mapping(data.get("options"), f"{source}: options"))
        except ConfigError as e:
            raise ConfigError(f"{source}: options: {e}") from None
        except TypeError as e:
            raise ConfigError(f"{source}: options: {e}") from None
        thresholds = Thresholds.from_dict(_mapping(data.get("thresholds"), f"{source}: thresholds"),
                                          suite=options.suite, where=f"{source}: thresholds")
        for key in ("history", "out", "predictions"):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise ConfigError(f"{source}: {key}: expected a path, got {data[key]!r}.")
        if data.get("predictions"):
            _check_template(data["predictions"], f"{source}: predictions")
        trend = data.get("trend_runs", 30)
        if isinstance(trend, bool) or not isinstance(trend, int) or trend < 2:
            raise ConfigError(f"{source}: trend_runs: expected a whole number >= 2, got {trend!r}.")
        return cls(
            projects=specs,
            models=_strings(data["models"], f"{source}: models") if data.get("models") is not None
            else (DEFAULT_MODEL,),
            adapters=_strings(data["adapters"], f"{source}: adapters", allow_none=True)
            if "adapters" in data else (None,),
            options=options, thresholds=thresholds, history=data.get("history"), out=data.get("out"),
            predictions=data.get("predictions"), trend_runs=trend, base_dir=Path(base_dir), source=source,
        )  # fmt: skip

    def to_dict(self) -> dict[str, t.Any]:
        return {
            "projects": [{"name": p.name, "evalsets": list(p.evalsets),
                          "models": list(p.models) if p.models is not None else None,
                          "adapters": list(p.adapters) if p.adapters is not None else None} for p in self.projects],
            "models": list(self.models), "adapters": list(self.adapters), "options": self.options.to_dict(),
            "thresholds": self.thresholds.to_dict(), "history": self.history, "out": self.out,
            "predictions": self.predictions, "trend_runs": self.trend_runs,
        }  # fmt: skip

    def digest(self) -> str:
        """Hash of everything configured (recorded with every run)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]

    def combinations(self) -> list[Combination]:
        """Every project × evalset × model × adapter, in config order, with unique file-safe labels."""
        out: list[Combination] = []
        seen: dict[str, int] = {}
        for spec in self.projects:
            for ev in spec.evalsets:
                for model in spec.models if spec.models is not None else self.models:
                    for adapter in spec.adapters if spec.adapters is not None else self.adapters:
                        adapter_name = Path(adapter).name if adapter else "base"
                        label = _slug(f"{spec.name}-{Path(ev).stem}-{Path(model).name}-{adapter_name}")
                        seen[label] = seen.get(label, 0) + 1
                        if seen[label] > 1:
                            label = f"{label}-{seen[label]}"
                        out.append(Combination(spec.name, ev, model, adapter, self.options, label))
        keys = [c.key for c in out]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ConfigError(f"{self.source}: the same combination is listed twice: {dupes[0].rsplit('|', 1)[0]}.")
        return out

    def resolve(self, path: str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    def history_path(self, project_dir: Path) -> Path:
        return self.resolve(self.history) if self.history else project_dir / "history.duckdb"

    def predictions_path(self, combo: Combination) -> Path | None:
        if not self.predictions:
            return None
        return self.resolve(self.predictions.format(project=combo.project, evalset=Path(combo.evalset).stem,
                                                    model=Path(combo.model).name, adapter=combo.adapter_name))


def _check_template(template: str, where: str) -> None:
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as e:
        raise ConfigError(f"{where}: bad template {template!r} ({e}).") from None
    for f in fields:
        if f not in TEMPLATE_FIELDS:
            raise ConfigError(f"{where}: unknown field {{{f}}}. "
                              + (did_you_mean(f, TEMPLATE_FIELDS) or f"Known: {', '.join(TEMPLATE_FIELDS)}."))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_.") or "run"


def load_config(path: str | Path) -> NightlyConfig:
    """Read a nightly YAML file; any problem is one :class:`~sqltune.errors.ConfigError` line."""
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"Nightly config not found: {p}") from None
    except OSError as e:
        raise ConfigError(f"Cannot read nightly config {p}: {e.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise ConfigError(f"{p.name}: not valid YAML{at}: {problem}") from None
    if data is None:
        raise ConfigError(f"{p.name}: empty; it needs at least 'projects'.")
    return NightlyConfig.from_dict(data, base_dir=p.parent, source=p.name)
