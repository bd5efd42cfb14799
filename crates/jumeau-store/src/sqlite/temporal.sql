-- Tables of TemporalStore (see temporal.rs and series/codec.rs).
-- Times are microseconds since the Unix epoch (UTC). The tenant is on every series row and
-- every other table is keyed by series number, which belongs to exactly one tenant; every
-- query starts from the tenant's series.

-- One series per (tenant, entity, attribute, datasetId).
CREATE TABLE IF NOT EXISTS series (
    id          INTEGER PRIMARY KEY,
    tenant      INTEGER NOT NULL,
    entity      TEXT NOT NULL,
    attr        INTEGER NOT NULL,          -- terms.id of the expanded attribute name
    dataset     TEXT NOT NULL DEFAULT '',  -- '' for the default instance
    unit        TEXT,                      -- unitCode of numeric instances; NULL: not yet known, '': none
    types       TEXT NOT NULL DEFAULT '[]',-- JSON array of the entity's expanded types
    thinned_before INTEGER,                -- raw instances before this time were removed by retention
    UNIQUE (tenant, entity, attr, dataset)
);

-- Numeric instances, up to ~256 per chunk, encoded by series/codec.rs. Chunks of a series
-- cover disjoint time ranges. A rowid table: a chunk of about a kilobyte stays inside one
-- 2 KiB page, where a WITHOUT ROWID row that large would spill into overflow pages.
CREATE TABLE IF NOT EXISTS series_chunks (
    id          INTEGER PRIMARY KEY,
    series      INTEGER NOT NULL,
    first_time  INTEGER NOT NULL,
    last_time   INTEGER NOT NULL,
    count       INTEGER NOT NULL,
    last_value  REAL NOT NULL,
    data        BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS series_chunks_time ON series_chunks (series, first_time);

-- Instances that are not plain numbers of the series, as JSON (the stored Attribute form,
-- without its dataset and system timestamps, which the columns hold).
CREATE TABLE IF NOT EXISTS series_docs (
    series      INTEGER NOT NULL,
    time        INTEGER NOT NULL,
    hash        INTEGER NOT NULL,          -- of the document: tells values at one time apart
    created     INTEGER NOT NULL,
    doc         TEXT NOT NULL,
    PRIMARY KEY (series, time, hash)
) WITHOUT ROWID;

-- Summaries of numeric instances per UTC hour (hours since the epoch) and per local day of
-- the tenant's time zone (days since 1970-01-01), maintained on write.
CREATE TABLE IF NOT EXISTS rollup_hourly (
    series      INTEGER NOT NULL,
    hour        INTEGER NOT NULL,
    count       INTEGER NOT NULL,
    sum         REAL NOT NULL,
    sumsq       REAL NOT NULL,
    min         REAL NOT NULL,
    max         REAL NOT NULL,
    PRIMARY KEY (series, hour)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS rollup_daily (
    series      INTEGER NOT NULL,
    day         INTEGER NOT NULL,
    count       INTEGER NOT NULL,
    sum         REAL NOT NULL,
    sumsq       REAL NOT NULL,
    min         REAL NOT NULL,
    max         REAL NOT NULL,
    PRIMARY KEY (series, day)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS tenant_time_zones (
    tenant      INTEGER PRIMARY KEY,
    tz          TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS retention_policies (
    tenant      INTEGER NOT NULL,
    entity_type TEXT NOT NULL,             -- '' for the default policy
    raw_days    INTEGER,
    hourly_days INTEGER,
    daily_days  INTEGER,
    PRIMARY KEY (tenant, entity_type)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS retention_reports (
    id          INTEGER PRIMARY KEY,
    tenant      INTEGER NOT NULL,
    ran_at      INTEGER NOT NULL,
    entity_type TEXT NOT NULL,             -- '' for the default policy
    level       TEXT NOT NULL,
    cutoff      INTEGER NOT NULL,
    removed     INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS retention_reports_tenant ON retention_reports (tenant, ran_at);
