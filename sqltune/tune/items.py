"""Training items from generated pairs and facts, and the mix a tuning run trains on.

Generation writes ``pairs.jsonl`` (a header line, then one pair per line) and ``facts.jsonl``;
:func:`read_generated` reads them back. :func:`pair_items` and :func:`fact_items` also take
:class:`~sqltune.generate.Pair`/:class:`~sqltune.generate.Fact` records, dicts or plain
``(question, sql)`` tuples. :func:`training_mix` picks what a run trains on: only ``train``-split
pairs (the validation splits stay unseen), facts making up ``facts_ratio`` of the mix, and, with
``max_items``, a seeded subset that keeps the tiers' shares and spreads over SQL patterns
(productions), then distinct SQL, before it takes a second of any.

>>> pairs = pair_items([("How many brands?", 'SELECT count(*) FROM mdm."BRAND"'),
...                     {"id": "p2", "question": "Brands?", "sql": 'SELECT * FROM mdm."BRAND"',
...                      "split": "val_phrasing"}])
>>> [(p.id, p.kind) for p in pairs]
[('pair-0', 'pair'), ('p2', 'pair')]
>>> facts = fact_items([{"id": "f1", "prompt": "Which table holds brands?", "target": '"BRAND"'}])
>>> from sqltune.tune.config import TuneConfig
>>> [i.id for i in training_mix(pairs, facts, TuneConfig(facts_ratio=0.5))]
['pair-0', 'f1']
"""

from __future__ import annotations

import hashlib
import json
import random
import typing as t
from collections.abc import Mapping
from pathlib import Path

from sqltune.errors import ConfigError, MissingArtifactError, did_you_mean
from sqltune.tune.config import TuneConfig
from sqltune.tune.data import Item

PairLike = t.Union[t.Any, Mapping[str, t.Any], tuple[str, str]]


def pair_items(records: t.Iterable[PairLike]) -> list[Item]:
    """Items from pairs: :class:`Pair` records, dicts with ``question``/``sql``, or ``(question, sql)``.

    A dict or record keeps its ``id`` and ``split``; the others are ``pair-<i>`` in ``train``.
    """
    out: list[Item] = []
    for i, rec in enumerate(records):
        if isinstance(rec, Mapping):
            if rec.get("kind") == "header":
                continue
            q, sql, rid, split = rec.get("question"), rec.get("sql"), rec.get("id"), rec.get("split", "train")
            tag = _pattern(rec.get("tier"), rec.get("provenance"))
        elif isinstance(rec, (tuple, list)) and len(rec) == 2:
            (q, sql), rid, split, tag = rec, None, "train", ""
        elif hasattr(rec, "question") and hasattr(rec, "sql"):
            q, sql, rid, split = rec.question, rec.sql, getattr(rec, "id", None), getattr(rec, "split", "train")
            tag = _pattern(getattr(rec, "tier", None), getattr(rec, "provenance", None))
        else:
            raise ConfigError(f"Pair {i} is not a pair record, a dict with 'question' and 'sql', "
                              f"or a (question, sql) tuple: {rec!r:.80}")
        if not isinstance(q, str) or not isinstance(sql, str) or not q.strip() or not sql.strip():
            raise ConfigError(f"Pair {i} needs a non-empty question and SQL: {rec!r:.80}")
        out.append(Item(str(rid or f"pair-{i}"), q, sql, kind="pair", split=str(split), tag=tag))
    return out


def _pattern(tier: t.Any, provenance: t.Any) -> str:
    """A generated pair's ``tier/production`` (``hard/h_ratio``), or ``""`` for a pair from elsewhere."""
    production = provenance.get("production") if isinstance(provenance, Mapping) else None
    return f"{tier or ''}/{production}" if isinstance(production, str) and production else ""


def fact_items(records: t.Iterable[t.Any]) -> list[Item]:
    """Items from facts: :class:`Fact` records, dicts with ``prompt``/``target``, or ``(prompt, target)``."""
    out: list[Item] = []
    for i, rec in enumerate(records):
        if isinstance(rec, Mapping):
            prompt, target, rid, kind = rec.get("prompt"), rec.get("target"), rec.get("id"), rec.get("kind", "")
        elif isinstance(rec, (tuple, list)) and len(rec) == 2:
            (prompt, target), rid, kind = rec, None, ""
        elif hasattr(rec, "prompt") and hasattr(rec, "target"):
            prompt, target, rid, kind = rec.prompt, rec.target, rec.id, getattr(rec, "kind", "")
        else:
            raise ConfigError(f"Fact {i} is not a fact record, a dict with 'prompt' and 'target', "
                              f"or a (prompt, target) tuple: {rec!r:.80}")
        if not isinstance(prompt, str) or not isinstance(target, str) or not prompt.strip() or not target.strip():
            raise ConfigError(f"Fact {i} needs a non-empty prompt and target: {rec!r:.80}")
        out.append(Item(str(rid or f"fact-{i}"), prompt, target, kind="fact", tag=str(kind or "")))
    return out


def read_generated(folder: str | Path, name: str = "") -> tuple[list[dict[str, t.Any]], list[dict[str, t.Any]],
                                                                 dict[str, t.Any]]:
    """``(pairs, facts, header)`` from a generation folder (a project's ``pairs/``)."""
    folder = Path(folder)
    pairs_path, facts_path = folder / "pairs.jsonl", folder / "facts.jsonl"
    if not pairs_path.is_file():
        name = name or folder.parent.name
        raise MissingArtifactError(f"Project {name!r} has no generated pairs ({pairs_path} is missing). "
                                   f"Run `sqltune generate {name}` first.")
    rows = _jsonl(pairs_path)
    header = rows[0] if rows and rows[0].get("kind") == "header" else {}
    pairs = [r for r in rows if r.get("kind") != "header"]
    facts = _jsonl(facts_path) if facts_path.is_file() else []
    if not pairs and not facts:
        raise ConfigError(f"{pairs_path} holds no pairs. Run `sqltune generate {name or folder.parent.name}` again.")
    return pairs, facts, header


def training_mix(pairs: t.Sequence[Item], facts: t.Sequence[Item], config: TuneConfig) -> list[Item]:
    """What a run trains on: ``train`` pairs and facts in the configured share, capped at ``max_items``.

    Without a cap every train pair and every fact is used, and facts are repeated (as ``<id>~2`` …)
    when they are fewer than ``facts_ratio`` of the mix. With ``max_items`` the facts take
    ``round(max_items * facts_ratio)`` places (every fact of ``whole_fact_kinds`` first, then spread
    over the other kinds), the pairs the rest (each
    tier its share, every production of a tier before a second of any, one phrasing per distinct
    SQL before any second one); a side with too few items gives its places to the other. The order
    is seeded and stable.
    """
    train = [p for p in pairs if p.split == "train"]
    rng = random.Random(f"mix:{config.seed}")
    fact_pool = list(facts) if config.facts_ratio > 0 else []
    if not config.max_items:
        chosen_facts = list(fact_pool)
        want = round(len(train) * config.facts_ratio / (1 - config.facts_ratio)) if train else len(fact_pool)
        copy = 2
        while fact_pool and len(chosen_facts) < want:
            chosen_facts += [_again(f, copy) for f in fact_pool[: want - len(chosen_facts)]]
            copy += 1
        return train + chosen_facts
    n_facts = min(len(fact_pool), round(config.max_items * config.facts_ratio))
    n_pairs = min(len(train), config.max_items - n_facts)
    n_facts = min(len(fact_pool), config.max_items - n_pairs)
    kinds = sorted({f.tag for f in fact_pool})
    for kind in config.whole_fact_kinds if fact_pool else ():  # (no facts in the mix: nothing to name)
        if kind not in kinds:
            raise ConfigError(f"whole_fact_kinds names {kind!r}, a kind no fact has. "
                              f"{did_you_mean(kind, kinds)}".strip())
    whole = [f for f in fact_pool if f.tag in config.whole_fact_kinds][:n_facts]
    rest = [f for f in fact_pool if f.tag not in config.whole_fact_kinds]
    return _pick_pairs(train, n_pairs, rng) + whole + _spread(rest, n_facts - len(whole), lambda f: f.tag, rng)


def _pick_pairs(train: list[Item], n: int, rng: random.Random) -> list[Item]:
    """``n`` pairs: generated ones keep their tiers' shares, and within a tier every production (SQL
    pattern) comes before a second of any, and every distinct SQL before a second phrasing; pairs from
    elsewhere spread over distinct SQL."""
    if not any(p.tag for p in train):
        return _spread(train, n, lambda p: p.target, rng)
    tiers: dict[str, list[Item]] = {}
    for p in train:
        tiers.setdefault(p.tag.split("/")[0], []).append(p)
    keys = sorted(tiers)
    exact = {k: n * len(tiers[k]) / len(train) for k in keys}
    share = {k: int(exact[k]) for k in keys}
    for k in sorted(keys, key=lambda k: (share[k] - exact[k], k))[: n - sum(share.values())]:
        share[k] += 1  # largest remainders first
    out: list[Item] = []
    for k in keys:
        out += _spread(tiers[k], share[k], lambda p: p.tag, rng, within=lambda p: p.target)
    return out


def items_digest(items: t.Sequence[Item]) -> str:
    """A short hash of the items (what was trained on), for the adapter's metadata and resume key."""
    h = hashlib.sha256()
    for it in items:
        h.update(json.dumps([it.id, it.kind, it.question, it.target], ensure_ascii=False).encode())
    return h.hexdigest()[:16]


def _spread(items: t.Sequence[Item], n: int, group: t.Callable[[Item], str], rng: random.Random,
            within: t.Callable[[Item], str] | None = None) -> list[Item]:
    """``n`` items taken round-robin over seeded-shuffled groups (one per group per round); a group's
    own order is seeded-shuffled, or itself spread over ``within``."""
    groups: dict[str, list[Item]] = {}
    for it in items:
        groups.setdefault(group(it), []).append(it)
    keys = sorted(groups)
    rng.shuffle(keys)
    for k in keys:
        if within is None:
            rng.shuffle(groups[k])
        else:
            groups[k] = _spread(groups[k], len(groups[k]), within, rng)
    out: list[Item] = []
    depth = 0
    while len(out) < n:
        for k in keys:
            if depth < len(groups[k]) and len(out) < n:
                out.append(groups[k][depth])
        depth += 1
    return out


def _again(item: Item, copy: int) -> Item:
    return Item(f"{item.id}~{copy}", item.question, item.target, item.kind, item.split, item.tag)


def _jsonl(path: Path) -> list[dict[str, t.Any]]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ConfigError(f"{path} line {n} is not valid JSON ({e.msg}); regenerate it.") from None
    return rows
