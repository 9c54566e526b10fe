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
from sqltune.infer.heads import HeadCache, head_length
from sqltune.infer.prefix import PrefixCache
from sqltune.infer.select import choose
from sqltune.models import DEFAULT_MODEL, Model, load_model
from sqltune.prompt import PromptBuilder, PromptConfig
from sqltune.sandbox import Sandbox
from sqltune.schema import Schema


#: The error of a constrained answer whose candidates were all cut at the token budget.
UNFINISHED = ("unfinished: no candidate became a whole query within max_new_tokens (the cut text is in "
              "candidates); constrained decoding answers a whole query or nothing")


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


class _Pick(t.NamedTuple):
    choice: t.Any  # sqltune.infer.select.Choice
    seconds: float

    @property
    def index(self) -> int | None:
        return self.choice.index  # type: ignore[no-any-return]


class Text2SQL:
    """Answers questions about one schema with one model (and optionally an adapter)."""

    def __init__(self, schema: Schema, model: Model | str = DEFAULT_MODEL, *, adapter: str | None = None,
                 prompt: PromptConfig = PromptConfig(), decode: DecodeConfig = DecodeConfig(),
                 constrained: bool = False, repair: bool = False, examples: t.Sequence[tuple[str, str]] = (),
                 shots: int = 0, vote: bool = False, timeout_s: float = 10.0, row_cap: int = 1000,
                 base_prefix: bool | None = None) -> None:
        """``constrained``: schema-constrained decoding; a question whose candidates were all cut at the
        token budget (no whole query) gets no SQL (``error`` says so), never a cut one. ``repair`` (with
        ``constrained``): decode freely first and again with the constraint only the questions none of
        whose candidates parses, resolves and runs; a model that plans a query the constraint would cut
        short keeps its own answer when it is sound (and spells every name as the schema does: one that
        runs only because DuckDB folds an unquoted name's case is decoded again too). ``base_prefix``:
        compute the prompt start the questions share without the adapter, as an adapter tuned with
        ``frozen_prefix`` was (default: what the adapter's tuning config says)."""
        if not schema.execution_db:
            raise ConfigError(f"Schema {schema.name!r} has no execution database.")
        self.schema = schema
        self.model = model if isinstance(model, Model) else load_model(model, adapter=adapter)
        self.builder = PromptBuilder(schema, self.model.tokenizer, prompt)
        self.decode = decode
        self.constrained = constrained
        self.repair = repair and constrained
        self.retriever = PairRetriever(examples) if shots and examples else None
        self.shots = shots
        self.vote = vote
        self.timeout_s = timeout_s
        self.row_cap = row_cap
        self.box = Sandbox(schema.execution_db)
        frozen = _frozen_prefix(self.model.adapter)
        if base_prefix is None:
            base_prefix = bool(frozen)
        #: The shared prompt start's keys and values, reused across batches and calls (or, for an adapter
        #: tuned with a frozen linked schema, each prompt's head: :mod:`sqltune.infer.heads`).
        self.prefix: PrefixCache | HeadCache | None = None
        if base_prefix and frozen == "heads":
            tok = self.model.tokenizer
            self.prefix = HeadCache(max_entries=32, split=lambda p: head_length(tok, p))  # ~15 MB a head (0.5B)
        elif decode.prefix_min_tokens:
            limit = None
            if base_prefix:  # exactly the start the adapter's training froze, no further
                from sqltune.tune.data import frozen_start

                limit = len(frozen_start(self.builder, self.model.tokenizer))
            self.prefix = PrefixCache(min_tokens=decode.prefix_min_tokens, base=base_prefix, limit=limit)
        #: Totals over every constrained batch so far: the processor's own seconds, masks it computed,
        #: dead ends (rows where it found no allowed token), rows it finished near the token budget
        #: (``unfinished``: no finish found), and questions answered with no SQL because no candidate
        #: became a whole query (``abstained``).
        self.constraint_stats: dict[str, float] = {"seconds": 0.0, "masks_computed": 0, "dead_ends": 0,
                                                   "finished": 0, "unfinished": 0, "abstained": 0}

    def ask(self, question: str) -> Answer:
        return self.predict([question])[0]

    def predict(self, questions: t.Sequence[str], progress: t.Callable[[int], None] | None = None, *,
                first: t.Sequence[tuple[t.Sequence[str], float]] | None = None) -> list[Answer]:
        """Answer ``questions``. ``first`` (repair only): each question's free candidates and their decoding
        seconds, already made by this model with these prompt and decoding options (e.g. an unconstrained
        run's predictions), so that only the repair pass runs."""
        prompts = [self.builder.prompt(q, self.retriever.top(q, self.shots) if self.retriever else ()) for q in questions]
        if self.repair:
            if first is not None:
                cands, gen_s = [list(c) for c, _ in first], [float(sec) for _, sec in first]
                if progress:
                    progress(len(prompts))
            else:
                cands, gen_s = self._generate(prompts, False, progress)
            picks = [self._choose(options) for options in cands]
            redo = [i for i, pick in enumerate(picks) if pick.index is None or pick.choice.case_mismatches]
            fixed, fixed_s = self._generate([prompts[i] for i in redo], True, None) if redo else ([], [])
            used = [False] * len(prompts)
            for i, options, secs in zip(redo, fixed, fixed_s):
                gen_s[i] += secs
                pick = self._choose(options)
                if pick.index is not None or picks[i].index is None:  # a free answer that runs stays if this does not
                    cands[i], used[i], picks[i] = options, True, pick
        else:
            cands, gen_s = self._generate(prompts, self.constrained, progress)
            picks = [self._choose(options) for options in cands]
            used = [self.constrained] * len(prompts)
        answers = []
        for q, options, secs, (pick, run_s), constrained in zip(questions, cands, gen_s, picks, used):
            error = None if pick.execution else "; ".join(pick.rejected) or "no candidate"
            if pick.index is not None:
                sql = options[pick.index]
            elif constrained:  # only a whole query: a candidate cut at the token budget is no answer
                whole = [c for c in options if self._whole(c)]
                sql = whole[0] if whole else ""
                if not whole:
                    self.constraint_stats["abstained"] += 1
                    error = UNFINISHED
            else:
                sql = options[0] if options else ""
            ex = pick.execution
            answers.append(Answer(
                question=q, sql=sql, source_sql=self.to_source(sql), status=ex.status.value if ex else "error",
                columns=ex.columns if ex else (), rows=ex.rows if ex else (), candidates=tuple(options),
                chosen=pick.index, rejected=pick.rejected, seconds={"generate": round(secs, 3), "select": round(run_s, 3)},
                constrained=constrained, error=error,
            ))
        return answers

    def _whole(self, sql: str) -> bool:
        """Whether the constraint's state machine takes ``sql`` as a whole query (not one cut short)."""
        from sqltune.infer.constrain import compile_machine

        return compile_machine(self.schema).accepts(sql)

    def _generate(self, prompts: list[str], constrained: bool,
                  progress: t.Callable[[int], None] | None) -> tuple[list[list[str]], list[float]]:
        made: list[t.Any] = []
        factory: t.Callable[[int], t.Any] | None = None
        if constrained:
            inner = self._constraint_factory()

            def keep(prompt_len: int) -> t.Any:  # keep the processors, for their stats
                made.append(inner(prompt_len))
                return made[-1]

            factory = keep
        cands, gen_s = generate_candidates(self.model.model, self.model.tokenizer, prompts, self.decode,
                                           logits_processor_factory=factory, progress=progress, prefix=self.prefix)
        for proc in made:
            for key in self.constraint_stats:
                self.constraint_stats[key] += proc.stats.get(key, 0)
        return cands, gen_s

    def _choose(self, options: t.Sequence[str]) -> t.Any:
        t0 = time.perf_counter()
        pick = choose(options, self.schema, self.box, vote=self.vote, timeout_s=self.timeout_s, row_cap=self.row_cap)
        return _Pick(pick, time.perf_counter() - t0)

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
                                                   top_k=top_k, max_new_tokens=d.max_new_tokens)

    def close(self) -> None:
        self.box.close()


def _frozen_prefix(adapter: str | None) -> str:
    """How ``adapter`` was tuned against the base model's keys and values of the prompt's start: ``""``
    (it was not), ``"shared"`` (the whole schema, a start all questions share) or ``"heads"`` (the linked
    schema: each prompt's head)."""
    if not adapter:
        return ""
    from sqltune.tune.artifact import read_meta

    config = read_meta(adapter).get("config", {})
    if not config.get("frozen_prefix"):
        return ""
    return "heads" if config.get("prompt_budget_tokens") else "shared"
