"""The shortest text that lets an unfinished query end, as the constraint's state machine sees it.

A model whose preferred token is masked can wander (``FROM t AS T2ONER …``) until its token budget
runs out, and a query cut there parses as nonsense that names aliases it never defined. With a
budget in sight, :class:`~sqltune.infer.constrain.SchemaConstraint` writes the rest itself: the
finish found here, one token at a time, so every answer it lets out is a whole query the machine
accepts.

The finish is a best-first search (cost: characters so far plus an estimate of what is still owed:
open quotes, parentheses and ``CASE``, a missing operand, undefined qualifiers) over short pieces: the rest of the word
being written (a name or keyword the matcher allows), closing quotes, parentheses and ``END``, a
literal where an operand is missing, ``ON TRUE`` after a join, and, for qualifiers the SELECT list
used before its FROM clause, a source that defines them (``CROSS JOIN sales.store AS T2``, a table
that has every column used with ``T2``). Every step goes through the machine, so a finish is
never more than the machine allows; given the text so far, a finish must also make it a query
DuckDB's parser accepts (the machine tracks names and nesting, not every rule of the grammar:
``CASE WHEN x END`` passes it).

>>> from sqltune.infer.sql_state import Catalog, Machine
>>> from sqltune.schema import Column, Schema, Table
>>> orders = Table("sales", "orders", (Column("id", "INT", "integer"), Column("STATUS", "VARCHAR", "text")))
>>> store = Table("sales", "store", (Column("id", "INT", "integer"), Column("CITY", "VARCHAR", "text")))
>>> m = Machine(Catalog.build(Schema("demo", "duckdb", (orders, store), default_schema="main")))
>>> finish(m, m.feed(m.initial, "SELECT count(*) FROM sales.ord"))
'ers'
>>> text = "SELECT CASE WHEN o.STATUS = 'OPEN"
>>> finish(m, m.feed(m.initial, text), text)
"' THEN 1 END FROM sales.orders AS o"
>>> finish(m, m.feed(m.initial, "SELECT T1.STATUS, T2.CITY FROM sales.orders AS T1"))
' CROSS JOIN sales.store AS T2'
>>> finish(m, m.feed(m.initial, "SELECT o.id FROM sales.orders AS o JOIN sales.sto"))  # a join owes its condition
're ON TRUE'
"""

from __future__ import annotations

import functools
import heapq
import time
import typing as t

from sqltune.infer.sql_state import (AFTER_ALIAS, AFTER_SRC, ALIAS_DEF, DQ, DQ_END, EXPR, NORMAL, NUMBER, QUAL, SQ, SQ_END,
                                     TABLE, TABLE_IN, WORD, Machine, St, bare_ok)

#: How many tables the search tries for one unresolved qualifier, and as a source at all.
TABLES_PER_NEED = 3
#: Completions of the word being written that the search tries.
WORD_ENDINGS = 12


def finish(machine: Machine, st: St | None, text: str | None = None, max_chars: int = 240,
           max_nodes: int = 600, max_seconds: float = 0.5) -> str | None:
    """The shortest text (at most ``max_chars``) after which ``st`` may end; ``""`` if it may end now;
    ``None`` if the search finds none within ``max_nodes`` states and ``max_seconds``. ``text``: the
    query so far (``st`` is the machine's state after it); a finish must then make it parse."""
    if st is None:
        return None
    deadline = time.perf_counter() + max_seconds
    ok = (lambda rest: True) if text is None else (lambda rest: parses(text + rest))
    if machine.can_end(st) and ok(""):
        return ""
    heap: list[tuple[int, int, str, St]] = [(_owed(machine, st), 0, "", st)]
    seen: set[St] = set()
    tick = 0
    while heap and len(seen) < max_nodes and time.perf_counter() < deadline:
        _, _, done, cur = heapq.heappop(heap)
        if cur in seen:
            continue
        seen.add(cur)
        for piece in _pieces(machine, cur):
            nxt = machine.feed(cur, piece)
            cost = len(done) + len(piece)
            if nxt is None or nxt in seen or cost > max_chars:
                continue
            if machine.can_end(nxt) and ok(done + piece):
                return done + piece  # pieces come shortest first
            tick += 1
            heapq.heappush(heap, (cost + _owed(machine, nxt), tick, done + piece, nxt))
    return None


def parses(sql: str) -> bool:
    """Whether DuckDB's parser takes ``sql`` (one statement; nothing runs)."""
    import duckdb

    try:
        return len(_parser().extract_statements(sql)) == 1
    except duckdb.Error:
        return False


@functools.lru_cache(maxsize=1)
def _parser() -> t.Any:
    import duckdb

    return duckdb.connect(":memory:")


def _owed(machine: Machine, st: St) -> int:
    """About how many characters ``st`` still needs before it may end."""
    owed = 1 if st.mode in (SQ, DQ) else 0
    owed += sum(3 for _, kind in st.open if kind == "case") + len(st.stack) - 1
    if st.ctx == EXPR:
        owed += 2
    frame = machine._frame(st.stack)
    if frame.pending:
        defined = {s.name.lower() for s in frame.sources}
        quals = {p.qual.lower() for p in frame.pending if p.qual is not None} - defined
        owed += 20 * len(quals) + (12 if any(p.qual is None for p in frame.pending) and not frame.sources else 0)
    return owed


def _pieces(machine: Machine, st: St) -> list[str]:
    if st.mode == SQ:
        return ["'"]
    out: list[str] = []
    if st.mode == WORD:
        out += _word_endings(machine, st)
    elif st.mode == DQ:
        m = st.matcher
        if m is not None:
            names = sorted((q for q in m.quoted if q.startswith(st.buf)), key=len)[:WORD_ENDINGS]
            out += [q[len(st.buf):].replace('"', '""') + '"' for q in names]
        return out
    base: St | None = st
    if st.mode != NORMAL:  # what may follow once the word, string or number written here ends
        base = machine.feed(st, " ")
    if base is not None:
        out += _sources(machine, base) + _closers(base)
        if st.mode == NORMAL and base.ctx in (TABLE, TABLE_IN, QUAL):
            out += _names_here(machine, base)
        if base.ctx == ALIAS_DEF:
            out += [" " + q for q in _owed_quals(machine, base)] + [" t9"]
    return sorted(set(out), key=lambda p: (len(p), p))


def _owed_quals(machine: Machine, st: St) -> list[str]:
    """Qualifiers the current query used before defining them."""
    frame = machine._frame(st.stack)
    defined = {s.name.lower() for s in frame.sources}
    return sorted({p.qual for p in frame.pending if p.qual is not None and p.qual.lower() not in defined})


def _closers(st: St) -> list[str]:
    """What closes what is open here: a parenthesis, a ``CASE``, a ``BETWEEN``, a missing operand, a join."""
    out = [")"] if len(st.stack) > 1 else []
    if st.stack[-1].kind == "CAST":
        out.append(" AS INT")
    kinds = {kind for _, kind in st.open}
    if "case" in kinds:
        out += [" END", " THEN 1"]
    if "between" in kinds:
        out.append(" AND 1")
    if st.ctx == EXPR:
        out.append(" 1")
    if st.ctx in (AFTER_SRC, AFTER_ALIAS, ALIAS_DEF):
        out.append(" ON TRUE")
    return out


def _word_endings(machine: Machine, st: St) -> list[str]:
    """The rest of the word being written, for words the matcher allows that begin with it."""
    m, buf = st.matcher, st.buf
    if m is None:
        return []
    extra = ["2", "(1)", "()"]  # a free word taken already (an alias used twice) goes on; a function is called
    low = buf.lower()
    names = [n for n in m.bare if n.startswith(buf) and n != buf]
    upper = buf == buf.upper()
    names += [(k.upper() if upper else k) for k in m.kwset if k.startswith(low) and k != low]
    return extra + [n[len(buf):] for n in sorted(set(names), key=len)[:WORD_ENDINGS]]


def _names_here(machine: Machine, st: St) -> list[str]:
    """Names the matcher allows at this word start (a table after FROM, a column after ``alias.``)."""
    m = machine.word_matcher(st)
    if m is None:
        return []
    lead = " " if st.ctx == TABLE else ""
    names = sorted(m.bare, key=len)[:WORD_ENDINGS]
    quoted = sorted(m.quoted - m.bare, key=len)[:WORD_ENDINGS]
    return [lead + n for n in names] + [lead + '"' + q.replace('"', '""') + '"' for q in quoted]


def _spell(machine: Machine, i: int) -> str:
    tb = machine.cat.tables[i]
    name = tb.name if bare_ok(tb.name, qualified=True) else '"' + tb.name.replace('"', '""') + '"'
    if tb.schema and tb.schema != machine.cat.default_schema:
        schema = tb.schema if bare_ok(tb.schema) else '"' + tb.schema.replace('"', '""') + '"'
        return f"{schema}.{name}"
    return name


def _sources(machine: Machine, st: St) -> list[str]:
    """Sources that would resolve what the current query still owes: qualifiers used before FROM, and
    unqualified columns no source has yet."""
    frame = machine._frame(st.stack)
    if not frame.pending:
        return []
    defined = {s.name.lower() for s in frame.sources}
    needs: dict[str, set[str]] = {}
    loose: set[str] = set()
    for p in frame.pending:
        if p.qual is None:
            loose.add(p.col)
        elif p.qual.lower() not in defined:
            needs.setdefault(p.qual, set()).add(p.col)
    out: list[str] = []
    tables = machine.cat.tables
    for qual, cols in needs.items():
        fits = [i for i, tb in enumerate(tables) if cols <= set(tb.columns)][:TABLES_PER_NEED]
        alias = qual if bare_ok(qual) or qual == qual.lower() else '"' + qual + '"'
        for i in fits:
            out += [f" FROM {_spell(machine, i)} AS {alias}", f" CROSS JOIN {_spell(machine, i)} AS {alias}"]
    if loose:
        fits = [i for i, tb in enumerate(tables) if loose <= set(tb.columns)][:TABLES_PER_NEED]
        for i in fits:
            out += [f" FROM {_spell(machine, i)}", f" CROSS JOIN {_spell(machine, i)}"]
    return out
