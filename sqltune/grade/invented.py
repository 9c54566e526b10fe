"""Find tables, columns and categorical values a query invents, statically, against a schema snapshot.

A database reports only the first unknown name; :func:`invented_identifiers` reports all of them,
from the sqlglot tree (DuckDB dialect, nothing normalised), resolving every reference in its scope:
CTE names and their column lists, table and subquery aliases (with column lists), select-list
aliases (usable in ``WHERE``/``GROUP BY``/``HAVING``/``ORDER BY``/``QUALIFY`` and later select items,
as DuckDB allows), correlated references to outer queries, ``JOIN … USING``, ``*`` and ``t.*``,
``VALUES`` and table functions, and set operations (``ORDER BY`` of a ``UNION`` names its outputs).

**Case rule.** A *quoted* schema identifier must match exactly: ``"orderdate"`` does not resolve
to ``OrderDate`` (DuckDB itself would accept it: its identifiers are case-insensitive even when
quoted, but other databases and exact-identifier tooling do not). An *unquoted* identifier resolves
case-insensitively, as in DuckDB; when it matches only that way (``orderdate`` for ``OrderDate``)
it is listed in ``case_mismatches``, not as invented. Aliases and CTE names always resolve
case-insensitively.

**Categorical literals.** A string literal compared with a column through ``=``, ``<>``/``!=``,
``IN (…)``, or ``LIKE``/``ILIKE`` without wildcards, where the column is a schema column whose
profile holds its complete categorical domain and the literal is not in it (``ILIKE`` compares
case-insensitively), is an invented literal.

Where a source's columns cannot be known (a table function without a column list, a table that
does not exist, ``PIVOT``), unqualified references that nothing else resolves are accepted, so
there are no false positives there. Qualified references to a name that is a column rather than a
source are taken as struct field access.

>>> from sqltune.schema import Column, ColumnProfile, Schema, Table
>>> status = Column("status", "VARCHAR", "text", profile=ColumnProfile(values=("OPEN", "SHIPPED")))
>>> orders = Table("main", "orders", (Column("id", "INTEGER", "integer"), Column("OrderDate", "DATE", "date"), status))
>>> s = Schema("demo", "duckdb", (orders,), default_schema="main")
>>> sql = "SELECT o.id, o.amount FROM orders o JOIN customer c USING (id) WHERE status = 'CLOSED'"
>>> inv = invented_identifiers(sql, s)
>>> inv.tables, inv.columns, inv.literals
(('customer',), ('o.amount',), (('main.orders.status', 'CLOSED'),))
>>> invented_identifiers('SELECT "orderdate", orderdate FROM orders', s).columns
('orderdate',)
>>> invented_identifiers("SELECT FROM WHERE", s).unparseable
True
"""

from __future__ import annotations

import dataclasses
import typing as t

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.scope import Scope, ScopeType, traverse_scope

from sqltune.schema import Column, Schema, Table


@dataclasses.dataclass(frozen=True)
class Invented:
    """What a query names that the schema snapshot does not have.

    Attributes:
        tables: Table references (and unknown qualifiers) as written, e.g. ``"sales.ordrs"``.
        columns: Column references as written (``"o.amount"``, ``"amount"``).
        literals: ``(column, value)`` pairs; the column is ``"schema.table.column"``.
        case_mismatches: Unquoted identifiers that resolve only case-insensitively.
        unparseable: sqlglot could not parse the query, or build its scopes (one alias given to two
            sources); nothing else is then reported.
        error: The parse error.
    """

    tables: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    literals: tuple[tuple[str, str], ...] = ()
    case_mismatches: tuple[str, ...] = ()
    unparseable: bool = False
    error: str | None = None

    @property
    def count(self) -> int:
        """Invented tables, columns and literals together."""
        return len(self.tables) + len(self.columns) + len(self.literals)

    @property
    def clean(self) -> bool:
        """Parsed, and nothing invented (case mismatches allowed)."""
        return not self.unparseable and self.count == 0


def invented_identifiers(sql: str, schema: Schema, dialect: str = "duckdb") -> Invented:
    """Everything ``sql`` invents against ``schema``; never raises on bad SQL (see the module docstring)."""
    resolver = _Resolver(schema)
    try:
        trees = [x for x in sqlglot.parse(sql, read=dialect) if x is not None]
        if not trees:
            return Invented(unparseable=True, error="no SQL statement")
        for tree in trees:
            resolver.visit(tree)
    except sqlglot.errors.SqlglotError as e:  # a parse error, or e.g. one alias for two sources: no scope
        return Invented(unparseable=True, error=str(e).splitlines()[0] if str(e) else type(e).__name__)
    except RecursionError:  # sqlglot parses and walks recursively: about 100 nested parentheses exhaust the stack
        return Invented(unparseable=True, error=NESTED_TOO_DEEPLY)
    return resolver.result()


#: The error of a query nested deeper than sqlglot's recursive parser and scope walk can follow.
NESTED_TOO_DEEPLY = "nested too deeply to analyse"


def _ci(a: str, b: str) -> bool:
    return a.casefold() == b.casefold()


def _ident(node: exp.Expression | None) -> tuple[str, bool]:
    """Name and quotedness of an identifier-like node."""
    if isinstance(node, exp.Identifier):
        return node.this, bool(node.quoted)
    return (node.name if node is not None else ""), False


class _Resolver:
    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.tables: dict[str, None] = {}
        self.columns: dict[str, None] = {}
        self.literals: dict[tuple[str, str], None] = {}
        self.mismatches: dict[str, None] = {}
        self.bound: dict[int, tuple[Table, Column]] = {}  # id(Column node) -> the schema column it names
        self.by_expr: dict[int, Scope] = {}
        self.ctes: dict[str, Scope | None] = {}

    def result(self) -> Invented:
        return Invented(tuple(self.tables), tuple(self.columns), tuple(self.literals), tuple(self.mismatches))

    # ---------------------------------------------------------------------------------- walk
    def visit(self, tree: exp.Expression) -> None:
        try:
            scopes = traverse_scope(tree)
        except Exception:  # sqlglot cannot scope it (unusual syntax): check tables and literals only
            scopes = []
        self.by_expr = {id(s.expression): s for s in scopes}
        self.ctes = {cte.alias_or_name.casefold(): self.by_expr.get(id(cte.this)) for cte in tree.find_all(exp.CTE)}
        for table in tree.find_all(exp.Table):
            self._check_table(table)
        for join in tree.find_all(exp.Join):
            self._check_using(join)
        for column in tree.find_all(exp.Column):
            scope = self._scope_of(column)
            if scope is not None and not self._lambda_param(column):
                self._check_column(column, scope)
        self._check_literals(tree)

    def _scope_of(self, node: exp.Expression) -> Scope | None:
        parent = node.parent
        while parent is not None:
            if id(parent) in self.by_expr:
                return self.by_expr[id(parent)]
            parent = parent.parent
        return None

    @staticmethod
    def _lambda_param(column: exp.Column) -> bool:
        """``x`` in ``list_transform(l, x -> x.f)``: a lambda parameter, not a column."""
        head = column.parts[0].name
        node = column.parent
        while node is not None:
            if isinstance(node, exp.Lambda) and any(_ci(p.name, head) for p in node.expressions):
                return True
            node = node.parent
        return False

    # -------------------------------------------------------------------------------- tables
    def _is_cte_ref(self, table: exp.Table) -> bool:
        return not table.args.get("db") and table.name.casefold() in self.ctes

    def _check_table(self, table: exp.Table) -> None:
        if not isinstance(table.this, exp.Identifier) or self._is_cte_ref(table):
            return
        if self._schema_table(table) is None:
            self.tables[".".join(p.name for p in table.parts)] = None

    def _schema_table(self, table: exp.Table) -> Table | None:
        name, quoted = _ident(table.this)
        db, db_quoted = _ident(table.args.get("db")) if table.args.get("db") else (None, False)
        default = self.schema.default_schema
        exact: list[Table] = []
        loose: list[Table] = []
        for tb in self.schema.tables:
            if db is None:
                if default is not None and tb.schema not in (None, default):
                    continue
                schema_exact = schema_ok = True
            else:
                tb_schema = tb.schema if tb.schema is not None else (default or "")
                schema_exact = tb_schema == db
                schema_ok = schema_exact or (not db_quoted and _ci(tb_schema, db))
            name_exact = tb.name == name
            if schema_exact and name_exact:
                exact.append(tb)
            elif schema_ok and (name_exact or (not quoted and _ci(tb.name, name))):
                loose.append(tb)
        if exact:
            return exact[0]
        if loose:
            self.mismatches[".".join(p.name for p in table.parts)] = None
            return loose[0]
        return None

    # ------------------------------------------------------------------------------- columns
    def _source_columns(self, source: t.Any) -> list[str] | None:
        """Column names a FROM item exposes, or ``None`` when they cannot be known."""
        if isinstance(source, Scope):
            return self._scope_outputs(source)
        if isinstance(source, exp.Table):
            alias = [c.name for c in source.args["alias"].columns] if source.args.get("alias") else []
            if not isinstance(source.this, exp.Identifier):
                return alias or None
            if self._is_cte_ref(source):
                scope = self.ctes[source.name.casefold()]
                names = self._scope_outputs(scope) if scope is not None else None
            else:
                table = self._schema_table(source)
                names = list(table.column_names) if table is not None else None
            return None if names is None else alias + names[len(alias) :]
        node = source.args.get("alias") if isinstance(source, exp.Expression) else None
        return [c.name for c in node.columns] if isinstance(node, exp.TableAlias) and node.columns else None

    def _scope_outputs(self, scope: Scope) -> list[str] | None:
        expr = scope.expression
        holder = expr.parent if isinstance(expr.parent, (exp.CTE, exp.Subquery)) else expr
        alias_node = holder.args.get("alias")
        alias = [c.name for c in alias_node.columns] if isinstance(alias_node, exp.TableAlias) else []
        names: list[str] | None
        if isinstance(expr, exp.SetOperation):
            branches = getattr(scope, "set_operation_scopes", None) or getattr(scope, "union_scopes", None)
            names = self._scope_outputs(branches[0]) if branches else None
        elif isinstance(expr, exp.Select):
            names = []
            for item in expr.selects:
                if isinstance(item, exp.Star) or (isinstance(item, exp.Column) and isinstance(item.this, exp.Star)):
                    chosen = scope.selected_sources if isinstance(item, exp.Star) else {
                        k: v for k, v in scope.selected_sources.items() if _ci(k, item.table)}  # fmt: skip
                    for _, src in chosen.values():
                        more = self._source_columns(src)
                        if more is None:
                            return alias or None
                        names.extend(more)
                else:
                    names.append(item.alias_or_name)
        else:
            names = None
        if names is None:
            return alias or None
        return alias + names[len(alias) :]

    @staticmethod
    def _visible(scope: Scope) -> t.Iterator[Scope]:
        """``scope``, then the enclosing scopes a correlated reference may reach (not from CTEs or derived tables)."""
        current: Scope | None = scope
        while current is not None:
            yield current
            if current.scope_type not in (ScopeType.SUBQUERY, ScopeType.UDTF, ScopeType.SET_OPERATION):
                return
            current = current.parent

    def _find_source(self, scope: Scope, qualifier: str) -> tuple[t.Any, bool]:
        """The source aliased ``qualifier`` in ``scope`` or an enclosing one; ``(None, False)`` if none."""
        for visible in self._visible(scope):
            for name, src in visible.sources.items():
                if _ci(name, qualifier):
                    return src, True
        return None, False

    def _lookup(self, source: t.Any, name: str, quoted: bool) -> str:
        """``"exact"``, ``"loose"`` (case-insensitive only), ``"unknown"`` (columns unknown) or ``"missing"``."""
        cols = self._source_columns(source)
        if cols is None:
            return "unknown"
        if name in cols:
            return "exact"
        if not quoted and any(_ci(c, name) for c in cols):
            return "loose"
        return "missing"

    def _bind(self, column: exp.Column, source: t.Any, name: str) -> None:
        if isinstance(source, exp.Table) and isinstance(source.this, exp.Identifier) and not self._is_cte_ref(source):
            table = self._schema_table(source)
            alias = source.args.get("alias")
            if table is not None and not (alias is not None and alias.columns):
                hit = [c for c in table.columns if c.name == name] or [c for c in table.columns if _ci(c.name, name)]
                if hit:
                    self.bound[id(column)] = (table, hit[0])

    def _check_column(self, column: exp.Column, scope: Scope) -> None:
        name, quoted = _ident(column.this)
        written = ".".join(p.name for p in column.parts)
        if isinstance(column.this, exp.Star):
            if column.table and not self._find_source(scope, column.table)[1]:
                self.tables[column.table] = None
            return
        if column.table:
            source, found = self._find_source(scope, column.table)
            if not found:
                if self._struct_access(column, scope):
                    return
                self.tables[".".join(p.name for p in column.parts[:-1])] = None
                return
            self._record(column, source, name, quoted, written)
            return
        for outer in self._visible(scope):
            unknown = False
            for _, src in outer.selected_sources.values():
                verdict = self._lookup(src, name, quoted)
                if verdict in ("exact", "loose"):
                    self._record(column, src, name, quoted, written)
                    return
                unknown = unknown or verdict == "unknown"
            if self._is_output_alias(outer, name) or unknown:
                return
        self.columns[written] = None

    def _record(self, column: exp.Column, source: t.Any, name: str, quoted: bool, written: str) -> None:
        verdict = self._lookup(source, name, quoted)
        if verdict == "missing":
            self.columns[written] = None
        elif verdict == "loose":
            self.mismatches[written] = None
        if verdict in ("exact", "loose"):
            self._bind(column, source, name)

    def _is_output_alias(self, scope: Scope, name: str) -> bool:
        expr = scope.expression
        if isinstance(expr, exp.SetOperation):
            outputs = self._scope_outputs(scope) or []
            return any(_ci(o, name) for o in outputs)
        return isinstance(expr, exp.Select) and any(s.alias and _ci(s.alias, name) for s in expr.selects)

    def _struct_access(self, column: exp.Column, scope: Scope) -> bool:
        """``s.field`` or ``t.s.field`` where ``s`` is a column: DuckDB reads a struct field."""
        parts = [p.name for p in column.parts]
        head = parts[0]
        if len(parts) >= 3:
            source, found = self._find_source(scope, parts[0])
            if found and self._lookup(source, parts[1], False) != "missing":
                return True
        return any(
            self._lookup(src, head, False) != "missing"
            for outer in self._visible(scope) for _, src in outer.selected_sources.values()
        )  # fmt: skip

    def _check_using(self, join: exp.Join) -> None:
        using = join.args.get("using") or []
        select = join.parent
        scope = self.by_expr.get(id(select))
        if not using or scope is None or not isinstance(select, exp.Select):
            return
        right = join.this
        joins = select.args.get("joins") or []
        left = [select.args["from_"].this] if select.args.get("from_") else []
        left += [j.this for j in joins[: joins.index(join)]] if join in joins else []
        for ident in using:
            name, quoted = _ident(ident if isinstance(ident, exp.Identifier) else ident.this)
            for side in ([right], left):
                verdicts = [self._lookup(scope.sources.get(s.alias_or_name, s), name, quoted) for s in side]
                if "exact" in verdicts or "unknown" in verdicts:
                    continue
                if "loose" in verdicts:
                    self.mismatches[name] = None
                else:
                    self.columns[name] = None

    # ------------------------------------------------------------------------------ literals
    def _check_literals(self, tree: exp.Expression) -> None:
        for node in tree.find_all(exp.EQ, exp.NEQ, exp.In, exp.Like, exp.ILike):
            if isinstance(node, exp.In):
                pairs = [(node.this, v) for v in node.expressions]
            else:
                pairs = [(node.this, node.expression), (node.expression, node.this)]
            for col, lit in pairs:
                if isinstance(col, exp.Column) and isinstance(lit, exp.Literal) and lit.is_string:
                    self._check_value(col, lit.this, node)

    def _check_value(self, column: exp.Column, value: str, node: exp.Expression) -> None:
        bound = self.bound.get(id(column))
        if bound is None:
            return
        table, col = bound
        profile = col.profile
        if profile is None or profile.values is None or not profile.values_complete:
            return
        domain = [str(v) for v in profile.values if v is not None]
        if isinstance(node, (exp.Like, exp.ILike)):
            if "%" in value or "_" in value:
                return
            if isinstance(node, exp.ILike):
                if any(_ci(v, value) for v in domain):
                    return
                self.literals[(f"{table.key}.{col.name}", value)] = None
                return
        if value not in domain:
            self.literals[(f"{table.key}.{col.name}", value)] = None
