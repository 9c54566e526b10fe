"""Schema-constrained decoding: a logits processor under which a model cannot invent a table or column.

:class:`SchemaConstraint` is a ``transformers`` ``LogitsProcessor``. At every step it reads, for each
row, the SQL generated so far (the tokens after the prompt), runs it through an incremental SQL
state machine (:mod:`sqltune.infer.sql_state`) and masks every token whose text would leave the
schema: where an identifier is expected (after ``FROM``/``JOIN``, after ``alias.``, in the SELECT
list, ``WHERE``, ``ON``, ``GROUP BY``, ``ORDER BY``, ``HAVING``…) only tokens that continue a real
table, column, CTE, alias or select alias in scope remain, spelled exactly (``"OrderDate"`` quoted,
``sales."OrderHeader"`` schema-qualified outside the default schema); keywords, functions (which
must then be followed by ``(``), literals, numbers, operators and punctuation stay allowed. The end
of sequence is allowed only where the query may end (parentheses closed, every alias defined). With
``literals=True`` a string compared with a categorical column (``=``, ``<>``, ``IN (…)``) must be one
of that column's values. Every query the constraint lets finish is therefore clean by
:func:`sqltune.grade.invented.invented_identifiers` (see :mod:`sqltune.infer.sql_state` for the
contexts, scope and spelling rules, and :mod:`sqltune.infer.vocab_trie` for how masks are computed).

Use::

    from transformers import LogitsProcessorList
    proc = SchemaConstraint(schema, tokenizer)            # one per generate() call
    out = model.generate(**enc, logits_processor=LogitsProcessorList([proc]), max_new_tokens=200)

**Finishing within the budget.** Given ``max_new_tokens``, a row that has not ended when its budget
runs low is finished by the constraint itself: every few tokens it searches the shortest text that
lets the query end (:func:`sqltune.infer.finish.finish`: the rest of a word, closing quotes,
parentheses and ``END``, a source for qualifiers used before ``FROM`` …) and, once that text needs
about all the tokens left, writes it token by token and then the end of sequence. A model that
wanders (``AS T2ONER …``) still hands back a whole query, instead of one cut mid-way that parses as
nonsense. ``stats["finished"]`` counts such rows, ``stats["unfinished"]`` those no finish was found for.

Masks are computed by walking the vocabulary's trie against the state (on one CPU core about 1 ms
for a 2k-token vocabulary, 4-10 ms for 50k-150k ones; cached per state and shared between processors). Greedy and beam search need less than a mask:
with ``top_k=exact_top_k(num_beams)`` each row's best tokens are checked one by one until enough are
allowed, which decodes exactly as full masks would at a fraction of the cost.

State is kept per row *by the row's generated token ids* (not by batch index), so it works with
left-padded batches, ``num_return_sequences``, sampling and beam search (where beams are reordered
between steps). By default everything present at the first call is the prompt; ``prompt_lengths``
(an int, or one per input row; counted in ``input_ids`` columns, padding included) says where the
SQL starts instead, e.g. when the prompt already ends with ``SELECT``.

>>> from sqltune.schema import Column, Schema, Table
>>> s = Schema("d", "duckdb", (Table("main", "orders", (Column("id", "INT", "integer"),)),), default_schema="main")
>>> c = SchemaConstraint(s, ToyTokenizer([" SELECT", " id", " FROM", " orders", " orderz", "</s>"]))
>>> [c.vocab.strings[i] for i in c.allowed_next("SELECT id FROM").nonzero()[0]]
[' orders']
>>> bool(c.allowed_next("SELECT id FROM orders")[5])  # the end of sequence
True
"""

from __future__ import annotations

import time
import typing as t
from collections import OrderedDict

import numpy as np

from sqltune.errors import ConfigError
from sqltune.infer.finish import finish
from sqltune.infer.sql_state import ENDED, Catalog, Limits, Machine, St
from sqltune.infer.vocab_trie import TokenTrie, token_strings

if t.TYPE_CHECKING:
    import torch

    from sqltune.schema import Schema

try:  # transformers is a dependency; keep the module importable for the docs without it
    from transformers import LogitsProcessor
except ImportError:  # pragma: no cover
    LogitsProcessor = object  # type: ignore[misc, assignment]

#: Changes whenever what the constraint lets through changes, so that cached constrained predictions
#: made before are not taken for this one's (it enters :meth:`sqltune.evaluate.EvalConfig.key`).
#: 2: qualifiers used before FROM ask only for what one source can have; runaways finished in budget.
#: 3: a table named without an alias qualifies columns only as the schema spells it.
#: 4: ``Text2SQL`` answers a constrained question whose candidates were all cut at the budget with no SQL.
#: 5: no free word ends with a keyword glued onto a name (``NET_PRCELSE``) or is a column with digits glued on.
#:    A join takes its ON/USING right after its source (no ``JOIN b`` running on or ending the query).
#: 6: a free word that spells a column as it may not be written there (``SkuDesc`` unquoted, ``sku_nbr`` for
#:    ``SKU_NBR``) is refused as it is written, not only at its end (:func:`~sqltune.infer.sql_state.trapped_at`).
#: 7: a schema name is no qualifier a SELECT list may use before FROM defines it (``SELECT mdm.SKU_NBR``).
REVISION = 7

__all__ = ["Limits", "SchemaConstraint", "ToyTokenizer", "Vocab", "compile_machine", "compile_vocab", "exact_top_k"]


class Vocab:
    """A tokenizer's token strings, its end-of-sequence ids and the token trie (built once per tokenizer)."""

    def __init__(self, tokenizer: t.Any, eos_ids: t.Iterable[int] | None = None) -> None:
        self.strings, self.special = token_strings(tokenizer)
        if eos_ids is None:
            eos = getattr(tokenizer, "eos_token_id", None)
            eos_ids = [eos] if isinstance(eos, int) else list(eos or [])
        self.eos = frozenset(int(i) for i in eos_ids)
        self.trie = TokenTrie(self.strings)
        self.size = len(self.strings)
        #: Token string -> id (plain tokens only, the lowest id where two spell the same), for writing a finish.
        self.index: dict[str, int] = {}
        for i, s in enumerate(self.strings):
            if s and i not in self.special and i not in self.eos:
                self.index.setdefault(s, i)
        self.longest = max((len(s) for s in self.index), default=1)
        #: Masks already computed, per machine (so per schema) and state: shared by every processor of this vocabulary.
        self.masks: dict[Machine, OrderedDict[St | None, np.ndarray]] = {}


_VOCABS: dict[tuple[int, frozenset[int] | None], tuple[t.Any, Vocab]] = {}
_MACHINES: dict[tuple[t.Any, ...], Machine] = {}


def compile_vocab(tokenizer: t.Any, eos_ids: t.Iterable[int] | None = None) -> Vocab:
    """The (cached) :class:`Vocab` of ``tokenizer``."""
    key = (id(tokenizer), frozenset(eos_ids) if eos_ids is not None else None)
    hit = _VOCABS.get(key)
    if hit is None or hit[0] is not tokenizer:
        hit = _VOCABS[key] = (tokenizer, Vocab(tokenizer, eos_ids))
    return hit[1]


def compile_machine(schema: Schema, literals: bool = False, forward_refs: bool = True,
                    limits: Limits = Limits()) -> Machine:
    """The (cached) state machine of ``schema``."""
    key = (schema.fingerprint(), schema.domain_hash() if literals else None, schema.default_schema, literals,
           forward_refs, limits)
    m = _MACHINES.get(key)
    if m is None:
        m = _MACHINES[key] = Machine(Catalog.build(schema, literals=literals, forward_refs=forward_refs, limits=limits))
    return m


def exact_top_k(num_beams: int = 1, do_sample: bool = False, n_eos: int = 2) -> int | None:
    """The smallest ``top_k`` under which :class:`SchemaConstraint` decodes exactly as with full masks.

    Greedy search keeps one token per row, beam search at most ``max(2, 1 + n_eos) * num_beams``
    (``transformers``' beam search); sampling needs the whole distribution (``None``: full masks).

    >>> exact_top_k(), exact_top_k(num_beams=4), exact_top_k(do_sample=True)
    (1, 12, None)
    """
    if do_sample:
        return None
    return 1 if num_beams <= 1 else max(2, 1 + n_eos) * num_beams


class SchemaConstraint(LogitsProcessor):  # type: ignore[misc]
    """Masks every token that would make the generated SQL name something ``schema`` lacks.

    Args:
        schema: the snapshot whose tables and columns may be named.
        tokenizer: the model's tokenizer (any ``transformers`` tokenizer).
        prompt_lengths: where the SQL starts in each row of ``input_ids`` (an int for all rows or one
            per input row; rows from ``num_return_sequences``/beams share their input's); default:
            the width of ``input_ids`` at the first call.
        literals: also constrain string literals compared with a categorical column.
        forward_refs: let a SELECT list name outputs of a derived table that comes later
            (``SELECT n FROM (SELECT count(*) AS n …)``); they must then be defined before the end.
        limits: bounds on runaway repetition (:class:`~sqltune.infer.sql_state.Limits`: a table at most
            twice in one FROM clause, queries at most three deep, by default).
        eos_token_id: the id(s) that end a sequence (default: the tokenizer's).
        top_k: keep only each row's ``top_k`` best-scored allowed tokens, found by checking tokens one
            by one in score order (a few machine steps each) instead of computing the row's whole
            mask; exact for greedy search (1) and beam search (:func:`exact_top_k`), much cheaper.
            ``None`` (the default): full masks, as sampling needs.
        scan: how many of a row's best tokens ``top_k`` checks before it falls back to the full mask.
        max_new_tokens: the generation budget; with it, rows still running near its end are finished
            by the constraint (see the module docstring). ``None``: never.
        finish_window: how many tokens before the budget's end the search for a finish begins.
    """

    def __init__(self, schema: Schema, tokenizer: t.Any, *, prompt_lengths: int | t.Sequence[int] | None = None,
                 literals: bool = False, forward_refs: bool = True, limits: Limits = Limits(),
                 eos_token_id: int | t.Sequence[int] | None = None, top_k: int | None = None,
                 scan: int = 64, max_new_tokens: int | None = None, finish_window: int = 48) -> None:
        if top_k is not None and top_k < 1:
            raise ConfigError(f"top_k must be at least 1 (or None for full masks), not {top_k}.")
        eos = [eos_token_id] if isinstance(eos_token_id, int) else eos_token_id
        self.vocab = compile_vocab(tokenizer, eos)
        self.machine = compile_machine(schema, literals, forward_refs, limits)
        self.prompt_lengths = prompt_lengths
        self.top_k = top_k
        self.scan = max(scan, top_k or 1)
        self._start: int | t.Sequence[int] | None = prompt_lengths
        self._width = -1
        self._states: dict[tuple[int, ...], St | None] = {}
        self._masks = self.vocab.masks.setdefault(self.machine, OrderedDict())
        self.max_new_tokens = max_new_tokens
        self.finish_window = finish_window
        #: Forced continuations: generated ids so far -> the one token allowed next (a finish being written).
        self._forced: dict[tuple[int, ...], int] = {}
        self._planned: set[tuple[int, ...]] = set()  # rows (by generated ids) a finish was searched for
        self.stats = {"calls": 0, "rows": 0, "seconds": 0.0, "masks_computed": 0, "dead_ends": 0, "checked": 0,
                      "finished": 0, "unfinished": 0}

    # ------------------------------------------------------------------ transformers API
    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        import torch

        t0 = time.perf_counter()
        rows, width = input_ids.shape
        if width <= self._width:  # a new generate() call with the same processor
            self._start, self._states, self._forced, self._planned = self.prompt_lengths, {}, {}, set()
        self._width = width
        if self._start is None:
            self._start = width
        starts = self._row_starts(rows)
        lo = min(starts)
        tail = input_ids[:, lo:].tolist()
        gens = [tuple(tail[r][starts[r] - lo:]) for r in range(rows)]
        keys = [self.state(g) for g in gens]
        self._prune(width - max(starts))
        n_logits = scores.shape[-1]
        forced = {r: tok for r, (g, st) in enumerate(zip(gens, keys)) if (tok := self._finishing(g, st)) is not None}
        lazy = [r for r, st in enumerate(keys) if st is not ENDED and self.top_k is not None and st not in self._masks
                and r not in forced]
        picks = self._best_allowed(keys, lazy, scores) if lazy else {}
        allowed = np.ones((rows, n_logits), dtype=bool)
        for r, st in enumerate(keys):
            if st is ENDED:
                continue
            if r in forced:
                allowed[r] = False
                allowed[r, forced[r]] = True
                continue
            ids = picks.get(r)
            if ids is not None:
                allowed[r] = False
                allowed[r, ids] = True
            else:
                m = self.mask(st)
                n = min(n_logits, len(m))
                allowed[r, :n] = m[:n]
                allowed[r, n:] = False
        if scores.device.type == "cpu" and scores.dtype in (torch.float32, torch.float64, torch.float16):
            # numpy, on one thread: torch's parallel fill is slow for this size on busy CPUs
            arr = scores.detach().numpy().copy()
            np.putmask(arr, ~allowed, -np.inf)
            out = torch.from_numpy(arr)
        else:
            out = scores.masked_fill(~torch.from_numpy(allowed).to(scores.device), float("-inf"))
        self.stats["calls"] += 1
        self.stats["rows"] += rows
        self.stats["seconds"] += time.perf_counter() - t0
        return out

    def _finishing(self, generated: tuple[int, ...], st: St | None) -> int | None:
        """The token a row must take next because its finish is being written, else ``None``.

        Near the budget's end (every 4 tokens within ``finish_window``) it searches the row's shortest
        finish; once that finish, spelled in tokens, needs all but a margin of the tokens left, the row
        writes it and then the end of sequence."""
        hit = self._forced.get(generated)
        if hit is not None or self.max_new_tokens is None or st is None or st is ENDED:
            return hit
        left = self.max_new_tokens - len(generated)
        if left > self.finish_window or left % 4 and left > 4 or generated in self._planned:
            return None
        self._planned.add(generated)
        strings = [self.vocab.strings[i] if i < self.vocab.size else None for i in generated]
        text = "".join(s for s in strings if s is not None) if None not in strings else None
        rest = finish(self.machine, st, text)
        if rest is None:
            self.stats["unfinished"] += 1 if left == 1 else 0  # the last chance went by
            return None
        toks = self._spell(st, rest)
        if toks is None or len(toks) + 1 + 8 < left:  # not yet: the model may still end by itself
            return None
        eos = min(self.vocab.eos) if self.vocab.eos else None
        plan = toks + ([eos] if eos is not None else [])
        for i, tok in enumerate(plan):
            self._forced[generated + tuple(plan[:i])] = tok
        self.stats["finished"] += 1
        return plan[0] if plan else None

    def _spell(self, st: St, text: str) -> list[int] | None:
        """``text`` as token ids (longest tokens first), each one allowed where it comes; ``None`` if it cannot be."""
        index = self.vocab.index
        out: list[int] = []
        i = 0
        while i < len(text):
            for j in range(min(len(text), i + self.vocab.longest), i, -1):
                tok = index.get(text[i:j])
                if tok is not None and (nxt := self.machine.feed(st, text[i:j])) is not None:
                    out.append(tok)
                    st, i = nxt, j
                    break
            else:
                return None
        return out

    def _best_allowed(self, keys: list[St | None], rows: list[int], scores: torch.FloatTensor) -> dict[int, list[int]]:
        """For each of ``rows``: its ``top_k`` best-scored allowed tokens, checked one by one in score order.

        A row whose best ``scan`` tokens hold fewer than ``top_k`` allowed ones is left out (it gets the
        full mask). Tokens scored ``-inf`` end the scan: whatever comes after them cannot be chosen.
        Ties go to the lower token id, as ``argmax`` does.
        """
        import torch

        k = self.top_k
        assert k is not None
        n = min(self.scan, scores.shape[-1])
        if scores.device.type == "cpu" and scores.dtype in (torch.float32, torch.float64, torch.float16):
            arr = scores.detach().numpy()[rows]
            part = np.argpartition(-arr, n - 1, axis=-1)[:, :n] if n < arr.shape[-1] else np.tile(
                np.arange(arr.shape[-1]), (len(rows), 1))
            top = np.take_along_axis(arr, part, axis=-1)
            order = np.lexsort((part, -top), axis=-1)
            vals_l = np.take_along_axis(top, order, axis=-1).tolist()
            idx_l = np.take_along_axis(part, order, axis=-1).tolist()
        else:
            vals, idx = scores[rows].topk(n, dim=-1)
            vals_l, idx_l = vals.tolist(), idx.tolist()
        out: dict[int, list[int]] = {}
        for j, r in enumerate(rows):
            st = keys[r]
            got: list[int] = []
            complete = False
            for v, tok in zip(vals_l[j], idx_l[j]):
                if v == float("-inf"):
                    complete = True
                    break
                self.stats["checked"] += 1
                if self.allows(st, tok):
                    got.append(tok)
                    if len(got) == k:
                        complete = True
                        break
            if complete and got:
                out[r] = got
        return out

    def allows(self, st: St | None, tok: int) -> bool:
        """Whether token ``tok`` may follow in state ``st`` (what :meth:`mask` says for it, without the mask)."""
        if st is ENDED:
            return True
        if st is None:
            return tok in self.vocab.eos
        if tok in self.vocab.eos:
            return self.machine.can_end(st)
        if tok >= self.vocab.size or tok in self.vocab.special:
            return False
        text = self.vocab.strings[tok]
        return text is not None and self.machine.feed(st, text) is not None

    # ------------------------------------------------------------------ states and masks
    def state(self, generated: tuple[int, ...]) -> St | None:
        """The machine state after the generated token ids (``None``: left the grammar)."""
        hit = self._states.get(generated, False)
        if hit is not False:
            return hit  # type: ignore[return-value]
        k = len(generated)
        while k > 0 and generated[:k] not in self._states:
            k -= 1
        st: St | None = self._states[generated[:k]] if k else self.machine.initial
        for i in range(k, len(generated)):
            st = self._advance(st, generated[i])
            self._states[generated[: i + 1]] = st
        if not generated:
            self._states[generated] = st
        return st

    def _advance(self, st: St | None, tok: int) -> St | None:
        if st is None or st is ENDED:
            return st
        if tok in self.vocab.eos:
            return ENDED
        text = self.vocab.strings[tok] if tok < self.vocab.size else None
        if text is None:
            return None
        return self.machine.feed(st, text)

    def mask(self, st: St | None) -> np.ndarray:
        """Allowed token ids (a boolean array over the tokenizer's vocabulary) in state ``st``."""
        if st is ENDED:
            return np.ones(self.vocab.size, dtype=bool)
        key = st
        hit = self._masks.get(key)
        if hit is not None:
            self._masks.move_to_end(key)
            return hit
        if st is None:
            m = np.zeros(self.vocab.size, dtype=bool)
        else:
            m = self.vocab.trie.allowed(self.machine, st)
            self.stats["masks_computed"] += 1
        ends = self.machine.can_end(st) if st is not None else True
        for i in self.vocab.eos:
            if i < self.vocab.size:
                m[i] = ends
        for i in self.vocab.special - self.vocab.eos:
            if i < self.vocab.size:
                m[i] = False
        if not m.any():  # nothing can follow: end the row rather than let it wander
            self.stats["dead_ends"] += 1
            for i in self.vocab.eos:
                if i < self.vocab.size:
                    m[i] = True
        self._masks[key] = m
        if len(self._masks) > max(256, 2**27 // max(self.vocab.size, 1)):  # at most about 128 MB of masks
            self._masks.popitem(last=False)
        return m

    def allowed_next(self, sql: str) -> np.ndarray:
        """Allowed next tokens after the text ``sql`` (for tests and debugging)."""
        st = self.machine.feed(self.machine.initial, sql)
        return self.mask(st)

    def _row_starts(self, rows: int) -> list[int]:
        start = self._start
        if isinstance(start, int):
            return [start] * rows
        assert start is not None
        per = max(rows // max(len(start), 1), 1)
        return [int(start[min(r // per, len(start) - 1)]) for r in range(rows)]

    def _prune(self, length: int) -> None:
        if len(self._states) > 64:
            self._states = {k: v for k, v in self._states.items() if len(k) >= length - 1}


class ToyTokenizer:
    """A tiny tokenizer over a fixed list of token strings (greedy longest match), for examples and tests.

    >>> tok = ToyTokenizer(["SELECT", " x", " FROM", "</s>"])
    >>> tok.encode("SELECT x FROM"), tok.decode([0, 1, 2])
    ([0, 1, 2], 'SELECT x FROM')
    """

    def __init__(self, pieces: t.Sequence[str], eos: str = "</s>") -> None:
        self.pieces = list(pieces)
        self.eos_token = eos
        self.eos_token_id = self.pieces.index(eos) if eos in self.pieces else None
        self.all_special_ids = [self.eos_token_id] if self.eos_token_id is not None else []

    def __len__(self) -> int:
        return len(self.pieces)

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        out, i = [], 0
        while i < len(text):
            best = max((j for j, p in enumerate(self.pieces) if p and text.startswith(p, i) and j not in
                        self.all_special_ids), key=lambda j: len(self.pieces[j]), default=None)
            if best is None:
                raise ValueError(f"cannot tokenize {text[i:]!r}")
            out.append(best)
            i += len(self.pieces[best])
        return out

    def decode(self, ids: t.Sequence[int], **_: t.Any) -> str:
        return "".join(self.pieces[i] for i in ids if i not in self.all_special_ids)

    def batch_decode(self, seqs: t.Sequence[t.Sequence[int]], **kw: t.Any) -> list[str]:
        return [self.decode(s, **kw) for s in seqs]
