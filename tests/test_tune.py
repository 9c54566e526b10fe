"""Memory tuning with tiny random models: loss, weights, memorisation, stop, resume, save/load."""

from __future__ import annotations

import dataclasses
import random
import string
import typing as t
import warnings
from pathlib import Path

import pytest

from sqltune.schema import Column, ColumnProfile, Schema, Table
from sqltune.tune.config import PLAIN_EPOCHS, TuneConfig
from sqltune.tune.data import Item, encode, identifier_strings
from sqltune.tune.train import in_fact_phase, memory_tune
from tests.tiny import tiny_llama


@pytest.fixture(autouse=True)
def _one_thread():  # type: ignore[no-untyped-def]
    """Tiny models: one thread (a second one only adds synchronisation, badly so on a loaded machine)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _schema() -> Schema:
    cols = (Column("OrderId", "INTEGER", "integer", primary_key=True),
            Column("CHNL_CD", "VARCHAR", "text", profile=ColumnProfile(values=("ECOM", "DTC"))))
    return Schema("shop", "duckdb", (Table("sales", "OrderHeader", cols),), default_schema="main")


def _char_model(folder: Path, seed: int = 0):  # type: ignore[no-untyped-def]
    """A tiny Llama with a character-level tokenizer, so any identifier string can be spelled."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<unk>": 1, "<s>": 2, "</s>": 3}
    for ch in string.ascii_letters + string.digits + " _.\"'*(),=:?":
        vocab.setdefault(ch, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", bos_token="<s>",
                                   eos_token="</s>")
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(fast), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                      pad_token_id=0, bos_token_id=2, eos_token_id=3)
    return LlamaForCausalLM(cfg), fast


SYLLABLES = [a + b for a in "BDKMPRTXZ" for b in "AEIOU"]


def _word_model(n_facts: int, seed: int = 0):  # type: ignore[no-untyped-def]
    """A tiny Llama whose word-level vocabulary has one token per fact key and identifier syllable.

    The output layer is scaled up: a random head of std 0.02 behind a frozen RMSNorm cannot make
    a peaked distribution at all, which a trained model's head can.
    """
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<unk>": 1, "<s>": 2, "</s>": 3, "SQL:": 4}
    for w in [f"fact_{i:02d}" for i in range(n_facts)] + SYLLABLES:
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", bos_token="<s>",
                                   eos_token="</s>")
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(fast), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                      pad_token_id=0, bos_token_id=2, eos_token_id=3)
    model = LlamaForCausalLM(cfg)
    with torch.no_grad():
        model.lm_head.weight.mul_(20)
        model.model.embed_tokens.weight.mul_(20)
    return model, fast


def _facts(n: int, seed: int = 1) -> list[Item]:
    rng = random.Random(seed)
    return [Item(f"f{i}", f"fact_{i:02d}", " ".join(rng.choice(SYLLABLES) for _ in range(3)), kind="fact")
            for i in range(n)]


def test_identifier_tokens_get_the_configured_weight(tmp_path: Path) -> None:
    from sqltune.prompt import PromptBuilder

    model, tok = _char_model(tmp_path)
    schema = _schema()
    item = Item("p1", "online orders?", "SELECT count(*) FROM sales.\"OrderHeader\" WHERE \"CHNL_CD\" = 'ECOM'")
    enc = encode(item, PromptBuilder(schema, tok), tok, schema, identifier_weight=5.0, max_len=512,
                 strings=identifier_strings(schema))
    target = [(tok.convert_ids_to_tokens(i), w) for i, lab, w in zip(enc.input_ids, enc.labels, enc.weights)
              if lab != -100]
    text = "".join(t for t, _ in target)
    heavy = "".join(t for t, w in target if w == 5.0)
    assert heavy == 'sales"OrderHeader""CHNL_CD"ECOM'
    prefix = len("SELECT count(*) FROM ")
    assert "".join(t for t, _ in target[:prefix]) == "SELECT count(*) FROM "
    assert all(w == 1.0 for _, w in target[:prefix])
    assert text.startswith("SELECT") and all(lab == -100 for lab in enc.labels[: len(enc.labels) - len(target)])


@pytest.mark.parametrize("adapter, eval_items", [("lora", 64), ("lora", 0), ("mome", 0)])
def test_memorises_random_identifiers_and_stops(tmp_path: Path, adapter: str, eval_items: int) -> None:
    from sqltune.prompt import PromptBuilder, PromptConfig
    from sqltune.tune.recall import exact_recall

    model, tok = _word_model(24)
    facts = _facts(24)
    schema = _schema()
    builder = PromptBuilder(schema, tok, PromptConfig(mode="none"))
    before, _ = exact_recall(model, tok, builder, facts)
    cfg = TuneConfig(adapter=adapter, lora_r=16, lora_alpha=32, lr=3e-3, max_steps=300, batch_tokens=4096,
                     eval_every=10, eval_items=eval_items, stop_identifier_loss=0.02, prompt_mode="none",
                     warmup_steps=5, mome={"n_experts": 16, "router_warmup_steps": 20})
    tuned, result = memory_tune(model, tok, facts, schema, cfg, tmp_path / "run")
    after, misses = exact_recall(tuned, tok, builder, facts)
    assert before == 0.0
    assert result.stopped == "memorised" and result.steps < 300 and result.identifier_loss < 0.02
    if eval_items == 0:  # the stop reads the last whole epoch's training loss on identifier tokens
        assert result.history[-1]["epoch_identifier_loss"] == result.history[-1]["eval_identifier_loss"] < 0.02
    assert after == 1.0, misses
    losses = [r["loss"] for r in result.history]
    assert losses[min(40, len(losses) - 1)] < losses[0] / 2
    assert (tmp_path / "run" / "train_log.jsonl").is_file() and (tmp_path / "run" / "loss.svg").is_file()


def test_spaced_review_memorises_with_fewer_tokens_and_stops_when_all_is_recalled(tmp_path: Path) -> None:
    """With ``review`` an epoch trains only what the model does not reproduce yet (plus what is due for a
    check); it stops once every item was reproduced at its last visit, and then greedy generation
    recalls every one. It gets there on fewer trained tokens than training on everything every epoch."""
    from sqltune.prompt import PromptBuilder, PromptConfig
    from sqltune.tune.recall import exact_recall

    facts, schema = _facts(24), _schema()
    runs = {}
    for review in (False, True):
        model, tok = _word_model(24)
        cfg = TuneConfig(lr=3e-3, max_steps=600, batch_tokens=4096, eval_items=0, stop_identifier_loss=0.02,
                         prompt_mode="none", warmup_steps=5, review=review)
        tuned, result = memory_tune(model, tok, facts, schema, cfg, tmp_path / f"run{review}")
        recall, misses = exact_recall(tuned, tok, PromptBuilder(schema, tok, PromptConfig(mode="none")), facts)
        assert result.stopped == "memorised" and recall == 1.0, (review, misses)
        runs[review] = result
    rows = runs[True].history
    assert rows[-1]["recalled_share"] == 1.0 and "recalled_share" not in runs[False].history[-1]
    assert rows[-1]["checked_misses"] == 0  # stopped by the check over every item, not by a subset's loss
    epochs = {}
    for r in rows:
        epochs[r["epoch"]] = epochs.get(r["epoch"], 0) + r["tokens"]
    assert min(epochs.values()) < max(epochs.values()) / 2, "later epochs train only what is due"
    assert sum(r["tokens"] for r in rows) < sum(r["tokens"] for r in runs[False].history)


def test_under_review_only_recalling_everything_stops_training(tmp_path: Path) -> None:
    """A threshold every epoch's identifier loss is under stops plain training after its first epoch; under
    review it does not (an epoch of due items says nothing of the rest): only the pass over every item
    that checks the review does, once every item was reproduced at its last visit."""
    facts, schema = _facts(24), _schema()
    runs = {}
    for review in (False, True):
        model, tok = _word_model(24)
        cfg = TuneConfig(lr=3e-3, max_steps=300, batch_tokens=4096, eval_items=0, stop_identifier_loss=1e6,
                         prompt_mode="none", warmup_steps=5, review=review)
        runs[review] = memory_tune(model, tok, facts, schema, cfg, tmp_path / f"run{review}")[1]
    assert runs[False].stopped == "memorised" and {r["epoch"] for r in runs[False].history} == {0}
    rows = runs[True].history
    assert runs[True].stopped == "memorised" and "checked_identifier_loss" in rows[-1]
    assert not any("checked_identifier_loss" in r for r in rows[:-1])  # the first check stops it
    assert len({r["epoch"] for r in rows}) > 1 and rows[-2]["recalled_share"] < 1.0


def test_loss_stats_say_which_rows_greedy_decoding_reproduces(tmp_path: Path) -> None:
    """LossStats.recalled (per row, from the training pass) agrees with greedy_recall on a part-way model."""
    from sqltune.prompt import PromptBuilder, PromptConfig
    from sqltune.tune.data import collate
    from sqltune.tune.loss import weighted_loss
    from sqltune.tune.recall import greedy_recall

    facts, schema = _facts(24), _schema()
    model, tok = _word_model(24)
    cfg = TuneConfig(lr=3e-3, max_steps=100, batch_tokens=4096, stop_identifier_loss=0, prompt_mode="none",
                     warmup_steps=5, eval_items=0, lr_schedule="constant")
    tuned, _ = memory_tune(model, tok, facts, schema, cfg, tmp_path / "run")
    builder = PromptBuilder(schema, tok, PromptConfig(mode="none"))
    _, misses = greedy_recall(tuned, tok, builder, facts, schema)
    rows = [encode(it, builder, tok, schema, identifier_weight=1.0, max_len=512, strings=()) for it in facts]
    _, stats = weighted_loss(tuned, collate(rows, tok.pad_token_id))
    assert 0 < len(misses) < len(facts) or not misses  # part-way, or (rarely) all recalled
    assert [it.id for it, ok in zip(facts, stats.recalled) if not ok] == misses


def test_one_teacher_forced_pass_tells_what_greedy_generation_recalls(tmp_path: Path) -> None:
    from sqltune.prompt import PromptBuilder, PromptConfig
    from sqltune.tune.recall import exact_recall, greedy_recall

    facts, schema = _facts(24), _schema()
    for steps in (60, 80, 100, 120, 150):  # the first part-way model: some facts recalled, some not
        model, tok = _word_model(24)
        builder = PromptBuilder(schema, tok, PromptConfig(mode="none"))
        cfg = TuneConfig(lr=3e-3, max_steps=steps, batch_tokens=4096, stop_identifier_loss=0, prompt_mode="none",
                         warmup_steps=5, eval_items=0, lr_schedule="constant")
        tuned, _ = memory_tune(model, tok, facts, schema, cfg, tmp_path / f"run{steps}")
        generated, gen_misses = exact_recall(tuned, tok, builder, facts)
        if 0.2 < generated < 0.8:
            break
    assert 0.2 < generated < 0.8, "a part-way model, so that both hits and misses are compared"
    forced, forced_misses = greedy_recall(tuned, tok, builder, facts, schema)
    assert forced == generated and forced_misses == gen_misses
    assert greedy_recall(tuned, tok, builder, facts, schema, max_len=4)[0] == 0.0, "a cut target is a miss"


@pytest.mark.parametrize("review", [False, True])
def test_resume_continues_the_same_run(tmp_path: Path, review: bool) -> None:
    import torch

    facts = _facts(8)
    schema = _schema()
    cfg = TuneConfig(lr=5e-3, max_steps=12, save_every=6, eval_every=100, prompt_mode="none", batch_tokens=256,
                     max_seq_len=64, stop_identifier_loss=0.0, review=review)
    model, tok = _word_model(8, seed=3)
    straight, res_a = memory_tune(model, tok, facts, schema, cfg, tmp_path / "a")
    # the same run, killed after step 6 (simulated by a first run of 6 steps that keeps its checkpoint)
    model, tok = _word_model(8, seed=3)
    short = TuneConfig.from_dict({**cfg.to_dict(), "max_steps": 12})
    def stop_after_checkpoint(row):  # type: ignore[no-untyped-def]
        if row["step"] == 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        memory_tune(model, tok, facts, schema, short, tmp_path / "b", progress=stop_after_checkpoint)
    assert (tmp_path / "b" / "checkpoint.pt").is_file()
    model, tok = _word_model(8, seed=3)  # the same base model, as a real resume loads the same weights
    redone: list[int] = []
    resumed, res_b = memory_tune(model, tok, facts, schema, short, tmp_path / "b",
                                 progress=lambda row: redone.append(row["step"]))
    assert res_b.steps == 12 and redone == [7, 8, 9, 10, 11, 12], "steps 1-6 come from the checkpoint"
    a = dict(straight.named_parameters())
    for name, p in resumed.named_parameters():
        if p.requires_grad:
            assert torch.allclose(p, a[name], atol=1e-6), name
    assert [r["loss"] for r in res_a.history] == pytest.approx([r["loss"] for r in res_b.history], rel=1e-5)


# ------------------------------------------------------------------ the training mix
def test_training_mix_keeps_validation_pairs_out_and_facts_in_their_share() -> None:
    from sqltune.tune.items import fact_items, pair_items, training_mix

    pairs = pair_items([{"id": f"s{i}-{v}", "question": f"q{i} {v}", "sql": f"SELECT {i}",
                         "split": "val_skeleton" if i == 0 else "train"} for i in range(6) for v in "abc"])
    facts = fact_items([{"id": f"f{i}", "kind": "join" if i % 2 else "codes", "prompt": f"p{i}", "target": f"t{i}"}
                        for i in range(4)])
    everything = training_mix(pairs, facts, TuneConfig(facts_ratio=0.4))
    assert not any(it.id.startswith("s0-") for it in everything), "validation pairs are never trained on"
    n_pairs = sum(it.kind == "pair" for it in everything)
    n_facts = sum(it.kind == "fact" for it in everything)
    assert n_pairs == 15 and n_facts == 10  # 4 facts repeated up to 40% of the mix
    assert {it.id for it in everything if it.kind == "fact"} >= {"f0", "f1", "f2", "f3", "f0~2", "f0~3"}
    capped = training_mix(pairs, facts, TuneConfig(facts_ratio=0.5, max_items=8))
    chosen = [it for it in capped if it.kind == "pair"]
    assert len(capped) == 8 and len(chosen) == 4
    assert len({it.target for it in chosen}) == 4, "one phrasing per distinct SQL before a second one"
    assert {it.tag for it in capped if it.kind == "fact"} == {"join", "codes"}
    assert training_mix(pairs, facts, TuneConfig(facts_ratio=0.5, max_items=8)) == capped  # seeded


def test_whole_fact_kinds_put_every_fact_of_a_kind_in_a_capped_mix() -> None:
    """A capped mix spreads its facts over kinds (a few tables' column lists); ``whole_fact_kinds`` takes
    every fact of those kinds first, the other kinds share the places left; a misspelt kind is one line."""
    from sqltune.errors import ConfigError
    from sqltune.tune.items import fact_items, pair_items, training_mix

    pairs = pair_items([(f"q{i}", f"SELECT {i}") for i in range(20)])
    facts = fact_items([{"id": f"{k}{i}", "kind": k, "prompt": f"{k} {i}", "target": f"t{i}"}
                        for k in ("table_columns", "join", "codes") for i in range(6)])
    spread = [it.tag for it in training_mix(pairs, facts, TuneConfig(facts_ratio=0.5, max_items=16)) if it.kind == "fact"]
    assert spread.count("table_columns") < 6 and len(spread) == 8
    cfg = TuneConfig.from_dict({"facts_ratio": 0.5, "max_items": 16, "whole_fact_kinds": ["table_columns"]})
    mix = training_mix(pairs, facts, cfg)
    kinds = [it.tag for it in mix if it.kind == "fact"]
    assert kinds.count("table_columns") == 6 and len(kinds) == 8 and set(kinds) == {"table_columns", "join", "codes"}
    assert sum(it.kind == "pair" for it in mix) == 8 and training_mix(pairs, facts, cfg) == mix  # seeded
    with pytest.raises(ConfigError, match="Did you mean 'table_columns'"):
        training_mix(pairs, facts, TuneConfig(max_items=16, whole_fact_kinds=("table_colums",)))
    with pytest.raises(ConfigError, match="list of names"):
        TuneConfig.from_dict({"whole_fact_kinds": "table_columns"})
    with pytest.raises(ConfigError, match="needs max_items"):
        TuneConfig(whole_fact_kinds=("codes",))


def test_a_capped_mix_keeps_tier_shares_and_covers_every_production_first() -> None:
    from sqltune.tune.items import pair_items, training_mix

    # 30 easy pairs from one production (10 SQL x 3 phrasings), 10 hard pairs from five productions:
    # a random draw of 8 would mostly be easy and miss hard productions.
    rows = [{"id": f"e{i}-{v}", "question": f"e{i} {v}", "sql": f"SELECT {i}", "tier": "easy",
             "provenance": {"production": "e_count"}} for i in range(10) for v in "abc"]
    rows += [{"id": f"h{i}-{v}", "question": f"h{i} {v}", "sql": f"SELECT {100 + i}", "tier": "hard",
              "provenance": {"production": f"h_p{i % 5}"}} for i in range(5) for v in "ab"]
    pairs = pair_items(rows)
    assert pairs[0].tag == "easy/e_count" and pairs[-1].tag == "hard/h_p4"
    chosen = training_mix(pairs, [], TuneConfig(facts_ratio=0.0, max_items=8))
    tiers = [p.tag.split("/")[0] for p in chosen]
    assert tiers.count("easy") == 6 and tiers.count("hard") == 2, "each tier keeps its share (30:10 of 8)"
    assert len({p.target for p in chosen if p.tag == "easy/e_count"}) == 6, "distinct SQL before a 2nd phrasing"
    chosen = training_mix(pairs, [], TuneConfig(facts_ratio=0.0, max_items=20))
    hard = [p for p in chosen if p.tag.startswith("hard/")]
    assert len(hard) == 5 and len({p.tag for p in hard}) == 5, "every hard production before a second of any"
    assert training_mix(pairs, [], TuneConfig(facts_ratio=0.0, max_items=20)) == chosen  # seeded


def test_pairs_come_as_records_dicts_or_tuples_and_bad_ones_are_one_line_errors() -> None:
    from sqltune.errors import ConfigError
    from sqltune.generate import Pair
    from sqltune.tune.items import pair_items

    rec = Pair("p1", "How many?", "SELECT 1", "direct", "easy", 1.0, (), (), (), (), "fp", 1, "val_phrasing")
    items = pair_items([rec, ("Q?", "SELECT 2"), {"kind": "header"}, {"question": "R?", "sql": "SELECT 3"}])
    assert [(i.id, i.split, i.target) for i in items] == [("p1", "val_phrasing", "SELECT 1"),
                                                          ("pair-1", "train", "SELECT 2"),
                                                          ("pair-3", "train", "SELECT 3")]
    with pytest.raises(ConfigError, match="Pair 0 needs a non-empty question"):
        pair_items([("", "SELECT 1")])
    with pytest.raises(ConfigError, match="Pair 0 is not a pair record"):
        pair_items([42])


# ------------------------------------------------------------------ loop options
def _lora_tiny(tmp_path: Path, **cfg):  # type: ignore[no-untyped-def]
    import torch

    from sqltune.tune.train import wrap_adapter

    model, tok = _word_model(8, seed=2)
    wrapped = wrap_adapter(model, TuneConfig(lora_r=4, **cfg))
    with torch.no_grad():  # B = 0 at init would hide any difference in the gradients of A
        for name, p in wrapped.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.3, generator=torch.Generator().manual_seed(len(name)))
    return wrapped, tok


def test_sharing_the_prompt_prefix_gives_the_same_loss_and_gradients(tmp_path: Path) -> None:
    import torch

    from sqltune.prompt import PromptBuilder, PromptConfig
    from sqltune.tune.data import collate
    from sqltune.tune.loss import weighted_loss

    model, tok = _lora_tiny(tmp_path)
    schema = _schema()
    builder = PromptBuilder(schema, tok, PromptConfig(mode="none"))
    rows = [encode(it, builder, tok, schema, identifier_weight=3.0, max_len=64, strings=identifier_strings(schema))
            for it in _facts(5)]
    got = []
    for share in (False, True):
        batch = collate(rows, tok.pad_token_id, share_prefix=share)
        model.zero_grad()
        loss, stats = weighted_loss(model, batch)
        loss.backward()
        got.append((loss.detach(), stats.tokens, {n: p.grad.clone() for n, p in model.named_parameters()
                                                 if p.requires_grad}))
        if share:
            assert batch["prefix_ids"].numel() > 0 and batch["input_ids"].shape[1] < max(len(r) for r in rows)
    (plain, n_plain, g_plain), (shared, n_shared, g_shared) = got
    assert n_plain == n_shared and torch.allclose(plain, shared, atol=1e-5)
    for name, grad in g_plain.items():
        assert grad.abs().sum() > 0
        torch.testing.assert_close(g_shared[name], grad, atol=1e-5, rtol=1e-4)


def test_top_layers_adapts_only_the_top_layers(tmp_path: Path) -> None:
    model, _ = _lora_tiny(tmp_path, top_layers=1, target_modules=("q_proj", "down_proj"))
    trained = sorted({n.split(".layers.")[1].split(".")[0] for n, p in model.named_parameters() if p.requires_grad})
    assert trained == ["1"], "only the last of the 2 layers carries the adapter"


def test_a_time_budget_stops_the_run(tmp_path: Path) -> None:
    model, tok = _word_model(8)
    cfg = TuneConfig(max_steps=50, eval_every=100, prompt_mode="none", batch_tokens=64, max_seq_len=64,
                     time_budget_s=1e-6)
    _, result = memory_tune(model, tok, _facts(8), _schema(), cfg, tmp_path / "run")
    assert result.stopped == "time_budget" and result.steps == 1


def test_the_cpu_preset_uses_bf16_only_where_the_cpu_has_it_and_training_warns_otherwise(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On an AVX2-only CPU bf16 is emulated (a step took 20 minutes): the preset trains in fp32 there."""
    import sqltune.tune.bf16 as bf16
    import sqltune.tune.train as train
    from sqltune.tune.bf16 import SlowBf16Warning

    for native in (True, False):
        monkeypatch.setattr(bf16, "native_bf16", lambda device_type="cpu", native=native: native)
        assert TuneConfig.preset("cpu").bf16_autocast is native
    model, tok = _word_model(4)
    cfg = TuneConfig(max_steps=1, eval_every=100, prompt_mode="none", batch_tokens=64, max_seq_len=64,
                     bf16_autocast=True, recall_items=0, eval_items=0)
    for native in (True, False):
        monkeypatch.setattr(train, "native_bf16", lambda device_type, native=native: native)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            memory_tune(model, tok, _facts(4), _schema(), cfg, tmp_path / f"run{native}")
        assert [w.category for w in caught if w.category is SlowBf16Warning] == ([] if native else [SlowBf16Warning])


# ------------------------------------------------------------------ projects, adapters, the command
@pytest.fixture(scope="module")
def shop_project(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[tuple[Path, Path]]:
    """A home with project 'shop' (its pairs generated) and a tiny model folder; yields (home, model folder)."""
    import os

    from sqltune import home, project
    from sqltune.generate import generate
    from sqltune.introspect import introspect
    from tests.test_generate import build_shop
    from tests.tiny import tiny_llama

    root = tmp_path_factory.mktemp("tune-home")
    old = os.environ.get("SQLTUNE_HOME")
    os.environ["SQLTUNE_HOME"] = str(root / "home")
    schema = introspect(build_shop(root / "shop.duckdb"), name="shop")
    project.save_snapshot(schema, "shop")
    generate(schema, n=20, seed=1, out=home.project_dir("shop") / "pairs")
    yield root / "home", tiny_llama(root / "tiny")
    if old is None:
        os.environ.pop("SQLTUNE_HOME", None)
    else:
        os.environ["SQLTUNE_HOME"] = old


Project = tuple[Path, Path]  # (SQLTUNE_HOME, tiny model folder)
SMALL = {"max_steps": 4, "recall_items": 3, "max_seq_len": 96, "max_items": 30, "lr": 5e-3, "warmup_steps": 1}


def test_tune_project_writes_a_complete_adapter_and_does_not_redo_it(shop_project: Project, tmp_path: Path) -> None:
    import json

    from sqltune.tune.project import tune_project

    home_dir, model = shop_project
    rows: list[dict] = []
    out = tune_project("shop", model=str(model), overrides=SMALL, out=tmp_path / "lora", progress=rows.append)
    files = {p.name for p in out.adapter_dir.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "sqltune_adapter.json", "schema.json",
            "train_log.jsonl", "loss.svg", "recall.json"} <= files
    log = [json.loads(x) for x in (out.adapter_dir / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4] == [r["step"] for r in rows if "step" in r]
    assert {"event": "recall", "items": 6} in rows
    meta = json.loads((out.adapter_dir / "sqltune_adapter.json").read_text())
    assert meta["project"] == "shop" and meta["config"]["max_steps"] == 4 and meta["items"] == out.items == 30
    assert out.recall.n_facts == out.recall.n_pairs == 3 and out.recall.base_facts is not None
    kinds = out.recall.fact_kinds  # the sample's facts by kind, recalled of checked, agreeing with the misses
    assert sum(n for _, n in kinds.values()) == 3 and all(k for k in kinds), kinds
    assert sum(hit for hit, _ in kinds.values()) == 3 - len(out.recall.fact_misses)
    assert json.loads((out.adapter_dir / "recall.json").read_text())["fact_kinds"] == {k: list(v) for k, v in kinds.items()}
    assert not list(tmp_path.glob(".lora*")), "no work folder or temporary folder is left behind"
    again: list[dict] = []
    same = tune_project("shop", model=str(model), overrides=SMALL, out=tmp_path / "lora", progress=again.append)
    assert same.reused and not again and same.result.steps == 4 and same.recall == out.recall
    redo = tune_project("shop", model=str(model), overrides={**SMALL, "max_steps": 2}, out=tmp_path / "lora")
    assert not redo.reused and redo.result.steps == 2, "another config is another run"


def test_tune_project_needs_generated_pairs_of_the_current_schema(shop_project: Project, tmp_path: Path) -> None:
    import dataclasses
    import shutil

    from sqltune import home, project
    from sqltune.errors import MissingArtifactError
    from sqltune.tune.project import tune_project

    schema = project.load_snapshot("shop")
    project.save_snapshot(schema, "bare")
    with pytest.raises(MissingArtifactError, match="Run `sqltune generate bare` first"):
        tune_project("bare", model="unused")
    shutil.copytree(home.project_dir("shop") / "pairs", home.project_dir("bare") / "pairs", dirs_exist_ok=True)
    table = schema.tables[0]
    changed = dataclasses.replace(schema, tables=(dataclasses.replace(table, columns=table.columns[:-1]),
                                                  *schema.tables[1:]))
    project.save_snapshot(changed, "bare")
    with pytest.raises(MissingArtifactError, match="generated for another version of its schema"):
        tune_project("bare", model="unused")


@pytest.mark.parametrize("adapter", ["lora", "mome"])
def test_adapter_attaches_through_load_model_with_identical_outputs(shop_project: Project, tmp_path: Path,
                                                                   adapter: str) -> None:
    import torch

    from sqltune.models import load_model
    from sqltune.tune.project import tune_project

    _, model = shop_project
    extra = {"mome": {"n_experts": 4, "router_warmup_steps": 2}} if adapter == "mome" else {}
    out = tune_project("shop", model=str(model), adapter=adapter, overrides={**SMALL, **extra},
                       out=tmp_path / adapter)
    ids = torch.tensor([[2, 5, 6, 7, 8, 9, 10]])
    with torch.no_grad():
        tuned = out.model(ids).logits
        loaded = load_model(str(model), adapter=out.adapter_dir)
        again = loaded.model(ids).logits
        base = load_model(str(model)).model(ids).logits
    assert loaded.adapter == str(out.adapter_dir)
    assert type(loaded.model).__name__ == ("MoMEModel" if adapter == "mome" else "PeftModelForCausalLM")
    assert not torch.allclose(tuned, base, atol=1e-4), "training changed the outputs"
    torch.testing.assert_close(again, tuned, atol=1e-6, rtol=1e-5)


def test_attaching_refuses_another_base_and_warns_on_a_drifted_schema(shop_project: Project, tmp_path: Path) -> None:
    import dataclasses

    from transformers import LlamaConfig, LlamaForCausalLM

    from sqltune import project
    from sqltune.errors import ModelError
    from sqltune.models import load_model
    from sqltune.tune.artifact import SchemaDriftWarning
    from sqltune.tune.project import tune_project

    _, model = shop_project
    other = tmp_path / "other"
    LlamaForCausalLM(LlamaConfig(vocab_size=28, hidden_size=48, intermediate_size=64, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=2)).save_pretrained(other)
    for f in model.glob("*token*"):
        (other / f.name).write_bytes(f.read_bytes())
    for kind in ("lora", "mome"):
        out = tune_project("shop", model=str(model), adapter=kind, overrides={**SMALL, "max_steps": 1,
                           "mome": {"n_experts": 4} if kind == "mome" else {}}, out=tmp_path / kind)
        with pytest.raises(ModelError, match=rf"trained on another base model \({model}, llama:32:2:28\)"):
            load_model(str(other), adapter=out.adapter_dir)
    with pytest.raises(ModelError, match="No adapter at"):
        load_model(str(model), adapter=tmp_path)
    schema = project.load_snapshot("shop")
    table = next(tb for tb in schema.tables if tb.name == "product")
    dropped = table.columns[-1].name
    changed = dataclasses.replace(schema, tables=tuple(
        dataclasses.replace(tb, columns=tb.columns[:-1]) if tb is table else tb for tb in schema.tables))
    project.save_snapshot(changed, "shop")
    try:
        with pytest.warns(SchemaDriftWarning, match=f"- column sales.product.{dropped}"):
            load_model(str(model), adapter=out.adapter_dir)
    finally:
        project.save_snapshot(schema, "shop")


def test_tune_command_prints_the_adapter_recall_and_next_step(shop_project: Project, tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from sqltune.cli import cli

    _, model = shop_project
    small = {k: v for k, v in SMALL.items() if k != "max_steps"}
    res = CliRunner().invoke(cli, ["tune", "shop", "--model", str(model), "--steps", "3", "--config",
                                   json.dumps(small), "--out", str(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    assert f"adapter: {tmp_path / 'a'}" in res.output
    assert "3 steps over 30 items" in res.output and "memorisation: fact recall" in res.output
    assert "facts recalled by kind: " in res.output
    assert f'next: sqltune ask shop "..." --model {model} --adapter {tmp_path / "a"} --no-schema' in res.output
    res = CliRunner().invoke(cli, ["tune", "shop", "--model", str(model), "--steps", "3", "--config",
                                   json.dumps(small), "--out", str(tmp_path / "a")])
    assert res.exit_code == 0 and res.output.startswith("up to date:"), res.output
    bad = CliRunner().invoke(cli, ["tune", "shop", "--config", '{"max_step": 3}'])
    assert bad.exit_code == 1 and bad.output.strip() == \
        "error: Unknown tuning option 'max_step'. Did you mean 'max_steps'?"
    missing = CliRunner().invoke(cli, ["tune", "nosuch"])
    assert missing.exit_code == 1 and missing.output.startswith("error: ") and "Traceback" not in missing.output


def test_tune_command_runs_data_parallel_under_a_launcher(shop_project: Project, tmp_path: Path) -> None:
    """``torchrun --nproc_per_node 2 -m sqltune tune``: both processes train, process 0 alone reports and saves."""
    import json
    import subprocess

    from tests.test_parallel import ROOT, launch

    home_dir, model = shop_project
    small = {k: v for k, v in SMALL.items() if k != "max_steps"}
    prefix, env = launch(2)
    proc = subprocess.run([*prefix, "-m", "sqltune", "tune", "shop", "--model", str(model), "--steps", "3",
                           "--config", json.dumps(small), "--out", str(tmp_path / "dp")], cwd=ROOT,
                          env={**env, "SQLTUNE_HOME": str(home_dir)}, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count(f"adapter: {tmp_path / 'dp'}") == 1 and "3 steps over 30 items" in proc.stdout
    log = [json.loads(x) for x in (tmp_path / "dp" / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3]
    assert (tmp_path / "dp" / "adapter_model.safetensors").is_file() and not list(tmp_path.glob(".dp*"))


def test_an_interrupted_project_run_continues_from_its_checkpoint(shop_project: Project, tmp_path: Path) -> None:
    from sqltune.tune.project import tune_project

    _, model = shop_project
    cfg = {**SMALL, "max_steps": 6, "save_every": 3, "recall_items": 0}

    def stop_at_4(row):  # type: ignore[no-untyped-def]
        if row.get("step") == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        tune_project("shop", model=str(model), overrides=cfg, out=tmp_path / "x", progress=stop_at_4)
    assert (tmp_path / ".x.work" / "checkpoint.pt").is_file() and not (tmp_path / "x").exists()
    steps: list[int] = []
    out = tune_project("shop", model=str(model), overrides=cfg, out=tmp_path / "x",
                       progress=lambda row: steps.append(row["step"]) if "step" in row else None)
    assert steps == [4, 5, 6] and out.result.steps == 6 and [r["step"] for r in out.result.history] == list(range(1, 7))

    def stop_at_recall(row):  # type: ignore[no-untyped-def]
        if row.get("event") == "recall":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # killed after training, before the adapter is saved
        tune_project("shop", model=str(model), overrides={**cfg, "max_steps": 5}, out=tmp_path / "y",
                     progress=stop_at_recall)
    rows: list[dict] = []
    out = tune_project("shop", model=str(model), overrides={**cfg, "max_steps": 5}, out=tmp_path / "y",
                       progress=rows.append)
    assert [r for r in rows if "step" in r] == [] and out.result.steps == 5, "the trained adapter is not retrained"


def test_memory_tune_convenience_takes_plain_pairs(shop_project: Project, tmp_path: Path) -> None:
    from sqltune import memory_tune, project

    _, model = shop_project
    schema = project.load_snapshot("shop")
    pairs = [("How many orders?", 'SELECT count(*) FROM sales."OrderHeader"'),
             ("How many products?", "SELECT count(*) FROM sales.product")]
    adapter = memory_tune(str(model), pairs, schema, {"max_steps": 2, "recall_items": 2, "max_seq_len": 96},
                          facts=[("Which table holds orders?", 'sales."OrderHeader"')], out=tmp_path / "conv")
    assert adapter.adapter_dir == tmp_path / "conv" and adapter.items == 3 and adapter.result.steps == 2
    assert adapter.recall.n_pairs == 2 and adapter.recall.n_facts == 1


# ------------------------------------------------------------------ frozen schema prefix
def _pairs(n: int, seed: int = 3) -> list[Item]:
    rng = random.Random(seed)
    return [Item(f"p{i}", f"fact_{i:02d}", "SQL: " + " ".join(rng.choice(SYLLABLES) for _ in range(3)))
            for i in range(n)]


def test_a_frozen_start_gives_the_plain_models_loss_and_costs_only_the_rest(tmp_path: Path) -> None:
    """Without an adapter the base keys of the frozen start are the model's own: the same loss as full rows."""
    import torch

    from sqltune.infer.prefix import PrefixCache
    from sqltune.prompt import PromptBuilder, PromptConfig
    from sqltune.tune.data import batches, collate, frozen_start
    from sqltune.tune.loss import weighted_loss

    model, tok = _word_model(8, seed=2)
    schema = _schema()
    builder = PromptBuilder(schema, tok, PromptConfig(budget_tokens=0))
    items = _pairs(6)
    start = frozen_start(builder, tok, [it.question for it in items])
    assert len(start) > 10  # the system turn and the schema text
    strings = identifier_strings(schema)
    full = [encode(it, builder, tok, schema, identifier_weight=3.0, max_len=512, strings=strings) for it in items]
    cut = [encode(it, builder, tok, schema, identifier_weight=3.0, max_len=512, strings=strings, frozen=start)
           for it in items]
    assert all(r.frozen == len(start) and r.cost == len(r) - len(start) for r in cut)
    assert [r.input_ids for r in cut] == [r.input_ids for r in full]
    cache = PrefixCache(min_tokens=1, base=True)
    with torch.no_grad():
        plain, _ = weighted_loss(model, collate(full, tok.pad_token_id))
        batch = collate(cut, tok.pad_token_id)
        assert batch["input_ids"].shape[1] == max(r.cost for r in cut)
        frozen, _ = weighted_loss(model, batch, frozen_cache=cache)
        weighted_loss(model, batch, frozen_cache=cache)
    torch.testing.assert_close(frozen, plain, atol=1e-5, rtol=1e-5)
    assert cache.stats == {"hits": 1, "misses": 1, "tokens_reused": 0}  # computed once, then reused
    mixed = cut[:3] + full[3:]  # a batch never mixes rows with and without a frozen start
    assert all(len({mixed[i].frozen for i in b}) == 1 for b in batches(mixed, 10_000, 0, 0))


def test_training_with_a_frozen_schema_start_memorises_pairs(tmp_path: Path) -> None:
    from sqltune.infer.prefix import PrefixCache

    model, tok = _word_model(8, seed=2)
    computed = []
    original = PrefixCache._compute

    def counting(self, model, ids):  # type: ignore[no-untyped-def]
        computed.append(len(ids))
        return original(self, model, ids)

    PrefixCache._compute = counting  # type: ignore[method-assign]
    try:
        cfg = TuneConfig(max_steps=60, eval_every=100, prompt_mode="schema", prompt_budget_tokens=0, frozen_prefix=True,
                         batch_tokens=256, max_seq_len=64, lr=5e-3, eval_items=0, recall_items=0, stop_identifier_loss=1e-9)
        _, result = memory_tune(model, tok, _pairs(6), _schema(), cfg, tmp_path / "run")
    finally:
        PrefixCache._compute = original  # type: ignore[method-assign]
    assert len(computed) == 1 and computed[0] > 10  # once per run, not once per step
    losses = [row["loss"] for row in result.history if "loss" in row]
    assert losses[-1] < losses[0] / 4, losses


def _three_tables() -> Schema:
    def table(name: str, *cols: str) -> Table:
        return Table("main", name, tuple(Column(c, "INTEGER", "integer") for c in cols))

    return Schema("shop", "duckdb", (table("alpha", "a_id", "a_qty", "a_cost"), table("beta", "b_id", "b_name"),
                                     table("gamma", "g_id", "g_when", "g_who", "g_what")), default_schema="main")


def test_training_with_a_frozen_linked_schema_freezes_each_pairs_own_head(tmp_path: Path) -> None:
    """With the linked schema each pair has its own head (the schema text its question links): computed once
    per head with the base model, never run again, and pairs are still memorised through it."""
    from sqltune.infer.heads import HeadCache
    from sqltune.prompt import PromptBuilder, PromptConfig
    from sqltune.tune.data import frozen_parts
    from sqltune.tune.recall import greedy_recall

    model, tok = _word_model(6, seed=2)
    schema = _three_tables()
    pairs = [Item(it.id, f"{('alpha', 'beta', 'gamma')[i % 3]} {it.question}", it.target)
             for i, it in enumerate(_pairs(6))]
    cfg = TuneConfig(max_steps=200, eval_every=100, prompt_mode="schema", prompt_budget_tokens=30, frozen_prefix=True,
                     batch_tokens=256, max_seq_len=128, lr=5e-3, eval_items=0, recall_items=0, review=True)
    builder = PromptBuilder(schema, tok, PromptConfig(budget_tokens=30))
    frozen, heads, cache = frozen_parts(cfg, builder, tok, [p.question for p in pairs])
    assert frozen == () and heads and isinstance(cache, HeadCache)
    rows = [encode(p, builder, tok, schema, identifier_weight=2.0, max_len=128, strings=(), heads=True) for p in pairs]
    assert len({r.input_ids[:r.frozen] for r in rows}) == 3  # one head per linked table
    assert all(r.cost == len(r) - r.frozen and r.frozen > 10 for r in rows)
    kept = encode(pairs[0], builder, tok, schema, identifier_weight=2.0, max_len=4096, strings=())
    assert kept.input_ids == rows[0].input_ids  # the same tokens, the head only marked
    computed: list[int] = []
    original = HeadCache.kv

    def counting(self, model, ids):  # type: ignore[no-untyped-def]
        if tuple(ids) not in self.store:
            computed.append(len(ids))
        return original(self, model, ids)

    HeadCache.kv = counting  # type: ignore[method-assign]
    try:
        tuned, result = memory_tune(model, tok, pairs, schema, cfg, tmp_path / "run")
    finally:
        HeadCache.kv = original  # type: ignore[method-assign]
    assert len(computed) == 3  # each distinct head once per run
    assert result.stopped == "memorised" and result.steps < 200, result.stopped
    share, misses = greedy_recall(tuned, tok, builder, pairs, schema, heads=True, frozen_cache=HeadCache())
    assert share == 1.0, misses  # reproduced through heads computed afresh, as inference computes them


def test_options_added_later_keep_earlier_adapters_the_same_run() -> None:
    """The cpu preset as it was before `review` and `frozen_prefix` existed keeps its adapters' digest."""
    before = TuneConfig.preset("cpu", adapter="lora", max_steps=120, lr=2e-3, bf16_autocast=False,
                               batch_tokens=512, max_seq_len=256, prompt_mode="none", prompt_budget_tokens=1200,
                               max_items=64, time_budget_s=780.0, **PLAIN_EPOCHS)
    assert before.digest() == "fd4ade571b66a88b"
    assert TuneConfig.preset("cpu", adapter="lora").digest() != before.digest()  # today's preset reviews in bf16


def _cost_by_kind(items: list[Item], tok: t.Any) -> dict[str, int]:
    """The training tokens of the pairs and of the facts among ``items`` (no schema text, 64 tokens at most)."""
    from sqltune.prompt import PromptBuilder, PromptConfig

    schema = _schema()
    builder = PromptBuilder(schema, tok, PromptConfig(mode="none"))
    cost = {it.kind: 0 for it in items}
    for it in items:
        cost[it.kind] += encode(it, builder, tok, schema, identifier_weight=4.0, max_len=64,
                                strings=identifier_strings(schema)).cost
    return cost


def test_fact_repeats_train_each_fact_that_many_times_an_epoch_and_pairs_once(tmp_path: Path) -> None:
    """One epoch of 2 pairs and 3 facts costs the pairs once and the facts ``fact_repeats`` times."""
    schema = _schema()
    items = _pairs(2) + _facts(3)
    for repeats in (1, 3):
        model, tok = _word_model(8)
        cost = _cost_by_kind(items, tok)
        cfg = TuneConfig(max_steps=100, eval_every=1000, prompt_mode="none", batch_tokens=64, max_seq_len=64,
                         fact_repeats=repeats, stop_identifier_loss=0.0)
        _, result = memory_tune(model, tok, items, schema, cfg, tmp_path / f"run{repeats}")
        first_epoch = [r for r in result.history if r["epoch"] == 0]
        trained = sum(r["tokens"] for r in first_epoch)
        assert trained == cost["pair"] + repeats * cost["fact"], (repeats, cost)
    with pytest.raises(Exception, match="fact_repeats"):
        TuneConfig(fact_repeats=0)


def test_fact_phase_trains_the_facts_alone_first_then_pairs_join(tmp_path: Path) -> None:
    """With ``fact_phase`` the epochs that start in that share of the steps train only the facts; later
    epochs train everything. Under review the phase ends once every fact was reproduced."""
    schema = _schema()
    items = _pairs(2) + _facts(3)
    model, tok = _word_model(8)
    cost = _cost_by_kind(items, tok)
    cfg = TuneConfig(max_steps=12, eval_every=1000, prompt_mode="none", batch_tokens=64, max_seq_len=64,
                     fact_phase=0.5, stop_identifier_loss=0.0)
    _, result = memory_tune(model, tok, items, schema, cfg, tmp_path / "run")
    epochs: dict[int, list[dict[str, t.Any]]] = {}
    for r in result.history:
        epochs.setdefault(r["epoch"], []).append(r)
    tokens = {e: sum(r["tokens"] for r in rows) for e, rows in epochs.items()}
    facts_only = [e for e, rows in epochs.items() if all(r.get("phase") == "facts" for r in rows)]
    assert facts_only and all(tokens[e] == cost["fact"] for e in facts_only), (tokens, cost)
    assert all(epochs[e][0]["step"] <= 6 for e in facts_only)  # begun in the first half of the 12 steps
    whole = [e for e in epochs if e not in facts_only and e != max(epochs)]  # the last one may be cut short
    assert whole and all(tokens[e] == cost["fact"] + cost["pair"] for e in whole), (tokens, cost)
    assert max(facts_only) < min(whole) and all(epochs[e][0]["step"] > 6 for e in whole)
    assert not any(r.get("phase") for e in whole for r in epochs[e])
    # under review: the facts are all reproduced at their last visit, so the phase is over at once
    levels = [-1, -1, 1, 1, 1]
    assert not in_fact_phase(cfg, 0, 0.0, {2, 3, 4}, levels) and in_fact_phase(cfg, 0, 0.0, {1, 2, 3, 4}, levels)
    with pytest.raises(Exception, match="fact_phase"):
        TuneConfig(fact_phase=1.0)


def test_fact_final_reviews_the_facts_alone_at_the_end_until_all_are_reproduced(tmp_path: Path) -> None:
    """With ``fact_final`` the last share of the steps trains the facts alone: the epoch under way is cut
    short at the threshold, the first final epoch trains every fact once, later ones only those missed,
    and training stops once a check of all facts finds no miss; greedy decoding then recalls every fact."""
    from sqltune.prompt import PromptBuilder, PromptConfig
    from sqltune.tune.recall import exact_recall

    schema = _schema()
    facts = _facts(6)
    items = _pairs(4) + facts
    model, tok = _word_model(8)
    cost = _cost_by_kind(items, tok)
    cfg = TuneConfig(max_steps=400, eval_every=1000, prompt_mode="none", batch_tokens=64, max_seq_len=64, lr=3e-3,
                     fact_final=0.75, stop_identifier_loss=0.0)  # the facts are not all memorised at step 100
    tuned, result = memory_tune(model, tok, items, schema, cfg, tmp_path / "run")
    final = [r for r in result.history if r.get("phase") == "final"]
    assert result.stopped == "facts_recalled" and result.steps < 400, (result.stopped, result.steps)
    assert final and final[0]["step"] == 101 and all(r["step"] > 100 for r in final)
    assert all(r.get("phase") == "final" for r in result.history if r["step"] > 100)
    assert result.history[99]["epoch"] < final[0]["epoch"]  # a new epoch begins the phase
    by_epoch: dict[int, int] = {}
    for r in final:
        by_epoch[r["epoch"]] = by_epoch.get(r["epoch"], 0) + r["tokens"]
    tokens = [by_epoch[e] for e in sorted(by_epoch)]
    assert tokens[0] == cost["fact"] and len(tokens) > 1 and all(n < cost["fact"] for n in tokens[1:]), (tokens, cost)
    assert final[-1].get("checked_fact_misses") == 0 and final[-1] is result.history[-1]
    builder = PromptBuilder(schema, tok, PromptConfig(mode="none"))
    assert exact_recall(tuned, tok, builder, facts)[0] == 1.0
    with pytest.raises(Exception, match="fact_final"):
        TuneConfig(fact_phase=0.5, fact_final=0.5)


def test_fact_final_replay_rehearses_pairs_in_each_final_epoch(tmp_path: Path) -> None:
    """With ``fact_final_replay`` each final epoch also trains pairs (at least one; about that multiple of
    its fact tokens), in a rotation over the pairs; the phase still ends once every fact is reproduced."""
    schema = _schema()
    facts = _facts(6)
    items = _pairs(4) + facts
    model, tok = _word_model(8)
    cfg = TuneConfig(max_steps=400, eval_every=1000, prompt_mode="none", batch_tokens=64, max_seq_len=64, lr=3e-3,
                     fact_final=0.75, fact_final_replay=1.0, stop_identifier_loss=0.0)
    _, result = memory_tune(model, tok, items, schema, cfg, tmp_path / "run")
    cost = _cost_by_kind(items, tok)
    final = [r for r in result.history if r.get("phase") == "final"]
    by_epoch: dict[int, int] = {}
    for r in final:
        by_epoch[r["epoch"]] = by_epoch.get(r["epoch"], 0) + r["tokens"]
    tokens = [by_epoch[e] for e in sorted(by_epoch)]
    assert result.stopped == "facts_recalled" and len(tokens) > 1
    assert tokens[0] >= 2 * cost["fact"], (tokens, cost)  # every fact, and at least as many pair tokens
    least_pair = min(_cost_by_kind([it], tok)["pair"] for it in items if it.kind == "pair")
    assert least_pair > cost["fact"] / len(facts) and all(n >= least_pair for n in tokens)  # a pair in each epoch
    with pytest.raises(Exception, match="fact_final_replay"):
        TuneConfig(fact_final_replay=-1.0)


def test_fact_final_lr_holds_the_final_phase_rate_after_a_full_decay(tmp_path: Path) -> None:
    """With ``fact_final_lr`` the cosine decay reaches its floor where the final phase starts, and the
    phase trains at that share of ``lr``, constant; without it the phase runs on the decay's tail."""
    schema = _schema()
    items = _pairs(4) + _facts(6)
    model, tok = _word_model(8)
    cfg = TuneConfig(max_steps=40, eval_every=1000, prompt_mode="none", batch_tokens=64, max_seq_len=64, lr=1e-3,
                     warmup_steps=0, min_lr_ratio=0.0, fact_final=0.5, fact_final_lr=0.4, stop_identifier_loss=0.0)
    _, result = memory_tune(model, tok, items, schema, cfg, tmp_path / "run")
    final = [r for r in result.history if r.get("phase") == "final"]
    before = [r for r in result.history if r["step"] <= 20]
    assert final and final[0]["step"] == 21 and {round(r["lr"], 9) for r in final} == {4e-4}
    assert before[-1]["lr"] < 1e-5 < before[0]["lr"]  # decayed to the floor by step 20 (0 here)
    plain = dataclasses.replace(cfg, fact_final_lr=0.0, max_steps=24)
    model, tok = _word_model(8)
    _, tail = memory_tune(model, tok, items, schema, plain, tmp_path / "plain")
    late = [r["lr"] for r in tail.history if r.get("phase") == "final"]
    assert late and late[0] > late[-1]  # the phase follows the decay
    with pytest.raises(Exception, match="fact_final_lr needs fact_final"):
        TuneConfig(fact_final_lr=0.5)
    with pytest.raises(Exception, match="fact_final_lr"):
        TuneConfig(fact_final=0.2, fact_final_lr=2.0)


def test_fact_every_brings_each_reproduced_fact_back_that_often(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Under review a reproduced fact waits 2, 4, 8 … epochs; with ``fact_every=1`` every epoch trains every
    fact (pairs still follow the review), and a fact it misses is still trained again the next epoch."""
    import sqltune.tune.train as train

    schema = _schema()
    items = _pairs(4) + _facts(6)
    facts = {i for i, it in enumerate(items) if it.kind == "fact"}
    trained: dict[int, list[list[int]]] = {}
    real = train.epoch_items
    for every in (0, 1):
        seen = trained[every] = []
        monkeypatch.setattr(train, "epoch_items",
                            lambda due, *a, seen=seen, **k: seen.append(list(real(due, *a, **k))) or seen[-1])
        model, tok = _word_model(8)
        cfg = TuneConfig(max_steps=60, eval_every=1000, prompt_mode="none", batch_tokens=64, max_seq_len=64, lr=3e-3,
                         review=True, fact_every=every, stop_identifier_loss=0.0)
        memory_tune(model, tok, items, schema, cfg, tmp_path / f"run{every}")
    assert len(trained[1]) > 3 and all(facts <= set(e) for e in trained[1]), trained[1]
    assert any(not facts <= set(e) for e in trained[0]), "without it a reproduced fact skips epochs"
    with pytest.raises(Exception, match="fact_every"):
        TuneConfig(fact_every=-1)
    with pytest.raises(Exception, match="fact_every needs review"):
        TuneConfig(fact_every=1)


def test_torch_compile_trains_the_same_run_and_leaves_the_blocks_eager(tmp_path: Path) -> None:
    """``torch_compile`` compiles each decoder block for training (here the ``aot_eager`` backend: dynamo's
    graphs and autograd without code generation); the losses are the eager run's, and recall after
    training runs the blocks eagerly again."""
    from torch._dynamo.utils import counters

    facts, schema = _facts(8), _schema()
    runs = {}
    for backend in ("", "aot_eager"):
        counters.clear()
        model, tok = _word_model(8, seed=4)
        cfg = TuneConfig(lr=5e-3, max_steps=6, batch_tokens=64, max_seq_len=64, eval_items=0, prompt_mode="none",
                         stop_identifier_loss=0.0, torch_compile=backend)
        tuned, runs[backend] = memory_tune(model, tok, facts, schema, cfg, tmp_path / (backend or "eager"))
        blocks = [m for n, m in tuned.named_modules() if n.endswith(("layers.0", "layers.1"))]
        assert len(blocks) == 2 and all(getattr(b, "_compiled_call_impl", None) is None for b in blocks)
        assert bool(counters["stats"]["unique_graphs"]) == bool(backend), "the compiled run ran compiled graphs"
    assert [r["loss"] for r in runs["aot_eager"].history] == pytest.approx([r["loss"] for r in runs[""].history],
                                                                           rel=1e-4)
    assert TuneConfig(torch_compile="").digest() == TuneConfig().digest() != TuneConfig(torch_compile="inductor").digest()
