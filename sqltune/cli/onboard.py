"""`sqltune` commands: onboard and evalset review (registered on import by sqltune.cli)."""

from __future__ import annotations

import os
import sys
import typing as t

import click

from sqltune.cli import _progress, cli, evalset_group, source_options


@cli.command("onboard")
@click.argument("source")
@click.option("--name", required=True, help="Project name to write (SQLTUNE_HOME/projects/NAME).")
@click.option("--n", "n", default=5000, show_default=True, help="Question/SQL pairs to generate.")
@click.option("--seed", default=0, show_default=True, help="Random seed; the same seed gives the same pairs and draft.")
@click.option("--draft-per-tier", default=10, show_default=True,
              help="Evalset cases to draft per difficulty tier (easy, medium, hard).")
@click.option("--config", "config_json", default=None,
              help="GenerateConfig fields as JSON, e.g. '{\"coverage_k\": 5}'.")
@source_options
def onboard_cmd(source: str, name: str, n: int, seed: int, draft_per_tier: int, config_json: str | None,
                masks: tuple[str, ...], dictionary: str | None, include_schemas: tuple[str, ...],
                max_copy_rows: int) -> None:
    """Onboard the database at SOURCE as project NAME: introspect it, generate verified pairs with a
    coverage report, and draft an evalset for experts to review. Run it again after the database
    changes: it reports the drift and regenerates only the pairs of the tables that changed.

    SOURCE is a file path (.duckdb, .sqlite), a SQLAlchemy URL, or sample:NAME.

    Example:

        sqltune onboard postgresql://me@localhost/shop --name shop --n 5000

        sqltune onboard sample:cpg --name cpg --draft-per-tier 20
    """
    import json

    from sqltune import home
    from sqltune.errors import ConfigError
    from sqltune.generate import GenerateConfig
    from sqltune.onboard import onboard

    home.check_name(name)
    try:
        cfg = GenerateConfig.from_dict(json.loads(config_json)) if config_json else GenerateConfig()
    except json.JSONDecodeError as e:
        raise ConfigError(f"--config is not valid JSON: {e}") from None
    res = onboard(source, name, n=n, seed=seed, draft_per_tier=draft_per_tier, config=cfg, masks=masks,
                  dictionary=dictionary, include_schemas=include_schemas or None, max_copy_rows=max_copy_rows,
                  progress=_progress)
    if sys.stderr.isatty():
        click.echo("\r\033[K", nl=False, err=True)
    click.echo(res.summary())
    click.echo("next:")
    for line in res.next_steps():
        click.echo(f"  {line}")


@evalset_group.command("review")
@click.argument("name")
@click.option("--evalset", "evalset_ref", default="draft", show_default=True,
              help="Evalset of the project to review (name or path).")
@click.option("--accept", "accept", multiple=True, help="Accept this case id without prompting. Repeatable.")
@click.option("--accept-all", is_flag=True, help="Accept every unreviewed case without prompting.")
@click.option("--drop", "drop", multiple=True, help="Drop this case id (never drafted again). Repeatable.")
@click.option("--sql", "sql", multiple=True, type=(str, str), metavar="ID SQL",
              help="Replace a case's gold SQL (checked in the sandbox first). Repeatable.")
@click.option("--question", "question", multiple=True, type=(str, str), metavar="ID TEXT",
              help="Replace a case's question. Repeatable.")
def evalset_review(name: str, evalset_ref: str, accept: tuple[str, ...], accept_all: bool, drop: tuple[str, ...],
                   sql: tuple[tuple[str, str], ...], question: tuple[tuple[str, str], ...]) -> None:
    """Review the drafted evalset cases of project NAME: accept, edit the SQL or question, skip or
    drop each unreviewed case. Only reviewed cases are graded. Without --accept / --accept-all /
    --drop / --sql / --question it asks case by case, saving after every answer (quit any time).

    Example:

        sqltune evalset review shop

        sqltune evalset review shop --accept q1a2b3c4d5 --drop q9f8e7d6c5
    """
    from sqltune.onboard import review

    if accept or accept_all or drop or sql or question:
        out = review(name, evalset_ref, accept=accept, accept_all=accept_all, drop=drop, sql=dict(sql),
                     questions=dict(question))
        click.echo(f"{out.path}: accepted {len(out.accepted)}, edited {len(out.edited)}, dropped "
                   f"{len(out.dropped)}; {len(out.remaining)} still to review")
        return
    _interactive(name, evalset_ref)


def _interactive(name: str, evalset_ref: str) -> None:
    from sqltune import home
    from sqltune.errors import ConfigError
    from sqltune.onboard import CaseFile
    from sqltune.targets import resolve_target

    folder = home.existing_project_dir(name)
    f = CaseFile(evalset_ref, project_dir=folder)
    db = resolve_target(project=name)[0]
    todo = f.unreviewed()
    if not todo:
        click.echo(f"{f.cases_path}: every case is reviewed.")
        return
    click.echo(f"{len(todo)} cases to review in {f.cases_path}. Answers are saved as you go.")
    for i, cid in enumerate(todo, start=1):
        while True:
            _show(f.row(cid), db, i, len(todo))
            choice = click.prompt("[a]ccept  [e]dit SQL  [q]uestion  [s]kip  [d]rop  e[x]it",
                                  type=click.Choice(["a", "e", "q", "s", "d", "x"]), default="s", show_choices=False)
            if choice == "a":
                f.accept(cid)
            elif choice == "e":
                new = _edit(str(_golds(f.row(cid))[0]))
                if new:
                    try:
                        f.set_sql(cid, new, db)
                    except ConfigError as e:
                        click.secho(f"not changed: {e}", fg="red")
                    f.save()
                continue
            elif choice == "q":
                text = click.prompt("question", default=f.row(cid)["question"])
                f.set_question(cid, text)
                f.save()
                continue
            elif choice == "d":
                f.drop(cid)
            elif choice == "x":
                f.save()
                _done(f)
                return
            f.save()
            break
    _done(f)


def _golds(row: t.Mapping[str, t.Any]) -> list[str]:
    g = row["gold_sql"]
    return list(g) if isinstance(g, list) else [g]


def _edit(sql: str) -> str | None:
    if os.environ.get("VISUAL") or os.environ.get("EDITOR"):
        text = click.edit(sql + "\n", extension=".sql")
        return text.strip() if text and text.strip() != sql.strip() else None
    text = click.prompt("new SQL (one line; set $EDITOR for an editor)", default=sql)
    return text.strip() if text.strip() != sql.strip() else None


def _show(row: t.Mapping[str, t.Any], db: t.Any, i: int, total: int) -> None:
    from sqltune import sandbox

    click.echo("")
    click.secho(f"[{i}/{total}] {row['id']}  {row.get('difficulty') or '?'}  tags: {', '.join(row.get('tags', []))}",
                bold=True)
    click.echo(f"  question: {row['question']}")
    for k, sql in enumerate(_golds(row), start=1):
        click.echo(f"  gold{f' {k}' if len(_golds(row)) > 1 else ''}: {sql}")
    if row.get("notes"):
        click.echo(f"  notes: {row['notes']}")
    res = sandbox.execute(db, _golds(row)[0], row_cap=5, timeout_s=10)
    if not res.ok:
        click.secho(f"  result: {res.status}: {res.error_message}", fg="red")
        return
    more = " (more rows)" if res.truncated else ""
    click.echo(f"  result{more}: {' | '.join(res.columns)}")
    for r in res.rows:
        click.echo("    " + " | ".join("NULL" if v is None else str(v) for v in r))


def _done(f: t.Any) -> None:
    click.echo(f"accepted {len(f.accepted)}, edited {len(set(f.edited))}, dropped {len(f.dropped)}; "
               f"{len(f.unreviewed())} still to review ({f.cases_path})")
