"""`sqltune pipeline`: the main job (sample -> onboard -> tune -> before/after table)."""

from __future__ import annotations

import click

from sqltune.cli import cli


@cli.command("pipeline")
@click.argument("sample", default="cpg")
@click.option("--model", default=None, help="Base model (default: the embedded default, qwen2.5-coder-0.5b).")
@click.option("--preset", default="cpu", show_default=True, type=click.Choice(["cpu", "full"]), help="Tuning preset.")
@click.option("--adapter", default="lora", show_default=True, type=click.Choice(["lora", "mome"]), help="Adapter kind.")
@click.option("--pairs", default=2000, show_default=True, help="Question/SQL pairs to generate.")
@click.option("--subset", default=10, show_default=True, help="Evalset cases per tier (0: all).")
@click.option("--fewshot", is_flag=True, help="Also evaluate the base model with retrieval few-shot.")
@click.option("--constrained", is_flag=True,
              help="Also evaluate the base and the tuned model with constrained decoding.")
@click.option("--tuned-schema-prompt/--no-tuned-schema-prompt", default=True, show_default=True,
              help="Also evaluate the tuned model with the schema text, as the base model is asked.")
@click.option("--no-suite", is_flag=True, help="EX only (skip test-suite accuracy).")
@click.option("--config", "config_json", default=None,
              help="Tuning options over the preset as JSON, e.g. '{\"fact_phase\": 0.3, \"time_budget_s\": 1200}'.")
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Override the preset's maximum tuning steps.")
@click.option("--smoke", is_flag=True, help="Shrink every step to seconds (use with a tiny --model folder).")
@click.option("--out", type=click.Path(dir_okay=False), help="Also write the result JSON here.")
def pipeline_cmd(sample: str, model: str | None, preset: str, adapter: str, pairs: int, subset: int, fewshot: bool,
                 constrained: bool, tuned_schema_prompt: bool, no_suite: bool, config_json: str | None,
                 steps: int | None, smoke: bool, out: str | None) -> None:
    """Run the whole pipeline on SAMPLE (cpg or biotech): build it, onboard it, memory-tune the model, then
    evaluate the base and the tuned model on the hand-written evalset and print the before/after table.
    Re-running resumes: finished steps are reused.

    Example:

        sqltune pipeline cpg
    """
    from sqltune.cli.tune import tune_overrides
    from sqltune.main_job import JobConfig, main_job

    cfg = JobConfig(sample=sample, model=model, preset=preset, adapter=adapter, pairs=pairs, subset=subset,
                    fewshot=fewshot, constrained=constrained, tuned_schema_prompt=tuned_schema_prompt,
                    suite=not no_suite, tune=tune_overrides(config_json, steps), smoke=smoke)
    res = main_job(cfg, say=click.echo, out=out)
    click.echo("")
    click.echo(f"Before/after on the {res.config.sample} evalset ({res.config.subset or 'all'} cases per tier):")
    click.echo(res.table)
    click.echo(f"total {res.timings['total'] / 60:.1f} min; reports: {res.files['md']}  {res.files['json']}")
