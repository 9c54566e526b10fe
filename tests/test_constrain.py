"""Schema-constrained decoding: no invented identifier can be generated, every gold query can.

The models are tiny random Llamas over byte-level BPE tokenizers trained here in a fraction of a
second (like GPT-2's: words, numbers and punctuation runs are pre-split; a second tokenizer without
that split has tokens that run across identifiers, quotes and dots). A :class:`Steer` processor
rigs the model: it pushes each row toward a scripted answer while the row follows it, then toward
the end of sequence.
"""

from __future__ import annotations

import typing as t

import numpy as np
import pytest
import sqlglot
import torch
from transformers import LlamaConfig, LlamaForCausalLM, LogitsProcessor, LogitsProcessorList

from sqltune.grade.invented import invented_identifiers
from sqltune.infer.constrain import SchemaConstraint, exact_top_k
from sqltune.schema import Column, ColumnProfile, Schema, Table

# ----------------------------------------------------------------------------------- fixtures
STATUS = Column("status", "VARCHAR", "text", profile=ColumnProfile(values=("OPEN", "SHIPPED")))
SHOP = Schema("shop", "duckdb", (
    Table("main", "orders", (Column("id", "INTEGER", "integer"), STATUS, Column("amount", "DOUBLE", "float"),
                             Column("customer_id", "INTEGER", "integer"))),
    Table("main", "customers", (Column("id", "INTEGER", "integer"), Column("name", "VARCHAR", "text"))),
    Table("sales", "OrderHeader", (Column("OrderDate", "DATE", "date"), Column("rtl_id", "INTEGER", "integer"),
                                   Column("CHNL_CD", "VARCHAR", "text"))),
), default_schema="main")

GENERIC = ["SELECT count(*) FROM orders WHERE status = 'OPEN'", "SELECT o.id, c.name FROM orders o JOIN customers c "
           "ON c.id = o.customer_id", 'SELECT h."OrderDate", h.rtl_id FROM sales."OrderHeader" h WHERE h.rtl_id = 3',
           "SELECT orderz, ordered, order_id FROM orders ORDER BY amount DESC LIMIT 5", "Question: How many? SQL:"]


def bpe_tokenizer(corpus: t.Sequence[str], vocab_size: int = 2000, regex: bool = True) -> t.Any:
    """A byte-level BPE tokenizer trained on ``corpus`` (``regex``: GPT-2's pre-split)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=regex)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<pad>", "</s>", "<s>"], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", bos_token="<s>")


@pytest.fixture(autouse=True)
def _one_thread() -> t.Iterator[None]:
    """Tiny models: one thread (a second one only adds synchronisation, badly so on a loaded machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def evalsets() -> dict[str, tuple[t.Any, Schema]]:
    from sqltune.evalset import load_evalset
    from sqltune.targets import resolve_target

    out = {}
    for name in ("cpg", "biotech"):
        ev = load_evalset(name)
        out[name] = (ev, resolve_target(sample=ev.sample)[1])
    return out


@pytest.fixture(scope="module")
def corpus(evalsets: dict[str, tuple[t.Any, Schema]]) -> list[str]:
    return GENERIC + [g for ev, _ in evalsets.values() for case in ev.cases for g in case.gold_sql]


@pytest.fixture(scope="module")
def tok(corpus: list[str]) -> t.Any:
    return bpe_tokenizer(corpus)


@pytest.fixture(scope="module")
def tok_across(corpus: list[str]) -> t.Any:
    """Tokens that run across words, dots, quotes and parentheses (no pre-split)."""
    return bpe_tokenizer(corpus, regex=False)


def tiny_model(tok: t.Any, peak: float = 1.0, seed: int = 0) -> t.Any:
    """A 2-layer random Llama over ``tok``; ``peak`` scales its logits apart (so no near-ties)."""
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                      pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    model = LlamaForCausalLM(cfg).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(peak)
    return model


class Steer(LogitsProcessor):
    """Rigs a model: it prefers to write ``targets[0]``, else ``targets[1]`` … (a bonus for the next token of each
    target the row's text still begins), and to end a row that finished one (or that follows none of them)."""

    def __init__(self, tok: t.Any, targets: t.Sequence[str], start: int, eos_bias: float = 20.0) -> None:
        from sqltune.infer.vocab_trie import token_strings

        strings, special = token_strings(tok)
        self.ids = {s: i for i, s in enumerate(strings) if s and i not in special}
        self.longest = max(map(len, self.ids))
        self.tok, self.targets, self.start, self.eos, self.eos_bias = tok, targets, start, tok.eos_token_id, eos_bias

    def next_token(self, rest: str) -> int:
        for n in range(min(len(rest), self.longest), 0, -1):
            if rest[:n] in self.ids:
                return self.ids[rest[:n]]
        raise AssertionError(rest)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        scores = scores.clone()
        for r, row in enumerate(input_ids[:, self.start:].tolist()):
            text = self.tok.decode(row, skip_special_tokens=True)
            steered = False
            for j, target in enumerate(self.targets):
                bias = 100.0 - 40.0 * j
                if target == text:
                    scores[r, self.eos] += bias
                elif target.startswith(text):
                    scores[r, self.next_token(target[len(text):])] += bias
                else:
                    continue
                steered = True
            if not steered:
                scores[r, self.eos] += self.eos_bias
        return scores


def generate(model: t.Any, tok: t.Any, prompts: t.Sequence[str], schema: Schema | None = None,
             steer: t.Sequence[str] = (), eos_bias: float = 20.0, top_k: int | None = None, num_beams: int = 1,
             max_new_tokens: int = 40,
             **kw: t.Any) -> list[str]:
    """Left-padded generation, constrained when ``schema`` is given; the decoded answers."""
    tok.padding_side = "left"
    enc = tok(list(prompts), return_tensors="pt", padding=True)
    width = enc.input_ids.shape[1]
    procs: list[t.Any] = []
    if steer:
        procs.append(Steer(tok, steer, width, eos_bias=eos_bias))
    if schema is not None:
        hint = kw.pop("max_new_tokens_hint", None)  # the budget the constraint finishes within
        keep = kw.pop("keep", [])
        procs.append(SchemaConstraint(schema, tok, prompt_lengths=width, top_k=top_k, max_new_tokens=hint, **kw))
        keep.append(procs[-1])
    with torch.no_grad():
        out = model.generate(**enc, logits_processor=LogitsProcessorList(procs), max_new_tokens=max_new_tokens,
                             do_sample=False, num_beams=num_beams, pad_token_id=tok.pad_token_id,
                             eos_token_id=tok.eos_token_id)
    return [s.strip() for s in tok.batch_decode(out[:, width:], skip_special_tokens=True)]


def clean(sql: str, schema: Schema) -> bool:
    inv = invented_identifiers(sql, schema)
    return not inv.unparseable and inv.count == 0 and not inv.case_mismatches


PROMPT = "Question: How many? SQL:"


# ----------------------------------------------------------------------------------- 1. rigged model
@pytest.mark.parametrize("top_k", [None, 1])
def test_rigged_model_invents_a_table_only_unconstrained(tok: t.Any, top_k: int | None) -> None:
    """The model prefers ``orderz`` to ``orders``: unconstrained it writes it, constrained it cannot."""
    model = tiny_model(tok)
    bad, good = "SELECT count(*) FROM orderz WHERE amount > 3", "SELECT count(*) FROM orders WHERE amount > 3"
    [free] = generate(model, tok, [PROMPT], steer=[bad, good])
    assert free == bad and invented_identifiers(free, SHOP).tables == ("orderz",)
    [held] = generate(model, tok, [PROMPT], SHOP, steer=[bad, good], top_k=top_k)
    assert held == good
    sqlglot.parse_one(held, read="duckdb")
    assert clean(held, SHOP)


def test_rigged_model_without_a_fallback_still_writes_a_clean_query(tok: t.Any) -> None:
    """With its table masked and no other target, a (random) model goes its own way: every text it writes is a
    prefix the machine accepts, never the masked name nor ``FROM`` glued into an alias, and clean where it ends."""
    bad = "SELECT count(*) FROM orderz"
    machine = SchemaConstraint(SHOP, tok).machine
    finished = 0
    for seed in range(4):
        [held] = generate(tiny_model(tok, seed=seed), tok, [PROMPT], SHOP, steer=[bad], top_k=1, max_new_tokens=40)
        assert "orderz" not in held and held.startswith("SELECT count(*) FROM") and not held[20:21].isalnum(), held
        st = machine.feed(machine.initial, held)
        assert st is not None, held
        if machine.can_end(st) and len(tok.encode(held)) < 40:
            finished += 1
            assert clean(held, SHOP), held
    assert finished  # not vacuous


def test_rigged_model_invents_a_column_only_unconstrained(tok: t.Any) -> None:
    model = tiny_model(tok)
    bad, good = "SELECT count(*) FROM orders o WHERE o.total > 3", "SELECT count(*) FROM orders o WHERE o.amount > 3"
    assert generate(model, tok, [PROMPT], steer=[bad, good]) == [bad]
    assert generate(model, tok, [PROMPT], SHOP, steer=[bad, good], top_k=1) == [good]
    assert generate(model, tok, [PROMPT], SHOP, steer=[bad, good]) == [good]


# ----------------------------------------------------------------------------------- 2. every gold
@pytest.mark.parametrize("name", ["cpg", "biotech"])
def test_every_gold_passes_the_processor_token_by_token(name: str, evalsets: dict[str, t.Any], tok: t.Any) -> None:
    """All golds of an evalset as one batch through the processor (full masks): no gold token is ever masked."""
    ev, schema = evalsets[name]
    golds = [(case.id, g) for case in ev.cases for g in case.gold_sql]
    assert len(golds) >= len(ev.cases) >= 150
    rows = [tok.encode(g) + [tok.eos_token_id] for _, g in golds]
    width = max(map(len, rows))
    ids = torch.tensor([r + [tok.eos_token_id] * (width - len(r)) for r in rows])
    prompt = torch.tensor(tok.encode(PROMPT)).repeat(len(rows), 1)
    proc = SchemaConstraint(schema, tok, prompt_lengths=prompt.shape[1])
    scores = torch.zeros(len(rows), len(tok))
    masked: list[str] = []
    for i in range(width):
        out = proc(torch.cat([prompt, ids[:, :i]], dim=1), scores)
        nxt = ids[:, i]
        for r in torch.nonzero(out[torch.arange(len(rows)), nxt] == float("-inf")).flatten().tolist():
            masked.append(f"{golds[r][0]}: {tok.decode(rows[r][:i])!r} + {tok.decode(rows[r][i:i + 1])!r}")
            ids[r, i:] = tok.eos_token_id  # reported once
    assert not masked, "\n".join(masked)


@pytest.mark.parametrize("name", ["cpg", "biotech"])
def test_every_gold_passes_with_tokens_across_words(name: str, evalsets: dict[str, t.Any], tok_across: t.Any) -> None:
    """Tokens such as ``h."`` or ``ID = r.`` cross identifiers: each gold token is still allowed."""
    ev, schema = evalsets[name]
    proc = SchemaConstraint(schema, tok_across, literals=True)
    for case in ev.cases:
        for gold in case.gold_sql:
            ids = tok_across.encode(gold) + [tok_across.eos_token_id]
            for i, x in enumerate(ids):
                st = proc.state(tuple(ids[:i]))
                assert proc.allows(st, x), f"{case.id}: {tok_across.decode(ids[:i])!r} + {tok_across.decode([x])!r}"


@pytest.mark.parametrize("across", [False, True])
def test_masks_agree_with_token_by_token_checks(evalsets: dict[str, t.Any], tok: t.Any, tok_across: t.Any,
                                                across: bool) -> None:
    """The trie walk allows exactly the tokens the state machine accepts (along golds and random constrained walks):
    every token a mask allows, and a sample of the others."""
    tk = tok_across if across else tok
    ev, schema = evalsets["biotech"]
    proc = SchemaConstraint(schema, tk, literals=True)
    rng = np.random.default_rng(7)
    states = []
    for case in ev.cases[::40]:
        ids = tk.encode(case.gold_sql[0])
        states += [proc.state(tuple(ids[:i])) for i in range(0, len(ids), 3)]
    for _ in range(3):  # random walks over allowed tokens
        ids = []
        for _ in range(16):
            st = proc.state(tuple(ids))
            states.append(st)
            allowed = np.flatnonzero(proc.mask(st))
            ids.append(int(rng.choice(allowed)))
    for st in states:
        mask = proc.mask(st)
        some = np.union1d(np.flatnonzero(mask), rng.choice(len(mask), 300, replace=False))
        slow = np.array([proc.allows(st, int(i)) for i in some])
        if st is not None and not slow.any():  # a dead end ends the row
            slow[some == tk.eos_token_id] = True
        assert (mask[some] == slow).all(), [tk.decode([i]) for i in some[mask[some] != slow]]


def test_random_constrained_queries_invent_nothing(evalsets: dict[str, t.Any], tok: t.Any) -> None:
    """Any finished query the masks let through names only real tables, columns and aliases: random walks over
    allowed tokens from random cuts of the golds (so they stray in realistic places)."""
    ev, schema = evalsets["cpg"]
    proc = SchemaConstraint(schema, tok)
    rng = np.random.default_rng(3)
    eos = tok.eos_token_id
    done = 0
    for case in ev.cases[::3]:
        gold = tok.encode(case.gold_sql[0])
        ids = gold[:int(rng.integers(0, len(gold)))]
        for _ in range(30):
            mask = proc.mask(proc.state(tuple(ids)))
            if mask[eos] and rng.random() < 0.6:
                ids.append(eos)
                break
            ids.append(int(rng.choice(np.flatnonzero(mask))))
            if ids[-1] == eos:
                break
        if ids and ids[-1] == eos:
            done += 1
            sql = tok.decode(ids[:-1])
            inv = invented_identifiers(sql, schema)
            assert inv.count == 0 and not inv.case_mismatches, (sql, inv)
    assert done >= 5  # not vacuous: several walks finished


# ----------------------------------------------------------------------------------- 3. quoting and case
@pytest.mark.parametrize(("bad", "good"), [
    ('SELECT count(*) FROM sales."OrderHeader" h WHERE h."orderdate" IS NULL',  # a quoted name matches exactly
     'SELECT count(*) FROM sales."OrderHeader" h WHERE h."OrderDate" IS NULL'),
    ('SELECT count(*) FROM sales."OrderHeader" h WHERE h.OrderDate IS NULL',  # a mixed-case name is quoted
     'SELECT count(*) FROM sales."OrderHeader" h WHERE h."OrderDate" IS NULL'),
    ('SELECT count(*) FROM sales.OrderHeader', 'SELECT count(*) FROM sales."OrderHeader"'),
    ('SELECT count(*) FROM "OrderHeader"', 'SELECT count(*) FROM "sales"."OrderHeader"'),  # not in the default schema
])
def test_quoted_mixed_case_identifiers_survive(tok: t.Any, bad: str, good: str) -> None:
    model = tiny_model(tok)
    assert generate(model, tok, [PROMPT], steer=[bad, good]) == [bad]
    assert generate(model, tok, [PROMPT], SHOP, steer=[bad, good], top_k=1) == [good]
    assert generate(model, tok, [PROMPT], SHOP, steer=[good]) == [good]
    assert clean(good, SHOP)


def test_spelling_rules() -> None:
    m = SchemaConstraint(SHOP, _char_tokenizer()).machine
    assert m.accepts('SELECT "OrderDate", "CHNL_CD", CHNL_CD, chnl_cd FROM sales."OrderHeader"') is False  # chnl_cd
    assert m.accepts('SELECT "OrderDate", "CHNL_CD", CHNL_CD FROM sales."OrderHeader"')
    assert m.accepts('SELECT x.id FROM orders AS x WHERE x.status IN (\'OPEN\') ORDER BY 1')
    assert not m.accepts("SELECT x.id FROM orders AS y")  # the alias x is never defined
    assert not m.accepts("SELECT id FROM customers c JOIN orders o ON o.customer_id = c.idx")
    assert m.accepts("WITH t AS (SELECT id AS n FROM orders) SELECT n FROM t")
    assert not m.accepts("WITH t AS (SELECT id AS n FROM orders) SELECT id FROM t")
    # one alias for two sources: DuckDB takes it, but o.id is then ambiguous (and the grader cannot scope it)
    assert not m.accepts("SELECT o.id FROM orders AS o JOIN customers AS o ON TRUE")
    assert not m.accepts("SELECT o.id FROM orders o JOIN customers o ON TRUE")
    assert m.accepts("SELECT o.id FROM orders AS o JOIN customers AS c ON c.id = o.customer_id")
    # a table named without an alias qualifies columns only as the schema spells it; aliases in any case
    assert m.accepts('SELECT "OrderHeader"."OrderDate" FROM sales."OrderHeader"')
    assert not m.accepts('SELECT orderheader."OrderDate" FROM sales."OrderHeader"')
    assert not m.accepts("SELECT ORDERS.id FROM orders") and m.accepts("SELECT orders.id FROM orders")
    assert m.accepts("SELECT O.id FROM orders AS o")


def test_a_keyword_glued_to_the_next_word_is_no_alias() -> None:
    """A model whose preferred token is masked glues ``WHERE`` to the next word (``WHERENOT``, ``WHERE_NOT``);
    as an alias that parses, so it must be refused. Lower-case aliases, listed names and keywords that merely
    begin with another keyword (``NOTNULL``, ``INNER``) still pass."""
    schema = Schema("s", "duckdb", (Table("main", "orders", (Column("id", "INTEGER", "integer"),
                                                             Column("ORDER_ID", "INTEGER", "integer"))),),
                    default_schema="main")
    m = SchemaConstraint(schema, _char_tokenizer()).machine
    for bad in ('SELECT id FROM orders WHERENOT (id)', "SELECT id FROM orders WHERE_NOT INNER JOIN orders o ON o.id = 1",
                "SELECT id FROM orders ORDERS", "SELECT id AS SELECTED FROM orders", "SELECT id FROM orders AS LEFTX"):
        assert not m.accepts(bad), bad
    for good in ("SELECT id FROM orders WHERE NOT id IS NULL", "SELECT id FROM orders whereabouts",
                 'SELECT id FROM orders "ORDERS"', "SELECT ORDER_ID FROM orders INNER JOIN orders o ON o.id = 1",
                 "SELECT id FROM orders WHERE id NOTNULL", "SELECT ORDER_ID AS Order_n FROM orders"):
        assert m.accepts(good), good


@pytest.mark.parametrize("prefix", [
    "SELECT h.CHNL_CDend",  # found: T2.UOM_CDend, a qualified forward reference
    "SELECT o.id FROM orders AS T1INNER",  # found: AS T1INNER JOIN
    "SELECT amount AS NET_AMTELSE",  # found: T1.NET_PRCELSE
    "SELECT h.Line_IDFROM",
    "SELECT CHNL_CD1",  # found: SKU_NBR1, a listed column with digits glued on
    "SELECT h.CHNL_CD1",
])
def test_a_keyword_glued_onto_a_name_ends_no_free_word(prefix: str) -> None:
    """Found in constrained output cut at its token budget: a model whose blank is masked glues the next keyword
    onto the name before it (``NET_PRCELSE``, ``Order_IDFROM``, ``T2.UOM_CDend``) or digits onto a column
    (``SKU_NBR1``); as free words (aliases, forward references) these parse, and the query derails after them.
    The word may go on (``T1INNERx``) but not end there."""
    m = SchemaConstraint(SHOP, _char_tokenizer()).machine
    assert m.feed(m.initial, prefix) is not None
    assert m.feed(m.initial, prefix + " ") is None and m.feed(m.initial, prefix + ",") is None
    assert m.feed(m.initial, prefix + "x ") is not None


@pytest.mark.parametrize(("prefix", "refused"), [
    ("SELECT id, OrderD", "OrderD"),  # found: SkuDesc unquoted, then SkuDescFROM… until the budget ran out
    ("SELECT h.Orde", "Orde"),  # qualified: the same
    ("SELECT id, CUSTOMER_ID", "CUSTOMER_ID"),  # a whole column in another spelling
    ("SELECT h.chnl_cd", "chnl_cd"),
])
def test_a_column_in_a_spelling_that_cannot_end_is_refused_as_it_is_written(prefix: str, refused: str) -> None:
    """A column spelled as it may not be written (unquoted mixed case, another case) can never end as a free
    word there, only go on, so a model glues the next keyword on. It is refused once it is recognisable; the
    listed spellings, keywords, and derived outputs that merely begin like a column stay free."""
    m = SchemaConstraint(SHOP, _char_tokenizer()).machine
    assert m.feed(m.initial, prefix) is None
    assert m.feed(m.initial, prefix[:-len(refused)] + refused[:2]) is not None  # too short to tell yet
    for good in ('SELECT CHNL_CD, "OrderDate" FROM sales."OrderHeader"',
                 'SELECT h.CHNL_CD FROM sales."OrderHeader" h',
                 "SELECT customer_id, CUST_n FROM (SELECT customer_id, 1 AS CUST_n FROM orders) AS t",
                 'SELECT t.chnl FROM (SELECT CHNL_CD AS chnl FROM sales."OrderHeader") AS t',
                 "SELECT ORD.id FROM orders AS ORD"):
        assert m.accepts(good), good


def test_a_schema_is_no_qualifier_defined_later() -> None:
    """Found: ``SELECT mdm.SKU_SKU_NBR … FROM mdm."SKU"``: a SELECT list qualifier is an alias the FROM clause
    must define, and a model that writes a schema there never does, so its query never ends."""
    m = SchemaConstraint(SHOP, _char_tokenizer()).machine
    assert m.feed(m.initial, "SELECT sales.") is None and m.feed(m.initial, "SELECT Main.") is None
    assert m.accepts('SELECT s.CHNL_CD FROM sales."OrderHeader" s') and m.feed(m.initial, "SELECT salesx.") is not None


def test_masks_refuse_a_column_in_a_spelling_that_cannot_end() -> None:
    from sqltune.infer.vocab_trie import TokenTrie

    m = SchemaConstraint(SHOP, _char_tokenizer()).machine
    vocab = [" Orde", " OrderDate", ' "OrderDate"', " ORDE", " chnl_cd", " chnl", " CHNL_CD", " chnl_cdx"]
    st = m.feed(m.initial, "SELECT id,")
    allowed = {vocab[i] for i in TokenTrie(vocab).allowed(m, st).nonzero()[0]}
    assert allowed == {' "OrderDate"', " ORDE", " chnl", " CHNL_CD"}
    assert allowed == {v for v in vocab if m.feed(st, v) is not None}


def test_names_that_merely_end_like_a_keyword_stay_free_words() -> None:
    m = SchemaConstraint(SHOP, _char_tokenizer()).machine
    for good in ("SELECT amount AS REORDER, id AS total_spend, id AS EFF_FROM, id AS WINNER FROM orders",
                 "SELECT n_from FROM (SELECT count(*) AS n_from FROM orders) AS t",
                 "SELECT t.LVL1 FROM (SELECT id AS LVL1 FROM orders) AS t", 'SELECT CHNL_CD FROM sales."OrderHeader"'):
        assert m.accepts(good), good


@pytest.mark.parametrize(("sql", "ok"), [
    ("SELECT id FROM orders WHERE id > 1 GROUP BY id HAVING count(*) > 1 ORDER BY id LIMIT 2 OFFSET 1", True),
    ("SELECT id FROM orders OFFSET 1 LIMIT 2", True),
    ("SELECT id FROM orders LIMIT 1 LIMIT 2", False),  # each clause once
    ("SELECT id FROM orders LIMIT 1 OFFSET 1 LIMIT 2", False),
    ("SELECT id FROM orders ORDER BY id ORDER BY id", False),
    ("SELECT id FROM orders GROUP BY id WHERE id > 1", False),  # in DuckDB's order
    ("SELECT id FROM orders ORDER BY id UNION SELECT id FROM customers", False),  # ORDER BY ends a set operation
    ("SELECT id FROM orders UNION SELECT id FROM customers ORDER BY id", True),
    ("SELECT id FROM orders WHERE status IN ('OPEN' ORDER BY id)", False),  # ORDER BY only in a call or OVER
    ("SELECT id FROM orders WHERE (id ORDER BY id) > 1", False),
    ("SELECT string_agg(status, ',' ORDER BY id) FROM orders", True),
    ("SELECT row_number() OVER (ORDER BY id) FROM orders", True),
    ("SELECT CAST(amount AS DECIMAL(10, 2)) FROM orders", True),
    ("SELECT CAST(amount) FROM orders", False),  # CAST needs AS type
    ("SELECT CAST(amount AS INT AS INT) FROM orders", False),
    ("SELECT CAST(amount AS amount_x FROM orders", False),  # an alias is no type
    ("SELECT amount::INTEGER, CAST(id AS VARCHAR) FROM orders", True),
    ("SELECT CAST(sum(amount) AS DOUBLE FROM orders", False),  # no query FROM inside parentheses
    ("SELECT id FROM orders WHERE id > 1 FROM customers", False),  # nor after WHERE
    ("SELECT o.id FROM orders o JOIN customers c WHERE o.id = 1", False),  # a join owes its ON or USING
    ("SELECT o.id FROM orders o LEFT JOIN customers c", False),
    ("SELECT o.id FROM orders o JOIN customers c, customers e", False),
    ("SELECT o.id FROM orders o JOIN customers c ON o.id = c.id JOIN orders d", False),
    ("SELECT o.id FROM orders o LEFT OUTER JOIN customers c ON o.id = c.id, customers e", True),
    ("SELECT o.id FROM orders o JOIN customers c USING (id) WHERE o.id = 1", True),
    ("SELECT o.id FROM orders o CROSS JOIN customers c", True),  # these take no condition
    ("SELECT o.id FROM orders o NATURAL LEFT JOIN customers c", True),
    ("SELECT o.id FROM orders o CROSS JOIN customers c ON true", False),
    ("SELECT o.id FROM orders o ON true", False),
    ("SELECT o.id FROM orders o JOIN customers c ON o.id = c.id ON true", False),
])
def test_clause_order_and_cast(sql: str, ok: bool) -> None:
    """Found in a tuned model's constrained output: LIMIT 100 LIMIT 200, an IN list running into ORDER BY,
    CAST('100') -- text DuckDB cannot parse, so the grader could not check its identifiers."""
    import duckdb

    m = SchemaConstraint(SHOP, _char_tokenizer()).machine
    assert m.accepts(sql) is ok
    con = duckdb.connect()
    con.execute("CREATE TABLE orders (id INT, status VARCHAR, amount DOUBLE, customer_id INT);"
                "CREATE TABLE customers (id INT, name VARCHAR)")
    try:
        con.execute(sql)
        parsed = True
    except duckdb.Error:
        parsed = False
    assert parsed is ok  # the machine agrees with DuckDB


@pytest.mark.parametrize(("sql", "ok"), [
    ("SELECT a.id FROM orders a JOIN orders b ON b.id = a.id", True),  # a self-join
    ("SELECT a.id FROM orders a JOIN orders b ON b.id = a.id JOIN orders c ON c.id = b.id", False),
    ("SELECT a.id FROM orders a, orders b, orders c", False),
    ("SELECT a.id FROM orders a JOIN orders b ON b.id = a.id WHERE a.id IN (SELECT id FROM orders)", True),
    ("SELECT id FROM orders WHERE id IN (SELECT id FROM orders WHERE id IN (SELECT id FROM orders))", True),
    ("SELECT id FROM orders WHERE id IN (SELECT id FROM orders WHERE id IN (SELECT id FROM orders "
     "WHERE id IN (SELECT id FROM orders)))", False),  # four deep
    ("SELECT n FROM (SELECT n FROM (SELECT count(*) AS n FROM orders) x) y", True),
    ("SELECT n FROM (SELECT n FROM (SELECT n FROM (SELECT count(*) AS n FROM orders) x) y) z", False),
    ("WITH a AS (SELECT id FROM orders WHERE id IN (SELECT id FROM customers)) SELECT id FROM a", True),
])
def test_runaway_limits(sql: str, ok: bool) -> None:
    """Found in a tuned model's constrained output, cut at its token budget: `JOIN t AS m … JOIN t AS n … JOIN t
    AS o …` and `IN (SELECT … IN (SELECT … IN (…`. A table at most twice in one FROM clause, queries at most
    three deep; Limits(None, None) lifts both (DuckDB takes all of these)."""
    from sqltune.infer.sql_state import Limits

    assert SchemaConstraint(SHOP, _char_tokenizer()).machine.accepts(sql) is ok
    assert SchemaConstraint(SHOP, _char_tokenizer(), limits=Limits(None, None)).machine.accepts(sql)


def test_joins_take_their_condition_before_the_next_join() -> None:
    """Found in constrained output cut at its token budget: `JOIN mdm."BRAND" ASOF JOIN mdm."SKU" ASOF JOIN …`,
    joins chained without conditions. DuckDB parses right-nested `a JOIN b JOIN c ON … ON …`, but no one means
    it and a model writing it never ends its query: a join takes its ON or USING right after its source."""
    m = SchemaConstraint(SHOP, _char_tokenizer()).machine
    assert m.feed(m.initial, "SELECT o.id FROM orders o JOIN customers c ") is not None
    for nxt in ("JOIN", "ASOF", "LEFT", ",", "WHERE", ")"):
        assert m.feed(m.initial, f"SELECT o.id FROM orders o JOIN customers c {nxt}") is None, nxt
    assert m.accepts("SELECT o.id FROM orders o JOIN customers c ON o.customer_id = c.id JOIN orders d ON true")


def test_masks_offer_no_used_up_table_or_deeper_query(tok: t.Any) -> None:
    """The limits act in the masks as in the machine: no dead end, and what is refused is never offered."""
    proc = SchemaConstraint(SHOP, tok)
    deep = "SELECT id FROM orders WHERE id IN (SELECT id FROM orders WHERE id IN (SELECT id FROM orders WHERE id IN ("
    for prefix in ("SELECT a.id FROM orders a JOIN orders b ON b.id = a.id JOIN", deep,
                   "SELECT n FROM (SELECT n FROM (SELECT n FROM"):
        st = proc.state(tuple(tok.encode(prefix)))
        assert st is not None, prefix
        mask = proc.mask(st)
        slow = np.array([proc.allows(st, i) for i in range(len(mask))])
        assert mask.any() and (mask == slow).all(), prefix
    st = proc.state(tuple(tok.encode("SELECT a.id FROM orders a JOIN orders b ON b.id = a.id JOIN")))
    offered = {tok.decode([i]).strip() for i in np.flatnonzero(proc.mask(st))}
    assert "customers" in offered and "orders" not in offered
    st = proc.state(tuple(tok.encode(deep)))
    assert not any(tok.decode([i]).strip().upper().startswith("SEL") for i in np.flatnonzero(proc.mask(st)))


def test_masks_refuse_glued_keywords_as_the_machine_does(tok: t.Any) -> None:
    """Where a word may be a free alias that begins with a keyword, the token masks and the machine agree."""
    proc = SchemaConstraint(SHOP, tok)
    for prefix in ("SELECT id FROM orders", "SELECT id FROM orders WHERE", "SELECT id FROM orders ORDER",
                   "SELECT id FROM orders AS", "SELECT count(*) AS", "SELECT count(*) AS NOT",
                   "SELECT count(*) AS T1", "SELECT count(*) AS n_", "SELECT h.CHNL_CD", "SELECT CHNL_CD",
                   "SELECT o.id FROM orders o JOIN customers c", "SELECT o.id FROM orders o JOIN customers c ON o.id = c.id",
                   "SELECT o.id FROM orders o CROSS JOIN customers"):
        st = proc.state(tuple(tok.encode(prefix)))
        assert st is not None, prefix
        mask = proc.mask(st)
        slow = np.array([proc.allows(st, i) for i in range(len(mask))])
        assert (mask == slow).all(), (prefix, [tok.decode([i]) for i in np.flatnonzero(mask != slow)][:20])
    st = proc.state(tuple(tok.encode("SELECT id FROM orders WHERE")))
    glued = [i for i in range(len(tok)) if (txt := tok.decode([i])) and txt[0].isalnum()]
    assert glued and not proc.mask(st)[glued].any()  # nothing glued straight onto WHERE
    # where WHERE cannot come (name is no column of orders: the FROM clause must go on), the word WHERE
    # cannot begin an alias either: it could only be glued on, a dead end (found in a tuned model's output)
    st = proc.state(tuple(tok.encode("SELECT name FROM orders")))
    where = [i for i in range(len(tok)) if tok.decode([i]).strip().upper() == "WHERE"]
    assert where and not proc.mask(st)[where].any()
    assert proc.mask(st)[[i for i in range(len(tok)) if tok.decode([i]).strip().upper() == "JOIN"]].any()


# ----------------------------------------------------------------------------------- 4. batches and beams
def test_batched_and_beam_outputs_equal_single_runs(tok: t.Any) -> None:
    model = tiny_model(tok, peak=300.0)
    prompts = ["Question: How many orders are open? SQL:", "SQL:", "Question: Which customers? SQL:"]
    runs: dict[tuple[t.Any, ...], list[str]] = {}
    for beams in (1, 3):
        for top_k in (None, exact_top_k(beams)):
            single = [generate(model, tok, [p], SHOP, top_k=top_k, num_beams=beams, max_new_tokens=8)[0]
                      for p in prompts]
            batched = generate(model, tok, prompts, SHOP, top_k=top_k, num_beams=beams, max_new_tokens=8)
            assert batched == single, (beams, top_k)
            runs[(beams, top_k)] = batched
    assert runs[(1, None)] == runs[(1, 1)] and runs[(3, None)] == runs[(3, exact_top_k(3))]
    free = [generate(model, tok, [p], max_new_tokens=8)[0] for p in prompts]
    assert free != runs[(1, None)]  # the constraint changed something: this model does not write SQL on its own


# ----------------------------------------------------------------------------------- 5. the end of sequence
@pytest.mark.parametrize(("sql", "ends"), [
    ("", False), ("SELECT", False), ("SELECT count(*) FROM orders", True), ("SELECT count(*) FROM orders;", True),
    ("SELECT count(*) FROM orders WHERE", False), ("SELECT count(*) FROM orders WHERE status =", False),
    ("SELECT count(*) FROM orders WHERE status = 'OP", False), ("SELECT count(*) FROM (SELECT id FROM orders", False),
    ("SELECT o.id FROM orders", False), ("SELECT o.id FROM orders o", True), ("SELECT id FROM orders ORDER BY", False),
    ("SELECT id FROM orders ORDER BY id", True), ('SELECT h."OrderDate" FROM sales."OrderHeader" h', True),
    ('SELECT h."OrderDate" FROM sales."OrderHeader', False),
    ("SELECT n FROM (SELECT count(*) AS n FROM orders) d", True),
])
def test_end_of_sequence_only_where_the_query_may_end(tok: t.Any, sql: str, ends: bool) -> None:
    proc = SchemaConstraint(SHOP, tok)
    assert bool(proc.allowed_next(sql)[tok.eos_token_id]) is ends
    st = proc.state(tuple(tok.encode(sql)))
    assert proc.allows(st, tok.eos_token_id) is ends


@pytest.mark.parametrize("top_k", [None, 1])
def test_a_model_that_wants_to_stop_early_writes_a_whole_query(tok: t.Any, top_k: int | None) -> None:
    model = tiny_model(tok)
    early = "SELECT count(*) FROM orders WHERE amount >"
    assert generate(model, tok, [PROMPT], steer=[early, early + " 3"]) == [early]
    [held] = generate(model, tok, [PROMPT], SHOP, steer=[early, early + " 3"], top_k=top_k)
    assert held == early + " 3"


@pytest.mark.parametrize("top_k", [None, 1])
def test_a_runaway_is_finished_within_the_budget(tok: t.Any, top_k: int | None) -> None:
    """A model that would nest parentheses past its token budget: cut, the answer is no query; with the budget
    known, the constraint writes the shortest finish in time, and the answer is a whole, clean query."""
    model = tiny_model(tok)
    runaway = "SELECT o.id FROM orders AS o WHERE o.amount > " + "(" * 60 + "1"
    machine = SchemaConstraint(SHOP, tok).machine
    [cut] = generate(model, tok, [PROMPT], SHOP, steer=[runaway], top_k=top_k, max_new_tokens=40)
    assert runaway.startswith(cut) and not machine.can_end(machine.feed(machine.initial, cut))
    kept: list[SchemaConstraint] = []
    [held] = generate(model, tok, [PROMPT], SHOP, steer=[runaway], top_k=top_k, max_new_tokens=40,
                      max_new_tokens_hint=40, keep=kept)
    assert held.startswith("SELECT o.id FROM orders AS o WHERE o.amount > ((")
    assert held.endswith(")") and held.count("(") == held.count(")"), held
    assert machine.can_end(machine.feed(machine.initial, held)) and clean(held, SHOP), held
    assert kept[0].stats["finished"] == 1


def test_a_qualifier_used_before_from_asks_only_for_what_one_source_can_have() -> None:
    """`SELECT T2.status, T2.name …`: no table has both, so no source could take T2 and the query could only
    wander until its budget ran out; the second column is refused where it is written."""
    machine = SchemaConstraint(SHOP, _char_tokenizer()).machine
    assert machine.feed(machine.initial, "SELECT T2.status, T2.amount") is not None
    assert machine.feed(machine.initial, "SELECT T2.status, T2.name,") is None
    assert machine.accepts("SELECT T2.status, T2.amount FROM orders AS T2")
    assert machine.accepts("SELECT t.name, t.id FROM customers AS t")
    # a name no table has: an output of a derived table, which may define it
    assert machine.accepts("SELECT T2.status, T2.n FROM (SELECT status, count(*) AS n FROM orders GROUP BY status) AS T2")


# ----------------------------------------------------------------------------------- literals, wiring
def test_categorical_literals_optionally_constrained(tok: t.Any) -> None:
    model = tiny_model(tok)
    bad = "SELECT count(*) FROM orders WHERE status = 'CLOSED'"
    good = "SELECT count(*) FROM orders WHERE status = 'OPEN'"
    assert generate(model, tok, [PROMPT], SHOP, steer=[bad, good]) == [bad]  # identifiers only, by default
    assert generate(model, tok, [PROMPT], SHOP, steer=[bad, good], top_k=1, literals=True) == [good]
    assert invented_identifiers(bad, SHOP).literals == (("main.orders.status", "CLOSED"),)
    m = SchemaConstraint(SHOP, tok, literals=True).machine
    assert m.accepts("SELECT id FROM orders WHERE status IN ('OPEN', 'SHIPPED') AND amount > 3")
    assert not m.accepts("SELECT id FROM orders WHERE status IN ('OPEN', 'LOST')")
    assert not m.accepts("SELECT o.id FROM orders o WHERE o.status <> 'LOST'")


def _shop_and_tiny_model(tmp_path: t.Any, tok: t.Any) -> tuple[Schema, t.Any]:
    """A one-table DuckDB database introspected, and a saved tiny model over ``tok``."""
    import duckdb

    from sqltune.introspect import introspect

    db = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE orders(id INT, status VARCHAR, amount DOUBLE, customer_id INT)")
    con.execute("INSERT INTO orders VALUES (1, 'OPEN', 3, 1), (2, 'SHIPPED', 5, 1)")
    con.close()
    folder = tmp_path / "tiny"
    tiny_model(tok).save_pretrained(folder)
    tok.save_pretrained(folder)
    return introspect(db, name="shop"), folder


def test_text2sql_constrained_end_to_end(tmp_path: t.Any, tok: t.Any) -> None:
    """Text2SQL(constrained=True) with a tiny model on a real database: every candidate is clean."""
    from sqltune.infer import DecodeConfig, Text2SQL

    schema, folder = _shop_and_tiny_model(tmp_path, tok)
    bot = Text2SQL(schema, str(folder), constrained=True, decode=DecodeConfig(max_new_tokens=16, num_candidates=2))
    answers = bot.predict(["How many orders?", "Total amount?"])
    bot.close()
    assert all(a.constrained and len(a.candidates) == 2 for a in answers)
    assert bot.constraint_stats["seconds"] > 0 and bot.constraint_stats["masks_computed"] > 0
    for a in answers:
        for sql in a.candidates:
            inv = invented_identifiers(sql, schema)
            assert inv.count == 0 and not inv.case_mismatches, (sql, inv)


def test_a_constrained_answer_is_a_whole_query_or_none(tmp_path: t.Any, tok: t.Any) -> None:
    """Candidates cut at the token budget are no answer under the constraint (unconstrained, the cut text is still
    shown); a whole query that fails to run is kept."""
    from sqltune.infer import DecodeConfig, Text2SQL
    from sqltune.infer.text2sql import UNFINISHED

    schema, folder = _shop_and_tiny_model(tmp_path, tok)
    cut, whole = "SELECT count(*) FROM orders WHERE (amount >", "SELECT 1 / 0 FROM orders WHERE amount > 'x'"
    for constrained in (True, False):
        bot = Text2SQL(schema, str(folder), constrained=constrained, decode=DecodeConfig(max_new_tokens=16))
        bot._generate = lambda prompts, c, progress: ([[cut], [cut, whole]], [1.0, 1.0])  # type: ignore[method-assign]
        none, kept = bot.predict(["How many orders?", "Ratio?"])
        bot.close()
        assert kept.sql == (whole if constrained else cut) and kept.status == "error"
        if constrained:
            assert none.sql == "" and none.error == UNFINISHED and none.candidates == (cut,)
            assert bot.constraint_stats["abstained"] == 1
        else:
            assert none.sql == cut and none.error != UNFINISHED


def test_repair_keeps_sound_free_answers_and_constrains_only_the_rest(tmp_path: t.Any, tok: t.Any) -> None:
    """Text2SQL(constrained=True, repair=True): a free answer that resolves and runs stays as it is; one that
    invents a table is decoded again, with the constraint."""
    from sqltune.infer import DecodeConfig, Text2SQL

    schema, folder = _shop_and_tiny_model(tmp_path, tok)
    bot = Text2SQL(schema, str(folder), constrained=True, repair=True, decode=DecodeConfig(max_new_tokens=16))
    free = [(["SELECT count(*) FROM orders"], 1.5), (["SELECT total FROM orderz"], 2.0)]
    kept, redone = bot.predict(["How many orders?", "Total?"], first=free)
    bot.close()
    assert kept.sql == "SELECT count(*) FROM orders" and not kept.constrained and kept.seconds["generate"] == 1.5
    assert redone.constrained and redone.seconds["generate"] > 2.0 and bot.constraint_stats["masks_computed"] > 0
    assert redone.sql != "SELECT total FROM orderz" and invented_identifiers(redone.sql, schema).count == 0


def test_repair_redoes_a_free_answer_that_runs_only_by_folding_case(tmp_path: t.Any, tok: t.Any) -> None:
    """`FROM ORDERS` runs on DuckDB (it folds unquoted names) but names no table as the schema spells it: decoded
    again with the constraint; the free answer stays only if the constrained one does not run."""
    from sqltune.infer import DecodeConfig, Text2SQL
    from sqltune.infer.select import choose

    schema, folder = _shop_and_tiny_model(tmp_path, tok)
    bot = Text2SQL(schema, str(folder), constrained=True, repair=True, decode=DecodeConfig(max_new_tokens=16))
    folded = "SELECT count(*) FROM ORDERS"
    assert choose([folded], schema, bot.box).case_mismatches == ("ORDERS",)
    [answer] = bot.predict(["How many orders?"], first=[([folded], 1.0)])
    bot.close()
    assert answer.seconds["generate"] > 1.0  # decoded again
    if answer.constrained:
        assert answer.status == "ok" and not invented_identifiers(answer.sql, schema).case_mismatches
    else:
        assert answer.sql == folded


def _char_tokenizer() -> t.Any:
    from sqltune.infer.constrain import ToyTokenizer

    return ToyTokenizer([chr(c) for c in range(32, 127)] + ["</s>"])


@pytest.mark.slow
@pytest.mark.parametrize("alias", ["smollm2-135m", "qwen2.5-coder-0.5b"])
def test_golds_with_a_real_tokenizer(alias: str, evalsets: dict[str, t.Any]) -> None:
    """The shipped golds through a real model's tokenizer (cached models only)."""
    import os
    from pathlib import Path

    from transformers import AutoTokenizer

    from sqltune import home

    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sqltune" / "models"
    found = [d / alias / "hf" for d in (home.models_dir(), default) if (d / alias / "hf" / "tokenizer.json").is_file()]
    if not found:
        pytest.skip(f"{alias} is not cached")
    tk = AutoTokenizer.from_pretrained(found[0])
    for ev, schema in evalsets.values():
        proc = SchemaConstraint(schema, tk)
        for case in ev.cases:
            for gold in case.gold_sql:
                ids = tk.encode(gold, add_special_tokens=False) + [tk.eos_token_id]
                for i, x in enumerate(ids):
                    assert proc.mask(proc.state(tuple(ids[:i])))[x], (case.id, tk.decode(ids[:i]), tk.decode([x]))
