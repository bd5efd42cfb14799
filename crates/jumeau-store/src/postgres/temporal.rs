//! [`crate::TemporalStore`] on PostgreSQL.

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
#[allow(unused_imports)]
use jumeau_model::Attribute;

use super::PgStore;
use crate::temporal::*;
use crate::{StoreError, StoreResult};

#[async_trait]
impl TemporalStore for PgStore {
    async fn append_history(
        &self,
        tenant: &str,
        entity_id: &str,
        types: &[String],
        instances: Vec<(String, Attribute)>,
    ) -> StoreResult<AppendReport> {
        Err(StoreError::Unavailable("not yet on PostgreSQL".into()))
    }

    async fn history(
        &self,
        tenant: &str,
        ids: &[String],
        attrs: Option<&[String]>,
        query: &TemporalQuery,
    ) -> StoreResult<Vec<EntityHistory>> {
        Err(StoreError::Unavailable("not yet on PostgreSQL".into()))
    }

    async fn aggregate(
        &self,
        tenant: &str,
        ids: &[String],
        attrs: Option<&[String]>,
        query: &TemporalQuery,
        tz: Tz,
    ) -> StoreResult<Vec<EntityAggregate>> {
        Err(StoreError::Unavailable("not yet on PostgreSQL".into()))
    }

    async fn delete_history(
        &self,
        tenant: &str,
        entity_id: &str,
        attr: Option<&str>,
        dataset_id: Option<&str>,
        delete_all: bool,
        instance_id: Option<&str>,
    ) -> StoreResult<u64> {
        Err(StoreError::Unavailable("not yet on PostgreSQL".into()))
    }

    async fn time_zone(&self, tenant: &str) -> StoreResult<Tz> {
        Err(StoreError::Unavailable("not yet on PostgreSQL".into()))
    }

    async fn set_time_zone(&self, tenant: &str, tz: Tz) -> StoreResult<()> {
        Err(StoreError::Unavailable("not yet on PostgreSQL".into()))
    }

    async fn retention_policies(&self, tenant: &str) -> StoreResult<Vec<RetentionPolicy>> {
        Err(StoreError::Unavailable("not yet on PostgreSQL".into()))
    }

    async fn set_retention_policy(&self, tenant: &str, policy: RetentionPolicy) -> StoreResult<()> {
        Err(StoreError::Unavailable("not yet on PostgreSQL".into()))
    }

    async fn apply_retention(&self, now: DateTime<Utc>) -> StoreResult<Vec<RetentionReport>> {
        Err(StoreError::Unavailable("not yet on PostgreSQL".into()))
    }

    async fn retention_reports(&self, tenant: &str) -> StoreResult<Vec<RetentionReport>> {
        Err(StoreError::Unavailable("not yet on PostgreSQL".into()))
    }

    async fn history_stats(&self, tenant: &str) -> StoreResult<HistoryStats> {
        Err(StoreError::Unavailable("not yet on PostgreSQL".into()))
    }

}

/// Appends the changed attribute instances of one entity write (expanded name, instance)
/// to the entity's history, inside the write's transaction, at each instance's
/// `observedAt`, else at `now`. Called by every entity write of the engine, as
/// `sqlite::temporal::record` is by the embedded engine's writer.
#[allow(dead_code, unused_variables)]
pub(super) async fn record(
    tx: &tokio_postgres::Transaction<'_>,
    tenant: &str,
    entity: &str,
    types: &[String],
    instances: &[(&str, &Attribute)],
    now: DateTime<Utc>,
) -> StoreResult<AppendReport> {
    Ok(AppendReport::default())
}
