"""sqltune: exact SQL from a language model tuned on your own schema.

The Python API is small; each name is imported on first use, so ``import sqltune`` stays light
(no torch until a model is needed):

* :func:`introspect` — read a database (path, SQLAlchemy URL, ``sample:NAME``) into a :class:`Schema`;
* :func:`generate` — verified question/SQL pairs and schema facts from a schema;
* :func:`onboard` — introspect + generate + a draft evalset for review, into a project folder;
* :func:`load_model` — a registry alias, local folder, GGUF file or hub id, optionally with an adapter;
* :func:`memory_tune` — tune a model on pairs until the schema's exact tokens are recalled;
* :class:`Text2SQL` — ``Text2SQL(schema, model).ask(question)``;
* :func:`evaluate` — predict an evalset and grade it (returns the report object);
* :func:`grade` — grade one predicted SQL against gold SQL by executing both.

>>> import duckdb, tempfile, pathlib, sqltune
>>> db = str(pathlib.Path(tempfile.mkdtemp()) / "shop.duckdb")
>>> with duckdb.connect(db) as con:
...     _ = con.execute('CREATE TABLE "Orders" ("OrderId" INT PRIMARY KEY, "Total" DOUBLE)')
...     _ = con.execute('INSERT INTO "Orders" VALUES (1, 9.5), (2, 20.0)')
>>> schema = sqltune.introspect(db)
>>> [c.name for c in schema.tables[0].columns]
['OrderId', 'Total']
>>> sqltune.grade('SELECT SUM("Total") FROM "Orders"', 'SELECT 29.5', db).correct
True
"""

from __future__ import annotations

import importlib
import typing as t

if t.TYPE_CHECKING:
    from sqltune.evaluate import EvalConfig, Evaluation, evaluate
    from sqltune.generate import generate
    from sqltune.grade import grade
    from sqltune.infer import Text2SQL
    from sqltune.introspect import introspect
    from sqltune.models import load_model
    from sqltune.onboard import onboard
    from sqltune.schema import Schema
    from sqltune.tune import memory_tune

#: Verbs whose module has the same name: the module itself is callable (see :mod:`sqltune.callable_module`).
_CALLABLE_MODULES = ("introspect", "generate", "onboard", "evaluate", "grade", "leakage")

_EXPORTS: dict[str, str] = {
    "load_model": "sqltune.models",
    "memory_tune": "sqltune.tune",
    "Text2SQL": "sqltune.infer",
    "EvalConfig": "sqltune.evaluate",
    "Evaluation": "sqltune.evaluate",
    "Schema": "sqltune.schema",
    "SqltuneError": "sqltune.errors",
}

__all__ = sorted((*_EXPORTS, *_CALLABLE_MODULES))


def __getattr__(name: str) -> t.Any:
    if name in _CALLABLE_MODULES:  # importing sets the attribute to the (callable) module
        return importlib.import_module(f"sqltune.{name}")
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sqltune' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
