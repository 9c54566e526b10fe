"""Wrapping a causal LM with MoME layers; the training hooks; saving and loading the adapter.

:class:`MoMEModel` replaces every targeted ``nn.Linear`` of the base model in place (peft's
``BaseTuner`` shape, prefix ``mome_``), freezes the base, and forwards everything else to it
(``model.config``, ``model.generate``...). A MoME adapter cannot be merged into the base weights:
its routing depends on the input, so there is no single weight delta; :meth:`MoMEModel.unload`
gives the untouched base model back instead.

>>> import torch
>>> from torch import nn
>>> base = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 4))
>>> x = torch.randn(2, 3, 4)
>>> before = base(x)
>>> model = apply_mome(base, MoMEConfig(n_experts=8, top_k=2, rank=2, target_modules=("0", "2")))
>>> sorted(model.mome_layers()), torch.equal(model(x), before)
(['0', '2'], True)
>>> sum(p.numel() for p in model.trainable_parameters())  # A, B and router of both layers
496
"""

from __future__ import annotations

import contextlib
import json
import os
import typing as t
from pathlib import Path

import torch
from torch import nn

from sqltune.atomic import replacing
from sqltune.errors import ConfigError, SqltuneError, did_you_mean
from sqltune.models.adapters import base_fingerprint
from sqltune.tune.mome.config import MoMEConfig
from sqltune.tune.mome.layer import SUPPORTED_MODULES, MoMELinear, UnsupportedModuleError
from sqltune.tune.mome.router import ExpertUsage, normalized_entropy

CONFIG_NAME = "mome_config.json"
WEIGHTS_NAME = "adapter_model.safetensors"
FORMAT = "sqltune-mome"
FORMAT_VERSION = 1


class TuneError(SqltuneError):
    """Tuning state that cannot be used as asked (an adapter for another base, a broken adapter folder...)."""


class MoMEModel(nn.Module):
    """A base model whose target linears carry memory experts; only experts and routers train."""

    prefix = "mome_"

    def __init__(self, model: nn.Module, config: MoMEConfig) -> None:
        super().__init__()
        if any(isinstance(m, MoMELinear) for m in model.modules()):
            raise TuneError(f"{type(model).__name__} already has MoME layers; apply MoME once.")
        targets = _find_targets(model, config.target_modules)  # raises before anything is changed
        model.requires_grad_(False)
        self.model = model
        self.mome_config = config
        self.steps = 0
        for i, name in enumerate(targets):
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name)
            base = getattr(parent, child)
            layer = MoMELinear(base, config, generator=_generator(base.weight.device, config.seed * 1_000_003 + i))
            setattr(parent, child, layer)
        if config.router_warmup_steps == 0:
            self.freeze_router()

    def __getattr__(self, name: str) -> t.Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "model":
                raise
            return getattr(self.model, name)

    def forward(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
        return self.model(*args, **kwargs)

    def generate(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
        return self.model.generate(*args, **kwargs)  # type: ignore[operator]

    def mome_layers(self) -> dict[str, MoMELinear]:
        return {n: m for n, m in self.model.named_modules() if isinstance(m, MoMELinear)}

    def trainable_parameters(self) -> list[nn.Parameter]:
        """What the optimizer should get: experts, plus the routers until they are frozen."""
        return [p for p in self.parameters() if p.requires_grad]

    def aux_loss(self) -> torch.Tensor:
        """``load_balance_coef`` x the mean over layers of ``E * sum_i f_i * P_i`` from the last forward.

        The mean (not the sum) keeps ``load_balance_coef`` independent of how many linears are targeted;
        a balanced layer contributes 1. Zero once the routers are frozen or the coefficient is 0.
        """
        terms = [m.mome_router.last_aux for m in self.mome_layers().values() if m.mome_router.last_aux is not None]
        if not terms or self.mome_config.load_balance_coef == 0:
            return torch.zeros((), device=_device(self.model))
        return self.mome_config.load_balance_coef * torch.stack(terms).mean()

    def step(self) -> None:
        """Call after each optimizer step: freezes the routers once ``router_warmup_steps`` are done."""
        self.after_step(self.steps + 1)

    def after_step(self, step: int) -> None:
        """The same, given the number of optimizer steps done so far (idempotent; call it again after a resume)."""
        self.steps = step
        if step >= self.mome_config.router_warmup_steps and not self.router_frozen:
            self.freeze_router()

    def freeze_router(self) -> None:
        for layer in self.mome_layers().values():
            layer.mome_router.freeze()

    @property
    def router_frozen(self) -> bool:
        return all(m.mome_router.frozen for m in self.mome_layers().values())

    def expert_usage(self) -> ExpertUsage:
        layers = self.mome_layers()
        return ExpertUsage(counts={n: m.mome_router.usage.tolist() for n, m in layers.items()},
                           entropy={n: normalized_entropy(m.mome_router.usage) for n, m in layers.items()})

    def reset_usage(self) -> None:
        for layer in self.mome_layers().values():
            layer.mome_router.reset_usage()

    def mome_state_dict(self) -> dict[str, torch.Tensor]:
        """The adapter's tensors only (experts and routers), keyed ``<module path>.mome_...``."""
        return {f"{name}.{key}": value for name, layer in self.mome_layers().items()
                for key, value in layer.state_dict().items() if key.startswith(self.prefix)}

    @contextlib.contextmanager
    def disable_adapter(self) -> t.Iterator[None]:
        """Inside the block the model is its base (e.g. to score the untuned model); the experts are kept."""
        layers = list(self.mome_layers().values())
        for layer in layers:
            layer.disabled = True
        try:
            yield
        finally:
            for layer in layers:
                layer.disabled = False

    def unload(self) -> nn.Module:
        """Put the base linears back and return the base model (its weights were never changed)."""
        for name, layer in self.mome_layers().items():
            parent_name, _, child = name.rpartition(".")
            setattr(self.model.get_submodule(parent_name), child, layer.base_layer)
        return self.model

    def merge_and_unload(self) -> t.NoReturn:
        raise TuneError("A MoME adapter cannot be merged: its experts are chosen per token, so there is no single "
                        "weight delta. Keep the adapter attached (or unload() to get the base back).")


def apply_mome(model: nn.Module, config: MoMEConfig) -> MoMEModel:
    """Wrap ``model``'s target linears with memory experts (in place) and return the wrapper."""
    return MoMEModel(model, config)


def save_mome(model: MoMEModel, folder: str | os.PathLike[str], *, metadata: t.Mapping[str, t.Any]) -> Path:
    """Write ``mome_config.json`` and ``adapter_model.safetensors`` to ``folder``, replacing it atomically.

    ``metadata`` (schema fingerprint, data hash...) is stored as given; the base model's fingerprint is
    recorded as ``sqltune_base_fingerprint`` so that :func:`load_mome` refuses another base.
    """
    from safetensors.torch import save_file

    if not isinstance(model, MoMEModel):
        raise TuneError(f"save_mome needs a MoMEModel, got {type(model).__name__}.")
    info = {"format": FORMAT, "format_version": FORMAT_VERSION,
            "sqltune_base_fingerprint": base_fingerprint(model.model),
            "base_model_name_or_path": getattr(getattr(model.model, "config", None), "_name_or_path", "") or "",
            "config": model.mome_config.to_dict(), "router_frozen": model.router_frozen, "steps": model.steps,
            "metadata": dict(metadata)}
    try:
        text = json.dumps(info, indent=2, ensure_ascii=False) + "\n"
    except TypeError as e:
        raise TuneError(f"save_mome metadata must be JSON-serialisable: {e}") from None
    state = {k: v.detach().contiguous().cpu() for k, v in model.mome_state_dict().items()}
    target = Path(folder)
    with replacing(target, is_dir=True) as tmp:
        save_file(state, str(tmp / WEIGHTS_NAME), metadata={"format": "pt"})
        (tmp / CONFIG_NAME).write_text(text, encoding="utf-8")
    return target


def load_mome(base_model: nn.Module, folder: str | os.PathLike[str]) -> MoMEModel:
    """Wrap ``base_model`` with the adapter saved in ``folder``; refuses an adapter trained on another base."""
    from safetensors.torch import load_file

    folder = Path(folder)
    path = folder / CONFIG_NAME
    if not path.is_file() or not (folder / WEIGHTS_NAME).is_file():
        raise TuneError(f"No MoME adapter at {folder}: {CONFIG_NAME} or {WEIGHTS_NAME} is missing.")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise TuneError(f"MoME config {path} is not valid JSON: {e}") from None
    if info.get("format") != FORMAT or info.get("format_version") != FORMAT_VERSION:
        raise TuneError(f"{path} is not a {FORMAT} v{FORMAT_VERSION} adapter.")
    expected, actual = info.get("sqltune_base_fingerprint"), base_fingerprint(base_model)
    if expected and expected != actual:
        raise TuneError(f"MoME adapter {folder} was trained on another base model ({expected}, not {actual}); "
                        "refusing to load it.")
    model = MoMEModel(base_model, MoMEConfig.from_dict(info["config"]))
    state = load_file(str(folder / WEIGHTS_NAME), device=str(_device(base_model)))
    own = model.mome_state_dict()
    if state.keys() != own.keys():
        model.unload()
        odd = sorted(state.keys() ^ own.keys())
        raise TuneError(f"MoME adapter {folder} does not fit this model: {len(odd)} tensor names differ "
                        f"(e.g. {odd[0]}).")
    with torch.no_grad():
        for key, value in own.items():
            if value.shape != state[key].shape:
                model.unload()
                raise TuneError(f"MoME adapter {folder} does not fit this model: {key} is {tuple(state[key].shape)}, "
                                f"expected {tuple(value.shape)}.")
            value.copy_(state[key])
    model.steps = int(info.get("steps", 0))
    if info.get("router_frozen"):
        model.freeze_router()
    return model


def _find_targets(model: nn.Module, patterns: t.Sequence[str]) -> list[str]:
    names = [n for n, _ in model.named_modules() if n]
    found: dict[str, None] = {}
    for pattern in patterns:
        hits = [n for n in names if n == pattern or n.endswith("." + pattern)]
        if not hits:
            leaves = {n.rsplit(".", 1)[-1] for n in names}
            hint = did_you_mean(pattern, leaves) or did_you_mean(pattern, names)
            raise ConfigError(f"MoMEConfig.target_modules entry {pattern!r} matches no module of "
                              f"{type(model).__name__}." + (f" {hint}" if hint else ""))
        for name in hits:
            module = model.get_submodule(name)
            if not isinstance(module, SUPPORTED_MODULES):
                supported = ", ".join(f"torch.nn.{c.__name__}" for c in SUPPORTED_MODULES)
                raise UnsupportedModuleError(f"Target module {name!r} ({type(module).__name__}, matched by "
                                             f"{pattern!r}) is not supported; MoME wraps only {supported}.")
            found[name] = None
    return [n for n in names if n in found]  # model order, whatever the order of the patterns


def _generator(device: torch.device, seed: int) -> torch.Generator | None:
    try:
        return torch.Generator(device=device).manual_seed(seed)
    except RuntimeError:  # a device without its own generator: fall back to the global RNG
        return None


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device
