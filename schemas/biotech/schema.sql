-- biotech: Aureon Therapeutics, a small-molecule drug-discovery and development company.
-- Sample enterprise database for sqltune (DuckDB dialect). Research data 2016 .. 2025-06-30.
--
-- DuckDB cannot declare a FOREIGN KEY across schemas, so cross-schema references
-- (e.g. research."AssayResult".BATCH_ID -> chem.BATCH.BATCH_ID) are undeclared; some
-- same-schema references are left undeclared on purpose, as in real legacy databases.

CREATE SCHEMA IF NOT EXISTS chem;
CREATE SCHEMA IF NOT EXISTS research;
CREATE SCHEMA IF NOT EXISTS clin;

-------------------------------------------------------------------- research (targets, projects, assays)
CREATE TABLE research.TARGET (
    TGT_ID       INTEGER PRIMARY KEY,
    GENE_SYMBOL  VARCHAR(12) NOT NULL UNIQUE,
    NAME         VARCHAR NOT NULL,
    TARGET_CLASS VARCHAR(8),
    UNIPROT_ID   VARCHAR(10),
    ORGANISM     VARCHAR(12)
);

CREATE TABLE research.project (
    PROJECT_ID   VARCHAR(7) PRIMARY KEY,
    NAME         VARCHAR NOT NULL,
    TGT_ID       INTEGER REFERENCES research.TARGET (TGT_ID),
    THERAPY_AREA VARCHAR(3),
    "PHASE"      VARCHAR(7),
    STATUS       VARCHAR(10) NOT NULL,
    START_DT     DATE,
    END_DT       DATE,
    LEAD_SCI     VARCHAR,
    BUDGET_KUSD  INTEGER
);

CREATE TABLE research.ASSAY (
    ASSAY_ID     INTEGER PRIMARY KEY,
    NAME         VARCHAR NOT NULL,
    ASSAY_TYPE   VARCHAR(7) NOT NULL,
    TGT_ID       INTEGER REFERENCES research.TARGET (TGT_ID),
    READOUT      VARCHAR(5) NOT NULL,
    UNITS        VARCHAR(10),
    PROTOCOL_VER VARCHAR(3),
    ACTIVE_FL    BOOLEAN
);

-------------------------------------------------------------------- chem (registration)
CREATE TABLE chem.supplier (
    SUPP_CD VARCHAR(4) PRIMARY KEY,
    NAME    VARCHAR NOT NULL,
    CTRY    VARCHAR(2),
    CRO_FL  VARCHAR(1)
);

CREATE TABLE chem.COMPOUND (
    CMPD_ID        VARCHAR(11) PRIMARY KEY,
    DEV_CODE       VARCHAR(7),
    PARENT_CMPD_ID VARCHAR(11),
    SMILES         VARCHAR NOT NULL,
    MW             DECIMAL(7, 2),
    "cLogP"        DECIMAL(4, 2),
    TPSA           DECIMAL(6, 1),
    HBD            TINYINT,
    HBA            TINYINT,
    PROJECT_ID     VARCHAR(7),
    SERIES         VARCHAR(1),
    REG_DT         DATE NOT NULL,
    CHEMIST        VARCHAR,
    STATUS         VARCHAR(9) NOT NULL
);

CREATE TABLE chem.BATCH (
    BATCH_ID   VARCHAR(14) PRIMARY KEY,
    CMPD_ID    VARCHAR(11) NOT NULL REFERENCES chem.COMPOUND (CMPD_ID),
    SYNTH_DT   DATE NOT NULL,
    SRC_VENDOR VARCHAR(4),
    PURITY_PCT DECIMAL(5, 2),
    AMT_MG     DECIMAL(10, 1),
    GRADE      VARCHAR(3) NOT NULL,
    QC_STATUS  VARCHAR(4) NOT NULL
);

-------------------------------------------------------------------- research (experiments and results)
CREATE TABLE research.experiment (
    EXP_ID     INTEGER PRIMARY KEY,
    ASSAY_ID   INTEGER NOT NULL REFERENCES research.ASSAY (ASSAY_ID),
    PROJECT_ID VARCHAR(7),
    RUN_DT     DATE NOT NULL,
    OPERATOR   VARCHAR,
    ELN_REF    VARCHAR(14),
    PLATE_CNT  SMALLINT,
    STATUS     VARCHAR(8) NOT NULL
);

CREATE TABLE research."AssayResult" (
    RESULT_ID   BIGINT PRIMARY KEY,
    EXP_ID      INTEGER NOT NULL REFERENCES research.experiment (EXP_ID),
    BATCH_ID    VARCHAR(14) NOT NULL,
    CMPD_ID     VARCHAR(11) NOT NULL,
    READOUT     VARCHAR(5) NOT NULL,
    QUALIFIER   VARCHAR(1),
    RESULT_VAL  DOUBLE,
    RESULT_UNIT VARCHAR(10),
    "IC50_nM"   DOUBLE,
    "pIC50"     DECIMAL(4, 2),
    HILL_SLOPE  DECIMAL(4, 2),
    N_REPL      TINYINT,
    FLAG        VARCHAR(8) NOT NULL
);

-------------------------------------------------------------------- clin (clinical development)
CREATE TABLE clin.TRIAL (
    TRIAL_ID       VARCHAR(10) PRIMARY KEY,
    NCT_ID         VARCHAR(11),
    CMPD_ID        VARCHAR(11) NOT NULL,
    PHASE          VARCHAR(2) NOT NULL,
    TITLE          VARCHAR,
    INDICATION     VARCHAR,
    BLINDING       VARCHAR(6),
    STATUS         VARCHAR(10) NOT NULL,
    START_DT       DATE,
    PRIM_COMPL_DT  DATE,
    TARGET_ENROLL  INTEGER
);

CREATE TABLE clin.SITE (
    SITE_ID  INTEGER PRIMARY KEY,
    NAME     VARCHAR NOT NULL,
    CITY     VARCHAR,
    CTRY     VARCHAR(2),
    PI_NAME  VARCHAR,
    PI_EMAIL VARCHAR
);

CREATE TABLE clin.trial_site (
    TRIAL_ID      VARCHAR(10) NOT NULL REFERENCES clin.TRIAL (TRIAL_ID),
    SITE_ID       INTEGER NOT NULL REFERENCES clin.SITE (SITE_ID),
    SITE_NBR      VARCHAR(3) NOT NULL,
    ACTIVATION_DT DATE,
    STATUS        VARCHAR(6) NOT NULL,
    PRIMARY KEY (TRIAL_ID, SITE_ID)
);

CREATE TABLE clin.subject (
    SUBJ_ID      INTEGER PRIMARY KEY,
    SUBJ_NBR     VARCHAR(8) NOT NULL,
    TRIAL_ID     VARCHAR(10) NOT NULL REFERENCES clin.TRIAL (TRIAL_ID),
    SITE_ID      INTEGER NOT NULL REFERENCES clin.SITE (SITE_ID),
    "PtInitials" VARCHAR(5),
    DOB          DATE,
    SEX          VARCHAR(1),
    ARM_CD       VARCHAR(4),
    ENROLL_DT    DATE NOT NULL,
    DISC_DT      DATE,
    DISC_REASON  VARCHAR(4)
);

CREATE TABLE clin.ADVERSE_EVENT (
    AE_ID       INTEGER PRIMARY KEY,
    SUBJ_ID     INTEGER NOT NULL REFERENCES clin.subject (SUBJ_ID),
    STUDY_ID    VARCHAR(10) NOT NULL,
    "OnsetDt"   DATE NOT NULL,
    RESOLVED_DT DATE,
    AE_TERM     VARCHAR NOT NULL,
    SOC         VARCHAR,
    GRADE       TINYINT NOT NULL,
    SERIOUS_FL  VARCHAR(1) NOT NULL,
    CAUSALITY   VARCHAR(9),
    OUTCOME_CD  VARCHAR(8),
    PT_INITIALS VARCHAR(5),
    PT_DOB      DATE
);

-------------------------------------------------------------------- main (IP)
CREATE TABLE main.patent (
    PATENT_NBR VARCHAR(16) PRIMARY KEY,
    FAMILY_ID  VARCHAR(8) NOT NULL,
    JURIS      VARCHAR(2) NOT NULL,
    TITLE      VARCHAR,
    FILING_DT  DATE,
    PUB_DT     DATE,
    GRANT_DT   DATE,
    STATUS     VARCHAR(9) NOT NULL,
    PROJECT_ID VARCHAR(7)
);

CREATE TABLE main.patent_cmpd (
    PATENT_NBR VARCHAR(16) NOT NULL REFERENCES main.patent (PATENT_NBR),
    CMPD_ID    VARCHAR(11) NOT NULL,
    CLAIM_TYPE VARCHAR(11) NOT NULL,
    PRIMARY KEY (PATENT_NBR, CMPD_ID)
);

-------------------------------------------------------------------- comments (not all: some are missing on purpose)
COMMENT ON TABLE research.TARGET IS 'Biological targets (genes/proteins)';
COMMENT ON COLUMN research.TARGET.GENE_SYMBOL IS 'HGNC gene symbol';
COMMENT ON COLUMN research.TARGET.UNIPROT_ID IS 'UniProt accession';

COMMENT ON TABLE research.project IS 'Drug discovery projects';
COMMENT ON COLUMN research.project."PHASE" IS 'Discovery stage';
COMMENT ON COLUMN research.project.STATUS IS 'Portfolio status';
COMMENT ON COLUMN research.project.BUDGET_KUSD IS 'Annual budget, thousand USD';

COMMENT ON TABLE research.ASSAY IS 'Assay definitions';
COMMENT ON COLUMN research.ASSAY.ASSAY_TYPE IS 'Assay type';
COMMENT ON COLUMN research.ASSAY.READOUT IS 'Measured endpoint';

COMMENT ON TABLE chem.supplier IS 'Synthesis sources (internal labs and CROs)';

COMMENT ON TABLE chem.COMPOUND IS 'Compound registry (one row per registered structure)';
COMMENT ON COLUMN chem.COMPOUND.CMPD_ID IS 'Corporate compound id';
COMMENT ON COLUMN chem.COMPOUND.DEV_CODE IS 'Development code, set when a compound becomes a clinical candidate';
COMMENT ON COLUMN chem.COMPOUND.SMILES IS 'Structure as SMILES';
COMMENT ON COLUMN chem.COMPOUND.MW IS 'Molecular weight (g/mol)';
COMMENT ON COLUMN chem.COMPOUND.REG_DT IS 'Registration date';
COMMENT ON COLUMN chem.COMPOUND.STATUS IS 'Registry status';

COMMENT ON TABLE chem.BATCH IS 'Physical batches (lots) of compounds';
COMMENT ON COLUMN chem.BATCH.PURITY_PCT IS 'HPLC purity, percent';
COMMENT ON COLUMN chem.BATCH.GRADE IS 'Quality grade';

COMMENT ON TABLE research.experiment IS 'Assay runs';
COMMENT ON COLUMN research.experiment.ELN_REF IS 'Electronic lab notebook reference';

COMMENT ON TABLE research."AssayResult" IS 'One measured value per batch per assay run';
COMMENT ON COLUMN research."AssayResult".QUALIFIER IS '=, < or > (censored at assay limits)';
COMMENT ON COLUMN research."AssayResult".RESULT_VAL IS 'Value in RESULT_UNIT';
COMMENT ON COLUMN research."AssayResult"."IC50_nM" IS 'IC50 in nM (IC50 readouts only)';
COMMENT ON COLUMN research."AssayResult"."pIC50" IS '-log10(IC50 [M])';
COMMENT ON COLUMN research."AssayResult".FLAG IS 'Data quality flag';

COMMENT ON TABLE clin.TRIAL IS 'Clinical trials';
COMMENT ON COLUMN clin.TRIAL.NCT_ID IS 'ClinicalTrials.gov identifier';
COMMENT ON COLUMN clin.TRIAL.PHASE IS 'Clinical phase';
COMMENT ON COLUMN clin.TRIAL.STATUS IS 'Trial status';

COMMENT ON TABLE clin.SITE IS 'Investigator sites';
COMMENT ON COLUMN clin.SITE.PI_NAME IS 'Principal investigator';

COMMENT ON TABLE clin.subject IS 'Enrolled trial participants';
COMMENT ON COLUMN clin.subject."PtInitials" IS 'Patient initials';
COMMENT ON COLUMN clin.subject.DOB IS 'Date of birth';
COMMENT ON COLUMN clin.subject.ARM_CD IS 'Treatment arm';

COMMENT ON TABLE clin.ADVERSE_EVENT IS 'Adverse events reported during trials';
COMMENT ON COLUMN clin.ADVERSE_EVENT.AE_TERM IS 'MedDRA preferred term';
COMMENT ON COLUMN clin.ADVERSE_EVENT.SOC IS 'MedDRA system organ class';
COMMENT ON COLUMN clin.ADVERSE_EVENT.GRADE IS 'CTCAE severity grade 1-5';
COMMENT ON COLUMN clin.ADVERSE_EVENT.SERIOUS_FL IS 'Serious adverse event (Y/N)';

COMMENT ON TABLE main.patent IS 'Patent filings';
COMMENT ON COLUMN main.patent.JURIS IS 'Jurisdiction';
