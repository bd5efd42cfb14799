//! When a subscription notifies (ETSI GS CIM 009 §5.8.6, §5.2.12): entity changes, throttling
//! and periodic notifications.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{duration, Subscription};
use crate::{Attribute, Entity};

/// One change of an entity, as a subscription sees it: the entity before and after.
///
/// A creation has no `before`, a deletion no `after`; an update has both. The entities are in
/// the broker's canonical (expanded) form.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    /// The entity before the change; `None` when the change created it.
    pub before: Option<&'a Entity>,
    /// The entity after the change; `None` when the change deleted it.
    pub after: Option<&'a Entity>,
}

/// Whether `change` must be notified to the subscriber of `sub` at `now` (before throttling,
/// see [`throttled`]).
///
/// All of these must hold:
/// * the subscription is active, not expired, and not periodic (a `timeInterval`
///   subscription notifies on its schedule, see [`periodic_due`]);
/// * an entity selector selects the entity (after the change; before it for a deletion);
/// * the kind of change is one of the subscription's triggers
///   ([`Subscription::effective_triggers`]): entityCreated for a creation, entityDeleted for a
///   deletion; attributeCreated for a creation or an update adding a watched attribute,
///   attributeUpdated for a watched attribute whose value or metadata changed,
///   attributeDeleted for a watched attribute removed by an update. Without
///   watchedAttributes every attribute is watched;
/// * the entity satisfies `q` and `geoQ` after the change (before it for a deletion).
pub fn triggers(sub: &Subscription, change: &Change<'_>, now: DateTime<Utc>) -> bool {
    if !sub.is_active || sub.expires_at.is_some_and(|t| t <= now) || sub.time_interval.is_some() {
        return false;
    }
    let Some(entity) = change.after.or(change.before) else {
        return false;
    };
    if !sub.selects(entity) || !event_triggers(sub, change) {
        return false;
    }
    if sub.q.as_ref().is_some_and(|q| !q.expr.matches(entity)) {
        return false;
    }
    if sub.geo_q.as_ref().is_some_and(|g| !g.matches(entity)) {
        return false;
    }
    true
}

/// Whether the kind of change is one the subscription is triggered by.
fn event_triggers(sub: &Subscription, change: &Change<'_>) -> bool {
    let t = sub.effective_triggers();
    match (change.before, change.after) {
        (None, Some(after)) => {
            t.entity_created
                || (t.attribute_created && present(after).any(|name| sub.watches(name)))
        }
        (Some(_), None) => t.entity_deleted,
        (Some(before), Some(after)) => {
            let old: BTreeMap<&str, &[Attribute]> = present_with(before).collect();
            let new: BTreeMap<&str, &[Attribute]> = present_with(after).collect();
            let created =
                t.attribute_created && new.keys().any(|n| !old.contains_key(n) && sub.watches(n));
            let deleted =
                t.attribute_deleted && old.keys().any(|n| !new.contains_key(n) && sub.watches(n));
            let updated = t.attribute_updated
                && new.iter().any(|(n, instances)| {
                    sub.watches(n)
                        && old
                            .get(n)
                            .is_some_and(|previous| !same_instances(previous, instances))
                });
            created || deleted || updated
        }
        (None, None) => false,
    }
}

/// The attributes an entity has (at least one instance), with their instances.
fn present_with(e: &Entity) -> impl Iterator<Item = (&str, &[Attribute])> {
    e.attrs
        .iter()
        .filter(|(_, instances)| !instances.is_empty())
        .map(|(name, instances)| (name.as_str(), instances.as_slice()))
}

/// The names of the attributes an entity has.
fn present(e: &Entity) -> impl Iterator<Item = &str> {
    present_with(e).map(|(name, _)| name)
}

/// Whether two lists of instances hold the same data, ignoring the broker's createdAt and
/// modifiedAt; instances are paired by datasetId, whatever their order.
fn same_instances(a: &[Attribute], b: &[Attribute]) -> bool {
    a.len() == b.len()
        && a.iter().all(|x| {
            b.iter()
                .find(|y| y.dataset_id == x.dataset_id)
                .is_some_and(|y| same_instance(x, y))
        })
}

fn same_instance(a: &Attribute, b: &Attribute) -> bool {
    a.value == b.value
        && a.dataset_id == b.dataset_id
        && a.observed_at == b.observed_at
        && a.unit_code == b.unit_code
        && a.sub.len() == b.sub.len()
        && a.sub.iter().all(|(name, instances)| {
            b.sub
                .get(name)
                .is_some_and(|other| same_instances(instances, other))
        })
}

/// Whether the throttling of `sub` (ETSI GS CIM 009 §5.2.12) still holds back a notification
/// at `now`, the last one having been sent at `last_notification`: true when fewer than
/// `throttling` seconds have passed. Never true without throttling, with a throttling of 0 or
/// before the first notification.
pub fn throttled(
    sub: &Subscription,
    last_notification: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> bool {
    let (Some(seconds), Some(last)) = (sub.throttling, last_notification) else {
        return false;
    };
    if seconds <= 0.0 {
        return false;
    }
    match duration(seconds, 1000.0).and_then(|d| last.checked_add_signed(d)) {
        Some(until) => now < until,
        // A period too long to represent has not elapsed.
        None => true,
    }
}

/// Whether a periodic subscription (`timeInterval`, ETSI GS CIM 009 §5.2.12) must notify at
/// `now`, the last notification having been sent at `last_notification`: it is active, not
/// expired, and it never notified or did so at least `timeInterval` seconds ago. Always false
/// for a subscription without timeInterval.
pub fn periodic_due(
    sub: &Subscription,
    last_notification: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> bool {
    let Some(seconds) = sub.time_interval else {
        return false;
    };
    if !sub.is_active || sub.expires_at.is_some_and(|t| t <= now) {
        return false;
    }
    let Some(last) = last_notification else {
        return true;
    };
    match duration(seconds, 1000.0).and_then(|d| last.checked_add_signed(d)) {
        Some(next) => now >= next,
        None => false,
    }
}
