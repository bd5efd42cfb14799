-- Jumeau embedded store, schema version 1.
-- The tenant is part of every key: no query can reach another tenant's rows.
CREATE TABLE IF NOT EXISTS tenants (
    name        TEXT PRIMARY KEY,
    public      INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS entities (
    pk          INTEGER PRIMARY KEY,
    tenant      TEXT NOT NULL,
    id          TEXT NOT NULL,
    doc         TEXT NOT NULL,
    UNIQUE (tenant, id)
);

CREATE TABLE IF NOT EXISTS entity_types (
    tenant      TEXT NOT NULL,
    type        TEXT NOT NULL,
    pk          INTEGER NOT NULL,
    PRIMARY KEY (tenant, type, pk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entity_types_pk ON entity_types (pk);

-- One row per attribute instance (and per scalar element of list values), for q.
CREATE TABLE IF NOT EXISTS attr_values (
    tenant      TEXT NOT NULL,
    attr        TEXT NOT NULL,
    pk          INTEGER NOT NULL,
    vt          TEXT NOT NULL,
    num         REAL,
    txt         TEXT
);
CREATE INDEX IF NOT EXISTS attr_values_num ON attr_values (tenant, attr, num);
CREATE INDEX IF NOT EXISTS attr_values_txt ON attr_values (tenant, attr, txt);
CREATE INDEX IF NOT EXISTS attr_values_pk ON attr_values (pk, attr);

-- GeoProperty values: the geometry, and its bounding box in an R*Tree.
CREATE TABLE IF NOT EXISTS geo_values (
    gid         INTEGER PRIMARY KEY,
    tenant      TEXT NOT NULL,
    attr        TEXT NOT NULL,
    pk          INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS geo_values_pk ON geo_values (pk);
CREATE VIRTUAL TABLE IF NOT EXISTS geo_rtree USING rtree (gid, min_x, max_x, min_y, max_y);

CREATE TABLE IF NOT EXISTS api_keys (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    hash        TEXT NOT NULL UNIQUE,
    role        TEXT NOT NULL,
    tenants     TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS jsonld_contexts (
    url         TEXT PRIMARY KEY,
    body        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    created_at  TEXT NOT NULL
) WITHOUT ROWID;
