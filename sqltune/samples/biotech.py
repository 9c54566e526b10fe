"""The ``biotech`` sample: Aureon Therapeutics, a small-molecule drug-discovery company.

Fifteen tables in four schemas (``chem``, ``research``, ``clin``, ``main``): the compound
registry and batches, targets and projects, assays, assay runs and ~60k results,
patents, and clinical trials with sites, subjects and adverse events. Research data
starts in 2015/2016; :data:`REFERENCE_DATE` (2025-06-30) is the last day. The DDL is
``schemas/biotech/schema.sql``; the ground truth of join paths is
``schemas/biotech/truth.yaml``.

Generation is split by domain: :mod:`._bio_chem` (targets, projects, compounds,
batches, patents), :mod:`._bio_assay` (assays, runs, results) and :mod:`._bio_clin`
(trials, sites, subjects, adverse events).
"""

from __future__ import annotations

from sqltune.samples import _bio_assay as assay
from sqltune.samples import _bio_chem as chem
from sqltune.samples import _bio_clin as clin
from sqltune.samples import _gen

REFERENCE_DATE = chem.END


def generate(seed: int) -> _gen.Tables:
    """All tables of the sample, parents before children.

    Args:
        seed: Root seed; each component draws from its own stream derived from it.

    Returns:
        ``"schema.table"`` → DataFrame in load order.
    """
    tgt = chem.targets()
    proj = chem.projects(_gen.stream(seed, "project"))
    supp = chem.suppliers()
    cmpd = chem.compounds(_gen.stream(seed, "compound"), proj)
    batch = chem.batches(_gen.stream(seed, "batch"), cmpd, supp)
    assays = assay.assays(_gen.stream(seed, "assay"), proj)
    exp = assay.experiments(_gen.stream(seed, "experiment"), proj, assays)
    res = assay.results(_gen.stream(seed, "result"), exp, cmpd, batch, assays)
    patent, patent_cmpd = chem.patents(_gen.stream(seed, "patent"), proj, cmpd)
    trial = clin.trials(cmpd)
    site = clin.sites(_gen.stream(seed, "site"))
    tsite = clin.trial_sites(_gen.stream(seed, "trial_site"), trial, site)
    subj = clin.subjects(_gen.stream(seed, "subject"), trial, tsite)
    ae = clin.adverse_events(_gen.stream(seed, "adverse_event"), subj)  # also marks deaths on subj
    return {
        "research.TARGET": tgt,
        "research.project": proj,
        "research.ASSAY": assays,
        "chem.supplier": supp,
        "chem.COMPOUND": cmpd,
        "chem.BATCH": batch,
        "research.experiment": exp,
        "research.AssayResult": res,
        "clin.TRIAL": trial,
        "clin.SITE": site,
        "clin.trial_site": tsite,
        "clin.subject": subj,
        "clin.ADVERSE_EVENT": ae,
        "main.patent": patent,
        "main.patent_cmpd": patent_cmpd,
    }
