"""The ``sqltune`` command: a thin layer over the Python API.

Grammar: ``sqltune VERB [NAME] [options]``, where NAME is a project under
``SQLTUNE_HOME/projects/``. Errors sqltune raises on purpose print as one line and exit 1.
"""

from __future__ import annotations

import sys
import time
import typing as t

import click

from sqltune.errors import SqltuneError


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> t.Any:
        try:
            return super().invoke(ctx)
        except SqltuneError as e:
            click.secho(f"error: {e}", fg="red", err=True)
            sys.exit(1)


def source_options(f: t.Callable[..., t.Any]) -> t.Callable[..., t.Any]:
    """The options that say how to read a source database (``introspect``, ``onboard``)."""
    f = click.option("--max-copy-rows", default=1_000_000, show_default=True,
                     help="Non-DuckDB sources: tables above this are copied as a seeded sample.")(f)
    f = click.option("--schema", "include_schemas", multiple=True, help="Only these database schemas. Repeatable.")(f)
    f = click.option("--dictionary", type=click.Path(dir_okay=False),
                     help="Data dictionary YAML laid over the comments.")(f)
    return click.option("--mask", "masks", multiple=True, help="Keep this column's values out of the snapshot: "
                        "schema.table.column, wildcards allowed. Repeatable.")(f)


@click.group(cls=_Group)
@click.version_option(package_name="sqltune")
def cli() -> None:
    """sqltune: exact SQL from a language model tuned on your own schema."""


@cli.command("build-samples")
@click.argument("names", nargs=-1)
@click.option("--force", is_flag=True, help="Rebuild even if the sample is up to date.")
def build_samples(names: tuple[str, ...], force: bool) -> None:
    """Build the sample databases (all of them, or NAMES) into SQLTUNE_HOME/samples/.

    Example:

        sqltune build-samples cpg
    """
    from sqltune import samples

    for name in names or tuple(samples.SAMPLES):
        start = time.perf_counter()
        path = samples.build_sample(name, force=force)
        info = samples.sample_info(name)
        tables = info.get("tables", {})
        click.echo(f"{name}: v{info['sample_version']}, {len(tables)} tables, {sum(tables.values()):,} rows "
                   f"-> {path} ({time.perf_counter() - start:.1f}s)")


@cli.command("introspect")
@click.argument("source")
@click.option("--name", required=True, help="Project name to write (SQLTUNE_HOME/projects/NAME).")
@source_options
@click.option("--out", type=click.Path(file_okay=False), help="Write to this folder instead of the project folder.")
def introspect_cmd(source: str, name: str, masks: tuple[str, ...], dictionary: str | None,
                   include_schemas: tuple[str, ...], max_copy_rows: int, out: str | None) -> None:
    """Read the database at SOURCE into project NAME and print a summary.

    SOURCE is a file path (.duckdb, .sqlite), a SQLAlchemy URL, or sample:NAME.

    Example:

        sqltune introspect sample:cpg --name cpg

        sqltune introspect postgresql://me@localhost/shop --name shop --mask 'public.customer.email'
    """
    from sqltune import home, project
    from sqltune.introspect import introspect

    home.check_name(name)
    folder = project.project_path(name, out)
    start = time.perf_counter()
    schema = introspect(source, name=name, masks=masks, dictionary=dictionary,
                        include_schemas=include_schemas or None, copy_to=folder / "data.duckdb",
                        max_copy_rows=max_copy_rows, progress=_progress)
    folder, drift = project.save_snapshot(schema, name, out)
    click.echo(summary(schema))
    if drift is not None:
        click.echo("drift since the last snapshot:\n" + drift.summary())
    click.echo(f"wrote {folder / 'snapshot.json'} ({time.perf_counter() - start:.1f}s)")


@cli.command("schemas")
def schemas_cmd() -> None:
    """List onboarded projects and sample databases.

    Example:

        sqltune schemas
    """
    from sqltune import home, project, samples

    click.echo(f"SQLTUNE_HOME: {home.home()}")
    click.echo("projects:")
    names = home.list_projects()
    for name in names:
        s = project.load_snapshot(name)
        click.echo(f"  {name:<16} {len(s.tables):>3} tables  {s.dialect:<10} {s.source_url}  fp={s.fingerprint()}")
    if not names:
        click.echo("  (none: sqltune introspect SOURCE --name NAME)")
    click.echo("samples:")
    for info in samples.list_samples():
        state = f"built: {info['path']}" if info.get("built") else "not built (sqltune build-samples)"
        click.echo(f"  {info['name']:<16} v{info['version']}  {state}  {info['description']}")


def _model_options(f: t.Callable[..., t.Any]) -> t.Callable[..., t.Any]:
    f = click.option("--model", default=None, help="Registry alias, local folder, .gguf file or hub id "
                     "(default: the embedded default model).")(f)
    f = click.option("--adapter", default=None, type=click.Path(), help="A tuned adapter folder to attach.")(f)
    f = click.option("--constrained", is_flag=True, help="Schema-constrained decoding: no invented identifiers.")(f)
    f = click.option("--repair", is_flag=True, help="Decode freely; where no candidate resolves and runs, decode "
                     "again with the constraint (implies --constrained).")(f)
    f = click.option("--candidates", default=1, show_default=True,
                     help="Candidates to generate; the first that parses, resolves and runs is chosen.")(f)
    f = click.option("--no-schema", is_flag=True, help="Leave the schema out of the prompt (for tuned models).")(f)
    f = click.option("--prompt-budget", default=600, show_default=True, type=click.IntRange(min=0),
                     help="Schema tokens in the prompt; a larger schema is linked per question (0: always whole).")(f)
    return f


def _bot(name: str, model: str | None, adapter: str | None, constrained: bool, candidates: int,
         no_schema: bool, repair: bool, prompt_budget: int) -> t.Any:
    from sqltune import project
    from sqltune.infer import DecodeConfig, Text2SQL
    from sqltune.models import DEFAULT_MODEL
    from sqltune.prompt import PromptConfig

    schema = project.load_snapshot(name)
    decode = DecodeConfig(num_candidates=candidates, num_beams=candidates)
    return Text2SQL(schema, model or DEFAULT_MODEL, adapter=adapter, constrained=constrained or repair,
                    repair=repair, decode=decode,
                    prompt=PromptConfig(mode="none" if no_schema else "schema", budget_tokens=prompt_budget))


@cli.command("generate")
@click.argument("name")
@click.option("--n", "n", default=5000, show_default=True, help="Question/SQL pairs to generate.")
@click.option("--seed", default=0, show_default=True, help="Random seed; the same seed gives identical files.")
@click.option("--config", "config_json", default=None, help="GenerateConfig fields as JSON, e.g. '{\"k\": 5}'.")
@click.option("--out", type=click.Path(file_okay=False), help="Folder to write (default: the project's pairs/).")
def generate_cmd(name: str, n: int, seed: int, config_json: str | None, out: str | None) -> None:
    """Generate verified question/SQL pairs, schema facts and a coverage report for project NAME.

    Example:

        sqltune generate cpg --n 5000 --seed 0
    """
    import json
    from pathlib import Path

    from tqdm import tqdm

    from sqltune import home, project
    from sqltune.errors import ConfigError
    from sqltune.generate import GenerateConfig, generate

    schema = project.load_snapshot(name)
    try:
        cfg = GenerateConfig.from_dict(json.loads(config_json)) if config_json else GenerateConfig()
    except json.JSONDecodeError as e:
        raise ConfigError(f"--config is not valid JSON: {e}") from None
    folder = Path(out) if out else home.project_dir(name) / "pairs"
    with tqdm(desc="distinct SQL", unit="sql", disable=None) as bar:
        def tick(ev: t.Any) -> None:
            bar.total = ev.sql_target
            bar.update(ev.sql_done - bar.n)

        res = generate(schema, n=n, seed=seed, out=folder, config=cfg, progress=tick)
    tiers = {tier: sum(1 for p in res.pairs if p.tier == tier) for tier in ("easy", "medium", "hard")}
    click.echo(f"{len(res.pairs)} pairs ({res.distinct_sql} distinct SQL; {tiers['easy']} easy, {tiers['medium']} "
               f"medium, {tiers['hard']} hard), {len(res.facts)} facts -> {folder}")


@cli.command("ask")
@click.argument("name")
@click.argument("question")
@_model_options
def ask_cmd(name: str, question: str, model: str | None, adapter: str | None, constrained: bool, repair: bool,
            candidates: int, no_schema: bool, prompt_budget: int) -> None:
    """Answer QUESTION about project NAME: print the SQL and its result.

    Example:

        sqltune ask cpg "How many retailers sell online?"
    """
    bot = _bot(name, model, adapter, constrained, candidates, no_schema, repair, prompt_budget)
    ans = bot.ask(question)
    click.echo(ans.sql or "(no SQL)")
    if bot.schema.dialect != "duckdb" and ans.source_sql:
        click.echo(f"-- for the source ({bot.schema.dialect}):\n{ans.source_sql}")
    if ans.error:
        click.echo(f"-- not run: {ans.error}")
    else:
        click.echo(ans.dataframe().head(20).to_string(index=False))


@cli.command("predict")
@click.argument("name")
@click.option("--evalset", "evalset_ref", required=True, help="Evalset name or path.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Predictions JSONL to write.")
@click.option("--subset", default=0, help="Only the first N cases of each difficulty tier (0: all).")
@_model_options
def predict_cmd(name: str, evalset_ref: str, out: str, subset: int, model: str | None, adapter: str | None,
                constrained: bool, repair: bool, candidates: int, no_schema: bool, prompt_budget: int) -> None:
    """Predict SQL for every case of an evalset against project NAME, in the grader's format.

    Example:

        sqltune predict cpg --evalset cpg --subset 10 --out preds.jsonl
    """
    from tqdm import tqdm

    from sqltune import home
    from sqltune.evalset import load_evalset, stratified_subset
    from sqltune.infer.predict import predict_evalset

    ev = load_evalset(evalset_ref, project_dir=home.project_dir(name))
    if subset:
        ev = stratified_subset(ev, subset)
    bot = _bot(name, model, adapter, constrained, candidates, no_schema, repair, prompt_budget)
    with tqdm(total=len(ev.cases), desc="predict", unit="q", disable=None) as bar:
        path = predict_evalset(bot, ev, out, progress=bar.update)
    click.echo(f"wrote {len(ev.cases)} predictions to {path}")


@cli.command("grade")
@click.argument("name", required=False)
@click.option("--evalset", "evalset_ref", required=True, help="Evalset name or path.")
@click.option("--predictions", required=True, type=click.Path(dir_okay=False), help="Predictions JSONL (id, sql).")
@click.option("--subset", default=0, help="Only the first N cases of each difficulty tier (as predict --subset).")
@click.option("--no-suite", is_flag=True, help="Skip test-suite accuracy (EX only; faster).")
@click.option("--k", default=5, show_default=True, help="Perturbed database copies for test-suite accuracy.")
@click.option("--workers", default=2, show_default=True, help="Grading threads.")
@click.option("--out", type=click.Path(file_okay=False), help="Report folder (default: the project's runs/).")
def grade_cmd(name: str | None, evalset_ref: str, predictions: str, subset: int, no_suite: bool, k: int,
              workers: int, out: str | None) -> None:
    """Grade predictions against an evalset by executing both in DuckDB; write results.json, report.md
    and report.html. NAME is the project (default: the evalset's own sample or project).

    Example:

        sqltune grade cpg --evalset cpg --predictions preds.jsonl
    """
    import time as _time
    from pathlib import Path

    from tqdm import tqdm

    from sqltune import home
    from sqltune.evalset import load_evalset, stratified_subset
    from sqltune.grade import evaluate_predictions, write_reports
    from sqltune.targets import resolve_target

    ev = load_evalset(evalset_ref, project_dir=home.project_dir(name) if name else None)
    if subset:
        ev = stratified_subset(ev, subset)
    db, schema = resolve_target(sample=None if name else ev.sample, project=name or ev.project)
    with tqdm(total=len(ev.cases), desc="grade", unit="q", disable=None) as bar:
        run = evaluate_predictions(ev, predictions, db, schema=schema, suite=not no_suite, k=k, workers=workers,
                                   progress=lambda *_: bar.update(1))
    stamp = _time.strftime("%Y%m%d-%H%M%S")
    folder = Path(out) if out else home.project_dir(name or ev.sample or ev.project or "default") / "runs" / f"grade-{stamp}"
    paths = write_reports(run, folder)
    for line in _headline(run):
        click.echo(line)
    if run.skipped:
        click.echo(f"skipped {len(run.skipped)} unreviewed cases (sqltune evalset review to count them)")
    click.echo(f"reports: {paths['md']}  {paths['html']}  {paths['json']}")


def _headline(run: t.Any) -> list[str]:
    lines = []
    for tier, stats in run.aggregates.items():
        parts = []
        for key in ("ex_strict", "ts", "invented_identifier_rate"):
            m = stats.metrics.get(key)
            if m is not None and m.n and m.ci is not None and m.value is not None:
                parts.append(f"{key} {m.value:.1%} [{m.ci[0]:.0%}, {m.ci[1]:.0%}] (n={m.n})")
        lines.append(f"{tier:>8}: " + "; ".join(parts))
    return lines


@cli.group("evalset")
def evalset_group() -> None:
    """Work with evalsets: hand-written questions with gold SQL."""


@evalset_group.command("validate")
@click.argument("evalsets", nargs=-1, required=True)
@click.option("--project", help="Validate against this project instead of the evalset's own sample/project.")
@click.option("--strict", is_flag=True, help="Treat warnings (e.g. declared vs measured difficulty) as errors.")
def evalset_validate(evalsets: tuple[str, ...], project: str | None, strict: bool) -> None:
    """Run every gold of each evalset and report golds that error, time out, return nothing or are
    non-deterministic, a sample_version mismatch, identifiers the schema lacks, and declared vs
    measured difficulty. Exits 1 if any evalset has an error.

    Example:

        sqltune evalset validate cpg biotech
    """
    from sqltune.evalset import load_evalset, validate_evalset
    from sqltune.targets import resolve_target

    failed = 0
    for ref in evalsets:
        ev = load_evalset(ref, project_dir=_project_dir(project or None))
        db, schema = resolve_target(sample=None if project else ev.sample, project=project or ev.project)
        report = validate_evalset(ev, db, schema=schema)
        tiers = {tier: sum(1 for v in report.measured.values() if v == tier) for tier in ("easy", "medium", "hard")}
        click.echo(report.summary())
        click.echo(f"  measured tiers: {tiers['easy']} easy, {tiers['medium']} medium, {tiers['hard']} hard")
        if not report.ok or (strict and report.warnings):
            failed += 1
    if failed:
        raise SqltuneError(f"{failed} of {len(evalsets)} evalsets failed validation.")


def _project_dir(name: str | None) -> t.Any:
    from sqltune import home

    return home.project_dir(name) if name else None


def summary(schema: t.Any) -> str:
    """A few lines saying what introspection found."""
    cols = sum(len(tb.columns) for tb in schema.tables)
    declared = sum(1 for j in schema.joins if j.source == "declared")
    inferred = [j for j in schema.joins if j.source == "inferred"]
    cat = sum(1 for _, c in schema.iter_columns() if c.profile is not None and c.profile.values is not None)
    masked = sum(1 for _, c in schema.iter_columns() if c.masked)
    rows = sum(tb.row_count or 0 for tb in schema.tables)
    lines = [f"{schema.name}: {len(schema.tables)} tables, {cols} columns, {rows:,} rows; "
             f"{declared} declared joins, {len(inferred)} inferred; {cat} categorical columns; {masked} masked",
             f"fingerprint {schema.fingerprint()}  domains {schema.domain_hash()}"]
    lines += [f"  inferred {j} ({j.evidence})" for j in inferred]
    return "\n".join(lines)


def _progress(msg: str) -> None:
    if sys.stderr.isatty():
        click.echo(f"\r\033[K{msg}", nl=False, err=True)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()


# Commands that live in their own modules register themselves on the group when imported.
from sqltune.cli import leakage, nightly, onboard, pipeline, tune  # noqa: E402,F401
