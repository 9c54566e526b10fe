"""Join inference on the samples, scored against their ground truth (truth.yaml)."""

from __future__ import annotations

import pytest

from sqltune import samples
from sqltune.introspect import introspect
from sqltune.introspect.joins import name_score


@pytest.fixture(scope="module", params=["cpg", "biotech"])
def scored(request: pytest.FixtureRequest) -> tuple[str, set, set, dict]:  # type: ignore[type-arg]
    name = request.param
    request.getfixturevalue(f"{name}_db")
    snap = introspect(f"sample:{name}")
    truth = samples.ground_truth(name)
    true_pairs = {(j["from"], j["to"]) for j in truth["joins"]}
    found = {j.pair for j in snap.joins}
    return name, true_pairs, found, truth


def test_precision_and_recall(scored) -> None:  # type: ignore[no-untyped-def]
    name, truth, found, _ = scored
    tp = truth & found
    precision = len(tp) / len(found)
    recall = len(tp) / len(truth)
    print(f"{name}: precision {precision:.2f} recall {recall:.2f}; missed {sorted(truth - found)}; "
          f"wrong {sorted(found - truth)}")
    assert precision == 1.0, sorted(found - truth)
    assert recall >= 0.95, sorted(truth - found)


def test_declared_keys_are_exact(scored) -> None:  # type: ignore[no-untyped-def]
    name, _, _, truth = scored
    snap = introspect(f"sample:{name}", joins=None)
    declared = {j.pair for j in snap.joins if j.source == "declared"}
    assert declared == {(j["from"], j["to"]) for j in truth["joins"] if j["declared"]}


def test_false_friends_are_never_joined(scored) -> None:  # type: ignore[no-untyped-def]
    _, _, found, truth = scored
    assert truth.get("false_friends"), "the sample must have false friends to test"
    for ff in truth["false_friends"]:
        a, b = ff["a"], ff["b"]
        assert (a, b) not in found and (b, a) not in found, ff


@pytest.mark.parametrize("col,table,key,key_table,positive", [
    ("rtl_id", "sales.store", "RETAILER_ID", "sales.RETAILER", True),
    ("ship_from_dc", "supply.shipment", "DC_ID", "supply.dist_center", True),
    ("SNAP_DT_KEY", "supply.inv_snapshot", "DATE_KEY", "main.DIM_DATE", True),
    ("customer_id", "sales.orders", "id", "crm.customers", True),
    ("STATUS", "sales.orders", "STATUS", "supply.shipment", False),
    ("NAME", "clin.SITE", "NAME", "chem.supplier", False),
    ("id", "sales.orders", "id", "crm.customers", False),
    ("qty", "sales.order_line", "id", "mdm.product", False),
])
def test_name_evidence(col: str, table: str, key: str, key_table: str, positive: bool) -> None:
    assert (name_score(col, table, key, key_table) > 0) is positive
