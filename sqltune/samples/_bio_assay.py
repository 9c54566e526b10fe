"""Assays, experiments (assay runs) and assay results of the ``biotech`` sample.

Each compound has a latent potency on its project's target that improves as the
project progresses (structure-activity learning) plus latent ADME and safety
properties; each run measures recently registered compounds with replicate noise,
censoring at the assay's limits and a few flagged values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sqltune.samples import _gen
from sqltune.samples._bio_chem import END, STAGE_RANK, TARGETS

METHODS = ("TR-FRET", "ADP-Glo", "FP", "AlphaScreen", "SPR")
# NAME, ASSAY_TYPE, TGT_ID, READOUT, UNITS, cadence in days, minimum project stage rank
PANEL = [
    ("hERG patch clamp", "TOX", 22, "IC50", "nM", 90, 2),
    ("CYP3A4 inhibition", "TOX", 23, "IC50", "nM", 90, 2),
    ("HepG2 cytotoxicity", "TOX", None, "IC50", "uM", 120, 2),
    ("Human liver microsome stability", "ADME", None, "CLint", "uL/min/mg", 60, 1),
    ("Rat liver microsome stability", "ADME", None, "CLint", "uL/min/mg", 120, 2),
    ("Caco-2 permeability", "ADME", None, "Papp", "1e-6 cm/s", 90, 1),
    ("Kinetic solubility pH 7.4", "ADME", None, "SOL", "uM", 60, 1),
    ("Rat IV pharmacokinetics", "PK", None, "T1/2", "h", 150, 3),
    ("Rat oral bioavailability", "PK", None, "F", "%", 150, 3),
]
V2_SWITCH = "2021-01-01"  # biochemical assays of projects older than this were re-validated (v2)


def assays(rng: np.random.Generator, proj: pd.DataFrame) -> pd.DataFrame:
    """``research.ASSAY``: biochemical and cellular assays per project target, plus a shared panel."""
    rows = []
    for tgt in sorted(proj["TGT_ID"].unique()):
        gene, cls = TARGETS[int(tgt) - 1][1], TARGETS[int(tgt) - 1][3]
        readout = "Ki" if cls == "GPCR" else "IC50"
        method = _gen.pick(rng, METHODS, 1)[0]
        old = proj.loc[proj["TGT_ID"] == tgt, "START_DT"].min() < pd.Timestamp(V2_SWITCH)
        for ver in ("v1", "v2") if old else ("v1",):
            rows.append(
                dict(
                    NAME=f"{gene} biochemical {method} {ver}",
                    ASSAY_TYPE="BIOCHEM",
                    TGT_ID=tgt,
                    READOUT=readout,
                    UNITS="nM",
                    PROTOCOL_VER=ver,
                    ACTIVE_FL=ver == "v2" or not old,
                )
            )
        rows.append(
            dict(
                NAME=f"{gene} cellular {'agonism' if cls == 'GPCR' else 'inhibition'}",
                ASSAY_TYPE="CELL",
                TGT_ID=tgt,
                READOUT="EC50" if cls == "GPCR" else "IC50",
                UNITS="nM",
                PROTOCOL_VER="v1",
                ACTIVE_FL=True,
            )
        )
    for name, kind, tgt, readout, units, _, _ in PANEL:
        rows.append(
            dict(
                NAME=name, ASSAY_TYPE=kind, TGT_ID=tgt, READOUT=readout, UNITS=units, PROTOCOL_VER="v1", ACTIVE_FL=True
            )
        )
    df = pd.DataFrame(rows)
    df.insert(0, "ASSAY_ID", np.arange(1001, 1001 + len(df)))
    df["TGT_ID"] = df["TGT_ID"].astype("Int64")
    return df


def _schedule(rng: np.random.Generator, proj: pd.DataFrame, assay: pd.DataFrame) -> pd.DataFrame:
    """Run dates per project and assay (cadence with jitter), before the project's end."""
    panel = {name: (cad, rank) for name, _, _, _, _, cad, rank in PANEL}
    rows = []
    for _, p in proj.iterrows():
        start = _gen.day(str(p["START_DT"].date())) + 60
        stop = min(_gen.day(END), _gen.day(str(p["END_DT"].date())) if not pd.isna(p["END_DT"]) else _gen.day(END))
        stage = STAGE_RANK[p["PHASE"]]
        for _, a in assay.iterrows():
            if a["ASSAY_TYPE"] in ("BIOCHEM", "CELL"):
                if a["TGT_ID"] != p["TGT_ID"]:
                    continue
                cadence, lo, hi = (14 if a["ASSAY_TYPE"] == "BIOCHEM" else 30), start, stop
                if a["PROTOCOL_VER"] == "v1" and not a["ACTIVE_FL"]:
                    hi = min(stop, _gen.day(V2_SWITCH) - 1)
                elif a["PROTOCOL_VER"] == "v2":
                    lo = max(start, _gen.day(V2_SWITCH))
            else:
                cadence, rank = panel[a["NAME"]]
                if stage < rank:
                    continue
                lo, hi = start + 180, stop
            if hi <= lo:
                continue
            n = int((hi - lo).astype(int) // cadence)
            runs = lo + cadence * np.arange(n) + rng.integers(0, max(1, cadence // 3), n)
            rows.append(pd.DataFrame(dict(_proj=p["PROJECT_ID"], ASSAY_ID=a["ASSAY_ID"], RUN_DT=runs[runs <= hi])))
    return pd.concat(rows, ignore_index=True)


def experiments(rng: np.random.Generator, proj: pd.DataFrame, assay: pd.DataFrame) -> pd.DataFrame:
    """``research.experiment``: one row per assay run."""
    df = _schedule(rng, proj, assay).sort_values(["RUN_DT", "ASSAY_ID", "_proj"], kind="stable").reset_index(drop=True)
    n = len(df)
    df.insert(0, "EXP_ID", np.arange(40001, 40001 + n))
    df["PROJECT_ID"] = _gen.with_nulls(df["_proj"].to_numpy(), rng.random(n) < 0.03)
    operators = {pid: _gen.full_names(rng, 4) for pid in proj["PROJECT_ID"]}
    df["OPERATOR"] = [operators[p][i] for p, i in zip(df["_proj"], rng.integers(0, 4, n), strict=True)]
    year = pd.Series(df["RUN_DT"].to_numpy().astype("datetime64[Y]").astype(int) + 1970)
    seq = df.groupby(year).cumcount().to_numpy() + 1
    eln = np.array([f"ELN-{y}-{s:05d}" for y, s in zip(year, seq, strict=True)])
    df["ELN_REF"] = _gen.with_nulls(eln, rng.random(n) < 0.01)
    df["PLATE_CNT"] = rng.integers(1, 5, n)
    status = np.where(rng.random(n) < 0.03, "INVALID", "COMPLETE").astype(object)
    status[df["RUN_DT"].to_numpy() > _gen.day(END) - 14] = "DRAFT"
    df["STATUS"] = status
    return df


def _latent(rng: np.random.Generator, cmpd: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per-compound latent properties: target potency (pIC50) and ADME/safety values."""
    n = len(cmpd)
    series_key = cmpd["PROJECT_ID"].fillna("LIB") + cmpd["SERIES"].fillna("-")
    offset = series_key.map({k: rng.normal(0, 0.4) for k in sorted(series_key.unique())}).to_numpy()
    pot = 5.0 + 2.8 * cmpd["_progress"].to_numpy() ** 0.7 + offset + rng.normal(0, 0.8, n)
    return {
        "pot": pot,
        "cell_shift": rng.uniform(0.6, 1.4, n),
        "herg": 4.8 + rng.normal(0, 0.6, n),
        "cyp": 5.0 + rng.normal(0, 0.5, n),
        "tox": 4.5 + rng.normal(0, 0.4, n),
        "hlm": rng.lognormal(np.log(25), 0.9, n),
        "rlm": rng.lognormal(np.log(40), 0.9, n),
        "papp": rng.lognormal(np.log(8), 0.8, n),
        "sol": rng.lognormal(np.log(60), 1.0, n),
        "t12": rng.lognormal(np.log(2), 0.6, n),
        "f": np.clip(rng.normal(35, 20, n), 1, 95),
    }


def _tested(rng: np.random.Generator, exp: pd.DataFrame, cmpd: pd.DataFrame, assay: pd.DataFrame) -> pd.DataFrame:
    """(experiment, compound) pairs: each run tests compounds registered in the 120 days before it."""
    kind = exp["ASSAY_ID"].map(dict(zip(assay["ASSAY_ID"], assay["ASSAY_TYPE"], strict=True))).to_numpy()
    k = np.where(np.isin(kind, ["BIOCHEM", "CELL"]), rng.integers(8, 25, len(exp)), rng.integers(4, 12, len(exp)))
    exps, cmps = [], []
    reg = cmpd["REG_DT"].to_numpy().astype("datetime64[D]").astype(np.int64)
    for pid, grp in exp.groupby("_proj", sort=True):
        own = np.flatnonzero(cmpd["PROJECT_ID"].to_numpy() == pid)
        own = own[np.argsort(reg[own], kind="stable")]
        run = grp["RUN_DT"].to_numpy().astype("datetime64[D]").astype(np.int64)
        hi = np.searchsorted(reg[own], run, side="right")
        lo = np.searchsorted(reg[own], run - 120, side="left")
        for e, a, b, kk in zip(grp.index, lo, hi, k[grp.index], strict=True):
            if b > a:
                chosen = own[a:b] if b - a <= kk else own[a + np.sort(rng.choice(b - a, kk, replace=False))]
                exps.append(np.full(len(chosen), e))
                cmps.append(chosen)
    return pd.DataFrame(dict(_exp=np.concatenate(exps), _cmpd=np.concatenate(cmps)))


def _measure(
    rng: np.random.Generator,
    readout: np.ndarray,
    units: np.ndarray,
    atype: np.ndarray,
    assay_name: np.ndarray,
    lat: dict[str, np.ndarray],
    c: np.ndarray,
) -> np.ndarray:
    """A measured value (in the assay's unit) per result row, before censoring."""
    m = len(c)
    noise = rng.normal(0, 0.15, m)
    p = lat["pot"][c] + noise
    p = np.where(atype == "CELL", p - lat["cell_shift"][c], p)
    p = np.where(assay_name == "hERG patch clamp", lat["herg"][c] + noise, p)
    p = np.where(assay_name == "CYP3A4 inhibition", lat["cyp"][c] + noise, p)
    value = np.where(units == "uM", 10 ** (6 - lat["tox"][c] - noise), 10 ** (9 - p))
    jitter = rng.lognormal(0, 0.2, m)
    value = np.where(
        readout == "CLint",
        np.where(np.char.startswith(assay_name.astype(str), "Human"), lat["hlm"][c], lat["rlm"][c]) * jitter,
        value,
    )
    value = np.where(readout == "Papp", lat["papp"][c] * jitter, value)
    value = np.where(readout == "SOL", lat["sol"][c] * jitter, value)
    value = np.where(readout == "T1/2", lat["t12"][c] * jitter, value)
    return np.where(readout == "F", np.clip(lat["f"][c] * jitter, 1, 100), value)


def results(
    rng: np.random.Generator, exp: pd.DataFrame, cmpd: pd.DataFrame, batch: pd.DataFrame, assay: pd.DataFrame
) -> pd.DataFrame:
    """``research."AssayResult"``: one row per tested batch per run."""
    lat = _latent(rng, cmpd)
    pairs = _tested(rng, exp, cmpd, assay)
    a = assay.set_index("ASSAY_ID").loc[exp["ASSAY_ID"].to_numpy()[pairs["_exp"]]]
    readout, units = a["READOUT"].to_numpy().astype(str), a["UNITS"].to_numpy().astype(str)
    atype, name = a["ASSAY_TYPE"].to_numpy().astype(str), a["NAME"].to_numpy().astype(str)
    c = pairs["_cmpd"].to_numpy()
    value = _measure(rng, readout, units, atype, name, lat, c)
    dose = np.isin(readout, ["IC50", "EC50", "Ki"])
    top = np.where(units == "uM", 100.0, np.where(dose, 30000.0, np.where(readout == "SOL", 200.0, np.inf)))
    bottom = np.where(dose & (units == "nM"), 0.3, np.where(readout == "CLint", 3.0, 0.0))
    qual = np.where(value > top, ">", np.where(value < bottom, "<", "=")).astype(object)
    value = np.clip(value, bottom, top)
    m = len(c)
    u = rng.random(m)
    exp_status = exp["STATUS"].to_numpy()[pairs["_exp"]]
    flag = np.where(u < 0.02, "NOT_CALC", np.where(u < 0.035, "QC_FAIL", np.where(u < 0.06, "OUTLIER", "OK"))).astype(
        object
    )
    flag[exp_status == "INVALID"] = "QC_FAIL"
    value = np.where(flag == "OUTLIER", value * 10.0 ** rng.choice([-1, 1], m), value)
    value = _significant(value, 3)
    missing = flag == "NOT_CALC"
    value[missing], qual[missing] = np.nan, None
    ic50_nm = np.where(readout == "IC50", np.where(units == "uM", value * 1000, value), np.nan)
    pic50 = np.where(
        (readout == "IC50") & (qual == "=") & ~missing, 9 - np.log10(np.where(ic50_nm > 0, ic50_nm, 1)), np.nan
    )
    run = exp["RUN_DT"].to_numpy().astype("datetime64[D]")[pairs["_exp"]]
    return pd.DataFrame(
        {
            "RESULT_ID": np.arange(5_000_001, 5_000_001 + m),
            "EXP_ID": exp["EXP_ID"].to_numpy()[pairs["_exp"]],
            "BATCH_ID": _batch_for(batch, cmpd["CMPD_ID"].to_numpy()[c], run),
            "CMPD_ID": cmpd["CMPD_ID"].to_numpy()[c],
            "READOUT": readout,
            "QUALIFIER": qual,
            "RESULT_VAL": value,
            "RESULT_UNIT": units,
            "IC50_nM": ic50_nm,
            "pIC50": np.round(pic50, 2),
            "HILL_SLOPE": np.where(dose & ~missing, np.round(rng.normal(1.0, 0.15, m), 2), np.nan),
            "N_REPL": np.where(atype == "PK", 3, np.where(dose, rng.choice([1, 2, 2, 2, 3], m), rng.choice([1, 2], m))),
            "FLAG": flag,
        }
    )


def _significant(x: np.ndarray, digits: int) -> np.ndarray:
    """``x`` rounded to ``digits`` significant figures (as instruments report them)."""
    places = np.clip(digits - 1 - np.floor(np.log10(np.where(x > 0, x, 1.0))), 0, 8).astype(int)
    out = x.copy()
    for p in np.unique(places):
        m = places == p
        out[m] = np.round(x[m], p)
    return out


def _batch_for(batch: pd.DataFrame, cmpd_id: np.ndarray, run: np.ndarray) -> np.ndarray:
    """The latest non-failed batch of each compound made on or before the run (else its first batch)."""
    ok = batch[batch["QC_STATUS"] != "FAIL"]
    right = pd.DataFrame(
        dict(
            CMPD_ID=ok["CMPD_ID"].to_numpy(),
            BATCH_ID=ok["BATCH_ID"].to_numpy(),
            _d=ok["SYNTH_DT"].to_numpy().astype("datetime64[D]").astype(np.int64),
        )
    ).sort_values("_d")
    left = pd.DataFrame(dict(CMPD_ID=cmpd_id, _d=run.astype(np.int64), _i=np.arange(len(run)))).sort_values("_d")
    merged = pd.merge_asof(left, right, on="_d", by="CMPD_ID").sort_values("_i")
    first = batch.drop_duplicates("CMPD_ID").set_index("CMPD_ID")["BATCH_ID"]
    out = merged["BATCH_ID"].to_numpy().astype(object)
    gap = pd.isna(out)
    out[gap] = first.reindex(cmpd_id[gap]).to_numpy()
    return out
