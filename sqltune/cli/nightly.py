"""`sqltune` commands: nightly (registered on import by sqltune.cli)."""

from __future__ import annotations

import sys

import click

from sqltune.cli import cli


@cli.command("nightly")
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--accept", is_flag=True, help="Make this run the baseline of every combination it ran.")
@click.option("--out", type=click.Path(file_okay=False),
              help="Reports folder (default: the config's out, else SQLTUNE_HOME/nightly/<run id>).")
@click.option("--resume", "resume", default=None, help="Finish an interrupted run: its run id (same --out).")
def nightly_cmd(config: str, accept: bool, out: str | None, resume: str | None) -> None:
    """Run the accuracy regression job described by the YAML file CONFIG: predict and grade every
    project x evalset x model x adapter, append to each project's history.duckdb, compare with the
    accepted baseline (per-tier deltas, flipped items, McNemar test, schema drift) and write
    junit.xml, report.md and report.html. Exit 0: no regression (or the first run, which becomes
    the baseline); 2: accuracy dropped or invented identifiers rose beyond the thresholds; 1: an error.

    Example:

        sqltune nightly examples/nightly.yaml --out nightly-report
    """
    from sqltune.nightly import load_config, run_nightly

    cfg = load_config(config)
    result = run_nightly(cfg, accept=accept, out=out, resume=resume,
                         progress=lambda line: click.echo(f"running {line}", err=True))
    for line in result.summary():
        click.echo(line)
    click.echo(f"reports: {result.paths['md']}  {result.paths['html']}  {result.paths['junit']}")
    if result.exit_code:
        sys.exit(result.exit_code)
