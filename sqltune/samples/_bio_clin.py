"""Clinical development of the ``biotech`` sample: trials, sites, subjects and adverse events.

Subject names and birth dates are synthetic but shaped like real trial data (initials,
DOB duplicated onto adverse events): they are the sample's masking candidates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sqltune.samples import _gen
from sqltune.samples._bio_chem import END

# fmt: off
NSCLC, CSU, AD, BREAST = ("Non-small cell lung cancer", "Chronic spontaneous urticaria", "Atopic dermatitis",
                          "HR+/HER2- breast cancer")
HV, ALZ = "Healthy volunteers", "Alzheimer's disease"
# TRIAL_ID, DEV_CODE, PHASE, TITLE, INDICATION, BLINDING, STATUS, START_DT, PRIM_COMPL_DT, TARGET_ENROLL, sites, arms
TRIALS = [
    ("AUR101-101", "AUR-101", "P1", "First-in-human dose escalation of AUR-101", NSCLC, "OPEN", "COMPLETED",
     "2019-03-04", "2020-08-31", 48, 4, "LOW MID HIGH"),
    ("AUR101-102", "AUR-101", "P1", "Food-effect and drug interaction study of AUR-101", HV, "OPEN", "COMPLETED",
     "2020-02-10", "2020-07-15", 24, 1, "OL"),
    ("AUR101-201", "AUR-101", "P2", "AUR-101 in EGFR-mutant NSCLC after TKI failure", NSCLC, "OPEN", "COMPLETED",
     "2021-01-11", "2022-12-20", 140, 14, "LOW HIGH"),
    ("AUR101-301", "AUR-101", "P3", "AUR-101 versus standard of care in first-line EGFR-mutant NSCLC", NSCLC, "OPEN",
     "ACTIVE", "2023-02-06", "2026-03-31", 620, 40, "ACT SOC"),
    ("AUR101-302", "AUR-101", "P3", "AUR-101 plus chemotherapy in EGFR-mutant NSCLC", NSCLC, "OPEN", "RECRUITING",
     "2024-09-16", "2027-06-30", 480, 30, "ACT SOC"),
    ("AUR205-101", "AUR-205", "P1", "Single and multiple ascending doses of AUR-205", HV, "DOUBLE", "COMPLETED",
     "2020-06-15", "2021-04-30", 64, 2, "PBO LOW MID HIGH"),
    ("AUR205-201", "AUR-205", "P2", "AUR-205 in chronic spontaneous urticaria", CSU, "DOUBLE", "ACTIVE",
     "2022-05-09", "2025-09-30", 240, 22, "PBO LOW HIGH"),
    ("AUR205-202", "AUR-205", "P2", "AUR-205 in Sjogren's syndrome", "Sjogren's syndrome", "DOUBLE", "PLANNED",
     "2025-09-01", "2027-12-31", 180, 10, "PBO LOW HIGH"),
    ("AUR310-101", "AUR-310", "P1", "Single and multiple ascending doses of AUR-310", HV, "DOUBLE", "COMPLETED",
     "2017-05-08", "2017-12-15", 56, 1, "PBO LOW MID HIGH"),
    ("AUR310-201", "AUR-310", "P2", "AUR-310 in moderate-to-severe atopic dermatitis", AD, "DOUBLE", "COMPLETED",
     "2018-09-03", "2019-11-30", 210, 18, "PBO LOW HIGH"),
    ("AUR310-301", "AUR-310", "P3", "Pivotal efficacy study of AUR-310 in atopic dermatitis", AD, "DOUBLE",
     "COMPLETED", "2020-03-02", "2022-06-30", 780, 45, "PBO ACT"),
    ("AUR310-401", "AUR-310", "P4", "Long-term safety registry of AUR-310", AD, "OPEN", "RECRUITING",
     "2024-04-15", "2028-12-31", 1200, 30, "OL"),
    ("AUR412-101", "AUR-412", "P1", "Ascending doses of AUR-412 in healthy older adults", ALZ, "DOUBLE", "TERMINATED",
     "2021-04-12", "2022-03-15", 72, 3, "PBO LOW MID HIGH"),
    ("AUR507-101", "AUR-507", "P1", "AUR-507 dose escalation in advanced solid tumours", BREAST, "OPEN", "COMPLETED",
     "2021-10-04", "2023-05-31", 42, 5, "LOW MID HIGH"),
    ("AUR507-201", "AUR-507", "P2", "AUR-507 plus fulvestrant in HR+/HER2- breast cancer", BREAST, "DOUBLE",
     "RECRUITING", "2024-02-12", "2026-10-31", 200, 20, "PBO ACT"),
]
# fmt: on
ONCOLOGY = {NSCLC, BREAST}
# country, weight, cities
SITE_COUNTRIES = [
    ("US", 30, ("Boston", "Houston", "Nashville", "San Diego", "Chicago", "Baltimore")),
    ("DE", 10, ("Berlin", "Munich", "Heidelberg")),
    ("GB", 8, ("London", "Manchester", "Oxford")),
    ("FR", 7, ("Paris", "Lyon", "Toulouse")),
    ("ES", 7, ("Madrid", "Barcelona")),
    ("PL", 6, ("Warsaw", "Krakow", "Gdansk")),
    ("IT", 5, ("Milan", "Rome")),
    ("CA", 5, ("Toronto", "Montreal")),
    ("AU", 4, ("Sydney", "Melbourne")),
    ("JP", 4, ("Tokyo", "Osaka")),
    ("KR", 4, ("Seoul",)),
]
SITE_KINDS = ("University Hospital", "Medical Center", "Clinical Research Unit", "Cancer Center", "General Hospital")
AE_TERMS = [  # term, SOC, baseline weight
    ("Nausea", "Gastrointestinal disorders", 8),
    ("Diarrhoea", "Gastrointestinal disorders", 7),
    ("Vomiting", "Gastrointestinal disorders", 3),
    ("Stomatitis", "Gastrointestinal disorders", 1),
    ("Headache", "Nervous system disorders", 9),
    ("Dizziness", "Nervous system disorders", 4),
    ("Fatigue", "General disorders and administration site conditions", 7),
    ("Pyrexia", "General disorders and administration site conditions", 3),
    ("Rash", "Skin and subcutaneous tissue disorders", 3),
    ("Pruritus", "Skin and subcutaneous tissue disorders", 2),
    ("Acne", "Skin and subcutaneous tissue disorders", 1),
    ("Alanine aminotransferase increased", "Investigations", 2),
    ("Neutrophil count decreased", "Investigations", 1),
    ("Electrocardiogram QT prolonged", "Investigations", 1),
    ("Anaemia", "Blood and lymphatic system disorders", 1),
    ("Hypertension", "Vascular disorders", 2),
    ("Upper respiratory tract infection", "Infections and infestations", 5),
    ("Herpes zoster", "Infections and infestations", 0.3),
    ("Pneumonia", "Infections and infestations", 0.6),
    ("Arthralgia", "Musculoskeletal and connective tissue disorders", 3),
    ("Insomnia", "Psychiatric disorders", 2),
    ("Interstitial lung disease", "Respiratory, thoracic and mediastinal disorders", 0.2),
    ("Atrial fibrillation", "Cardiac disorders", 0.3),
    ("Contusion", "Injury, poisoning and procedural complications", 1),
]
SIGNALS = {
    "AUR-101": {"Rash": 8, "Diarrhoea": 2, "Stomatitis": 6, "Interstitial lung disease": 5},
    "AUR-205": {"Contusion": 4, "Atrial fibrillation": 4},
    "AUR-310": {"Upper respiratory tract infection": 2, "Herpes zoster": 8, "Acne": 5},
    "AUR-412": {"Alanine aminotransferase increased": 10},
    "AUR-507": {"Neutrophil count decreased": 20, "Anaemia": 6, "Fatigue": 1.5},
}
ARM_RATE = {"PBO": 1.0, "LOW": 1.4, "MID": 1.7, "HIGH": 2.2, "ACT": 1.8, "SOC": 2.0, "OL": 1.5}


def trials(cmpd: pd.DataFrame) -> pd.DataFrame:
    """``clin.TRIAL`` with internal site count and arms."""
    dev = dict(zip(cmpd["DEV_CODE"].dropna(), cmpd.loc[cmpd["DEV_CODE"].notna(), "CMPD_ID"], strict=True))
    rows = [
        dict(
            TRIAL_ID=t,
            CMPD_ID=dev[d],
            PHASE=ph,
            TITLE=ti,
            INDICATION=ind,
            BLINDING=bl,
            STATUS=st,
            START_DT=_gen.day(s),
            PRIM_COMPL_DT=_gen.day(e),
            TARGET_ENROLL=n,
            _sites=k,
            _arms=arms.split(),
            _dev=d,
            NCT_ID=None if st == "PLANNED" else f"NCT0{3800000 + 97 * i**2 + 1913 * i}",
        )
        for i, (t, d, ph, ti, ind, bl, st, s, e, n, k, arms) in enumerate(TRIALS)
    ]
    return pd.DataFrame(rows)


def sites(rng: np.random.Generator, n: int = 90) -> pd.DataFrame:
    """``clin.SITE``: investigator sites in eleven countries."""
    ctry = _gen.pick(rng, [c[0] for c in SITE_COUNTRIES], n, [c[1] for c in SITE_COUNTRIES])
    cities = {c[0]: c[2] for c in SITE_COUNTRIES}
    city = np.array([_gen.pick(rng, cities[c], 1)[0] for c in ctry])
    kind = _gen.pick(rng, SITE_KINDS, n, [0.35, 0.25, 0.12, 0.18, 0.10])
    name = pd.Series(np.char.add(np.char.add(city, " "), kind))
    dup = name.groupby(name).cumcount().to_numpy()
    name = np.where(
        dup > 0, name + " " + pd.Series(np.array(["", "North", "South", "East", "West", "II", "III"] * 20)[dup]), name
    )
    first, last = _gen.people(rng, n)
    return pd.DataFrame(
        dict(
            SITE_ID=np.arange(3001, 3001 + n),
            NAME=name,
            CITY=city,
            CTRY=ctry,
            PI_NAME=np.char.add(np.char.add(np.char.add("Dr. ", first), " "), last),
            PI_EMAIL=_gen.emails(first, last, "hospital.example"),
            _kind=kind,
        )
    )


def trial_sites(rng: np.random.Generator, trial: pd.DataFrame, site: pd.DataFrame) -> pd.DataFrame:
    """``clin.trial_site``: the sites of each trial (phase 1 in research units or cancer centres)."""
    end = _gen.day(END)
    frames = []
    for _, t in trial.iterrows():
        pool = site
        if t["PHASE"] == "P1":
            pool = site[site["_kind"] == ("Cancer Center" if t["INDICATION"] in ONCOLOGY else "Clinical Research Unit")]
        k = min(int(t["_sites"]), len(pool))
        chosen = pool.iloc[np.sort(rng.choice(len(pool), k, replace=False))]
        start = _gen.day(str(t["START_DT"].date()))
        act = start + np.sort(rng.integers(0, 150 if k > 1 else 1, k))
        status = {"COMPLETED": "CLOSED", "TERMINATED": "CLOSED", "PLANNED": "PEND"}.get(t["STATUS"], "ACT")
        st = np.where(act > end, "PEND", status)
        frames.append(
            pd.DataFrame(
                dict(
                    TRIAL_ID=t["TRIAL_ID"],
                    SITE_ID=chosen["SITE_ID"].to_numpy(),
                    SITE_NBR=[str(101 + i) for i in range(k)],
                    ACTIVATION_DT=_gen.with_nulls(act, st == "PEND"),
                    STATUS=st,
                )
            )
        )
    return pd.concat(frames, ignore_index=True)


def _initials(rng: np.random.Generator, n: int) -> np.ndarray:
    """Patient initials in the inconsistent formats sites actually use (JS, J-S, JXS), some missing."""
    first, last = _gen.people(rng, n)
    f, la = first.astype("<U1"), last.astype("<U1")
    fmt = rng.random(n)
    out = np.where(
        fmt < 0.6,
        np.char.add(f, la),
        np.where(fmt < 0.8, np.char.add(np.char.add(f, "-"), la), np.char.add(np.char.add(f, "X"), la)),
    ).astype(object)
    out[fmt > 0.95] = None
    return out


def subjects(rng: np.random.Generator, trial: pd.DataFrame, tsite: pd.DataFrame) -> pd.DataFrame:
    """``clin.subject``: participants enrolled at activated sites up to the reference date."""
    end = _gen.day(END)
    frames = []
    for _, t in trial.iterrows():
        start, stop = _gen.day(str(t["START_DT"].date())), _gen.day(str(t["PRIM_COMPL_DT"].date()))
        rec_end = start + int(0.6 * (stop - start).astype(int))
        frac = 1.0 if rec_end <= end else max(0.0, (end - start).astype(int) / (rec_end - start).astype(int))
        n = int(round(t["TARGET_ENROLL"] * frac * (0.6 if t["STATUS"] == "TERMINATED" else 1.0)))
        active = tsite[(tsite["TRIAL_ID"] == t["TRIAL_ID"]) & tsite["ACTIVATION_DT"].notna()]
        if n == 0 or active.empty:
            continue
        s = rng.choice(len(active), n, p=_gen.norm(rng.lognormal(0, 0.7, len(active))))
        act = active["ACTIVATION_DT"].to_numpy().astype("datetime64[D]")[s]
        hi = np.maximum(np.minimum(rec_end, end), act + 1)
        enroll = act + (rng.random(n) * (hi - act).astype(int)).astype(int)
        frames.append(
            pd.DataFrame(
                dict(
                    TRIAL_ID=t["TRIAL_ID"],
                    SITE_ID=active["SITE_ID"].to_numpy()[s],
                    _nbr=active["SITE_NBR"].to_numpy()[s],
                    ENROLL_DT=enroll,
                    ARM_CD=_gen.pick(rng, t["_arms"], n),
                    _ind=t["INDICATION"],
                    _dev=t["_dev"],
                    _stop=stop,
                )
            )
        )
    df = pd.concat(frames, ignore_index=True).sort_values(["TRIAL_ID", "ENROLL_DT", "SITE_ID"], kind="stable")
    df = df.reset_index(drop=True)
    n = len(df)
    df.insert(0, "SUBJ_ID", np.arange(700001, 700001 + n))
    seq = df.groupby(["TRIAL_ID", "SITE_ID"]).cumcount().to_numpy() + 1
    df["SUBJ_NBR"] = [f"{a}-{b:03d}" for a, b in zip(df["_nbr"], seq, strict=True)]
    df["PtInitials"] = _initials(rng, n)
    ind = df["_ind"].to_numpy()
    age = np.select(
        [ind == HV, ind == ALZ, ind == NSCLC, ind == BREAST, ind == CSU],
        [
            rng.uniform(18, 55, n),
            rng.uniform(60, 80, n),
            rng.normal(64, 9, n),
            rng.normal(58, 11, n),
            rng.normal(42, 13, n),
        ],
        rng.normal(35, 14, n),
    )
    age = np.clip(age, 18, 85)
    df["DOB"] = df["ENROLL_DT"].to_numpy().astype("datetime64[D]") - (age * 365.25).astype(int)
    p_female = np.select([ind == BREAST, ind == CSU], [0.99, 0.7], 0.5)
    df["SEX"] = np.where(rng.random(n) < p_female, "F", "M")
    disc = rng.random(n) < 0.12
    disc_dt = df["ENROLL_DT"].to_numpy().astype("datetime64[D]") + rng.exponential(120, n).astype(int) + 1
    disc &= disc_dt <= end
    reasons = np.where(
        np.isin(ind, list(ONCOLOGY)),
        _gen.pick(rng, ["PD", "AE", "WD", "PI"], n, [0.5, 0.25, 0.15, 0.1]),
        _gen.pick(rng, ["AE", "WD", "LTFU", "PI"], n, [0.35, 0.35, 0.2, 0.1]),
    )
    df["DISC_DT"] = _gen.with_nulls(disc_dt, ~disc)
    df["DISC_REASON"] = _gen.with_nulls(reasons, ~disc)
    return df


def adverse_events(rng: np.random.Generator, subj: pd.DataFrame) -> pd.DataFrame:
    """``clin.ADVERSE_EVENT``; subjects with a fatal event are discontinued (reason DTH) in place."""
    end = _gen.day(END)
    n = len(subj)
    ind, arm = subj["_ind"].to_numpy(), subj["ARM_CD"].to_numpy()
    scale = np.where(np.isin(ind, list(ONCOLOGY)), 1.8, np.where(ind == HV, 0.6, 1.0))
    enroll = subj["ENROLL_DT"].to_numpy().astype("datetime64[D]")
    stop = np.minimum(np.minimum(end, subj["_stop"].to_numpy().astype("datetime64[D]")), enroll + 365)
    stop = np.where(subj["DISC_DT"].isna(), stop, np.minimum(stop, subj["DISC_DT"].to_numpy().astype("datetime64[D]")))
    span = np.maximum(1, (stop - enroll).astype(int))
    k = rng.poisson(pd.Series(arm).map(ARM_RATE).to_numpy() * scale * np.minimum(1, span / 180 + 0.3))
    s = np.repeat(np.arange(n), k)
    m = len(s)
    onset = enroll[s] + (rng.random(m) * span[s]).astype(int)
    terms = np.array([t[0] for t in AE_TERMS])
    base = np.array([t[2] for t in AE_TERMS], dtype=float)
    term = np.empty(m, dtype=object)
    dev = subj["_dev"].to_numpy()[s]
    active_arm = arm[s] != "PBO"
    for d in np.unique(dev):
        for on in (False, True):
            rows = np.flatnonzero((dev == d) & (active_arm == on))
            w = base * np.array([SIGNALS[d].get(t, 1.0) if on else 1.0 for t in terms])
            term[rows] = _gen.pick(rng, terms, len(rows), w)
    grade = _grades(rng, ind[s], term)
    return _finish_events(rng, subj, s, onset, term, grade, active_arm, end)


def _grades(rng: np.random.Generator, ind: np.ndarray, term: np.ndarray) -> np.ndarray:
    """CTCAE grade per event: oncology trials more severe, healthy volunteers milder."""
    m = len(ind)
    u = rng.random(m)
    cuts = np.where(
        np.isin(ind, list(ONCOLOGY))[:, None],
        [0.55, 0.85, 0.96, 0.995],
        np.where((ind == HV)[:, None], [0.8, 0.98, 1.0, 1.0], [0.65, 0.93, 0.99, 1.0]),
    )
    grade = 1 + (u[:, None] > cuts).sum(axis=1)
    liver = term == "Alanine aminotransferase increased"
    grade[liver & (ind == ALZ)] = np.minimum(4, grade[liver & (ind == ALZ)] + 1)
    return grade


def _finish_events(
    rng: np.random.Generator,
    subj: pd.DataFrame,
    s: np.ndarray,
    onset: np.ndarray,
    term: np.ndarray,
    grade: np.ndarray,
    active_arm: np.ndarray,
    end: np.datetime64,
) -> pd.DataFrame:
    """Seriousness, outcome, causality and the denormalised patient fields; mark deaths on subjects."""
    m = len(s)
    soc = dict((t[0], t[1]) for t in AE_TERMS)
    serious = (grade >= 4) | ((grade == 3) & (rng.random(m) < 0.45)) | ((grade == 2) & (rng.random(m) < 0.02))
    recent = onset > end - 30
    outcome = _gen.pick(rng, ["RECOV", "RECOVSEQ", "NOTREC", "UNK"], m, [0.8, 0.06, 0.08, 0.06]).astype(object)
    outcome[recent] = _gen.pick(rng, ["NOTREC", "UNK"], int(recent.sum()), [0.6, 0.4])
    outcome[grade == 5] = "FATAL"
    resolved = np.minimum(onset + np.ceil(rng.lognormal(np.log(10), 0.8, m)).astype(int), end)
    causality = np.where(
        active_arm,
        _gen.pick(rng, ["RELATED", "POSSIBLE", "UNLIKELY", "UNRELATED"], m, [0.3, 0.3, 0.2, 0.2]),
        _gen.pick(rng, ["RELATED", "POSSIBLE", "UNLIKELY", "UNRELATED"], m, [0.05, 0.15, 0.35, 0.45]),
    )
    initials = subj["PtInitials"].to_numpy()[s].copy()
    dotted = (rng.random(m) < 0.03) & pd.notna(initials)
    initials[dotted] = [f"{x[0]}.{x[-1]}." for x in initials[dotted]]
    df = pd.DataFrame(
        {
            "SUBJ_ID": subj["SUBJ_ID"].to_numpy()[s],
            "STUDY_ID": subj["TRIAL_ID"].to_numpy()[s],
            "OnsetDt": onset,
            "RESOLVED_DT": _gen.with_nulls(resolved, ~np.isin(outcome, ["RECOV", "RECOVSEQ"])),
            "AE_TERM": term,
            "SOC": [soc[t] for t in term],
            "GRADE": grade,
            "SERIOUS_FL": np.where(serious, "Y", "N"),
            "CAUSALITY": causality,
            "OUTCOME_CD": outcome,
            "PT_INITIALS": initials,
            "PT_DOB": _gen.with_nulls(subj["DOB"].to_numpy().astype("datetime64[D]")[s], rng.random(m) < 0.04),
        }
    )
    df = df.sort_values(["OnsetDt", "SUBJ_ID"], kind="stable").reset_index(drop=True)
    fatal = df[df["GRADE"] == 5].drop_duplicates("SUBJ_ID")
    death = df["SUBJ_ID"].map(fatal.set_index("SUBJ_ID")["OnsetDt"])
    df = df[~(death.notna() & (df["OnsetDt"] > death))].reset_index(drop=True)
    df.insert(0, "AE_ID", np.arange(900001, 900001 + len(df)))
    pos = subj.reset_index(drop=True).index[subj["SUBJ_ID"].isin(fatal["SUBJ_ID"]).to_numpy()]
    when = fatal.set_index("SUBJ_ID")["OnsetDt"].reindex(subj["SUBJ_ID"].to_numpy()[pos]).to_numpy()
    subj.loc[subj.index[pos], "DISC_DT"] = when
    subj.loc[subj.index[pos], "DISC_REASON"] = "DTH"
    return df
