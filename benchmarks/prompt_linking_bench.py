"""Benchmark: does a linked prompt show what the gold SQL needs? Two layouts, the same budget.

When a schema does not fit the prompt's budget, :class:`sqltune.prompt.PromptBuilder` links tables
and columns to the question and fills the budget with them. How it fills it is the ``layout``
(:data:`sqltune.prompt.builder.LAYOUTS`): ``whole_first`` (the default and the baseline) puts each
linked table in whole, in rank order, so a large first table can crowd out the rest; ``bare_first``
first puts every linked table in with only its linked and join columns, no descriptions and short
code lists, then enlarges them in rank order while the budget allows.

For every hand-written evalset case this counts, per layout, whether the schema text shows every
table the gold SQL reads (CTE names aside) and how many of the gold SQL's schema columns it shows,
by tier; and the schema tokens spent. No model runs: only its tokenizer counts the budget. What a
model makes of the text is measured by EX: showing more tables is not better for a small model
(``benchmarks/results/main_job-cpg-full-bare-first.md``).

Run: ``python benchmarks/prompt_linking_bench.py`` (seconds; ``--budget 600 --evalsets cpg,biotech``).
Prints a table and writes ``benchmarks/results/prompt_linking.json`` and ``prompt_linking.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import time
import typing as t
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TIERS = ("easy", "medium", "hard", "overall")


def tokenizer_for(name: str) -> t.Any:
    """The model's tokenizer alone (a registry alias is converted once, as :func:`load_model` does)."""
    from transformers import AutoTokenizer

    from sqltune.models.load import converted_folder
    from sqltune.models.registry import get_spec

    try:
        folder, _ = converted_folder(get_spec(name))
    except Exception:  # noqa: BLE001 - not an alias: a folder or a hub id
        return AutoTokenizer.from_pretrained(name)
    return AutoTokenizer.from_pretrained(folder)


def gold_needs(sql: str, schema: t.Any) -> tuple[set[str], set[str]]:
    """The tables (lower-cased names) and schema columns (exact names) a gold query reads."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="duckdb")
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    names = {tb.name.lower() for tb in schema.tables}
    tables = {x.name.lower() for x in tree.find_all(exp.Table) if x.name.lower() not in ctes} & names
    columns = {c.name for tb in schema.tables for c in tb.columns}
    return tables, {c.name for c in tree.find_all(exp.Column)} & columns


def shown(text: str, schema: t.Any) -> tuple[set[str], set[str]]:
    """The tables and columns a schema text shows (every ``CREATE TABLE`` and column line)."""
    from sqltune.identifiers import render_table

    tables = {tb.name.lower() for tb in schema.tables
              if f"CREATE TABLE {render_table(tb.key, 'duckdb', schema.default_schema)} (" in text}
    columns = {m.group(1) or m.group(2) for m in re.finditer(r'^  (?:"([^"]+)"|(\w+)) ', text, re.M)}
    return tables, columns


def measure(evalset: str, tokenizer: t.Any, budget: int, layout: str) -> dict[str, t.Any]:
    from sqltune.evalset import load_evalset
    from sqltune.prompt import PromptBuilder, PromptConfig
    from sqltune.targets import resolve_target

    ev = load_evalset(evalset)
    _, schema = resolve_target(sample=ev.sample)
    builder = PromptBuilder(schema, tokenizer, PromptConfig(budget_tokens=budget, layout=layout))
    acc = {tier: {"cases": 0, "all_tables": 0, "columns": 0, "columns_shown": 0} for tier in TIERS}
    spent = []
    for case in ev.cases:
        text = builder.schema_text(case.question)
        spent.append(builder.count_tokens(text))
        need_t, need_c = gold_needs(case.gold_sql[0], schema)
        got_t, got_c = shown(text, schema)
        for tier in (case.difficulty, "overall"):
            a = acc[tier]
            a["cases"] += 1
            a["all_tables"] += need_t <= got_t
            a["columns"] += len(need_c)
            a["columns_shown"] += len(need_c & got_c)
    row: dict[str, t.Any] = {"evalset": evalset, "layout": layout, "budget": budget,
                             "schema_tokens": round(statistics.mean(spent), 1)}
    for tier, a in acc.items():
        row[f"all_tables.{tier}"] = round(a["all_tables"] / a["cases"], 4) if a["cases"] else None
        row[f"columns.{tier}"] = round(a["columns_shown"] / a["columns"], 4) if a["columns"] else None
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="Whose tokenizer counts the budget (default: the embedded default).")
    ap.add_argument("--evalsets", default="cpg,biotech")
    ap.add_argument("--budget", type=int, default=600, help="Schema-token budget (the default prompt's).")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "prompt_linking.json"))
    args = ap.parse_args(argv)

    from sqltune import atomic
    from sqltune.models import DEFAULT_MODEL
    from sqltune.prompt.builder import LAYOUTS

    started = time.perf_counter()
    model_name = args.model or DEFAULT_MODEL
    tokenizer = tokenizer_for(model_name)
    rows = [measure(name, tokenizer, args.budget, layout)
            for name in [e for e in args.evalsets.split(",") if e] for layout in LAYOUTS]
    for r in rows:
        base = next(b for b in rows if b["evalset"] == r["evalset"] and b["layout"] == "whole_first")
        r["all_tables_ratio_vs_baseline"] = (round(r["all_tables.overall"] / base["all_tables.overall"], 2)
                                             if base["all_tables.overall"] else None)
    table = markdown_table(rows)
    print("\n" + table)
    out = Path(args.out)
    doc = {
        "kind": "sqltune.bench.prompt_linking", "format": 1, "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "command": "python benchmarks/prompt_linking_bench.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "tokenizer": model_name, "baseline_layout": "whole_first", "wall_s": round(time.perf_counter() - started, 1),
        "rows": rows,
        "higher_is_better": {"all_tables": True, "columns": True, "all_tables_ratio_vs_baseline": True,
                             "schema_tokens": False},
    }
    atomic.write_json(out, doc)
    md = [f"# Linked prompts: what the gold SQL needs, shown within {args.budget} schema tokens", "",
          f"{time.strftime('%Y-%m-%d')}, `{doc['command']}`, tokenizer of `{model_name}`. \"all tables\": "
          "cases whose schema text shows every table the gold SQL reads; \"columns\": the gold SQL's columns "
          "shown. Baseline: `whole_first` (the default layout).", "", table, ""]
    atomic.write_text(out.with_suffix(".md"), "\n".join(md))
    print(f"wrote {out} and {out.with_suffix('.md')}")
    return 0


def markdown_table(rows: list[dict[str, t.Any]]) -> str:
    """One row per evalset and layout.

    >>> print(markdown_table([]))
    (no rows)
    """
    if not rows:
        return "(no rows)"

    def pct(v: t.Any) -> str:
        return "-" if v is None else f"{v:.0%}"

    head = ["evalset", "layout", "schema tokens"] + [f"all tables {tier}" for tier in TIERS] + [
        f"columns {tier}" for tier in TIERS] + ["all tables vs baseline"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["evalset"], f"`{r['layout']}`", f"{r['schema_tokens']:.0f}"]
        cells += [pct(r[f"all_tables.{tier}"]) for tier in TIERS] + [pct(r[f"columns.{tier}"]) for tier in TIERS]
        cells.append(f"×{r['all_tables_ratio_vs_baseline']:.2f}" if r.get("all_tables_ratio_vs_baseline") else "-")
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
