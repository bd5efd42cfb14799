//! Translation of q expressions into SQLite prefilters.
