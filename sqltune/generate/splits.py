"""Splits: ``train``, ``val_skeleton`` (whole skeletons held out) and ``val_phrasing`` (one style held out).

Held-out skeletons are chosen among small skeleton groups in a seeded order, so no skeleton of
``val_skeleton`` appears in ``train``; ``val_phrasing`` questions belong to SQL that ``train`` has.

>>> sk = {"a": "S1", "b": "S1", "c": "S2", "d": "S3", "e": "S3", "f": "S4"}
>>> plan = assign(sk, seed=0, skeleton_fraction=0.2, phrasing_fraction=0.2, styles=("x", "y"))
>>> held = {s for s, (split, _) in plan.items() if split == "val_skeleton"}
>>> {sk[s] for s in held} & {sk[s] for s in sk if s not in held}
set()
"""

from __future__ import annotations

import hashlib
import typing as t


def _h(*parts: t.Any) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


def assign(skeletons: t.Mapping[str, str], seed: int, skeleton_fraction: float, phrasing_fraction: float,
           styles: t.Sequence[str]) -> dict[str, tuple[str, str | None]]:
    """``sql_id -> (split, held-out style)`` for every SQL (``skeletons`` maps sql_id to skeleton)."""
    groups: dict[str, list[str]] = {}
    for sql_id, sk in skeletons.items():
        groups.setdefault(sk, []).append(sql_id)
    total = len(skeletons)
    target = round(skeleton_fraction * total)
    cap = max(1, target // 4)
    held: set[str] = set()
    if target > 0 and len(groups) > 1:
        for sk in sorted(groups, key=lambda s: _h(seed, "skeleton", s)):
            if len(held) >= target:
                break
            members = groups[sk]
            if len(members) <= cap and len(held) + len(members) <= target + cap // 2 + 1:
                held.update(members)
    plan: dict[str, tuple[str, str | None]] = {s: ("val_skeleton", None) for s in held}
    rest = sorted((s for s in skeletons if s not in held), key=lambda s: _h(seed, "phrasing", s))
    n_phrasing = round(phrasing_fraction * total)
    for i, sql_id in enumerate(rest):
        if i < n_phrasing and styles:
            plan[sql_id] = ("train", styles[int(_h(seed, "style", sql_id), 16) % len(styles)])
        else:
            plan[sql_id] = ("train", None)
    return plan
