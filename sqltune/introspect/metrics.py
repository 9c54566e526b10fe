"""Business metrics from the data dictionary, checked against the schema and written canonically.

A data team defines a metric once, the way finance computes it, and every generated pair and
prompt then uses that definition::

    metrics:
      - name: revenue
        synonyms: [net sales in USD]
        description: Net sales converted to USD at the order month's rate; cancelled orders excluded.
        expr: sum(l.LINE_AMT * fx.USD_PER_CCY)
        from: >-
          sales.ORDER_LINE l JOIN sales.OrderHeader h ON h.OrderId = l.OrderId
          JOIN main.FX_RATE fx ON fx.CCY_CD = h.CURRENCY_CD AND fx.RATE_MTH = date_trunc('month', h.OrderDate)
        where: h.STATUS <> 'CANC'
        time: h.OrderDate

``expr`` must aggregate; ``from`` is a FROM clause with its joins (any join condition, such as a
period lookup); ``where`` and ``time`` (a date column, for "in 2024" and "per month") are optional.
Every table and column must exist: names are matched exactly, else case-insensitively, and are
rewritten as the database spells them, quoted where needed, so ``OrderDate`` never becomes
``orderdate``. A name that matches nothing is an error with a did-you-mean.

>>> from sqltune.schema import Column, Schema, Table
>>> t = Table("sales", "OrderLine", (Column("Amt", "DECIMAL", "decimal"), Column("OrderDate", "DATE", "date")))
>>> s = Schema("demo", "duckdb", (t,), default_schema="main")
>>> m = resolve_metric(s, {"name": "sales", "expr": "SUM(l.amt)", "from": "sales.orderline l", "time": "l.orderdate"})
>>> m.expr, m.source, m.time
('SUM(l."Amt")', 'sales."OrderLine" AS l', 'l."OrderDate"')
>>> resolve_metric(s, {"name": "sales", "expr": "SUM(l.Amount)", "from": "sales.OrderLine l"})
Traceback (most recent call last):
sqltune.errors.ConfigError: dictionary: metric 'sales': table sales.OrderLine (l) has no column 'Amount'. Did you mean 'Amt'?
"""

from __future__ import annotations

import typing as t

import sqlglot
from sqlglot import exp

from sqltune.errors import ConfigError, did_you_mean
from sqltune.identifiers import identifier, table_expression
from sqltune.schema import Metric, Schema, Table

KEYS = ("name", "expr", "from", "where", "time", "description", "synonyms")


def resolve_metric(schema: Schema, entry: t.Mapping[str, t.Any], where: str = "dictionary") -> Metric:
    """The :class:`Metric` that dictionary ``entry`` defines, its SQL checked and made case-exact."""
    if not isinstance(entry, t.Mapping):
        raise ConfigError(f"{where}: a metric must be a mapping with 'name', 'expr' and 'from'.")
    name = str(entry.get("name") or "").strip()
    if not name:
        raise ConfigError(f"{where}: a metric needs a 'name'.")
    here = f"{where}: metric {name!r}"
    for key in entry:
        if key not in KEYS:
            raise ConfigError(f"{here}: unknown key {key!r}. {did_you_mean(str(key), KEYS)}".strip())
    for key in ("expr", "from"):
        if not str(entry.get(key) or "").strip():
            raise ConfigError(f"{here}: needs {key!r}.")
    synonyms = entry.get("synonyms") or ()
    if isinstance(synonyms, str) or not all(isinstance(x, str) and x.strip() for x in synonyms):
        raise ConfigError(f"{here}: 'synonyms' must be a list of phrases.")
    cond = str(entry.get("where") or "").strip()
    time = str(entry.get("time") or "").strip()
    sql = f"SELECT {entry['expr']}, {time or 'NULL'} FROM {entry['from']} WHERE {cond or 'TRUE'}"
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError as e:
        raise ConfigError(f"{here}: its SQL does not parse ({str(e).splitlines()[0]}).") from None
    if not isinstance(tree, exp.Select) or len(tree.expressions) != 2:
        raise ConfigError(f"{here}: 'expr' must be one expression and 'from' a FROM clause with joins.")
    tables = _resolve_tables(schema, tree, here)
    _resolve_columns(tree, tables, here)
    value, when = tree.expressions
    if not value.find(exp.AggFunc):
        raise ConfigError(f"{here}: 'expr' must aggregate (SUM, COUNT, AVG, ...), not {entry['expr']!r}.")
    if time:
        col = _column_of(when, tables)
        if col is None or col.type not in ("date", "timestamp"):
            raise ConfigError(f"{here}: 'time' must be one date or timestamp column, not {time!r}.")
    from_ = tree.args.get("from") or tree.args.get("from_")
    source = " ".join([from_.this.sql("duckdb"), *(j.sql("duckdb") for j in tree.args.get("joins") or ())])
    return Metric(name=name, expr=value.sql("duckdb"), source=source,
                  where=tree.args["where"].this.sql("duckdb") if cond else "",
                  time=when.sql("duckdb") if time else "", description=str(entry.get("description") or "").strip(),
                  synonyms=tuple(x.strip() for x in synonyms))


def metric_tables(schema: Schema, metric: Metric) -> list[tuple[str, Table]]:
    """``(alias, table)`` for each table of the metric's FROM clause, in order."""
    tree = sqlglot.parse_one(f"SELECT 1 FROM {metric.source}", read="duckdb")
    return [(node.alias_or_name, schema.table(_key(node))) for node in tree.find_all(exp.Table)]


def _key(node: exp.Table) -> str:
    return f"{node.db}.{node.name}" if node.db else node.name


def _find_table(schema: Schema, node: exp.Table, here: str) -> Table:
    ref = _key(node)
    exact = [tb for tb in schema.tables if str(tb.key) == ref or (not node.db and tb.name == ref
                                                                   and tb.schema in (None, schema.default_schema))]
    if len(exact) == 1:
        return exact[0]
    folded = [tb for tb in schema.tables if str(tb.key).lower() == ref.lower()
              or (not node.db and tb.name.lower() == ref.lower())]
    if len(folded) == 1:
        return folded[0]
    if len(folded) > 1:
        raise ConfigError(f"{here}: table {ref!r} is ambiguous ({', '.join(sorted(str(tb.key) for tb in folded))}).")
    hint = did_you_mean(ref, [str(tb.key) for tb in schema.tables])
    raise ConfigError(f"{here}: no table {ref!r}. {hint}".strip())


def _resolve_tables(schema: Schema, tree: exp.Select, here: str) -> dict[str, Table]:
    tables: dict[str, Table] = {}
    for node in list(tree.find_all(exp.Table)):
        table = _find_table(schema, node, here)
        alias = node.alias
        name = alias or table.name
        if name in tables:
            raise ConfigError(f"{here}: {name!r} names two tables; give each its own alias.")
        tables[name] = table
        new = table_expression(table.key, "duckdb", schema.default_schema)
        if alias:
            new.set("alias", exp.TableAlias(this=identifier(alias)))
        node.replace(new)
    return tables


def _resolve_columns(tree: exp.Select, tables: dict[str, Table], here: str) -> None:
    for node in list(tree.find_all(exp.Column)):
        if node.table:
            table = tables.get(node.table) or next((tb for a, tb in tables.items() if a.lower() == node.table.lower()),
                                                   None)
            if table is None:
                hint = did_you_mean(node.table, list(tables))
                raise ConfigError(f"{here}: {node.table!r} is not a table or alias of its FROM clause. {hint}".strip())
            owners = [table]
        else:
            owners = [tb for tb in tables.values() if _column_name(tb, node.name) is not None]
            if len(owners) > 1:
                raise ConfigError(f"{here}: column {node.name!r} is in several of its tables; qualify it.")
            if not owners:
                names = [c.name for tb in tables.values() for c in tb.columns]
                hint = did_you_mean(node.name, names)
                raise ConfigError(f"{here}: no table of its FROM clause has a column {node.name!r}. {hint}".strip())
        exact = _column_name(owners[0], node.name)
        if exact is None:
            label = f"{owners[0].key} ({node.table})" if node.table and node.table != owners[0].name else str(owners[0].key)
            hint = did_you_mean(node.name, [c.name for c in owners[0].columns])
            raise ConfigError(f"{here}: table {label} has no column {node.name!r}. {hint}".strip())
        node.set("this", identifier(exact))
        if node.table:
            alias = next(a for a, tb in tables.items() if a.lower() == node.table.lower())
            node.set("table", identifier(alias))


def _column_name(table: Table, name: str) -> str | None:
    names = [c.name for c in table.columns]
    if name in names:
        return name
    folded = [n for n in names if n.lower() == name.lower()]
    return folded[0] if len(folded) == 1 else None


def _column_of(node: exp.Expression, tables: dict[str, Table]) -> t.Any:
    if not isinstance(node, exp.Column):
        return None
    owners = [tables[node.table]] if node.table in tables else list(tables.values())
    for tb in owners:
        for c in tb.columns:
            if c.name == node.name:
                return c
    return None


def metrics_in(schema: Schema, question: str) -> list[Metric]:
    """The metrics ``question`` names (by name or synonym, whole words, case-insensitive); a phrase
    inside a longer one that also matched (``net sales`` in ``net sales in USD``) does not count.

    >>> from sqltune.schema import Schema
    >>> s = Schema("d", "duckdb", (), metrics=(Metric("net sales", "sum(x)", "t"),
    ...                                         Metric("revenue", "sum(y)", "t", synonyms=("net sales in USD",))))
    >>> [m.name for m in metrics_in(s, "What were net sales in USD by brand?")]
    ['revenue']
    >>> [m.name for m in metrics_in(s, "Net sales per channel")]
    ['net sales']
    """
    import re

    text = question.lower()
    spans: list[tuple[int, int, Metric]] = []
    for m in schema.metrics:
        for phrase in m.names:
            pattern = r"(?<![\w])" + r"\s+".join(map(re.escape, phrase.lower().split())) + r"(?![\w])"
            spans += [(hit.start(), hit.end(), m) for hit in re.finditer(pattern, text)]
    kept = [s for s in spans if not any(o[0] <= s[0] and s[1] <= o[1] and o[1] - o[0] > s[1] - s[0] for o in spans)]
    out: list[Metric] = []
    for _, _, m in sorted(kept, key=lambda s: s[0]):
        if m not in out:
            out.append(m)
    return out


def metric_columns(schema: Schema, metric: Metric) -> dict[t.Any, set[str]]:
    """The columns each table of ``metric`` contributes (join keys included), by table key."""
    tree = sqlglot.parse_one(f"SELECT {metric.expr}, {metric.time or 'NULL'} FROM {metric.source} "
                             f"WHERE {metric.where or 'TRUE'}", read="duckdb")
    tables = {alias: tb for alias, tb in metric_tables(schema, metric)}
    out: dict[t.Any, set[str]] = {tb.key: set() for tb in tables.values()}
    for node in tree.find_all(exp.Column):
        owners = [tables[node.table]] if node.table in tables else [
            tb for tb in tables.values() if any(c.name == node.name for c in tb.columns)]
        for tb in owners[:1]:
            out[tb.key].add(node.name)
    return out


def metric_text(metric: Metric) -> str:
    """How a prompt states ``metric``: the SQL to compute it, then what it means.

    >>> metric_text(Metric("sales", 'SUM(l."Amt")', 'sales."OrderLine" AS l', time='l."OrderDate"'))
    'sales = SELECT SUM(l."Amt") FROM sales."OrderLine" AS l (date: l."OrderDate")'
    """
    text = f"{metric.name} = {metric.sql}" + (f" (date: {metric.time})" if metric.time else "")
    return text + (f"; {metric.description}" if metric.description else "")


def dimension_joins(schema: Schema, metric: Metric, target: t.Any, max_hops: int = 2) -> str | None:
    """The JOIN clauses that reach table ``target`` from ``metric``'s tables, following keys from the
    many side to the one side only (so the metric's rows are not multiplied), or ``None`` when no
    such path of at most ``max_hops`` joins exists. Aliases continue the metric's own.

    >>> from sqltune.schema import Column, Join, Schema, Table, TableKey
    >>> line = Table("s", "line", (Column("sku", "INT", "integer"), Column("amt", "INT", "integer")))
    >>> sku = Table("s", "sku", (Column("sku", "INT", "integer"), Column("brand_id", "INT", "integer")))
    >>> brand = Table("s", "brand", (Column("brand_id", "INT", "integer"), Column("name", "TEXT", "text")))
    >>> j = (Join(TableKey("s", "line"), ("sku",), TableKey("s", "sku"), ("sku",)),
    ...      Join(TableKey("s", "sku"), ("brand_id",), TableKey("s", "brand"), ("brand_id",)))
    >>> s = Schema("d", "duckdb", (line, sku, brand), joins=j)
    >>> m = Metric("sales", "SUM(l.amt)", "s.line AS l")
    >>> dimension_joins(s, m, TableKey("s", "brand"))
    'JOIN s.sku AS s ON l.sku = s.sku JOIN s.brand AS b ON s.brand_id = b.brand_id'
    """
    own = metric_tables(schema, metric)
    if any(tb.key == target for _, tb in own):
        return None
    usable = sorted((j for j in schema.joins if j.source == "declared" or j.confidence >= 0.8),
                    key=lambda j: (j.source != "declared", -j.confidence, str(j)))
    required = [j for j in usable if not any(_optional(schema, j.from_table, c) for c in j.from_columns)]
    for joins in (required, usable):  # through keys every row has, before optional ones (a line's promotion)
        frontier: list[tuple[str, t.Any, list[t.Any]]] = [(alias, tb.key, []) for alias, tb in own]
        seen = {tb.key for _, tb in own}
        for _ in range(max_hops):
            nxt = []
            for alias, at, path in frontier:
                for j in joins:
                    if j.from_table != at or j.to_table in seen:
                        continue
                    if j.to_table == target:
                        return _render_hops(schema, alias, [*path, j], {a for a, _ in own})
                    seen.add(j.to_table)
                    nxt.append((alias, j.to_table, [*path, j]))
            frontier = nxt
    return None


def _optional(schema: Schema, table: t.Any, column: str) -> bool:
    col = next((c for c in schema.table(table).columns if c.name == column), None)
    if col is None:
        return True
    if col.profile is not None and col.profile.null_fraction is not None:
        return col.profile.null_fraction > 0
    return col.nullable


def _render_hops(schema: Schema, start: str, hops: list[t.Any], taken: set[str]) -> str:
    from sqltune.identifiers import render_identifier, render_table

    out, src = [], start
    for j in hops:
        base = "".join(w[0] for w in j.to_table.name.replace("_", " ").split() if w[:1].isalpha()).lower() or "t"
        alias, i = base, 2
        while alias in taken:
            alias, i = f"{base}{i}", i + 1
        taken.add(alias)
        on = " AND ".join(f"{src}.{render_identifier(a)} = {alias}.{render_identifier(b)}"
                          for a, b in zip(j.from_columns, j.to_columns))
        out.append(f"JOIN {render_table(j.to_table, 'duckdb', schema.default_schema)} AS {alias} ON {on}")
        src = alias
    return " ".join(out)
