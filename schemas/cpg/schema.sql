-- cpg: Norvale Consumer Products, a global toothpaste-and-soap manufacturer.
-- Sample enterprise database for sqltune (DuckDB dialect). Data window 2023-01-01 .. 2025-06-30.
--
-- DuckDB cannot declare a FOREIGN KEY across schemas, so every cross-schema reference
-- (e.g. sales.ORDER_LINE.SKU_NBR -> mdm.SKU.SKU_NBR) is undeclared; a few same-schema
-- references are left undeclared on purpose, as in real legacy databases.
-- Parents are created (and loaded) before children.

CREATE SCHEMA IF NOT EXISTS mdm;
CREATE SCHEMA IF NOT EXISTS sales;
CREATE SCHEMA IF NOT EXISTS supply;

-------------------------------------------------------------------- mdm (master data)
CREATE TABLE mdm.geo_country (
    CTRY_CD     VARCHAR(2) PRIMARY KEY,
    NAME        VARCHAR NOT NULL,
    ISO3        VARCHAR(3),
    REGION      VARCHAR NOT NULL,
    CURRENCY_CD VARCHAR(3) NOT NULL
);

CREATE TABLE mdm.BRAND (
    BRAND_ID  INTEGER PRIMARY KEY,
    BRAND_CD  VARCHAR(3) NOT NULL UNIQUE,
    NAME      VARCHAR NOT NULL,
    TIER      VARCHAR(7),
    LAUNCH_YR SMALLINT,
    STATUS    VARCHAR(1) NOT NULL
);

CREATE TABLE mdm.prod_category (
    CAT_ID        INTEGER PRIMARY KEY,
    CODE          VARCHAR(4) NOT NULL UNIQUE,
    NAME          VARCHAR NOT NULL,
    PARENT_CAT_ID INTEGER REFERENCES mdm.prod_category (CAT_ID),
    LVL           TINYINT NOT NULL
);

CREATE TABLE mdm.plant (
    PLANT_ID    VARCHAR(4) PRIMARY KEY,
    CODE        VARCHAR(3) NOT NULL,
    NAME        VARCHAR NOT NULL,
    CITY        VARCHAR,
    CTRY_CD     VARCHAR(2) NOT NULL REFERENCES mdm.geo_country (CTRY_CD),
    CAPACITY_MT INTEGER,
    OPENED_YR   SMALLINT
);

CREATE TABLE mdm.SKU (
    SKU_NBR      VARCHAR(8) PRIMARY KEY,
    GTIN         VARCHAR(14),
    "SkuDesc"    VARCHAR NOT NULL,
    BRAND_ID     INTEGER NOT NULL REFERENCES mdm.BRAND (BRAND_ID),
    CAT_ID       INTEGER NOT NULL REFERENCES mdm.prod_category (CAT_ID),
    MFG_PLANT    VARCHAR(4),
    SIZE_VAL     DECIMAL(8, 1),
    SIZE_UOM     VARCHAR(2),
    CASE_QTY     SMALLINT NOT NULL,
    STD_COST_USD DECIMAL(10, 4),
    LAUNCH_DT    DATE,
    DISC_DT      DATE,
    STATUS       VARCHAR(4) NOT NULL
);

CREATE TABLE mdm.price_list (
    SKU_NBR     VARCHAR(8) NOT NULL REFERENCES mdm.SKU (SKU_NBR),
    CURRENCY_CD VARCHAR(3) NOT NULL,
    EFF_FROM    DATE NOT NULL,
    EFF_TO      DATE,
    LIST_PRC    DECIMAL(12, 2) NOT NULL,
    PRIMARY KEY (SKU_NBR, CURRENCY_CD, EFF_FROM)
);

-------------------------------------------------------------------- sales
CREATE TABLE sales.SLS_RGN (
    RGN_CD    VARCHAR(4) PRIMARY KEY,
    NAME      VARCHAR NOT NULL,
    SALES_DIR VARCHAR
);

CREATE TABLE sales.RETAILER (
    RETAILER_ID   INTEGER PRIMARY KEY,
    NAME          VARCHAR NOT NULL,
    CHNL_CD       VARCHAR(4) NOT NULL,
    HQ_CTRY       VARCHAR(2),
    TIER          VARCHAR(1),
    PARENT_RTL_ID INTEGER,
    PAY_TERMS     VARCHAR(8),
    KEY_ACCT_MGR  VARCHAR,
    BUYER_EMAIL   VARCHAR,
    ACTIVE_FL     VARCHAR(1)
);

CREATE TABLE sales.store (
    STORE_ID  INTEGER PRIMARY KEY,
    rtl_id    INTEGER NOT NULL,
    STORE_NBR VARCHAR(6),
    NAME      VARCHAR,
    FORMAT_CD VARCHAR(3),
    CITY      VARCHAR,
    CTRY_CD   VARCHAR(2) NOT NULL,
    REGION    VARCHAR(4),
    OPEN_DT   DATE,
    CLOSE_DT  DATE
);

CREATE TABLE sales.promotion (
    PROMO_ID   INTEGER PRIMARY KEY,
    NAME       VARCHAR,
    PROMO_TYPE VARCHAR(4) NOT NULL,
    rtl_id     INTEGER NOT NULL REFERENCES sales.RETAILER (RETAILER_ID),
    BRAND_ID   INTEGER NOT NULL,
    START_DT   DATE NOT NULL,
    END_DT     DATE NOT NULL,
    DISC_PCT   DECIMAL(5, 2),
    BUDGET_USD DECIMAL(12, 2),
    STATUS     VARCHAR(4) NOT NULL
);

CREATE TABLE sales."OrderHeader" (
    "OrderId"       BIGINT PRIMARY KEY,
    "OrderDate"     DATE NOT NULL,
    "ReqDelivDt"    DATE,
    rtl_id          INTEGER NOT NULL REFERENCES sales.RETAILER (RETAILER_ID),
    SHIP_TO_STORE   INTEGER NOT NULL REFERENCES sales.store (STORE_ID),
    CHNL_CD         VARCHAR(4) NOT NULL,
    CURRENCY_CD     VARCHAR(3) NOT NULL,
    PO_NBR          VARCHAR(20),
    ORDER_SRC       VARCHAR(6),
    STATUS          VARCHAR(4) NOT NULL,
    "ConsumerEmail" VARCHAR
);

CREATE TABLE sales.ORDER_LINE (
    LINE_ID   BIGINT PRIMARY KEY,
    "OrderId" BIGINT NOT NULL REFERENCES sales."OrderHeader" ("OrderId"),
    LINE_NBR  SMALLINT NOT NULL,
    SKU_NBR   VARCHAR(8) NOT NULL,
    QTY       INTEGER NOT NULL,
    UOM_CD    VARCHAR(2) NOT NULL,
    LIST_PRC  DECIMAL(12, 2),
    NET_PRC   DECIMAL(12, 2),
    LINE_AMT  DECIMAL(14, 2),
    PROMO_ID  INTEGER REFERENCES sales.promotion (PROMO_ID)
);

CREATE TABLE sales.RTRN_LN (
    RTRN_ID      INTEGER NOT NULL,
    LINE_NBR     SMALLINT NOT NULL,
    ORIG_LINE_ID BIGINT NOT NULL REFERENCES sales.ORDER_LINE (LINE_ID),
    RTRN_DT      DATE NOT NULL,
    QTY          INTEGER NOT NULL,
    REASON_CD    VARCHAR(3) NOT NULL,
    CREDIT_AMT   DECIMAL(12, 2),
    STATUS       VARCHAR(4) NOT NULL,
    PRIMARY KEY (RTRN_ID, LINE_NBR)
);

-------------------------------------------------------------------- supply
CREATE TABLE supply.carrier (
    CARRIER_ID INTEGER PRIMARY KEY,
    CODE       VARCHAR(4) NOT NULL UNIQUE,
    NAME       VARCHAR NOT NULL,
    MODE_CD    VARCHAR(3)
);

CREATE TABLE supply.dist_center (
    DC_ID        VARCHAR(4) PRIMARY KEY,
    NAME         VARCHAR NOT NULL,
    CITY         VARCHAR,
    CTRY_CD      VARCHAR(2) NOT NULL,
    SRC_PLANT    VARCHAR(4),
    TYPE_CD      VARCHAR(3),
    CAPACITY_PLT INTEGER,
    OPEN_DT      DATE
);

CREATE TABLE supply.shipment (
    SHIPMENT_ID  BIGINT PRIMARY KEY,
    ORDER_ID     BIGINT NOT NULL,
    ship_from_dc VARCHAR(4) NOT NULL,
    CARRIER_CD   VARCHAR(4) REFERENCES supply.carrier (CODE),
    "ShipDt"     DATE,
    "DelivDt"    DATE,
    STATUS       VARCHAR(3) NOT NULL,
    PALLETS      SMALLINT,
    WEIGHT_KG    DECIMAL(10, 1),
    FREIGHT_USD  DECIMAL(10, 2),
    TRACKING_NBR VARCHAR(20)
);

CREATE TABLE supply.inv_snapshot (
    SNAP_DT_KEY   INTEGER NOT NULL,
    DC_ID         VARCHAR(4) NOT NULL REFERENCES supply.dist_center (DC_ID),
    SKU_NBR       VARCHAR(8) NOT NULL,
    ON_HAND_CS    INTEGER,
    ALLOC_CS      INTEGER,
    IN_TRANSIT_CS INTEGER,
    SAFETY_STK_CS INTEGER,
    PRIMARY KEY (SNAP_DT_KEY, DC_ID, SKU_NBR)
);

-------------------------------------------------------------------- main (shared / finance)
CREATE TABLE main.DIM_DATE (
    DATE_KEY INTEGER PRIMARY KEY,
    CAL_DT   DATE NOT NULL UNIQUE,
    CAL_YR   SMALLINT NOT NULL,
    CAL_QTR  TINYINT NOT NULL,
    CAL_MTH  TINYINT NOT NULL,
    MTH_NM   VARCHAR(3),
    DOW_NM   VARCHAR(3),
    WKND_FL  VARCHAR(1),
    FISC_YR  SMALLINT NOT NULL,
    FISC_QTR TINYINT NOT NULL,
    FISC_PER TINYINT NOT NULL
);

CREATE TABLE main.FX_RATE (
    CCY_CD      VARCHAR(3) NOT NULL,
    RATE_MTH    DATE NOT NULL,
    USD_PER_CCY DECIMAL(18, 10) NOT NULL,
    PRIMARY KEY (CCY_CD, RATE_MTH)
);

CREATE TABLE main.promo_spend (
    SPEND_ID   INTEGER PRIMARY KEY,
    PROMO_ID   INTEGER NOT NULL,
    SPEND_TYPE VARCHAR(4) NOT NULL,
    POSTED_DT  DATE NOT NULL,
    AMT_USD    DECIMAL(12, 2) NOT NULL,
    GL_ACCT    VARCHAR(8)
);

-------------------------------------------------------------------- comments (not all: some are missing on purpose)
COMMENT ON TABLE mdm.geo_country IS 'Country master (ISO 3166-1)';
COMMENT ON COLUMN mdm.geo_country.CTRY_CD IS 'ISO alpha-2 country code';
COMMENT ON COLUMN mdm.geo_country.REGION IS 'Geographic region';
COMMENT ON COLUMN mdm.geo_country.CURRENCY_CD IS 'Local currency (ISO 4217)';

COMMENT ON TABLE mdm.BRAND IS 'Brand master';
COMMENT ON COLUMN mdm.BRAND.BRAND_CD IS 'Short brand mnemonic';
COMMENT ON COLUMN mdm.BRAND.STATUS IS 'A=active I=inactive';

COMMENT ON TABLE mdm.prod_category IS 'Product hierarchy (2 levels)';
COMMENT ON COLUMN mdm.prod_category.PARENT_CAT_ID IS 'Parent category, NULL for top level';

COMMENT ON TABLE mdm.plant IS 'Manufacturing plants';
COMMENT ON COLUMN mdm.plant.CAPACITY_MT IS 'Annual capacity in metric tonnes';

COMMENT ON TABLE mdm.SKU IS 'Sellable item master (one row per SKU)';
COMMENT ON COLUMN mdm.SKU.SKU_NBR IS 'SKU number (legacy numbers keep leading zeros)';
COMMENT ON COLUMN mdm.SKU.GTIN IS 'GS1 GTIN-14 of the consumer unit';
COMMENT ON COLUMN mdm.SKU."SkuDesc" IS 'Description';
COMMENT ON COLUMN mdm.SKU.CASE_QTY IS 'Eaches per case';
COMMENT ON COLUMN mdm.SKU.STD_COST_USD IS 'Standard cost per each, USD';
COMMENT ON COLUMN mdm.SKU.DISC_DT IS 'Discontinuation date';
COMMENT ON COLUMN mdm.SKU.STATUS IS 'Lifecycle status';

COMMENT ON TABLE mdm.price_list IS 'List prices per case by currency, effective dated';
COMMENT ON COLUMN mdm.price_list.EFF_TO IS 'Last day the price is valid; NULL = still valid';
COMMENT ON COLUMN mdm.price_list.LIST_PRC IS 'List price per case in CURRENCY_CD';

COMMENT ON TABLE sales.SLS_RGN IS 'Sales regions';
COMMENT ON TABLE sales.RETAILER IS 'Customers (retail banners, e-commerce, distributors)';
COMMENT ON COLUMN sales.RETAILER.CHNL_CD IS 'Trade channel';
COMMENT ON COLUMN sales.RETAILER.TIER IS 'Key account tier';
COMMENT ON COLUMN sales.RETAILER.BUYER_EMAIL IS 'Buyer contact';

COMMENT ON COLUMN sales.store.STORE_NBR IS 'Store number as used by the retailer';
COMMENT ON COLUMN sales.store.REGION IS 'Region';
COMMENT ON COLUMN sales.store.CLOSE_DT IS 'Closure date if closed';

COMMENT ON TABLE sales.promotion IS 'Trade promotions agreed with retailers';
COMMENT ON COLUMN sales.promotion.DISC_PCT IS 'Discount off list price, percent';
COMMENT ON COLUMN sales.promotion.STATUS IS 'Promo status';

COMMENT ON TABLE sales."OrderHeader" IS 'Customer sales orders (header)';
COMMENT ON COLUMN sales."OrderHeader"."OrderDate" IS 'Date the order was received';
COMMENT ON COLUMN sales."OrderHeader"."ReqDelivDt" IS 'Requested delivery date';
COMMENT ON COLUMN sales."OrderHeader".SHIP_TO_STORE IS 'Ship-to store';
COMMENT ON COLUMN sales."OrderHeader".CURRENCY_CD IS 'Document currency';
COMMENT ON COLUMN sales."OrderHeader".STATUS IS 'Order status';

COMMENT ON TABLE sales.ORDER_LINE IS 'Sales order lines';
COMMENT ON COLUMN sales.ORDER_LINE.LINE_NBR IS 'Line number within the order (10, 20, 30...)';
COMMENT ON COLUMN sales.ORDER_LINE.QTY IS 'Ordered quantity in UOM_CD';
COMMENT ON COLUMN sales.ORDER_LINE.LIST_PRC IS 'List price per UOM, document currency';
COMMENT ON COLUMN sales.ORDER_LINE.NET_PRC IS 'Net price per UOM after discounts';
COMMENT ON COLUMN sales.ORDER_LINE.LINE_AMT IS 'QTY * NET_PRC in document currency';
COMMENT ON COLUMN sales.ORDER_LINE.PROMO_ID IS 'Promotion applied, if any';

COMMENT ON TABLE sales.RTRN_LN IS 'Customer returns / credit claims';
COMMENT ON COLUMN sales.RTRN_LN.ORIG_LINE_ID IS 'Returned order line';
COMMENT ON COLUMN sales.RTRN_LN.REASON_CD IS 'Return reason';

COMMENT ON TABLE supply.carrier IS 'Freight carriers';
COMMENT ON COLUMN supply.carrier.CODE IS 'SCAC-style carrier code';
COMMENT ON TABLE supply.dist_center IS 'Distribution centres';
COMMENT ON COLUMN supply.dist_center.TYPE_CD IS 'OWN or 3PL';
COMMENT ON TABLE supply.shipment IS 'Outbound shipments to customers';
COMMENT ON COLUMN supply.shipment.ORDER_ID IS 'Sales order';
COMMENT ON COLUMN supply.shipment."ShipDt" IS 'Goods issue date';
COMMENT ON COLUMN supply.shipment."DelivDt" IS 'Proof-of-delivery date';
COMMENT ON COLUMN supply.shipment.STATUS IS 'Shipment status';
COMMENT ON COLUMN supply.inv_snapshot.ON_HAND_CS IS 'Cases on hand at month end';

COMMENT ON TABLE main.DIM_DATE IS 'Calendar with fiscal periods (fiscal year starts 1 July)';
COMMENT ON COLUMN main.DIM_DATE.FISC_YR IS 'Fiscal year, named after the calendar year it ends in';
COMMENT ON COLUMN main.promo_spend.AMT_USD IS 'Amount in USD';
