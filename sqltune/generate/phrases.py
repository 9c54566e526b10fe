"""Phrase pieces for questions: names per style, values, filters, lists.

A *style* picks the words: ``direct`` uses the split identifiers and raw codes, ``analyst`` the
descriptions and code meanings, ``terse`` short keyword forms, ``glossary`` the data dictionary's
business terms, ``conversational`` a mix of descriptions and identifiers.

>>> from sqltune.generate.catalog import Names
>>> from sqltune.generate.meaning import Cond, Ref, Val
>>> status = Ref(Names("order status", "order status", "order status", "STATUS"))
>>> c = Cond(status, "eq", (Val("'CANC'", "cancelled"),))
>>> cond_phrase(c, "direct", 0), cond_phrase(c, "analyst", 1), cond_phrase(c, "terse", 0)
("with order status 'CANC'", "whose order status is cancelled ('CANC')", 'order status CANC')
"""

from __future__ import annotations

import typing as t

from sqltune.generate import vocab
from sqltune.generate.catalog import Names
from sqltune.generate.meaning import Cond, Ent, Ref, Val


def name(n: Names, style: str, variant: int = 0) -> str:
    """How ``style`` names a column or table."""
    if style == "analyst":
        return n.described
    if style == "glossary":
        return n.business
    if style == "conversational":
        return n.described if variant % 2 else n.plain
    return n.plain


def entity(e: Ent, style: str, plural: bool = True, variant: int = 0) -> str:
    """A table as a noun phrase; descriptions are used only when they read as a plural noun."""
    if style == "glossary" and e.names.business != e.names.plain:
        return vocab.plural(e.names.business) if plural else e.names.business
    described = e.names.described
    if style in ("analyst", "conversational") and variant % 2 == 0 and _plural_noun(described) and plural:
        return described
    return e.nouns if plural else e.noun


def _plural_noun(text: str) -> bool:
    words = text.split()
    return (1 <= len(words) <= 4 and text.endswith("s") and words[0].lower() not in ("where", "how", "what")
            and not {"of", "for", "to", "in"} & {w.lower() for w in words})


def column(ref: Ref, style: str, variant: int = 0) -> str:
    """A column's phrase; a column of another table than the subject carries that table's noun."""
    text = name(ref.names, style, variant)
    if ref.owner is None:
        return text
    if len(text.split()) >= 3 and style != "glossary":
        text = ref.names.plain
    owner = entity(ref.owner, style, plural=False)
    if text.lower().startswith(owner.lower()):
        return text
    return f"{owner} {text}"


def value(v: Val, style: str) -> str:
    if style in ("analyst", "glossary") and v.meaning:
        return v.meaning if style == "glossary" else f"{v.meaning} ({v.text})"
    if style == "terse":
        return v.text.strip("'")
    return v.text


def join_words(items: t.Sequence[str], last: str = "and") -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {last} " + items[-1]


def article(text: str) -> str:
    return "an" if text[:1].lower() in "aeiou" and not text[:2].isupper() else "a"


_OPS: dict[str, tuple[str, ...]] = {
    "eq": ("with {c} {v}", "whose {c} is {v}", "where the {c} is {v}"),
    "ne": ("whose {c} is not {v}", "with {ac} other than {v}", "where the {c} is not {v}"),
    "in": ("with {c} {vs}", "whose {c} is {vs}", "where the {c} is one of {va}"),
    "gt": ("with {c} above {v}", "whose {c} is greater than {v}", "where the {c} exceeds {v}"),
    "ge": ("with {c} of at least {v}", "whose {c} is {v} or more", "where the {c} is at least {v}"),
    "lt": ("with {c} below {v}", "whose {c} is less than {v}", "where the {c} is under {v}"),
    "le": ("with {c} of at most {v}", "whose {c} is {v} or less", "where the {c} is at most {v}"),
    "between": ("with {c} between {v} and {w}", "whose {c} lies between {v} and {w}",
                "where the {c} is from {v} to {w}"),
    "year": ("with {c} in {v}", "whose {c} falls in {v}", "where the {c} is in {v}"),
    "month": ("with {c} in {v}", "whose {c} falls in {v}", "where the {c} is in {v}"),
    "after": ("with {c} on or after {v}", "whose {c} is {v} or later", "where the {c} is from {v} onwards"),
    "before": ("with {c} before {v}", "whose {c} is earlier than {v}", "where the {c} is before {v}"),
    "null": ("with no {c}", "that have no {c} recorded", "where the {c} is missing"),
    "notnull": ("with {ac}", "that have {ac} recorded", "where the {c} is filled in"),
    "prefix": ("whose {c} starts with {v}", "with {ac} beginning with {v}", "where the {c} starts with {v}"),
    "true": ("with {c} set", "whose {c} is true", "where the {c} is true"),
    "false": ("with {c} not set", "whose {c} is false", "where the {c} is false"),
}
_TERSE = {"eq": "{c} {v}", "ne": "{c} not {v}", "in": "{c} {vt}", "gt": "{c} > {v}", "ge": "{c} >= {v}",
          "lt": "{c} < {v}", "le": "{c} <= {v}", "between": "{c} {v}-{w}", "year": "{c} {v}", "month": "{c} {v}",
          "after": "{c} from {v}", "before": "{c} before {v}", "null": "no {c}", "notnull": "has {c}",
          "prefix": "{c} {v}*", "true": "{c}", "false": "not {c}"}


def cond_phrase(c: Cond, style: str, variant: int = 0) -> str:
    """One filter as words, e.g. ``with order status 'CANC'``."""
    col = column(c.col, style, variant)
    vals = [value(v, style) for v in c.vals]
    slots = {"c": col, "ac": f"{article(col)} {col}", "v": vals[0] if vals else "", "w": vals[1] if len(vals) > 1 else "",
             "vs": join_words(vals, "or"), "va": join_words(vals, "or"), "vt": "/".join(vals)}
    if style == "terse":
        return _TERSE[c.op].format(**slots)
    if style == "glossary" and c.term:
        return f"that count as {c.term}" if c.col.owner is None else f"whose {entity(c.col.owner, style, False)} counts as {c.term}"
    forms = _OPS[c.op]
    if style == "direct":
        return forms[0].format(**slots)
    return forms[variant % len(forms)].format(**slots)


def fold_terms(subject: str, singular: str, conds: t.Sequence[Cond], style: str) -> tuple[str, list[Cond]]:
    """In the glossary style, glossary terms on the subject become part of its noun: ``cancelled orders``."""
    if style != "glossary":
        return subject, list(conds)
    rest = []
    for c in conds:
        if c.term and c.col.owner is None and len(c.term.split()) <= 3:
            last = c.term.split()[-1].lower()
            if last in (singular.split()[-1].lower(), subject.split()[-1].lower()):
                subject = vocab.plural(c.term) if last == singular.split()[-1].lower() else c.term
            else:
                subject = f"{c.term} {subject}"
        else:
            rest.append(c)
    return subject, rest


def where(conds: t.Sequence[Cond], style: str, variant: int = 0) -> str:
    """All filters, with a leading separator (``""`` when there are none)."""
    if not conds:
        return ""
    parts = [cond_phrase(c, style, variant + i) for i, c in enumerate(conds)]
    if style == "terse":
        return ", " + ", ".join(parts)
    return " " + " and ".join(parts)
