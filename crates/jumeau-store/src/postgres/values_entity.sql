-- The value index read entity by entity (a walk of type + q tests each entity on all its
-- rows): keyed by the entity's sequence number first. With a bigint first column each
-- lookup compares integers, where (tenant_id, eseq, attr) compared the tenant's text and
-- located eseq behind it on every key: about 15 % of the server time of a type + q page.
-- tenant_id stays in the key, second: every statement names it, and without it in the
-- index a plan made before the table is analysed (just after a bulk load) combined this
-- index with the whole tenant's range of the text index for every entity. Not unique, so
-- Citus does not need tenant_id first.
CREATE INDEX IF NOT EXISTS attr_values_by_entity ON attr_values (eseq, tenant_id, attr);
DROP INDEX IF EXISTS attr_values_entity;
