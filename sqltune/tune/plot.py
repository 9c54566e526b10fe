"""A dependency-free SVG plot of the training loss (no matplotlib needed).

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "loss.svg"
>>> write_loss_svg([{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.0, "eval_identifier_loss": 0.5}], p)
>>> p.read_text().startswith("<svg")
True
"""

from __future__ import annotations

import math
import typing as t
from pathlib import Path

from sqltune import atomic

_W, _H, _PAD = 640, 320, 40


def write_loss_svg(history: t.Sequence[dict[str, t.Any]], path: Path) -> None:
    series = {"loss": "#1f77b4", "identifier_loss": "#ff7f0e", "eval_identifier_loss": "#2ca02c"}
    pts = {k: [(r["step"], r[k]) for r in history if r.get(k) is not None and r[k] > 0] for k in series}
    allv = [v for s in pts.values() for _, v in s] or [1.0]
    steps = [r["step"] for r in history] or [1]
    lo, hi = math.log10(min(allv)), math.log10(max(allv))
    hi = hi if hi > lo else lo + 1
    x0, x1 = min(steps), max(max(steps), min(steps) + 1)

    def xy(step: float, v: float) -> str:
        x = _PAD + (step - x0) / (x1 - x0) * (_W - 2 * _PAD)
        y = _H - _PAD - (math.log10(v) - lo) / (hi - lo) * (_H - 2 * _PAD)
        return f"{x:.1f},{y:.1f}"

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" font-family="sans-serif" '
             f'font-size="11"><rect width="100%" height="100%" fill="white"/>',
             f'<text x="{_PAD}" y="20">training loss (log scale), steps {x0}–{x1}; '
             f'range {10 ** lo:.3g}–{10 ** hi:.3g}</text>']
    for i, (name, color) in enumerate(series.items()):
        if pts[name]:
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" '
                         f'points="{" ".join(xy(s, v) for s, v in pts[name])}"/>')
            parts.append(f'<text x="{_W - 200}" y="{40 + 14 * i}" fill="{color}">{name}</text>')
    parts.append("</svg>")
    atomic.write_text(path, "\n".join(parts) + "\n")
