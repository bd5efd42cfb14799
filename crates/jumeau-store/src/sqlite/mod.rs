//! The embedded SQLite engine.
pub mod qsql;
