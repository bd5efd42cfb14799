-- The summary of every entity's indexed values in its own row (see postgres/summary.rs):
-- a page of a query tests each entity it walks with jsonb operators on the row it reads
-- anyway, instead of looking up the entity's rows in the value index. Filled here from the
-- value index for the entities already stored (an interrupted run leaves the previous
-- version and is run again whole); every write keeps it from then on.
ALTER TABLE entities ADD COLUMN IF NOT EXISTS vals jsonb;
-- A row over 2 KB would have its document compressed, and every read of it expanded: an
-- entity with a dozen attributes and its summary stays whole up to 4 KB.
ALTER TABLE entities SET (toast_tuple_target = 4080);
UPDATE entities e SET vals = COALESCE((
    SELECT jsonb_object_agg(k.attr, k.vals) FROM (
        SELECT a.attr, jsonb_strip_nulls(jsonb_build_object(
            'n', jsonb_agg(a.num) FILTER (WHERE a.vt = 'n'),
            'n<', CASE WHEN count(*) FILTER (WHERE a.vt = 'n') > 1
                THEN min(a.num) FILTER (WHERE a.vt = 'n') END,
            'n>', CASE WHEN count(*) FILTER (WHERE a.vt = 'n') > 1
                THEN max(a.num) FILTER (WHERE a.vt = 'n') END,
            'b', jsonb_agg(a.num) FILTER (WHERE a.vt = 'b'),
            'b<', CASE WHEN count(*) FILTER (WHERE a.vt = 'b') > 1
                THEN min(a.num) FILTER (WHERE a.vt = 'b') END,
            'b>', CASE WHEN count(*) FILTER (WHERE a.vt = 'b') > 1
                THEN max(a.num) FILTER (WHERE a.vt = 'b') END,
            'd', jsonb_agg(a.num) FILTER (WHERE a.vt = 'd'),
            'd<', CASE WHEN count(*) FILTER (WHERE a.vt = 'd') > 1
                THEN min(a.num) FILTER (WHERE a.vt = 'd') END,
            'd>', CASE WHEN count(*) FILTER (WHERE a.vt = 'd') > 1
                THEN max(a.num) FILTER (WHERE a.vt = 'd') END,
            't', jsonb_agg(a.txt) FILTER (WHERE a.txt IS NOT NULL),
            't<', CASE WHEN count(a.txt) > 1
                THEN min(a.txt COLLATE "C") FILTER (WHERE a.txt IS NOT NULL) END,
            't>', CASE WHEN count(a.txt) > 1
                THEN max(a.txt COLLATE "C") FILTER (WHERE a.txt IS NOT NULL) END)) AS vals
        FROM attr_values a WHERE a.tenant_id = e.tenant_id AND a.eseq = e.seq
        GROUP BY a.attr) k), '{}')
WHERE e.vals IS NULL;
ALTER TABLE entities ALTER COLUMN vals SET NOT NULL;
-- The value index rows are no longer read or written: queries test the summary, and the
-- lists of types and attributes read its keys.
DROP TABLE IF EXISTS attr_values;
