//! Which subscriptions a write triggers, and the notifications it produces.

use chrono::{DateTime, Utc};
use jumeau_model::subscription::{notification, triggers, Change};
use jumeau_model::{Entity, NgsiError};
use jumeau_store::subscriptions::NewNotification;
use jumeau_store::Written;

use super::cache::CachedSubscription;
use super::envelope::Envelope;
use super::{notification_id, Notifier};

/// The notifications the successful writes of one call trigger: one per subscription,
/// holding every entity of the call that triggered it, unless throttling holds it back.
pub(super) fn notifications(
    notifier: &Notifier,
    tenant: &str,
    subs: &[std::sync::Arc<CachedSubscription>],
    written: &[Result<Written, NgsiError>],
    now: DateTime<Utc>,
) -> Vec<NewNotification> {
    let mut out = Vec::new();
    for cached in subs {
        let mut entities: Vec<Entity> = Vec::new();
        for w in written.iter().flatten() {
            let change = Change {
                before: w.before(),
                after: w.after(),
            };
            if !triggers(&cached.sub, &change, now) {
                continue;
            }
            match (w.after(), w.before()) {
                (Some(after), _) => entities.push(after.clone()),
                // A deleted entity is notified by its id and types.
                (None, Some(before)) => entities.push(Entity {
                    id: before.id.clone(),
                    types: before.types.clone(),
                    scope: None,
                    attrs: Default::default(),
                    created_at: None,
                    modified_at: None,
                }),
                (None, None) => {}
            }
        }
        if entities.is_empty()
            || !notifier.take_throttle_slot(tenant, &cached.sub, cached.stored_last, now)
        {
            continue;
        }
        if let Some(n) = build(cached, &entities, now) {
            out.push(n);
        }
    }
    out
}

/// The outbox entry of a notification of `entities` for a subscription.
pub(super) fn build(
    cached: &CachedSubscription,
    entities: &[Entity],
    now: DateTime<Utc>,
) -> Option<NewNotification> {
    let id = match notification_id() {
        Ok(id) => id,
        Err(e) => {
            tracing::error!("notification of {} not built: {}", cached.sub.id, e.detail);
            return None;
        }
    };
    let body = notification(&cached.sub, entities, &cached.context, &id, now);
    let envelope = Envelope {
        endpoint: cached.sub.notification.endpoint.clone(),
        context: cached.context_value.clone(),
        notification: body,
    };
    let payload = match serde_json::to_value(&envelope) {
        Ok(v) => v,
        Err(e) => {
            tracing::error!("notification of {} not encoded: {e}", cached.sub.id);
            return None;
        }
    };
    Some(NewNotification {
        subscription_id: cached.sub.id.clone(),
        endpoint: envelope.endpoint.uri.clone(),
        payload,
        next_attempt: now,
    })
}
