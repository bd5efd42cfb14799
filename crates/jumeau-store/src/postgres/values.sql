-- The numeric value index keeps only the rows that have a number (numbers, booleans,
-- instants). Every condition on num implies num IS NOT NULL, so the planner uses it as
-- before, while the rows of texts, relationships and objects, most of its entries, no
-- longer cost an index entry to every write (a street light: one entry instead of six).
-- The text index keeps every row: its (tenant_id, attr) prefix serves existence tests.
CREATE INDEX IF NOT EXISTS attr_values_number ON attr_values (tenant_id, attr, num)
    WHERE num IS NOT NULL;
DROP INDEX IF EXISTS attr_values_num;
