//! The active subscriptions of each tenant, kept in memory so that matching a write costs no
//! read; a tenant's list is loaded on its first write and again after its subscriptions
//! change.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use jumeau_model::context::Context;
use jumeau_model::subscription::Subscription;
use jumeau_store::subscriptions::SubscriptionRecord;
use jumeau_store::StoreResult;
use serde_json::Value;

use super::Notifier;

/// One subscription ready for matching.
pub(super) struct CachedSubscription {
    /// The definition.
    pub sub: Subscription,
    /// The @context its notifications are compacted with, as a value (a URL goes in the Link
    /// header, anything else in the body).
    pub context_value: Value,
    /// That context, resolved.
    pub context: Arc<Context>,
    /// When it last notified, as stored (the seed of throttling after a restart).
    pub stored_last: Option<DateTime<Utc>>,
}

/// The subscriptions of a tenant that changes can trigger (periodic ones are left out).
pub(super) type TenantSubscriptions = Arc<Vec<Arc<CachedSubscription>>>;

/// Active subscriptions by tenant.
#[derive(Default)]
pub(super) struct SubscriptionCache {
    tenants: Mutex<HashMap<String, TenantSubscriptions>>,
    /// Bumped by every invalidation, so that a load that raced with a change is not kept.
    generation: AtomicU64,
}

/// The @context value notifications of a subscription are compacted with: its
/// `jsonldContext`, else the one it was created with.
pub(super) fn context_value(record: &SubscriptionRecord) -> Value {
    match &record.subscription.jsonld_context {
        Some(url) => Value::String(url.clone()),
        None => record.context.clone(),
    }
}

/// Resolves the context of a subscription; the core context when it cannot be had (the
/// notification still goes out, with full IRIs for unknown terms).
pub(super) async fn resolve_context(notifier: &Notifier, value: &Value) -> Arc<Context> {
    match notifier.contexts.resolve(Some(value)).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(
                "the @context {value} of a subscription cannot be resolved ({}); its notifications use the core context",
                e.detail
            );
            Context::core()
        }
    }
}

impl SubscriptionCache {
    /// The subscriptions of a tenant, loaded from the store if not cached.
    pub(super) async fn get(
        &self,
        notifier: &Notifier,
        tenant: &str,
    ) -> StoreResult<TenantSubscriptions> {
        if let Some(list) = self
            .tenants
            .lock()
            .ok()
            .and_then(|t| t.get(tenant).cloned())
        {
            return Ok(list);
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let (records, _) = notifier.store.subscriptions(tenant, 0, usize::MAX).await?;
        let mut list = Vec::new();
        for record in records {
            if record.subscription.time_interval.is_some() {
                continue;
            }
            let value = context_value(&record);
            let context = resolve_context(notifier, &value).await;
            list.push(Arc::new(CachedSubscription {
                stored_last: record.status.last_notification,
                sub: record.subscription,
                context_value: value,
                context,
            }));
        }
        let list = Arc::new(list);
        if let Ok(mut t) = self.tenants.lock() {
            if self.generation.load(Ordering::SeqCst) == generation {
                t.insert(tenant.to_string(), list.clone());
            }
        }
        Ok(list)
    }

    /// Forgets a tenant's list; the next write loads it again.
    pub(super) fn invalidate(&self, tenant: &str) {
        if let Ok(mut t) = self.tenants.lock() {
            self.generation.fetch_add(1, Ordering::SeqCst);
            t.remove(tenant);
        }
    }
}
