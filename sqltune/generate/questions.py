"""Questions in many voices, rendered from the meaning a production recorded (never from parsed SQL).

Each distinct SQL gets one question per style (:data:`sqltune.generate.config.STYLES`), plus extra
variants when asked. :func:`diversity` measures how different the phrasings of one SQL are.

>>> from sqltune.generate.catalog import Names
>>> from sqltune.generate.meaning import Cond, Ent, Meaning, Ref, Val
>>> order = Ent(Names("order", "customer sales orders", "order", "sales.OrderHeader"), "order", "orders")
>>> status = Ref(Names("order status", "order status", "order status", "STATUS"))
>>> m = Meaning("count", order, (Cond(status, "eq", (Val("'CANC'", "cancelled"),), term="cancelled"),))
>>> qs = questions(m, seed=1, extra=0)
>>> [q.style for q in qs]
['direct', 'analyst', 'terse', 'glossary', 'conversational']
>>> qs[3].text
'Report how many cancelled orders exist.'
>>> round(diversity([q.text for q in qs])["jaccard_distance"], 2) > 0.5
True
"""

from __future__ import annotations

import hashlib
import itertools
import random
import re
import typing as t

from sqltune.generate import phrases as ph
from sqltune.generate.config import STYLES
from sqltune.generate.meaning import Cond, Meaning
from sqltune.generate.records import Question

#: Which template list each style draws from ("chat" falls back to an opener plus "ask").
VOICE = {"direct": "ask", "analyst": "cmd", "terse": "terse", "glossary": "ask", "conversational": "chat"}
OPENERS = ("Quick question: ", "Hey, ", "Hi! ", "For a report I'm writing: ", "Out of curiosity, ",
           "Help me out here: ")

# Slots: S/s subject plural/singular, W filters, F fields, f first field, M measure, A aggregate word,
# MET metric ("total line amount" or "number of orders"), G group fields, N limit, X threshold,
# TOP highest/lowest word, P period, d date field, O/o related table, OW its filters, be is/are.
TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "count": {
        "ask": ("How many {S} are there{W}?", "What is the number of {S}{W}?", "How many {S}{W} do we have?"),
        "cmd": ("Count the {S}{W}.", "Give the number of {S}{W}.", "Report how many {S} exist{W}."),
        "terse": ("{s} count{W}", "number of {S}{W}", "count {S}{W}"),
        "chat": ("Can you tell me how many {S} we have{W}?", "Roughly speaking, how many {S} are there{W}? I need the exact count.",
                 "I need the number of {S}{W}, please."),
    },
    "agg": {
        "ask": ("What is the {MET}{W}?", "What's the {MET}{W}?"),
        "cmd": ("Calculate the {MET}{W}.", "Report the {MET}{W}."),
        "terse": ("{MET}{W}",),
        "chat": ("Could you work out the {MET}{W}?", "What does the {MET}{W} come to?"),
    },
    "list": {
        "ask": ("What are the {F} of {S}{W}?", "Which {S}{W} are there, with their {F}?"),
        "cmd": ("List the {F} of {S}{W}, sorted by {O}.", "Show {F} for every {s}{W}, ordered by {O}."),
        "terse": ("{F} of {S}{W}, by {O}",),
        "chat": ("Can you pull up the {F} of {S}{W}?", "I'd like to see the {F} for {S}{W}, sorted by {O}."),
    },
    "distinct": {
        "ask": ("Which distinct {F} values appear among {S}{W}?", "What different {F} values do {S}{W} have?"),
        "cmd": ("List the distinct {F} values of {S}{W}.", "Show each {F} used by {S}{W}, once."),
        "terse": ("distinct {F}, {S}{W}",),
        "chat": ("What are all the different {F} values for {S}{W}?",),
    },
    "count_distinct": {
        "ask": ("How many distinct {f} values do {S}{W} have?", "How many different {f} values are there among {S}{W}?"),
        "cmd": ("Count the distinct {f} values of {S}{W}.", "Give the number of unique {f} values across {S}{W}."),
        "terse": ("distinct {f} count, {S}{W}",),
        "chat": ("How many unique {f} values show up in {S}{W}?",),
    },
    "range": {
        "ask": ("What are the {LO} and {HI} {f} of {S}{W}?", "What range of {f} do {S}{W} span?"),
        "cmd": ("Give the {LO} and {HI} {f} for {S}{W}.", "Report the minimum and maximum {f} of {S}{W}."),
        "terse": ("min/max {f}, {S}{W}",),
        "chat": ("Could you tell me the {LO} and {HI} {f} among {S}{W}?",),
    },
    "lookup": {
        "ask": ("What {be} the {F} of the {s}{W}?", "For the {s}{W}, what {be} the {F}?"),
        "cmd": ("Look up the {F} of the {s}{W}.", "Show the {F} for the {s}{W}."),
        "terse": ("{F} for {s}{W}",),
        "chat": ("Do you know the {F} of the {s}{W}?", "Can you look up the {F} for the {s}{W}?"),
    },
    "group_count": {
        "ask": ("How many {S}{W} are there per {G}?", "What is the number of {S}{W} for each {G}?"),
        "cmd": ("Count the {S}{W} by {G}.", "Break down the number of {S}{W} by {G}."),
        "terse": ("{s} count by {G}{W}",),
        "chat": ("Can you give me the count of {S}{W} for each {G}?",),
    },
    "group_agg": {
        "ask": ("What is the {MET}{W} per {G}?", "For each {G}, what is the {MET}{W}?"),
        "cmd": ("Show the {MET}{W} by {G}.", "Break down the {MET}{W} by {G}."),
        "terse": ("{MET} by {G}{W}",),
        "chat": ("Could you split the {MET}{W} by {G}?",),
    },
    "having": {
        "ask": ("Which {G} values have {CMP}?", "For which {G} values is there {CMP}?"),
        "cmd": ("List the {G} values with {CMP}.", "Show every {G} that has {CMP}."),
        "terse": ("{G} with {CMPT}",),
        "chat": ("Which {G} values end up with {CMP}?",),
    },
    "top": {
        "ask": ("Which {N} {S}{W} have the {TOP} {M}?", "What are the {N} {S}{W} with the {TOP} {M}?"),
        "cmd": ("List the {N} {S}{W} with the {TOP} {M}, showing {F} and {M}.", "Show the {N} {S}{W} ranked by {M}, {TOP} first."),
        "terse": ("{N} {S} with {TOP} {M}{W}",),
        "chat": ("Which {N} {S}{W} come out {TOP} on {M}?",),
    },
    "top_group": {
        "ask": ("Which {N} {G} values have the {TOP} {MET}{W}?", "What are the {N} {G} values with the {TOP} {MET}{W}?"),
        "cmd": ("Rank the {G} values by {MET}{W} and show the {N} {TOP}.", "List the {N} {G} values with the {TOP} {MET}{W}."),
        "terse": ("{N} {G} with {TOP} {MET}{W}",),
        "chat": ("Which {N} {G} values lead with the {TOP} {MET}{W}?",),
    },
    "bucket": {
        "ask": ("What is the {MET}{W} per {P} of {d}?", "How does the {MET}{W} break down by {P} of {d}?"),
        "cmd": ("Show the {MET}{W} by {P} of {d}.", "Give the {MET}{W} for each {P} of {d}."),
        "terse": ("{MET} by {d} {P}{W}",),
        "chat": ("Can you break down the {MET}{W} by {P} of {d}?",),
    },
    "has_related": {
        "ask": ("Which {S} have at least one {o}{OW}?", "What {S} have any {O}{OW}?"),
        "cmd": ("List the {S} that have {O}{OW}.", "Show every {s} with at least one {o}{OW}."),
        "terse": ("{S} with {O}{OW}",),
        "chat": ("Which of the {S} have any {O}{OW}?",),
    },
    "has_related_count": {
        "ask": ("How many {S} have at least one {o}{OW}?", "What is the number of {S} with any {O}{OW}?"),
        "cmd": ("Count the {S} that have {O}{OW}.",),
        "terse": ("number of {S} with {O}{OW}",),
        "chat": ("How many {S} have any {O}{OW} at all?",),
    },
    "no_related": {
        "ask": ("Which {S} have no {O}{OW}?", "What {S} have not a single {o}{OW}?"),
        "cmd": ("List the {S} without any {O}{OW}.", "Show every {s} that has no {O}{OW}."),
        "terse": ("{S} without {O}{OW}",),
        "chat": ("Are there {S} with no {O}{OW}? Which ones?",),
    },
    "no_related_count": {
        "ask": ("How many {S} have no {O}{OW}?", "What is the number of {S} without any {O}{OW}?"),
        "cmd": ("Count the {S} that have no {O}{OW}.",),
        "terse": ("number of {S} without {O}{OW}",),
        "chat": ("How many {S} don't have a single {o}{OW}?",),
    },
    "above_avg": {
        "ask": ("Which {S}{W} have {a} {M} above the average?", "What {S}{W} have an above-average {M}?"),
        "cmd": ("List the {S}{W} whose {M} is above average, highest first.", "Show the {S}{W} with {a} {M} over the average."),
        "terse": ("{S} with above-average {M}{W}",),
        "chat": ("Which {S}{W} beat the average {M}?",),
    },
    "above_avg_count": {
        "ask": ("How many {S}{W} have {a} {M} above the average?", "How many {S}{W} have an above-average {M}?"),
        "cmd": ("Count the {S}{W} whose {M} exceeds the average.",),
        "terse": ("number of {S} with above-average {M}{W}",),
        "chat": ("How many {S}{W} come in above the average {M}?",),
    },
    "extreme": {
        "ask": ("Which {s}{W} has the {TOP} {M}?", "What is the {s}{W} with the {TOP} {M}?"),
        "cmd": ("Find the {s}{W} with the {TOP} {M}.", "Show the {s}{W} whose {M} is the {TOP}."),
        "terse": ("{s} with {TOP} {M}{W}",),
        "chat": ("Which {s}{W} has the {TOP} {M}, and what is it?",),
    },
    "top_per_group": {
        "ask": ("For each {G}, which {s}{W} has the {TOP} {M}?", "Which {s}{W} has the {TOP} {M} in each {G}?"),
        "cmd": ("Show, per {G}, the {s}{W} with the {TOP} {M}.", "List the {s}{W} with the {TOP} {M} for every {G}."),
        "terse": ("{TOP} {M} {s} per {G}{W}",),
        "chat": ("Could you find, for every {G}, the {s}{W} with the {TOP} {M}?",),
    },
    "share": {
        "ask": ("What percentage of {BASE}{W} falls in each {G}?", "What share of {BASE}{W} does each {G} have, in percent?"),
        "cmd": ("Show the share of {BASE}{W} by {G}, as a percentage.", "Give each {G}'s percentage of {BASE}{W}."),
        "terse": ("% of {BASE} by {G}{W}",),
        "chat": ("What's the percentage split of {BASE}{W} across {G}?",),
    },
    "ratio": {
        "ask": ("What percentage of {BASE}{W} is accounted for by {S} {PART}?",
                "What share of {BASE}{W}, in percent, comes from {S} {PART}?"),
        "cmd": ("Calculate what percentage of {BASE}{W} comes from {S} {PART}.",),
        "terse": ("% of {BASE} from {PART}{W}",),
        "chat": ("Roughly what share, in percent, of {BASE}{W} comes from {S} {PART}? Exact figure please.",),
    },
    "yoy": {
        "ask": ("How did the {MET}{W} change year over year, by year of {d}?",
                "What is the year-over-year change in the {MET}{W}, by year of {d}?"),
        "cmd": ("Show the {MET}{W} per year of {d} with the year-over-year change in percent.",),
        "terse": ("{MET} by year of {d}, YoY %{W}",),
        "chat": ("Can you show me the year-on-year change in the {MET}{W}, by year of {d}?",),
    },
    "running": {
        "ask": ("What is the running total of the {MET}{W}, month by month of {d}?",),
        "cmd": ("Show the monthly {MET}{W} by {d} and its running total.",),
        "terse": ("monthly {MET} by {d} + running total{W}",),
        "chat": ("Could you give me a month-by-month cumulative {MET}{W}, by {d}?",),
    },
    "set_op": {
        "ask": ("Which {f} values occur {SETQ}?",),
        "cmd": ("List the {f} values that occur {SETQ}.",),
        "terse": ("{f}: {SETT}",),
        "chat": ("Can you find the {f} values that show up {SETQ}?",),
    },
    "group_rate": {
        "ask": ("For each {G}, what percentage of {BASE}{W} is accounted for by {S} {PART}?",
                "Per {G}, what share of {BASE}{W}, in percent, comes from {S} {PART}?"),
        "cmd": ("For every {G}, calculate what percentage of {BASE}{W} comes from {S} {PART}.",
                "Break down by {G} the percentage of {BASE}{W} that comes from {S} {PART}."),
        "terse": ("% of {BASE} from {PART} by {G}{W}",),
        "chat": ("Could you work out, for each {G}, what percent of {BASE}{W} comes from {S} {PART}?",),
    },
    "period_pivot": {
        "ask": ("For each {G}, what was the {MET}{W} in {Y1} and in {Y2}, by year of {d}?",
                "What is the {MET}{W} per {G} in {Y1} next to {Y2}, going by the year of {d}?"),
        "cmd": ("Show the {MET}{W} for each {G} in {Y1} and in {Y2}, by year of {d}.",
                "Compare the {MET}{W} by {G} between {Y1} and {Y2}, using the year of {d}."),
        "terse": ("{MET} by {G}, {d} {Y1} vs {Y2}{W}",),
        "chat": ("Could you put the {MET}{W} for {Y1} next to {Y2}, per {G}, by year of {d}?",),
    },
    "period_gap": {
        "ask": ("Which {S} had {O} in {Y1} but none in {Y2}, by {d}?",
                "What {S} had at least one {o} in {Y1} and no {o} at all in {Y2}, going by {d}?"),
        "cmd": ("List the {S} that had {O} in {Y1} but no {O} in {Y2}, by {d}.",),
        "terse": ("{S} with {O} in {Y1}, none in {Y2}, by {d}",),
        "chat": ("Which {S} had {O} in {Y1} and then none at all in {Y2}, going by {d}?",),
    },
    "period_gap_count": {
        "ask": ("How many {S} had {O} in {Y1} but none in {Y2}, by {d}?",),
        "cmd": ("Count the {S} that had {O} in {Y1} but no {O} in {Y2}, by {d}.",),
        "terse": ("number of {S} with {O} in {Y1}, none in {Y2}, by {d}",),
        "chat": ("How many {S} had {O} in {Y1} but not a single {o} in {Y2}, going by {d}?",),
    },
    "pivot": {
        "ask": ("For each {G}, how many {S} have {f} {V1} and how many have {V2}?",),
        "cmd": ("Count the {S} with {f} {V1} and with {f} {V2}, per {G}.",),
        "terse": ("{s} count {f} {V1} vs {V2} by {G}",),
        "chat": ("Per {G}, could you count the {S} with {f} {V1} versus {V2}?",),
    },
}
_AGG = {"sum": "total", "avg": "average", "min": "lowest", "max": "highest"}
_SET = {"intersect": ("both for {S} {A} and for {S} {B}", "{A} and {B}"),
        "except": ("for {S} {A} but not for {S} {B}", "{A} not {B}"),
        "union": ("for {S} {A} or for {S} {B}", "{A} or {B}")}


def _seed(*parts: t.Any) -> int:
    return int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:12], 16)


def questions(m: Meaning, seed: int, extra: int = 1, styles: t.Sequence[str] = STYLES) -> tuple[Question, ...]:
    """One question per style, then ``extra`` more (other templates of rotating styles), all distinct."""
    rng = random.Random(seed)
    out: list[Question] = []
    seen: set[str] = set()
    for style in styles:
        text = render(m, style, rng)
        for _ in range(6):
            if text.lower() not in seen:
                break
            text = render(m, style, rng)
        seen.add(text.lower())
        out.append(Question(style, text))
    for i in range(extra):
        style = styles[(i + seed) % len(styles)]
        for _ in range(8):
            text = render(m, style, rng)
            if text.lower() not in seen:
                seen.add(text.lower())
                out.append(Question(style, text))
                break
    return tuple(out)


def render(m: Meaning, style: str, rng: random.Random) -> str:
    """One question for meaning ``m`` in ``style``."""
    v = rng.randrange(1 << 16)
    slots = _slots(m, style, v)
    intent = m.intent
    if intent in ("has_related", "no_related", "above_avg", "period_gap") and not m.slots.get("listing", True):
        intent += "_count"
    table = TEMPLATES[intent]
    voice = VOICE[style] if style != "glossary" else rng.choice(("ask", "cmd"))
    options = table.get(voice) or table["ask"]
    text = rng.choice(options).format(**slots)
    if style == "conversational" and voice not in table:
        text = rng.choice(OPENERS) + text[0].lower() + text[1:]
    return _tidy(text, terse=style == "terse")


def _slots(m: Meaning, style: str, v: int) -> dict[str, t.Any]:
    s_ = m.slots
    conds: list[Cond] = list(m.conds)
    if s_.get("counted") is not None:
        conds.append(Cond(s_["counted"], "notnull"))
    S = ph.entity(m.subject, style, True, v)
    s = ph.entity(m.subject, style, False, v)
    S, conds = ph.fold_terms(S, s, conds, style)
    fields = [ph.column(r, style, v) for r in s_.get("fields", [])]
    field = s_.get("field")
    measure = s_.get("measure")
    func = s_.get("func")
    M = ph.column(measure, style, v) if measure is not None else ""
    dates = measure is not None and _is_date(measure.names.plain)
    desc = s_.get("desc", True)
    top = ("latest" if desc else "earliest") if dates else ("highest" if desc else "lowest")
    if func in (None, "count"):
        met = f"number of {S}" if style != "terse" else f"{s} count"
    else:
        word = _AGG[func] if not (dates and func in ("min", "max")) else ("earliest" if func == "min" else "latest")
        met = f"{word} {M} of {S}" if style != "terse" else f"{word} {M}, {S}"
    if s_.get("metric"):  # a dictionary metric is asked for by its name or a synonym
        met = s_["metric"][v % len(s_["metric"])]
    out: dict[str, t.Any] = {
        "S": S, "s": s, "W": ph.where(conds, style, v), "F": ph.join_words(fields) if fields else "",
        "f": ph.column(field, style, v) if field is not None else (fields[0] if fields else ""),
        "M": M, "a": ph.article(M) if M else "a", "MET": met, "N": s_.get("n", ""), "TOP": top,
        "G": " and ".join(ph.column(r, style, v) for r in s_.get("group", [])),
        "P": s_.get("period", ""), "be": "are" if len(fields) > 1 else "is",
        "O": fields[0] if fields else "", "LO": "earliest" if s_.get("dates") else "lowest",
        "HI": "latest" if s_.get("dates") else "highest",
    }
    if s_.get("order") is not None:
        out["O"] = ph.column(s_["order"], style, v)
    if "date" in s_:
        out["d"] = ph.column(s_["date"], style, v)
    if "other" in s_:
        other = s_["other"]
        out["O"] = ph.entity(other, style, True, v)
        out["o"] = ph.entity(other, style, False, v)
        out["OW"] = ph.where(s_.get("other_conds", ()), style, v + 1)
    if m.intent == "having":
        x = s_["threshold"]
        out["CMP"] = f"more than {x} {S}" if func == "count" else f"{ph.article(_AGG[func])} {_AGG[func]} {M} above {x}"
        out["CMPT"] = f"> {x} {S}" if func == "count" else f"{_AGG[func]} {M} > {x}"
    if m.intent in ("ratio", "share", "group_rate"):
        out["BASE"] = f"the total {M} of {S}" if measure is not None else S
        if m.intent in ("ratio", "group_rate"):
            out["PART"] = ph.cond_phrase(s_["part"], style if style != "glossary" else "analyst", v)
    if m.intent == "set_op":
        on = s_["on"]
        a = ph.cond_phrase(Cond(on, "eq", (s_["a"],)), style, v)
        b = ph.cond_phrase(Cond(on, "eq", (s_["b"],)), style, v + 1)
        long, short = _SET[s_["op"]]
        out["SETQ"] = long.format(S=S, A=a, B=b)
        out["SETT"] = short.format(A=a, B=b)
    if "years" in s_:
        out["Y1"], out["Y2"] = (str(y) for y in s_["years"])
    if m.intent == "pivot":
        vals = [ph.value(x, style) for x in s_["values"]]
        out["V1"], out["V2"] = vals[0], vals[1]
    return out


def _is_date(text: str) -> bool:
    return bool(re.search(r"\b(date|day|dt|month|time|timestamp)\b", text.lower()))


def _tidy(text: str, terse: bool) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s+([,?.])", r"\1", text)
    if terse:
        return text.rstrip("?.")
    return text[0].upper() + text[1:]


def distinct_2(texts: t.Iterable[str]) -> float:
    """Distinct bigrams over all bigrams of ``texts`` (linear time; for whole files)."""
    grams = [g for x in texts for g in _bigrams(x)]
    return len(set(grams)) / len(grams) if grams else 0.0


def diversity(texts: t.Sequence[str]) -> dict[str, float]:
    """Phrasing diversity of one SQL's questions: mean pairwise Jaccard distance of word sets and
    the distinct-bigram ratio (distinct bigrams / all bigrams)."""
    words = [set(re.findall(r"[\w']+", x.lower())) for x in texts]
    pairs = list(itertools.combinations(words, 2))
    jd = sum(1 - len(a & b) / max(1, len(a | b)) for a, b in pairs) / len(pairs) if pairs else 0.0
    grams = [g for x in texts for g in _bigrams(x)]
    return {"jaccard_distance": jd, "distinct_2": len(set(grams)) / len(grams) if grams else 0.0}


def _bigrams(text: str) -> list[tuple[str, str]]:
    toks = re.findall(r"[\w']+", text.lower())
    return list(zip(toks, toks[1:]))
