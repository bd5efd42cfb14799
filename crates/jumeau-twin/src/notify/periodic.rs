//! Periodic notifications (`timeInterval`): every interval, the entities a subscription
//! selects are sent, whether they changed or not.
//!
//! The scheduler sleeps until the next subscription is due, or until subscriptions change;
//! it never wakes when nothing is due.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use jumeau_model::query::{EntityQuery, GeoFilter, MAX_LIMIT};
use jumeau_model::subscription::{periodic_due, Subscription};
use jumeau_model::Entity;
use jumeau_store::subscriptions::SubscriptionRecord;
use jumeau_store::StoreResult;

use super::cache::{context_value, resolve_context, CachedSubscription};
use super::{matching, Notifier};

/// The wait before reading subscriptions again when the store cannot be read.
const RELOAD_RETRY: Duration = Duration::from_secs(5);
/// Most entities sent in one periodic notification.
const MAX_ENTITIES: usize = MAX_LIMIT;

/// When a periodic subscription is next due, given when it last notified.
fn next_due(
    sub: &Subscription,
    last: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let seconds = sub.time_interval?;
    if !sub.is_active || sub.expires_at.is_some_and(|t| t <= now) {
        return None;
    }
    let Some(last) = last else {
        return Some(now);
    };
    let ms = (seconds * 1000.0).round();
    if !ms.is_finite() || ms >= 9.0e15 {
        return None;
    }
    TimeDelta::try_milliseconds(ms as i64).and_then(|d| last.checked_add_signed(d))
}

/// The entities a periodic subscription selects now: each entity selector queried with the
/// subscription's q and geoQ, without duplicates.
async fn selected(
    notifier: &Notifier,
    tenant: &str,
    sub: &Subscription,
) -> StoreResult<Vec<Entity>> {
    let base = EntityQuery {
        q: sub.q.as_ref().map(|q| q.expr.clone()),
        geo: sub.geo_q.as_ref().map(|g| GeoFilter {
            query: g.query.clone(),
            property: g.property.clone(),
        }),
        limit: MAX_ENTITIES,
        ..EntityQuery::default()
    };
    let queries: Vec<EntityQuery> = if sub.entities.is_empty() {
        vec![base]
    } else {
        sub.entities
            .iter()
            .map(|s| EntityQuery {
                ids: s.id.iter().cloned().collect(),
                id_pattern: if s.id.is_some() {
                    None
                } else {
                    s.id_pattern.clone()
                },
                types: Some(s.types.clone()),
                ..base.clone()
            })
            .collect()
    };
    let mut out: Vec<Entity> = Vec::new();
    for q in queries {
        for e in notifier.store.query(tenant, &q).await?.entities {
            if out.len() < MAX_ENTITIES && !out.iter().any(|o| o.id == e.id) {
                out.push(e);
            }
        }
    }
    Ok(out)
}

/// The scheduler: loads periodic subscriptions, sends each when due, reloads on change.
pub(super) async fn run(notifier: Arc<Notifier>) {
    // When each subscription last sent, by tenant and id (seeded from the store).
    let mut last: HashMap<(String, String), DateTime<Utc>> = HashMap::new();
    loop {
        let records = match notifier.store.all_subscriptions().await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(
                    "cannot read subscriptions for periodic notifications ({e}); retrying"
                );
                tokio::time::sleep(RELOAD_RETRY).await;
                continue;
            }
        };
        let periodic: Vec<SubscriptionRecord> = records
            .into_iter()
            .filter(|r| r.subscription.time_interval.is_some())
            .collect();
        for r in &periodic {
            if let Some(t) = r.status.last_notification {
                last.entry((r.tenant.clone(), r.subscription.id.clone()))
                    .or_insert(t);
            }
        }
        // Serve this list until subscriptions change.
        loop {
            let now = Utc::now();
            let next = periodic
                .iter()
                .filter_map(|r| {
                    let key = (r.tenant.clone(), r.subscription.id.clone());
                    next_due(&r.subscription, last.get(&key).copied(), now)
                })
                .min();
            let changed = notifier.schedule_changed.notified();
            match next {
                None => {
                    changed.await;
                    break;
                }
                Some(t) if t > now => {
                    let wait = (t - now).to_std().unwrap_or(Duration::ZERO);
                    tokio::select! {
                        _ = changed => break,
                        _ = tokio::time::sleep(wait) => continue,
                    }
                }
                Some(_) => {}
            }
            for r in &periodic {
                let key = (r.tenant.clone(), r.subscription.id.clone());
                if !periodic_due(&r.subscription, last.get(&key).copied(), now) {
                    continue;
                }
                last.insert(key, now);
                send(&notifier, r, now).await;
            }
        }
    }
}

/// Sends one periodic notification of a subscription (nothing when it selects no entity).
async fn send(notifier: &Notifier, record: &SubscriptionRecord, now: DateTime<Utc>) {
    let sub = &record.subscription;
    let entities = match selected(notifier, &record.tenant, sub).await {
        Ok(e) => e,
        Err(e) => {
            tracing::error!("periodic notification of {} skipped: {e}", sub.id);
            return;
        }
    };
    if entities.is_empty() {
        return;
    }
    let value = context_value(record);
    let cached = CachedSubscription {
        context: resolve_context(notifier, &value).await,
        context_value: value,
        sub: sub.clone(),
        stored_last: record.status.last_notification,
    };
    let Some(item) = matching::build(&cached, &entities, now) else {
        return;
    };
    if let Err(e) = notifier.enqueue(&record.tenant, vec![item]).await {
        tracing::error!("periodic notification of {} not queued: {e}", sub.id);
    }
}
