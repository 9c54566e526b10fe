"""Question building blocks: identifier words, description heads, code meanings, glossary terms, styles."""

from __future__ import annotations

from sqltune.generate import vocab
from sqltune.generate.catalog import Names
from sqltune.generate.meaning import Cond, Ent, Meaning, Ref, Val
from sqltune.generate.questions import diversity, questions


def test_identifier_splitting_and_expansion() -> None:
    assert vocab.humanize("SKU_NBR") == "SKU number"
    assert vocab.humanize("ShipDt") == "ship date"
    assert vocab.humanize("OrderHeader", table=True) == "order"
    assert vocab.humanize("DISC_DT", "Discontinuation date.") == "discontinuation date"
    assert vocab.humanize("DISC_PCT", "Discount off list price in percent.") == "discount percent"
    assert vocab.humanize("USD_PER_CCY") == "USD per currency"
    assert vocab.humanize("IC50_nM", "IC50 converted to nM") == "IC50 nM"


def test_code_meanings_come_from_the_description() -> None:
    doc = "Trade channel: 'MASS' mass merchandiser, 'ECOM' online pure player, 'DTC' direct-to-consumer."
    assert vocab.code_meanings(doc, ("DTC", "ECOM", "MASS")) == {
        "MASS": "mass merchandiser", "ECOM": "online pure player", "DTC": "direct-to-consumer"}
    assert vocab.code_meanings("'PREMIUM', 'CORE' or 'VALUE'.", ("CORE", "PREMIUM", "VALUE")) == {}
    assert vocab.code_meanings("Level, 1 = category, 2 = sub-category.", (1, 2)) == {"1": "category", "2": "sub-category"}


def test_glossary_definitions_are_classified() -> None:
    assert vocab.parse_glossary_means("CHNL_CD IN ('ECOM', 'DTC')") == ("condition", ("CHNL_CD", "IN", ("ECOM", "DTC")))
    assert vocab.parse_glossary_means("IC50_nM < 100 (pIC50 > 7)") == ("condition", ("IC50_nM", "<", (100,)))
    assert vocab.parse_glossary_means("sales.RETAILER (key RETAILER_ID)") == ("ref", "sales.RETAILER")
    assert vocab.parse_glossary_means("orders not yet delivered")[0] == "text"


def _meaning() -> Meaning:
    order = Ent(Names("order", "customer sales orders", "order", "sales.OrderHeader"), "order", "orders")
    channel = Ref(Names("channel code", "trade channel", "channel", "CHNL_CD"))
    status = Ref(Names("order status", "order status", "order status", "STATUS"))
    conds = (Cond(status, "eq", (Val("'CANC'", "cancelled"),), term="cancelled"),
             Cond(channel, "eq", (Val("'ECOM'", "online pure player"),)))
    return Meaning("group_count", order, conds, {"group": [Ref(Names("order source", "how the order arrived",
                                                                           "order source", "ORDER_SRC"))]})


def test_one_question_per_style_all_different() -> None:
    qs = questions(_meaning(), seed=3, extra=1)
    assert [q.style for q in qs[:5]] == ["direct", "analyst", "terse", "glossary", "conversational"]
    assert len({q.text for q in qs}) == len(qs) == 6
    by_style = {q.style: q.text for q in qs[:5]}
    assert "'CANC'" in by_style["direct"] and "'ECOM'" in by_style["direct"]
    assert "cancelled orders" in by_style["glossary"] and "CANC" not in by_style["glossary"]
    assert "online pure player ('ECOM')" in by_style["analyst"]
    assert not by_style["terse"].endswith("?")
    assert diversity([q.text for q in qs])["jaccard_distance"] > 0.4


def test_questions_are_deterministic_for_a_seed() -> None:
    assert questions(_meaning(), seed=9) == questions(_meaning(), seed=9)
    assert questions(_meaning(), seed=9) != questions(_meaning(), seed=10)
