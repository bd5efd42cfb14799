//! The Jumeau twin service: what the HTTP API, the CLI and the service modules share.
//!
//! It sits between the front-ends and the [`Store`]: it resolves JSON-LD contexts (bundled,
//! registered, or fetched and cached), authenticates API keys and checks what they may do,
//! and moves whole territories in and out (import, export). It never speaks HTTP to clients
//! and never writes SQL.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod contexts;
pub mod dump;
pub mod import;
pub mod notify;

use std::sync::Arc;

use jumeau_model::{ErrorKind, NgsiError};
use jumeau_store::{Store, StoreResult, WriteOp, WriteOutcome};

pub use auth::{Principal, Role};
pub use contexts::ContextResolver;
pub use notify::{Notifier, NotifierHandle};

/// The tenant used when a request names none (NGSI-LD's default tenant).
pub const DEFAULT_TENANT: &str = "default";

/// The twin service: a store plus the rules every front-end applies the same way.
#[derive(Clone)]
pub struct Twin {
    /// The storage engine.
    pub store: Arc<dyn Store>,
    /// JSON-LD context resolution.
    pub contexts: Arc<ContextResolver>,
    /// API keys and permissions.
    pub auth: Arc<auth::Auth>,
    /// Subscriptions: matching writes, the outbox of notifications, delivery.
    pub notifier: Arc<Notifier>,
    /// Entity changes for live views (the web map's server-sent events); a write with
    /// no listener publishes nothing.
    pub changes: tokio::sync::broadcast::Sender<EntityChange>,
}

/// One stored change of an entity, as live views receive it.
#[derive(Debug, Clone)]
pub struct EntityChange {
    /// The tenant written.
    pub tenant: Arc<str>,
    /// The entity id.
    pub id: String,
    /// Its expanded type IRIs.
    pub types: Vec<String>,
    /// Whether the write deleted the entity.
    pub deleted: bool,
}

/// How many changes a slow live view may lag behind before it misses some (it is then
/// told so and reloads).
const CHANGES_CAPACITY: usize = 1024;

impl Twin {
    /// A twin over a store.
    pub fn new(store: Arc<dyn Store>) -> Self {
        let contexts = Arc::new(ContextResolver::new(store.clone()));
        Self {
            notifier: Arc::new(Notifier::new(store.clone(), contexts.clone())),
            contexts,
            auth: Arc::new(auth::Auth::new(store.clone())),
            store,
            changes: tokio::sync::broadcast::channel(CHANGES_CAPACITY).0,
        }
    }

    /// Starts delivering notifications (and takes up those a previous run left pending).
    /// Needs a Tokio runtime, which is why [`Twin::new`] does not do it: commands that only
    /// write (imports) leave their notifications in the outbox for the server to deliver.
    /// Delivery stops when the handle is dropped.
    pub fn start_notifier(&self) -> NotifierHandle {
        self.notifier.start()
    }

    /// Writes entities of one tenant. Every front-end (API, importers, ingestion) writes
    /// through here, so that what must follow a write happens whoever wrote it.
    pub async fn write(
        &self,
        tenant: &str,
        ops: Vec<WriteOp>,
    ) -> StoreResult<Vec<Result<WriteOutcome, NgsiError>>> {
        let written = self.store.write_changes(tenant, ops).await?;
        // Notifications are in the outbox before the write is acknowledged.
        if let Err(e) = self.notifier.after_write(tenant, &written).await {
            return Err(jumeau_store::StoreError::Unavailable(format!(
                "the change was stored but its notifications could not be queued ({e}); \
                 retry in a few seconds"
            )));
        }
        self.publish_changes(tenant, &written);
        Ok(written.into_iter().map(|r| r.map(|w| w.outcome)).collect())
    }

    /// Tells live views what a write changed; when nobody listens it costs one uncontended
    /// lock (the receiver count), nothing against the write's own commit.
    fn publish_changes(&self, tenant: &str, written: &[Result<jumeau_store::Written, NgsiError>]) {
        if self.changes.receiver_count() == 0 {
            return;
        }
        let tenant: Arc<str> = Arc::from(tenant);
        for w in written.iter().flatten() {
            if let Some(e) = w.head() {
                // An error only means every listener left meanwhile.
                let _ = self.changes.send(EntityChange {
                    tenant: tenant.clone(),
                    id: e.id.clone(),
                    types: e.types.clone(),
                    deleted: w.deleted(),
                });
            }
        }
    }
}

/// Checks a tenant name from the NGSILD-Tenant header: short, and made of characters safe
/// in URLs, file names and logs.
pub fn validate_tenant(name: &str) -> Result<(), NgsiError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(NgsiError::new(
            ErrorKind::BadRequestData,
            format!(
                "'{name}' is not a valid tenant name: use 1 to 64 letters, digits, '-', '_' or '.' (for example 'commune-38185')"
            ),
        ))
    }
}
