"""Compare a predicted result with what the gold query allows: rows, columns and order.

Value equality (tolerance, dates, ``NULL``, ``NaN``) is :class:`~sqltune.grade.policy.ComparisonPolicy`'s;
this module decides result equality on top of it.

The gold side is an :class:`Expected`: a sequence of :class:`Segment` s, each a multiset of
candidate rows and how many of them the prediction must supply at that position. An unordered gold
is one segment holding all its rows; an ordered gold has one segment per group of rows tied on the
``ORDER BY`` keys, so tied rows may come in any order; a ``LIMIT``/``OFFSET`` that cuts through a
tie group leaves a partial segment (``take < len(rows)``) from which any ``take`` rows are accepted.

The algorithm, for a prediction with columns ``P`` and a gold with columns ``G``:

1. Values are canonicalised (:meth:`ComparisonPolicy.canon`) so exact-equal values hash alike.
2. Candidate columns: gold column ``i`` may map to predicted column ``j`` when ``j``'s values, as a
   multiset, contain every value ``i`` must have and nothing ``i`` could not have (with full
   segments only: the two multisets are equal).
3. A backtracking search enumerates injective maps ``G -> P`` over the candidates, most constrained
   gold column first. It skips a predicted column identical to one already tried at that step
   (``SELECT a, a``), breaks the symmetry of identical gold columns, and prunes with an exact
   multiset check of the rows projected on the float-free columns assigned so far.
4. Each complete map is checked on whole rows: the projected prediction is cut into chunks of the
   segments' ``take`` sizes (one chunk when order does not matter) and each chunk must be a
   sub-multiset of its segment's rows (equal to them when the segment is full).
5. Rows are matched as multisets (:func:`match_count`): exact pairs through ``Counter``, then the
   leftovers where a float is involved by maximum bipartite matching (Kuhn's algorithm) under the
   tolerance, blocked on the rows' non-numeric values. A block with more than 250,000 candidate
   pairs is matched greedily instead: both sides sorted on their numbers rounded to the tolerance,
   each row paired with one of the next 64 unused rows near its sort position.

Exact pairs are taken first; only where tolerance chains values (``a≈b``, ``b≈c``, ``a≉c``) could
that, or the greedy path, miss a perfect matching: a false ``WRONG_RESULT``, never a false ``CORRECT``.

``strict`` needs a map with ``len(P) == len(G)``; ``lenient`` accepts extra predicted columns.

>>> exp = Expected.unordered(("n", "total"), [(1, 0.3), (2, 0.5)])
>>> compare(("sum", "id"), [(0.5, 2), (0.1 + 0.2, 1)], exp).strict
True
>>> compare(("id",), [(1,), (2,)], Expected.unordered(("id",), [(1,), (1,), (2,)])).reason
'1 row missing, 0 extra'
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
import math
import typing as t

from sqltune.grade.policy import ComparisonPolicy, Tagged, is_number

Row = tuple[t.Any, ...]
Bag = t.Mapping[Row, int]

MAX_MAPS: t.Final = 200
"""Complete column maps tried before the search gives up (said in the reason)."""
_KUHN_LIMIT: t.Final = 250_000
"""Pairs of leftover rows above which fuzzy matching turns greedy (sorted, windowed)."""
_WINDOW: t.Final = 64
_NUM = object()
_DEFAULT = ComparisonPolicy()


@dataclasses.dataclass(frozen=True)
class Segment:
    """Candidate rows for one stretch of the prediction, which must supply ``take`` of them."""

    rows: tuple[Row, ...]
    take: int

    @property
    def full(self) -> bool:
        return self.take == len(self.rows)


@dataclasses.dataclass(frozen=True)
class Expected:
    """What the gold allows: its own result plus the segments a prediction is checked against.

    Attributes:
        columns: Gold column names (for messages only: matching ignores names).
        rows: The gold's own result rows, in its order.
        segments: In order; a single full segment when order does not matter.
        ordered: Whether row order matters (the gold has a top-level ``ORDER BY``).
        note: What the grader could not decide exactly; appended to failure reasons.
    """

    columns: tuple[str, ...]
    rows: tuple[Row, ...]
    segments: tuple[Segment, ...]
    ordered: bool = False
    note: str = ""

    def __post_init__(self) -> None:
        if any(not 0 <= s.take <= len(s.rows) for s in self.segments):
            raise ValueError("A segment cannot take more rows than it holds.")
        if not self.ordered and (len(self.segments) != 1 or not self.segments[0].full):
            raise ValueError("An unordered Expected has exactly one full segment.")

    @classmethod
    def unordered(cls, columns: t.Sequence[str], rows: t.Iterable[t.Sequence[t.Any]]) -> Expected:
        """A gold whose rows may come in any order."""
        frozen = tuple(tuple(r) for r in rows)
        return cls(tuple(columns), frozen, (Segment(frozen, len(frozen)),))

    @property
    def size(self) -> int:
        """How many rows a correct prediction has."""
        return sum(s.take for s in self.segments)


@dataclasses.dataclass(frozen=True)
class Comparison:
    """The outcome of :func:`compare`; ``mapping[i]`` is the predicted column matched to gold column ``i``."""

    strict: bool
    lenient: bool
    reason: str
    mapping: tuple[int, ...] | None = None


def compare(
    pred_columns: t.Sequence[str], pred_rows: t.Sequence[t.Sequence[t.Any]], expected: Expected,
    policy: ComparisonPolicy | None = None,
) -> Comparison:  # fmt: skip
    """Compare one predicted result with an :class:`Expected`; see the module docstring."""
    policy = policy or _DEFAULT
    n_gold, n_pred = len(expected.columns), len(pred_columns)
    search = _Search([tuple(map(policy.canon, r)) for r in pred_rows], n_pred, expected, policy)
    mapping = search.run() if n_pred >= n_gold else None
    if mapping is not None:
        if n_pred == n_gold:
            return Comparison(True, True, "match", mapping)
        extra = [repr(pred_columns[j]) for j in range(n_pred) if j not in mapping]
        names = ", ".join(extra[:3]) + (", …" if len(extra) > 3 else "")
        return Comparison(False, True, f"column count {n_pred} vs {n_gold}; extra predicted {names}", mapping)
    parts = [f"column count {n_pred} vs {n_gold}"] if n_pred != n_gold else []
    if n_pred >= n_gold:
        parts.append(search.diagnose())
    if expected.note:
        parts.append(expected.note)
    return Comparison(False, False, "; ".join(parts), None)


# ---------------------------------------------------------------------------------- multisets
def match_count(left: Bag, right: Bag, policy: ComparisonPolicy | None = None) -> int:
    """Size of a maximum matching between two multisets (``Counter`` s) of canonical rows.

    >>> from collections import Counter
    >>> match_count(Counter([(1,), (2,), (2,)]), Counter([(2.0000000001,), (2,), (3,)]))
    2
    """
    matched = 0
    rest_left: list[Row] = []
    for key, n in left.items():
        m = min(n, right.get(key, 0))
        matched += m
        rest_left.extend([key] * (n - m))
    if not rest_left:
        return matched
    rest_right = [key for key, n in right.items() for _ in range(n - min(n, left.get(key, 0)))]
    blocks: dict[t.Any, tuple[list[Row], list[Row]]] = collections.defaultdict(lambda: ([], []))
    for side, rows in ((0, rest_left), (1, rest_right)):
        for row in rows:
            blocks[tuple(_rigid(v) for v in row)][side].append(row)
    for lhs, rhs in blocks.values():
        if lhs and rhs and (any(map(_row_fuzzy, lhs)) or any(map(_row_fuzzy, rhs))):
            matched += _fuzzy_matching(lhs, rhs, policy or _DEFAULT)
    return matched


def _fuzzy(v: t.Any) -> bool:
    """Whether tolerance can matter for ``v`` (it is or holds a binary float)."""
    return isinstance(v, float) or (isinstance(v, Tagged) and any(_fuzzy(x) for x in v.items))


def _row_fuzzy(row: Row) -> bool:
    return any(_fuzzy(v) for v in row)


def _rigid(v: t.Any) -> t.Any:
    """``v`` with every number replaced by one marker: rows that may be tolerance-equal share it."""
    if is_number(v):
        return _NUM
    if isinstance(v, Tagged):
        return Tagged(v.tag, tuple(_rigid(x) for x in v.items))
    return v


def _fuzzy_matching(left: list[Row], right: list[Row], policy: ComparisonPolicy) -> int:
    if len(left) * len(right) > _KUHN_LIMIT:
        return _greedy_matching(left, right, policy)
    adj = [[j for j, r in enumerate(right) if policy.rows_equal(row, r)] for row in left]
    owner = [-1] * len(right)
    return sum(_augment(u, adj, owner) for u in range(len(left)))


def _augment(root: int, adj: list[list[int]], owner: list[int]) -> bool:
    """One augmenting-path search of Kuhn's algorithm, iterative."""
    seen: set[int] = set()
    stack = [(root, iter(adj[root]))]
    chosen: list[int] = []
    while stack:
        for v in stack[-1][1]:
            if v in seen:
                continue
            seen.add(v)
            chosen.append(v)
            if owner[v] == -1:
                for (u, _), w in zip(stack, chosen, strict=True):
                    owner[w] = u
                return True
            stack.append((owner[v], iter(adj[owner[v]])))
            break
        else:
            stack.pop()
            if chosen:
                chosen.pop()
    return False


def _greedy_matching(left: list[Row], right: list[Row], policy: ComparisonPolicy) -> int:
    """Large blocks: sort both sides on their numbers (rounded to the tolerance), then match each
    left row with one of the next ``_WINDOW`` unused right rows near its sort position."""
    digits = max(1, min(15, int(-math.log10(policy.rel_tol)) - 1)) if policy.rel_tol > 0 else 15

    def snap(v: t.Any) -> float:
        x = float(v)
        return 0.0 if abs(x) <= policy.abs_tol else float(f"{x:.{digits}g}")

    def key(row: Row) -> tuple[float, ...]:
        return tuple(snap(v) for v in row if is_number(v))

    lhs = sorted(((key(r), r) for r in left), key=lambda pair: pair[0])
    ranked = sorted(((key(r), r) for r in right), key=lambda pair: pair[0])
    keys, rhs = [k for k, _ in ranked], [r for _, r in ranked]
    free = list(range(len(rhs) + 1))  # free[j]: a chain to the first unused index >= j

    def first_free(j: int) -> int:
        root = j
        while free[root] != root:
            root = free[root]
        while free[j] != root:
            free[j], j = root, free[j]
        return root

    matched = 0
    for row_key, row in lhs:
        j = first_free(max(0, bisect.bisect_left(keys, row_key) - 8))
        for _ in range(_WINDOW):
            if j >= len(rhs):
                break
            if policy.rows_equal(row, rhs[j]):
                free[j] = j + 1
                matched += 1
                break
            j = first_free(j + 1)
    return matched


def _same_values(a: _Col, b: _Col, policy: ComparisonPolicy) -> bool:
    """Whether two columns hold the same multiset of values (the common, pool-free case: fast)."""
    if len(a.values) != len(b.values):
        return False
    if a.bag == b.bag:
        return True
    if not (a.fuzzy or b.fuzzy):
        return False
    if a.others != b.others:
        if any(map(_fuzzy, a.others)) or any(map(_fuzzy, b.others)):  # lists or structs holding floats
            return match_count(a.rows(), b.rows(), policy) == len(a.values)
        return False
    return len(a.numbers) == len(b.numbers) and all(map(policy.equal, a.numbers, b.numbers))


class _Col:
    """One column's values with the summaries the column search needs."""

    def __init__(self, values: list[t.Any]) -> None:
        self.values = values
        self.bag = collections.Counter(values)
        self.fuzzy = any(map(_fuzzy, self.bag))
        self._numbers: list[t.Any] | None = None
        self._others: collections.Counter[t.Any] | None = None

    @property
    def numbers(self) -> list[t.Any]:
        """The numbers, sorted by value (computed on first use)."""
        if self._numbers is None:
            self._numbers = sorted((v for v in self.values if is_number(v)), key=float)
        return self._numbers

    @property
    def others(self) -> collections.Counter[t.Any]:
        """Everything but the numbers."""
        if self._others is None:
            self._others = collections.Counter({v: n for v, n in self.bag.items() if not is_number(v)})
        return self._others

    def rows(self) -> collections.Counter[Row]:
        return collections.Counter({(v,): n for v, n in self.bag.items()})


def _bag(rows: t.Iterable[Row]) -> collections.Counter[Row]:
    return collections.Counter(rows)


# ------------------------------------------------------------------------------------ search
class _Search:
    """The column-map search of steps 2–4, plus the diagnosis of a failure."""

    def __init__(self, pred: list[Row], n_pred: int, expected: Expected, policy: ComparisonPolicy) -> None:
        canon = policy.canon
        self.pred, self.n_pred, self.policy = pred, n_pred, policy
        self.n_gold, self.ordered = len(expected.columns), expected.ordered
        self.gold_columns = expected.columns
        memo: dict[int, Row] = {}  # the segments usually hold the very row objects of expected.rows

        def canon_row(row: Row) -> Row:
            if id(row) not in memo:
                memo[id(row)] = tuple(map(canon, row))
            return memo[id(row)]

        self.gold_rows = [canon_row(r) for r in expected.rows]
        self.segments = [Segment(tuple(map(canon_row, s.rows)), s.take) for s in expected.segments]
        self.size = expected.size
        self.fixed = [r for s in self.segments if s.full for r in s.rows]
        self.every = self.fixed + [r for s in self.segments if not s.full for r in s.rows]
        self.first_map: tuple[int, ...] | None = None
        self.branching = False
        self.maps_tried = 0
        self.gave_up = False
        self.candidates: list[list[int]] = [[] for _ in range(self.n_gold)]

    def run(self) -> tuple[int, ...] | None:
        if len(self.pred) != self.size:
            return None
        pcols = [_Col([r[j] for r in self.pred]) for j in range(self.n_pred)]
        fixed = [_Col([r[i] for r in self.fixed]) for i in range(self.n_gold)]
        if len(self.every) == len(self.fixed):
            for i in range(self.n_gold):
                self.candidates[i] = [j for j in range(self.n_pred) if _same_values(fixed[i], pcols[j], self.policy)]
        else:  # partial segments: j must hold what i must have, and nothing i could not have
            every = [_Col([r[i] for r in self.every]) for i in range(self.n_gold)]
            for i in range(self.n_gold):
                self.candidates[i] = [
                    j for j in range(self.n_pred)
                    if match_count(fixed[i].rows(), pcols[j].rows(), self.policy) == len(self.fixed)
                    and match_count(pcols[j].rows(), every[i].rows(), self.policy) == self.size
                ]  # fmt: skip
        if not all(self.candidates):
            return None
        self.branching = any(len(c) > 1 for c in self.candidates)
        self.exact_gold = [not (fixed[i].fuzzy or any(_fuzzy(r[i]) for r in self.every)) for i in range(self.n_gold)]
        self.exact_pred = [not c.fuzzy for c in pcols]
        pred_class = {tuple(c.values): j for j, c in reversed(list(enumerate(pcols)))}
        self.pred_class = [pred_class[tuple(c.values)] for c in pcols]
        gold_vectors = [tuple(r[i] for r in self.every) for i in range(self.n_gold)]
        gold_class = {v: i for i, v in reversed(list(enumerate(gold_vectors)))}
        self.gold_class = [gold_class[v] for v in gold_vectors]
        self.order = sorted(range(self.n_gold), key=lambda i: len(self.candidates[i]))
        return self._extend({}, set())

    def _extend(self, assign: dict[int, int], used: set[int]) -> tuple[int, ...] | None:
        if len(assign) == self.n_gold:
            mapping = tuple(assign[i] for i in range(self.n_gold))
            self.maps_tried += 1
            self.first_map = self.first_map or mapping
            return mapping if self._fits(self._project(mapping)) else None
        i = self.order[len(assign)]
        floor = max((j for g, j in assign.items() if self.gold_class[g] == self.gold_class[i]), default=-1)
        tried: set[int] = set()
        for j in self.candidates[i]:
            if j in used or j <= floor or self.pred_class[j] in tried:
                continue
            if self.maps_tried >= MAX_MAPS:
                self.gave_up = True
                return None
            tried.add(self.pred_class[j])
            assign[i] = j
            used.add(j)
            found = self._extend(assign, used) if self._plausible(assign) else None
            del assign[i]
            used.discard(j)
            if found is not None:
                return found
        return None

    def _plausible(self, assign: dict[int, int]) -> bool:
        """Exact check of the rows projected on the float-free columns assigned so far."""
        pairs = [(i, j) for i, j in assign.items() if self.exact_gold[i] and self.exact_pred[j]]
        if not self.branching or len(pairs) < 2:
            return True
        got = _bag(tuple(r[j] for _, j in pairs) for r in self.pred)
        need = _bag(tuple(r[i] for i, _ in pairs) for r in self.fixed)
        allowed = _bag(tuple(r[i] for i, _ in pairs) for r in self.every)
        return not (need - got) and not (got - allowed)

    def _project(self, mapping: t.Sequence[int]) -> list[Row]:
        return [tuple(r[j] for j in mapping) for r in self.pred]

    def _fits(self, rows: list[Row]) -> bool:
        if not self.ordered:
            return self._loosely_fits(rows)
        pos = 0
        for seg in self.segments:
            chunk = rows[pos : pos + seg.take]
            pos += seg.take
            if match_count(_bag(chunk), _bag(seg.rows), self.policy) != len(chunk):
                return False
        return True

    def _loosely_fits(self, rows: list[Row]) -> bool:
        """Order ignored: every fixed row present, nothing that no segment allows."""
        got = _bag(rows)
        return (len(rows) == self.size and match_count(_bag(self.fixed), got, self.policy) == len(self.fixed)
                and match_count(got, _bag(self.every), self.policy) == len(rows))  # fmt: skip

    # -------------------------------------------------------------------------- diagnosis
    def diagnose(self) -> str:
        """A human-readable reason why no column map fits."""
        mapping = self.first_map or self._closest_map()
        rows = self._project(mapping)
        parts = []
        if self.ordered and self._loosely_fits(rows):
            parts.append(f"order differs at row {self._first_out_of_order(rows)}")
        else:
            m = match_count(_bag(rows), _bag(self.gold_rows), self.policy)
            missing, extra = len(self.gold_rows) - m, len(rows) - m
            noun = "row" if missing == 1 else "rows"
            parts.append(f"{missing} {noun} missing, {extra} extra" if missing or extra else "results differ")
            lost = [repr(self.gold_columns[i]) for i, c in enumerate(self.candidates) if not c]
            if len(self.pred) == self.size and 0 < len(lost) < self.n_gold:
                parts.append("no predicted column matches gold column " + ", ".join(lost[:3]))
        if self.gave_up:
            parts.append(f"column alignment gave up after {MAX_MAPS} candidate maps")
        return "; ".join(parts)

    def _closest_map(self) -> tuple[int, ...]:
        """Greedy map by the exact overlap of column values (for messages only)."""
        gold = [_bag((r[i],) for r in self.gold_rows) for i in range(self.n_gold)]
        pred = [_bag((r[j],) for r in self.pred) for j in range(self.n_pred)]
        pairs = [(i, j) for i in range(self.n_gold) for j in range(self.n_pred)]
        scores = sorted((-sum((gold[i] & pred[j]).values()), abs(i - j), i, j) for i, j in pairs)
        assign: dict[int, int] = {}
        for _, _, i, j in scores:
            if i not in assign and j not in assign.values():
                assign[i] = j
        return tuple(assign[i] for i in range(self.n_gold))

    def _first_out_of_order(self, rows: list[Row]) -> int:
        pos = 0
        for seg in self.segments:
            left = list(seg.rows)
            for k, row in enumerate(rows[pos : pos + seg.take]):
                hit = next((n for n, cand in enumerate(left) if self.policy.rows_equal(row, cand)), None)
                if hit is None:
                    return pos + k + 1
                left.pop(hit)
            pos += seg.take
        return pos
