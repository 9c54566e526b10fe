"""The one prompt builder, shared by training and inference so the two always match.

A prompt is a system message (who answers, in which dialect), the schema as exact DDL-like text
within a token budget (the whole schema when it fits, else the tables schema linking picks), the
relevant glossary entries, and the question. ``mode="none"`` leaves the schema out: for a tuned
model whose weights hold the schema, so the two can be compared. The model's own chat template is
used where it has one.

>>> from sqltune.schema import Schema, Table, Column
>>> s = Schema("shop", "duckdb", (Table("main", "orders", (Column("id", "INTEGER", "integer"),)),),
...            default_schema="main")
>>> b = PromptBuilder(s)
>>> [m["role"] for m in b.messages("How many orders?")]
['system', 'user']
>>> "CREATE TABLE orders" in b.messages("How many orders?")[1]["content"]
True
>>> PromptBuilder(s, config=PromptConfig(mode="none")).messages("How many orders?")[1]["content"]
'How many orders?'
"""

from __future__ import annotations

import dataclasses
import functools
import typing as t
from dataclasses import dataclass

from sqltune.errors import ConfigError, check_keys, did_you_mean
from sqltune.prompt.link import link
from sqltune.prompt.render import MAX_VALUES, render_table_text
from sqltune.schema import Schema

MODES = ("schema", "none")
#: Schema tokens in a prompt by default; a larger schema is linked per question. Measured with
#: qwen2.5-coder-0.5b on the 30-case subsets (benchmarks/results/prompt_budget.md): 600 tokens of
#: linked schema answer no worse than 1,200 or 3,000 (EX cpg 27% / 17% / 23%, biotech 10% / 3% / 7%:
#: differences of a few questions, within the noise of 30) and about four times faster than 3,000
#: (11 s a question against 40 s on 2 cores).
DEFAULT_BUDGET_TOKENS = 600
#: The version of the default prompt text; bump it when that text changes, so that cached evaluations
#: are asked again and finished adapters retrained. Keys made before it existed are version 1's: it
#: enters a key only when it is not "1".
PROMPT_VERSION = "1"
#: The version of how a prompt states the metrics a question names (1: their SQL). Bump it when that
#: text changes; it enters evaluation and tuning keys of schemas that define metrics when not "1".
METRIC_PROMPT_VERSION = "1"
#: The start of a schema fact's answer, written into its prompt (:meth:`PromptBuilder.fact_prompt`).
FACT_CUE = "Fact: "
#: Codes a table shows in its first, bare form (the whole list comes with the next form, where it fits).
BARE_VALUES = 8
#: How a linked schema fills the budget. ``whole_first`` (the default): each table whole in rank order,
#: its linked columns where the whole does not fit, skipped where those do not either. ``bare_first``:
#: every linked table in rank order in a bare form (linked and join columns, no descriptions, short
#: code lists), then each with descriptions and every code, then whole, as the budget allows. It shows
#: the gold SQL's tables far more often (cpg 57% -> 82% of cases), but the base 0.5B model then joins
#: tables it does not need and answers fewer questions (cpg EX 17% -> 11%), so it is an option.
LAYOUTS = ("whole_first", "bare_first")


@dataclass(frozen=True)
class PromptConfig:
    mode: str = "schema"
    budget_tokens: int = DEFAULT_BUDGET_TOKENS
    docs: bool = True
    values: bool = True
    glossary: bool = True
    max_linked_tables: int = 8
    layout: str = "whole_first"
    #: For each metric a question names, the joins that reach this many of the question's other linked
    #: tables from the metric's own (the dimension it is broken down by), under the metric's SQL. Off by
    #: default: on cpg's 26 metric questions the 0.5B model, tuned with them or not, did not use them.
    metric_joins: int = 0

    def __post_init__(self) -> None:
        if self.metric_joins < 0:
            raise ConfigError(f"Prompt metric_joins must not be negative, not {self.metric_joins}.")
        if self.budget_tokens < 0:
            raise ConfigError(f"Prompt budget_tokens must not be negative (0: the whole schema), not {self.budget_tokens}.")
        if self.mode not in MODES:
            raise ConfigError(f"Unknown prompt mode {self.mode!r}. {did_you_mean(self.mode, MODES)}".strip())
        if self.layout not in LAYOUTS:
            raise ConfigError(f"Unknown prompt layout {self.layout!r}. {did_you_mean(self.layout, LAYOUTS)}".strip())

    @classmethod
    def from_dict(cls, data: dict[str, t.Any]) -> PromptConfig:
        check_keys(cls, data, "prompt option")
        return cls(**data)


class PromptBuilder:
    """Builds chat messages and prompt strings for one schema."""

    def __init__(self, schema: Schema, tokenizer: t.Any = None, config: PromptConfig = PromptConfig()) -> None:
        self.schema = schema
        self.tokenizer = tokenizer
        self.config = config

    # ---------------------------------------------------------------- text
    def system(self) -> str:
        base = (f"You translate questions about the {self.schema.name} database into one DuckDB SQL query. "
                "Answer with the SQL only.")
        if self.config.mode == "schema":
            base += " Use only the tables and columns shown, spelled and quoted exactly as shown."
        return base

    def schema_text(self, question: str) -> str:
        """The schema within the token budget: all of it if it fits (or the budget is 0), else the linked part."""
        full = self._full_text()
        if not self.config.budget_tokens or self._full_fits:
            return full
        linked = link(self.schema, question, max_tables=self.config.max_linked_tables)
        cols = {k: set(linked.columns.get(k, ())) for k in linked.tables}
        budget, used = self.config.budget_tokens, 0
        shown: dict[t.Any, str] = {}
        if self.config.layout == "whole_first":
            for key in linked.tables:
                for columns in (None, cols[key]):
                    text = self._table_text(self.schema.table(key), columns)
                    cost = self.count_tokens(text)
                    if used + cost <= budget:
                        shown[key], used = text, used + cost
                        break
            return "\n\n".join(shown.values())
        chosen = set(linked.tables)
        for j in self._joins:  # the columns that join two shown tables come with them
            if j.from_table in chosen and j.to_table in chosen:
                cols[j.from_table].update(j.from_columns)
                cols[j.to_table].update(j.to_columns)
        forms = ((False, False, BARE_VALUES), (False, True, MAX_VALUES), (True, True, MAX_VALUES))  # whole, docs, codes
        for level, (whole, docs, codes) in enumerate(forms):
            for key in linked.tables:
                if level and key not in shown:
                    continue
                text = self._table_text(self.schema.table(key), None if whole else cols[key], docs, codes)
                cost = self.count_tokens(text) - (self.count_tokens(shown[key]) if key in shown else 0)
                if used + cost <= budget:
                    shown[key], used = text, used + cost
        return "\n\n".join(shown[k] for k in linked.tables if k in shown)

    def glossary_text(self, question: str) -> str:
        """The glossary terms and metrics the question names; a metric shows the SQL that computes it."""
        if not self.config.glossary or not (self.schema.glossary or self.schema.metrics):
            return ""
        from sqltune.introspect.metrics import metric_text, metrics_in

        metrics = metrics_in(self.schema, question)
        named = {n.lower() for m in metrics for n in m.names}
        q = f" {question.lower()} "
        hits = [g for g in self.schema.glossary if (f" {g.term.lower()}" in q or f"{g.term.lower()} " in q)
                and g.term.lower() not in named]
        lines = []
        for m in metrics:
            lines.append(f"- {metric_text(m)}")
            lines += [f"- {m.name} by {key}: {joins}" for key, joins in self._dimension_joins(m, question)]
        return "\n".join(lines + [f"- {g.term}: {g.means}" for g in hits])

    def _dimension_joins(self, metric: t.Any, question: str) -> list[tuple[t.Any, str]]:
        """``(table, JOIN clauses)`` from ``metric``'s tables to the question's top linked other tables."""
        from sqltune.introspect.metrics import dimension_joins

        out: list[tuple[t.Any, str]] = []
        if not self.config.metric_joins:
            return out
        for key in link(self.schema, question, max_tables=self.config.max_linked_tables).tables:
            joins = dimension_joins(self.schema, metric, key)
            if not joins or any(prev.startswith(joins) for _, prev in out):
                continue  # a table on the way to one already shown
            out = [(k, prev) for k, prev in out if not joins.startswith(prev)]
            if len(out) < self.config.metric_joins:
                out.append((key, joins))
        return out

    def user(self, question: str, examples: t.Sequence[tuple[str, str]] = ()) -> str:
        """The user turn; ``examples`` are (question, SQL) pairs shown before the question (few-shot)."""
        shots = "".join(f"Question: {q}\nSQL: {sql}\n\n" for q, sql in examples)
        if shots:
            shots = f"Examples:\n{shots}"
        if self.config.mode == "none":
            return f"{shots}Question: {question}" if shots else question
        text = f"Schema:\n{self.schema_text(question)}\n"
        gloss = self.glossary_text(question)
        if gloss:
            text += f"\nGlossary:\n{gloss}\n"
        return text + (f"\n{shots}" if shots else "\n") + f"Question: {question}"

    def messages(self, question: str, examples: t.Sequence[tuple[str, str]] = ()) -> list[dict[str, str]]:
        return [{"role": "system", "content": self.system()},
                {"role": "user", "content": self.user(question, examples)}]

    def prompt(self, question: str, examples: t.Sequence[tuple[str, str]] = ()) -> str:
        """The full prompt string, ending where the model's SQL begins."""
        return self._render(self.messages(question, examples), "SQL: ")

    def prompt_for(self, question: str, kind: str = "pair") -> str:
        """The prompt of a training item: :meth:`fact_prompt` for a schema fact, else :meth:`prompt`."""
        return self.fact_prompt(question) if kind == "fact" else self.prompt(question)

    def example(self, question: str, sql: str, kind: str = "pair") -> tuple[str, str]:
        """A training example: (prompt, target); the loss falls on the target only.

        ``kind="fact"`` (a schema fact: "Which column of X holds Y?" → ``"COL"``) uses
        :meth:`fact_prompt`, so the SQL task never learns to answer with a bare fact.
        """
        eos = getattr(self.tokenizer, "eos_token", None) or ""
        return self.prompt_for(question, kind), sql.strip() + eos

    def fact_prompt(self, question: str) -> str:
        """The prompt of a schema-fact item: its own system message, no schema text (the fact is the answer),
        and the answer's first words ``Fact:`` already written (:data:`FACT_CUE`).

        The cue is what keeps facts out of the SQL task: trained without it, the model's first answer
        token after a question is the fact itself, and a model trained hard on facts (``fact_phase``)
        answered SQL questions that read like lookups with a bare value (``'GUM'`` for "the code of
        brand …"; 2 of 150 cpg cases). With the cue, no fact trains the first token of an answer.
        """
        msgs = [{"role": "system", "content": f"You state facts about the {self.schema.name} database's schema, "
                                              "spelled exactly. Answer with the fact only."},
                {"role": "user", "content": question}]
        return self._render(msgs, "") + FACT_CUE  # after the assistant turn's start, or the plain text's last line

    def _render(self, msgs: list[dict[str, str]], cue: str) -> str:
        """Chat messages as the model's chat template writes them, else as plain text ending in ``cue``."""
        tok = self.tokenizer
        if tok is not None and getattr(tok, "chat_template", None):
            return str(tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True))
        return f"{msgs[0]['content']}\n\n{msgs[1]['content']}\n{cue}"

    # ------------------------------------------------------------- helpers
    def count_tokens(self, text: str) -> int:
        if self.tokenizer is None:
            return max(1, len(text) // 4)
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    @functools.cached_property
    def _joins(self) -> tuple[t.Any, ...]:
        return self.schema.joins

    def _table_text(self, table: t.Any, columns: t.Collection[str] | None, docs: bool = True,
                    max_values: int = MAX_VALUES) -> str:
        return render_table_text(self.schema, table, columns, self._joins, docs=self.config.docs and docs,
                                 values=self.config.values, max_values=max_values)

    @functools.cached_property
    def _full_fits(self) -> bool:
        return self.count_tokens(self._full_text()) <= self.config.budget_tokens

    @functools.cached_property
    def _full(self) -> str:
        return "\n\n".join(self._table_text(tb, None) for tb in self.schema.tables)

    def _full_text(self) -> str:
        return self._full
