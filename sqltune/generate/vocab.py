"""Words for schema things: identifier splitting, description heads, code meanings, glossary terms.

Questions never parse SQL; they are built from these names, taken from the identifiers themselves,
their descriptions and the data dictionary's glossary.

>>> humanize("SKU_NBR"), humanize("ShipDt"), humanize("OrderHeader", table=True)
('SKU number', 'ship date', 'order')
>>> humanize("DISC_DT", "Discontinuation date; NULL = still sold.")
'discontinuation date'
>>> plural("batch"), plural("category"), plural("SKU")
('batches', 'categories', 'SKUs')
>>> code_meanings("Status: 'A' = active, 'I' = inactive (delisted).", ("A", "I"))
{'A': 'active', 'I': 'inactive'}
>>> description_head("Trade channel: 'MASS' mass merchandiser, 'GROC' grocery.")
'trade channel'
"""

from __future__ import annotations

import re
import typing as t

#: Common database abbreviations (never sample-specific); a description word that starts with the
#: abbreviation wins over this table, so ``DISC_DT`` and ``DISC_PCT`` expand differently.
ABBREVIATIONS = {
    "nbr": "number", "num": "number", "no": "number", "dt": "date", "cd": "code", "qty": "quantity",
    "amt": "amount", "prc": "price", "rgn": "region", "sls": "sales", "rtrn": "return", "ln": "line",
    "ctry": "country", "ccy": "currency", "curr": "currency", "mth": "month", "yr": "year", "qtr": "quarter",
    "nm": "name", "dow": "weekday", "wknd": "weekend", "fl": "flag", "flg": "flag", "fisc": "fiscal",
    "per": "period", "cal": "calendar", "stk": "stock", "alloc": "allocated", "mfg": "manufacturing",
    "std": "standard", "desc": "description", "pct": "percent", "val": "value", "cnt": "count",
    "dir": "director", "mgr": "manager", "acct": "account", "rtl": "retailer", "cust": "customer",
    "prod": "product", "cat": "category", "lvl": "level", "tgt": "target", "cmpd": "compound",
    "synth": "synthesis", "src": "source", "supp": "supplier", "repl": "replicates", "reg": "registration",
    "pt": "patient", "subj": "subject", "juris": "jurisdiction", "pub": "publication", "compl": "completion",
    "enroll": "enrolment", "ver": "version", "deliv": "delivery", "req": "requested", "inv": "inventory",
    "dist": "distribution", "promo": "promotion", "addr": "address", "emp": "employee", "dept": "department",
    "loc": "location", "txn": "transaction", "trx": "transaction", "eff": "effective", "orig": "original",
    "plt": "pallets", "cs": "cases", "mw": "molecular weight", "kusd": "kUSD", "geo": "geographic",
    "dob": "date of birth", "chnl": "channel", "pmt": "payment", "hq": "HQ",
}
#: Tokens written in capitals.
ACRONYMS = {"id", "sku", "gtin", "iso", "usd", "dc", "po", "gl", "eln", "nct", "pi", "ae", "uom", "iso3",
            "smiles", "tpsa", "hbd", "hba", "pic50", "ic50", "fx", "url", "ip", "uuid", "vat", "ean", "upc", "cro",
            "soc", "hq", "kg", "mg", "mt", "qc", "pk", "ok"}
#: Trailing or leading table-name words that say nothing about the entity.
_GENERIC_TABLE_WORDS = {"header", "hdr", "master", "mst", "dim", "fact", "fct", "tbl", "table", "data", "info"}
_STOP_MEANINGS = {"", "or", "and", "e.g", "eg", "etc", "null"}
_WEAK_HEADS = {"value", "date", "first", "last", "true", "false", "number", "position", "price", "cases", "title"}


def split_identifier(name: str) -> list[str]:
    """``"SKU_NBR"`` → ``["SKU", "NBR"]``; ``"ShipDt"`` → ``["Ship", "Dt"]``; digits stay attached."""
    parts: list[str] = []
    for chunk in re.split(r"[_\s.\-]+", name):
        if not chunk:
            continue
        if len(chunk) <= 3 or chunk.isupper() or chunk.islower() or not re.search(r"[a-z][A-Z]", chunk):
            parts.append(chunk)
            continue
        parts += re.findall(r"[A-Z]+[0-9]*(?=[A-Z][a-z])|[A-Z]?[a-z]+[0-9]*|[A-Z]+[0-9]*|[0-9]+", chunk)
    return parts


def _doc_words(doc: str | None) -> list[str]:
    """Plain words of a description: identifiers quoted in it (``RTRN_ID``, ``OrderId``) are left out."""
    text = re.sub(r"\S*(?:[_.]\w|[a-z][A-Z])\S*", " ", doc or "")
    return [w.lower() for w in re.findall(r"[A-Za-z]+", text)]


def _subsequence(short: str, word: str) -> bool:
    it = iter(word)
    return all(ch in it for ch in short)


def expand_token(token: str, doc: str | None = None) -> str:
    """One identifier token as a word, guided by the description where it helps.

    >>> expand_token("DISC", "Discount off list price"), expand_token("nM", "IC50 converted to nM")
    ('discount', 'nM')
    """
    low = token.lower()
    if low in ACRONYMS:
        return token.upper()
    if re.search(r"\d", token) or (len(token) > 1 and token[0].islower() and token[1].isupper()):
        return token
    if doc and re.search(r"[A-Z]", token[1:]) and re.search(r"[a-z]", token) and re.search(
            rf"\b{re.escape(token)}\b", doc):
        return token
    words = _doc_words(doc)
    if len(low) >= 4:
        for w in words:
            if w.startswith(low) and len(w) - len(low) > 3:
                return w[:-1] if w.endswith("s") and not w.endswith(("ss", "is", "us")) and len(w) - 1 > len(low) else w
    if low in ABBREVIATIONS:
        return ABBREVIATIONS[low]
    if len(low) >= 3:
        for w in words:
            if w[0] == low[0] and len(w) > len(low) + 1 and not w.startswith(low) and _subsequence(low, w):
                return w
    if token.isupper() and not re.search(r"[AEIOUY]", token):
        return token
    return low


def humanize(name: str, doc: str | None = None, *, table: bool = False) -> str:
    """Words for an identifier; for a table, generic words like ``Header`` or ``DIM`` are dropped."""
    tokens = split_identifier(name)
    if table and len(tokens) > 1:
        kept = [tok for tok in tokens if tok.lower() not in _GENERIC_TABLE_WORDS]
        tokens = kept or tokens
    words = [tok.lower() if tok.lower() == "per" and 0 < i < len(tokens) - 1 else expand_token(tok, doc)
             for i, tok in enumerate(tokens)]
    return " ".join(words) if words else name


def plural(noun: str) -> str:
    """English plural of the last word (``"order line"`` → ``"order lines"``)."""
    if not noun:
        return noun
    head, _, last = noun.rpartition(" ")
    if last.isupper():
        out = last + "s"
    elif re.search(r"(s|x|z|ch|sh)$", last):
        out = last + "es"
    elif re.search(r"[^aeiou]y$", last):
        out = last[:-1] + "ies"
    else:
        out = last + "s"
    return f"{head} {out}" if head else out


def description_head(doc: str | None, max_words: int = 5) -> str | None:
    """The noun phrase a description starts with (``"Trade channel: …"`` → ``"trade channel"``)."""
    if not doc:
        return None
    text = doc.strip()
    cut = re.split(r"[:;.(,\"]| - | e\.g\.| in | per | as | from | for | when | of the | if | within | \d", text)[0]
    cut = cut.strip()
    words = cut.split()
    while words and words[0].lower() in ("the", "a", "an"):
        words = words[1:]
    if not words or len(words) > max_words or any(ch in cut for ch in "=*'<>/_") or not words[0][0].isalpha():
        return None
    if len(words) == 1 and (len(words[0]) < 5 or words[0].isupper() or words[0].lower() in _WEAK_HEADS):
        return None
    if any(w.lower() in ("the", "that", "which", "who", "a", "an", "is", "was") for w in words[1:]):
        return None
    if any(len(w) > 1 and w.isupper() and w.lower() not in ACRONYMS and w not in ("ISO",) for w in words):
        return None
    if any(re.search(r"[a-z][A-Z]", w) for w in words):
        return None
    first = words[0]
    if not (first.isupper() and len(first) > 1):
        words[0] = first[0].lower() + first[1:]
    return " ".join(words)


def code_meanings(doc: str | None, domain: t.Iterable[t.Any] = ()) -> dict[str, str]:
    """Codes and their meanings stated in a description (``'A' = active``, ``1 = category``).

    Only codes in ``domain`` are kept when a domain is given.
    """
    if not doc:
        return {}
    allowed = {str(v) for v in domain}
    out: dict[str, str] = {}
    for code, meaning in re.findall(r"'([^']{1,40})'\s*(?:=\s*|:\s*)?([A-Za-z][^,;'()]*)", doc):
        _keep(out, code, meaning, allowed)
    for code, meaning in re.findall(r"(?<![\w.-])(\d{1,3})\s*=\s*([A-Za-z][^,;'()]*)", doc):
        _keep(out, code, meaning, allowed)
    return out


def _keep(out: dict[str, str], code: str, meaning: str, allowed: set[str]) -> None:
    meaning = re.split(r"\s+-\s+|\.\s|\.$", meaning.strip())[0].strip().rstrip(".")
    meaning = re.sub(r"\s+(or|and)$", "", meaning)
    meaning = re.sub(r"^(for|is|means)\s+", "", meaning)
    if meaning.lower() in _STOP_MEANINGS or meaning.lower().startswith(("or ", "and ")) or len(meaning) > 40:
        return
    if allowed and code not in allowed:
        return
    out.setdefault(code, meaning)


_REF = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*){0,2}"
_VALUE = r"\((?:\s*'[^']*'\s*,?)+\)|'[^']*'|-?\d+(?:\.\d+)?"
_COND = re.compile(rf"^\s*({_REF})\s*(=|<>|!=|>=|<=|>|<|NOT IN|IN)\s*({_VALUE})", re.IGNORECASE)
_LEAD_REF = re.compile(rf"^\s*({_REF})(?=\s*(?:$|[;(,]|\s[a-z]))")


def parse_glossary_means(means: str) -> tuple[str, t.Any]:
    """Classify a glossary definition.

    Returns ``("condition", (ref, op, values))`` when it starts with a comparison,
    ``("ref", ref)`` when it starts with a bare table or column reference, ``("text", means)`` otherwise.

    >>> parse_glossary_means("sales.OrderHeader.STATUS IN ('OPEN', 'CONF')")
    ('condition', ('sales.OrderHeader.STATUS', 'IN', ('OPEN', 'CONF')))
    >>> parse_glossary_means("mdm.SKU (key SKU_NBR)")
    ('ref', 'mdm.SKU')
    """
    m = _COND.match(means)
    if m:
        ref, op, raw = m.group(1), m.group(2).upper(), m.group(3)
        if raw.startswith("("):
            values: tuple[t.Any, ...] = tuple(re.findall(r"'([^']*)'", raw))
        elif raw.startswith("'"):
            values = (raw[1:-1],)
        else:
            values = (float(raw) if "." in raw else int(raw),)
        return "condition", (ref, "!=" if op == "<>" else op, values)
    m = _LEAD_REF.match(means)
    if m and (m.group(1).count(".") >= 1 or re.search(r"[A-Z_]", m.group(1))):
        return "ref", m.group(1)
    return "text", means
