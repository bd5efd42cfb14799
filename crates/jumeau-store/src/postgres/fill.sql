-- Room in every page of entities for the next version of its rows: an update that changes
-- no indexed column (a reading, a dimming level) then stays in its page as a heap-only
-- tuple, and adds no entry to the entity indexes that queries walk.
ALTER TABLE entities SET (fillfactor = 80);
