//! The SQLite side of [`crate::IngestStore`].

use async_trait::async_trait;

use super::SqliteStore;
use crate::IngestStore;

/// Tables of this module, applied by the schema migrations.
pub(super) const SCHEMA: &str = include_str!("ingest.sql");

#[async_trait]
impl IngestStore for SqliteStore {}
