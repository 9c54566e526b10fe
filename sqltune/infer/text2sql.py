"""``Text2SQL``: a question in, exact DuckDB SQL and its result out.

Example (it loads a model, so it is shown rather than run as a doctest)::

    from sqltune.infer import Text2SQL
    from sqltune.introspect import introspect

    bot = Text2SQL(introspect("sample:cpg"), model="qwen2.5-coder-0.5b")
    answer = bot.ask("How many retailers sell online?")
    print(answer.sql)
    print(answer.dataframe())
"""

from __future__ import annotations

import time
import typing as t
from dataclasses import dataclass, field

import sqlglot

from sqltune.errors import ConfigError
from sqltune.identifiers import sqlglot_dialect
from sqltune.infer.decode import DecodeConfig, generate_candidates
from sqltune.infer.fewshot import PairRetriever
from sqltune.infer.select import choose
from sqltune.models import DEFAULT_MODEL, Model, load_model
from sqltune.prompt import PromptBuilder, PromptConfig
from sqltune.sandbox import Sandbox
from sqltune.schema import Schema


@dataclass(frozen=True)
class Answer:
    question: str
    sql: str
    source_sql: str | None
    status: str
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[t.Any, ...], ...] = ()
    candidates: tuple[str, ...] = ()
    chosen: int | None = None
    rejected: tuple[str, ...] = ()
    seconds: dict[str, float] = field(default_factory=dict)
    constrained: bool = False
    error: str | None = None

    def dataframe(self) -> t.Any:
        import pandas as pd

        return pd.DataFrame(list(self.rows), columns=list(self.columns))


class Text2SQL:
    """Answers questions about one schema with one model (and optionally an adapter)."""

    def __init__(self, schema: Schema, model: Model | str = DEFAULT_MODEL, *, adapter: str | None = None,
                 prompt: PromptConfig = PromptConfig(), decode: DecodeConfig = DecodeConfig(),
                 constrained: bool = False, examples: t.Sequence[tuple[str, str]] = (), shots: int = 0,
                 vote: bool = False, timeout_s: float = 10.0, row_cap: int = 1000) -> None:
        if not schema.execution_db:
            raise ConfigError(f"Schema {schema.name!r} has no execution database.")
        self.schema = schema
        self.model = model if isinstance(model, Model) else load_model(model, adapter=adapter)
        self.builder = PromptBuilder(schema, self.model.tokenizer, prompt)
        self.decode = decode
        self.constrained = constrained
        self.retriever = PairRetriever(examples) if shots and examples else None
        self.shots = shots
        self.vote = vote
        self.timeout_s = timeout_s
        self.row_cap = row_cap
        self.box = Sandbox(schema.execution_db)
        #: Totals over every constrained batch so far: the processor's own seconds, masks it computed,
        #: and dead ends (rows where it found no allowed token).
        self.constraint_stats: dict[str, float] = {"seconds": 0.0, "masks_computed": 0, "dead_ends": 0}

    def ask(self, question: str) -> Answer:
        return self.predict([question])[0]

    def predict(self, questions: t.Sequence[str], progress: t.Callable[[int], None] | None = None) -> list[Answer]:
        prompts = [self.builder.prompt(q, self.retriever.top(q, self.shots) if self.retriever else ()) for q in questions]
        made: list[t.Any] = []
        factory: t.Callable[[int], t.Any] | None = None
        if self.constrained:
            inner = self._constraint_factory()

            def keep(prompt_len: int) -> t.Any:  # keep the processors, for their stats
                made.append(inner(prompt_len))
                return made[-1]

            factory = keep

        cands, gen_s = generate_candidates(self.model.model, self.model.tokenizer, prompts, self.decode,
                                           logits_processor_factory=factory, progress=progress)
        for proc in made:
            for key in self.constraint_stats:
                self.constraint_stats[key] += proc.stats.get(key, 0)
        answers = []
        for q, options, secs in zip(questions, cands, gen_s):
            t0 = time.perf_counter()
            pick = choose(options, self.schema, self.box, vote=self.vote, timeout_s=self.timeout_s,
                          row_cap=self.row_cap)
            run_s = time.perf_counter() - t0
            sql = options[pick.index] if pick.index is not None else (options[0] if options else "")
            ex = pick.execution
            answers.append(Answer(
                question=q, sql=sql, source_sql=self.to_source(sql), status=ex.status.value if ex else "error",
                columns=ex.columns if ex else (), rows=ex.rows if ex else (), candidates=tuple(options),
                chosen=pick.index, rejected=pick.rejected, seconds={"generate": round(secs, 3), "select": round(run_s, 3)},
                constrained=self.constrained, error=None if ex else "; ".join(pick.rejected) or "no candidate",
            ))
        return answers

    def to_source(self, sql: str) -> str | None:
        """The same query in the source database's dialect (identifiers keep their quoting)."""
        if not sql or self.schema.dialect == "duckdb":
            return sql or None
        try:
            return sqlglot.transpile(sql, read="duckdb", write=sqlglot_dialect(self.schema.dialect))[0]
        except (sqlglot.errors.SqlglotError, ConfigError):
            return None

    def _constraint_factory(self) -> t.Callable[[int], t.Any]:
        try:
            from sqltune.infer.constrain import SchemaConstraint, exact_top_k
        except ImportError:
            raise ConfigError("Constrained decoding is not available in this build (sqltune.infer.constrain).") from None
        d = self.decode
        top_k = exact_top_k(max(d.num_beams, d.num_candidates), d.do_sample)  # exact, and far cheaper than full masks
        return lambda prompt_len: SchemaConstraint(self.schema, self.model.tokenizer, prompt_lengths=prompt_len,
                                                   top_k=top_k)

    def close(self) -> None:
        self.box.close()
