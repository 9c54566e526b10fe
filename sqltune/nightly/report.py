"""The nightly job's reports: JUnit XML for CI, a Markdown and a self-contained HTML page, trend plots as SVG.

JUnit: one ``<testsuite>`` per combination, one ``<testcase>`` per scope (``overall``, ``easy``,
``medium``, ``hard``); a regression is a ``<failure>`` whose message names each delta beyond its
limit, a combination that could not run is an ``<error>`` on each of its testcases.

>>> svg = trend_svg([(1, {"EX": 0.5, "TS": 0.4}, False), (2, {"EX": 0.7, "TS": None}, True)], "cpg overall")
>>> svg.startswith("<svg") and svg.count("<polyline") == 2 and "cpg overall" in svg
True
"""

from __future__ import annotations

import html
import typing as t
import xml.etree.ElementTree as ET
from pathlib import Path

from sqltune import atomic
from sqltune.nightly.config import SCOPES

if t.TYPE_CHECKING:
    from sqltune.nightly.history import TrendPoint
    from sqltune.nightly.run import ComboOutcome, NightlyResult

__all__ = ["render_html", "render_markdown", "render_junit", "trend_svg", "write_reports"]

_W, _H, _PAD, _TOP = 560, 220, 40, 52
_COLOURS = {"EX": "#1f77b4", "TS": "#ff7f0e", "invented": "#d62728"}
_STATUS = {"baseline": "BASELINE", "pass": "PASS", "fail": "FAIL", "error": "ERROR"}


# ------------------------------------------------------------------------------------------- SVG
def trend_svg(points: t.Sequence[tuple[t.Any, t.Mapping[str, float | None], bool]], title: str) -> str:
    """A line plot of rates in ``[0, 1]`` over runs: ``points`` are ``(x label, {series: value}, is_baseline)``,
    oldest first; baseline runs get a grey marker line. No matplotlib needed."""
    n = len(points)

    def x(i: int) -> float:
        return _PAD + (i / (n - 1) if n > 1 else 0.5) * (_W - 2 * _PAD)

    def y(v: float) -> float:
        return _H - _PAD - v * (_H - _PAD - _TOP)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" font-family="sans-serif" '
             f'font-size="11"><rect width="100%" height="100%" fill="white"/>',
             f'<text x="{_PAD}" y="18">{html.escape(title)}</text>']
    for v in (0.0, 0.5, 1.0):
        parts.append(f'<line x1="{_PAD}" x2="{_W - _PAD}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{_PAD - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.0%}</text>')
    for i, (_, _, base) in enumerate(points):
        if base:
            parts.append(f'<line x1="{x(i):.1f}" x2="{x(i):.1f}" y1="{y(0):.1f}" y2="{y(1):.1f}" stroke="#999" '
                         f'stroke-dasharray="3,3"><title>baseline</title></line>')
    if points:
        parts.append(f'<text x="{_PAD}" y="{_H - 12}">{html.escape(str(points[0][0]))}</text>')
        if n > 1:
            parts.append(f'<text x="{_W - _PAD}" y="{_H - 12}" text-anchor="end">{html.escape(str(points[-1][0]))}'
                         "</text>")
    names = list(dict.fromkeys(k for _, vals, _ in points for k in vals))
    for j, name in enumerate(names):
        colour = _COLOURS.get(name, "#555")
        pts = [(x(i), y(vals[name])) for i, (_, vals, _) in enumerate(points) if vals.get(name) is not None]
        if not pts:
            continue
        dash = ' stroke-dasharray="5,3"' if name == "invented" else ""
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5"{dash} '
                     f'points="{" ".join(f"{a:.1f},{b:.1f}" for a, b in pts)}"/>')
        a, b = pts[-1]
        parts.append(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{colour}"/>')
        parts.append(f'<text x="{_PAD + 70 * j}" y="36" fill="{colour}">{html.escape(name)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _trend_points(trend: t.Sequence[TrendPoint], scope: str) -> list[tuple[t.Any, dict[str, float | None], bool]]:
    return [(p.ts.strftime("%Y-%m-%d %H:%M"), {"EX": p.ex, "TS": p.ts_acc, "invented": p.invented}, p.baseline)
            for p in trend if p.scope == scope]


def _scopes(o: ComboOutcome) -> list[str]:
    have = {p.scope for p in o.trend} | set(o.metrics)
    return [s for s in SCOPES if s in have]


# ---------------------------------------------------------------------------------------- JUnit
def render_junit(result: NightlyResult) -> str:
    """JUnit XML: a testsuite per combination, a testcase per scope."""
    root = ET.Element("testsuites", name="sqltune nightly")
    total = failures = errors = 0
    for o in result.outcomes:
        suite = ET.SubElement(root, "testsuite", name=o.combo.label, timestamp=result.ts.isoformat(timespec="seconds"),
                              time=f"{o.wall_s:.2f}")  # fmt: skip
        props = ET.SubElement(suite, "properties")
        for k, v in (("combination", o.combo.describe()), ("run_id", result.run_id), ("git_hash", result.git_hash),
                     ("config_hash", result.config_hash), ("baseline_run", o.baseline_run),
                     ("status", o.status)):  # fmt: skip
            ET.SubElement(props, "property", name=k, value=str(v or ""))
        n = f = e = 0
        for scope in _scopes(o) or ["overall"]:
            n += 1
            case = ET.SubElement(suite, "testcase", classname=f"sqltune.nightly.{o.combo.label}", name=scope)
            if o.status == "error":
                e += 1
                err = o.error or "error"
                ET.SubElement(case, "error", message=err.splitlines()[0], type="error").text = err
                continue
            deltas = o.comparison.for_scope(scope) if o.comparison else ()
            bad = [d for d in deltas if d.failed]
            if bad:
                f += 1
                node = ET.SubElement(case, "failure", message="; ".join(d.message() for d in bad), type="regression")
                flips = [fl for fl in (o.comparison.flips if o.comparison else ()) if fl.regressed
                         and (scope == "overall" or fl.tier == scope)]
                node.text = "\n".join(f"{fl.metric} regressed: {fl.item_id} ({fl.tier}) {fl.label}" for fl in flips)
            out = [d.message() for d in deltas] or [_current_line(o, scope)]
            if o.status == "baseline" or o.accepted:
                out.append(f"run {result.run_id} is now the baseline")
            ET.SubElement(case, "system-out").text = "\n".join(out)
        suite.set("tests", str(n))
        suite.set("failures", str(f))
        suite.set("errors", str(e))
        total, failures, errors = total + n, failures + f, errors + e
    root.set("tests", str(total))
    root.set("failures", str(failures))
    root.set("errors", str(errors))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _current_line(o: ComboOutcome, scope: str) -> str:
    m = o.metrics.get(scope, {})
    parts = [f"{k} {v:.1%}" for k, v in m.items() if isinstance(v, float)]
    return f"{scope}: " + (", ".join(parts) if parts else "no items")


# ------------------------------------------------------------------------------------- Markdown
def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.1%}"


def _pts(v: float | None) -> str:
    return "-" if v is None else f"{v:+.1f}"


def _headline(result: NightlyResult) -> list[str]:
    counts: dict[str, int] = {}
    for o in result.outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    state = ", ".join(f"{v} {k}" for k, v in counts.items())
    when = result.ts.isoformat(timespec="seconds")
    git = result.git_hash or "n/a"
    return [f"run `{result.run_id}` · {when} UTC · git `{git}` · config `{result.config_hash}` · "
            f"exit {result.exit_code}",
            f"{len(result.outcomes)} combinations: {state}"]


def _scope_rows(o: ComboOutcome) -> list[list[str]]:
    rows = []
    for scope in _scopes(o):
        cur = o.metrics.get(scope, {})
        row = [scope, str(cur.get("n", "-"))]
        for metric in ("ex_strict", "ts", "invented_identifier_rate"):
            d = None
            if o.comparison is not None:
                d = next((x for x in o.comparison.for_scope(scope) if x.metric == metric), None)
            if d is not None:
                mark = " ✗" if d.failed else ""
                row.append(f"{_pct(d.base)} → {_pct(d.current)} ({_pts(d.points)}, p={d.p:.3f}){mark}")
            else:
                row.append(_pct(t.cast("float | None", cur.get(metric))))
        rows.append(row)
    return rows


def render_markdown(result: NightlyResult, svgs: t.Mapping[tuple[str, str], str] | None = None) -> str:
    """The Markdown report; ``svgs`` maps ``(combination label, scope)`` to an SVG file name beside it."""
    lines = ["# sqltune nightly", "", *(f"{x}  " for x in _headline(result)), ""]
    lines += ["| combination | status | EX overall | TS overall | invented | flips: regressed / fixed |",
              "|---|---|---|---|---|---|"]
    for o in result.outcomes:
        m = o.metrics.get("overall", {})
        flips = "-"
        if o.comparison is not None:
            worse, better = o.comparison.flipped()
            flips = f"{len(worse)} / {len(better)}"
        status = _STATUS[o.status] + (" (accepted)" if o.accepted and o.status != "baseline" else "")
        lines.append(f"| {o.combo.describe()} | {status} | {_pct(m.get('ex_strict'))} | {_pct(m.get('ts'))} | "
                     f"{_pct(m.get('invented_identifier_rate'))} | {flips} |")
    for o in result.outcomes:
        lines += ["", f"## {o.combo.describe()}: {_STATUS[o.status]}", ""]
        if o.status == "error":
            lines += ["```", f"error: {o.error}", "```"]
            continue
        where = f"history `{o.history}`"
        if o.folder is not None:
            where += f" · grading report [{o.combo.label}/report.md]({o.combo.label}/report.md)"
        lines.append(where + "  ")
        if o.baseline_run is None:
            lines.append(f"First run of this combination: `{result.run_id}` is its baseline.")
        else:
            lines.append(f"Compared with baseline `{o.baseline_run}`"
                         + (f"; `{result.run_id}` accepted as the new baseline." if o.accepted else "."))
        lines += ["", "| scope | n | EX strict | TS | invented identifiers |", "|---|---|---|---|---|"]
        lines += ["| " + " | ".join(r) + " |" for r in _scope_rows(o)]
        c = o.comparison
        if c is not None:
            if c.failures:
                lines += ["", "**Regressions:**", ""] + [f"- {d.message()}" for d in c.failures]
            if c.only_baseline or c.only_current:
                lines += ["", f"Evalset changed: compared on {c.shared} shared cases; {len(c.only_baseline)} only "
                          f"in the baseline, {len(c.only_current)} only now."]
            if c.flips:
                lines += ["", f"**Flipped items ({len(c.flips)}):**", ""]
                for fl in c.flips:
                    arrow = "correct → wrong" if fl.regressed else "wrong → correct"
                    if fl.metric == "invented_identifier_rate":
                        arrow = "now invents identifiers" if fl.regressed else "no longer invents identifiers"
                    drift = f" (drifted: {', '.join(fl.drifted_tables)})" if fl.drifted_tables else ""
                    lines.append(f"- `{fl.item_id}` ({fl.tier}) {fl.metric}: {arrow}, now {fl.label}{drift}")
            if c.drift is not None and not c.drift.empty:
                lines += ["", "**Schema drift since the baseline:**", "", "```", c.drift.summary(), "```"]
        if svgs:
            lines.append("")
            lines += [f"![{o.combo.label} {scope}]({svgs[(o.combo.label, scope)]})" for scope in _scopes(o)
                      if (o.combo.label, scope) in svgs]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------- HTML
_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1200px;color:#1d1d1f;
padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f5f5f7}.meta{color:#555}.ok{color:#137333}.bad{color:#b3261e}.plots{display:flex;flex-wrap:wrap;gap:.5em}
pre{background:#f6f8fa;padding:.6em;overflow-x:auto;white-space:pre-wrap;margin:.2em 0}
"""


def _e(v: t.Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def render_html(result: NightlyResult) -> str:
    """One self-contained page (inline CSS and SVG, no scripts)."""
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>sqltune nightly {_e(result.run_id)}</title><style>{_CSS}</style></head><body>",
           "<h1>sqltune nightly</h1>", '<p class="meta">' + "<br>".join(_e(x) for x in _headline(result)) + "</p>",
           "<table><tr><th>combination</th><th>status</th><th>EX overall</th><th>TS overall</th><th>invented</th></tr>"]
    for o in result.outcomes:
        m = o.metrics.get("overall", {})
        cls = "bad" if o.status in ("fail", "error") else "ok"
        note = " (accepted)" if o.accepted and o.status != "baseline" else ""
        out.append(f'<tr><td><a href="#{_e(o.combo.label)}">{_e(o.combo.describe())}</a></td>'
                   f'<td class="{cls}">{_STATUS[o.status]}{note}'
                   f"</td><td>{_pct(m.get('ex_strict'))}</td><td>{_pct(m.get('ts'))}</td>"
                   f"<td>{_pct(m.get('invented_identifier_rate'))}</td></tr>")
    out.append("</table>")
    for o in result.outcomes:
        out.append(f'<h2 id="{_e(o.combo.label)}">{_e(o.combo.describe())}: {_STATUS[o.status]}</h2>')
        if o.status == "error":
            out.append(f'<pre class="bad">error: {_e(o.error)}</pre>')
            continue
        base = ("first run: now the baseline" if o.baseline_run is None
                else f"baseline {o.baseline_run}" + ("; this run accepted as the new baseline" if o.accepted else ""))
        link = f' · <a href="{_e(o.combo.label)}/report.html">grading report</a>' if o.folder is not None else ""
        out.append(f'<p class="meta">{_e(base)} · history {_e(o.history)}{link}</p>')
        out.append("<table><tr><th>scope</th><th>n</th><th>EX strict</th><th>TS</th><th>invented identifiers</th></tr>")
        for row in _scope_rows(o):
            cells = "".join(f'<td class="{"bad" if "✗" in c else ""}">{_e(c)}</td>' for c in row)
            out.append(f"<tr>{cells}</tr>")
        out.append("</table>")
        c = o.comparison
        if c is not None:
            if c.failures:
                out.append("<p><b>Regressions</b></p><ul>" + "".join(f'<li class="bad">{_e(d.message())}</li>'
                                                                   for d in c.failures) + "</ul>")
            if c.flips:
                out.append(f"<p><b>Flipped items ({len(c.flips)})</b></p><table><tr><th>item</th><th>tier</th>"
                           "<th>metric</th><th>change</th><th>now</th><th>baseline SQL</th><th>current SQL</th></tr>")
                for fl in c.flips:
                    change = "regressed" if fl.regressed else "fixed"
                    drift = f" (drifted: {', '.join(fl.drifted_tables)})" if fl.drifted_tables else ""
                    out.append(f'<tr><td>{_e(fl.item_id)}</td><td>{_e(fl.tier)}</td><td>{_e(fl.metric)}</td>'
                               f'<td class="{"bad" if fl.regressed else "ok"}">{change}{_e(drift)}</td>'
                               f"<td>{_e(fl.label)}</td><td><pre>{_e(fl.base_sql)}</pre></td>"
                               f"<td><pre>{_e(fl.current_sql)}</pre></td></tr>")
                out.append("</table>")
            if c.drift is not None and not c.drift.empty:
                out.append(f"<p><b>Schema drift since the baseline</b></p><pre>{_e(c.drift.summary())}</pre>")
        out.append('<div class="plots">')
        for scope in _scopes(o):
            pts = _trend_points(o.trend, scope)
            if pts:
                out.append(trend_svg(pts, f"{o.combo.label}: {scope}"))
        out.append("</div>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write_reports(result: NightlyResult, out: Path) -> dict[str, Path]:
    """Write ``junit.xml``, ``report.md`` (with ``trend-*.svg`` beside it) and ``report.html`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    svgs: dict[tuple[str, str], str] = {}
    for o in result.outcomes:
        for scope in _scopes(o):
            pts = _trend_points(o.trend, scope)
            if pts:
                name = f"trend-{o.combo.label}-{scope}.svg"
                atomic.write_text(out / name, trend_svg(pts, f"{o.combo.label}: {scope}"))
                svgs[(o.combo.label, scope)] = name
    paths = {"junit": out / "junit.xml", "md": out / "report.md", "html": out / "report.html"}
    atomic.write_text(paths["junit"], render_junit(result))
    atomic.write_text(paths["md"], render_markdown(result, svgs))
    atomic.write_text(paths["html"], render_html(result))
    return paths
