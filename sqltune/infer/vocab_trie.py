"""A tokenizer's vocabulary as a character trie, walked against a :class:`~sqltune.infer.sql_state.Machine`.

:func:`token_strings` finds the text each token adds to a decoded sequence (once per tokenizer).
:class:`TokenTrie` holds those strings in a trie whose subtrees are contiguous runs of the sorted
vocabulary, and :meth:`TokenTrie.allowed` computes, for one machine state, every token whose whole
text the machine accepts: a depth-first walk that steps the machine one character per trie edge and
prunes rejected branches. Two things keep it cheap:

* a *word walk* follows the allowed identifier tries (table, column, keyword names) and the token
  trie together, and is memoised by (matcher, partial word, trie node), so it is shared by every
  step, beam and batch row that types the same word in the same scope;
* a subtree is accepted whole when nothing in it can be rejected from the state reached (e.g. no
  closing quote below a node inside a string literal), using per-node character-class bits.

>>> from sqltune.schema import Column, Schema, Table
>>> from sqltune.infer.sql_state import Catalog, Machine
>>> m = Machine(Catalog.build(Schema("d", "duckdb", (Table("main", "orders", (Column("id", "INT", "integer"),)),),
...                                  default_schema="main")))
>>> vocab = [" SELECT", " id", " ids", " FROM", " orders", " orderz", " *", " ("]
>>> trie = TokenTrie(vocab)
>>> st = m.feed(m.initial, "SELECT id FROM")
>>> [vocab[i] for i in sorted(trie.allowed(m, st).nonzero()[0])]
[' orders', ' (']
"""

from __future__ import annotations

import typing as t

import numpy as np

from sqltune.infer.sql_state import (ANY_VALUE, DQ, DQ_END, GLUE_BAD, GLUE_SAFE, MAX_BLANKS, MAX_FREE, NORMAL, NUMBER,
                                     QUAL, SQ, SQ_END, TABLE_IN, WORD, WS, Machine, St, glue_state, glue_step,
                                     is_word_char, is_word_start, trapped_at)

# character-class bits of the characters below a trie node
_W, _SQ, _DQ, _NL, _OTHER, _BLANK = 1, 2, 4, 8, 16, 32
#: Characters that mean something outside strings, comments and words (anything else is refused there).
_SPECIAL = frozenset("\"'(),;*-/:=<>!+%|&^~[]") | WS | frozenset("0123456789")


def _bit(c: str) -> int:
    if is_word_char(c):
        return _W
    return {"'": _SQ, '"': _DQ, "\n": _NL, " ": _BLANK, "\t": _BLANK, "\r": _BLANK}.get(c, _OTHER)


def token_strings(tokenizer: t.Any) -> tuple[list[str | None], frozenset[int]]:
    """The text each token id adds when appended to a sequence, and the ids of special tokens.

    Special tokens (end of sequence, chat markers, padding) get ``None``. For byte-level BPE
    tokenizers the text comes from the byte table (a partial UTF-8 sequence decodes to U+FFFD);
    for others it is ``decode([x, id])`` less ``decode([x])``, so a SentencePiece word-start
    marker becomes the space it stands for.
    """
    size = len(tokenizer)
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    added = {}
    for idx, tok in (getattr(tokenizer, "added_tokens_decoder", None) or {}).items():
        added[idx] = tok.content
        if getattr(tok, "special", False):
            special.add(idx)
    out: list[str | None] = [None] * size
    decoder = getattr(getattr(tokenizer, "backend_tokenizer", None), "decoder", None)
    if decoder is not None and type(decoder).__name__ == "ByteLevel":
        table = {v: k for k, v in _bytes_to_unicode().items()}
        pieces = tokenizer.convert_ids_to_tokens(list(range(size)))
        for i, piece in enumerate(pieces):
            if i in special or piece is None:
                continue
            if i in added:
                out[i] = added[i]
            elif all(ch in table for ch in piece):
                out[i] = bytes(table[ch] for ch in piece).decode("utf-8", errors="replace")
            else:
                out[i] = piece
    else:
        prefix = _prefix_id(tokenizer, special)
        base = tokenizer.decode([prefix], clean_up_tokenization_spaces=False)
        texts = tokenizer.batch_decode([[prefix, i] for i in range(size)], clean_up_tokenization_spaces=False)
        for i, text in enumerate(texts):
            if i not in special:
                out[i] = text[len(base):] if text.startswith(base) else tokenizer.decode([i])
    return out, frozenset(special)


def _prefix_id(tokenizer: t.Any, special: set[int]) -> int:
    for probe in (";", "a", "x", "SELECT"):
        try:
            ids = tokenizer.encode(probe, add_special_tokens=False)
        except Exception:  # a tokenizer that cannot write the probe
            continue
        if len(ids) == 1 and ids[0] not in special:
            return int(ids[0])
    return next(i for i in range(len(tokenizer)) if i not in special)


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte → printable character table."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


class TokenTrie:
    """The vocabulary's token strings in a character trie (``None`` strings are left out)."""

    def __init__(self, strings: t.Sequence[str | None]) -> None:
        self.size = len(strings)
        ids = [i for i, s in enumerate(strings) if s]
        ids.sort(key=lambda i: strings[i])  # type: ignore[arg-type, return-value]
        self.order = np.array(ids, dtype=np.int64)  # sorted position -> token id
        self.empty = np.array([i for i, s in enumerate(strings) if s == ""], dtype=np.int64)  # change nothing
        kids: list[dict[str, int]] = [{}]
        own: list[int] = [0]
        lo: list[int] = [0]
        for pos, i in enumerate(ids):
            node = 0
            for ch in strings[i]:  # type: ignore[union-attr]
                nxt = kids[node].get(ch)
                if nxt is None:
                    nxt = len(kids)
                    kids[node][ch] = nxt
                    kids.append({})
                    own.append(0)
                    lo.append(pos)
                node = nxt
            own[node] += 1
        n = len(kids)
        hi = [0] * n
        below = [0] * n
        depth = [0] * n
        wdepth = [0] * n  # the longest run of word characters below (what a word can take in)
        qdepth = [0] * n  # the longest run without a double quote below (what a quoted name can take in)
        for node in range(n - 1, -1, -1):  # children are created after their parents
            h = lo[node] + own[node]
            b = d = wd = qd = 0
            for ch, child in kids[node].items():
                h = max(h, hi[child])
                b |= _bit(ch) | below[child]
                d = max(d, 1 + depth[child])
                if is_word_char(ch):
                    wd = max(wd, 1 + wdepth[child])
                if ch != '"':
                    qd = max(qd, 1 + qdepth[child])
            hi[node], below[node], depth[node], wdepth[node], qdepth[node] = h, b, d, wd, qd
        self.kids, self.own, self.lo, self.hi, self.below, self.depth = kids, own, lo, hi, below, depth
        self.wdepth, self.qdepth = wdepth, qdepth
        self.special_kids = [[(c, k) for c, k in d.items() if c in _SPECIAL] for d in kids]
        self.word_kids = [{c: k for c, k in d.items() if is_word_char(c)} for d in kids]
        self.has_other = [any(not is_word_char(c) for c in d) for d in kids]
        self._memo: dict[tuple[t.Any, ...], tuple[list[tuple[int, int]], list[tuple[int, str]]]] = {}
        self._keep: dict[int, t.Any] = {}

    # ------------------------------------------------------------------------------ walk
    def allowed(self, machine: Machine, st: St) -> np.ndarray:
        """A boolean mask over token ids: the tokens whose text ``machine`` accepts from ``st``."""
        ranges: list[tuple[int, int]] = []
        stack: list[tuple[int, St]] = [(0, st)]
        self._steps: dict[tuple[int, str], St | None] = {}  # (id(state), char) -> next state, for this walk
        self._held: list[St] = []  # keeps the states whose ids key _steps alive
        while stack:
            node, s = stack.pop()
            self._visit(machine, node, s, ranges, stack)
        mask = np.zeros(self.size, dtype=bool)
        arrays = [a for a in ranges if isinstance(a, np.ndarray)]
        plain = [r for r in ranges if not isinstance(r, np.ndarray)]
        if plain:
            arrays.append(np.array(plain, dtype=np.int64).reshape(-1, 2))
        if arrays:
            arr = np.concatenate(arrays)
            n = len(self.order) + 1
            diff = np.bincount(arr[:, 0], minlength=n) - np.bincount(arr[:, 1], minlength=n)
            mask[self.order[np.cumsum(diff[:-1]) > 0]] = True
        if len(self.empty):
            mask[self.empty] = True
        return mask

    def _visit(self, machine: Machine, node: int, s: St, ranges: list[tuple[int, int]],
               stack: list[tuple[int, St]]) -> None:
        """Accept the tokens below ``node`` (reached in state ``s``) that the machine accepts."""
        mode = s.mode
        kids = self.kids[node]
        if mode == WORD or mode == DQ or (mode == SQ and s.matcher is not None):
            self._content(machine, node, s, ranges, stack)
        elif mode == NORMAL:
            self._normal(machine, node, s, ranges, stack)
        elif mode == NUMBER:  # digits and "." go on with the number; the rest follows the number
            for c in "0123456789.":
                child = kids.get(c)
                if child is not None:
                    s2 = machine.step(s, c)
                    if s2 is not None:
                        self._accept(child, s2, ranges, stack)
            # the rest follows the number (not a quote: the machine refuses one right after a number)
            self._normal(machine, node, machine._after_number(s), ranges, stack, skip="0123456789.'\"")
        elif mode == SQ_END:  # '' escapes a quote; anything else follows the closed string
            child = kids.get("'")
            s2 = machine.step(s, "'") if child is not None else None
            if s2 is not None:
                self._accept(child, s2, ranges, stack)  # type: ignore[arg-type]
            e = machine._end_string(s)
            if e is not None:
                self._normal(machine, node, e, ranges, stack, skip="'")
        elif mode == DQ_END:
            self._boundary(machine, node, s, s.buf, True, ranges, stack)
        elif mode == SQ:  # a string literal: free text up to the quote
            for c, child in kids.items():
                if c == "'":
                    s2 = machine.step(s, c)
                    if s2 is not None:
                        self._accept(child, s2, ranges, stack)
                else:
                    self._accept(child, s, ranges, stack)
        else:
            for c, child in kids.items():
                s2 = machine.step(s, c)
                if s2 is not None:
                    self._accept(child, s2, ranges, stack)

    def _normal(self, machine: Machine, node: int, s: St, ranges: list[tuple[int, int]],
                stack: list[tuple[int, St]], skip: str = "") -> None:
        """Between tokens: words start (the memoised word walk), punctuation is stepped."""
        if s.need is None and self.word_kids[node]:
            m = machine.word_matcher(s)
            if m is not None:
                sw = s._replace(mode=WORD, buf="", matcher=m, call=None)
                self._content(machine, node, sw, ranges, stack, start=True, skip=skip)
        steps = self._steps
        sid = id(s)
        self._held.append(s)
        for c, child in self.special_kids[node]:
            if c in skip:
                continue
            key = (sid, c)
            s2 = steps.get(key, steps)
            if s2 is steps:
                s2 = steps[key] = machine._normal(s, c)
            if s2 is not None:
                self._accept(child, s2, ranges, stack)  # type: ignore[arg-type]

    def _accept(self, node: int, s: St, ranges: list[tuple[int, int]], stack: list[tuple[int, St]]) -> None:
        """Tokens ending at ``node`` are allowed (the machine reached ``s``); look below it."""
        lo, own, hi = self.lo[node], self.own[node], self.hi[node]
        if hi == lo + own:
            if own:
                ranges.append((lo, hi))
            return
        if self._free_below(s, self.below[node], self.depth[node]):
            ranges.append((lo, hi))
            return
        if own:
            ranges.append((lo, lo + own))
        stack.append((node, s))

    @staticmethod
    def _free_below(s: St, bits: int, depth: int) -> bool:
        """Whether no string of these character classes (and at most ``depth`` long) can be refused from ``s``."""
        mode = s.mode
        if mode == NORMAL:  # blanks change nothing between tokens but their count
            return not bits & ~(_BLANK | _NL) and s.blanks + depth <= MAX_BLANKS and s.ctx not in (QUAL, TABLE_IN)
        if mode == SQ:
            return s.matcher is None and not bits & _SQ
        if mode == WORD:
            return (s.matcher is not None and s.matcher.free and bits == _W and len(s.buf) + depth <= MAX_FREE
                    and glue_state(s.buf) == GLUE_SAFE and s.matcher.trap_node(s.buf) is None)
        if mode == DQ:
            return (s.matcher is not None and s.matcher.qfree and not bits & _DQ
                    and len(s.buf) + depth <= MAX_FREE)
        return False

    def _content(self, machine: Machine, node: int, s: St, ranges: list[tuple[int, int]],
                 stack: list[tuple[int, St]], start: bool = False, skip: str = "") -> None:
        """Inside a word, quoted identifier or checked literal: the memoised walks, then where it may end."""
        m = s.matcher
        mode = s.mode
        buf = s.buf
        bounds: dict[int, str] = {}
        if not start and self.has_other[node]:
            bounds[node] = buf
        if mode == WORD:
            parts = []
            glue = glue_state(buf) if m.free else GLUE_SAFE  # type: ignore[union-attr]
            if m.free and m.glue_viable(glue):  # type: ignore[union-attr]
                budget = MAX_FREE - len(buf)  # any word up to MAX_FREE characters, then only listed names
                gkey = None if glue == GLUE_SAFE else m.glue_key()  # type: ignore[union-attr]
                trap = m.trap_node(buf)  # type: ignore[union-attr]
                key = ("free", budget, glue, gkey) if trap is None else ("free", budget, glue, gkey, self._ref(m), buf)
                parts.append(self._memo_walk(key, node, start,
                                             lambda: self._walk_free(node, start, budget, glue, m, trap, buf)))
            # listed names too where a free word may be refused (a glued keyword) or run out of length
            if not m.free or glue != GLUE_SAFE or len(buf) + self.wdepth[node] > MAX_FREE:  # type: ignore[union-attr]
                for trie, ci in m.tries:  # type: ignore[union-attr]
                    cur: t.Any = trie
                    for ch in (buf.lower() if ci else buf):
                        cur = cur.get(ch) if cur is not None else None
                    if cur is not None:
                        parts.append(self._memo_walk((self._ref(trie), ci, buf.lower() if ci else buf), node, start,
                                                     lambda c=cur, ci=ci: self._walk_trie(node, c, ci, start)))
        else:
            literal = mode == SQ
            free = m.values is ANY_VALUE if literal else m.qfree  # type: ignore[union-attr]
            parts = []
            if free:
                budget = None if literal else MAX_FREE - len(buf)  # a quoted alias is capped like a word
                parts.append(self._memo_walk(("qfree", literal, budget), node, False,
                                             lambda: self._walk_quoted(node, None, literal, budget)))
            if not free or (not literal and len(buf) + self.qdepth[node] > MAX_FREE):
                for qtrie in ((m.vtrie,) if literal else m.qtries):  # type: ignore[union-attr]
                    qcur: t.Any = qtrie
                    for ch in buf:
                        qcur = qcur.get(ch) if qcur is not None else None
                    if qcur is not None:
                        parts.append(self._memo_walk((self._ref(qtrie), literal, buf), node, False,
                                                     lambda c=qcur: self._walk_quoted(node, c, literal)))
        for got, bnds in parts:
            if len(got):
                ranges.append(got)  # type: ignore[arg-type]
            for bnode, suffix in bnds:
                bounds.setdefault(bnode, buf + suffix)
        for bnode, word in bounds.items():
            if mode == WORD:
                self._boundary(machine, bnode, s, word, False, ranges, stack)
            else:
                c = "'" if mode == SQ else '"'
                child = self.kids[bnode].get(c)
                s2 = machine.step(s._replace(buf=word), c) if child is not None else None
                if s2 is not None:
                    self._accept(child, s2, ranges, stack)  # type: ignore[arg-type]

    def _boundary(self, machine: Machine, node: int, s: St, word: str, quoted: bool, ranges: list[tuple[int, int]],
                  stack: list[tuple[int, St]], skip: str = "") -> None:
        """A word (or closed quoted identifier) may end at ``node``: step what can follow it."""
        kids = self.kids[node]
        sb = s._replace(buf=word)
        m = s.matcher
        if quoted:
            child = kids.get('"')  # "" escapes a quote
            if child is not None:
                s2 = machine.step(sb, '"')
                if s2 is not None:
                    self._accept(child, s2, ranges, stack)
        elif m is None or not m.complete(word):
            return
        for c in ".(":
            child = kids.get(c)
            if child is not None and c not in skip:
                e = machine._end_word(sb, word, quoted, c)
                s2 = e if c == "." or e is None else machine._normal(e, c)
                if s2 is not None:
                    self._accept(child, s2, ranges, stack)
        e = machine._end_word(sb, word, quoted, " ")
        if e is None:
            return
        if quoted and e.need is None and self.word_kids[node]:  # "Name"word: a word right after the quote
            mw = machine.word_matcher(e)
            if mw is not None:
                self._content(machine, node, e._replace(mode=WORD, buf="", matcher=mw, call=None), ranges, stack,
                              start=True)
        for c, child in self.special_kids[node]:
            if c in ".(" or c in skip or (not quoted and is_word_char(c)) or (quoted and c == '"'):
                continue
            s2 = machine._normal(e, c)
            if s2 is not None:
                self._accept(child, s2, ranges, stack)

    def _memo_walk(self, key: tuple[t.Any, ...], node: int, start: bool,
                   compute: t.Callable[[], tuple[list[tuple[int, int]], list[tuple[int, str]]]]
                   ) -> tuple[list[tuple[int, int]], list[tuple[int, str]]]:
        full = (*key, node, start)
        hit = self._memo.get(full)
        if hit is None:
            if len(self._memo) > 200_000:
                self._memo.clear()
                self._keep.clear()
            got, bnds = compute()
            hit = self._memo[full] = (np.array(got, dtype=np.int64).reshape(-1, 2), bnds)  # type: ignore[assignment]
        return hit

    def _ref(self, trie: dict[str, t.Any]) -> int:
        """A key for a name trie (kept alive, so that its id is not reused while memoised)."""
        self._keep[id(trie)] = trie
        return id(trie)

    def _walk_free(self, node: int, start: bool, budget: int, glue: int = GLUE_SAFE, m: t.Any = None,
                   trap: dict[str, t.Any] | None = None,
                   buf: str = "") -> tuple[list[tuple[int, int]], list[tuple[int, str]]]:
        """Any word characters below ``node`` (a free word), at most ``budget`` of them, no glued keyword
        (``glue``: the :func:`~sqltune.infer.sql_state.glue_state` of the word so far; ``m`` says which keywords
        a glued word may still become) and no trapped name (``trap``: the node of ``m.trap`` the word so far,
        ``buf``, reached; see :func:`~sqltune.infer.sql_state.trapped_at`)."""
        got: list[tuple[int, int]] = []
        bounds: list[tuple[int, str]] = []
        todo = [(node, "", start, glue, trap)]
        while todo:
            n, path, first, g, tn = todo.pop()
            size = len(path) + 1
            if size > budget:
                continue
            for ch, child in self.word_kids[n].items():
                if first and not is_word_start(ch):
                    continue
                g2 = glue_step(g, ch)
                if g2 == GLUE_BAD or (g2 >= 0 and not m.glue_viable(g2)):
                    continue
                tn2 = tn.get(ch.lower()) if tn is not None else None
                if tn2 is not None and trapped_at(buf + path + ch, tn2) and not m.prefix_ok_strict(buf + path + ch):
                    continue
                lo, own, hi = self.lo[child], self.own[child], self.hi[child]
                if (g2 == GLUE_SAFE and tn2 is None and self.below[child] & ~_W == 0
                        and size + self.wdepth[child] <= budget):
                    got.append((lo, hi))  # only word characters below: the whole subtree
                    if self.has_other[child]:
                        bounds.append((child, path + ch))
                    continue
                if own:
                    got.append((lo, lo + own))
                if self.has_other[child]:
                    bounds.append((child, path + ch))
                if hi > lo + own:
                    todo.append((child, path + ch, False, g2, tn2))
        return got, bounds

    def _walk_trie(self, node: int, cur: t.Any, ci: bool,
                   start: bool) -> tuple[list[tuple[int, int]], list[tuple[int, str]]]:
        """Word characters below ``node`` that follow the name trie from ``cur``."""
        got: list[tuple[int, int]] = []
        bounds: list[tuple[int, str]] = []
        todo = [(node, "", cur, start)]
        while todo:
            n, path, c0, first = todo.pop()
            kids = self.word_kids[n]
            if ci:
                cand = [(u, k) for ch in c0 if ch for u in {ch, ch.upper()} if (k := kids.get(u)) is not None]
            elif len(c0) < len(kids):
                cand = [(ch, k) for ch in c0 if ch and (k := kids.get(ch)) is not None]
            else:
                cand = list(kids.items())
            for ch, child in cand:
                if first and not is_word_start(ch):
                    continue
                c1 = c0.get(ch.lower() if ci else ch)
                if c1 is None:
                    continue
                lo, own, hi = self.lo[child], self.own[child], self.hi[child]
                if own:
                    got.append((lo, lo + own))
                if self.has_other[child]:
                    bounds.append((child, path + ch))
                if hi > lo + own:
                    todo.append((child, path + ch, c1, False))
        return got, bounds

    def _walk_quoted(self, node: int, cur: t.Any, literal: bool,
                     budget: int | None = None) -> tuple[list[tuple[int, int]], list[tuple[int, str]]]:
        """Characters of a quoted identifier or literal below ``node`` (``cur``: its trie node; ``None``: free,
        with at most ``budget`` characters when given)."""
        stop = "'" if literal else '"'
        bit = _SQ if literal else _DQ
        got: list[tuple[int, int]] = []
        bounds: list[tuple[int, str]] = []
        todo = [(node, "", cur)]
        while todo:
            n, path, c0 = todo.pop()
            size = len(path) + 1
            if budget is not None and size > budget:
                continue
            for ch, child in self.kids[n].items():
                if ch == stop:
                    continue
                c1 = None
                if cur is not None:
                    c1 = c0.get(ch)
                    if c1 is None:
                        continue
                lo, own, hi = self.lo[child], self.own[child], self.hi[child]
                if stop in self.kids[child]:
                    bounds.append((child, path + ch))
                if cur is None and not self.below[child] & bit and (budget is None or
                                                                    size + self.depth[child] <= budget):
                    got.append((lo, hi))
                    continue
                if own:
                    got.append((lo, lo + own))
                if hi > lo + own:
                    todo.append((child, path + ch, c1))
        return got, bounds
