//! The ingestion journal: sensor messages kept durably before they are acknowledged, the
//! dead letters that could not be turned into twin updates, and the device registry.

use async_trait::async_trait;

/// Storage of ingest; every engine implements it. Every method takes the tenant.
#[async_trait]
pub trait IngestStore: Send + Sync {}
