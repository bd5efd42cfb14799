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

use std::sync::Arc;

use jumeau_model::{ErrorKind, NgsiError};
use jumeau_store::{Store, StoreResult, WriteOp, WriteOutcome};

pub use auth::{Principal, Role};
pub use contexts::ContextResolver;

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
}

impl Twin {
    /// A twin over a store.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            contexts: Arc::new(ContextResolver::new(store.clone())),
            auth: Arc::new(auth::Auth::new(store.clone())),
            store,
        }
    }

    /// Writes entities of one tenant. Every front-end (API, importers, ingestion) writes
    /// through here, so that what must follow a write happens whoever wrote it.
    pub async fn write(
        &self,
        tenant: &str,
        ops: Vec<WriteOp>,
    ) -> StoreResult<Vec<Result<WriteOutcome, NgsiError>>> {
        let written = self.store.write_changes(tenant, ops).await?;
        Ok(written.into_iter().map(|r| r.map(|w| w.outcome)).collect())
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
