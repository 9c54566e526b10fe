"""Memory tuning of the real small model (smollm2-135m) on a slice of the cpg sample's generated pairs.

Slow: loads the embedded test model (fetched and converted once into SQLTUNE_HOME) and trains for a
few minutes on 2 cores. It shows the point of memory tuning: facts about the schema the untuned
model cannot state, recalled exactly after tuning, from prompts that do not contain the schema.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_smollm2_memorises_a_slice_of_cpg_to_exact_recall(cpg_db: Path, tmp_path: Path) -> None:
    from sqltune.generate import generate
    from sqltune.models import TEST_MODEL, load_model
    from sqltune.targets import resolve_target
    from sqltune.tune.config import PLAIN_EPOCHS, TuneConfig
    from sqltune.tune.items import fact_items, pair_items, training_mix
    from sqltune.tune.pipeline import tune_items

    _, schema = resolve_target(sample="cpg")
    gen = generate(schema, n=40, seed=0, out=tmp_path / "pairs")
    config = TuneConfig.preset("cpu", max_items=32, facts_ratio=0.625, max_steps=120, stop_identifier_loss=0.02,
                               recall_items=20, time_budget_s=0, **PLAIN_EPOCHS,
                               lr=2e-3, bf16_autocast=False,  # fp32 at the rate this 135M model was measured at
                               prompt_mode="none", batch_tokens=512, max_seq_len=256)  # facts and bare questions
    items = training_mix(pair_items(gen.pairs), fact_items(gen.facts), config)
    assert sum(it.kind == "fact" for it in items) == 20 and sum(it.kind == "pair" for it in items) == 12
    model = load_model(TEST_MODEL, device="cpu")
    outcome = tune_items(model, items, schema, config, tmp_path / "adapter")
    recall = outcome.recall
    report = json.loads((outcome.adapter_dir / "recall.json").read_text())
    print(f"\n{outcome.result.steps} steps ({outcome.result.stopped}) in {outcome.result.seconds:.0f}s, "
          f"{outcome.result.tokens_per_s:.0f} tokens/s; {recall.summary()}")
    assert report["facts"] == recall.facts and recall.n_facts == 20 and outcome.result.stopped == "memorised"
    assert recall.base_facts is not None and recall.base_facts <= 0.25, "the untuned model should not know these"
    assert recall.facts is not None and recall.facts >= 0.9, recall.fact_misses
    assert recall.facts >= recall.base_facts + 0.6
    losses = [r["loss"] for r in outcome.result.history]
    assert min(losses[-5:]) < losses[0] / 4
