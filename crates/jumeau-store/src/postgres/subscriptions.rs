//! [`crate::SubscriptionStore`] on PostgreSQL.

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
use crate::subscriptions::*;
use crate::{StoreError, StoreResult};

#[async_trait]
impl SubscriptionStore for PgStore {
    async fn create_subscription(
        &self,
        tenant: &str,
        subscription: Subscription,
        context: Value,
    ) -> StoreResult<()> {
        Err(StoreError::Unavailable("not yet on PostgreSQL".into()))
    }

    async fn subscription(&self, tenant: &str, id: &str)
        -> StoreResult<Option<SubscriptionRecord>> {
        Err(StoreError::Unavailable("not yet on PostgreSQL".into()))
    }

    async fn subscriptions(
        &self,
        tenant: &str,
        offset: usize,
        limit: usize,
    ) -> StoreResult<(Vec<SubscriptionRecord>, u64)> {
        Err(StoreError::Unavailable("not yet on PostgreSQL".into()))
    }

    async fn all_subscriptions(&self) -> StoreResult<Vec<SubscriptionRecord>> {
        Err(StoreError::Unavailable("not yet on PostgreSQL".into()))
    }

    async fn update_subscription(
        &self,
        tenant: &str,
        subscription: Subscription,
    ) -> StoreResult<()> {
        Err(StoreError::Unavailable("not yet on PostgreSQL".into()))
    }

    async fn delete_subscription(&self, tenant: &str, id: &str) -> StoreResult<bool> {
        Err(StoreError::Unavailable("not yet on PostgreSQL".into()))
    }

    async fn enqueue_notifications(
        &self,
        tenant: &str,
        items: Vec<NewNotification>,
    ) -> StoreResult<Vec<PendingNotification>> {
        Err(StoreError::Unavailable("not yet on PostgreSQL".into()))
    }

    async fn pending_notifications(&self) -> StoreResult<Vec<PendingNotification>> {
        Err(StoreError::Unavailable("not yet on PostgreSQL".into()))
    }

    async fn notification_delivered(
        &self,
        tenant: &str,
        seq: i64,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        Err(StoreError::Unavailable("not yet on PostgreSQL".into()))
    }

    async fn notification_failed(
        &self,
        tenant: &str,
        seq: i64,
        at: DateTime<Utc>,
        reason: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> StoreResult<()> {
        Err(StoreError::Unavailable("not yet on PostgreSQL".into()))
    }

    async fn failed_notifications(
        &self,
        tenant: &str,
        subscription_id: &str,
    ) -> StoreResult<Vec<PendingNotification>> {
        Err(StoreError::Unavailable("not yet on PostgreSQL".into()))
    }

}
