-- The instances of a series that are not numbers (texts, objects: kept as documents), found
-- without reading its numbers: an aggregation takes the numbers from the rollups and adds
-- these one by one, and a numeric series has none. Without it, aggregating a year of
-- 10-minute readings read the year's 52,560 rows to find none. Built on every partition of
-- history_raw, present and to come; a plain index led by the distribution column, as Citus
-- wants.
CREATE INDEX IF NOT EXISTS history_raw_docs ON history_raw (tenant_id, series, time, hash)
    WHERE value IS NULL;
