"""Supply chain of the ``cpg`` sample: carriers, distribution centres, shipments, inventory."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sqltune.samples import _gen
from sqltune.samples._cpg_master import END, START

# CARRIER_ID, CODE, NAME, MODE_CD, countries served (PCL carriers serve online orders everywhere)
CARRIERS = [
    (1, "NRTL", "Northline Freight", "FTL", ("US", "CA")),
    (2, "SWFT", "Swiftway Logistics", "LTL", ("US", "CA", "MX")),
    (3, "PCLX", "ParcelX", "PCL", ()),
    (4, "EURH", "EuroHaul", "FTL", ("GB", "DE", "FR", "NL", "ES", "IT", "PL")),
    (5, "TRNS", "Transalpina", "LTL", ("DE", "FR", "ES", "IT", "NL")),
    (6, "BLUB", "Bluebird Transportes", "FTL", ("MX", "BR")),
    (7, "RAPI", "Rapido Cargas", "LTL", ("BR",)),
    (8, "BHRW", "Bharat Roadways", "FTL", ("IN",)),
    (9, "NUSA", "Nusantara Express", "LTL", ("ID",)),
    (10, "SOCR", "Southern Cross Freight", "FTL", ("AU",)),
    (11, "KALA", "Kalahari Logistics", "FTL", ("ZA", "AE")),
    (12, "GULF", "Gulf Line Transport", "LTL", ("AE",)),
    (13, "OCNX", "OceanX Lines", "OCN", ()),
]
# DC_ID, NAME, CITY, CTRY_CD, SRC_PLANT, TYPE_CD, CAPACITY_PLT, OPEN_DT, {served country: weight}
DCS = [
    ("DC01", "Memphis DC", "Memphis", "US", "P010", "OWN", 60000, "1998-04-01", {"US": 0.5}),
    ("DC02", "Reno DC", "Reno", "US", "P020", "3PL", 35000, "2012-09-01", {"US": 0.3}),
    ("DC03", "Atlanta DC", "Atlanta", "US", "P020", "OWN", 40000, "2005-02-01", {"US": 0.2}),
    ("DC04", "Brampton DC", "Brampton", "CA", "P010", "3PL", 18000, "2009-05-01", {"CA": 1}),
    ("DC05", "Monterrey DC", "Monterrey", "MX", "P030", "OWN", 22000, "2001-03-01", {"MX": 1}),
    ("DC06", "Cajamar DC", "Cajamar", "BR", "P040", "OWN", 25000, "2003-08-01", {"BR": 1}),
    ("DC07", "Daventry DC", "Daventry", "GB", "P060", "3PL", 20000, "2007-01-15", {"GB": 1}),
    ("DC08", "Duisburg DC", "Duisburg", "DE", "P070", "OWN", 30000, "1999-06-01", {"DE": 1, "NL": 1, "PL": 0.3}),
    ("DC09", "Lyon DC", "Lyon", "FR", "P060", "OWN", 16000, "2002-10-01", {"FR": 1}),
    ("DC10", "Zaragoza DC", "Zaragoza", "ES", "P070", "3PL", 12000, "2011-04-01", {"ES": 1}),
    ("DC11", "Piacenza DC", "Piacenza", "IT", "P070", "3PL", 12000, "2010-02-01", {"IT": 1}),
    ("DC12", "Wroclaw DC", "Wroclaw", "PL", "P050", "3PL", 9000, "2014-09-01", {"PL": 0.7}),
    ("DC13", "Bhiwandi DC", "Bhiwandi", "IN", "P080", "OWN", 28000, "2009-11-01", {"IN": 1}),
    ("DC14", "Cikarang DC", "Cikarang", "ID", "P110", "OWN", 15000, "2016-01-01", {"ID": 1}),
    ("DC15", "Sydney DC", "Sydney", "AU", "P090", "3PL", 11000, "2008-07-01", {"AU": 1}),
    ("DC16", "Johannesburg DC", "Johannesburg", "ZA", "P100", "3PL", 8000, "2012-03-01", {"ZA": 1}),
    ("DC17", "Jebel Ali DC", "Dubai", "AE", "P080", "3PL", 6000, "2015-05-01", {"AE": 1}),
    ("DC18", "Mexico City DC", "Mexico City", "MX", "P030", "OWN", 14000, "2024-07-01", {"MX": 1}),
]
INV_SEASON = (1.0, 0.95, 0.95, 1.0, 1.05, 1.1, 1.15, 1.05, 0.95, 1.0, 1.05, 0.9)


def carriers() -> pd.DataFrame:
    """``supply.carrier`` with the internal list of served countries."""
    return pd.DataFrame([dict(CARRIER_ID=i, CODE=c, NAME=n, MODE_CD=m, _ctry=list(ct)) for i, c, n, m, ct in CARRIERS])


def dist_centers() -> pd.DataFrame:
    """``supply.dist_center`` with the internal served-country weights."""
    return pd.DataFrame(
        [
            dict(
                DC_ID=d,
                NAME=n,
                CITY=c,
                CTRY_CD=ct,
                SRC_PLANT=p,
                TYPE_CD=t,
                CAPACITY_PLT=cap,
                OPEN_DT=_gen.day(o),
                _serves=s,
            )
            for d, n, c, ct, p, t, cap, o, s in DCS
        ]
    )


def _pick_dc(rng: np.random.Generator, ctry: np.ndarray, ship: np.ndarray, dc: pd.DataFrame) -> np.ndarray:
    """Shipping DC per shipment: weighted among DCs serving the country and open on the ship date."""
    out = np.empty(len(ctry), dtype=object)
    for c in np.unique(ctry):
        rows = np.flatnonzero(ctry == c)
        serving = dc[dc["_serves"].map(lambda s, c=c: c in s)]
        w = serving["_serves"].map(lambda s, c=c: s[c]).to_numpy()
        choice = _gen.pick(rng, serving["DC_ID"].to_numpy(), len(rows), w)
        open_dt = serving["OPEN_DT"].to_numpy().astype("datetime64[D]")
        opened = dict(zip(serving["DC_ID"], open_dt, strict=True))
        fallback = serving["DC_ID"].iloc[int(np.argmin(open_dt))]
        when = np.where(np.isnat(ship[rows]), _gen.day(END), ship[rows])
        late = np.array([opened[x] for x in choice], dtype="datetime64[D]") > when
        choice[late] = fallback
        out[rows] = choice
    return out


def _pick_carrier(rng: np.random.Generator, ctry: np.ndarray, parcel: np.ndarray, car: pd.DataFrame) -> np.ndarray:
    """Carrier code per shipment: the parcel carrier for online orders, else a local truck carrier."""
    out = np.full(len(ctry), "PCLX", dtype=object)
    for c in np.unique(ctry):
        rows = np.flatnonzero((ctry == c) & ~parcel)
        local = car.loc[car["_ctry"].map(lambda s, c=c: c in s), "CODE"].to_numpy()
        out[rows] = _gen.pick(rng, local, len(rows))
    out[rng.random(len(ctry)) < 0.04] = None
    return out


def shipments(
    rng: np.random.Generator,
    draft: pd.DataFrame,
    hdr: pd.DataFrame,
    line: pd.DataFrame,
    dc: pd.DataFrame,
    car: pd.DataFrame,
) -> pd.DataFrame:
    """``supply.shipment`` from the order module's draft (one row per shipment)."""
    d = draft.sort_values(["_ship", "_opos", "_part"], kind="stable").reset_index(drop=True)
    n = len(d)
    opos = d["_opos"].to_numpy()
    ctry, chnl = hdr["_ctry"].to_numpy()[opos], hdr["CHNL_CD"].to_numpy()[opos]
    status = d["STATUS"].to_numpy()
    ship = _gen.with_nulls(d["_ship"].to_numpy().astype("datetime64[D]"), status == "PLN")
    deliv = _gen.with_nulls(d["_deliv"].to_numpy().astype("datetime64[D]"), status != "DLV")
    cases = line.groupby("_opos")["_cases"].sum().reindex(opos).fillna(0).to_numpy() * d["_share"].to_numpy()
    parcel = np.isin(chnl, ("DTC", "ECOM")) & (cases < 40)
    carrier = _pick_carrier(rng, ctry, parcel, car)
    pallets = np.maximum(1, np.ceil(cases / 60)).astype(np.int64)
    kg = np.where(parcel, np.maximum(0.3, cases * 7.5), cases * 7.5 * rng.uniform(0.9, 1.1, n) + pallets * 22)
    freight = np.where(parcel, 6 + 1.2 * kg, 120 + 38 * pallets * rng.uniform(0.8, 1.3, n))
    track = np.char.add(
        np.array([c or "UNKN" for c in carrier], dtype=str), rng.integers(1_000_000_000, 9_999_999_999, n).astype(str)
    ).astype(object)
    track[status == "PLN"] = None
    return pd.DataFrame(
        {
            "SHIPMENT_ID": np.arange(30_000_001, 30_000_001 + n),
            "ORDER_ID": d["ORDER_ID"].to_numpy(),
            "ship_from_dc": _pick_dc(rng, ctry, ship, dc),
            "CARRIER_CD": carrier,
            "ShipDt": ship,
            "DelivDt": deliv,
            "STATUS": status,
            "PALLETS": _gen.nullable_int(pallets, parcel),
            "WEIGHT_KG": np.round(kg, 1),
            "FREIGHT_USD": _gen.money(freight),
            "TRACKING_NBR": track,
        }
    )


def inventory(rng: np.random.Generator, dc: pd.DataFrame, sku: pd.DataFrame) -> pd.DataFrame:
    """``supply.inv_snapshot``: month-end stock of the SKUs each DC carries."""
    snaps = _gen.month_ends(START, END)
    launch = sku["LAUNCH_DT"].to_numpy().astype("datetime64[D]")
    disc = sku["DISC_DT"].to_numpy().astype("datetime64[D]")
    opened = dc["OPEN_DT"].to_numpy().astype("datetime64[D]")
    cols: dict[str, list[np.ndarray]] = {
        c: [] for c in ("SNAP_DT_KEY", "DC_ID", "SKU_NBR", "ON_HAND_CS", "ALLOC_CS", "IN_TRANSIT_CS", "SAFETY_STK_CS")
    }
    for i, (_, row) in enumerate(dc.iterrows()):
        sells = sku["_markets"].map(lambda m, s=row["_serves"]: any(c in m for c in s)).to_numpy()
        carried = np.flatnonzero(sells & (rng.random(len(sku)) < 0.65))
        base = sku["_pop"].to_numpy()[carried] * row["CAPACITY_PLT"] / 40
        safety = np.round(base * rng.uniform(0.3, 0.7, len(carried))).astype(np.int64)
        for snap in snaps[snaps >= opened[i]]:
            live = (launch[carried] <= snap) & (np.isnat(disc[carried]) | (disc[carried] > snap - 60))
            idx, b, k = carried[live], base[live], int(live.sum())
            on_hand = np.round(b * rng.gamma(2.0, 0.6, k) * _gen.month_factor(np.array([snap]), INV_SEASON)[0])
            on_hand[rng.random(k) < 0.03] = 0
            on_hand[~np.isnat(disc[idx]) & (disc[idx] <= snap)] = 0
            transit = np.where(rng.random(k) < 0.4, 0, np.round(b * rng.uniform(0.1, 0.8, k)))
            cols["SNAP_DT_KEY"].append(np.full(k, int(str(snap).replace("-", ""))))
            cols["DC_ID"].append(np.full(k, row["DC_ID"], dtype=object))
            cols["SKU_NBR"].append(sku["SKU_NBR"].to_numpy()[idx])
            cols["ON_HAND_CS"].append(on_hand.astype(np.int64))
            cols["ALLOC_CS"].append(np.round(on_hand * rng.uniform(0, 0.4, k)).astype(np.int64))
            cols["IN_TRANSIT_CS"].append(transit.astype(np.int64))
            cols["SAFETY_STK_CS"].append(safety[live])
    return pd.DataFrame({c: np.concatenate(v) for c, v in cols.items()})
