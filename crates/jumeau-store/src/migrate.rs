//! Moving a whole twin from one engine to another (`jumeau migrate`).
//!
//! A commune that joins its departmental syndicate moves its embedded store into the
//! syndicate's PostgreSQL; a syndicate can hand a commune its territory back as one data
//! directory. The copy goes through the [`Store`] traits only, so it works between any two
//! engines, and it is written to be rerun: every step replaces or deduplicates what an
//! interrupted earlier run left in the target.
//!
//! What moves: API keys and JSON-LD contexts (global), then for each tenant its settings
//! (public reads, time zone, retention policies), its entities exactly as exported (system
//! times included), the whole history of each entity's attributes, subscriptions with their
//! pending notifications, the device registry, dead letters and ingestion counters.
//!
//! What cannot move through the traits, said so that nothing is silently different: the
//! time of receipt (`createdAt`) of history instances becomes the time of the copy, and so
//! do the stored `instanceId`s (they are engine-specific); retention reports, subscription
//! delivery statistics and given-up notifications are not copied; history kept for
//! entities that no longer exist is not reachable by id and stays behind.

use std::collections::BTreeMap;

use jumeau_model::temporal::TemporalQuery;
use jumeau_model::{Attribute, NgsiError};
use serde::Serialize;

use crate::ingest::{Counters, DeadLetterFilter, IngestCommit, NewDeadLetter};
use crate::subscriptions::NewNotification;
use crate::{Store, StoreError, StoreResult, WriteOp};

/// Entities read and written per round trip.
const PAGE: usize = 500;
/// Dead letters read per round trip.
const DEAD_LETTER_PAGE: usize = 1000;

/// What one migration copied, per tenant and in all.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MigrationReport {
    /// API keys copied (revoked ones too, so that they stay revoked).
    pub keys: u64,
    /// Stored JSON-LD contexts copied.
    pub contexts: u64,
    /// One entry per tenant, by name.
    pub tenants: BTreeMap<String, TenantMigration>,
}

/// What was copied of one tenant.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TenantMigration {
    /// Entities restored in the target.
    pub entities: u64,
    /// History instances appended in the target.
    pub instances: u64,
    /// Subscriptions created in the target.
    pub subscriptions: u64,
    /// Pending notifications put back in the target's outbox.
    pub notifications: u64,
    /// Devices registered in the target.
    pub devices: u64,
    /// Dead letters kept in the target.
    pub dead_letters: u64,
}

/// A migration that stopped: which step failed and why.
#[derive(Debug, thiserror::Error)]
#[error("migration stopped while copying {step}: {source}")]
pub struct MigrationError {
    /// What was being copied (e.g. `entities of tenant 'crest'`).
    pub step: String,
    /// The engine's error.
    #[source]
    pub source: StoreError,
}

/// Labels the errors of one step.
trait Step<T> {
    fn step(self, what: impl FnOnce() -> String) -> Result<T, MigrationError>;
}

impl<T> Step<T> for StoreResult<T> {
    fn step(self, what: impl FnOnce() -> String) -> Result<T, MigrationError> {
        self.map_err(|source| MigrationError {
            step: what(),
            source,
        })
    }
}

/// Rejections of individual writes become a step error naming the first one.
fn all_ok<T>(results: Vec<Result<T, NgsiError>>) -> StoreResult<usize> {
    let n = results.len();
    match results.into_iter().find_map(Result::err) {
        Some(e) => Err(StoreError::Rejected(e)),
        None => Ok(n),
    }
}

/// Copies everything `from` holds into `to` (see the module documentation for what moves).
/// `to` should be empty or hold an earlier run of the same migration; entities with the
/// same id are replaced, and the history of each copied entity is replaced by the
/// source's.
pub async fn migrate(from: &dyn Store, to: &dyn Store) -> Result<MigrationReport, MigrationError> {
    let mut report = MigrationReport::default();
    for key in from.keys().await.step(|| "API keys".into())? {
        let revoked = key.revoked_at.is_some();
        let id = key.id.clone();
        if to
            .key_by_hash(&key.hash)
            .await
            .step(|| "API keys".into())?
            .is_none()
        {
            to.put_key(key).await.step(|| "API keys".into())?;
        }
        if revoked {
            to.revoke_key(&id).await.step(|| "API keys".into())?;
        }
        report.keys += 1;
    }
    for ctx in from.contexts().await.step(|| "contexts".into())? {
        to.put_context(ctx).await.step(|| "contexts".into())?;
        report.contexts += 1;
    }
    for tenant in from.tenants().await.step(|| "tenants".into())? {
        let copied = migrate_tenant(from, to, &tenant.name, tenant.public).await?;
        report.tenants.insert(tenant.name, copied);
    }
    Ok(report)
}

async fn migrate_tenant(
    from: &dyn Store,
    to: &dyn Store,
    tenant: &str,
    public: bool,
) -> Result<TenantMigration, MigrationError> {
    let settings = || format!("settings of tenant '{tenant}'");
    let mut done = TenantMigration::default();
    to.set_tenant_public(tenant, public).await.step(settings)?;
    let tz = from.time_zone(tenant).await.step(settings)?;
    to.set_time_zone(tenant, tz).await.step(settings)?;
    for policy in from.retention_policies(tenant).await.step(settings)? {
        to.set_retention_policy(tenant, policy)
            .await
            .step(settings)?;
    }

    // Entities, page by page, then the history of the same page: restoring an entity
    // records its current values as history in the target, so the target's history of
    // each entity is cleared and the source's copied over it.
    let entities = || format!("entities of tenant '{tenant}'");
    let history = || format!("history of tenant '{tenant}'");
    let all_history = TemporalQuery::default();
    let mut cursor = None;
    loop {
        let (page, next) = from.scan(tenant, cursor, PAGE).await.step(entities)?;
        if page.is_empty() {
            break;
        }
        let ids: Vec<String> = page.iter().map(|e| e.id.clone()).collect();
        let ops = page.into_iter().map(WriteOp::Restore).collect();
        done.entities += all_ok(to.write(tenant, ops).await.step(entities)?).step(entities)? as u64;
        for id in &ids {
            to.delete_history(tenant, id, None, None, true, None)
                .await
                .step(history)?;
        }
        for entity in from
            .history(tenant, &ids, None, &all_history)
            .await
            .step(history)?
        {
            let instances: Vec<(String, Attribute)> = entity
                .attrs
                .into_iter()
                .flat_map(|a| {
                    let name = a.name;
                    a.instances
                        .into_iter()
                        .map(move |i| (name.clone(), i.attribute))
                })
                .collect();
            if instances.is_empty() {
                continue;
            }
            let appended = to
                .append_history(tenant, &entity.id, &entity.types, instances)
                .await
                .step(history)?;
            done.instances += appended.stored + appended.duplicates;
        }
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }

    let subscriptions = || format!("subscriptions of tenant '{tenant}'");
    let mut subs = Vec::new();
    loop {
        let (page, total) = from
            .subscriptions(tenant, subs.len(), PAGE)
            .await
            .step(subscriptions)?;
        let empty = page.is_empty();
        subs.extend(page);
        if empty || subs.len() as u64 >= total {
            break;
        }
    }
    for record in subs {
        let id = record.subscription.id.clone();
        if to
            .subscription(tenant, &id)
            .await
            .step(subscriptions)?
            .is_some()
        {
            to.update_subscription(tenant, record.subscription)
                .await
                .step(subscriptions)?;
        } else {
            to.create_subscription(tenant, record.subscription, record.context)
                .await
                .step(subscriptions)?;
        }
        done.subscriptions += 1;
    }
    let pending: Vec<NewNotification> = from
        .pending_notifications()
        .await
        .step(subscriptions)?
        .into_iter()
        .filter(|n| n.tenant == tenant && n.failed_at.is_none())
        .map(|n| NewNotification {
            subscription_id: n.subscription_id,
            endpoint: n.endpoint,
            payload: n.payload,
            next_attempt: n.next_attempt,
        })
        .collect();
    if !pending.is_empty() {
        done.notifications = to
            .enqueue_notifications(tenant, pending)
            .await
            .step(subscriptions)?
            .len() as u64;
    }

    let ingestion = || format!("ingestion data of tenant '{tenant}'");
    for device in from.devices(tenant).await.step(ingestion)? {
        to.put_device(tenant, device).await.step(ingestion)?;
        done.devices += 1;
    }
    let mut dead_letters = Vec::new();
    let mut after_id = None;
    loop {
        let filter = DeadLetterFilter {
            after_id,
            limit: DEAD_LETTER_PAGE,
            ..Default::default()
        };
        let page = from.dead_letters(tenant, &filter).await.step(ingestion)?;
        let Some(last) = page.last().map(|d| d.id) else {
            break;
        };
        after_id = Some(last);
        dead_letters.extend(page.into_iter().map(|d| NewDeadLetter {
            tenant: tenant.to_string(),
            message: d.message,
            dev_eui: d.dev_eui,
            reason: d.reason,
            replaces: None,
        }));
    }
    // Counters add up in the target: copy them only into a tenant that has none yet, so
    // that a rerun does not count twice.
    let counters: Vec<Counters> = if to.counters(Some(tenant)).await.step(ingestion)?.is_empty() {
        from.counters(Some(tenant)).await.step(ingestion)?
    } else {
        Vec::new()
    };
    let already = to
        .dead_letters(
            tenant,
            &DeadLetterFilter {
                limit: 1,
                ..Default::default()
            },
        )
        .await
        .step(ingestion)?;
    if !already.is_empty() {
        dead_letters.clear();
    }
    done.dead_letters = dead_letters.len() as u64;
    if !dead_letters.is_empty() || !counters.is_empty() {
        to.ingest_commit(IngestCommit {
            processed: Vec::new(),
            dead_letters,
            resolved: Vec::new(),
            counters,
        })
        .await
        .step(ingestion)?;
    }
    Ok(done)
}
