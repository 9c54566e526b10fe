"""Pair generation: verified question/SQL pairs, schema facts and a coverage report from a schema.

SQL is built first, as sqlglot trees from a typed grammar, with literals from the data and
identifiers exactly as the database spells them; every candidate runs in the sandbox and is kept
only if it is fast, non-empty, deterministic and new. Each kept SQL gets one question per style,
rendered from the meaning its production recorded (never by parsing the SQL afterwards).

Modules, in pipeline order:

* ``catalog`` — column roles, names per style, usable joins, glossary terms (``vocab`` words);
* ``literals`` — value pools read from the data (masked columns never give a value);
* ``build`` + ``grammar/{easy,medium,hard}`` — the productions and the draft they fill;
* ``meaning`` → ``phrases`` → ``questions`` — five styles per SQL, and a diversity measure;
* ``verify`` (canonical form, skeleton, plan/check) run by ``workers`` (threads or processes);
* ``coverage`` — counts, steering weights, the report; ``facts``; ``splits``;
* ``engine`` (chunks, pipelined batches) and ``run`` (:func:`generate`, resume, files via ``writer``);
* ``recheck`` — re-run a ``pairs.jsonl`` in a fresh process.

>>> import duckdb, tempfile, pathlib
>>> from sqltune.introspect import introspect
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> con = duckdb.connect(str(folder / "shop.duckdb"))
>>> _ = con.execute('CREATE TABLE "Customer"(cust_id INT PRIMARY KEY, "Segment" VARCHAR, spend DECIMAL(8,2))')
>>> _ = con.execute("INSERT INTO \\"Customer\\" SELECT i, ['ENT','SMB','GOV'][1 + i % 3], i * 1.5 FROM range(1, 40) t(i)")
>>> con.close()
>>> result = generate(introspect(folder / "shop.duckdb"), n=10, seed=1, out=folder / "pairs")
>>> len(result.pairs), result.distinct_sql, sorted(p.name for p in (folder / "pairs").iterdir())
(10, 2, ['coverage.json', 'facts.jsonl', 'pairs.jsonl'])
>>> sorted({p.style for p in result.pairs}) == sorted(STYLES)
True
"""

from __future__ import annotations

from sqltune.generate.config import STYLES, GenerateConfig, GenerationError
from sqltune.generate.engine import ProgressEvent
from sqltune.generate.records import Fact, GenerationResult, Pair
from sqltune.generate.run import Paraphraser, generate

__all__ = ["STYLES", "Fact", "GenerateConfig", "GenerationError", "GenerationResult", "Pair", "Paraphraser",
           "ProgressEvent", "generate"]


from sqltune.callable_module import make_callable as _make_callable  # noqa: E402

_make_callable(__name__, "generate")  # sqltune.generate(...) calls generate() (see sqltune.callable_module)
