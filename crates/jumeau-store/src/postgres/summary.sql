-- The summary of every entity's indexed values in its own row (see postgres/summary.rs):
-- a page of type + q tests each entity it walks with one path expression on the row it
-- reads anyway, instead of looking up the entity's rows in the value index. Filled here
-- from the value index for the entities already stored (an interrupted run leaves the
-- previous version and is run again whole); every write keeps it from then on.
ALTER TABLE entities ADD COLUMN IF NOT EXISTS vals jsonb;
UPDATE entities e SET vals = COALESCE((
    SELECT jsonb_object_agg(k.attr, k.vals) FROM (
        SELECT a.attr, jsonb_strip_nulls(jsonb_build_object(
            'n', jsonb_agg(a.num) FILTER (WHERE a.vt = 'n'),
            'b', jsonb_agg(a.num) FILTER (WHERE a.vt = 'b'),
            'd', jsonb_agg(a.num) FILTER (WHERE a.vt = 'd'),
            't', jsonb_agg(a.txt) FILTER (WHERE a.txt IS NOT NULL))) AS vals
        FROM attr_values a WHERE a.tenant_id = e.tenant_id AND a.eseq = e.seq
        GROUP BY a.attr) k), '{}')
WHERE e.vals IS NULL;
ALTER TABLE entities ALTER COLUMN vals SET NOT NULL;
