"""Reports of a grading run: ``results.json`` (schema: :mod:`sqltune.grade.result_schema`), ``report.md``
and a self-contained ``report.html``.

:func:`to_results` turns a :class:`~sqltune.grade.run.GradeRun` into the documented results dict;
:func:`write_reports` writes the three files atomically; :func:`load_results` reads a results file
back and checks it against the schema; :func:`render_markdown` (and
:func:`sqltune.grade.report_html.render_html`) render from the results dict alone, so a report can be
rebuilt from an old ``results.json``.

Both reports show EX strict (the headline), EX lenient, TS and the invented-identifier and
invented-literal rates per tier and overall, each with ``n`` and its 95 % Wilson interval, the
failure taxonomy, and every failed item with the predicted SQL next to the gold.

>>> import duckdb, os, tempfile
>>> from sqltune.evalset import EvalCase, Evalset
>>> from sqltune.grade.policy import ComparisonPolicy
>>> from sqltune.grade.run import evaluate_predictions
>>> d = tempfile.mkdtemp()
>>> db = os.path.join(d, "shop.duckdb")
>>> duckdb.connect(db).execute("CREATE TABLE t AS SELECT range AS id FROM range(5)").close()
>>> es = Evalset("demo", "1", (EvalCase("q1", "How many?", ("SELECT count(*) FROM t",), "easy"),),
...              ComparisonPolicy(), sample="demo")
>>> run = evaluate_predictions(es, [{"id": "q1", "sql": "SELECT count(*) + 1 FROM t"}], db, suite=False)
>>> paths = write_reports(run, os.path.join(d, "out"))
>>> sorted(paths)
['html', 'json', 'md']
>>> load_results(paths["json"])["aggregates"]["overall"]["metrics"]["ex_strict"]["value"]
0.0
>>> "SELECT count(*) + 1 FROM t" in paths["md"].read_text()
True
"""

from __future__ import annotations

import json
import os
import typing as t
from pathlib import Path

from sqltune import atomic
from sqltune.errors import ConfigError
from sqltune.grade import result_schema as rs
from sqltune.grade.policy import POLICY_VERSION

if t.TYPE_CHECKING:
    from sqltune.grade.run import GradeRun, ItemResult

__all__ = ["ResultsError", "load_results", "render_markdown", "to_results", "write_reports"]

#: Column titles of the metrics, in report order (↓: lower is better).
METRIC_TITLES: t.Final = {
    "ex_strict": "EX strict", "ex_lenient": "EX lenient", "ts": "TS",
    "invented_identifier_rate": "invented id. ↓", "invented_literal_rate": "invented literal ↓",
}  # fmt: skip


class ResultsError(ConfigError):
    """A results file is missing, not JSON, or does not fit the schema; ``problems`` lists each misfit."""

    def __init__(self, message: str, problems: t.Sequence[str] = ()) -> None:
        self.problems = tuple(problems)
        super().__init__(message)


# ------------------------------------------------------------------------------------ results dict
def to_results(run: GradeRun) -> rs.Results:
    """The documented results dict of ``run`` (see :mod:`sqltune.grade.result_schema`)."""
    es = run.evalset
    overall = run.aggregates["overall"]
    headline = overall.metrics["ex_strict"]
    n_items = len(run.items)
    suite: rs.SuiteInfo | None = None
    if run.suite is not None:
        suite = rs.SuiteInfo(key=str(run.suite["key"]), copies=list(run.suite["copies"]),
                             golds=int(run.suite["golds"]), golds_nonempty=list(run.suite["golds_nonempty"]),
                             empty_golds=[list(x) for x in run.suite["empty_golds"]],
                             build_s=float(run.suite["build_s"]))  # fmt: skip
    return rs.Results(
        schema_version=rs.SCHEMA_VERSION, kind=rs.KIND, date=run.date, git_hash=run.git_hash,
        versions=rs.Versions(**run.versions),  # type: ignore[typeddict-item]
        evalset=rs.EvalsetInfo(name=es.name, version=es.version, sample=es.sample, project=es.project,
                               sample_version=es.sample_version, path=str(es.path) if es.path else None,
                               cases=len(es.cases)),
        database=rs.DatabaseInfo(path=run.db, schema_fingerprint=run.schema_fingerprint, domain_hash=run.domain_hash,
                                 sample_version=run.schema_sample_version),
        policy=rs.PolicyInfo(version=run.policy.version or POLICY_VERSION, label=run.policy.label,
                             params=run.policy.to_dict()),
        config=rs.RunConfig(suite=bool(run.config["suite"]), k=int(run.config["k"]), seed=int(run.config["seed"]),
                            workers=int(run.config["workers"]), timeout_s=float(run.config["timeout_s"]),
                            row_cap=int(run.config["row_cap"])),
        suite=suite,
        headline=rs.Headline(metric="ex_strict", value=headline.value, n=headline.n),
        higher_is_better={name: m.higher_is_better for name, m in overall.metrics.items()},
        aggregates={tier: rs.TierAggregate(n=s.n, metrics={k: m.to_dict() for k, m in s.metrics.items()},
                                           taxonomy=dict(s.taxonomy), ts_only=s.ts_only)
                    for tier, s in run.aggregates.items()},
        missing=list(run.missing), skipped=list(run.skipped), problems=list(run.problems),
        timing=rs.Timing(wall_s=round(run.wall_s, 3), suite_build_s=round(run.suite_build_s, 3),
                         items_per_s=round(n_items / run.wall_s, 3) if run.wall_s > 0 else 0.0),
        items=[_item(i) for i in run.items],
    )  # fmt: skip


def _item(i: ItemResult) -> rs.ItemResult:
    v = i.verdict
    ts: rs.TsResult | None = None
    if i.ts is not None:
        ts = rs.TsResult(correct=i.ts.correct, failed_copy=i.ts.failed_copy, copies_checked=i.ts.copies_checked,
                         skipped=list(i.ts.skipped), reason=i.ts.reason)  # fmt: skip
    inv: rs.InventedResult | None = None
    if i.invented is not None:
        inv = rs.InventedResult(tables=list(i.invented.tables), columns=list(i.invented.columns),
                                literals=[list(x) for x in i.invented.literals],
                                case_mismatches=list(i.invented.case_mismatches),
                                unparseable=i.invented.unparseable)  # fmt: skip
    return rs.ItemResult(
        id=i.case.id, question=i.case.question, tier=i.tier, declared_difficulty=i.case.difficulty,
        measured_difficulty=i.measured_difficulty, measured_score=i.measured_score, tags=list(i.case.tags),
        pred_sql=i.pred_sql, gold_sql=list(i.case.gold_sql), missing=i.missing, status=v.status.value,
        subtype=v.subtype.value if v.subtype else None, label=v.label, reason=v.reason, strict=v.strict,
        lenient=v.lenient, gold_index=v.gold_index, ts=ts, invented=inv,
        timings=rs.ItemTimings(pred_s=round(v.pred_s, 6), gold_s=round(v.gold_s, 6), compare_s=round(v.compare_s, 6),
                               ts_s=round(i.ts.seconds, 6) if i.ts else 0.0, total_s=round(i.seconds, 6)),
        extra=json.loads(json.dumps(dict(i.extra), default=str)),
    )  # fmt: skip


# ------------------------------------------------------------------------------------------ files
def write_reports(run: GradeRun | rs.Results, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``results.json``, ``report.md`` and ``report.html`` into ``out_dir`` (each atomically).

    Returns:
        ``{"json": path, "md": path, "html": path}``.
    """
    from sqltune.grade.report_html import render_html

    results = run if isinstance(run, dict) else to_results(run)
    problems = rs.validate(results)
    if problems:  # a bug, not a user error: never write a file the loader would refuse
        raise ResultsError(f"Results do not fit schema {rs.SCHEMA_VERSION}:\n  " + "\n  ".join(problems[:20]),
                           problems)  # fmt: skip
    out = Path(out_dir)
    paths = {"json": out / "results.json", "md": out / "report.md", "html": out / "report.html"}
    atomic.write_text(paths["json"], json.dumps(results, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    atomic.write_text(paths["md"], render_markdown(results))
    atomic.write_text(paths["html"], render_html(results))
    return paths


def load_results(path: str | os.PathLike[str]) -> rs.Results:
    """Read a ``results.json`` and check it against the schema.

    Raises:
        ResultsError: Missing file, invalid JSON, another schema version, or misfits (each named
            by its JSON path, e.g. ``$.items[3].status``).
    """
    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"Results file not found: {p}") from None
    except json.JSONDecodeError as e:
        raise ResultsError(f"Results file {p} is not valid JSON: {e}") from None
    if isinstance(data, dict) and data.get("schema_version") != rs.SCHEMA_VERSION:
        raise ResultsError(f"Results file {p} has schema version {data.get('schema_version')!r}; this sqltune "
                           f"reads version {rs.SCHEMA_VERSION!r}.")  # fmt: skip
    problems = rs.validate(data)
    if isinstance(data, dict) and data.get("kind") != rs.KIND:
        problems.insert(0, f"$.kind: expected {rs.KIND!r}, got {data.get('kind')!r}")
    if problems:
        shown = "\n  ".join(problems[:20]) + (f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else "")
        raise ResultsError(f"Results file {p} does not fit schema {rs.SCHEMA_VERSION} "
                           f"({len(problems)} problems):\n  {shown}", problems)  # fmt: skip
    return t.cast(rs.Results, data)


# --------------------------------------------------------------------------------------- markdown
def fmt_metric(m: rs.Metric | None) -> str:
    """``"72.0% (65.1–78.0) n=150"``, or ``"–"`` without data."""
    if m is None or m["value"] is None:
        return "–"
    lo, hi = m["ci_low"] or 0.0, m["ci_high"] or 0.0
    return f"{100 * m['value']:.1f}% ({100 * lo:.1f}–{100 * hi:.1f}) n={m['n']}"


def failed_items(results: rs.Results) -> list[rs.ItemResult]:
    """Items wrong on the database or on a copy (missing ones included), in evalset order."""
    return [i for i in results["items"] if not i["strict"] or (i["ts"] is not None and not i["ts"]["correct"])]


def item_label(i: rs.ItemResult) -> str:
    if i["strict"] and i["ts"] is not None and not i["ts"]["correct"]:
        return "TS_ONLY"
    return "MISSING" if i["missing"] else i["label"]


def render_markdown(results: rs.Results) -> str:
    """The Markdown report of ``results``."""
    es, db, pol, cfg = results["evalset"], results["database"], results["policy"], results["config"]
    overall = results["aggregates"]["overall"]["metrics"].get(results["headline"]["metric"])
    lines = [
        f"# sqltune grade: {es['name']} v{es['version']}", "",
        f"**EX strict (headline): {fmt_metric(overall)}**", "",
        f"- date: {results['date']}; git: {results['git_hash'] or 'n/a'}; "
        + "; ".join(f"{k} {v}" for k, v in results["versions"].items()),
        f"- database: `{db['path']}` (schema {db['schema_fingerprint']}, domains {db['domain_hash']}, "
        f"sample version {db['sample_version'] if db['sample_version'] is not None else 'n/a'})",
        f"- evalset: {es['cases']} cases, sample version {es['sample_version'] if es['sample_version'] is not None else 'n/a'}",
        f"- policy: {pol['label']}; suite: {'k=' + str(cfg['k']) + ', seed ' + str(cfg['seed']) if cfg['suite'] else 'off'}; "
        f"workers {cfg['workers']}; timeout {cfg['timeout_s']:g} s; row cap {cfg['row_cap']:,}",
        f"- timing: {results['timing']['wall_s']:.1f} s ({results['timing']['items_per_s']:.1f} items/s; "
        f"suite build {results['timing']['suite_build_s']:.1f} s)",
        "", "## Metrics", "",
    ]  # fmt: skip
    names = [n for n in METRIC_TITLES if n in overall_names(results)]
    lines.append("| tier | n | " + " | ".join(METRIC_TITLES[n] for n in names) + " | TS-only failures |")
    lines.append("|---|---:|" + "---|" * len(names) + "---:|")
    for tier, agg in results["aggregates"].items():
        cells = [fmt_metric(agg["metrics"].get(n)) for n in names]
        lines.append(f"| {tier} | {agg['n']} | " + " | ".join(cells) + f" | {agg['ts_only']} |")
    lines += ["", "↓: lower is better. Intervals: 95 % Wilson. TS counts a prediction right only if it matches the "
              "gold on the database and on every perturbed copy.", "", "## Failure taxonomy", ""]  # fmt: skip
    labels = list(results["aggregates"]["overall"]["taxonomy"])
    tiers = list(results["aggregates"])
    if labels:
        lines.append("| label | " + " | ".join(tiers) + " |")
        lines.append("|---|" + "---:|" * len(tiers))
        for label in labels:
            lines.append(f"| {label} | " + " | ".join(str(results["aggregates"][tr]["taxonomy"].get(label, 0))
                                                       for tr in tiers) + " |")  # fmt: skip
    else:
        lines.append("No failures.")
    if results["suite"] is not None:
        s = results["suite"]
        lines += ["", f"Suite `{s['key']}`: {len(s['copies'])} copies; golds returning rows per copy: "
                  f"{', '.join(map(str, s['golds_nonempty']))} of {s['golds']} (built in {s['build_s']:.1f} s)."]  # fmt: skip
    if results["missing"]:
        lines += ["", f"## Missing predictions ({len(results['missing'])}, graded EMPTY)", "",
                  ", ".join(f"`{m}`" for m in results["missing"])]  # fmt: skip
    if results.get("skipped"):
        lines += ["", f"## Skipped: not reviewed ({len(results['skipped'])}, in no count)", "",
                  ", ".join(f"`{m}`" for m in results["skipped"])]  # fmt: skip
    if results["problems"]:
        lines += ["", "## Problems reading the predictions", ""] + [f"- {p}" for p in results["problems"]]
    failures = failed_items(results)
    lines += ["", f"## Failed items ({len(failures)})", ""]
    for i in failures:
        lines += [f"### {i['id']} ({i['tier']}): {item_label(i)}", "", f"> {i['question']}", "",
                  f"- reason: {i['reason'] or '–'}"]  # fmt: skip
        if i["ts"] is not None and i["strict"] and not i["ts"]["correct"]:
            lines.append(f"- TS: {i['ts']['reason']}")
        inv = i["invented"]
        if inv and (inv["tables"] or inv["columns"] or inv["literals"]):
            found = inv["tables"] + inv["columns"] + [f"{c} = '{v}'" for c, v in inv["literals"]]
            lines.append("- invented: " + ", ".join(f"`{x}`" for x in found))
        lines += ["", "Predicted:", "", _fence(i["pred_sql"] or "-- (no prediction)"), ""]
        for n, gold in enumerate(i["gold_sql"]):
            lines += [f"Gold{f' {n + 1}' if len(i['gold_sql']) > 1 else ''}:", "", _fence(gold), ""]
    suite = cfg["suite"]
    lines += ["## All items", "", "| id | tier | label |" + (" TS |" if suite else "") + " invented |",
              "|---|---|---|" + ("---|" if suite else "") + "---|"]  # fmt: skip
    for i in results["items"]:
        ts = "–" if i["ts"] is None else ("ok" if i["ts"]["correct"] else "fail")
        inv = i["invented"]
        count = len(inv["tables"]) + len(inv["columns"]) + len(inv["literals"]) if inv else 0
        lines.append(f"| {i['id']} | {i['tier']} | {item_label(i)} |" + (f" {ts} |" if suite else "")
                     + f" {count or ''} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def overall_names(results: rs.Results) -> list[str]:
    return list(results["aggregates"]["overall"]["metrics"])


def _fence(sql: str) -> str:
    longest, run = 0, 0
    for ch in sql:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    fence = "`" * max(3, longest + 1)
    return f"{fence}sql\n{sql.strip()}\n{fence}"
