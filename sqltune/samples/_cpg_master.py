"""Master data of the ``cpg`` sample: countries, brands, categories, plants, SKUs, prices, calendar, FX.

Frames carry a few generator-internal ``_``-prefixed columns (popularity, market
lists) that the sales and supply generators use; they are never loaded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sqltune.samples import _gen

START, END = "2023-01-01", "2025-06-30"
PRICE_BASE = "2022-07-01"

# CTRY_CD, NAME, ISO3, REGION, CURRENCY_CD, market weight, cities
COUNTRIES: list[tuple[str, str, str, str, str, float, tuple[str, ...]]] = [
    (
        "US",
        "United States",
        "USA",
        "North America",
        "USD",
        30,
        ("New York", "Chicago", "Dallas", "Atlanta", "Los Angeles", "Seattle", "Phoenix", "Miami"),
    ),
    ("CA", "Canada", "CAN", "North America", "CAD", 4, ("Toronto", "Montreal", "Vancouver", "Calgary")),
    ("MX", "Mexico", "MEX", "Latin America", "MXN", 5, ("Mexico City", "Guadalajara", "Monterrey", "Puebla")),
    ("BR", "Brazil", "BRA", "Latin America", "BRL", 6, ("Sao Paulo", "Rio de Janeiro", "Belo Horizonte", "Curitiba")),
    ("GB", "United Kingdom", "GBR", "Europe", "GBP", 6, ("London", "Manchester", "Birmingham", "Leeds", "Glasgow")),
    ("DE", "Germany", "DEU", "Europe", "EUR", 6, ("Berlin", "Hamburg", "Munich", "Cologne", "Frankfurt")),
    ("FR", "France", "FRA", "Europe", "EUR", 5, ("Paris", "Lyon", "Marseille", "Lille")),
    ("NL", "Netherlands", "NLD", "Europe", "EUR", 2, ("Amsterdam", "Rotterdam", "Utrecht")),
    ("ES", "Spain", "ESP", "Europe", "EUR", 3, ("Madrid", "Barcelona", "Valencia", "Seville")),
    ("IT", "Italy", "ITA", "Europe", "EUR", 3, ("Milan", "Rome", "Turin", "Naples")),
    ("PL", "Poland", "POL", "Europe", "PLN", 2, ("Warsaw", "Krakow", "Wroclaw")),
    ("IN", "India", "IND", "Asia Pacific", "INR", 8, ("Mumbai", "Delhi", "Bengaluru", "Chennai", "Kolkata")),
    ("ID", "Indonesia", "IDN", "Asia Pacific", "IDR", 4, ("Jakarta", "Surabaya", "Bandung")),
    ("AU", "Australia", "AUS", "Asia Pacific", "AUD", 3, ("Sydney", "Melbourne", "Brisbane", "Perth")),
    ("ZA", "South Africa", "ZAF", "Middle East & Africa", "ZAR", 2, ("Johannesburg", "Cape Town", "Durban")),
    ("AE", "United Arab Emirates", "ARE", "Middle East & Africa", "AED", 1, ("Dubai", "Abu Dhabi")),
    ("CN", "China", "CHN", "Asia Pacific", "CNY", 0, ("Suzhou",)),
    ("TH", "Thailand", "THA", "Asia Pacific", "THB", 0, ("Rayong",)),
]
SALES_COUNTRIES = [c[0] for c in COUNTRIES if c[5] > 0]
CCY_OF = {c[0]: c[4] for c in COUNTRIES}

# USD per unit of currency (Jan 2023), local price index vs US
FX_BASE = {
    "USD": 1.0,
    "CAD": 0.74,
    "MXN": 0.053,
    "BRL": 0.195,
    "GBP": 1.23,
    "EUR": 1.08,
    "PLN": 0.23,
    "INR": 0.0121,
    "IDR": 0.0000645,
    "AUD": 0.69,
    "ZAR": 0.058,
    "AED": 0.27229,
    "CNY": 0.146,
    "THB": 0.0295,
}
PRICE_INDEX = {
    "USD": 1.0,
    "CAD": 1.05,
    "MXN": 0.8,
    "BRL": 0.85,
    "GBP": 1.0,
    "EUR": 1.05,
    "PLN": 0.8,
    "INR": 0.45,
    "IDR": 0.5,
    "AUD": 1.1,
    "ZAR": 0.7,
    "AED": 1.0,
}
HIGH_INFLATION = {"MXN", "BRL", "INR", "IDR", "ZAR", "PLN"}

# CAT_ID, CODE, NAME, parent, size choices, size uom, case qty choices, std cost per each (USD)
TOP_CATEGORIES = [(1, "ORAL", "Oral Care"), (2, "PERS", "Personal Care"), (3, "HOME", "Home Care")]
LEAF_CATEGORIES = [
    (11, "TP", "Toothpaste", 1, (50, 75, 100, 125, 150), "ML", (24, 36, 48), 0.55),
    (12, "TB", "Toothbrush", 1, (1, 2, 4), "CT", (12, 24, 48), 0.45),
    (13, "MW", "Mouthwash", 1, (250, 500, 1000), "ML", (6, 12), 0.95),
    (14, "FLS", "Dental Floss", 1, (1, 2), "CT", (24, 48), 0.40),
    (21, "BAR", "Bar Soap", 2, (90, 100, 125, 400), "G", (24, 48, 72), 0.30),
    (22, "LHS", "Liquid Hand Soap", 2, (250, 300, 500, 1000), "ML", (12, 24), 0.60),
    (23, "BW", "Body Wash", 2, (250, 400, 750), "ML", (6, 12), 0.85),
    (24, "DEO", "Deodorant", 2, (50, 150, 200), "ML", (12, 24), 0.90),
    (25, "SHP", "Shampoo", 2, (250, 400, 700), "ML", (6, 12), 1.00),
    (31, "DISH", "Dish Liquid", 3, (500, 750, 1000), "ML", (12, 20), 0.50),
    (32, "SURF", "Surface Cleaner", 3, (500, 750, 1500), "ML", (8, 12), 0.65),
]
VARIANTS = {
    "TP": (
        "Whitening",
        "Sensitive",
        "Herbal",
        "Cavity Protection",
        "Charcoal",
        "Fresh Gel",
        "Total 12",
        "Enamel Repair",
        "Baking Soda",
    ),
    "TB": ("Soft", "Medium", "Extra Soft", "Bamboo", "Deep Clean", "Slim"),
    "MW": ("Cool Mint", "Zero Alcohol", "Antibacterial", "Whitening Rinse"),
    "FLS": ("Waxed Mint", "Tape", "Expanding"),
    "BAR": ("Original", "Aloe", "Shea Butter", "Lavender", "Antibacterial", "Oatmeal", "Charcoal"),
    "LHS": ("Sea Minerals", "Lemon", "Antibacterial", "Sensitive", "Refill"),
    "BW": ("Moisturising", "Sport", "Coconut", "Cucumber", "Oud", "Sensitive"),
    "DEO": ("Roll-on", "Spray", "48h Fresh"),
    "SHP": ("Daily Care", "Anti-Dandruff", "Repair"),
    "DISH": ("Lemon", "Original", "Ultra Degreaser", "Green Tea"),
    "SURF": ("Multi-Purpose", "Kitchen", "Bathroom", "Disinfecting"),
}
MIX = {
    "ORAL": {"TP": 0.6, "TB": 0.2, "MW": 0.12, "FLS": 0.08},
    "PERS": {"BAR": 0.35, "LHS": 0.25, "BW": 0.25, "DEO": 0.08, "SHP": 0.07},
    "HOME": {"DISH": 0.55, "SURF": 0.45},
    "KIDS": {"TP": 0.6, "TB": 0.4},
    "GUM": {"TP": 0.5, "MW": 0.3, "FLS": 0.2},
    "OAT": {"BW": 0.5, "BAR": 0.3, "LHS": 0.2},
}
# BRAND_ID, BRAND_CD, NAME, TIER, mix, LAUNCH_YR, STATUS, n SKUs, markets (None = all), popularity
BRANDS = [
    (1, "BSM", "Brightsmile", "CORE", "ORAL", 1968, "A", 40, None, 3.0),
    (2, "DNV", "Dentiva", "PREMIUM", "ORAL", 1994, "A", 22, None, 1.6),
    (3, "PMT", "PureMint", "VALUE", "ORAL", 1985, "A", 25, None, 1.8),
    (4, "ENM", "Enamelle", "PREMIUM", "ORAL", 2009, "A", 12, None, 0.8),
    (5, "KGR", "KidsGrin", "CORE", "KIDS", 2001, "A", 10, None, 0.6),
    (6, "FRA", "FreshArc", "VALUE", "ORAL", 1999, "A", 14, None, 0.9),
    (7, "GCP", "Gumcare Pro", "PREMIUM", "GUM", 2012, "A", 8, ("US", "CA", "GB", "DE", "FR", "AU"), 0.5),
    (8, "IVR", "Ivoria", "CORE", "ORAL", 1979, "I", 9, None, 0.4),
    (9, "SVN", "Savonne", "PREMIUM", "PERS", 1991, "A", 20, None, 1.2),
    (10, "AQL", "AquaLeaf", "CORE", "PERS", 1987, "A", 24, None, 1.9),
    (11, "LVD", "Lavenda", "CORE", "PERS", 1975, "A", 16, None, 1.0),
    (12, "OTL", "Oatelle", "PREMIUM", "OAT", 2016, "A", 10, None, 0.6),
    (13, "SUD", "Suds & Co", "VALUE", "PERS", 2003, "A", 12, None, 0.8),
    (14, "MRS", "Marisol", "CORE", "PERS", 1982, "A", 14, ("MX", "BR", "ES", "US"), 0.9),
    (15, "VRD", "Verdance", "PREMIUM", "PERS", 2019, "A", 9, None, 0.4),
    (16, "KLN", "Kleen", "VALUE", "PERS", 1998, "A", 12, ("IN", "ID", "ZA", "AE", "PL"), 0.9),
    (17, "NBR", "Nordic Birch", "PREMIUM", "PERS", 2011, "A", 8, ("DE", "NL", "PL", "GB", "FR"), 0.4),
    (18, "CSH", "Cocoshea", "CORE", "PERS", 2006, "A", 9, ("ZA", "AE", "IN", "ID", "GB"), 0.5),
    (19, "SPK", "Sparkle", "CORE", "HOME", 1972, "A", 14, None, 1.0),
    (20, "CTS", "Citrosol", "VALUE", "HOME", 1993, "A", 10, ("MX", "BR", "IN", "ID", "ZA"), 0.6),
    (21, "HMG", "HomeGuard", "CORE", "HOME", 2000, "A", 12, None, 0.8),
    (22, "GLT", "Glint", "VALUE", "HOME", 1996, "I", 6, None, 0.3),
]
TIER_MARKUP = {"PREMIUM": 2.6, "CORE": 2.2, "VALUE": 1.8}
# PLANT_ID, CODE, NAME, CITY, CTRY_CD, capacity, opened, top categories made
PLANTS = [
    ("P010", "MEM", "Memphis Oral Care", "Memphis", "US", 180000, 1972, ("ORAL",)),
    ("P020", "JCY", "Jersey City Personal Care", "Jersey City", "US", 120000, 1961, ("PERS", "HOME")),
    ("P030", "TLC", "Toluca", "Toluca", "MX", 90000, 1988, ("ORAL", "PERS")),
    ("P040", "CPS", "Campinas", "Campinas", "BR", 85000, 1994, ("PERS", "HOME")),
    ("P050", "GLW", "Gliwice", "Gliwice", "PL", 70000, 2004, ("PERS",)),
    ("P060", "LYS", "Lyon Saint-Priest", "Lyon", "FR", 60000, 1979, ("ORAL",)),
    ("P070", "MHM", "Mannheim", "Mannheim", "DE", 95000, 1966, ("PERS", "HOME")),
    ("P080", "BDI", "Baddi", "Baddi", "IN", 110000, 2008, ("ORAL", "PERS")),
    ("P090", "SZH", "Suzhou", "Suzhou", "CN", 75000, 2010, ("ORAL",)),
    ("P100", "RYG", "Rayong", "Rayong", "TH", 65000, 2013, ("PERS",)),
    ("P110", "CKR", "Cikarang", "Cikarang", "ID", 80000, 2015, ("ORAL", "PERS", "HOME")),
]
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def countries() -> pd.DataFrame:
    """``mdm.geo_country`` plus internal market weight and city list."""
    rows = [
        dict(CTRY_CD=c, NAME=n, ISO3=i, REGION=r, CURRENCY_CD=ccy, _weight=w, _cities=list(cities))
        for c, n, i, r, ccy, w, cities in COUNTRIES
    ]
    return pd.DataFrame(rows)


def brands() -> pd.DataFrame:
    """``mdm.BRAND`` plus internal mix, SKU count, markets and popularity."""
    rows = [
        dict(
            BRAND_ID=b,
            BRAND_CD=cd,
            NAME=n,
            TIER=tier,
            LAUNCH_YR=yr,
            STATUS=st,
            _mix=mix,
            _n=n_sku,
            _markets=list(mk or SALES_COUNTRIES),
            _pop=pop,
        )
        for b, cd, n, tier, mix, yr, st, n_sku, mk, pop in BRANDS
    ]
    return pd.DataFrame(rows)


def categories() -> list[pd.DataFrame]:
    """``mdm.prod_category`` as two frames: top level first (self-referencing FK)."""
    top = pd.DataFrame([dict(CAT_ID=i, CODE=c, NAME=n, PARENT_CAT_ID=None, LVL=1) for i, c, n in TOP_CATEGORIES])
    top["PARENT_CAT_ID"] = _gen.nullable_int(np.zeros(len(top)), np.ones(len(top), bool))
    leaf = pd.DataFrame([dict(CAT_ID=i, CODE=c, NAME=n, PARENT_CAT_ID=p, LVL=2) for i, c, n, p, *_ in LEAF_CATEGORIES])
    return [top, leaf]


def plants() -> pd.DataFrame:
    """``mdm.plant`` plus the internal list of top categories each plant makes."""
    rows = [
        dict(PLANT_ID=p, CODE=c, NAME=n, CITY=city, CTRY_CD=ctry, CAPACITY_MT=cap, OPENED_YR=yr, _makes=list(mk))
        for p, c, n, city, ctry, cap, yr, mk in PLANTS
    ]
    return pd.DataFrame(rows)


def _gtin(rng: np.random.Generator, n: int) -> np.ndarray:
    """GTIN-14 codes with a valid GS1 check digit under one company prefix."""
    items = rng.choice(np.arange(10000, 99999), size=n, replace=False)
    out = []
    for item in items:
        body = f"00871234{item:05d}"  # indicator + GS1 company prefix + item reference: 13 digits
        total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(body))
        out.append(body + str((10 - total % 10) % 10))
    return np.array(out)


def _sku_rows(rng: np.random.Generator, brand: pd.Series, plant_df: pd.DataFrame) -> list[dict]:
    """SKU rows of one brand (description, pack, cost, lifecycle dates)."""
    leaf = {c[1]: c for c in LEAF_CATEGORIES}
    mix = MIX[brand["_mix"]]
    rows, seen = [], set()
    for _ in range(brand["_n"]):
        code = _gen.pick(rng, list(mix), 1, list(mix.values()))[0]
        cat_id, _, cat_name, parent, sizes, uom, cases, cost = leaf[code]
        variant = _gen.pick(rng, VARIANTS[code], 1)[0]
        size = int(_gen.pick(rng, sizes, 1)[0])
        base = f"{brand['NAME']} {variant} {cat_name} {size}{uom}"
        desc, pack = base, 1
        while desc in seen:  # same variant & size again: a multipack
            pack += 1
            desc = f"{base} {pack}PK"
        seen.add(desc)
        top = TOP_CATEGORIES[parent - 1][1]
        makers = plant_df.loc[plant_df["_makes"].map(lambda m, top=top: top in m), "PLANT_ID"].to_numpy()
        scale = (size / np.median(sizes)) ** 0.6 if uom != "CT" else size**0.8
        rows.append(
            dict(
                _desc=desc,
                BRAND_ID=brand["BRAND_ID"],
                CAT_ID=cat_id,
                MFG_PLANT=_gen.pick(rng, makers, 1)[0] if rng.random() > 0.03 else None,
                SIZE_VAL=float(size),
                SIZE_UOM=uom,
                CASE_QTY=int(_gen.pick(rng, cases, 1)[0]),
                STD_COST_USD=round(cost * scale * TIER_MARKUP[brand["TIER"]] / 2.2 * rng.uniform(0.85, 1.15), 4),
                _tier=brand["TIER"],
                _markets=brand["_markets"],
                _code=code,
                _pop=brand["_pop"] * rng.lognormal(0, 0.9) * (2.0 if code == "TP" else 1.0),
                _inactive=brand["STATUS"] == "I",
            )
        )
    return rows


def _lifecycle(rng: np.random.Generator, sku: pd.DataFrame) -> None:
    """Set LAUNCH_DT, DISC_DT and STATUS (as of the window end) in place."""
    n = len(sku)
    launch = _gen.random_days(rng, "2008-01-01", "2022-12-31", n)
    new = rng.random(n) < 0.18
    launch[new] = _gen.random_days(rng, "2023-01-01", "2025-05-31", int(new.sum()))
    disc = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    inactive = sku["_inactive"].to_numpy()
    launch[inactive] = _gen.random_days(rng, "2005-01-01", "2020-12-31", int(inactive.sum()))
    disc[inactive] = _gen.random_days(rng, "2023-03-01", "2024-06-30", int(inactive.sum()))
    retire = (~inactive) & (~new) & (rng.random(n) < 0.09)
    disc[retire] = _gen.random_days(rng, "2023-06-01", "2025-05-31", int(retire.sum()))
    end = _gen.day(END)
    status = np.where(launch > end - 180, "NPD", "ACT")
    status = np.where(~np.isnat(disc) & (disc <= end), "DISC", status)
    sku["LAUNCH_DT"], sku["DISC_DT"], sku["STATUS"] = launch, disc, status


def skus(rng: np.random.Generator, brand_df: pd.DataFrame, plant_df: pd.DataFrame) -> pd.DataFrame:
    """``mdm.SKU`` with internal popularity, markets and category code."""
    rows = [r for _, b in brand_df.iterrows() for r in _sku_rows(rng, b, plant_df)]
    sku = pd.DataFrame(rows)
    _lifecycle(rng, sku)
    n = len(sku)
    legacy = sku["LAUNCH_DT"].to_numpy() < _gen.day("2015-01-01")
    nbr = np.where(
        legacy,
        rng.choice(np.arange(100000, 999999), n, replace=False),
        rng.choice(np.arange(10_000_000, 19_999_999), n, replace=False),
    )
    sku["SKU_NBR"] = [f"{x:08d}" for x in nbr]
    gtin = _gen.with_nulls(_gtin(rng, n), rng.random(n) < 0.05)
    sku["GTIN"], sku["SkuDesc"] = gtin, sku.pop("_desc")
    return sku


def _price_rows(rng: np.random.Generator, sku: dict, ccy: str) -> list[tuple]:
    """Effective-dated list prices of one SKU in one currency (a few price changes)."""
    usd_case = sku["STD_COST_USD"] * TIER_MARKUP[sku["_tier"]] * sku["CASE_QTY"] * rng.uniform(0.92, 1.08)
    price = usd_case / FX_BASE[ccy] * PRICE_INDEX[ccy]
    start = max(sku["LAUNCH_DT"], _gen.day(PRICE_BASE))
    disc = sku["DISC_DT"]
    hi = ccy in HIGH_INFLATION
    changes = []
    if rng.random() < (0.75 if hi else 0.35):
        changes.append((_gen.day("2024-03-01"), rng.uniform(1.06, 1.18) if hi else rng.uniform(1.03, 1.09)))
    if rng.random() < (0.6 if hi else 0.25):
        changes.append((_gen.day("2025-01-01"), rng.uniform(1.04, 1.12) if hi else rng.uniform(1.02, 1.06)))
    if rng.random() < 0.03:
        changes.append((_gen.random_days(rng, "2023-04-01", "2025-05-31", 1)[0], 0.95))
    changes = sorted((d, f) for d, f in changes if d > start and (np.isnat(disc) or d < disc))
    froms, prices = [start], [price]
    for d, f in changes:
        froms.append(d)
        prices.append(prices[-1] * f)
    tos = [f - 1 for f in froms[1:]] + [disc]
    return [(sku["SKU_NBR"], ccy, f, to, round(float(p), 2)) for f, to, p in zip(froms, tos, prices, strict=True)]


def price_list(rng: np.random.Generator, sku_df: pd.DataFrame) -> pd.DataFrame:
    """``mdm.price_list``: one price history per SKU and currency of the SKU's markets."""
    cols = ["SKU_NBR", "STD_COST_USD", "_tier", "CASE_QTY", "_markets"]
    records = sku_df[cols].to_dict("records")
    launch = sku_df["LAUNCH_DT"].to_numpy().astype("datetime64[D]")
    disc = sku_df["DISC_DT"].to_numpy().astype("datetime64[D]")
    rows = []
    for i, sku in enumerate(records):
        sku.update(LAUNCH_DT=launch[i], DISC_DT=disc[i])
        for ccy in sorted({CCY_OF[c] for c in sku["_markets"]}):
            rows.extend(_price_rows(rng, sku, ccy))
    sku_nbr, ccy, eff_from, eff_to, prc = zip(*rows, strict=True)
    return pd.DataFrame(
        dict(
            SKU_NBR=sku_nbr,
            CURRENCY_CD=ccy,
            EFF_FROM=np.array(eff_from, dtype="datetime64[D]"),
            EFF_TO=np.array(eff_to, dtype="datetime64[D]"),
            LIST_PRC=prc,
        )
    )


def dim_date() -> pd.DataFrame:
    """``main.DIM_DATE`` for 2022-2025, fiscal year starting 1 July."""
    d = _gen.day_range("2022-01-01", "2025-12-31")
    s = pd.Series(d.astype("datetime64[s]"))
    year, month = s.dt.year.to_numpy(), s.dt.month.to_numpy()
    fisc_per = (month - 7) % 12 + 1
    return pd.DataFrame(
        dict(
            DATE_KEY=year * 10000 + month * 100 + s.dt.day.to_numpy(),
            CAL_DT=d,
            CAL_YR=year,
            CAL_QTR=(month - 1) // 3 + 1,
            CAL_MTH=month,
            MTH_NM=np.array(MONTHS)[month - 1],
            DOW_NM=np.array(DAYS)[_gen.weekday(d)],
            WKND_FL=np.where(_gen.weekday(d) >= 5, "Y", "N"),
            FISC_YR=np.where(month >= 7, year + 1, year),
            FISC_QTR=(fisc_per - 1) // 3 + 1,
            FISC_PER=fisc_per,
        )
    )


def fx_rates(rng: np.random.Generator) -> pd.DataFrame:
    """``main.FX_RATE``: monthly USD value of each currency (random walk; AED pegged)."""
    months = np.arange(np.datetime64(START[:7]), np.datetime64(END[:7]) + 1).astype("datetime64[D]")
    frames = []
    for ccy, base in FX_BASE.items():
        drift = 0.006 if ccy in HIGH_INFLATION else 0.0
        walk = np.exp(np.cumsum(rng.normal(-drift, 0.015, len(months))))
        rate = np.full(len(months), base) if ccy in ("USD", "AED") else base * walk
        frames.append(pd.DataFrame(dict(CCY_CD=ccy, RATE_MTH=months, USD_PER_CCY=np.round(rate, 10))))
    return pd.concat(frames, ignore_index=True)
