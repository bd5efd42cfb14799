//! The SQLite side of [`crate::TemporalStore`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use jumeau_model::temporal::TemporalQuery;
use jumeau_model::Attribute;

use super::SqliteStore;
use crate::temporal::{
    AppendReport, EntityAggregate, EntityHistory, HistoryStats, RetentionPolicy, RetentionReport,
};
use crate::{StoreError, StoreResult, TemporalStore};

/// Tables of this module, applied by the schema migrations.
pub(super) const SCHEMA: &str = include_str!("temporal.sql");

fn pending<T>() -> StoreResult<T> {
    Err(StoreError::Unavailable(
        "attribute history is not available in this build".into(),
    ))
}

#[async_trait]
impl TemporalStore for SqliteStore {
    async fn append_history(
        &self,
        _tenant: &str,
        _entity_id: &str,
        _types: &[String],
        _instances: Vec<(String, Attribute)>,
    ) -> StoreResult<AppendReport> {
        pending()
    }

    async fn history(
        &self,
        _tenant: &str,
        _ids: &[String],
        _attrs: Option<&[String]>,
        _query: &TemporalQuery,
    ) -> StoreResult<Vec<EntityHistory>> {
        pending()
    }

    async fn aggregate(
        &self,
        _tenant: &str,
        _ids: &[String],
        _attrs: Option<&[String]>,
        _query: &TemporalQuery,
        _tz: Tz,
    ) -> StoreResult<Vec<EntityAggregate>> {
        pending()
    }

    async fn delete_history(
        &self,
        _tenant: &str,
        _entity_id: &str,
        _attr: Option<&str>,
        _dataset_id: Option<&str>,
        _delete_all: bool,
        _instance_id: Option<&str>,
    ) -> StoreResult<u64> {
        pending()
    }

    async fn time_zone(&self, _tenant: &str) -> StoreResult<Tz> {
        pending()
    }

    async fn set_time_zone(&self, _tenant: &str, _tz: Tz) -> StoreResult<()> {
        pending()
    }

    async fn retention_policies(&self, _tenant: &str) -> StoreResult<Vec<RetentionPolicy>> {
        pending()
    }

    async fn set_retention_policy(
        &self,
        _tenant: &str,
        _policy: RetentionPolicy,
    ) -> StoreResult<()> {
        pending()
    }

    async fn apply_retention(&self, _now: DateTime<Utc>) -> StoreResult<Vec<RetentionReport>> {
        pending()
    }

    async fn retention_reports(&self, _tenant: &str) -> StoreResult<Vec<RetentionReport>> {
        pending()
    }

    async fn history_stats(&self, _tenant: &str) -> StoreResult<HistoryStats> {
        pending()
    }
}
