"""An incremental SQL lexer and clause tracker that knows which identifiers may come next.

The state machine behind :mod:`sqltune.infer.constrain`. It reads SQL one character at a time
(:meth:`Machine.step`) into an immutable, hashable :class:`St` (so states are shared by beams and
cached) and rejects (returns ``None``) the first character that would make the text name a table,
column, alias or (with ``literals``) categorical value that the schema does not have.

**Contexts** (``St.ctx``): where the next word goes decides what it may be.

* ``START``: ``SELECT`` or ``WITH``.
* ``TABLE`` (after ``FROM``, ``JOIN``, ``,`` in a FROM list), ``TABLE_IN`` (after ``schema.``): a
  schema table (schema-qualified unless in the default schema), a CTE in scope, ``(`` for a
  derived table, ``generate_series``/``range``/``unnest``.
* ``AFTER_SRC``, ``ALIAS_DEF`` (after ``AS``), ``AFTER_ALIAS``: an alias definition or a
  FROM-clause keyword (``JOIN``, ``ON``, ``USING``, ``WHERE`` …).
* ``EXPR``, where an operand is expected (SELECT list, ``WHERE``, ``ON``, ``GROUP BY``, ``ORDER
  BY``, ``HAVING``, ``QUALIFY``, arguments): a column or qualifier in scope, a select alias, an
  expression keyword (``CASE``, ``NOT``, ``NULL`` …), a function (then ``(`` must follow),
  ``DATE``/``TIMESTAMP``/``INTERVAL`` (then a literal), a number or a string.
* ``QUAL``: after ``alias.``, that source's columns only.
* ``OPD``, after an operand: operators and keywords (in a SELECT list also an alias).
* ``KW``: one of a few keywords (``BY`` after ``GROUP``, ``FIRST``/``LAST`` after ``NULLS`` …).
* ``USING``: columns both sides of ``JOIN … USING (…)`` have; ``SEL_ALIAS``, ``CTE_*``,
  ``COLDEF``, ``TYPE``, ``OVER_NEXT``: definitions, type names, window names (free words).

**Scope** is kept per query frame: its sources (tables, CTEs, derived tables with their output
columns), select aliases and CTEs; a subquery in an expression also sees the frames around it
(correlated references), a derived table or CTE body does not, as in :mod:`sqltune.grade.invented`.
A SELECT list comes before its FROM clause, so there any column of any table or CTE is allowed,
any word followed by ``.`` is taken as an alias defined later, and (``forward_refs``, on by
default, as the shipped golds need it: ``SELECT n FROM (SELECT count(*) AS n …)``) any other word
as an output of a derived table defined later. All of these are *pending*: the FROM clause cannot
end (``WHERE``, ``GROUP``, ``)``, ``;``, end of text …) until its sources resolve every one, and
an alias cannot be given to a source that lacks the columns it was used with. Such a forward
reference takes no alias without ``AS`` (``SELECT The answer …`` is refused), and ``SEMI``/``ANTI``
joins, whose right side the outer query cannot see, are not offered.

**Joins** take their condition right after their source (``ON``/``USING``; none after ``CROSS``,
``NATURAL``, ``POSITIONAL``), as DuckDB needs; its right-nested ``a JOIN b JOIN c ON … ON …`` is refused,
since a model that chains joins without conditions never ends its query.

**Runaway limits** (:class:`Limits`): a derailed model repeats itself until its token budget
runs out (``JOIN t AS m … JOIN t AS n … JOIN t AS o …``, ``IN (SELECT … IN (SELECT … IN (…``),
and the answer is cut unparseable. So one FROM clause names a table at most ``table_uses`` times
(2: a self-join) and queries nest at most ``query_depth`` deep (3: a subquery in a CTE body); the
shipped evalsets' golds need no more. ``None`` lifts a limit.

**Blanks** change nothing but are limited: at most :data:`MAX_BLANKS` in a row (a model whose
preferred token is masked could otherwise write blanks forever) and none right after the ``.`` of
a qualified name.

**Spelling** (stricter than DuckDB, so the grader's check always passes): a schema identifier is
written exactly, quoted (``"OrderDate"``) or, when it is a plain word in one case and not a reserved
word, bare (``rtl_id``, ``STATUS``); a mixed-case name must be quoted, a quoted one must match
exactly (``"orderdate"`` is refused); aliases and CTE names are used as they were defined. A free
word (alias, forward reference) in capitals may not be a keyword glued to more characters
(``WHERENOT``, ``WHERE_ID``, ``ORDERS``): a model whose preferred token is masked writes such words,
and they parse as aliases (:data:`GLUE_KW`, :func:`glue_state`); quote such an alias or write it in
lower case. Nor may a free word end with a keyword glued onto a name (``NET_PRCELSE``, ``T1INNER``,
``UOM_CDend``: :func:`glued_tail`) or be a listed name with digits glued on (``SKU_NBR1``). A free word
that spells a column as it may not be written there (``SkuDesc`` unquoted) is refused as soon as it
is recognisable, not only at its end (:func:`trapped_at`), and a schema name is no qualifier a SELECT
list may use before its FROM clause.

>>> from sqltune.schema import Column, Schema, Table
>>> orders = Table("sales", "OrderHeader", (Column("OrderDate", "DATE", "date"), Column("rtl_id", "INT", "integer")))
>>> m = Machine(Catalog.build(Schema("demo", "duckdb", (orders,), default_schema="main")))
>>> m.accepts('SELECT h."OrderDate" FROM sales."OrderHeader" h WHERE h.rtl_id = 3')
True
>>> m.accepts('SELECT "OrderDate" FROM sales.OrderHeader'), m.accepts('SELECT "orderdate" FROM sales."OrderHeader"')
(False, False)
>>> m.accepts('SELECT amount FROM sales."OrderHeader"'), m.accepts("SELECT count(*) FROM orderz")
(False, False)
"""

from __future__ import annotations

import functools
import re
import typing as t
from typing import NamedTuple

from sqltune.identifiers import _ALWAYS_RESERVED

if t.TYPE_CHECKING:
    from sqltune.schema import Schema

# modes
NORMAL, WORD, NUMBER, SQ, SQ_END, DQ, DQ_END, DASH, SLASH, COLON = range(10)
#: The longest free word (alias, CTE name, forward reference): PostgreSQL's identifier limit.
MAX_FREE = 63
#: The longest run of blanks between tokens. Blanks change nothing else, so without a limit a model
#: whose preferred token is masked could write blanks forever.
MAX_BLANKS = 12
# contexts
(START, EXPR, OPD, KW, TABLE, TABLE_IN, AFTER_SRC, ALIAS_DEF, AFTER_ALIAS, SEL_ALIAS, QUAL, CTE_NAME,
 CTE_AFTER_NAME, CTE_AFTER_AS, CTE_DONE, COLDEF, USING, TYPE, OVER_NEXT) = range(19)
CTX_NAMES = ("START", "EXPR", "OPD", "KW", "TABLE", "TABLE_IN", "AFTER_SRC", "ALIAS_DEF", "AFTER_ALIAS", "SEL_ALIAS",
             "QUAL", "CTE_NAME", "CTE_AFTER_NAME", "CTE_AFTER_AS", "CTE_DONE", "COLDEF", "USING", "TYPE", "OVER_NEXT")

WS = frozenset(" \t\n\r")
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def is_word_start(c: str) -> bool:
    return c.isalpha() or c == "_"


def is_word_char(c: str) -> bool:
    return c.isalnum() or c == "_"


def _ws(words: str) -> frozenset[str]:
    return frozenset(words.lower().split())


NOTHING: frozenset[t.Any] = frozenset()
ANY_VALUE = frozenset({"\x00any value"})  # a literal that is recorded but not constrained
DATE_PARTS = _ws("""year years month months day days hour hours minute minutes second seconds millisecond milliseconds
    microsecond microseconds week weeks quarter quarters decade decades century centuries millennium epoch dow doy
    isodow isoyear yearweek era julian timezone timezone_hour timezone_minute dayofweek dayofyear weekday""")
CLAUSE_END = _ws("where group having qualify order limit offset window union intersect except")
JOIN_MODS = _ws("left right full inner cross natural outer asof positional")  # no SEMI/ANTI: their right side is hidden
FROM_KW = CLAUSE_END | JOIN_MODS | _ws("join on using as")
JOIN_FAMILY = JOIN_MODS | _ws("join on using")
JOIN_BARE_MODS = _ws("cross natural positional")  # joins without ON/USING
JOIN_ON, JOIN_BARE = 1, 2  # Frame.join
_ON_USING = _ws("on using")
_JOIN_GO_ON = JOIN_MODS | _ws("join")
#: Keywords allowed where an operand is expected (filtered by :func:`expr_keywords`).
#: Infix words (``AND``, ``LIKE``, ``BETWEEN``, ``THEN`` …) come after an operand, not here; ``WHEN`` follows
#: ``CASE``, ``DISTINCT`` opens a call or a SELECT list, ``ALL``/``ANY`` follow a comparison (``St.extra``).
EXPR_KW = _ws("""not case null true false current_date current_time current_timestamp localtime localtimestamp""")
#: Words that must be followed by one of some characters where an operand is expected.
NEED_KW = {"exists": "(", "interval": "'0123456789(", "date": "'(", "time": "'(", "timestamp": "'(",
           "timestamptz": "'(", "array": "[(", "cast": "(", "try_cast": "(", "extract": "("}
_CALL = {"cast": "CAST", "try_cast": "CAST", "extract": "EXTRACT", "exists": "GROUP"}
#: Keywords after an operand (infix, postfix, clause keywords).
OPD_KW = CLAUSE_END | FROM_KW | DATE_PARTS | _ws("""as and or xor not is in like ilike glob similar between escape
    then when else end asc desc nulls first last over filter within from at preceding following rows range
    groups exclude replace rename isnull notnull""")
TABLE_FUNCS = _ws("generate_series range unnest")
FRAME_ONLY = _ws("rows range groups preceding following")  # after an operand only in a window frame
CALL_ONLY = _ws("over filter within")  # after an operand only when it is a function call
CASE_ONLY = _ws("when then else end")  # after an operand only in an open CASE
IN_CASE_NOT = CLAUSE_END | FROM_KW | _ws("from asc desc nulls")  # nor these before its END
SEL_AFTER = _ws("from") | CLAUSE_END
OVER_KW = _ws("partition order rows range groups unbounded current between")
IS_KW = _ws("not null true false distinct unknown")
FOLLOW: dict[str, frozenset[str]] = {
    "group": _ws("by"), "order": _ws("by"), "partition": _ws("by"), "nulls": _ws("first last"),
    "union": _ws("all distinct select by"), "intersect": _ws("all distinct select"),
    "except": _ws("all distinct select"),
    "current": _ws("row"), "unbounded": _ws("preceding following"), "left": _ws("join outer"),
    "right": _ws("join outer"), "full": _ws("join outer"), "inner": _ws("join"), "cross": _ws("join"),
    "outer": _ws("join"), "asof": _ws("join left"), "positional": _ws("join"),
    "natural": _ws("join left right full inner"), "within": _ws("group"), "at": _ws("time"), "similar": _ws("to"),
    "time": _ws("zone"), "not": _ws("in like ilike glob between similar"),
}
_OPERAND_KW = _ws("null true false unknown end current_date current_time current_timestamp localtime localtimestamp "
                  "asc desc first last row preceding following isnull notnull")
_FROM = _ws("from")
_OPS2 = frozenset("<= >= <> != == || << >> //".split())
#: The order of a query's clauses after FROM; each comes at most once (``END``: after both LIMIT and OFFSET).
CLAUSE_RANK = {"WHERE": 1, "GROUP": 2, "HAVING": 3, "WINDOW": 4, "QUALIFY": 5, "ORDER": 6, "LIMIT": 7, "OFFSET": 7,
               "END": 8}
RESERVED = frozenset(w.lower() for w in _ALWAYS_RESERVED) | EXPR_KW | FROM_KW | _ws("select with")


#: Keywords a model glues to the next word when its preferred token is masked (``WHERENOT``,
#: ``WHERE_STATUS``, ``INNERJOIN``): a free word (alias, forward reference) written in capitals may not
#: begin with one of them and go on with more characters, unless it is still spelling a keyword or
#: function (``NOTNULL``) or a listed name (a column ``ORDER_ID``). Quote such an alias (``"ORDERS"``).
GLUE_KW = frozenset(w for w in CLAUSE_END | FROM_KW | _ws("select from not and case when then else end between like "
                                                           "ilike exists null distinct") if len(w) >= 3)
#: Glue states (:func:`glue_state`) that no longer depend on the next characters.
GLUE_SAFE, GLUE_BAD = -1, -2


@functools.lru_cache(maxsize=1)
def _glue_dfa() -> tuple[list[dict[str, int]], list[bool], list[str]]:
    """The trie of every keyword and function name in capitals; a node marks whether it ends a :data:`GLUE_KW`
    (and knows its path)."""
    words = {w.upper() for w in _glue_vocab()}
    kids: list[dict[str, int]] = [{}]
    glue = [False]
    paths = [""]
    for w in words:
        node = 0
        for ch in w:
            nxt = kids[node].get(ch)
            if nxt is None:
                nxt = kids[node][ch] = len(kids)
                kids.append({})
                glue.append(False)
                paths.append(paths[node] + ch)
            node = nxt
        if w.lower() in GLUE_KW:
            glue[node] = True
    return kids, glue, paths


@functools.lru_cache(maxsize=1)
def glue_words() -> tuple[str, ...]:
    """The keywords and function names (in capitals) that begin with a :data:`GLUE_KW` (``WHERE``, ``NOTNULL``)."""
    return tuple(sorted(w for w in (v.upper() for v in _glue_vocab()) if glue_fired(glue_state(w))))


@functools.lru_cache(maxsize=1)
def _glue_vocab() -> frozenset[str]:
    return frozenset(RESERVED | OPD_KW | EXPR_KW | frozenset(NEED_KW) | DATE_PARTS | GLUE_KW | _OPERAND_KW
                     | frozenset().union(*FOLLOW.values()) | sql_functions())


def glue_fired(state: int) -> bool:
    """Whether a free word in this glue state spells a :data:`GLUE_KW` (then only a keyword may follow)."""
    return state >= 0 and state % 2 == 1


def glue_path(state: int) -> str:
    """The capitals a live glue state has read."""
    return _glue_dfa()[2][state // 2]


def glue_step(state: int, ch: str) -> int:
    """The glue state after one more character of a free word (a word starts in state ``0``).

    ``GLUE_SAFE``: the word can no longer be a glued keyword; ``GLUE_BAD``: it is one (refused).
    """
    if state < 0:
        return state
    kids, glue, _ = _glue_dfa()
    node, fired = divmod(state, 2)
    nxt = kids[node].get(ch)
    if nxt is None:
        return GLUE_BAD if fired else GLUE_SAFE
    return nxt * 2 + (1 if fired or glue[nxt] else 0)


@functools.lru_cache(maxsize=65536)
def glue_state(word: str) -> int:
    """The glue state of a free word: ``glue_state("WHERENOT") == GLUE_BAD``.

    >>> [glue_state(w) == GLUE_BAD for w in ("WHERENOT", "WHERE_ID", "WHERE", "NOTNULL", "orders", "Orders", "ORDERS")]
    [True, True, False, False, False, False, True]
    """
    state = 0
    for ch in word:
        state = glue_step(state, ch)
        if state < 0:
            break
    return state


#: Keywords a model glues onto the end of the name before them when the blank is not its preferred token
#: (``NET_PRCELSE``, ``T1INNER``, ``Order_IDFROM``, ``PLANTISNULL``, ``UOM_CDend``): such a free word parses
#: as an alias or a derived table's output, and the query derails after it. See :func:`glued_tail`.
TAIL_KW = _ws("from where inner join left right outer cross else then when null group order having limit union "
              "select like between")
_TAIL_UPPER = re.compile(r"(.*[A-Za-z0-9])(%s)\Z" % "|".join(sorted((w.upper() for w in TAIL_KW), key=len,
                                                                        reverse=True)))
_TAIL_LOWER = re.compile(r".*[A-Z0-9](?:%s)\Z" % "|".join(sorted(TAIL_KW | _ws("end and"), key=len, reverse=True)))
_GLUED_DIGITS = re.compile(r"(.*[A-Za-z_])[0-9]+\Z")


@functools.lru_cache(maxsize=65536)
def glued_tail(word: str) -> bool:
    """Whether a free word ends with a keyword glued onto a name: in capitals after a name with a digit or
    an underscore (``NET_PRCELSE``, ``T1INNER``; not ``EFF_FROM``, ``REORDER`` or ``TOTAL_SPEND``), or in
    lower case after a capital or a digit (``UOM_CDend``).

    >>> [w for w in ("NET_PRCELSE", "T1INNER", "Order_IDFROM", "l1PLANTISNULL", "UOM_CDend", "EFF_FROM",
    ...              "REORDER", "TOTAL_SPEND", "WINNER", "trend", "ORDER_ID", "n_from") if glued_tail(w)]
    ['NET_PRCELSE', 'T1INNER', 'Order_IDFROM', 'l1PLANTISNULL', 'UOM_CDend']
    """
    m = _TAIL_UPPER.match(word)
    if m and any(c.isdigit() or c == "_" for c in m.group(1)):
        return True
    return bool(_TAIL_LOWER.match(word))


def glued_digits(word: str, names: frozenset[str]) -> bool:
    """Whether ``word`` is one of ``names`` with digits glued on (``SKU_NBR1`` where ``SKU_NBR`` is a column).

    >>> glued_digits("SKU_NBR1", frozenset({"SKU_NBR"})), glued_digits("LVL1", frozenset({"SKU_NBR"}))
    (True, False)
    """
    m = _GLUED_DIGITS.match(word)
    return bool(m) and m.group(1) in names  # type: ignore[union-attr]


@functools.lru_cache(maxsize=1)
def type_names() -> frozenset[str]:
    """DuckDB's type names (lower case, one word each: ``integer``, ``decimal``, ``varchar``, ``timestamptz`` …)."""
    names = set(_ws("boolean tinyint smallint integer int bigint hugeint real float double decimal numeric varchar text "
                    "char string date time timestamp timestamptz interval blob uuid json"))
    names |= _duckdb_names("SELECT DISTINCT type_name FROM duckdb_types()")
    return frozenset(n for n in names if _PLAIN.match(n))


def _duckdb_names(sql: str) -> set[str]:
    """The first column of a query on DuckDB's catalog, in lower case (empty if it cannot run)."""
    try:
        import duckdb

        con = duckdb.connect()
        try:
            return {r[0].lower() for r in con.execute(sql).fetchall()}
        finally:
            con.close()
    except Exception:  # pragma: no cover - duckdb is a dependency
        return set()


@functools.lru_cache(maxsize=1)
def sql_functions() -> frozenset[str]:
    """Function names (lower case) known to DuckDB or sqlglot; they must be followed by ``(``."""
    names = set(_ws("columns count sum avg min max coalesce nullif if list struct_pack"))
    names |= _duckdb_names("SELECT DISTINCT function_name FROM duckdb_functions() "
                           "WHERE function_type IN ('scalar', 'aggregate', 'macro', 'window')")
    from sqlglot.dialects.duckdb import DuckDB

    names |= {k.lower() for k in DuckDB.Parser.FUNCTIONS}
    return frozenset(n for n in names if _PLAIN.match(n) and not n.startswith("__"))


@functools.lru_cache(maxsize=1)
def expr_keywords() -> frozenset[str]:
    """:data:`EXPR_KW` less any word this sqlglot would read as a column (so it never is one)."""
    import sqlglot
    from sqlglot import exp

    out = set()
    for k in EXPR_KW:
        trees = []
        for sql in (f"SELECT {k} FROM t", f"SELECT * FROM t WHERE {k} = 1", f"SELECT * FROM t WHERE a = {k}"):
            try:
                trees.append(sqlglot.parse_one(sql, read="duckdb"))
            except Exception:
                continue
        if not any(c.name.lower() == k for tree in trees for c in tree.find_all(exp.Column)):
            out.add(k)
    return frozenset(out)


@functools.lru_cache(maxsize=65536)
def bare_ok(name: str, qualified: bool = False) -> bool:
    """Whether a schema identifier may be written unquoted: a plain word, one case, not reserved."""
    if not _PLAIN.match(name) or (name != name.lower() and name != name.upper()):
        return False
    return qualified or name.lower() not in RESERVED


def alias_bare_ok(name: str) -> bool:
    return bool(_PLAIN.match(name)) and name.lower() not in RESERVED


# ------------------------------------------------------------------------------- catalog
class Limits(NamedTuple):
    """Bounds on what a runaway model repeats (``None``: no bound).

    >>> Limits()
    Limits(table_uses=2, query_depth=3)
    """

    table_uses: int | None = 2  # how often one FROM clause may name the same schema table
    query_depth: int | None = 3  # nested queries, the outermost included


class TableInfo(NamedTuple):
    schema: str | None
    name: str
    columns: tuple[str, ...]
    domains: dict[str, frozenset[str]]  # column -> complete categorical domain


class Catalog:
    """What the machine needs from a :class:`~sqltune.schema.Schema`, computed once."""

    def __init__(self, tables: t.Sequence[TableInfo], default_schema: str | None, literals: bool = False,
                 forward_refs: bool = True, limits: Limits = Limits()) -> None:
        self.tables = tuple(tables)
        self.limits = limits
        self.default_schema = default_schema
        self.literals = literals
        self.forward_refs = forward_refs
        self.schemas = frozenset(tb.schema for tb in self.tables if tb.schema) | (
            frozenset([default_schema]) if default_schema else NOTHING)
        self.by_schema: dict[str, tuple[int, ...]] = {}
        for i, tb in enumerate(self.tables):
            key = tb.schema or default_schema or ""
            self.by_schema[key] = self.by_schema.get(key, ()) + (i,)
        self.bare_tables = tuple(i for i, tb in enumerate(self.tables) if tb.schema in (None, default_schema))
        self.all_columns = frozenset(c for tb in self.tables for c in tb.columns)
        self._matchers: dict[t.Any, Matcher] = {}

    @classmethod
    def build(cls, schema: Schema, literals: bool = False, forward_refs: bool = True,
              limits: Limits = Limits()) -> Catalog:
        infos = []
        for tb in schema.tables:
            domains = {}
            for col in tb.columns:
                p = col.profile
                if p is not None and p.values is not None and p.values_complete:
                    domains[col.name] = frozenset(str(v) for v in p.values if v is not None)
            infos.append(TableInfo(tb.schema, tb.name, tb.column_names, domains))
        return cls(infos, schema.default_schema, literals, forward_refs, limits)

    def matcher(self, bare: Names = NOTHING, quoted: Names = NOTHING, kw: tuple[str, ...] = (),
                extra: frozenset[str] = NOTHING, free: bool = False, exclude: frozenset[str] = NOTHING,
                free_exclude: frozenset[str] = NOTHING, values: frozenset[str] | None = None,
                qfree: bool | None = None) -> Matcher:
        """The (interned) matcher for these word sets (``qfree`` defaults to ``free``).

        ``bare`` and ``quoted`` are sets of names or tuples of them: each set gets its own (cached)
        trie, so a large fixed part (a table's columns) is shared while a small part (aliases) varies.
        """
        key = (_parts(bare), _parts(quoted), kw, extra, free, exclude, free_exclude, values,
               free if qfree is None else qfree)
        m = self._matchers.get(key)
        if m is None:
            if len(self._matchers) > 50000:
                self._matchers.clear()
            m = self._matchers[key] = Matcher(*key, ident=len(self._matchers) + 1)
        return m

    @functools.cached_property
    def table_cols(self) -> tuple[frozenset[str], ...]:
        return tuple(frozenset(tb.columns) for tb in self.tables)

    @functools.cached_property
    def table_names(self) -> frozenset[str]:
        return frozenset(tb.name for tb in self.tables)


@functools.lru_cache(maxsize=4096)
def bare_names(names: frozenset[str], qualified: bool = False) -> frozenset[str]:
    """The names that may be written unquoted (:func:`bare_ok`)."""
    return frozenset(c for c in names if bare_ok(c, qualified))


Names = t.Union[frozenset[str], tuple[frozenset[str], ...]]


def _parts(names: Names) -> tuple[frozenset[str], ...]:
    """``names`` as a tuple of non-empty sets, the same sets once each."""
    if isinstance(names, frozenset):
        return (names,) if names else ()
    out: list[frozenset[str]] = []
    for p in names:
        if p and p not in out:
            out.append(p)
    return tuple(out)


@functools.lru_cache(maxsize=4096)
def _trie(words: frozenset[str]) -> dict[str, t.Any]:
    """A character trie of ``words`` ("" marks a word's end); shared by every matcher with the same words."""
    root: dict[str, t.Any] = {}
    for w in words:
        node = root
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = True
    return root


@functools.lru_cache(maxsize=None)
def _kw_words(name: str) -> frozenset[str]:
    return {"expr": lambda: expr_keywords() | frozenset(NEED_KW) | sql_functions(), "opd": lambda: OPD_KW}[name]()


@functools.lru_cache(maxsize=4096)
def _qtrie(names: frozenset[str]) -> dict[str, t.Any]:
    """The trie of quoted names as written between the quotes (a ``"`` doubled)."""
    return _trie(frozenset(q.replace('"', '""') for q in names))


@functools.lru_cache(maxsize=4096)
def _kwset(kw: tuple[str, ...], extra: frozenset[str], exclude: frozenset[str]) -> frozenset[str]:
    return (frozenset().union(*(_kw_words(k) for k in kw)) | extra) - exclude


@functools.lru_cache(maxsize=256)
def _kw_trie(name: str, exclude: frozenset[str] = frozenset()) -> dict[str, t.Any]:
    return _trie(_kw_words(name) - exclude)


#: The shortest free word the trap refuses (:func:`trapped_at`).
TRAP_MIN = 3


@functools.lru_cache(maxsize=4096)
def _trap_trie(refused: frozenset[str]) -> dict[str, t.Any] | None:
    """The trie of the names (in lower case) a free word may not end as here, keywords aside (those are the
    glue's): the columns, written in a spelling that is not listed (``SkuDesc`` unquoted, ``sku_nbr`` for
    ``SKU_NBR``)."""
    names = frozenset(w for w in refused if w not in _glue_vocab())
    return _trie(names) if names else None


def trapped_at(word: str, node: dict[str, t.Any]) -> bool:
    """Whether a free ``word`` (at least :data:`TRAP_MIN` long) whose lower case reached trap ``node`` is
    refused: it spells a whole refused name, or it is in mixed case and begins one.

    A free word that can only go on is a dead end for a model: whose preferred blank is masked after
    ``SkuDesc`` (a column that must be quoted), it glues the next keyword on (``SkuDescFROM``) and wanders
    until its budget runs out. Refused early, its masked token steers it to the listed spelling
    (``"SkuDesc"``). A derived table's output that merely begins like a column in another case stays free
    (``t.spend`` beside ``SPEND_USD``); listed names and keywords that begin so stay allowed (the caller
    checks them).

    >>> trie = _trie(frozenset({"skudesc", "sku_nbr"}))
    >>> [trapped_at(w, trie["s"]["k"]["u"]) for w in ("Sku", "sku", "SKU")], trapped_at("sku_nbr", {"": True})
    ([True, False, False], True)
    """
    if len(word) < TRAP_MIN:
        return False
    return "" in node or (word != word.lower() and word != word.upper())


class Matcher:
    """The words allowed at one place: exact names, case-insensitive keywords, or any word.

    ``exclude`` refuses complete words of any kind, ``free_exclude`` only free ones (a reserved word
    is no alias). A *cursor* is a tuple of trie nodes, one per trie, ``None`` where it fell off.
    Quoted identifiers match ``quoted`` exactly (or anything if free); string literals ``values``.
    """

    __slots__ = ("bare", "quoted", "kw", "extra", "free", "exclude", "free_exclude", "values", "qfree", "id",
                 "kwset", "tries", "qtries", "vtrie", "trap", "_glue_ok")

    def __init__(self, bare: tuple[frozenset[str], ...], quoted: tuple[frozenset[str], ...], kw: tuple[str, ...],
                 extra: frozenset[str], free: bool, exclude: frozenset[str], free_exclude: frozenset[str],
                 values: frozenset[str] | None, qfree: bool, ident: int) -> None:
        if exclude:  # excluded words leave the tries too: a word that could only end refused would be a dead end
            bare = tuple(frozenset(b for b in p if b.lower() not in exclude) for p in bare)
            quoted = tuple(frozenset(q for q in p if q.lower() not in exclude) for p in quoted)
        self.bare: frozenset[str] = frozenset().union(*bare)
        self.quoted: frozenset[str] = frozenset().union(*quoted)
        self.kw, self.extra, self.free, self.qfree = kw, extra, free, qfree
        self.exclude, self.free_exclude, self.values, self.id = exclude, free_exclude, values, ident
        self.kwset = _kwset(kw, extra, exclude)
        tries: list[tuple[dict[str, t.Any], bool]] = [(_trie(p), False) for p in bare if p]
        tries += [(_kw_trie(k, exclude), True) for k in kw]
        if extra - exclude:
            tries.append((_trie(frozenset(w.lower() for w in extra) - exclude), True))
        self.tries = tuple(tries)
        self.qtries = tuple(_qtrie(p) for p in quoted if p)
        self.vtrie = _trie(frozenset(v.replace("'", "''") for v in values)) if values is not None else None
        self.trap = _trap_trie(free_exclude) if free else None
        self._glue_ok: frozenset[str] | None = None

    def glue_key(self) -> frozenset[str]:
        """The beginnings (in capitals) of the keywords glued words may still become here: ``WHERE`` after a
        table only where the query may go on with WHERE (else a free word ``WHERE…`` is a dead end)."""
        if self._glue_ok is None:
            ok = [w for w in glue_words() if self.complete(w)]
            self._glue_ok = frozenset(w[:i] for w in ok for i in range(1, len(w) + 1))
        return self._glue_ok

    def glue_viable(self, state: int) -> bool:
        """Whether a free word in glue ``state`` can still end as an allowed word (listed names aside)."""
        if state < 0:
            return state != GLUE_BAD
        return not glue_fired(state) or glue_path(state) in self.glue_key()

    def __hash__(self) -> int:
        return self.id

    def __eq__(self, other: object) -> bool:
        return self is other

    def __repr__(self) -> str:
        return f"<Matcher {self.id}: {len(self.bare)} names, kw={self.kw}+{len(self.extra)}, free={self.free}>"

    def start(self) -> tuple[t.Any, ...]:
        return tuple(tr for tr, _ in self.tries)

    def advance(self, cur: tuple[t.Any, ...], c: str) -> tuple[t.Any, ...] | None:
        """The cursor after word character ``c``; ``None`` if no allowed word goes on so."""
        out = []
        alive = False
        low = c.lower()
        for node, (_, ci) in zip(cur, self.tries):
            nxt = node.get(low if ci else c) if node is not None else None
            out.append(nxt)
            alive = alive or nxt is not None
        return tuple(out) if alive or self.free else None

    def candidates(self, cur: tuple[t.Any, ...]) -> set[str] | None:
        """The characters that continue an allowed word (``None``: any)."""
        if self.free:
            return None
        out: set[str] = set()
        for node, (_, ci) in zip(cur, self.tries):
            if node is not None:
                for ch in node:
                    if ch:
                        out.add(ch)
                        if ci:
                            out.add(ch.upper())
        return out

    def trap_node(self, word: str) -> dict[str, t.Any] | None:
        """The node of :attr:`trap` that ``word`` (in any case) reaches; ``None`` once it is off the trap."""
        node = self.trap
        for ch in word.lower():
            if node is None:
                return None
            node = node.get(ch)
        return node

    def trapped(self, word: str) -> bool:
        """Whether free ``word`` is heading for a name it may not end as here (:func:`trapped_at`)."""
        node = self.trap_node(word)
        return node is not None and trapped_at(word, node) and not self.prefix_ok_strict(word)

    def prefix_ok(self, word: str) -> bool:
        if self.free:  # any word, but no keyword glued to the next one, nor a refused name (unless a listed name)
            return (self.glue_viable(glue_state(word)) and not self.trapped(word)) or self.prefix_ok_strict(word)
        cur: tuple[t.Any, ...] | None = self.start()
        for ch in word:
            cur = self.advance(cur, ch)  # type: ignore[arg-type]
            if cur is None:
                return False
        return True

    def prefix_ok_strict(self, word: str) -> bool:
        """Whether ``word`` begins some listed name or keyword (ignoring ``free``)."""
        cur: tuple[t.Any, ...] | None = self.start()
        low = word.lower()
        for node, (_, ci) in zip(cur, self.tries):  # type: ignore[arg-type]
            for ch in (low if ci else word):
                node = node.get(ch) if node is not None else None
            if node is not None:
                return True
        return False

    def qprefix_strict(self, body: str) -> bool:
        """Whether ``body`` begins some listed quoted name (ignoring ``qfree``)."""
        for node in self.qtries:
            for ch in body:
                node = node.get(ch)
                if node is None:
                    break
            else:
                return True
        return False

    def complete(self, word: str) -> bool:
        low = word.lower()
        if low in self.exclude:
            return False
        if word in self.bare or low in self.kwset:
            return True
        return (self.free and low not in self.free_exclude and not glued_tail(word)
                and not glued_digits(word, self.bare))

    def qprefix(self, body: str, literal: bool = False) -> bool:
        if (self.qfree if not literal else self.values is ANY_VALUE):
            return True
        if not literal:
            return self.qprefix_strict(body)
        node = self.vtrie
        for ch in body:
            node = node.get(ch) if node is not None else None
            if node is None:
                return False
        return node is not None

    def qcomplete(self, body: str, literal: bool = False) -> bool:
        if literal:
            return self.values is None or self.values is ANY_VALUE or body.replace("''", "'") in self.values
        name = body.replace('""', '"')
        if name.lower() in self.exclude:
            return False
        return name in self.quoted or self.qfree


# ------------------------------------------------------------------------------- records
class Source(NamedTuple):
    name: str  # how it is referred to: the alias, else the table or CTE name ("" for an unnamed derived table)
    cols: tuple[str, ...] | None  # None: not knowable (table function, VALUES)
    table: int | None  # index in Catalog.tables, for a schema table


class Pending(NamedTuple):
    qual: str | None  # the qualifier as written; None for an unqualified reference
    col: str
    lit: str | None = None  # a string literal it was compared with (literals=True)


class Frame(NamedTuple):
    clause: str | None = None  # SELECT, FROM, WHERE, GROUP, HAVING, QUALIFY, ORDER, LIMIT, WINDOW, SETOP
    sources: tuple[Source, ...] = ()
    cur: Source | None = None  # the last source, whose alias may still follow
    aliases: tuple[str, ...] = ()  # select-list aliases
    outputs: tuple[tuple[str, str | None], ...] = ()  # ("name", n), ("star", None), ("qstar", q), ("none", None)
    item: tuple[str, str | None] = ("fresh", None)  # the select item being written
    pending: tuple[Pending, ...] = ()
    ctes: tuple[tuple[str, tuple[str, ...] | None], ...] = ()
    visible: bool = False  # the enclosing frame's sources are visible (a subquery in an expression)
    #: The join being written: ``JOIN_ON`` (its source needs ``ON``/``USING`` before anything else),
    #: ``JOIN_BARE`` (after ``CROSS``/``NATURAL``/``POSITIONAL``: no condition), ``0`` none.
    join: int = 0
    setop: tuple[str, ...] | None = None  # outputs of the first branch of a UNION/INTERSECT/EXCEPT

    @property
    def listing(self) -> bool:
        """In a SELECT list whose FROM clause has not come yet."""
        return self.clause == "SELECT"


class Lit(NamedTuple):
    """A column compared with literals: its domain (``None``: any value) and, while pending, its reference."""

    domain: frozenset[str] | None
    ref: tuple[str | None, str] | None = None  # (qualifier, column) of a pending reference


class Level(NamedTuple):
    kind: str  # ROOT GROUP FUNC LIST CAST EXTRACT OVER FILTER DERIVED CTE_BODY COLDEF USING TYPEARGS BRACKET TFUNC
    frame: Frame | None = None
    data: t.Any = None


class St(NamedTuple):
    mode: int
    buf: str
    ctx: int
    arg: t.Any  # QUAL: Source or ("?", qualifier); TABLE_IN: schema; KW: (keywords, may end); CTE_*: (name, cols, rec)
    stack: tuple[Level, ...]
    matcher: Matcher | None = None
    need: str | None = None  # the next non-blank character must be one of these
    call: str | None = None  # the kind of level a "(" right here opens
    fresh: bool = False  # nothing yet inside the innermost parenthesis
    prev: str = ""  # the last keyword (lower case); "" after anything else
    lit: Lit | None = None  # the column just compared, when its literals are checked (literals=True)
    op: str = ""  # comparison characters written after that column
    stmts: int = 0  # statements ended with ";"
    open: tuple[tuple[int, str], ...] = ()  # open CASE … END and BETWEEN … AND: (stack depth, "case"/"between")
    extra: frozenset[str] = NOTHING  # keywords allowed here besides the usual ones
    blanks: int = 0  # blanks just written (at most MAX_BLANKS; none right after a qualifying ".")


def _fast_replace(cls: type) -> None:
    """Give a NamedTuple a ``_replace`` about twice as fast as the generated one (states are replaced a lot)."""
    index = {f: i for i, f in enumerate(cls._fields)}  # type: ignore[attr-defined]
    new = tuple.__new__

    def _replace(self: tuple[t.Any, ...], **changes: t.Any) -> t.Any:
        items = list(self)
        for k, v in changes.items():
            items[index[k]] = v
        return new(cls, items)

    cls._replace = _replace  # type: ignore[attr-defined]


for _cls in (Source, Frame, Level, St):
    _fast_replace(_cls)

ENDED = St(-1, "", -1, None, ())  # after an end-of-sequence token: anything goes


# ------------------------------------------------------------------------------- machine
class Machine:
    """Steps :class:`St` states one character at a time against a :class:`Catalog`."""

    def __init__(self, catalog: Catalog) -> None:
        self.cat = catalog
        self.initial = St(NORMAL, "", START, None, (Level("ROOT", Frame()),))
        #: No forward reference or pending qualifier may be a reserved word or a schema column in another case.
        self._no_forward = RESERVED | frozenset(c.lower() for c in catalog.all_columns)
        self._schemas_low = frozenset(s.lower() for s in catalog.schemas)
        self._matcher_cache: dict[t.Any, Matcher | None] = {}
        self._by_stack: dict[t.Any, tuple[tuple[Level, ...], Matcher | None]] = {}
        self._last_matcher: tuple[t.Any, bool, Matcher | None] = (None, False, None)

    def feed(self, st: St | None, text: str) -> St | None:
        for ch in text:
            if st is None:
                return None
            st = self.step(st, ch)
        return st

    def accepts(self, text: str) -> bool:
        """Whether all of ``text`` is allowed and may end there."""
        st = self.feed(self.initial, text)
        return st is not None and self.can_end(st)

    def can_end(self, st: St) -> bool:
        """Whether the text may stop here (an end-of-sequence token)."""
        if st is ENDED:
            return True
        mode = st.mode
        nxt: St | None = st
        if mode == WORD:
            nxt = self._end_word(st, st.buf, False, None)
        elif mode == DQ_END:
            nxt = self._end_word(st, st.buf, True, None)
        elif mode == SQ_END:
            nxt = self._end_string(st)
        elif mode == NUMBER:
            nxt = self._after_number(st)
        elif mode != NORMAL:
            return False
        if nxt is None or nxt.need or len(nxt.stack) != 1:
            return False
        if nxt.ctx == START:
            return nxt.stmts > 0
        return self._may_stop(nxt) and self._frame_end_ok(nxt.stack)

    @staticmethod
    def _may_stop(st: St) -> bool:
        if st.open and st.open[-1][0] == len(st.stack):  # a CASE without END, a BETWEEN without AND
            return False
        return st.ctx in (OPD, AFTER_SRC, AFTER_ALIAS) or (st.ctx == KW and st.arg[1])

    @staticmethod
    def _open_here(st: St) -> str | None:
        """``"case"`` or ``"between"`` when one is open at this parenthesis level."""
        return st.open[-1][1] if st.open and st.open[-1][0] == len(st.stack) else None

    # ------------------------------------------------------------------------ characters
    def step(self, st: St, c: str) -> St | None:  # noqa: C901 - one branch per mode
        mode = st.mode
        if mode == NORMAL:
            return self._normal(st, c)
        if mode == WORD:
            if is_word_char(c):
                m = st.matcher
                if m is None or not m.prefix_ok(st.buf + c) or (m.free and len(st.buf) >= MAX_FREE and not
                                                                m.prefix_ok_strict(st.buf + c)):
                    return None
                return st._replace(buf=st.buf + c)
            nxt = self._end_word(st, st.buf, False, c)
            return nxt if nxt is None or c == "." else self._normal(nxt, c)
        if mode == SQ:
            m = st.matcher
            if m is None:
                return st._replace(mode=SQ_END) if c == "'" else st
            if c == "'":
                ok = m.qcomplete(st.buf, True) or m.qprefix(st.buf + "''", True)
                return st._replace(mode=SQ_END) if ok else None
            return st._replace(buf=st.buf + c) if m.qprefix(st.buf + c, True) else None
        if mode == SQ_END:
            if c == "'":
                m = st.matcher
                if m is None:
                    return st._replace(mode=SQ)
                return st._replace(mode=SQ, buf=st.buf + "''") if m.qprefix(st.buf + "''", True) else None
            nxt = self._end_string(st)
            return None if nxt is None else self._normal(nxt, c)
        if mode == DQ:
            m = st.matcher
            assert m is not None
            if c == '"':
                ok = m.qcomplete(st.buf) or m.qprefix(st.buf + '""')
                return st._replace(mode=DQ_END) if ok else None
            if m.qfree and len(st.buf) >= MAX_FREE and not m.qprefix_strict(st.buf + c):
                return None
            return st._replace(buf=st.buf + c) if m.qprefix(st.buf + c) else None
        if mode == DQ_END:
            if c == '"':
                m = st.matcher
                assert m is not None
                return st._replace(mode=DQ, buf=st.buf + '""') if m.qprefix(st.buf + '""') else None
            nxt = self._end_word(st, st.buf, True, c)
            return nxt if nxt is None or c == "." else self._normal(nxt, c)
        if mode == NUMBER:
            if c in "0123456789" or (c == "." and "." not in st.buf):
                return st._replace(buf=st.buf + c)
            if c in ".'\"":
                return None
            return self._normal(self._after_number(st), c)
        if mode == DASH or mode == SLASH:
            if c == ("-" if mode == DASH else "*"):  # no comments: they would let any text through
                return None
            return self._normal(self._expr_after_op(st._replace(mode=NORMAL), op="/" if mode == SLASH else ""), c)
        if mode == COLON:
            return self._touch(st._replace(mode=NORMAL, ctx=TYPE, arg=None, prev="", lit=None)) if c == ":" else None
        return None

    def _expr_after_op(self, st: St, extra: frozenset[str] = NOTHING, lit: Lit | None = None,
                       op: str = "") -> St:
        return self._touch(st._replace(ctx=EXPR, arg=None, prev="", lit=lit, op=op, call=None, extra=extra))

    def _normal(self, st: St, c: str) -> St | None:  # noqa: C901 - one branch per character class
        if c in WS:
            if st.blanks >= MAX_BLANKS or st.ctx in (QUAL, TABLE_IN):
                return None
            return st._replace(blanks=st.blanks + 1)
        if st.blanks:
            st = st._replace(blanks=0)
        if st.need is not None:
            if c not in st.need:
                return None
            st = st._replace(need=None)
        if st.call is not None and c != "(":
            st = st._replace(call=None)
        ctx = st.ctx
        if is_word_start(c):
            m = self.word_matcher(st)
            if m is None or m.advance(m.start(), c) is None:  # (one character is never trapped: TRAP_MIN)
                return None
            return st._replace(mode=WORD, buf=c, matcher=m)
        if c == '"':
            m = self.word_matcher(st, quoted=True)
            if m is None or not (m.qfree or m.qtries):
                return None
            return st._replace(mode=DQ, buf="", matcher=m)
        fresh = st.fresh
        if fresh:
            st = st._replace(fresh=False)
        if c in "0123456789":
            if ctx != EXPR and not (ctx == TYPE and st.stack[-1].kind == "TYPEARGS"):
                return None
            return self._touch(st._replace(mode=NUMBER, buf=c))
        if c == "'":
            if ctx != EXPR:
                return None
            m = None
            if self.cat.literals and st.lit is not None and (
                    st.op in ("=", "<>", "!=", "==") or (st.op == "" and st.stack[-1].kind == "LIST")):
                m = self.cat.matcher(values=st.lit.domain if st.lit.domain is not None else ANY_VALUE)
            return self._touch(st._replace(mode=SQ, buf="", matcher=m))
        if c == "(":
            return self._open(st)
        if c == ")":
            return self._close(st, fresh)
        if c == ",":
            return self._comma(st)
        if c == ";":
            if len(st.stack) != 1 or not self._may_stop(st) or not self._frame_end_ok(st.stack):
                return None
            return self.initial._replace(stmts=st.stmts + 1)
        if c == "*":
            frame = self._frame(st.stack)
            item_start = self._at_frame_level(st.stack) and frame.listing and frame.item[0] in ("fresh", "ref")
            if (ctx == EXPR and not st.op and (fresh or item_start)) or (ctx == QUAL and item_start):
                return self._star(st)  # SELECT *, t.*, count(*)
            return self._expr_after_op(st, op="*") if ctx == OPD else None
        if c in "-/":  # binary, or unary minus
            return st._replace(mode=DASH if c == "-" else SLASH) if ctx == OPD or (c == "-" and ctx == EXPR) else None
        if c == ":":
            return st._replace(mode=COLON) if ctx == OPD else None
        if c in "=<>!|&^%+~":
            if ctx == OPD and c != "~":
                need = "=" if c == "!" else None
                return self._expr_after_op(st, _ws("all any"), st.lit, c)._replace(need=need)
            if ctx == EXPR and st.op and st.op + c in _OPS2:
                return self._expr_after_op(st, _ws("all any"), st.lit, st.op + c)
            if ctx == EXPR and c in "+~":  # unary
                return self._expr_after_op(st, op="")
            return None
        if c == "[":
            if ctx not in (OPD, EXPR, TYPE):
                return None
            st = self._touch(st)
            return st._replace(stack=st.stack + (Level("BRACKET", None, ctx == TYPE),), ctx=EXPR, fresh=True,
                               prev="", lit=None, op="")
        if c == "]":
            if st.stack[-1].kind != "BRACKET" or (ctx != OPD and not fresh):
                return None
            return st._replace(stack=st.stack[:-1], ctx=TYPE if st.stack[-1].data else OPD, arg=None, prev="")
        return None

    # ------------------------------------------------------------------------ which words
    def word_matcher(self, st: St, quoted: bool = False) -> Matcher | None:
        """The words (``quoted``: quoted identifiers) allowed to start here; ``None`` if none."""
        last = self._last_matcher
        if last[0] is st and last[1] == quoted:
            return last[2]  # type: ignore[no-any-return]
        key = (id(st.stack), st.ctx, st.arg, st.fresh, st.extra, self._prev_key(st), st.open, quoted)  # a first look
        hit = self._by_stack.get(key)
        if hit is not None and hit[0] is st.stack:
            m = hit[1]
        else:
            m = self._matcher_for(st, quoted)
            if len(self._by_stack) > 20000:
                self._by_stack.clear()
            self._by_stack[key] = (st.stack, m)  # holds the stack, so that its id is not reused
        self._last_matcher = (st, quoted, m)
        return m

    @staticmethod
    def _prev_key(st: St) -> str:
        return st.prev if st.prev in ("call", "interval") else ""

    def _matcher_for(self, st: St, quoted: bool) -> Matcher | None:
        scope = tuple((lv.kind, None if (f := lv.frame) is None else (
            f.clause, f.sources, f.cur, f.aliases, f.pending, f.ctes, f.visible, f.setop)) for lv in st.stack)
        item = (self._frame(st.stack).item, self._prev_key(st), self._open_here(st)) if st.ctx == OPD else None
        key = (st.ctx, st.arg, scope, item, st.fresh, st.extra, quoted)
        hit = self._matcher_cache.get(key, False)
        if hit is False:
            if len(self._matcher_cache) > 20000:
                self._matcher_cache.clear()
            hit = self._matcher_cache[key] = self._word_matcher(st, quoted)
        return hit  # type: ignore[return-value]

    def _word_matcher(self, st: St, quoted: bool = False) -> Matcher | None:  # noqa: C901
        ctx, cat = st.ctx, self.cat
        if ctx == EXPR:
            return self._expr_matcher(st)
        if ctx == QUAL:
            src = st.arg
            if isinstance(src, Source):
                if src.cols is None:
                    return cat.matcher(free=True, free_exclude=RESERVED)
                cols = cat.table_cols[src.table] if src.table is not None else frozenset(src.cols)
                return cat.matcher(bare_names(cols, True), cols)
            fit = self._qualifier_fit(st, src[1])
            if fit is not None:  # or, as before, a name no schema table has (an output of a derived table)
                return cat.matcher(bare_names(fit, True), fit, free=cat.forward_refs, free_exclude=self._no_forward,
                                   qfree=False)
            more = frozenset(c for _, cs in self._ctes(st.stack) if cs for c in cs) - cat.all_columns
            return cat.matcher((bare_names(cat.all_columns, True), bare_names(more, True)), (cat.all_columns, more),
                               free=cat.forward_refs, free_exclude=self._no_forward, qfree=False)
        if ctx == OPD:
            misplaced = (NOTHING if st.stack[-1].kind == "OVER" else FRAME_ONLY) | (
                NOTHING if st.prev == "call" else CALL_ONLY)  # ROWS … in OVER (…), OVER/FILTER after a call
            here = self._open_here(st)
            if here == "between":  # only its AND (and the unit of an INTERVAL)
                misplaced = OPD_KW - {"and"} - (DATE_PARTS if st.prev == "interval" else NOTHING)
            elif here == "case":
                misplaced |= IN_CASE_NOT
            else:
                misplaced |= CASE_ONLY
            if self._in_select_list(st):
                excl = self._end_exclusions(st) | JOIN_FAMILY | misplaced
                if self._forward_item(st):  # `SELECT The answer …`: an unknown name takes no alias without AS
                    return None if quoted else cat.matcher(kw=("opd",), exclude=excl)
                return cat.matcher(free=True, exclude=excl, free_exclude=RESERVED - OPD_KW)
            if quoted:
                return None
            excl = self._end_exclusions(st) | misplaced | (NOTHING if st.stack[-1].kind == "CAST" else _ws("as"))
            if st.prev != "interval":  # 1 DAY only in INTERVAL 1 DAY
                excl |= DATE_PARTS
            if not self._at_frame_level(st.stack):  # inside parentheses: no clause of the query, ORDER BY only
                inner = st.stack[-1].kind  # in OVER (…) / WITHIN GROUP (…) and a call: string_agg(x ORDER BY y)
                excl |= (CLAUSE_END - ({"order"} if inner in ("OVER", "FUNC") else NOTHING)) | JOIN_FAMILY
            elif self._frame(st.stack).clause != "FROM":
                excl |= JOIN_FAMILY
            else:
                excl |= self._join_exclusions(st)
            if not self._at_frame_level(st.stack) and st.stack[-1].kind != "FUNC" or (
                    self._at_frame_level(st.stack) and self._frame(st.stack).clause != "SELECT"):
                excl |= _FROM  # an infix FROM only in a call (substring(x FROM 1)); a query's FROM only after SELECT
            return cat.matcher(kw=("opd",), exclude=excl)
        if ctx == KW:  # (WITHIN GROUP is no GROUP BY: not held back by the FROM clause)
            excl = NOTHING if st.arg[0] is FOLLOW["within"] else self._end_exclusions(st)
            return None if quoted else cat.matcher(extra=st.arg[0], exclude=excl)
        if ctx == TABLE:
            return self._table_matcher(st)
        if ctx == TABLE_IN:
            unfit = self._no_table(st)
            names = frozenset(cat.tables[i].name for i in cat.by_schema.get(st.arg, ()) if i not in unfit)
            return cat.matcher(frozenset(n for n in names if bare_ok(n, True)), names)
        if ctx == AFTER_SRC:
            excl = self._alias_exclusions(st) | self._join_exclusions(st)
            if not self._cur_fits(self._frame(st.stack)):  # the table's own name cannot serve: an alias must follow
                excl = excl | (FROM_KW - {"as"})
            elif not self._frame_end_ok(st.stack):
                excl = excl | CLAUSE_END
            return cat.matcher(free=True, exclude=excl, free_exclude=RESERVED - FROM_KW)
        if ctx == ALIAS_DEF:
            return cat.matcher(free=True, exclude=self._alias_exclusions(st), free_exclude=RESERVED)
        if ctx == AFTER_ALIAS:
            if quoted:
                return None
            return cat.matcher(extra=FROM_KW - {"as"}, exclude=self._join_exclusions(st) | (
                NOTHING if self._frame_end_ok(st.stack) else CLAUSE_END))
        if ctx in (SEL_ALIAS, CTE_NAME, COLDEF, OVER_NEXT):
            return cat.matcher(free=True, free_exclude=RESERVED)
        if ctx == TYPE:  # a DuckDB type after AS / ::, so an alias cannot pass for one: CAST(x AS avg_x
            if st.prev == "collate" or st.stack[-1].kind == "TYPEARGS":  # a collation, STRUCT(a INT) fields
                return cat.matcher(free=True)
            return None if quoted else cat.matcher(extra=type_names())
        if ctx == USING:
            cols = self._using_columns(st)
            return cat.matcher(frozenset(c for c in cols if bare_ok(c)), cols)
        words = {START: "select with", CTE_AFTER_NAME: "as", CTE_AFTER_AS: "not materialized", CTE_DONE: "select"}
        return None if quoted or ctx not in words else cat.matcher(extra=_ws(words[ctx]))

    def _expr_matcher(self, st: St) -> Matcher:
        cat = self.cat
        frame = self._frame(st.stack)
        extra = st.extra
        if st.fresh:
            if self._deeper_ok(st):
                extra = extra | _ws("select with")
            if st.stack[-1].kind == "FUNC":
                extra = extra | _ws("distinct all")  # count(DISTINCT x)
        kind = st.stack[-1].kind
        if kind == "OVER":
            extra = extra | OVER_KW
        elif kind == "FILTER":
            extra = extra | _ws("where")
        if frame.listing:  # any column; any other word is a qualifier or (forward_refs) a derived output
            ctes = self._ctes(st.stack)
            more = frozenset(c for _, cs in ctes if cs for c in cs)
            for f in self._visible(st.stack)[1:]:
                more |= frozenset(c for s in self._sources(f) if s.cols for c in s.cols) | frozenset(f.aliases)
            more -= cat.all_columns
            aliases = frozenset(frame.aliases)
            bare = (bare_names(cat.all_columns), bare_names(more), frozenset(a for a in aliases if alias_bare_ok(a)))
            quoted = (cat.all_columns | cat.table_names, more | aliases | frozenset(c for c, _ in ctes))
            return cat.matcher(bare, quoted, ("expr",), extra, True, NOTHING, self._no_forward, qfree=False)
        if frame.setop is not None and frame.clause == "ORDER":
            names = frozenset(n for n in frame.setop if n)
            return cat.matcher(frozenset(n for n in names if alias_bare_ok(n)), names, ("expr",), extra)
        bare_parts: list[frozenset[str]] = []
        quoted_parts: list[frozenset[str]] = []
        bare: set[str] = set()  # names of sources and select aliases
        quoted: set[str] = set()
        free = False
        for f in self._visible(st.stack):
            for s in self._sources(f):
                if s.cols is None:
                    free = True
                else:
                    cols = cat.table_cols[s.table] if s.table is not None else frozenset(s.cols)
                    bare_parts.append(bare_names(cols))
                    quoted_parts.append(cols)
                if s.name:
                    quoted.add(s.name)
                    if alias_bare_ok(s.name) or (s.table is not None and bare_ok(s.name)):
                        bare.add(s.name)
            bare.update(a for a in f.aliases if alias_bare_ok(a))
            quoted.update(f.aliases)
        return cat.matcher((*bare_parts, frozenset(bare)), (*quoted_parts, frozenset(quoted)), ("expr",), extra, free,
                           NOTHING, RESERVED)

    def _forward_item(self, st: St) -> bool:
        """The select item so far is one name that no table or CTE has (a derived table's output, defined later)."""
        kind, name = self._frame(st.stack).item
        if kind != "col" or name is None or name in self.cat.all_columns:
            return False
        return not any(cs is None or name in cs for _, cs in self._ctes(st.stack)) and not self._outer_has(st, name)

    def _unfit_tables(self, st: St) -> frozenset[int]:
        """Tables that would bind a pending unqualified column compared with a literal not in their domain."""
        frame = self._frame(st.stack)
        out: set[int] = set()
        for p in frame.pending:
            if p.qual is None and p.lit is not None and not any(
                    s.cols is not None and p.col in s.cols for s in self._sources(frame)):
                out.update(i for i, tb in enumerate(self.cat.tables) if p.lit not in tb.domains.get(p.col, (p.lit,)))
        return frozenset(out)

    def _used_up(self, st: St) -> frozenset[int]:
        """Schema tables this FROM clause already names ``limits.table_uses`` times."""
        cap = self.cat.limits.table_uses
        if cap is None:
            return NOTHING
        frame = self._frame(st.stack)
        used = [s.table for s in frame.sources if s.table is not None]
        if frame.cur is not None and frame.cur.table is not None:
            used.append(frame.cur.table)
        return frozenset(i for i in set(used) if used.count(i) >= cap)

    def _no_table(self, st: St) -> frozenset[int]:
        """Schema tables that may not come next: used up, or unfit for a pending literal."""
        return self._used_up(st) | (self._unfit_tables(st) if self.cat.literals else NOTHING)

    def _table_matcher(self, st: St) -> Matcher:
        cat = self.cat
        unfit = self._no_table(st)
        names = {cat.tables[i].name for i in cat.bare_tables if i not in unfit} | {
            s for s in cat.schemas if any(i not in unfit for i in cat.by_schema.get(s, ()))}
        bare = {n for n in names if bare_ok(n)}
        for name, _ in self._ctes(st.stack):
            names.add(name)
            if alias_bare_ok(name):
                bare.add(name)
        if st.arg == "lateral":
            return cat.matcher(extra=TABLE_FUNCS)
        return cat.matcher(frozenset(bare), frozenset(names), extra=TABLE_FUNCS | _ws("lateral"))

    # ------------------------------------------------------------------------ words
    def _end_word(self, st: St, word: str, quoted: bool, nextc: str | None) -> St | None:  # noqa: C901
        """``word`` is complete and ``nextc`` follows (``None``: the end): check it, move on."""
        m = st.matcher
        if m is None or not (m.qcomplete(word) if quoted else m.complete(word)):
            return None
        name = word.replace('""', '"') if quoted else word
        low = name.lower()
        st = st._replace(mode=NORMAL, buf="")
        if nextc == ".":
            out = self._qualifier(st, name, quoted)
        else:
            out = self._word(st, name, low, quoted, nextc)
        return None if out is None else out._replace(fresh=False, matcher=None)

    def _word(self, st: St, name: str, low: str, quoted: bool, nextc: str | None) -> St | None:  # noqa: C901
        ctx = st.ctx
        if ctx == EXPR:
            return self._expr_word(st, name, low, quoted, nextc)
        if ctx == QUAL:
            return self._column_ref(st, st.arg, name)
        if ctx == TABLE:
            if not quoted and not self._is_table_name(st, name):
                if low in TABLE_FUNCS:
                    return st._replace(need="(", call="TFUNC")
                if low == "lateral" and st.arg != "lateral":  # then a subquery or a table function
                    return st._replace(prev="lateral", arg="lateral")
            return self._table_ref(st, None, name)
        if ctx == TABLE_IN:
            return self._table_ref(st, st.arg, name)
        if ctx == AFTER_SRC:
            return self._keyword(st, low) if not quoted and low in FROM_KW else self._alias(st, name)
        if ctx == ALIAS_DEF:
            return self._alias(st, name)
        if ctx == OPD:
            if not quoted and low in OPD_KW:
                return self._keyword(st, low)
            return self._select_alias(st, name) if self._in_select_list(st) else None
        if ctx == SEL_ALIAS:
            return self._select_alias(st, name)
        if ctx == CTE_NAME:
            if low == "recursive" and not quoted and st.arg is None:
                return st._replace(arg="recursive")
            return st._replace(ctx=CTE_AFTER_NAME, arg=(name, None, st.arg == "recursive"))
        if ctx == COLDEF:
            lv = st.stack[-1]
            owner, names = lv.data
            lv = lv._replace(data=(owner, names + (name,)))
            return st._replace(stack=st.stack[:-1] + (lv,), ctx=KW, arg=(NOTHING, True))  # then "," or ")"
        if ctx == USING:
            return st._replace(ctx=KW, arg=(NOTHING, True))
        if ctx == TYPE:  # a type or collation name: then "(" for its arguments, or on as after an operand
            return self._operand(st, None)._replace(call="TYPEARGS")
        if ctx == OVER_NEXT:
            if self._at_frame_level(st.stack) and self._frame(st.stack).clause == "WINDOW":
                return st._replace(ctx=KW, arg=(_ws("as"), False), prev="wname")  # WINDOW w AS (…)
            return st._replace(ctx=OPD, arg=None, prev="")
        return self._keyword(st, low)  # KW, AFTER_ALIAS, START, CTE_AFTER_NAME, CTE_AFTER_AS, CTE_DONE

    def _expr_word(self, st: St, name: str, low: str, quoted: bool, nextc: str | None) -> St | None:
        m = st.matcher
        assert m is not None
        frame = self._frame(st.stack)
        if name in (m.quoted if quoted else m.bare):
            if not quoted and nextc == "(" and low in sql_functions():
                return self._touch(st._replace(need="(", call="FUNC", prev=low))
            if not frame.listing and self._source_only(st, name):
                return None  # a table or alias is no value (DuckDB's whole-row reference): only `alias.` qualifies
            return self._column_ref(st, None, name)
        if not quoted and low in m.kwset:
            return self._expr_keyword(st, low)
        if not m.free:
            return None
        if frame.listing:  # a forward reference to a derived table's output
            return self._column_ref(st, None, name) if self.cat.forward_refs else None
        return self._operand(st, None)  # a source whose columns cannot be known

    # ------------------------------------------------------------------------ references
    def _qualifier(self, st: St, name: str, quoted: bool) -> St | None:
        if st.ctx == TABLE:
            ok = name in self.cat.schemas and (quoted or bare_ok(name))
            return st._replace(ctx=TABLE_IN, arg=name) if ok else None
        if st.ctx != EXPR or (not quoted and name.lower() in RESERVED):
            return None
        frames = self._visible(st.stack)
        for f in frames:
            src = self._find(f, name)
            if src is not None:
                return self._touch_ref(st)._replace(ctx=QUAL, arg=src)
        if frames[0].listing and name.lower() not in self._schemas_low:  # `mdm.SKU_NBR`: a schema is no alias
            return self._touch_ref(st)._replace(ctx=QUAL, arg=("?", name))
        return None

    def _qualifier_fit(self, st: St, qual: str) -> frozenset[str] | None:
        """For a qualifier the SELECT list uses before FROM defines it, once it was used with schema columns:
        the columns of the tables and CTEs that have all of those (one of them must take the alias, unless
        a derived table does), so a list never asks for a schema table no table can be. ``None``: no
        restriction (first use, or a name no table has, which only a derived table can define)."""
        low = qual.lower()
        used = frozenset(p.col for p in self._frame(st.stack).pending if p.qual is not None and p.qual.lower() == low)
        ctes = [cs for _, cs in self._ctes(st.stack)]
        if not used or not used <= self.cat.all_columns or any(cs is None for cs in ctes):
            return None
        fit = [cols for cols in self.cat.table_cols if used <= cols]
        fit += [frozenset(cs) for cs in ctes if cs is not None and used <= frozenset(cs)]
        return frozenset().union(*fit) if fit else None

    def _source_only(self, st: St, name: str) -> bool:
        """``name`` names a source in scope but no column or select alias there."""
        low = name.lower()
        frames = self._visible(st.stack)
        if not any(s.name.lower() == low for f in frames for s in self._sources(f)):
            return False
        return not any(s.cols is None or name in s.cols for f in frames for s in self._sources(f)) and not any(
            a.lower() == low for f in frames for a in f.aliases)

    def _sources(self, f: Frame) -> tuple[Source, ...]:
        return f.sources + ((f.cur,) if f.cur is not None else ())

    def _find(self, frame: Frame, name: str) -> Source | None:
        """The source ``name`` qualifies: an alias or CTE in any case, a table named without an alias
        only as the schema spells it (``Experiment.RUN_DT`` does not reach ``FROM research.experiment``)."""
        low = name.lower()
        for s in self._sources(frame):
            if s.name and s.name.lower() == low:
                if s.name != name and s.table is not None and s.name == self.cat.tables[s.table].name:
                    continue
                return s
        return None

    def _column_ref(self, st: St, src: t.Any, col: str) -> St:
        """A column reference is complete: record it (as pending in a SELECT list before FROM)."""
        cat = self.cat
        frame = self._frame(st.stack)
        lit: Lit | None = None
        if isinstance(src, Source):
            dom = cat.tables[src.table].domains.get(col) if src.table is not None else None
            lit = Lit(dom) if dom is not None and cat.literals else None
        elif frame.listing and not (src is None and (col in frame.aliases or self._outer_has(st, col))):
            ref = (src[1] if src else None, col)
            frame = frame._replace(pending=frame.pending + (Pending(*ref),))
            st = self._set_frame(st, frame)
            if cat.literals:  # the table is not known yet: any value of any table with this column, checked later
                doms = [tb.domains.get(col) for tb in cat.tables if col in tb.columns]
                cte = any(cs is None or col in cs for _, cs in self._ctes(st.stack))
                dom = None if cte or not doms or None in doms else frozenset().union(*doms)  # type: ignore[arg-type]
                lit = Lit(dom, ref)
        elif cat.literals:
            dom = self._bound_domain(self._visible(st.stack), col)
            lit = Lit(dom) if dom is not None else None
        return self._operand(st, lit, ref=col)

    def _bound_domain(self, frames: list[Frame], col: str) -> frozenset[str] | None:
        """The domain of the schema column an unqualified ``col`` binds to (the first source that has it)."""
        for f in frames:
            for s in self._sources(f):
                if s.cols is not None and col in s.cols:
                    return self.cat.tables[s.table].domains.get(col) if s.table is not None else None
        return None

    def _outer_has(self, st: St, col: str) -> bool:
        return any(col in s.cols for f in self._visible(st.stack)[1:] for s in self._sources(f) if s.cols)

    def _operand(self, st: St, lit: Lit | None, ref: str | None = None) -> St:
        frame = self._frame(st.stack)
        if frame.clause == "SELECT" and self._at_frame_level(st.stack):
            kind = frame.item[0]
            plain = ref is not None and kind in ("fresh", "ref")
            item: tuple[str, str | None] = ("col", ref) if plain else ("expr", None)
            st = self._set_frame(st, frame._replace(item=item))
        return st._replace(ctx=OPD, arg=None, prev="", lit=lit, op="", call=None, extra=NOTHING)

    def _touch_ref(self, st: St) -> St:
        """A qualifier was written: the select item is (so far) a column reference."""
        frame = self._frame(st.stack)
        if frame.clause == "SELECT" and self._at_frame_level(st.stack) and frame.item[0] == "fresh":
            return self._set_frame(st, frame._replace(item=("ref", None)))
        return self._touch(st)

    def _touch(self, st: St) -> St:
        """Anything but a plain column reference: the select item becomes an expression."""
        frame = self._frame(st.stack)
        if frame.clause == "SELECT" and frame.item[0] != "expr":
            return self._set_frame(st, frame._replace(item=("expr", None)))
        return st

    def _star(self, st: St) -> St:
        frame = self._frame(st.stack)
        if st.ctx == QUAL and not isinstance(st.arg, Source):  # q.* with q not defined yet
            frame = frame._replace(pending=frame.pending + (Pending(st.arg[1], "*"),))
            st = self._set_frame(st, frame)
        if frame.clause == "SELECT" and self._at_frame_level(st.stack):
            if st.ctx == QUAL:
                qual = st.arg.name if isinstance(st.arg, Source) else st.arg[1]
                item: tuple[str, str | None] = ("qstar", qual) if frame.item[0] == "ref" else ("expr", None)
            else:
                item = ("star", None) if frame.item[0] == "fresh" else ("expr", None)
            st = self._set_frame(st, frame._replace(item=item))
        return st._replace(ctx=OPD, arg=None, prev="", lit=None, op="", call=None)

    def _table_ref(self, st: St, schema: str | None, name: str) -> St | None:
        cat = self.cat
        if schema is None:
            for cname, cols in self._ctes(st.stack):
                if cname == name:
                    return self._add_source(st, Source(name, cols, None))
            idx = [i for i in cat.bare_tables if cat.tables[i].name == name]
        else:
            idx = [i for i in cat.by_schema.get(schema, ()) if cat.tables[i].name == name]
        if not idx:
            return None
        tb = cat.tables[idx[0]]
        return self._add_source(st, Source(tb.name, tb.columns, idx[0]))

    def _add_source(self, st: St, src: Source) -> St:
        frame = self._frame(st.stack)
        return self._set_frame(st, frame._replace(cur=src))._replace(ctx=AFTER_SRC, arg=None, prev="")

    def _alias(self, st: St, name: str) -> St | None:
        frame = self._frame(st.stack)
        if frame.cur is None:
            return None
        frame = frame._replace(cur=frame.cur._replace(name=name))
        if not self._cur_fits(frame):
            return None
        return self._set_frame(st, frame)._replace(ctx=AFTER_ALIAS, arg=None, prev="")

    def _cur_fits(self, frame: Frame) -> bool:
        """A source named like a pending qualifier has every column used with it."""
        src = frame.cur
        if src is None or not src.name or src.cols is None:
            return True
        low = src.name.lower()
        return all(self._fits(src, p) for p in frame.pending if p.qual is not None and p.qual.lower() == low)

    def _fits(self, src: Source, p: Pending) -> bool:
        """``src`` has ``p``'s column (and, for a schema table, ``p``'s literal in its domain)."""
        if src.cols is None or p.col == "*":
            return True
        if p.col not in src.cols:
            return False
        if p.lit is None or src.table is None:
            return True
        dom = self.cat.tables[src.table].domains.get(p.col)
        return dom is None or p.lit in dom

    def _alias_exclusions(self, st: St) -> frozenset[str]:
        """Names the current source may not take: one already given to another source of this FROM clause
        (``… AS s JOIN … AS s``: DuckDB takes it, but every ``s.`` is then ambiguous), or a pending qualifier
        it lacks columns for."""
        frame = self._frame(st.stack)
        cur = frame.cur
        taken = frozenset(src.name.lower() for src in frame.sources if src.name)
        if cur is None or cur.cols is None:
            return taken
        return taken | frozenset(p.qual.lower() for p in frame.pending if p.qual is not None and not self._fits(cur, p))

    def _join_exclusions(self, st: St) -> frozenset[str]:
        """FROM-clause keywords a join's state refuses: all but ``ON``/``USING`` while a join owes its condition,
        those two otherwise (DuckDB parses ``a JOIN b JOIN c ON … ON …``, but no one means it, and a model that
        chains joins without conditions never gets its query to end)."""
        if not self._at_frame_level(st.stack) or self._frame(st.stack).clause != "FROM":
            return NOTHING
        return _JOIN_GO_ON if self._frame(st.stack).join == JOIN_ON else _ON_USING

    def _end_exclusions(self, st: St) -> frozenset[str]:
        if self._at_frame_level(st.stack) and not self._frame_end_ok(st.stack):
            return CLAUSE_END
        return NOTHING

    def _finish_source(self, frame: Frame) -> Frame:
        return frame if frame.cur is None else frame._replace(sources=frame.sources + (frame.cur,), cur=None)

    def _select_alias(self, st: St, name: str) -> St:
        frame = self._frame(st.stack)
        frame = frame._replace(aliases=frame.aliases + (name,), item=("alias", name))
        return self._set_frame(st, frame)._replace(ctx=KW, arg=(SEL_AFTER, True), prev="", lit=None, op="")

    # ------------------------------------------------------------------------ keywords
    def _expr_keyword(self, st: St, k: str) -> St | None:
        """A keyword or function where an operand was expected."""
        prev = st.prev
        st = st._replace(lit=None, op="", extra=NOTHING)
        if k in ("select", "with"):
            return self._keyword(st, k)
        st = self._touch(st)
        if k in NEED_KW:
            return st._replace(need=NEED_KW[k], call=_CALL.get(k, "FUNC"), prev=k)
        if k in _OPERAND_KW and k in expr_keywords():  # NULL, TRUE, CURRENT_DATE … (not first(…), last(…))
            return self._operand(st, None)
        if k == "not":
            return st._replace(prev=k, extra=IS_KW if prev == "is" else _ws("exists"))
        if k == "distinct":
            return st._replace(prev=k, extra=_ws("from") if prev in ("is", "not") else NOTHING)
        if k == "all":
            if prev == "by":
                return self._operand(st, None)
            return st._replace(prev=k) if prev == "select" else st._replace(need="(", call="GROUP", prev=k)
        if k in ("any", "some"):
            return st._replace(need="(", call="GROUP", prev=k)
        if k in ("partition", "order", "unbounded", "current"):
            return st._replace(ctx=KW, arg=(FOLLOW[k] if k != "order" else _ws("by"), False), prev=k)
        if k in ("rows", "range", "groups", "between"):
            return st._replace(prev=k, extra=_ws("between unbounded current") if k != "between" or
                               st.stack[-1].kind == "OVER" else NOTHING)
        if k in sql_functions() and k not in expr_keywords():
            return st._replace(need="(", call="FUNC", prev=k)
        if k == "case":
            return st._replace(prev=k, extra=_ws("when"), open=st.open + ((len(st.stack), "case"),))
        return st._replace(prev=k)  # when (after CASE), where (FILTER), from (IS DISTINCT FROM) …

    def _keyword(self, st: St, k: str) -> St | None:  # noqa: C901 - one table of transitions
        """A keyword after an operand, a source or another keyword."""
        ctx, prev = st.ctx, st.prev
        st = st._replace(lit=st.lit if k in ("in", "not") else None, op="", extra=NOTHING, call=None)
        frame = self._frame(st.stack)
        at_frame = self._at_frame_level(st.stack)
        if k == "select":
            return self._select(st)
        if k == "with":
            if ctx == START or (st.fresh and (self._at_frame_level(st.stack) or self._deeper_ok(st))):
                return self._ensure_frame(st)._replace(ctx=CTE_NAME, arg=None, prev=k)
            return None
        if k == "as":
            if prev == "wname":
                return st._replace(ctx=OVER_NEXT, call="OVER", prev=k)
            if ctx == AFTER_SRC:
                return st._replace(ctx=ALIAS_DEF, prev=k)
            if ctx == CTE_AFTER_NAME:
                return st._replace(ctx=CTE_AFTER_AS, prev=k)
            if st.stack[-1].kind == "CAST":  # once: CAST(x AS type); the level remembers it for its ")"
                if st.stack[-1].data:
                    return None
                return st._replace(ctx=TYPE, arg=None, prev=k, stack=st.stack[:-1] + (st.stack[-1]._replace(data=True),))
            return st._replace(ctx=SEL_ALIAS, prev=k) if self._in_select_list(st) else None
        if ctx == CTE_AFTER_AS:
            return st._replace(prev=k)  # NOT MATERIALIZED
        if at_frame and k == "from" and frame.clause == "SELECT":
            frame = self._close_item(frame)._replace(clause="FROM")
            return self._set_frame(st, frame)._replace(ctx=TABLE, arg=None, prev=k)
        if at_frame and k in CLAUSE_END and not (k == "group" and prev == "within"):
            return self._clause(st, frame, k)
        if at_frame and frame.clause == "FROM" and (k in JOIN_MODS or k in ("join", "on", "using")):
            if not self._cur_fits(frame):
                return None
            if (frame.join == JOIN_ON) != (k in ("on", "using")):  # a join's condition comes right after its source
                return None
            join = JOIN_BARE if k in JOIN_BARE_MODS else frame.join
            if k == "join":
                join = 0 if frame.join == JOIN_BARE else JOIN_ON
            elif k in ("on", "using"):
                join = 0
            st = self._set_frame(st, self._finish_source(frame)._replace(join=join))
            if k == "join":
                return st._replace(ctx=TABLE, arg=None, prev=k)
            if k == "on":
                return st._replace(ctx=EXPR, arg=None, prev=k)
            if k == "using":
                return st._replace(need="(", call="USING", prev=k)
            return st._replace(ctx=KW, arg=(FOLLOW[k], False), prev=k)
        st = self._touch(st)
        here = self._open_here(st)
        if k in CASE_ONLY and here != "case":
            return None
        if k == "end":
            return self._operand(st._replace(open=st.open[:-1]), None)
        if k == "and" and here == "between":
            return st._replace(ctx=EXPR, arg=None, prev=k, open=st.open[:-1])
        if k == "between" and st.stack[-1].kind != "OVER":
            return st._replace(ctx=EXPR, arg=None, prev=k, open=st.open + ((len(st.stack), "between"),))
        if k == "group" and prev == "within":
            return st._replace(need="(", call="OVER", prev=k)
        if k == "time" and prev != "at":
            return None
        if k == "not" and ctx != OPD:
            return st._replace(ctx=EXPR, prev=k)
        if k in FOLLOW:
            return st._replace(ctx=KW, arg=(FOLLOW[k], False), prev=k)
        if k == "by":
            return st._replace(ctx=EXPR, arg=None, prev=k, extra=_ws("all"))
        if k in ("all", "distinct") and prev in ("union", "intersect", "except"):  # UNION ALL
            return st._replace(ctx=KW, arg=(_ws("select by"), False), prev=k)
        if k in DATE_PARTS:
            if st.stack[-1].kind == "EXTRACT" and ctx == KW:
                return st._replace(ctx=KW, arg=(_ws("from"), False), prev=k)
            return self._operand(st, None)
        if k in _OPERAND_KW:
            return self._operand(st, None)
        if k == "is":
            return st._replace(ctx=EXPR, prev=k, extra=IS_KW)
        if k == "in":
            return st._replace(ctx=EXPR, prev=k, need="(", call="LIST")
        if k == "over":
            return st._replace(ctx=OVER_NEXT, prev=k, call="OVER")
        if k == "filter":
            return st._replace(need="(", call="FILTER", prev=k)
        if k in ("exclude", "replace", "rename"):
            return st._replace(ctx=EXPR, need="(", call="GROUP", prev=k)
        if k == "collate":
            return st._replace(ctx=TYPE, arg=None, prev=k)
        if k in ("rows", "range", "groups"):
            return st._replace(ctx=EXPR, prev=k, extra=_ws("between unbounded current"))
        if k == "between" and st.stack[-1].kind == "OVER":
            return st._replace(ctx=EXPR, prev=k, extra=_ws("unbounded current"))
        if ctx in (KW, OPD):
            return st._replace(ctx=EXPR, arg=None, prev=k)  # and or then when else like zone from to escape …
        return None

    def _clause(self, st: St, frame: Frame, k: str) -> St | None:
        """``WHERE``, ``GROUP``, ``UNION`` … at a query's own level: its FROM clause ends."""
        if frame.clause in (None, "SETOP") or not self._frame_end_ok(st.stack):
            return None
        frame = self._finish_source(self._close_item(frame))
        if k in ("union", "intersect", "except"):
            if CLAUSE_RANK.get(frame.clause, 0) >= CLAUSE_RANK["ORDER"]:  # ORDER BY / LIMIT end the whole set operation
                return None
            outs = frame.setop if frame.setop is not None else self._outputs(frame)
            frame = Frame(clause="SETOP", ctes=frame.ctes, visible=frame.visible, setop=outs or ())
            return self._set_frame(st, frame)._replace(ctx=KW, arg=(FOLLOW[k], False), prev=k)
        clause = k.upper()
        if {clause, frame.clause} == {"LIMIT", "OFFSET"}:  # LIMIT n OFFSET m, or the other way round
            clause = "END"
        elif CLAUSE_RANK[clause] <= CLAUSE_RANK.get(frame.clause, 0):  # each clause once, in DuckDB's order
            return None
        st = self._set_frame(st, frame._replace(clause=clause))
        if k in ("group", "order"):
            return st._replace(ctx=KW, arg=(FOLLOW[k], False), prev=k)
        if k == "window":
            return st._replace(ctx=OVER_NEXT, prev=k)
        return st._replace(ctx=EXPR, arg=None, prev=k)

    def _select(self, st: St) -> St | None:
        ctx = st.ctx
        frame = self._frame(st.stack)
        if ctx in (START, CTE_DONE) or (ctx == KW and frame.clause == "SETOP" and self._at_frame_level(st.stack)):
            pass
        elif st.fresh and (self._at_frame_level(st.stack) or self._deeper_ok(st)):
            st = self._ensure_frame(st)
        else:
            return None
        frame = self._frame(st.stack)._replace(clause="SELECT", item=("fresh", None))
        return self._set_frame(st, frame)._replace(ctx=EXPR, arg=None, prev="select", extra=_ws("distinct all"))

    def _ensure_frame(self, st: St) -> St:
        lv = st.stack[-1]
        if lv.frame is not None:
            return st
        frame = Frame(visible=lv.kind not in ("DERIVED", "CTE_BODY"))
        return st._replace(stack=st.stack[:-1] + (lv._replace(frame=frame),))

    # ------------------------------------------------------------------------ punctuation
    def _open(self, st: St) -> St | None:
        ctx, call = st.ctx, st.call
        st = st._replace(call=None)
        newctx, data, arg = EXPR, None, None
        if call is not None:
            kind = call
            if call == "USING":
                newctx = USING
            elif call == "EXTRACT":
                newctx, arg = KW, (DATE_PARTS, False)
            elif call == "TYPEARGS":
                newctx = TYPE
        elif ctx == TABLE:
            if not self._deeper_ok(st):
                return None
            kind, newctx, arg = "DERIVED", KW, (_ws("select with"), False)
        elif ctx == EXPR:
            kind = "GROUP"
        elif ctx == OVER_NEXT:
            kind = "OVER"
        elif ctx in (CTE_AFTER_NAME, AFTER_SRC, AFTER_ALIAS):
            kind, newctx, data = "COLDEF", COLDEF, (st.arg if ctx == CTE_AFTER_NAME else None, ())
        elif ctx == CTE_AFTER_AS:
            name, cols, recursive = st.arg
            kind, data, newctx, arg = "CTE_BODY", (name, cols), KW, (_ws("select with"), False)
            if recursive:
                frame = self._frame(st.stack)
                st = self._set_frame(st, frame._replace(ctes=frame.ctes + ((name, None),)))
        else:
            return None
        if kind not in ("DERIVED", "CTE_BODY", "COLDEF"):
            st = self._touch(st)
        return st._replace(stack=st.stack + (Level(kind, None, data),), ctx=newctx, arg=arg, fresh=True, prev="",
                           lit=st.lit if kind == "LIST" else None, op="", extra=NOTHING)

    def _close(self, st: St, fresh: bool) -> St | None:  # noqa: C901
        if len(st.stack) == 1:
            return None
        lv = st.stack[-1]
        ctx = st.ctx
        if not fresh and not self._may_stop(st) and ctx != TYPE:
            return None
        if (fresh and lv.kind not in ("FUNC", "OVER", "TFUNC")) or (
                lv.kind in ("DERIVED", "CTE_BODY") and lv.frame is None):
            return None  # () is only a call without arguments; a derived table or CTE body is a query
        if lv.kind == "CAST" and not lv.data:
            return None  # CAST(x) without AS type
        rest = st._replace(stack=st.stack[:-1], fresh=False, lit=None, op="")
        if lv.frame is not None:
            if not self._frame_end_ok(st.stack):
                return None
            frame = self._finish_source(self._close_item(lv.frame))
            outs = frame.setop if frame.setop is not None else self._outputs(frame)
            if lv.kind == "DERIVED":
                return self._add_source(rest, Source("", outs, None))
            if lv.kind == "CTE_BODY":
                name, cols = lv.data
                if cols and outs is not None:
                    outs = tuple(cols) + outs[len(cols):]
                outer = self._frame(rest.stack)
                ctes = tuple(c for c in outer.ctes if c[0] != name) + ((name, tuple(cols) if cols else outs),)
                return self._set_frame(rest, outer._replace(ctes=ctes))._replace(ctx=CTE_DONE, arg=None, prev="")
            return self._operand(rest, None)
        if lv.kind == "COLDEF":
            owner, names = lv.data
            if owner is not None:  # WITH name(a, b) AS …
                return rest._replace(ctx=CTE_AFTER_NAME, arg=(owner[0], names, owner[2]), prev="")
            frame = self._frame(rest.stack)
            if frame.cur is not None and names:
                cols = frame.cur.cols
                cols = tuple(names) + (tuple(cols[len(names):]) if cols else ())
                frame = frame._replace(cur=frame.cur._replace(cols=cols, table=None))
                rest = self._set_frame(rest, frame)
            return rest._replace(ctx=AFTER_ALIAS, arg=None, prev="")
        if lv.kind in ("DERIVED", "TFUNC"):
            return self._add_source(rest, Source("", None, None))
        if lv.kind == "USING":
            return rest._replace(ctx=AFTER_ALIAS, arg=None, prev="")
        out = self._operand(rest, None)
        return out._replace(prev="call") if lv.kind in ("FUNC", "FILTER") else out

    def _comma(self, st: St) -> St | None:
        ctx, lv = st.ctx, st.stack[-1]
        if lv.kind == "COLDEF":
            return st._replace(ctx=COLDEF, arg=None) if ctx == KW else None
        if lv.kind == "USING":
            return st._replace(ctx=USING, arg=None) if ctx == KW else None
        if lv.kind == "TYPEARGS":
            return st._replace(ctx=TYPE, arg=None) if ctx == TYPE else None
        if ctx == CTE_DONE:
            return st._replace(ctx=CTE_NAME, arg=None)
        if not self._may_stop(st):
            return None
        frame = self._frame(st.stack)
        if self._at_frame_level(st.stack):
            if frame.clause == "SELECT":
                return self._set_frame(st, self._close_item(frame))._replace(ctx=EXPR, arg=None, prev="", lit=None,
                                                                              op="", extra=NOTHING)
            if frame.clause == "WINDOW":
                return st._replace(ctx=OVER_NEXT, arg=None, prev="")
            if frame.clause == "FROM":
                if not self._cur_fits(frame) or frame.join == JOIN_ON:
                    return None
                return self._set_frame(st, self._finish_source(frame))._replace(ctx=TABLE, arg=None, prev="")
            if frame.clause not in ("GROUP", "ORDER"):  # WHERE a = 1, b … is no list
                return None
        keep = st.lit if lv.kind == "LIST" else None
        return st._replace(ctx=EXPR, arg=None, prev="", lit=keep, op="", extra=NOTHING)

    def _end_string(self, st: St) -> St | None:
        m = st.matcher
        if m is not None and not m.qcomplete(st.buf, True):
            return None
        if m is not None and st.lit is not None and st.lit.ref is not None:  # checked once the sources are known
            frame = self._frame(st.stack)
            pend = Pending(st.lit.ref[0], st.lit.ref[1], st.buf.replace("''", "'"))
            st = self._set_frame(st, frame._replace(pending=frame.pending + (pend,)))
        keep = st.lit if st.stack[-1].kind == "LIST" else None
        prev = "interval" if st.prev == "interval" else ""  # INTERVAL '1' DAY
        return st._replace(mode=NORMAL, buf="", matcher=None, ctx=OPD, arg=None, prev=prev, lit=keep, op="")

    def _after_number(self, st: St) -> St:
        prev = "interval" if st.prev == "interval" else ""  # INTERVAL 1 DAY
        return st._replace(mode=NORMAL, buf="", ctx=OPD if st.ctx == EXPR else st.ctx, prev=prev, lit=None, op="")

    # ------------------------------------------------------------------------ frames
    @staticmethod
    def _frame_index(stack: tuple[Level, ...]) -> int:
        for i in range(len(stack) - 1, -1, -1):
            if stack[i].frame is not None:
                return i
        return 0

    def _frame(self, stack: tuple[Level, ...]) -> Frame:
        return stack[self._frame_index(stack)].frame  # type: ignore[return-value]

    @staticmethod
    def _at_frame_level(stack: tuple[Level, ...]) -> bool:
        return stack[-1].frame is not None

    def _set_frame(self, st: St, frame: Frame) -> St:
        i = self._frame_index(st.stack)
        return st._replace(stack=st.stack[:i] + (st.stack[i]._replace(frame=frame),) + st.stack[i + 1:])

    def _deeper_ok(self, st: St) -> bool:
        """A query may open inside the current one (``limits.query_depth``)."""
        cap = self.cat.limits.query_depth
        return cap is None or len(self._frames(st.stack)) < cap

    @staticmethod
    def _frames(stack: tuple[Level, ...]) -> list[Frame]:
        return [lv.frame for lv in reversed(stack) if lv.frame is not None]

    def _visible(self, stack: tuple[Level, ...]) -> list[Frame]:
        out = []
        for f in self._frames(stack):
            out.append(f)
            if not f.visible:
                break
        return out

    def _ctes(self, stack: tuple[Level, ...]) -> list[tuple[str, tuple[str, ...] | None]]:
        return [c for f in self._frames(stack) for c in f.ctes]

    def _in_select_list(self, st: St) -> bool:
        return self._at_frame_level(st.stack) and self._frame(st.stack).clause == "SELECT"

    def _is_table_name(self, st: St, name: str) -> bool:
        return any(self.cat.tables[i].name == name for i in self.cat.bare_tables) or any(
            c == name for c, _ in self._ctes(st.stack))

    @staticmethod
    def _close_item(frame: Frame) -> Frame:
        if frame.clause != "SELECT" or frame.item[0] == "fresh":
            return frame
        kind, val = frame.item
        out: tuple[str, str | None] = ("name", val) if kind in ("col", "alias") else (
            (kind, val) if kind in ("star", "qstar") else ("none", None))
        return frame._replace(outputs=frame.outputs + (out,), item=("fresh", None))

    def _outputs(self, frame: Frame) -> tuple[str, ...] | None:
        names: list[str] = []
        for kind, val in self._close_item(frame).outputs:
            if kind in ("name", "none"):
                names.append(val or "")
                continue
            for s in frame.sources:
                if kind == "qstar" and s.name.lower() != (val or "").lower():
                    continue
                if s.cols is None:
                    return None
                names.extend(s.cols)
        return tuple(names)

    def _frame_end_ok(self, stack: tuple[Level, ...]) -> bool:
        """Every pending reference of the innermost query resolves against its sources, and no join owes
        its condition."""
        i = self._frame_index(stack)
        frame = stack[i].frame
        assert frame is not None
        if frame.join == JOIN_ON:  # a join still owes its ON/USING
            return False
        if not frame.pending:
            return True
        if not self._cur_fits(frame):
            return False
        frames = self._visible(stack[: i + 1])
        for p in frame.pending:
            if p.qual is not None:
                src = next((s for s in (self._find(f, p.qual) for f in frames) if s is not None), None)
                if src is None or not self._fits(src, p):
                    return False
            elif p.lit is not None:
                dom = self._bound_domain(frames, p.col)
                if dom is not None and p.lit not in dom:
                    return False
            elif not any(s.cols is None or p.col in s.cols for f in frames for s in self._sources(f)) and not any(
                    a.lower() == p.col.lower() for f in frames for a in f.aliases):
                return False
        return True

    def _using_columns(self, st: St) -> frozenset[str]:
        frame = self._frame(st.stack)
        if not frame.sources:
            return NOTHING
        right, left = frame.sources[-1], frame.sources[:-1]
        if right.cols is None:
            return frozenset(c for s in left if s.cols for c in s.cols)
        return frozenset(c for c in right.cols if any(s.cols is None or c in s.cols for s in left))
