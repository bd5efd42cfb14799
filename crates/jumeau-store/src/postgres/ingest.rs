//! [`crate::IngestStore`] on PostgreSQL.

use async_trait::async_trait;
#[allow(unused_imports)]
use chrono::{DateTime, Utc};
#[allow(unused_imports)]
use chrono_tz::Tz;
#[allow(unused_imports)]
use jumeau_model::subscription::Subscription;
#[allow(unused_imports)]
use jumeau_model::temporal::TemporalQuery;
#[allow(unused_imports)]
use serde_json::Value;

use super::PgStore;
use crate::ingest::*;
use crate::{StoreError, StoreResult};

#[async_trait]
impl IngestStore for PgStore {
    async fn journal_append(
        &self,
        tenant: &str,
        entries: Vec<NewJournalEntry>,
        counters: Vec<Counters>,
    ) -> StoreResult<Vec<i64>> {
        Err(StoreError::Unavailable("not yet on PostgreSQL".into()))
    }

    async fn journal_pending(&self, after: i64, limit: usize) -> StoreResult<Vec<JournalEntry>> {
        Err(StoreError::Unavailable("not yet on PostgreSQL".into()))
    }

    async fn ingest_commit(&self, commit: IngestCommit) -> StoreResult<()> {
        Err(StoreError::Unavailable("not yet on PostgreSQL".into()))
    }

    async fn journal_prune(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        Err(StoreError::Unavailable("not yet on PostgreSQL".into()))
    }

    async fn journal_backlog(&self, tenant: &str) -> StoreResult<u64> {
        Err(StoreError::Unavailable("not yet on PostgreSQL".into()))
    }

    async fn dead_letters(
        &self,
        tenant: &str,
        filter: &DeadLetterFilter,
    ) -> StoreResult<Vec<DeadLetter>> {
        Err(StoreError::Unavailable("not yet on PostgreSQL".into()))
    }

    async fn put_device(&self, tenant: &str, device: DeviceRecord) -> StoreResult<bool> {
        Err(StoreError::Unavailable("not yet on PostgreSQL".into()))
    }

    async fn device(&self, tenant: &str, dev_eui: &str) -> StoreResult<Option<DeviceRecord>> {
        Err(StoreError::Unavailable("not yet on PostgreSQL".into()))
    }

    async fn devices(&self, tenant: &str) -> StoreResult<Vec<DeviceRecord>> {
        Err(StoreError::Unavailable("not yet on PostgreSQL".into()))
    }

    async fn all_devices(&self) -> StoreResult<Vec<(String, DeviceRecord)>> {
        Err(StoreError::Unavailable("not yet on PostgreSQL".into()))
    }

    async fn delete_device(&self, tenant: &str, dev_eui: &str) -> StoreResult<bool> {
        Err(StoreError::Unavailable("not yet on PostgreSQL".into()))
    }

    async fn counters(&self, tenant: Option<&str>) -> StoreResult<Vec<Counters>> {
        Err(StoreError::Unavailable("not yet on PostgreSQL".into()))
    }

}
