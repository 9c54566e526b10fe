"""`sqltune` commands: tune (registered on import by sqltune.cli)."""

from __future__ import annotations

import json
import shlex
import typing as t

import click

from sqltune.cli import cli


def tune_overrides(config_json: str | None, steps: int | None = None) -> dict[str, t.Any]:
    """The tuning options of ``--config`` (a JSON object of TuneConfig fields) and ``--steps``."""
    from sqltune.errors import ConfigError

    try:
        overrides = json.loads(config_json) if config_json else {}
    except json.JSONDecodeError as e:
        raise ConfigError(f"--config is not valid JSON: {e}") from None
    if not isinstance(overrides, dict):
        raise ConfigError("--config must be a JSON object of TuneConfig fields.")
    if steps is not None:
        overrides["max_steps"] = steps
    return overrides


@cli.command("tune")
@click.argument("name")
@click.option("--model", default=None, help="Base model: registry alias, local folder, .gguf file or hub id "
              "(default: the embedded default model).")
@click.option("--preset", default="cpu", show_default=True, type=click.Choice(["cpu", "full"]),
              help="cpu: sized for 2 cores (minutes); full: a GPU run.")
@click.option("--adapter", "adapter_kind", default="lora", show_default=True, type=click.Choice(["lora", "mome"]),
              help="LoRA (peft) or a mixture of memory experts.")
@click.option("--config", "config_json", default=None,
              help="TuneConfig fields over the preset as JSON, e.g. '{\"lr\": 5e-4, \"max_items\": 300}'.")
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Maximum optimizer steps (max_steps).")
@click.option("--fresh", is_flag=True, help="Start afresh: drop checkpoints and retrain a finished adapter.")
@click.option("--out", type=click.Path(file_okay=False), help="Adapter folder (default: the project's adapters/).")
def tune_cmd(name: str, model: str | None, preset: str, adapter_kind: str, config_json: str | None,
             steps: int | None, fresh: bool, out: str | None) -> None:
    """Memory-tune a model on project NAME's generated pairs and facts; save the adapter.

    Needs `sqltune generate NAME` first. An interrupted run continues where it stopped; a finished
    one is not redone unless --fresh. On several GPUs, start it through a launcher: each batch is
    split over the processes (`accelerate launch --multi_gpu -m sqltune tune NAME`, or
    `torchrun --nproc_per_node 4 -m sqltune tune NAME`).

    Example:

        sqltune tune cpg --preset cpu --adapter lora
    """
    from tqdm import tqdm

    from sqltune.models import DEFAULT_MODEL
    from sqltune.tune.parallel import current
    from sqltune.tune.project import tune_config, tune_project

    overrides = tune_overrides(config_json, steps)
    config = tune_config(preset, adapter_kind, overrides)  # a bad option fails before the model loads
    ranks = current()  # a data-parallel launch: process 0 alone reports
    bar = tqdm(total=config.max_steps, unit="step", desc="tune", disable=None if ranks.main else True,
               dynamic_ncols=True)
    started = False

    def tick(row: dict[str, t.Any]) -> None:
        nonlocal started
        if "step" in row:
            if not started:  # a resumed run starts at its checkpoint: rate and ETA count from there
                started = True
                bar.initial = bar.n = row["step"] - 1
            bar.update(row["step"] - bar.n)
            post = {"loss": f"{row['loss']:.3f}"}
            if row.get("identifier_loss") is not None:
                post["id_loss"] = f"{row['identifier_loss']:.3f}"
            if row.get("eval_identifier_loss") is not None:
                post["eval"] = f"{row['eval_identifier_loss']:.3f}"
            bar.set_postfix(post, refresh=True)
        elif row.get("event") == "recall":
            bar.set_description(f"recall ({row.get('items', 0)} items)")
            bar.refresh()

    try:
        outcome = tune_project(name, model=model, preset=preset, adapter=adapter_kind, overrides=overrides, out=out,
                               resume=not fresh, progress=tick)
    finally:
        bar.close()
    if not ranks.main:
        return
    res = outcome.result
    if outcome.reused:
        click.echo(f"up to date: {outcome.adapter_dir} was tuned with the same model, config and data "
                   "(--fresh to retrain)")
    else:
        click.echo(f"adapter: {outcome.adapter_dir}")
    click.echo(f"{outcome.adapter} on {outcome.base_model}, preset {preset}: {res.steps} steps over {outcome.items} "
               f"items, stopped by {res.stopped}; {res.seconds:.0f}s training, {res.tokens_per_s:.0f} tokens/s; "
               f"identifier loss {res.identifier_loss:.3f}")
    click.echo(f"memorisation: {outcome.recall.summary()}")
    if outcome.recall.fact_kinds:
        click.echo(f"facts recalled by kind: {outcome.recall.kinds_summary()}")
    model_opt = "" if (model or DEFAULT_MODEL) == DEFAULT_MODEL else f" --model {shlex.quote(model or '')}"
    click.echo(f"next: sqltune ask {shlex.quote(name)} \"...\"{model_opt} "
               f"--adapter {shlex.quote(str(outcome.adapter_dir))} --no-schema")
