"""The prompt builder: exact identifiers, budgets, schema linking, and one format for train and infer."""

from __future__ import annotations

from pathlib import Path

import pytest

from sqltune.introspect import introspect
from sqltune.prompt import PromptBuilder, PromptConfig, link
from sqltune.errors import ConfigError
from sqltune.schema import GlossaryTerm


@pytest.fixture(scope="module")
def cpg(cpg_db: Path):  # type: ignore[no-untyped-def]
    return introspect("sample:cpg", masks=["sales.RETAILER.BUYER_EMAIL"])


def test_full_schema_text_is_exact(cpg) -> None:  # type: ignore[no-untyped-def]
    text = PromptBuilder(cpg, config=PromptConfig(budget_tokens=100_000)).schema_text("anything")
    assert 'CREATE TABLE sales."OrderHeader" (' in text
    assert '"OrderDate" DATE' in text
    assert "'ECOM'" in text and "'WHSL'" in text
    assert 'joins mdm."SKU"."SKU_NBR"' in text  # an inferred, cross-schema join is shown
    assert text.count("CREATE TABLE") == len(cpg.tables)


def test_masked_values_never_reach_the_prompt(cpg) -> None:  # type: ignore[no-untyped-def]
    text = PromptBuilder(cpg, config=PromptConfig(budget_tokens=100_000)).schema_text("buyer emails")
    line = next(ln for ln in text.splitlines() if '"BUYER_EMAIL"' in ln)
    assert "values:" not in line and "@" not in text


def test_budget_is_respected_and_linking_keeps_what_matters(cpg) -> None:  # type: ignore[no-untyped-def]
    b = PromptBuilder(cpg, config=PromptConfig(budget_tokens=900))
    q = "What were online net sales by brand last quarter?"
    text = b.schema_text(q)
    assert b.count_tokens(text) <= 900
    for table in ('sales."OrderHeader"', 'sales."ORDER_LINE"', 'mdm."BRAND"'):
        assert f"CREATE TABLE {table}" in text, table
    assert "CREATE TABLE supply.carrier" not in text


def test_bare_first_shows_every_linked_table_bare_before_any_whole(cpg) -> None:  # type: ignore[no-untyped-def]
    import re

    q = "Total order line amount converted to USD with the month's FX rate, per sales region of the store"
    tables = [str(k) for k in link(cpg, q, max_tables=8).tables]
    assert {"sales.ORDER_LINE", "sales.OrderHeader", "main.FX_RATE", "sales.store"} <= set(tables)
    tight = PromptBuilder(cpg, config=PromptConfig(budget_tokens=600, layout="bare_first"))
    text = tight.schema_text(q)
    assert tight.count_tokens(text) <= 600
    shown = re.findall(r"CREATE TABLE (\S+) \(", text)
    for table in ('sales."ORDER_LINE"', 'sales."OrderHeader"', '"FX_RATE"', "sales.store"):
        assert table in shown, (table, shown)  # all four at once: a whole first table used to crowd them out
    assert len(shown) >= 5
    header = text[text.index('CREATE TABLE sales."OrderHeader"'):].split("\n);")[0]
    assert '"SHIP_TO_STORE"' in header and '"OrderId"' in header, "the columns that join shown tables come along"
    default = PromptBuilder(cpg, config=PromptConfig(budget_tokens=600)).schema_text(q)  # whole_first
    assert len(re.findall(r"CREATE TABLE (\S+) \(", default)) < len(shown)
    with pytest.raises(ConfigError, match="Did you mean 'bare_first'"):
        PromptConfig(layout="bare_frist")
    # with room to spare, the top-ranked tables are shown whole, descriptions and all
    roomy = PromptBuilder(cpg, config=PromptConfig(budget_tokens=2500, layout="bare_first")).schema_text(q)
    top = cpg.table(link(cpg, q, max_tables=8).tables[0])
    block = roomy[roomy.index("CREATE TABLE"):].split("\n);")[0]
    assert all(f'"{c.name}"' in block or f" {c.name} " in block for c in top.columns), block
    assert " -- " in block


def test_a_named_metric_brings_its_sql_and_its_tables(cpg) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    q = "What was our revenue in USD in 2024 by geographic region?"
    b = PromptBuilder(cpg, config=PromptConfig(budget_tokens=600))
    gloss = b.glossary_text(q)
    assert gloss.startswith('- revenue = SELECT SUM(l."LINE_AMT" * fx."USD_PER_CCY") FROM sales."ORDER_LINE" AS l')
    assert "DATE_TRUNC('MONTH', h.\"OrderDate\")" in gloss
    assert {"sales.ORDER_LINE", "sales.OrderHeader", "main.FX_RATE"} <= {str(k) for k in link(cpg, q).tables}
    plain = replace(cpg, metrics=())
    assert "SELECT" not in PromptBuilder(plain, config=PromptConfig(budget_tokens=600)).glossary_text(q)
    # the joins from the metric's tables to the table the question breaks it down by, through keys
    # every order has (the store it ships to), ready to append; none with metric_joins=0
    path = ('- revenue by mdm.geo_country: JOIN sales.store AS s ON h."SHIP_TO_STORE" = s."STORE_ID" '
            'JOIN mdm.geo_country AS gc ON s."CTRY_CD" = gc."CTRY_CD"')
    joined = PromptBuilder(cpg, config=PromptConfig(budget_tokens=600, metric_joins=2))
    assert path in joined.glossary_text(q).splitlines() and "- revenue by" not in gloss  # an option, off by default
    assert "- revenue by sales.store:" not in joined.glossary_text(q)  # a table on the way is not repeated
    brand = joined.glossary_text("Revenue by brand in 2024")
    assert 'JOIN mdm."SKU" AS s ON l."SKU_NBR" = s."SKU_NBR" JOIN mdm."BRAND" AS b' in brand  # not via promotions
    assert "- revenue by" not in PromptBuilder(cpg, config=PromptConfig(metric_joins=0)).glossary_text(q)
    # a glossary term the metric also defines is shown once, as the metric
    worded = replace(cpg, glossary=cpg.glossary + (GlossaryTerm("revenue", "net sales in USD"),))
    text = PromptBuilder(worded, config=PromptConfig(budget_tokens=600)).glossary_text(q)
    assert "- revenue = SELECT" in text and "- revenue: net sales in USD" not in text


def test_linking_closes_over_join_paths(cpg) -> None:  # type: ignore[no-untyped-def]
    linked = link(cpg, "Which carriers shipped orders for brand names?", max_tables=3)
    names = {str(k) for k in linked.tables}
    assert {"supply.carrier", "mdm.BRAND"} <= names
    assert "supply.shipment" in names  # the table that connects carriers to orders


def test_glossary_terms_come_along(cpg) -> None:  # type: ignore[no-untyped-def]
    user = PromptBuilder(cpg).user("How many wholesale orders were there?")
    assert "Glossary:" in user and "WHSL" in user


def test_mode_none_and_bad_options(cpg) -> None:  # type: ignore[no-untyped-def]
    b = PromptBuilder(cpg, config=PromptConfig(mode="none"))
    assert "CREATE TABLE" not in b.prompt("How many orders?")
    with pytest.raises(ConfigError, match="Did you mean 'schema'"):
        PromptConfig(mode="schemas")
    with pytest.raises(ConfigError, match="Did you mean 'budget_tokens'"):
        PromptConfig.from_dict({"budget_token": 5})


def test_training_and_inference_share_the_prompt(cpg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.tiny import tiny_tokenizer

    tok = tiny_tokenizer(tmp_path)
    tok.chat_template = "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}"
    b = PromptBuilder(cpg, tok, PromptConfig(budget_tokens=400))
    prompt, target = b.example("How many orders?", "SELECT count(*) FROM sales.\"OrderHeader\"")
    assert prompt == b.prompt("How many orders?") and prompt.endswith("<assistant>")
    assert target.endswith(tok.eos_token)


def test_schema_facts_get_their_own_prompt_apart_from_the_sql_task(cpg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A fact ("Which column holds X?" → a bare name) trained under the SQL prompt teaches the SQL task to
    answer with bare names; facts have their own system message, and no schema text."""
    from tests.tiny import tiny_tokenizer

    tok = tiny_tokenizer(tmp_path)
    tok.chat_template = "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}"
    b = PromptBuilder(cpg, tok, PromptConfig(budget_tokens=400))
    q = 'Which column of mdm."SKU" holds the GTIN?'
    prompt, target = b.example(q, '"GTIN"', "fact")
    assert prompt == b.fact_prompt(q) != b.prompt(q) and prompt.endswith("<assistant>Fact: ")
    assert b.prompt(q).endswith("<assistant>"), "no fact trains the first token of an answer"
    assert "SQL" not in prompt and "Schema:" not in prompt and q in prompt
    assert target == '"GTIN"' + tok.eos_token
    assert b.example(q, "SELECT 1")[0] == b.prompt(q)  # a pair keeps the SQL prompt
