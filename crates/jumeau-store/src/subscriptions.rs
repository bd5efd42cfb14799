//! Subscriptions and the notifications waiting to be delivered (a durable outbox, so that
//! pending notifications survive a restart).

use async_trait::async_trait;

/// Storage of subscriptions; every engine implements it. Every method takes the tenant.
#[async_trait]
pub trait SubscriptionStore: Send + Sync {}
