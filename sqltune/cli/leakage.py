"""`sqltune` commands: leakage (registered on import by sqltune.cli)."""

from __future__ import annotations

import json
import sys

import click

from sqltune.cli import evalset_group


@evalset_group.command("leakage")
@click.argument("name")
@click.option("--evalset", "evalset_ref", required=True, help="Evalset name or path (looked up in the project first).")
@click.option("--threshold", default=0.7, show_default=True, type=click.FloatRange(0.0, 1.0, min_open=True),
              help="Question similarity at or above which a case counts as overlapping.")
@click.option("--split", "splits", multiple=True, type=click.Choice(["train", "val_skeleton", "val_phrasing"]),
              help="Only training pairs of this split. Repeatable (default: every pair).")
@click.option("--top", default=5, show_default=True, help="Most similar cases to list.")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON instead.")
@click.option("--fail-above", type=click.FloatRange(0.0, 1.0), default=None,
              help="Exit 1 when the overlap share (0-1) exceeds this.")
def leakage_cmd(name: str, evalset_ref: str, threshold: float, splits: tuple[str, ...], top: int, as_json: bool,
                fail_above: float | None) -> None:
    """Report how close project NAME's generated pairs come to an evalset: exact and near-duplicate SQL
    (canonical form) and, per case, the most similar training question (TF-IDF cosine), per tier.
    Exits 0 (it reports) unless --fail-above is given and exceeded.

    Example:

        sqltune evalset leakage cpg --evalset cpg --fail-above 0.05
    """
    from sqltune.leakage import project_leakage

    report = project_leakage(name, evalset_ref, threshold=threshold, splits=set(splits) or None)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        for line in report.summary(top=top):
            click.echo(line)
    if fail_above is not None and report.overlap_share > fail_above:
        click.secho(f"error: overlap share {report.overlap_share:.1%} exceeds {fail_above:.1%}", fg="red", err=True)
        sys.exit(1)
