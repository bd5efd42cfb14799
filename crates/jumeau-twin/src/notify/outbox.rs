//! The delivery worker: one queue (and task) per endpoint, so that an unreachable or slow
//! receiver only ever delays its own notifications; a bound on deliveries in flight overall;
//! retries with exponential backoff, and every attempt recorded in the outbox and in the
//! subscription's statistics.
//!
//! Each endpoint's notifications go out in outbox order. A failed one stays at the head of
//! its queue until retried (1 s, then doubling up to 5 min, at most [`MAX_ATTEMPTS`]
//! attempts), after which it is kept in the outbox as given up and the next one goes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use jumeau_store::subscriptions::PendingNotification;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

use super::envelope::Envelope;
use super::http::HttpSender;
use super::mqtt::MqttSender;
use super::Notifier;

/// Attempts made at one notification before it is given up (and kept as failed).
pub(super) const MAX_ATTEMPTS: u32 = 10;
/// The wait after a first failure; it doubles with each further one.
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// The longest wait between two attempts.
const MAX_RETRY: Duration = Duration::from_secs(300);
/// Deliveries in flight at once, all endpoints together.
const MAX_IN_FLIGHT: usize = 256;
/// The wait before reading the outbox again when the store cannot be read at start.
const LOAD_RETRY: Duration = Duration::from_secs(5);

/// What every endpoint task shares.
struct Delivery {
    notifier: Arc<Notifier>,
    http: HttpSender,
    mqtt: MqttSender,
    in_flight: Semaphore,
}

/// Starts the worker on the queue that [`Notifier::enqueue`] feeds.
pub(super) fn start(
    notifier: Arc<Notifier>,
    work: mpsc::UnboundedReceiver<Vec<PendingNotification>>,
) -> JoinHandle<()> {
    tokio::spawn(dispatch(notifier, work))
}

/// The wait before attempt `attempts + 1`, at least the endpoint's cooldown.
fn backoff(attempts: u32, cooldown_ms: Option<f64>) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    let wait = FIRST_RETRY.saturating_mul(1 << doublings).min(MAX_RETRY);
    let cooldown = cooldown_ms
        .filter(|c| c.is_finite() && *c > 0.0)
        .map(|c| Duration::from_millis(c.min(MAX_RETRY.as_millis() as f64) as u64))
        .unwrap_or_default();
    wait.max(cooldown)
}

/// Routes notifications to the task of their endpoint, starting tasks as endpoints appear.
struct Router {
    delivery: Arc<Delivery>,
    endpoints: HashMap<String, mpsc::UnboundedSender<PendingNotification>>,
    /// Owns the endpoint tasks: they stop with the worker.
    tasks: JoinSet<()>,
}

impl Router {
    fn route(&mut self, item: PendingNotification) {
        let tx = self
            .endpoints
            .entry(item.endpoint.clone())
            .or_insert_with(|| {
                let (tx, rx) = mpsc::unbounded_channel();
                self.tasks.spawn(endpoint_task(self.delivery.clone(), rx));
                tx
            });
        // The task lives as long as the router.
        let _ = tx.send(item);
    }
}

/// Takes up the outbox of the previous run, then routes new notifications as they come.
async fn dispatch(
    notifier: Arc<Notifier>,
    mut work: mpsc::UnboundedReceiver<Vec<PendingNotification>>,
) {
    let mut router = Router {
        delivery: Arc::new(Delivery {
            notifier: notifier.clone(),
            http: HttpSender::new(),
            mqtt: MqttSender::default(),
            in_flight: Semaphore::new(MAX_IN_FLIGHT),
        }),
        endpoints: HashMap::new(),
        tasks: JoinSet::new(),
    };
    // Notifications appended while the outbox is read may arrive both ways: those read are
    // remembered so that the queue's copy is skipped.
    let mut loaded = HashSet::new();
    loop {
        match notifier.store.pending_notifications().await {
            Ok(items) => {
                if !items.is_empty() {
                    tracing::info!("{} pending notifications taken up", items.len());
                }
                for item in items {
                    loaded.insert(item.seq);
                    router.route(item);
                }
                break;
            }
            Err(e) => {
                tracing::error!("cannot read the notification outbox ({e}); retrying");
                tokio::time::sleep(LOAD_RETRY).await;
            }
        }
    }
    while let Some(batch) = work.recv().await {
        for item in batch {
            if !loaded.remove(&item.seq) {
                router.route(item);
            }
        }
    }
}

/// The time to wait for, as a duration from now.
fn until(t: DateTime<Utc>) -> Duration {
    (t - Utc::now()).to_std().unwrap_or(Duration::ZERO)
}

/// Delivers the notifications of one endpoint in outbox order, sleeping until the head is
/// due or new work arrives.
async fn endpoint_task(
    delivery: Arc<Delivery>,
    mut incoming: mpsc::UnboundedReceiver<PendingNotification>,
) {
    let mut queue: BTreeMap<i64, PendingNotification> = BTreeMap::new();
    loop {
        let due = queue.first_key_value().map(|(_, n)| n.next_attempt);
        let arrived = match due {
            None => incoming.recv().await,
            Some(due) => tokio::select! {
                item = incoming.recv() => item,
                _ = tokio::time::sleep(until(due)) => {
                    if let Some((_, head)) = queue.pop_first() {
                        if let Some(again) = delivery.attempt(head).await {
                            queue.insert(again.seq, again);
                        }
                    }
                    continue;
                }
            },
        };
        match arrived {
            Some(item) => {
                queue.insert(item.seq, item);
            }
            None => return,
        }
    }
}

impl Delivery {
    /// Makes one attempt; returns the notification when it is to be retried.
    async fn attempt(&self, mut item: PendingNotification) -> Option<PendingNotification> {
        if self
            .notifier
            .is_deleted(&item.tenant, &item.subscription_id)
        {
            // Its row went with the subscription.
            return None;
        }
        let decoded = serde_json::from_value::<Envelope>(item.payload.clone());
        let result = match &decoded {
            Ok(envelope) => {
                let _permit = self.in_flight.acquire().await.ok();
                if envelope.endpoint.is_mqtt() {
                    self.mqtt.send(&item.tenant, envelope).await
                } else {
                    self.http.send(&item.tenant, envelope).await
                }
            }
            Err(e) => Err(format!("the stored notification does not decode ({e})")),
        };
        let at = Utc::now();
        let store = &self.notifier.store;
        let reason = match result {
            Ok(()) => {
                if let Err(e) = store
                    .notification_delivered(&item.tenant, item.seq, at)
                    .await
                {
                    // The row stays: it is delivered again after a restart (at least once).
                    tracing::error!("notification {} delivered but not recorded: {e}", item.seq);
                }
                return None;
            }
            Err(reason) => reason,
        };
        item.attempts = item.attempts.saturating_add(1);
        let retry_at = match &decoded {
            Ok(envelope) if item.attempts < MAX_ATTEMPTS => {
                let wait = backoff(item.attempts, envelope.endpoint.cooldown);
                TimeDelta::from_std(wait).ok().map(|w| at + w)
            }
            _ => None,
        };
        match retry_at {
            Some(r) => tracing::warn!(
                "notification of subscription {} failed (attempt {}): {reason}; retrying at {r}",
                item.subscription_id,
                item.attempts
            ),
            None => tracing::error!(
                "notification of subscription {} given up after {} attempts: {reason}",
                item.subscription_id,
                item.attempts
            ),
        }
        if let Err(e) = store
            .notification_failed(&item.tenant, item.seq, at, &reason, retry_at)
            .await
        {
            tracing::error!(
                "failed attempt of notification {} not recorded: {e}",
                item.seq
            );
        }
        let retry_at = retry_at?;
        item.next_attempt = retry_at;
        item.last_error = Some(reason);
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_up_to_five_minutes() {
        let secs: Vec<u64> = (1..=12).map(|n| backoff(n, None).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(backoff(1, Some(5000.0)), Duration::from_secs(5));
        assert_eq!(backoff(1, Some(f64::NAN)), Duration::from_secs(1));
    }
}
