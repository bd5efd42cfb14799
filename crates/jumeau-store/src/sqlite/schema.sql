-- Jumeau embedded store, schema version 1.
-- The tenant is part of every key: no query can reach another tenant's rows.
-- Tenant names and type/attribute IRIs are stored once and referred to by number, which
-- keeps the indexes small (sobriety, and more of them fits in memory).
CREATE TABLE IF NOT EXISTS tenants (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    public      INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL
);

-- Expanded IRIs of entity types and attribute names.
CREATE TABLE IF NOT EXISTS terms (
    id          INTEGER PRIMARY KEY,
    iri         TEXT NOT NULL UNIQUE
);

CREATE TABLE IF NOT EXISTS entities (
    pk          INTEGER PRIMARY KEY,
    tenant      INTEGER NOT NULL,
    id          TEXT NOT NULL,
    doc         TEXT NOT NULL,
    UNIQUE (tenant, id)
);

CREATE TABLE IF NOT EXISTS entity_types (
    tenant      INTEGER NOT NULL,
    type        INTEGER NOT NULL,
    pk          INTEGER NOT NULL,
    PRIMARY KEY (tenant, type, pk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entity_types_pk ON entity_types (pk);

-- One row per attribute instance (and per scalar element of list values), for q;
-- clustered by entity so that one entity's rows sit together.
CREATE TABLE IF NOT EXISTS attr_values (
    pk          INTEGER NOT NULL,
    attr        INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    tenant      INTEGER NOT NULL,
    vt          TEXT NOT NULL,
    num         REAL,
    txt         TEXT,
    PRIMARY KEY (pk, attr, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS attr_values_num ON attr_values (tenant, attr, num);
CREATE INDEX IF NOT EXISTS attr_values_txt ON attr_values (tenant, attr, txt);

-- GeoProperty values: which entity and attribute, and the bounding box in an R*Tree.
CREATE TABLE IF NOT EXISTS geo_values (
    gid         INTEGER PRIMARY KEY,
    tenant      INTEGER NOT NULL,
    attr        INTEGER NOT NULL,
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
