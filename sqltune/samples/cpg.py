"""The ``cpg`` sample: Norvale Consumer Products, a global toothpaste-and-soap manufacturer.

Twenty tables in four schemas (``mdm``, ``sales``, ``supply``, ``main``), data from
2023-01-01 to 2025-06-30 (:data:`REFERENCE_DATE` is the last day, so "last quarter"
means 2025-Q1). The DDL is ``schemas/cpg/schema.sql``; the ground truth of join paths
is ``schemas/cpg/truth.yaml``.

Generation is split by domain: :mod:`._cpg_master` (master data and calendar),
:mod:`._cpg_sales` (customers, promotions), :mod:`._cpg_orders` (orders, lines,
returns) and :mod:`._cpg_supply` (shipments, inventory).
"""

from __future__ import annotations

import pandas as pd

from sqltune.samples import _cpg_master as master
from sqltune.samples import _cpg_orders as orders
from sqltune.samples import _cpg_sales as sales
from sqltune.samples import _cpg_supply as supply
from sqltune.samples import _gen

REFERENCE_DATE = master.END


def _recall_sku(sku: pd.DataFrame) -> str:
    """The SKU of the autumn-2024 recall: the most popular PureMint toothpaste."""
    pm = sku[
        (sku["BRAND_ID"] == 3)
        & (sku["_code"] == "TP")
        & (sku["LAUNCH_DT"] < pd.Timestamp("2024-01-01"))
        & sku["DISC_DT"].isna()
    ]
    return str(pm.sort_values("_pop", ascending=False)["SKU_NBR"].iloc[0])


def generate(seed: int) -> _gen.Tables:
    """All tables of the sample, parents before children.

    Args:
        seed: Root seed; each component draws from its own stream derived from it.

    Returns:
        ``"schema.table"`` → DataFrame (or list of DataFrames) in load order.
    """
    ctry = master.countries()
    brand = master.brands()
    plant = master.plants()
    sku = master.skus(_gen.stream(seed, "sku"), brand, plant)
    price = master.price_list(_gen.stream(seed, "price"), sku)
    rtl = sales.retailers(_gen.stream(seed, "retailer"))
    store = sales.stores(_gen.stream(seed, "store"), rtl, ctry)
    sales.assign_tiers(rtl, store)
    promo = sales.promotions(_gen.stream(seed, "promo"), rtl, store, brand)
    hdr, draft = orders.orders(_gen.stream(seed, "orders"), store, rtl)
    line = orders.lines(_gen.stream(seed, "lines"), hdr, sku, price, promo)
    rtrn = orders.returns(_gen.stream(seed, "returns"), hdr, line, _recall_sku(sku))
    dc, car = supply.dist_centers(), supply.carriers()
    return {
        "mdm.geo_country": ctry,
        "mdm.BRAND": brand,
        "mdm.prod_category": master.categories(),
        "mdm.plant": plant,
        "mdm.SKU": sku,
        "mdm.price_list": price,
        "sales.SLS_RGN": sales.sales_regions(_gen.stream(seed, "region")),
        "sales.RETAILER": rtl,
        "sales.store": store,
        "sales.promotion": promo,
        "sales.OrderHeader": hdr,
        "sales.ORDER_LINE": line,
        "sales.RTRN_LN": rtrn,
        "supply.carrier": car,
        "supply.dist_center": dc,
        "supply.shipment": supply.shipments(_gen.stream(seed, "shipment"), draft, hdr, line, dc, car),
        "supply.inv_snapshot": supply.inventory(_gen.stream(seed, "inventory"), dc, sku),
        "main.DIM_DATE": master.dim_date(),
        "main.FX_RATE": master.fx_rates(_gen.stream(seed, "fx")),
        "main.promo_spend": sales.promo_spend(_gen.stream(seed, "spend"), promo),
    }
