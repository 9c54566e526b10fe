"""Targets, projects, the compound registry, batches and patents of the ``biotech`` sample."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sqltune.errors import SampleError
from sqltune.samples import _gen

END = "2025-06-30"

# TGT_ID, GENE_SYMBOL, NAME, TARGET_CLASS, UNIPROT_ID
TARGETS = [
    (1, "EGFR", "Epidermal growth factor receptor", "KINASE", "P00533"),
    (2, "BTK", "Bruton tyrosine kinase", "KINASE", "Q06187"),
    (3, "KRAS", "GTPase KRas", "ENZYME", "P01116"),
    (4, "JAK1", "Janus kinase 1", "KINASE", "P23458"),
    (5, "LRRK2", "Leucine-rich repeat kinase 2", "KINASE", "Q5S007"),
    (6, "BACE1", "Beta-secretase 1", "ENZYME", "P56817"),
    (7, "CDK4", "Cyclin-dependent kinase 4", "KINASE", "P11802"),
    (8, "NLRP3", "NACHT, LRR and PYD domains-containing protein 3", "PPI", "Q96P20"),
    (9, "PCSK9", "Proprotein convertase subtilisin/kexin type 9", "PPI", "Q8NBP7"),
    (10, "IRAK4", "Interleukin-1 receptor-associated kinase 4", "KINASE", "Q9NWZ3"),
    (11, "BRD4", "Bromodomain-containing protein 4", "EPIG", "O60885"),
    (12, "GLP1R", "Glucagon-like peptide 1 receptor", "GPCR", "P43220"),
    (13, "RIPK1", "Receptor-interacting serine/threonine-protein kinase 1", "KINASE", "Q13546"),
    (14, "TYK2", "Non-receptor tyrosine-protein kinase TYK2", "KINASE", "P29597"),
    (15, "EZH2", "Histone-lysine N-methyltransferase EZH2", "EPIG", "Q15910"),
    (16, "KEAP1", "Kelch-like ECH-associated protein 1", "PPI", "Q14145"),
    (17, "HDAC6", "Histone deacetylase 6", "EPIG", "Q9UBN7"),
    (18, "MAPK14", "Mitogen-activated protein kinase 14 (p38 alpha)", "KINASE", "Q16539"),
    (19, "CCR5", "C-C chemokine receptor type 5", "GPCR", "P51681"),
    (20, "JAK2", "Tyrosine-protein kinase JAK2", "KINASE", "O60674"),
    (21, "CDK6", "Cyclin-dependent kinase 6", "KINASE", "Q00534"),
    (22, "KCNH2", "Potassium voltage-gated channel subfamily H member 2 (hERG)", "ION_CH", "Q12809"),
    (23, "CYP3A4", "Cytochrome P450 3A4", "ENZYME", "P08684"),
    (24, "DPP4", "Dipeptidyl peptidase 4", "ENZYME", "P27487"),
]
# PROJECT_ID, NAME, TGT_ID, THERAPY_AREA, PHASE, STATUS, START_DT, END_DT, size (compounds)
PROJECTS = [
    ("PRJ-001", "Falcon", 1, "ONC", "CLIN", "ACTIVE", "2016-03-01", None, 900),
    ("PRJ-002", "Osprey", 2, "IMM", "CLIN", "ACTIVE", "2017-01-15", None, 800),
    ("PRJ-003", "Kestrel", 3, "ONC", "CS", "ACTIVE", "2020-06-01", None, 650),
    ("PRJ-004", "Merlin", 4, "IMM", "CLIN", "PARTNERED", "2015-09-01", None, 500),
    ("PRJ-005", "Harrier", 5, "NEU", "PRECLIN", "ACTIVE", "2019-04-01", None, 600),
    ("PRJ-006", "Condor", 6, "NEU", "CLIN", "TERMINATED", "2017-01-10", "2022-03-31", 450),
    ("PRJ-007", "Peregrine", 7, "ONC", "CLIN", "ACTIVE", "2017-05-01", None, 700),
    ("PRJ-008", "Goshawk", 8, "IMM", "LO", "ACTIVE", "2021-02-01", None, 500),
    ("PRJ-009", "Buzzard", 9, "CVM", "H2L", "PAUSED", "2020-11-01", "2023-06-30", 250),
    ("PRJ-010", "Hobby", 10, "IMM", "H2L", "ACTIVE", "2022-03-01", None, 320),
    ("PRJ-011", "Eagle", 11, "ONC", "LO", "PAUSED", "2019-07-01", "2024-01-31", 420),
    ("PRJ-012", "Raven", 12, "CVM", "LO", "ACTIVE", "2021-09-01", None, 450),
    ("PRJ-013", "Owl", 13, "NEU", "HTS", "ACTIVE", "2023-05-01", None, 150),
    ("PRJ-014", "Shrike", 14, "IMM", "CS", "ACTIVE", "2020-02-01", None, 600),
    ("PRJ-015", "Swift", 15, "ONC", "LO", "TERMINATED", "2019-03-01", "2021-12-15", 300),
    ("PRJ-016", "Heron", 16, "IMM", "HTS", "ACTIVE", "2024-01-15", None, 110),
    ("PRJ-017", "Ibis", 17, "NEU", "H2L", "TERMINATED", "2019-10-01", "2021-06-30", 200),
    ("PRJ-018", "Crane", 18, "IMM", "HTS", "PAUSED", "2022-06-01", "2023-12-31", 120),
    ("PRJ-019", "Pelican", 19, "INF", "H2L", "TERMINATED", "2019-02-01", "2020-09-30", 180),
]
# clinical candidates: project → (development code, nomination date)
DEV_CODES = {
    "PRJ-001": ("AUR-101", "2018-01-15"),
    "PRJ-002": ("AUR-205", "2019-02-01"),
    "PRJ-004": ("AUR-310", "2016-06-01"),
    "PRJ-006": ("AUR-412", "2019-11-01"),
    "PRJ-007": ("AUR-507", "2019-12-01"),
}
SUPPLIERS = [
    ("INT", "Aureon Chemistry (internal)", "US", "N", 0.45),
    ("SYNX", "Synthex Labs", "CN", "Y", 0.2),
    ("MOLK", "Molekula CRO", "PL", "Y", 0.12),
    ("HELX", "Helix Chem Services", "IN", "Y", 0.12),
    ("ORGA", "OrgaSynth", "DE", "Y", 0.08),
    ("PIPR", "Piper Fine Chemicals", "GB", "Y", 0.03),
]
# series scaffolds with substituent slots: R1/R2 aromatic branches, R3/R4 chains (ring labels 9 only)
SCAFFOLDS = (
    "c1cc{R1}ccc1Nc1ncnc2cc{R2}c(O{R3})cc12",
    "O=C(N{R3})c1cc{R1}c(cc1)N1CCN(CC1){R4}",
    "Cc1nc2cc{R2}c{R1}cc2n1C{R4}",
    "O=C1N({R3})C(=O)C(N1)(C{R1}){R4}",
    "c1c{R2}c{R1}c2c(c1)[nH]c1c2CCN(C1){R4}",
    "c1c{R2}c{R1}ncc1C(=O)N{R3}",
    "O=S(=O)(N{R3})c1cc{R1}c(cc1){R4}",
    "n1c(N{R3})sc(c1{R1}){R4}",
)
R_BRANCH = ("", "(F)", "(Cl)", "(Br)", "(C)", "(OC)", "(C(F)(F)F)", "(C#N)", "(N(C)C)", "(OC(F)F)", "(C9CC9)", "(O)")
R_CHAIN = (
    "C",
    "CC",
    "C(C)C",
    "C9CC9",
    "c9ccccc9",
    "c9ccncc9",
    "C(=O)C",
    "CCO",
    "CC(F)(F)F",
    "C9CCOCC9",
    "S(=O)(=O)C",
    "Cc9ccccc9",
    "c9ccc(F)cc9",
    "c9cnn(C)c9",
    "C9CCNCC9",
    "CCN(C)C",
)
STAGE_RANK = {"HTS": 0, "H2L": 1, "LO": 2, "CS": 3, "PRECLIN": 4, "CLIN": 5}


def targets() -> pd.DataFrame:
    """``research.TARGET``."""
    return pd.DataFrame(
        [
            dict(TGT_ID=i, GENE_SYMBOL=g, NAME=n, TARGET_CLASS=c, UNIPROT_ID=u, ORGANISM="HUMAN")
            for i, g, n, c, u in TARGETS
        ]
    )


def projects(rng: np.random.Generator) -> pd.DataFrame:
    """``research.project`` with the internal compound count."""
    df = pd.DataFrame(
        [
            dict(
                PROJECT_ID=p,
                NAME=n,
                TGT_ID=t,
                THERAPY_AREA=ta,
                PHASE=ph,
                STATUS=st,
                START_DT=_gen.day(s),
                END_DT=_gen.day(e) if e else np.datetime64("NaT", "D"),
                _size=k,
            )
            for p, n, t, ta, ph, st, s, e, k in PROJECTS
        ]
    )
    df["LEAD_SCI"] = _gen.full_names(rng, len(df))
    df["BUDGET_KUSD"] = (
        np.round(rng.lognormal(np.log(1500), 0.4, len(df)) / 50) * 50 * (1 + df["PHASE"].map(STAGE_RANK).to_numpy() / 2)
    ).astype(np.int64)
    return df


def suppliers() -> pd.DataFrame:
    """``chem.supplier`` with the internal share of batches."""
    return pd.DataFrame([dict(SUPP_CD=c, NAME=n, CTRY=ct, CRO_FL=f, _p=p) for c, n, ct, f, p in SUPPLIERS])


def _mw(smiles: pd.Series) -> np.ndarray:
    """Approximate molecular weight: heavy atoms plus an estimate of implicit hydrogens."""
    count = {
        pattern: smiles.str.count(pattern).to_numpy() for pattern in ("Cl", "Br", "[Cc]", "[Nn]", "O", "[Ss]", "F")
    }
    carbon = count["[Cc]"] - count["Cl"]
    heavy = carbon + count["Cl"] + count["Br"] + count["[Nn]"] + count["O"] + count["[Ss]"] + count["F"]
    mass = (
        12.011 * carbon
        + 35.45 * count["Cl"]
        + 79.904 * count["Br"]
        + 14.007 * count["[Nn]"]
        + 15.999 * count["O"]
        + 32.06 * count["[Ss]"]
        + 18.998 * count["F"]
    )
    return mass + 1.008 * np.round(heavy * 0.85)


def _structures(rng: np.random.Generator, n: int, scaffolds: list[str], used: set[str]) -> tuple[list[str], list[int]]:
    """``n`` unique SMILES over the given series scaffolds, and the series index of each."""
    out, series = [], []
    for _ in range(50 * n + 1000):
        if len(out) == n:
            break
        s = int(rng.integers(len(scaffolds)))
        smi = scaffolds[s].format(
            R1=R_BRANCH[rng.integers(len(R_BRANCH))],
            R2=R_BRANCH[rng.integers(len(R_BRANCH))],
            R3=R_CHAIN[rng.integers(len(R_CHAIN))],
            R4=R_CHAIN[rng.integers(len(R_CHAIN))],
        )
        if smi not in used:
            used.add(smi)
            out.append(smi)
            series.append(s)
    else:
        raise SampleError(f"biotech: only {len(out)} of {n} unique structures could be drawn")
    return out, series


def compounds(rng: np.random.Generator, proj: pd.DataFrame) -> pd.DataFrame:
    """``chem.COMPOUND``: project compounds, a screening library and salt forms of earlier compounds."""
    used: set[str] = set()
    frames = []
    for _, p in proj.iterrows():
        k = int(p["_size"])
        scaffolds = [SCAFFOLDS[i] for i in rng.choice(len(SCAFFOLDS), 1 + k // 250, replace=False)]
        smiles, series = _structures(rng, k, scaffolds, used)
        stop = p["END_DT"] if not pd.isna(p["END_DT"]) else pd.Timestamp(END)
        days = (stop - p["START_DT"]).days
        reg = _gen.day(str(p["START_DT"].date())) + np.sort((days * rng.beta(1.3, 1.0, k)).astype(int))
        frames.append(
            pd.DataFrame(
                dict(
                    SMILES=smiles,
                    SERIES=np.array(list("ABCDE"))[series],
                    REG_DT=reg,
                    PROJECT_ID=p["PROJECT_ID"],
                    _progress=np.linspace(0, 1, k),
                )
            )
        )
    lib_smiles, _ = _structures(rng, 400, list(SCAFFOLDS), used)
    frames.append(
        pd.DataFrame(
            dict(
                SMILES=lib_smiles,
                SERIES=None,
                REG_DT=_gen.random_days(rng, "2016-01-01", "2018-12-31", 400),
                PROJECT_ID=None,
                _progress=0.0,
            )
        )
    )
    df = pd.concat(frames, ignore_index=True)
    df = _add_salts(rng, df)
    df = df.sort_values(["REG_DT", "SMILES"], kind="stable").reset_index(drop=True)
    n = len(df)
    df["CMPD_ID"] = _gen.codes("AUR-", np.arange(100001, 100001 + n), 7)
    parent_idx = df["_parent_smiles"].map(dict(zip(df["SMILES"], df["CMPD_ID"], strict=True)))
    df["PARENT_CMPD_ID"] = parent_idx.where(df["_parent_smiles"].notna(), None)
    mw = _mw(df["SMILES"])
    df["MW"] = np.round(mw, 2)
    df["cLogP"] = np.round(np.clip(0.008 * mw - 0.5 + rng.normal(0, 0.9, n), -1.5, 7.5), 2)
    df["TPSA"] = np.round(np.clip(df["SMILES"].str.count("[NnOo]").to_numpy() * 14 + rng.normal(0, 8, n), 12, 160), 1)
    df["HBD"] = np.minimum(5, df["SMILES"].str.count(r"N(?!\()|\[nH\]|O(?![=C])").to_numpy())
    df["HBA"] = df["SMILES"].str.count("[NnOo]").to_numpy()
    df["CHEMIST"] = _gen.full_names(rng, n)
    df["DEV_CODE"] = None
    df["STATUS"] = _status(rng, df, proj)
    for pid, (code, nominated) in DEV_CODES.items():
        own = (df["PROJECT_ID"] == pid) & df["PARENT_CMPD_ID"].isna() & (df["REG_DT"] <= pd.Timestamp(nominated))
        i = df.index[own][-1]
        df.loc[i, ["DEV_CODE", "STATUS"]] = [code, "CANDIDATE"]
    return df


def _add_salts(rng: np.random.Generator, df: pd.DataFrame) -> pd.DataFrame:
    """Append salt forms (HCl, mesylate) of ~5% of project compounds, registered a little later."""
    base = df[df["PROJECT_ID"].notna()]
    pick = base[rng.random(len(base)) < 0.05]
    salt = np.where(rng.random(len(pick)) < 0.6, ".Cl", ".CS(=O)(=O)O")
    out = pick.assign(
        _parent_smiles=pick["SMILES"],
        SMILES=pick["SMILES"] + salt,
        REG_DT=pick["REG_DT"].to_numpy() + rng.integers(7, 120, len(pick)),
    )
    out = out[out["REG_DT"] <= pd.Timestamp(END)]
    return pd.concat([df.assign(_parent_smiles=None), out], ignore_index=True)


def _status(rng: np.random.Generator, df: pd.DataFrame, proj: pd.DataFrame) -> np.ndarray:
    """Registry STATUS: ARCHIVED for closed projects and the library, DEPRIOR for most older compounds."""
    closed = set(proj.loc[proj["STATUS"].isin(["TERMINATED", "PAUSED"]), "PROJECT_ID"])
    old = df["REG_DT"].to_numpy() < _gen.day(END) - 540
    st = np.where(old & (rng.random(len(df)) < 0.7), "DEPRIOR", "ACTIVE").astype(object)
    st[df["PROJECT_ID"].isin(closed).to_numpy() | df["PROJECT_ID"].isna().to_numpy()] = "ARCHIVED"
    return st


def batches(rng: np.random.Generator, cmpd: pd.DataFrame, supp: pd.DataFrame) -> pd.DataFrame:
    """``chem.BATCH``: 1-2 research batches per compound; candidates also get GLP and GMP lots."""
    n = len(cmpd)
    cand = cmpd["DEV_CODE"].notna().to_numpy()
    k = np.where(cand, 8, 1 + (rng.random(n) < 0.25) + (rng.random(n) < 0.05))
    rep = cmpd.loc[cmpd.index.repeat(k), ["CMPD_ID", "REG_DT"]].reset_index(drop=True)
    m = len(rep)
    seq = rep.groupby("CMPD_ID").cumcount().to_numpy() + 1
    synth = rep["REG_DT"].to_numpy().astype("datetime64[D]") - rng.integers(0, 10, m)
    synth = synth + np.where(seq > 1, rng.integers(30, 700, m) * (seq - 1) // 2, 0)
    grade = np.where(seq > 5, "GMP", np.where(seq > 3, "GLP", "RES"))
    grade = np.where(np.isin(rep["CMPD_ID"], cmpd.loc[cand, "CMPD_ID"]), grade, "RES")
    vendor = _gen.pick(rng, supp["SUPP_CD"].to_numpy(), m, supp["_p"].to_numpy())
    vendor[grade == "GMP"] = "ORGA"
    purity = np.round(100 - rng.gamma(1.2, 1.6, m), 2)
    purity[grade != "RES"] = np.round(99.0 + rng.random(int((grade != "RES").sum())) * 0.9, 2)
    qc = np.where(purity < 90, "FAIL", "PASS").astype(object)
    no_purity = rng.random(m) < 0.02
    qc[no_purity | (synth > _gen.day(END) - 21)] = "PEND"
    amt = np.round(
        np.where(
            grade == "GMP",
            rng.uniform(50_000, 900_000, m),
            np.where(grade == "GLP", rng.uniform(5_000, 40_000, m), rng.lognormal(np.log(40), 0.8, m)),
        ),
        1,
    )
    df = pd.DataFrame(
        dict(
            BATCH_ID=np.char.add(
                np.char.add(rep["CMPD_ID"].to_numpy().astype(str), "-"), np.char.zfill(seq.astype(str), 2)
            ),
            CMPD_ID=rep["CMPD_ID"].to_numpy(),
            SYNTH_DT=synth,
            SRC_VENDOR=_gen.with_nulls(vendor, rng.random(m) < 0.03),
            PURITY_PCT=np.where(no_purity, np.nan, purity),
            AMT_MG=amt,
            GRADE=grade,
            QC_STATUS=qc,
        )
    )
    return df[synth <= _gen.day(END)].reset_index(drop=True)


def patents(rng: np.random.Generator, proj: pd.DataFrame, cmpd: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``main.patent`` (families of national filings) and ``main.patent_cmpd`` (exemplified compounds)."""
    rows, links, fam = [], [], 0
    end = _gen.day(END)
    for _, p in proj[proj["PHASE"].map(STAGE_RANK) >= 2].iterrows():
        own = cmpd[(cmpd["PROJECT_ID"] == p["PROJECT_ID"]) & cmpd["PARENT_CMPD_ID"].isna()]
        for series in sorted(own["SERIES"].dropna().unique()):
            fam += 1
            ser = own[own["SERIES"] == series]
            filing = ser["REG_DT"].to_numpy().astype("datetime64[D]")[len(ser) // 3] + int(rng.integers(10, 90))
            exemplified = ser[ser["REG_DT"].to_numpy() <= filing]["CMPD_ID"].to_numpy()
            juris = ["WO"] + (["US", "EP", "JP", "CN"] if filing + 913 <= end else [])
            gene = TARGETS[int(p["TGT_ID"]) - 1][1]
            for j in juris:
                rows.append(_patent_row(rng, fam, j, filing, p, gene, end))
                claim = _gen.pick(rng, ["EXEMPLIFIED", "CLAIMED", "PREFERRED"], len(exemplified), [0.8, 0.15, 0.05])
                links.append(
                    pd.DataFrame(dict(PATENT_NBR=rows[-1]["PATENT_NBR"], CMPD_ID=exemplified, CLAIM_TYPE=claim))
                )
    return pd.DataFrame(rows), pd.concat(links, ignore_index=True)


def _patent_row(
    rng: np.random.Generator, fam: int, juris: str, filing: np.datetime64, p: pd.Series, gene: str, end: np.datetime64
) -> dict:
    """One national (or PCT) filing of a patent family."""
    year = int(str(filing)[:4])
    pub = filing + 548
    granted = juris != "WO" and rng.random() < 0.7 and filing + 1100 <= end
    grant = filing + int(rng.integers(1100, 1800)) if granted else np.datetime64("NaT", "D")
    if granted and grant > end:
        granted, grant = False, np.datetime64("NaT", "D")
    number = {
        "WO": f"WO{year + 1}{rng.integers(100000, 999999)}A1",
        "US": f"US{rng.integers(11000000, 12500000)}B2"
        if granted
        else f"US{year + 1}0{rng.integers(100000, 399999)}A1",
        "EP": f"EP{rng.integers(3800000, 4300000)}{'B1' if granted else 'A1'}",
        "JP": f"JP{year + 2}{rng.integers(500000, 599999)}A",
        "CN": f"CN{rng.integers(114000000, 119000000)}A",
    }[juris]
    status = "GRANTED" if granted else ("PUBLISHED" if pub <= end else "FILED")
    if p["STATUS"] == "TERMINATED" and juris != "WO":
        status = "ABANDONED" if not granted else "LAPSED"
    return dict(
        PATENT_NBR=number,
        FAMILY_ID=f"FAM-{fam:04d}",
        JURIS=juris,
        TITLE=f"Heterocyclic {gene} modulators and uses thereof",
        FILING_DT=filing if juris == "WO" else filing + 913,
        PUB_DT=pub if pub <= end else np.datetime64("NaT", "D"),
        GRANT_DT=grant,
        STATUS=status,
        PROJECT_ID=p["PROJECT_ID"],
    )
