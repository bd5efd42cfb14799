//! Plain records the stores keep besides entities: tenants, keys, contexts, summaries.

use chrono::{DateTime, Utc};
use jumeau_model::Entity;
use serde::{Deserialize, Serialize};

/// A tenant: one territory (a commune, an EPCI) whose data is isolated from the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantInfo {
    /// The tenant name, as sent in the NGSILD-Tenant header.
    pub name: String,
    /// Whether anonymous clients may read it (open data).
    pub public: bool,
    /// When its first write happened.
    pub created_at: DateTime<Utc>,
}

/// An API key as stored: only its hash, never the key itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// A short public identifier, shown in listings and used to revoke.
    pub id: String,
    /// What the key is for ("armoires SDE", "intégrateur eau").
    pub name: String,
    /// SHA-256 of the key, hex.
    pub hash: String,
    /// reader, editor or admin.
    pub role: String,
    /// Tenants the key may act on; `*` means all.
    pub tenants: Vec<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A JSON-LD context document hosted by the broker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextRecord {
    /// The URL clients reference it by.
    pub url: String,
    /// The document (with its "@context" member).
    pub body: serde_json::Value,
    /// "Hosted" for user-registered contexts, "Cached" for fetched copies.
    pub kind: String,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
}

/// An entity type present in a tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeInfo {
    /// Expanded type IRI.
    pub type_iri: String,
    /// How many entities have it.
    pub count: u64,
    /// Expanded names of the attributes these entities have.
    pub attrs: Vec<String>,
}

/// An attribute name present in a tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrInfo {
    /// Expanded attribute name.
    pub attr: String,
    /// How many entities have it.
    pub count: u64,
    /// Expanded types of the entities having it.
    pub types: Vec<String>,
}

/// One page of query results.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The entities of the page.
    pub entities: Vec<Entity>,
    /// Total number of matches, when asked.
    pub count: Option<u64>,
}
