"""Customers and trade promotions of the ``cpg`` sample.

Builds ``sales.SLS_RGN``, ``sales.RETAILER``, ``sales.store``, ``sales.promotion`` and
``main.promo_spend``. Orders live in :mod:`sqltune.samples._cpg_orders`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sqltune.samples import _gen
from sqltune.samples._cpg_master import END, START

SALES_REGIONS = [
    ("USE", "US East"),
    ("USW", "US West"),
    ("USC", "US Central (retired 2022)"),
    ("CAN", "Canada"),
    ("MEX", "Mexico"),
    ("BRA", "Brazil"),
    ("UKI", "UK & Ireland"),
    ("DACH", "Germany, Austria, Switzerland"),
    ("FRBX", "France & Benelux"),
    ("IBIT", "Iberia & Italy"),
    ("CEE", "Central & Eastern Europe"),
    ("INDA", "India"),
    ("SEA", "South-East Asia"),
    ("ANZ", "Australia & New Zealand"),
    ("AFME", "Africa & Middle East"),
]
REGION_OF = {
    "CA": "CAN",
    "MX": "MEX",
    "BR": "BRA",
    "GB": "UKI",
    "DE": "DACH",
    "FR": "FRBX",
    "NL": "FRBX",
    "ES": "IBIT",
    "IT": "IBIT",
    "PL": "CEE",
    "IN": "INDA",
    "ID": "SEA",
    "AU": "ANZ",
    "ZA": "AFME",
    "AE": "AFME",
}
# retailers per country and channel
CHANNEL_PLAN = {
    "US": {"MASS": 3, "GROC": 4, "DRUG": 2, "CLUB": 2, "ECOM": 2, "DTC": 1, "WHSL": 1},
    "CA": {"MASS": 1, "GROC": 2, "DRUG": 1},
    "MX": {"MASS": 1, "GROC": 2, "DRUG": 1, "WHSL": 1},
    "BR": {"GROC": 2, "DRUG": 2, "WHSL": 1},
    "GB": {"GROC": 3, "DRUG": 1, "ECOM": 1, "DTC": 1},
    "DE": {"GROC": 2, "DRUG": 2, "ECOM": 1, "DTC": 1},
    "FR": {"GROC": 3},
    "NL": {"GROC": 1, "DRUG": 1},
    "ES": {"GROC": 2},
    "IT": {"GROC": 2},
    "PL": {"GROC": 1, "WHSL": 1},
    "IN": {"GROC": 1, "ECOM": 1, "WHSL": 2},
    "ID": {"GROC": 1, "WHSL": 1},
    "AU": {"GROC": 2, "DRUG": 1},
    "ZA": {"GROC": 1, "WHSL": 1},
    "AE": {"GROC": 1, "WHSL": 1},
}
# stores per retailer (low, high), per-store revenue weight, store formats, typical order size in cases
CHANNELS = {
    "MASS": ((30, 80), 1.0, ("HYP", "SUP"), 165),
    "GROC": ((15, 60), 0.6, ("SUP", "SUP", "CNV"), 40),
    "DRUG": ((15, 50), 0.25, ("PHA",), 24),
    "CLUB": ((5, 15), 1.5, ("WHC",), 250),
    "ECOM": ((1, 3), 8.0, ("ONL",), 108),
    "DTC": ((1, 1), 0.05, ("ONL",), 0.15),
    "WHSL": ((1, 4), 6.0, ("DEP",), 480),
}
PREFIXES = (
    "Value",
    "Fresh",
    "Best",
    "Family",
    "City",
    "Green",
    "Sun",
    "Metro",
    "Prime",
    "Union",
    "Royal",
    "Star",
    "Harbor",
    "Summit",
    "Maple",
    "Cedar",
    "Golden",
    "Blue",
    "North",
    "Silver",
    "Eagle",
    "Liberty",
    "Pioneer",
    "Coastal",
    "Urban",
    "Village",
    "Corner",
    "Evergreen",
    "Horizon",
    "Atlas",
    "Lotus",
    "Baobab",
)
SUFFIXES = {
    "MASS": ("Mart", "Superstores", "Discount"),
    "GROC": ("Grocers", "Foods", "Market", "Supermarkets"),
    "DRUG": ("Pharmacy", "Chemists", "Drugstores"),
    "CLUB": ("Wholesale Club", "Warehouse Club"),
    "ECOM": ("Cart", "Basket Online", "Shop Direct"),
    "WHSL": ("Distribution", "Trading Co", "Wholesale"),
}
GROUPS = [
    ("Americas Retail Group", "MASS", "US", ("US", "CA", "MX")),
    ("EuroFresh Holdings", "GROC", "NL", ("FR", "ES", "IT", "NL")),
    ("Medis Health Group", "DRUG", "GB", ("GB", "NL", "DE", "AU")),
]
DELISTED_CLOSE = "2024-09-30"
N_PROMOS = 2400
PROMO_TYPES = ("TPR", "BOGO", "FEAT", "DISP", "CPN")
SPEND_TYPES = {
    "SCAN": ("6130-200", 0.35),
    "OI": ("6150-200", 0.20),
    "MDF": ("6120-200", 0.20),
    "COOP": ("6140-200", 0.15),
    "SLOT": ("6110-200", 0.10),
}


def sales_regions(rng: np.random.Generator) -> pd.DataFrame:
    """``sales.SLS_RGN``."""
    directors = _gen.full_names(rng, len(SALES_REGIONS)).astype(object)
    directors[2] = None  # the retired region has no director
    return pd.DataFrame(
        dict(RGN_CD=[r[0] for r in SALES_REGIONS], NAME=[r[1] for r in SALES_REGIONS], SALES_DIR=directors)
    )


def _retailer_names(rng: np.random.Generator, channels: list[str], countries: list[str]) -> list[str]:
    """Unique fictional banner names; DTC banners are the company's own web shops."""
    used: set[str] = set()
    names = []
    for chnl, ctry in zip(channels, countries, strict=True):
        if chnl == "DTC":
            names.append(f"Norvale Direct {ctry}")
            continue
        while True:
            name = f"{_gen.pick(rng, PREFIXES, 1)[0]} {_gen.pick(rng, SUFFIXES[chnl], 1)[0]}"
            if name not in used:
                break
        used.add(name)
        names.append(name)
    return names


def retailers(rng: np.random.Generator) -> pd.DataFrame:
    """``sales.RETAILER`` (banners first, then the three holding groups), internal store plan."""
    chnl = [c for ctry, plan in CHANNEL_PLAN.items() for c, k in plan.items() for _ in range(k)]
    ctry = [ctry for ctry, plan in CHANNEL_PLAN.items() for c, k in plan.items() for _ in range(k)]
    n = len(chnl)
    df = pd.DataFrame(
        dict(RETAILER_ID=np.arange(101, 101 + n), NAME=_retailer_names(rng, chnl, ctry), CHNL_CD=chnl, HQ_CTRY=ctry)
    )
    lo_hi = np.array([CHANNELS[c][0] for c in chnl])
    df["_n_stores"] = rng.integers(lo_hi[:, 0], lo_hi[:, 1] + 1)
    df["_group"] = False
    groups = pd.DataFrame(
        dict(
            RETAILER_ID=np.arange(901, 901 + len(GROUPS)),
            NAME=[g[0] for g in GROUPS],
            CHNL_CD=[g[1] for g in GROUPS],
            HQ_CTRY=[g[2] for g in GROUPS],
            _n_stores=0,
            _group=True,
        )
    )
    parent = np.full(n, -1)
    for gid, (_, g_chnl, _, g_ctry) in zip(groups["RETAILER_ID"], GROUPS, strict=True):
        member = (df["CHNL_CD"] == g_chnl) & df["HQ_CTRY"].isin(g_ctry) & (rng.random(n) < 0.6)
        parent[member.to_numpy() & (parent < 0)] = gid
    df["PARENT_RTL_ID"] = _gen.nullable_int(parent, parent < 0)
    df = pd.concat([df, groups], ignore_index=True)
    m = len(df)
    first, last = _gen.people(rng, m)
    slug = df["NAME"].str.lower().str.replace(r"[^a-z]+", "", regex=True).to_numpy().astype(str)
    df["KEY_ACCT_MGR"] = np.char.add(
        np.char.add(_gen.pick(rng, _gen.FIRST_NAMES, m), " "), _gen.pick(rng, _gen.LAST_NAMES, m)
    )
    df["BUYER_EMAIL"] = _gen.with_nulls(_gen.emails(first, last, np.char.add(slug, ".example")), rng.random(m) < 0.04)
    df["PAY_TERMS"] = _gen.pick(rng, ["NET30", "NET45", "NET60", "2/10N30"], m, [0.4, 0.25, 0.25, 0.1])
    df["ACTIVE_FL"] = "Y"
    df["PARENT_RTL_ID"] = df["PARENT_RTL_ID"].astype("Int64")
    delisted = df.index[(df["CHNL_CD"] == "GROC") & (df["HQ_CTRY"] == "US")][-1]
    df.loc[delisted, "ACTIVE_FL"] = "N"
    df["_delisted"] = df.index == delisted
    return df


def stores(rng: np.random.Generator, rtl: pd.DataFrame, ctry: pd.DataFrame) -> pd.DataFrame:
    """``sales.store`` with internal weights: ``_rev`` revenue share (country share × store size), ``_w`` orders."""
    rtl = rtl[~rtl["_group"]]
    rep = rtl.loc[rtl.index.repeat(rtl["_n_stores"])].reset_index(drop=True)
    n = len(rep)
    cities = dict(zip(ctry["CTRY_CD"], ctry["_cities"], strict=True))
    city = np.array([_gen.pick(rng, cities[c], 1)[0] for c in rep["HQ_CTRY"]])
    k = rep.groupby("RETAILER_ID").cumcount().to_numpy()
    start = rng.integers(1, 400, len(rtl))[
        rep["RETAILER_ID"].map(dict(zip(rtl["RETAILER_ID"], range(len(rtl)), strict=True))).to_numpy()
    ]
    nbr = start + k * rng.integers(1, 4, n) + k
    fmt = np.array([_gen.pick(rng, CHANNELS[c][2], 1)[0] for c in rep["CHNL_CD"]])
    online = np.isin(rep["CHNL_CD"].to_numpy(), ["ECOM", "DTC", "WHSL"])
    open_dt = _gen.random_days(rng, "1990-01-01", "2022-12-31", n)
    new = (~online) & (rng.random(n) < 0.09)
    open_dt[new] = _gen.random_days(rng, START, "2025-03-31", int(new.sum()))
    close = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    closing = (~online) & (~new) & (rng.random(n) < 0.04)
    close[closing] = _gen.random_days(rng, "2023-03-01", END, int(closing.sum()))
    close[rep["_delisted"].to_numpy()] = _gen.day(DELISTED_CLOSE)
    region = np.array([REGION_OF.get(c, "") for c in rep["HQ_CTRY"]], dtype=object)
    us = rep["HQ_CTRY"].to_numpy() == "US"
    region[us] = np.where(rng.random(int(us.sum())) < 0.55, "USE", "USW")
    region[rng.random(n) < 0.02] = None
    weight = np.array([CHANNELS[c][1] for c in rep["CHNL_CD"]]) * rng.lognormal(0, 0.5, n)
    share = dict(zip(ctry["CTRY_CD"], ctry["_weight"] / ctry["_weight"].sum(), strict=True))
    weight = weight / pd.Series(weight).groupby(rep["HQ_CTRY"]).transform("sum").to_numpy()
    weight = weight * rep["HQ_CTRY"].map(share).to_numpy()
    order_size = np.array([CHANNELS[c][3] for c in rep["CHNL_CD"]], dtype=float)
    return pd.DataFrame(
        dict(
            STORE_ID=np.arange(10001, 10001 + n),
            rtl_id=rep["RETAILER_ID"].to_numpy(),
            STORE_NBR=[f"{x:04d}" for x in nbr],
            NAME=np.char.add(np.char.add(rep["NAME"].to_numpy().astype(str), " "), city),
            FORMAT_CD=fmt,
            CITY=city,
            CTRY_CD=rep["HQ_CTRY"].to_numpy(),
            REGION=region,
            OPEN_DT=open_dt,
            CLOSE_DT=close,
            _rev=weight,
            _w=weight / order_size,
            _chnl=rep["CHNL_CD"].to_numpy(),
        )
    )


def assign_tiers(rtl: pd.DataFrame, store: pd.DataFrame) -> None:
    """Set RETAILER.TIER in place: per country the two biggest accounts are A, the next two B."""
    volume = store.groupby("rtl_id")["_rev"].sum().reindex(rtl["RETAILER_ID"]).fillna(0).to_numpy()
    rank = pd.Series(-volume).groupby(rtl["HQ_CTRY"].to_numpy()).rank(method="first").to_numpy()
    tier = np.where(rank <= 2, "A", np.where(rank <= 4, "B", "C")).astype(object)
    tier[rtl["_group"].to_numpy()] = None
    rtl["TIER"] = tier


def promotions(rng: np.random.Generator, rtl: pd.DataFrame, store: pd.DataFrame, brand: pd.DataFrame) -> pd.DataFrame:
    """``sales.promotion``: ~2,400 retailer × brand promotions, some planned after the window."""
    active = rtl[~rtl["_group"]].reset_index(drop=True)
    share = store.groupby("rtl_id")["_rev"].sum().reindex(active["RETAILER_ID"]).fillna(0).to_numpy()
    n_per = np.maximum(3, np.round(N_PROMOS * share / share.sum())).astype(int)
    rows = []
    for (_, r), k in zip(active.iterrows(), n_per, strict=True):
        ok = brand[brand["_markets"].map(lambda m, c=r["HQ_CTRY"]: c in m) & (brand["STATUS"] == "A")]
        b = _gen.pick(rng, ok["BRAND_ID"].to_numpy(), k, ok["_pop"].to_numpy())
        types = _gen.pick(
            rng, PROMO_TYPES, k, [0.4, 0.1, 0.2, 0.15, 0.15] if r["CHNL_CD"] != "DTC" else [0.3, 0.1, 0, 0, 0.6]
        )
        mondays = _gen.day("2023-01-02") + 7 * rng.integers(0, 143, k)
        rows.append(
            pd.DataFrame(
                dict(
                    rtl_id=r["RETAILER_ID"],
                    BRAND_ID=b,
                    PROMO_TYPE=types,
                    START_DT=mondays,
                    END_DT=mondays + 7 * rng.integers(1, 7, k) - 1,
                    _short=r["NAME"].split()[0],
                    _chnl=r["CHNL_CD"],
                )
            )
        )
    df = pd.concat(rows, ignore_index=True)
    delisted = rtl.loc[rtl["_delisted"], "RETAILER_ID"].iloc[0]
    df = df[~((df["rtl_id"] == delisted) & (df["START_DT"] > _gen.day(DELISTED_CLOSE) - 30))]
    df = df.sort_values(["START_DT", "rtl_id", "BRAND_ID"], kind="stable").reset_index(drop=True)
    n = len(df)
    t = df["PROMO_TYPE"].to_numpy()
    disc = np.select(
        [t == "TPR", t == "BOGO", t == "FEAT", t == "DISP"],
        [5 * rng.integers(2, 7, n), np.full(n, 50), rng.integers(5, 16, n), rng.integers(5, 11, n)],
        rng.integers(10, 26, n),
    )
    end = _gen.day(END)
    start, stop = df["START_DT"].to_numpy(), df["END_DT"].to_numpy()
    status = np.where(start > end, "PLAN", np.where(stop < end, "DONE", "LIVE"))
    status[rng.random(n) < 0.04] = "CANC"
    brand_name = df["BRAND_ID"].map(dict(zip(brand["BRAND_ID"], brand["NAME"], strict=True)))
    month = pd.Series(start.astype("datetime64[M]").astype(str))
    df["PROMO_ID"] = np.arange(7001, 7001 + n)
    df["NAME"] = df["_short"] + " " + brand_name + " " + df["PROMO_TYPE"] + " " + month
    df["DISC_PCT"] = disc.astype(float)
    df["BUDGET_USD"] = _gen.money(rng.lognormal(np.log(12000), 0.8, n) * np.where(df["_chnl"] == "DTC", 0.3, 1.0))
    df["STATUS"] = status
    return df


def promo_spend(rng: np.random.Generator, promo: pd.DataFrame) -> pd.DataFrame:
    """``main.promo_spend``: postings against promotions (cancelled ones may keep a slotting fee)."""
    status = promo["STATUS"].to_numpy()
    n_rows = np.where(status == "DONE", 1 + rng.poisson(1.5, len(promo)), 0)
    n_rows = np.where(status == "LIVE", rng.integers(1, 3, len(promo)), n_rows)
    n_rows = np.where((status == "CANC") & (rng.random(len(promo)) < 0.3), 1, n_rows)
    rep = promo.loc[promo.index.repeat(n_rows)].reset_index(drop=True)
    m = len(rep)
    types = np.array(list(SPEND_TYPES))
    spend = _gen.pick(rng, types, m, [v[1] for v in SPEND_TYPES.values()])
    spend[rep["STATUS"].to_numpy() == "CANC"] = "SLOT"
    share = 1.0 / rep.groupby("PROMO_ID")["PROMO_ID"].transform("size").to_numpy()
    posted = rep["START_DT"].to_numpy() + rng.integers(-21, 61, m)
    df = pd.DataFrame(
        dict(
            PROMO_ID=rep["PROMO_ID"].to_numpy(),
            SPEND_TYPE=spend,
            POSTED_DT=posted,
            AMT_USD=_gen.money(rep["BUDGET_USD"].to_numpy() * share * rng.uniform(0.7, 1.2, m)),
            GL_ACCT=[SPEND_TYPES[s][0] for s in spend],
        )
    )
    df = df[df["POSTED_DT"] <= _gen.day(END)].sort_values(["POSTED_DT", "PROMO_ID"], kind="stable")
    df.insert(0, "SPEND_ID", np.arange(1, len(df) + 1))
    return df.reset_index(drop=True)
