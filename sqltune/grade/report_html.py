"""The HTML report of a grading run: one self-contained file (inline CSS, no scripts, no external assets).

Every text taken from the results (questions, SQL, reasons, ids) is HTML-escaped.

>>> page = render_html(_demo())
>>> page.startswith("<!DOCTYPE html>"), "&lt;b&gt;bold?&lt;/b&gt;" in page, "<b>bold?</b>" in page
(True, True, False)
>>> "http" in page or "<script" in page  # no external assets, no scripts
False
"""

from __future__ import annotations

import html
import typing as t

from sqltune.grade import result_schema as rs
from sqltune.grade.report import METRIC_TITLES, failed_items, fmt_metric, item_label

__all__ = ["render_html"]

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1200px;color:#1d1d1f;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f5f5f7}td.num{text-align:right}.headline{font-size:1.3em;font-weight:600}
.meta{color:#555}.ok{color:#137333}.bad{color:#b3261e}.item{border:1px solid #ddd;border-radius:6px;margin:1em 0;padding:.6em 1em}
.sql{display:grid;grid-template-columns:1fr 1fr;gap:1em}pre{background:#f6f8fa;padding:.6em;overflow-x:auto;white-space:pre-wrap;margin:.2em 0}
.label{font-family:ui-monospace,monospace;font-weight:600}.ci{color:#666;font-size:.9em}
"""


def _e(value: t.Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _metric_cell(m: rs.Metric | None) -> str:
    if m is None or m["value"] is None:
        return "<td>–</td>"
    lo, hi = m["ci_low"] or 0.0, m["ci_high"] or 0.0
    return (f'<td class="num">{100 * m["value"]:.1f}% <span class="ci">({100 * lo:.1f}–{100 * hi:.1f}) '
            f'n={m["n"]}</span></td>')  # fmt: skip


def render_html(results: rs.Results) -> str:
    """The HTML report of ``results`` (one page, nothing loaded from elsewhere)."""
    es, db, pol, cfg = results["evalset"], results["database"], results["policy"], results["config"]
    aggs = results["aggregates"]
    headline = aggs["overall"]["metrics"].get(results["headline"]["metric"])
    out = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>sqltune grade: {_e(es['name'])} v{_e(es['version'])}</title><style>{_CSS}</style></head><body>",
        f"<h1>sqltune grade: {_e(es['name'])} v{_e(es['version'])}</h1>",
        f'<p class="headline">EX strict (headline): {_e(fmt_metric(headline))}</p>',
        '<p class="meta">',
        f"date {_e(results['date'])} · git {_e(results['git_hash'] or 'n/a')} · "
        + " · ".join(f"{_e(k)} {_e(v)}" for k, v in results["versions"].items()) + "<br>",
        f"database <code>{_e(db['path'])}</code> · schema {_e(db['schema_fingerprint'])} · domains "
        f"{_e(db['domain_hash'])} · sample version {_e(db['sample_version'])}<br>",
        f"{es['cases']} cases · policy {_e(pol['label'])} · suite "
        f"{_e('k=' + str(cfg['k']) + ', seed ' + str(cfg['seed']) if cfg['suite'] else 'off')} · workers "
        f"{cfg['workers']} · {results['timing']['wall_s']:.1f} s ({results['timing']['items_per_s']:.1f} items/s)",
        "</p>", "<h2>Metrics</h2><table><tr><th>tier</th><th>n</th>",
    ]  # fmt: skip
    names = [n for n in METRIC_TITLES if n in aggs["overall"]["metrics"]]
    out += [f"<th>{_e(METRIC_TITLES[n])}</th>" for n in names] + ["<th>TS-only failures</th></tr>"]
    for tier, agg in aggs.items():
        out.append(f"<tr><td>{_e(tier)}</td><td class=\"num\">{agg['n']}</td>")
        out += [_metric_cell(agg["metrics"].get(n)) for n in names]
        out.append(f"<td class=\"num\">{agg['ts_only']}</td></tr>")
    out.append("</table><p class=\"meta\">↓: lower is better. Intervals: 95 % Wilson. TS counts a prediction right "
               "only if it matches the gold on the database and on every perturbed copy.</p>")  # fmt: skip
    out.append("<h2>Failure taxonomy</h2>")
    labels = list(aggs["overall"]["taxonomy"])
    if labels:
        out.append("<table><tr><th>label</th>" + "".join(f"<th>{_e(tr)}</th>" for tr in aggs) + "</tr>")
        for label in labels:
            out.append(f'<tr><td class="label">{_e(label)}</td>'
                       + "".join(f'<td class="num">{aggs[tr]["taxonomy"].get(label, 0)}</td>' for tr in aggs)
                       + "</tr>")  # fmt: skip
        out.append("</table>")
    else:
        out.append("<p>No failures.</p>")
    if results["suite"] is not None:
        s = results["suite"]
        out.append(f"<p class=\"meta\">Suite {_e(s['key'])}: {len(s['copies'])} copies; golds returning rows per copy: "
                   f"{_e(', '.join(map(str, s['golds_nonempty'])))} of {s['golds']}.</p>")  # fmt: skip
    if results["missing"]:
        out.append(f"<h2>Missing predictions ({len(results['missing'])}, graded EMPTY)</h2><p>"
                   + ", ".join(f"<code>{_e(m)}</code>" for m in results["missing"]) + "</p>")  # fmt: skip
    if results.get("skipped"):
        out.append(f"<h2>Skipped: not reviewed ({len(results['skipped'])}, in no count)</h2><p>"
                   + ", ".join(f"<code>{_e(m)}</code>" for m in results["skipped"]) + "</p>")  # fmt: skip
    if results["problems"]:
        out.append("<h2>Problems reading the predictions</h2><ul>"
                   + "".join(f"<li>{_e(p)}</li>" for p in results["problems"]) + "</ul>")  # fmt: skip
    failures = failed_items(results)
    out.append(f"<h2>Failed items ({len(failures)})</h2>")
    for i in failures:
        out.append(f'<div class="item" id="{_e(i["id"])}"><div><b>{_e(i["id"])}</b> ({_e(i["tier"])}) '
                   f'<span class="label bad">{_e(item_label(i))}</span></div>')  # fmt: skip
        out.append(f"<div>{_e(i['question'])}</div><div class=\"meta\">reason: {_e(i['reason'] or '–')}</div>")
        if i["ts"] is not None and i["strict"] and not i["ts"]["correct"]:
            out.append(f"<div class=\"meta\">TS: {_e(i['ts']['reason'])}</div>")
        inv = i["invented"]
        if inv and (inv["tables"] or inv["columns"] or inv["literals"]):
            found = inv["tables"] + inv["columns"] + [f"{c} = '{v}'" for c, v in inv["literals"]]
            out.append("<div class=\"meta\">invented: " + ", ".join(f"<code>{_e(x)}</code>" for x in found) + "</div>")
        golds = "".join(f"<pre>{_e(g.strip())}</pre>" for g in i["gold_sql"])
        out.append(f'<div class="sql"><div><b>Predicted</b><pre>{_e((i["pred_sql"] or "-- (no prediction)").strip())}'
                   f"</pre></div><div><b>Gold</b>{golds}</div></div></div>")  # fmt: skip
    suite = cfg["suite"]
    out.append("<h2>All items</h2><table><tr><th>id</th><th>tier</th><th>label</th>" + ("<th>TS</th>" if suite else "")
               + "<th>invented</th><th>reason</th></tr>")  # fmt: skip
    for i in results["items"]:
        ts = "–" if i["ts"] is None else ('<span class="ok">ok</span>' if i["ts"]["correct"] else
                                          '<span class="bad">fail</span>')  # fmt: skip
        inv = i["invented"]
        count = len(inv["tables"]) + len(inv["columns"]) + len(inv["literals"]) if inv else 0
        cls = "ok" if i["strict"] else "bad"
        out.append(f"<tr><td>{_e(i['id'])}</td><td>{_e(i['tier'])}</td><td class=\"label {cls}\">{_e(item_label(i))}"
                   f"</td>" + (f"<td>{ts}</td>" if suite else "") + f"<td class=\"num\">{count or ''}</td>"
                   f"<td>{_e(i['reason'])}</td></tr>")  # fmt: skip
    out.append("</table></body></html>")
    return "\n".join(out) + "\n"


def _demo() -> rs.Results:
    """A tiny results dict (for the doctest)."""
    metric = rs.Metric(name="ex_strict", value=0.0, k=0, n=1, ci_low=0.0, ci_high=0.79, higher_is_better=True)
    item = rs.ItemResult(
        id="q1", question="<b>bold?</b>", tier="easy", declared_difficulty="easy", measured_difficulty="easy",
        measured_score=1.0, tags=[], pred_sql="SELECT '<b>'", gold_sql=["SELECT 1"], missing=False,
        status="WRONG_RESULT", subtype=None, label="WRONG_RESULT", reason="1 row missing, 1 extra", strict=False,
        lenient=False, gold_index=None, ts=None, invented=None,
        timings=rs.ItemTimings(pred_s=0.0, gold_s=0.0, compare_s=0.0, ts_s=0.0, total_s=0.0), extra={},
    )  # fmt: skip
    agg = rs.TierAggregate(n=1, metrics={"ex_strict": metric}, taxonomy={"WRONG_RESULT": 1}, ts_only=0)
    return rs.Results(
        schema_version=rs.SCHEMA_VERSION, kind=rs.KIND, date="2025-01-01T00:00:00+00:00", git_hash=None,
        versions=rs.Versions(sqltune="0", duckdb="0", sqlglot="0", python="3"),
        evalset=rs.EvalsetInfo(name="demo", version="1", sample="demo", project=None, sample_version=None, path=None,
                               cases=1),
        database=rs.DatabaseInfo(path="demo.duckdb", schema_fingerprint="f", domain_hash="d", sample_version=None),
        policy=rs.PolicyInfo(version="1.0", label="1.0", params={}),
        config=rs.RunConfig(suite=False, k=0, seed=0, workers=1, timeout_s=5.0, row_cap=10),
        suite=None, headline=rs.Headline(metric="ex_strict", value=0.0, n=1), higher_is_better={"ex_strict": True},
        aggregates={"overall": agg, "easy": agg}, missing=[], problems=[],
        timing=rs.Timing(wall_s=1.0, suite_build_s=0.0, items_per_s=1.0), items=[item],
    )  # fmt: skip
