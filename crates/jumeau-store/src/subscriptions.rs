//! Subscriptions and the notifications waiting to be delivered (a durable outbox, so that
//! pending notifications survive a restart).
//!
//! A subscription is kept as the client defined it (expanded names, see
//! [`jumeau_model::subscription::Subscription`]) with the @context it was created with, so
//! that notifications are compacted the way the subscriber expects, and with its delivery
//! statistics ([`SubscriptionStatus`]), kept apart so that recording a delivery never
//! rewrites the definition.
//!
//! A notification is appended to the outbox before the write that caused it is acknowledged;
//! its row is deleted once delivered, and kept with the reason once retries are exhausted, so
//! that no notification is lost silently.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jumeau_model::subscription::{Subscription, SubscriptionStatus};
use serde_json::Value;

use crate::StoreResult;

/// A stored subscription of one tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionRecord {
    /// The tenant it belongs to.
    pub tenant: String,
    /// The subscription, names expanded.
    pub subscription: Subscription,
    /// The @context value it was created with (a URL, an object or an array), used to
    /// compact its notifications and to render it back.
    pub context: Value,
    /// Its delivery statistics.
    pub status: SubscriptionStatus,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When the client last changed it.
    pub modified_at: DateTime<Utc>,
}

/// A notification to append to the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    /// The subscription that produced it.
    pub subscription_id: String,
    /// Where it goes (the endpoint URI), which groups deliveries by receiver.
    pub endpoint: String,
    /// Everything delivery needs (the notifier decides its shape), as JSON.
    pub payload: Value,
    /// When to try first.
    pub next_attempt: DateTime<Utc>,
}

/// A notification in the outbox: pending, or kept after its retries were exhausted.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingNotification {
    /// Its number in the outbox, increasing with each append and never reused.
    pub seq: i64,
    /// The tenant of the subscription.
    pub tenant: String,
    /// The subscription that produced it.
    pub subscription_id: String,
    /// Where it goes (the endpoint URI).
    pub endpoint: String,
    /// What the notifier stored for delivery.
    pub payload: Value,
    /// Delivery attempts made so far.
    pub attempts: u32,
    /// When to try next.
    pub next_attempt: DateTime<Utc>,
    /// Why the last attempt failed, if one did.
    pub last_error: Option<String>,
    /// When delivery was given up (retries exhausted); `None` while pending.
    pub failed_at: Option<DateTime<Utc>>,
}

/// Storage of subscriptions and of their pending notifications; every engine implements
/// it. Every method takes the tenant, except those the delivery worker uses at start to
/// load the work of every tenant.
#[async_trait]
pub trait SubscriptionStore: Send + Sync {
    /// Stores a new subscription of `tenant` (creating the tenant if needed), with the
    /// @context it was created with and empty statistics. Rejected with AlreadyExists if the
    /// tenant has a subscription with this id.
    async fn create_subscription(
        &self,
        tenant: &str,
        subscription: Subscription,
        context: Value,
    ) -> StoreResult<()>;

    /// One subscription by id.
    async fn subscription(&self, tenant: &str, id: &str)
        -> StoreResult<Option<SubscriptionRecord>>;

    /// A page of the subscriptions of a tenant in creation order, and how many it has.
    async fn subscriptions(
        &self,
        tenant: &str,
        offset: usize,
        limit: usize,
    ) -> StoreResult<(Vec<SubscriptionRecord>, u64)>;

    /// Every subscription of every tenant (to schedule periodic notifications at start).
    async fn all_subscriptions(&self) -> StoreResult<Vec<SubscriptionRecord>>;

    /// Replaces the definition of an existing subscription (statistics and context are
    /// kept). Rejected with ResourceNotFound if absent.
    async fn update_subscription(
        &self,
        tenant: &str,
        subscription: Subscription,
    ) -> StoreResult<()>;

    /// Deletes a subscription and every notification of it still in the outbox; false if
    /// absent.
    async fn delete_subscription(&self, tenant: &str, id: &str) -> StoreResult<bool>;

    /// Appends notifications of `tenant` to the outbox, durably, and returns them as
    /// stored (with their numbers), in order.
    async fn enqueue_notifications(
        &self,
        tenant: &str,
        items: Vec<NewNotification>,
    ) -> StoreResult<Vec<PendingNotification>>;

    /// Every pending notification of every tenant, oldest first (what the delivery worker
    /// takes up when it starts).
    async fn pending_notifications(&self) -> StoreResult<Vec<PendingNotification>>;

    /// Records a delivered notification: its row is deleted, and the statistics of its
    /// subscription record a success at `at`.
    async fn notification_delivered(
        &self,
        tenant: &str,
        seq: i64,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Records a failed attempt at `at` and why: the statistics of its subscription record a
    /// failure; the row is retried at `retry_at`, or, when `None`, kept as given up (the
    /// engine may keep only the latest given-up notifications of a subscription, at least
    /// a thousand).
    async fn notification_failed(
        &self,
        tenant: &str,
        seq: i64,
        at: DateTime<Utc>,
        reason: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> StoreResult<()>;

    /// The notifications of a subscription that were given up after their retries, oldest
    /// first.
    async fn failed_notifications(
        &self,
        tenant: &str,
        subscription_id: &str,
    ) -> StoreResult<Vec<PendingNotification>>;
}
