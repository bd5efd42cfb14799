//! Subscriptions that push changes out (ETSI GS CIM 009 §5.8, §5.11, §7.2 and the MQTT
//! notification binding), with nothing lost.
//!
//! * [`Notifier::after_write`], called by [`crate::Twin::write`] after every write, matches
//!   each change against the tenant's active subscriptions (`cache.rs`, kept in memory and
//!   reloaded when subscriptions change; a tenant without any costs one map lookup), builds
//!   the notifications (`matching.rs`) and appends them to the store's outbox durably before
//!   the write returns, then wakes the delivery worker.
//! * The worker (`outbox.rs`), started by [`Notifier::start`] from an async context, takes up
//!   the outbox left by a previous run, keeps one queue per endpoint so that an unreachable or
//!   slow receiver never delays the others, retries failures with exponential backoff and
//!   records every attempt in the subscription's statistics. Delivery speaks HTTP
//!   (`http.rs`) or MQTT (`mqtt.rs`).
//! * Periodic subscriptions (`timeInterval`) are sent on their schedule (`periodic.rs`).
//!
//! Nothing polls when idle: the worker sleeps until new work arrives or the next retry or
//! periodic notification is due.

mod cache;
mod envelope;
mod http;
mod matching;
mod mqtt;
mod outbox;
mod periodic;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use jumeau_model::subscription::Subscription;
use jumeau_model::NgsiError;
use jumeau_store::subscriptions::{NewNotification, PendingNotification};
use jumeau_store::{Store, StoreResult, Written};
use serde_json::Value;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

use crate::ContextResolver;

/// The subscription engine of a twin: matching, the outbox, and delivery.
pub struct Notifier {
    store: Arc<dyn Store>,
    contexts: Arc<ContextResolver>,
    cache: cache::SubscriptionCache,
    /// When each subscription last produced a notification (for throttling), by tenant and
    /// id; seeded from the stored `lastNotification`.
    last_sent: Mutex<HashMap<(String, String), DateTime<Utc>>>,
    /// Subscriptions deleted while this process runs, by tenant and id: their notifications
    /// already in the worker's queues are dropped rather than delivered or retried.
    deleted: Mutex<HashSet<(String, String)>>,
    /// The queue of the running delivery worker; `None` until [`Notifier::start`].
    work: Mutex<Option<mpsc::UnboundedSender<Vec<PendingNotification>>>>,
    /// Wakes the periodic scheduler when subscriptions change.
    schedule_changed: Notify,
}

/// The running delivery worker; dropping it (or [`NotifierHandle::stop`]) stops delivery.
/// Notifications not yet delivered stay in the outbox for the next start.
pub struct NotifierHandle {
    tasks: Vec<JoinHandle<()>>,
}

impl NotifierHandle {
    /// Stops delivery now and waits until the worker's tasks have ended.
    pub async fn stop(mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
            let _ = t.await;
        }
    }
}

impl Drop for NotifierHandle {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// A random id for a notification, `urn:ngsi-ld:Notification:<hex>`.
fn notification_id() -> Result<String, NgsiError> {
    let mut buf = [0u8; 12];
    getrandom::fill(&mut buf)
        .map_err(|e| NgsiError::internal(format!("no secure random source: {e}")))?;
    let hex: String = buf.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("urn:ngsi-ld:Notification:{hex}"))
}

/// Checks what the model leaves to the broker: that this broker can deliver to the
/// endpoint (for MQTT: a topic without wildcards, and no TLS in this build).
fn check_deliverable(subscription: &Subscription) -> Result<(), NgsiError> {
    let endpoint = &subscription.notification.endpoint;
    if endpoint.is_mqtt() {
        mqtt::check_uri(&endpoint.uri).map_err(|e| {
            NgsiError::bad_data(format!("notification.endpoint.uri is not usable: {e}"))
        })?;
    }
    Ok(())
}

impl Notifier {
    /// A notifier over a store; nothing runs until [`Notifier::start`].
    pub fn new(store: Arc<dyn Store>, contexts: Arc<ContextResolver>) -> Self {
        Self {
            store,
            contexts,
            cache: cache::SubscriptionCache::default(),
            last_sent: Mutex::new(HashMap::new()),
            deleted: Mutex::new(HashSet::new()),
            work: Mutex::new(None),
            schedule_changed: Notify::new(),
        }
    }

    /// Starts the delivery worker and the periodic scheduler; call it once, from inside a
    /// Tokio runtime. Pending notifications left in the outbox are delivered first.
    pub fn start(self: &Arc<Self>) -> NotifierHandle {
        let (tx, rx) = mpsc::unbounded_channel();
        if let Ok(mut w) = self.work.lock() {
            *w = Some(tx);
        }
        let delivery = outbox::start(self.clone(), rx);
        let periodic = tokio::spawn(periodic::run(self.clone()));
        NotifierHandle {
            tasks: vec![delivery, periodic],
        }
    }

    /// Matches the successful writes of one call of [`crate::Twin::write`] against the
    /// tenant's subscriptions and appends the notifications they trigger to the outbox,
    /// durably, before returning; then wakes the worker. A tenant without subscriptions
    /// costs one map lookup.
    pub async fn after_write(
        &self,
        tenant: &str,
        written: &[Result<Written, NgsiError>],
    ) -> StoreResult<()> {
        let subs = self.cache.get(self, tenant).await?;
        if subs.is_empty() {
            return Ok(());
        }
        let now = Utc::now();
        let items = matching::notifications(self, tenant, &subs, written, now);
        self.enqueue(tenant, items).await
    }

    /// Appends notifications to the outbox and hands them to the worker, if it runs.
    async fn enqueue(&self, tenant: &str, items: Vec<NewNotification>) -> StoreResult<()> {
        if items.is_empty() {
            return Ok(());
        }
        let stored = self.store.enqueue_notifications(tenant, items).await?;
        if let Ok(w) = self.work.lock() {
            if let Some(tx) = w.as_ref() {
                // A stopped worker leaves the rows in the outbox for the next start.
                let _ = tx.send(stored);
            }
        }
        Ok(())
    }

    /// Stores a new subscription of a tenant with the @context it was created with, and
    /// starts matching it. Refuses an endpoint this broker cannot deliver to.
    pub async fn create_subscription(
        &self,
        tenant: &str,
        subscription: Subscription,
        context: Value,
    ) -> Result<(), NgsiError> {
        check_deliverable(&subscription)?;
        let key = (tenant.to_string(), subscription.id.clone());
        self.store
            .create_subscription(tenant, subscription, context)
            .await?;
        if let Ok(mut d) = self.deleted.lock() {
            d.remove(&key);
        }
        self.changed(tenant);
        Ok(())
    }

    /// Replaces the definition of a subscription (after `merge_subscription`).
    pub async fn update_subscription(
        &self,
        tenant: &str,
        subscription: Subscription,
    ) -> Result<(), NgsiError> {
        check_deliverable(&subscription)?;
        self.store.update_subscription(tenant, subscription).await?;
        self.changed(tenant);
        Ok(())
    }

    /// Deletes a subscription and its pending notifications; false if it did not exist.
    pub async fn delete_subscription(&self, tenant: &str, id: &str) -> Result<bool, NgsiError> {
        let found = self.store.delete_subscription(tenant, id).await?;
        if found {
            if let Ok(mut d) = self.deleted.lock() {
                d.insert((tenant.to_string(), id.to_string()));
            }
            self.changed(tenant);
        }
        Ok(found)
    }

    /// Forgets the cached subscriptions of a tenant and reschedules periodic ones.
    fn changed(&self, tenant: &str) {
        self.cache.invalidate(tenant);
        self.schedule_changed.notify_one();
    }

    /// Whether a subscription was deleted since this process started (its queued
    /// notifications are dropped).
    fn is_deleted(&self, tenant: &str, id: &str) -> bool {
        self.deleted
            .lock()
            .is_ok_and(|d| d.contains(&(tenant.to_string(), id.to_string())))
    }

    /// Whether the throttling of `sub` lets a notification go at `now`; if so, records it
    /// as sent.
    fn take_throttle_slot(
        &self,
        tenant: &str,
        sub: &Subscription,
        stored_last: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> bool {
        let Ok(mut map) = self.last_sent.lock() else {
            return true;
        };
        let key = (tenant.to_string(), sub.id.clone());
        let last = map.get(&key).copied().or(stored_last);
        if jumeau_model::subscription::throttled(sub, last, now) {
            return false;
        }
        map.insert(key, now);
        true
    }
}
