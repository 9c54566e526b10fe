"""Training items → token ids, labels and per-token weights, in length-bucketed batches.

The prompt is the model layer's (``PromptBuilder.example``), so training and inference match; a
schema fact gets its own prompt (``PromptBuilder.fact_prompt``), apart from the SQL task.
The loss falls on the target only (the SQL of a pair, the target of a fact); target tokens that
spell a schema identifier or a categorical value weigh ``identifier_weight`` times more, since
those are the tokens that must become deterministic.

>>> from sqltune.schema import Schema, Table, Column, ColumnProfile
>>> s = Schema("x", "duckdb", (Table("sales", "OrderHeader", (Column("CHNL_CD", "VARCHAR", "text",
...     profile=ColumnProfile(values=("ECOM",))),)),), default_schema="main")
>>> sql = "SELECT count(*) FROM sales.\\"OrderHeader\\" WHERE \\"CHNL_CD\\" = 'ECOM'"
>>> [sql[a:b] for a, b in identifier_spans(sql, s)]
['sales', '"OrderHeader"', '"CHNL_CD"', 'ECOM']
"""

from __future__ import annotations

import random
import re
import typing as t
from dataclasses import dataclass

from sqltune.identifiers import render_identifier
from sqltune.schema import Schema


@dataclass(frozen=True)
class Item:
    """One training item: a question (or fact prompt) and the exact text to learn."""

    id: str
    question: str
    target: str
    kind: str = "pair"  # "pair" | "fact"
    split: str = "train"  # a pair's generation split; only "train" pairs are trained on
    tag: str = ""  # a fact's kind (table_columns, join, codes, ...); a generated pair's tier/production


@dataclass(frozen=True)
class Encoded:
    id: str
    kind: str
    input_ids: tuple[int, ...]
    labels: tuple[int, ...]
    weights: tuple[float, ...]
    ident: tuple[bool, ...]
    #: Leading tokens that are the frozen shared prompt start (``TuneConfig.frozen_prefix``): their keys
    #: and values come from the base model, computed once, so the row costs only the rest.
    frozen: int = 0

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def cost(self) -> int:
        """Tokens this row runs through the model per step."""
        return len(self.input_ids) - self.frozen


def identifier_strings(schema: Schema) -> list[str]:
    """Every string that spells an identifier or a categorical value, longest first."""
    out: set[str] = set()
    for tb in schema.tables:
        out.update({render_identifier(tb.name), tb.name})
        if tb.schema:
            out.update({render_identifier(tb.schema), tb.schema})
        for col in tb.columns:
            out.update({render_identifier(col.name), col.name})
            prof = col.profile
            if prof is not None and prof.values is not None and not col.masked:
                out.update(str(v) for v in prof.values if str(v).strip())
    return sorted(out, key=lambda s: (-len(s), s))


def identifier_spans(text: str, schema: Schema, strings: t.Sequence[str] | None = None) -> list[tuple[int, int]]:
    """Character spans of ``text`` that spell identifiers or categorical values (no overlaps)."""
    taken = [False] * len(text)
    spans = []
    for s in strings if strings is not None else identifier_strings(schema):
        plain = re.escape(s)
        pattern = plain if not re.match(r"^\w+$", s) else rf"(?<![\w\"]){plain}(?![\w\"])"
        for m in re.finditer(pattern, text):
            if not any(taken[m.start():m.end()]):
                spans.append((m.start(), m.end()))
                for i in range(m.start(), m.end()):
                    taken[i] = True
    return sorted(spans)


def encode(item: Item, builder: t.Any, tokenizer: t.Any, schema: Schema, *, identifier_weight: float,
           max_len: int, strings: t.Sequence[str], frozen: t.Sequence[int] = (), heads: bool = False) -> Encoded:
    """Token ids, labels, weights. A prompt that starts with ``frozen`` keeps it whole and marks it
    (:attr:`Encoded.frozen`); ``max_len`` then bounds the tokens after it. ``heads``: a pair's frozen
    start is its own head, all before its question (:func:`sqltune.infer.heads.head_length`)."""
    from sqltune.infer.heads import head_length

    prompt, target = builder.example(item.question, item.target, item.kind)
    p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    head: list[int] = []
    if heads and item.kind == "pair":
        n = min(head_length(tokenizer, prompt), len(p_ids) - 1)
        head, p_ids = list(p_ids[:n]), p_ids[n:]
    elif frozen and len(p_ids) > len(frozen) and tuple(p_ids[:len(frozen)]) == tuple(frozen):
        head, p_ids = list(frozen), p_ids[len(frozen):]
    enc = tokenizer(target, add_special_tokens=False, return_offsets_mapping=True)
    t_ids, offsets = enc["input_ids"], enc["offset_mapping"]
    spans = identifier_spans(target, schema, strings)
    if item.kind == "fact":  # a fact's target is the schema itself: every token of it must become exact
        hits = [b > a for a, b in offsets]
    else:
        hits = [any(a < e and s < b for s, e in spans) for a, b in offsets]
    weights = [identifier_weight if hit else 1.0 for hit in hits]
    cap = (max_len * 3) // 4  # an over-long target keeps a quarter of the budget for the prompt's end
    t_ids, weights = list(t_ids[:cap]), weights[:cap]
    keep = max_len - len(t_ids)
    p_ids = head + (list(p_ids[-keep:]) if keep else [])
    ids = p_ids + t_ids
    labels = [-100] * len(p_ids) + t_ids
    w = [0.0] * len(p_ids) + weights
    ident = [False] * len(p_ids) + hits[: len(t_ids)]
    return Encoded(item.id, item.kind, tuple(ids), tuple(labels), tuple(w), tuple(ident), frozen=len(head))


def frozen_start(builder: t.Any, tokenizer: t.Any, questions: t.Sequence[str] = ()) -> tuple[int, ...]:
    """The token start the SQL-pair prompts of ``builder`` share (system turn and schema text), from
    up to 32 of ``questions`` (two made-up ones when fewer than two are given)."""
    from sqltune.infer.prefix import shared_start

    qs = list(questions[:32]) if len(questions) >= 2 else ["Alpha?", "Zulu?"]
    rows = [tokenizer(builder.prompt(q), add_special_tokens=False)["input_ids"] for q in qs]
    return tuple(rows[0][:shared_start(rows)])


#: The most bytes of frozen heads a training run keeps (the 64 heads of the cpu preset take ~1 GB on
#: the 0.5B model; past this a head is computed again when it comes back).
HEAD_BYTES = 4 << 30


def frozen_parts(config: t.Any, builder: t.Any, tokenizer: t.Any, questions: t.Sequence[str],
                 head_cache: t.Any = None) -> tuple[tuple[int, ...], bool, t.Any]:
    """What ``TuneConfig.frozen_prefix`` freezes, as ``(frozen, heads, cache)`` for :func:`encode` and
    :func:`sqltune.tune.loss.weighted_loss`: with the whole schema (``prompt_budget_tokens=0``) the start
    the pair prompts share, computed once (a ``PrefixCache``); with a linked schema each pair's own head
    (``heads``), computed once per head (``head_cache``, default a new ``HeadCache``); else nothing."""
    from sqltune.infer.heads import HeadCache
    from sqltune.infer.prefix import PrefixCache

    if not config.frozen_prefix:
        return (), False, None
    if config.prompt_budget_tokens:
        return (), True, head_cache if head_cache is not None else HeadCache(max_bytes=HEAD_BYTES)
    return frozen_start(builder, tokenizer, questions), False, PrefixCache(min_tokens=1, base=True)


def batches(data: t.Sequence[Encoded], batch_tokens: int, seed: int, epoch: int) -> list[list[int]]:
    """Length-bucketed batches of indices (padding waste stays small), in a seeded order.

    Lengths are :attr:`Encoded.cost`, and rows with a frozen start never share a batch with rows without one.
    """
    rng = random.Random(f"{seed}:{epoch}")
    order = sorted(range(len(data)), key=lambda i: (data[i].frozen > 0, data[i].cost, rng.random()))
    out: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        longest = max([data[j].cost for j in cur] + [data[i].cost])
        if cur and (longest * (len(cur) + 1) > batch_tokens or (data[cur[0]].frozen > 0) != (data[i].frozen > 0)):
            out.append(cur)
            cur = []
        cur.append(i)
    if cur:
        out.append(cur)
    rng.shuffle(out)
    return out


def collate(rows: t.Sequence[Encoded], pad_id: int, *, share_prefix: bool = False) -> dict[str, t.Any]:
    """Right-padded tensors; with ``share_prefix`` the rows' common start goes once into ``prefix_ids``.

    Rows with a frozen start (all with one, see :func:`batches`) leave it out: ``frozen_ids`` holds it
    where the rows share it, else ``head_ids`` (padded) and ``head_len`` hold each row's, for
    :func:`sqltune.tune.loss.hidden_states` to attend to the base model's keys and values of it.
    """
    import torch

    from sqltune.tune.loss import shared_prefix

    cuts = [0] * len(rows)
    frozen = rows[0].frozen if rows else 0
    per_row = False
    if frozen:
        if any(not r.frozen for r in rows):
            raise ValueError("collate: rows with and without a frozen start in one batch")
        cuts = [r.frozen for r in rows]
        per_row = any(r.input_ids[:r.frozen] != rows[0].input_ids[:frozen] for r in rows)
    elif share_prefix and len(rows) > 1:
        firsts = [next((i for i, lab in enumerate(r.labels) if lab != -100), len(r)) for r in rows]
        cuts = [shared_prefix([r.input_ids for r in rows], firsts)] * len(rows)
    n = max(len(r) - c for r, c in zip(rows, cuts))
    ids = torch.full((len(rows), n), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), n), -100, dtype=torch.long)
    weights = torch.zeros((len(rows), n), dtype=torch.float32)
    mask = torch.zeros((len(rows), n), dtype=torch.long)
    ident = torch.zeros((len(rows), n), dtype=torch.bool)
    for i, (r, cut) in enumerate(zip(rows, cuts)):
        k = len(r) - cut
        ids[i, :k] = torch.tensor(r.input_ids[cut:])
        labels[i, :k] = torch.tensor(r.labels[cut:])
        weights[i, :k] = torch.tensor(r.weights[cut:])
        ident[i, :k] = torch.tensor(r.ident[cut:])
        mask[i, :k] = 1
    out = {"input_ids": ids, "attention_mask": mask, "labels": labels, "weights": weights, "ident": ident}
    if per_row:
        heads = torch.full((len(rows), max(cuts)), pad_id, dtype=torch.long)
        for i, (r, cut) in enumerate(zip(rows, cuts)):
            heads[i, :cut] = torch.tensor(r.input_ids[:cut])
        out["head_ids"], out["head_len"] = heads, torch.tensor(cuts, dtype=torch.long)
    elif cuts and cuts[0]:
        out["frozen_ids" if frozen else "prefix_ids"] = torch.tensor(rows[0].input_ids[:cuts[0]], dtype=torch.long)
    return out
