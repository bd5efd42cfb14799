-- Numeric instances written by entity writes, appended in order of arrival (contiguous pages)
-- and folded later into series_chunks and the rollups by the writer, when it is idle or when
-- the log grows long (see temporal.rs). Reads merge the instances not yet folded.
CREATE TABLE IF NOT EXISTS history_log (
    seq         INTEGER PRIMARY KEY,
    series      INTEGER NOT NULL,
    time        INTEGER NOT NULL,
    created     INTEGER NOT NULL,
    observed    INTEGER NOT NULL,          -- 1: the time is the instance's observedAt
    value       REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS history_log_series ON history_log (series);
