"""Sales orders, order lines and returns of the ``cpg`` sample (the fact tables).

Orders follow weekday and monthly seasonality with yearly growth (online faster);
lines follow SKU popularity restricted to each brand's markets and each SKU's
lifecycle; prices come from the effective-dated price list; promotions lift volume.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sqltune.errors import SampleError
from sqltune.samples import _gen
from sqltune.samples._cpg_master import CCY_OF, END, START

N_ORDERS = 58_000
WEEKDAY = (1.0, 1.05, 1.0, 1.0, 0.95, 0.25, 0.1)
SEASON = (1.05, 1.0, 0.95, 0.95, 0.97, 0.98, 1.02, 1.12, 1.05, 1.0, 1.1, 0.9)
LINES_MEAN = {"DTC": 1.5, "ECOM": 5.0, "WHSL": 7.0, "MASS": 4.5, "CLUB": 4.5, "GROC": 3.0, "DRUG": 3.0}
QTY_MEAN = {"MASS": 30, "CLUB": 45, "GROC": 10, "DRUG": 6, "ECOM": 18, "WHSL": 60, "DTC": 1}
SOURCES = {
    "EDI": "MASS GROC DRUG CLUB ECOM WHSL",
    "PORTAL": "MASS GROC DRUG CLUB ECOM WHSL",
    "SFA": "MASS GROC DRUG WHSL",
    "MANUAL": "WHSL",
    "WEB": "DTC",
}
TIER_DISC = {"A": 0.03, "B": 0.015, "C": 0.0}
REASONS = {"DMG": 0.32, "EXP": 0.12, "WRG": 0.14, "OVR": 0.22, "QLT": 0.20}
ONLINE = ("ECOM", "DTC")


def _day_weights(days: np.ndarray, online: bool) -> np.ndarray:
    """Relative order intake per day: weekday × season × growth, with a year-end dip."""
    years = (days - _gen.day(START)).astype(np.int64) / 365.25
    w = np.asarray(WEEKDAY)[_gen.weekday(days)] if not online else np.ones(len(days))
    w = w * _gen.month_factor(days, SEASON) * (1 + (0.25 if online else 0.04) * years)
    md = pd.Series(days.astype("datetime64[s]")).dt.strftime("%m%d").to_numpy()
    return np.where((md >= "1224") | (md <= "0101"), 0.3 * w, w)


def _source(rng: np.random.Generator, chnl: np.ndarray) -> np.ndarray:
    """ORDER_SRC per order, allowed sources depending on the channel."""
    out = np.empty(len(chnl), dtype=object)
    for c in np.unique(chnl):
        allowed = [s for s, chans in SOURCES.items() if c in chans.split()]
        p = {"EDI": 8, "PORTAL": 2, "SFA": 1, "MANUAL": 0.5, "WEB": 1}
        m = chnl == c
        out[m] = _gen.pick(rng, allowed, int(m.sum()), [p[s] for s in allowed])
    return out


def orders(rng: np.random.Generator, store: pd.DataFrame, rtl: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``sales."OrderHeader"`` and a shipment draft (dates and statuses) for the supply generator."""
    n0 = int(N_ORDERS * 1.2)
    sidx = rng.choice(len(store), n0, p=_gen.norm(store["_w"].to_numpy()))
    chnl = store["_chnl"].to_numpy()[sidx]
    days = _gen.day_range(START, END)
    dates = np.empty(n0, dtype="datetime64[D]")
    for online in (False, True):
        m = np.isin(chnl, ONLINE) == online
        dates[m] = _gen.pick(rng, days, int(m.sum()), _day_weights(days, online))
    open_dt, close_dt = store["OPEN_DT"].to_numpy()[sidx], store["CLOSE_DT"].to_numpy()[sidx]
    ok = (open_dt <= dates) & (np.isnat(close_dt) | (dates < close_dt))
    keep = np.flatnonzero(ok)[:N_ORDERS]
    keep = keep[np.lexsort((rng.random(len(keep)), dates[keep]))]
    sidx, dates, chnl = sidx[keep], dates[keep], chnl[keep]
    n = len(keep)
    st = store.iloc[sidx]
    ctry = st["CTRY_CD"].to_numpy()
    rtl_id = st["rtl_id"].to_numpy()
    tier = pd.Series(rtl_id).map(dict(zip(rtl["RETAILER_ID"], rtl["TIER"], strict=True))).to_numpy()
    ids = 4_500_000 + np.cumsum(1 + (rng.random(n) < 0.03) * rng.integers(1, 5, n))
    dtc = chnl == "DTC"
    req = dates + np.where(dtc, rng.integers(3, 6, n), rng.integers(3, 15, n))
    po = np.char.add("PO", rng.integers(10_000_000, 99_999_999, n).astype(str)).astype(object)
    po[dtc] = np.char.add("WEB-", rng.integers(1_000_000, 9_999_999, int(dtc.sum())).astype(str))
    po[(chnl == "WHSL") & (rng.random(n) < 0.08)] = None
    first, last = _gen.people(rng, n)
    email = np.char.add(np.char.add(np.char.add(first, "."), last), rng.integers(1, 99, n).astype(str))
    email = np.char.add(np.char.lower(email), "@mail.example").astype(object)
    email[~dtc] = None
    hdr = pd.DataFrame(
        {
            "OrderId": ids,
            "OrderDate": dates,
            "ReqDelivDt": _gen.with_nulls(req, rng.random(n) < 0.04),
            "rtl_id": rtl_id,
            "SHIP_TO_STORE": st["STORE_ID"].to_numpy(),
            "CHNL_CD": chnl,
            "CURRENCY_CD": [CCY_OF[c] for c in ctry],
            "PO_NBR": po,
            "ORDER_SRC": _source(rng, chnl),
            "STATUS": "",
            "ConsumerEmail": email,
            "_ctry": ctry,
            "_tier": tier,
        }
    )
    draft = _ship_draft(rng, hdr)
    return hdr, draft


def _ship_draft(rng: np.random.Generator, hdr: pd.DataFrame) -> pd.DataFrame:
    """Simulate shipping; set order STATUS (and internal ``_deliv``) in place, return shipment drafts."""
    n = len(hdr)
    end = _gen.day(END)
    dates, chnl = hdr["OrderDate"].to_numpy().astype("datetime64[D]"), hdr["CHNL_CD"].to_numpy()
    dtc = chnl == "DTC"
    cancel = rng.random(n) < 0.025
    split = (~cancel) & (~dtc) & (rng.random(n) < 0.07)
    ship1 = dates + np.where(dtc, rng.integers(0, 3, n), rng.integers(1, 7, n))
    ship2 = ship1 + rng.integers(1, 6, n)
    deliv1, deliv2 = (
        ship + np.where(dtc, rng.integers(1, 5, n), rng.integers(1, 6, n)) + 2 * (chnl == "WHSL")
        for ship in (ship1, ship2)
    )
    is_open = ship1 > end
    frames = []
    for part, ship, deliv, take in ((1, ship1, deliv1, ~cancel), (2, ship2, deliv2, split)):
        idx = np.flatnonzero(take & ~(is_open & (dates >= end - 1)))
        frames.append(
            pd.DataFrame(
                dict(
                    _opos=idx,
                    _part=part,
                    _ship=ship[idx],
                    _deliv=deliv[idx],
                    _share=np.where(split[idx], 0.6 if part == 1 else 0.4, 1.0),
                )
            )
        )
    d = pd.concat(frames, ignore_index=True).sort_values(["_opos", "_part"], kind="stable").reset_index(drop=True)
    m = len(d)
    u = rng.random(m)
    status = np.where(d["_ship"] > end, "PLN", np.where(d["_deliv"] > end, "INT", "DLV"))
    status = np.where((status == "DLV") & (u < 0.015), "EXC", status)
    status = np.where((status == "DLV") & (u > 0.996), "RTN", status)
    d["STATUS"] = status
    all_dlv = pd.Series(status == "DLV").groupby(d["_opos"]).all()
    any_pln = pd.Series(status == "PLN").groupby(d["_opos"]).all()
    o_status = np.where(is_open & (dates >= end - 1), "OPEN", "CONF")
    has = np.zeros(n, bool)
    has[all_dlv.index] = True
    dlv = np.zeros(n, bool)
    dlv[all_dlv.index] = all_dlv.to_numpy()
    pln = np.zeros(n, bool)
    pln[any_pln.index] = any_pln.to_numpy()
    o_status = np.where(has & ~pln, np.where(dlv, "INV", "SHIP"), o_status)
    o_status[cancel] = "CANC"
    hdr["STATUS"] = o_status
    last = d.groupby("_opos")["_deliv"].max()
    deliv = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    deliv[last.index] = last.to_numpy()
    hdr["_deliv"] = deliv
    d["ORDER_ID"] = hdr["OrderId"].to_numpy()[d["_opos"]]
    return d


def _draw(
    rng: np.random.Generator,
    rows: np.ndarray,
    line_ctry: np.ndarray,
    avail: list[np.ndarray],
    pop: np.ndarray,
    out: np.ndarray,
) -> None:
    """Draw SKU indexes for ``rows`` by popularity among SKUs sold in each line's country (coded 0..n-1)."""
    for c, mask in enumerate(avail):
        r = rows[line_ctry[rows] == c]
        if len(r):
            out[r] = rng.choice(len(pop), len(r), p=_gen.norm(pop * mask))


def lines(
    rng: np.random.Generator, hdr: pd.DataFrame, sku: pd.DataFrame, price: pd.DataFrame, promo: pd.DataFrame
) -> pd.DataFrame:
    """``sales.ORDER_LINE`` (about 4 lines per order)."""
    chnl = hdr["CHNL_CD"].to_numpy()
    k = np.minimum(25, 1 + rng.poisson(pd.Series(chnl).map(LINES_MEAN).to_numpy()))
    opos = np.repeat(np.arange(len(hdr)), k)
    d = hdr["OrderDate"].to_numpy().astype("datetime64[D]")[opos]
    ctry, names = pd.factorize(hdr["_ctry"].to_numpy()[opos], sort=True)
    avail = [sku["_markets"].map(lambda m, c=c: c in m).to_numpy().astype(float) for c in names]
    pop = sku["_pop"].to_numpy()
    launch = sku["LAUNCH_DT"].to_numpy().astype("datetime64[D]")
    disc = sku["DISC_DT"].to_numpy().astype("datetime64[D]")
    s = np.zeros(len(opos), dtype=np.int64)
    _draw(rng, np.arange(len(opos)), ctry, avail, pop, s)
    for _ in range(5):
        bad = np.flatnonzero((launch[s] > d) | (~np.isnat(disc[s]) & (disc[s] <= d)))
        _draw(rng, bad, ctry, avail, pop, s)
    good = ~((launch[s] > d) | (~np.isnat(disc[s]) & (disc[s] <= d)))
    df = pd.DataFrame(dict(_opos=opos, _s=s, _d=d.astype(np.int64)))[good]
    df = df[~df.duplicated(["_opos", "_s"])].reset_index(drop=True)
    return _price_lines(rng, df, hdr, sku, price, promo)


def _price_lines(
    rng: np.random.Generator,
    df: pd.DataFrame,
    hdr: pd.DataFrame,
    sku: pd.DataFrame,
    price: pd.DataFrame,
    promo: pd.DataFrame,
) -> pd.DataFrame:
    """Quantities, list/net prices and promotions of drafted lines."""
    n = len(df)
    chnl = hdr["CHNL_CD"].to_numpy()[df["_opos"]]
    df["SKU_NBR"] = sku["SKU_NBR"].to_numpy()[df["_s"]]
    df["BRAND_ID"] = sku["BRAND_ID"].to_numpy()[df["_s"]]
    df["rtl_id"] = hdr["rtl_id"].to_numpy()[df["_opos"]]
    df["CURRENCY_CD"] = hdr["CURRENCY_CD"].to_numpy()[df["_opos"]]
    live = promo[promo["STATUS"] != "CANC"][["PROMO_ID", "rtl_id", "BRAND_ID", "START_DT", "END_DT", "DISC_PCT"]]
    m = df.reset_index().merge(live, on=["rtl_id", "BRAND_ID"])
    m = m[
        (m["_d"] >= m["START_DT"].to_numpy().astype("datetime64[D]").astype(np.int64))
        & (m["_d"] <= m["END_DT"].to_numpy().astype("datetime64[D]").astype(np.int64))
    ]
    m = m.sort_values(["index", "PROMO_ID"]).drop_duplicates("index")
    m = m[rng.random(len(m)) < 0.92]
    promo_id = np.full(n, -1)
    promo_id[m["index"].to_numpy()] = m["PROMO_ID"].to_numpy()
    promo_pct = np.zeros(n)
    promo_pct[m["index"].to_numpy()] = m["DISC_PCT"].to_numpy()
    qty_mean = pd.Series(chnl).map(QTY_MEAN).to_numpy()
    qty = np.where(chnl == "DTC", rng.geometric(0.45, n), np.ceil(rng.lognormal(np.log(qty_mean), 0.7)))
    qty = np.ceil(qty * np.where(promo_id > 0, rng.uniform(1.3, 2.2, n), 1.0)).astype(np.int64)
    pl = price.assign(_d=price["EFF_FROM"].to_numpy().astype("datetime64[D]").astype(np.int64))
    pl = pl[["SKU_NBR", "CURRENCY_CD", "_d", "LIST_PRC"]].sort_values("_d", kind="stable")
    df = df.reset_index().sort_values("_d", kind="stable")
    df = pd.merge_asof(df, pl, on="_d", by=["SKU_NBR", "CURRENCY_CD"]).sort_values("index").set_index("index")
    if df["LIST_PRC"].isna().any():
        raise SampleError("cpg: an order line found no valid list price")
    case_qty = sku["CASE_QTY"].to_numpy()[df["_s"]]
    uom = np.where(chnl == "DTC", "EA", "CS")
    list_prc = _gen.money(np.where(uom == "EA", df["LIST_PRC"].to_numpy() / case_qty, df["LIST_PRC"].to_numpy()))
    tier = pd.Series(hdr["_tier"].to_numpy()[df["_opos"]]).map(TIER_DISC).fillna(0).to_numpy()
    net = _gen.money(list_prc * (1 - tier) * (1 - promo_pct / 100))
    nbr = 10 * (df.groupby("_opos").cumcount().to_numpy() + 1)
    return pd.DataFrame(
        {
            "LINE_ID": np.arange(20_000_001, 20_000_001 + n),
            "OrderId": hdr["OrderId"].to_numpy()[df["_opos"]],
            "LINE_NBR": nbr,
            "SKU_NBR": df["SKU_NBR"].to_numpy(),
            "QTY": qty,
            "UOM_CD": uom,
            "LIST_PRC": list_prc,
            "NET_PRC": net,
            "LINE_AMT": _gen.money(qty * net),
            "PROMO_ID": _gen.nullable_int(promo_id, promo_id < 0),
            "_opos": df["_opos"].to_numpy(),
            "_cases": np.where(uom == "EA", qty / case_qty, qty),
        }
    )


def returns(rng: np.random.Generator, hdr: pd.DataFrame, line: pd.DataFrame, recall_sku: str) -> pd.DataFrame:
    """``sales.RTRN_LN``: ~1.5% of invoiced orders, plus a product recall in autumn 2024."""
    n = len(hdr)
    end = _gen.day(END)
    inv = hdr["STATUS"].to_numpy() == "INV"
    deliv = hdr["_deliv"].to_numpy().astype("datetime64[D]")
    p = np.where(np.isin(hdr["CHNL_CD"].to_numpy(), ONLINE), 0.03, 0.015)
    chosen = inv & (rng.random(n) < p)
    opos = line["_opos"].to_numpy()
    cand = line[chosen[opos]].assign(_r=rng.random(int(chosen[opos].sum()))).sort_values(["_opos", "_r"])
    cand = cand[cand.groupby("_opos").cumcount().to_numpy() < (1 + rng.poisson(0.4, n))[cand["_opos"]]]
    normal = cand.assign(
        _kind=0,
        REASON_CD=_gen.pick(rng, list(REASONS), len(cand), list(REASONS.values())),
        _doc_dt=deliv[cand["_opos"]] + rng.integers(3, 61, n)[cand["_opos"]],
    )
    normal["QTY"] = np.ceil(normal["QTY"].to_numpy() * rng.uniform(0.05, 1.0, len(normal))).astype(np.int64)
    in_win = (deliv[opos] >= _gen.day("2024-05-01")) & (deliv[opos] <= _gen.day("2024-08-31"))
    rec = line[(line["SKU_NBR"].to_numpy() == recall_sku) & inv[opos] & in_win & (rng.random(len(line)) < 0.6)]
    recall = rec.assign(_kind=1, REASON_CD="RCL", _doc_dt=_gen.day("2024-09-02") + rng.integers(0, 60, n)[rec["_opos"]])
    df = pd.concat([normal, recall], ignore_index=True)
    df = df[df["_doc_dt"].to_numpy() <= end].sort_values(["_doc_dt", "_kind", "_opos", "LINE_ID"], kind="stable")
    doc = df.groupby(["_doc_dt", "_kind", "_opos"], sort=False).ngroup().to_numpy()
    m = len(df)
    status = _gen.pick(rng, ["CRED", "APPR", "REJ"], m, [0.72, 0.14, 0.14])
    status[df["_kind"].to_numpy() == 1] = "CRED"
    status[df["_doc_dt"].to_numpy() > end - 14] = "REQ"
    credit = _gen.money(df["QTY"].to_numpy() * df["NET_PRC"].to_numpy())
    credit = np.where(status == "REJ", 0.0, np.where(status == "REQ", np.nan, credit))
    return pd.DataFrame(
        dict(
            RTRN_ID=500_001 + doc,
            LINE_NBR=df.groupby(doc).cumcount().to_numpy() + 1,
            ORIG_LINE_ID=df["LINE_ID"].to_numpy(),
            RTRN_DT=df["_doc_dt"].to_numpy(),
            QTY=df["QTY"].to_numpy(),
            REASON_CD=df["REASON_CD"].to_numpy(),
            CREDIT_AMT=credit,
            STATUS=status,
        )
    )
