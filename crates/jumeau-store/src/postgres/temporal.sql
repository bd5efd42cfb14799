-- Tables of TemporalStore on PostgreSQL (see temporal.rs).
--
-- Every table starts with tenant_id (the tenant's name), which is in every primary key and
-- unique index: on Citus each is distributed on it (create_distributed_table('<table>',
-- 'tenant_id', colocate_with => 'entities')), so that an entity, its history and its rollups
-- live on one node and every query of one tenant is routed to one shard.

-- One series per (tenant, entity, attribute, datasetId). Series numbers come from one
-- sequence (on Citus, a bigint sequence of a distributed table gives each node its own
-- range) and appear in instance ids.
CREATE SEQUENCE IF NOT EXISTS history_series_id;
CREATE TABLE IF NOT EXISTS history_series (
    tenant_id       text COLLATE "C" NOT NULL,
    id              bigint NOT NULL DEFAULT nextval('history_series_id'),
    entity          text COLLATE "C" NOT NULL,
    attr            text COLLATE "C" NOT NULL,              -- expanded attribute name
    dataset         text COLLATE "C" NOT NULL DEFAULT '',   -- '' for the default instance
    unit            text,                       -- unitCode of numeric instances; NULL: not yet known, '': none
    types           text[] NOT NULL DEFAULT '{}', -- the entity's expanded types
    thinned_before  timestamptz,                -- raw instances before this were removed by retention
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, entity, attr, dataset)
);

-- Every instance: numbers in `value`, anything else (text, objects, Relationships, numbers
-- with sub-attributes or another unit) whole as JSON text in `doc`. Partitioned by month of
-- the instance time (UTC); partitions are created ahead by the migrations and the retention
-- pass, and on demand by jumeau_history_partitions() when an append falls outside them, so
-- no instance is ever refused for want of a partition. Retention drops whole partitions
-- when no tenant needs them any more. On Citus, old partitions can be turned columnar
-- (alter_table_set_access_method('history_raw_2024_01', 'columnar')) to compress them.
CREATE TABLE IF NOT EXISTS history_raw (
    tenant_id       text COLLATE "C" NOT NULL,
    series          bigint NOT NULL,
    time            timestamptz NOT NULL,       -- observedAt, else the time of receipt
    hash            bigint NOT NULL,            -- of the value: tells values at one time apart
    created         timestamptz NOT NULL,       -- time of receipt (createdAt)
    observed        boolean NOT NULL,           -- whether the instance had an observedAt
    value           double precision,           -- numeric instances
    doc             text,                       -- every other instance
    PRIMARY KEY (tenant_id, series, time, hash)
) PARTITION BY RANGE (time);

-- Summaries of numeric instances per UTC hour (hours since the epoch) and per local day of
-- the tenant's time zone (days since 1970-01-01), maintained on write.
CREATE TABLE IF NOT EXISTS history_hourly (
    tenant_id       text COLLATE "C" NOT NULL,
    series          bigint NOT NULL,
    hour            bigint NOT NULL,
    count           bigint NOT NULL,
    sum             double precision NOT NULL,
    sumsq           double precision NOT NULL,
    min             double precision NOT NULL,
    max             double precision NOT NULL,
    PRIMARY KEY (tenant_id, series, hour)
);

CREATE TABLE IF NOT EXISTS history_daily (
    tenant_id       text COLLATE "C" NOT NULL,
    series          bigint NOT NULL,
    day             bigint NOT NULL,
    count           bigint NOT NULL,
    sum             double precision NOT NULL,
    sumsq           double precision NOT NULL,
    min             double precision NOT NULL,
    max             double precision NOT NULL,
    PRIMARY KEY (tenant_id, series, day)
);

CREATE TABLE IF NOT EXISTS history_time_zones (
    tenant_id       text COLLATE "C" NOT NULL,
    tz              text NOT NULL,
    PRIMARY KEY (tenant_id)
);

CREATE TABLE IF NOT EXISTS history_retention_policies (
    tenant_id       text COLLATE "C" NOT NULL,
    entity_type     text COLLATE "C" NOT NULL,              -- '' for the default policy
    raw_days        bigint,
    hourly_days     bigint,
    daily_days      bigint,
    PRIMARY KEY (tenant_id, entity_type)
);

CREATE SEQUENCE IF NOT EXISTS history_retention_report_id;
CREATE TABLE IF NOT EXISTS history_retention_reports (
    tenant_id       text COLLATE "C" NOT NULL,
    id              bigint NOT NULL DEFAULT nextval('history_retention_report_id'),
    ran_at          timestamptz NOT NULL,
    entity_type     text COLLATE "C" NOT NULL,              -- '' for the default policy
    level           text NOT NULL,
    cutoff          timestamptz NOT NULL,
    removed         bigint NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX IF NOT EXISTS history_retention_reports_ran ON history_retention_reports (tenant_id, ran_at);

-- The partitions of history_raw and their bounds (kept by jumeau_history_partition(), read
-- by the retention pass). Not a tenant table: on Citus it stays on the coordinator, which
-- manages the partitions of distributed tables.
CREATE TABLE IF NOT EXISTS history_raw_partitions (
    name            text COLLATE "C" NOT NULL,
    lo              timestamptz NOT NULL,
    hi              timestamptz NOT NULL,
    PRIMARY KEY (name)
);

-- The monthly partition of history_raw holding `t`, created if missing. Concurrent callers
-- are serialised by an advisory lock on the partition's name; a partition created by a
-- transaction that committed meanwhile is taken as it is.
CREATE OR REPLACE FUNCTION jumeau_history_partition(t timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    m timestamp := date_trunc('month', t AT TIME ZONE 'UTC');
    lo timestamptz := m AT TIME ZONE 'UTC';
    hi timestamptz := (m + interval '1 month') AT TIME ZONE 'UTC';
    name text := 'history_raw_' || to_char(m, 'YYYY_MM')
        || CASE WHEN m < timestamp '0001-01-01' THEN '_bc' ELSE '' END;
BEGIN
    IF to_regclass(quote_ident(name)) IS NOT NULL THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext(name));
    BEGIN
        EXECUTE format(
            'CREATE TABLE IF NOT EXISTS %I PARTITION OF history_raw FOR VALUES FROM (%L) TO (%L)',
            name, lo, hi);
    EXCEPTION WHEN duplicate_table OR unique_violation THEN
        NULL;
    END;
    INSERT INTO history_raw_partitions (name, lo, hi) VALUES (name, lo, hi)
    ON CONFLICT DO NOTHING;
END;
$$;

-- The partitions of every month of `times`.
CREATE OR REPLACE FUNCTION jumeau_history_partitions(times timestamptz[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    t timestamptz;
BEGIN
    FOR t IN SELECT DISTINCT date_trunc('month', x AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
             FROM unnest(times) AS x LOOP
        PERFORM jumeau_history_partition(t);
    END LOOP;
END;
$$;

-- Drops the partitions whose every row is a number that the retention cutoff of its series
-- (temporary table history_retention_cut, filled by the retention pass) has expired, and
-- returns how many instances each (tenant, series) lost that way. A partition holding a
-- document, or a series without a cutoff, or a number still within its series' retention,
-- is kept; its expired numbers are deleted row by row, per tenant, afterwards.
CREATE OR REPLACE FUNCTION jumeau_history_drop_partitions()
RETURNS TABLE (out_tenant text, out_series bigint, out_removed bigint)
LANGUAGE plpgsql AS $$
DECLARE
    p record;
    droppable boolean;
    newest timestamptz;
BEGIN
    EXECUTE 'SELECT max(cutoff) FROM history_retention_cut' INTO newest;
    FOR p IN SELECT h.name, h.hi FROM history_raw_partitions h WHERE h.hi <= newest
             ORDER BY h.lo LOOP
        IF to_regclass(quote_ident(p.name)) IS NULL THEN
            DELETE FROM history_raw_partitions WHERE name = p.name;
            CONTINUE;
        END IF;
        EXECUTE format(
            'SELECT NOT EXISTS (SELECT 1 FROM %I r LEFT JOIN history_retention_cut c '
            'ON c.tenant_id = r.tenant_id AND c.series = r.series '
            'WHERE r.value IS NULL OR c.cutoff IS NULL OR c.cutoff < $1)', p.name)
            INTO droppable USING p.hi;
        IF droppable THEN
            RETURN QUERY EXECUTE format(
                'SELECT tenant_id::text, series, count(*) FROM %I GROUP BY 1, 2', p.name);
            EXECUTE format('DROP TABLE %I', p.name);
            DELETE FROM history_raw_partitions WHERE name = p.name;
        END IF;
    END LOOP;
END;
$$;

-- Partitions from last month to a year ahead.
SELECT jumeau_history_partition(now() + make_interval(months => m))
FROM generate_series(-1, 12) AS m;
