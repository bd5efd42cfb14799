//! Storage engines of the Jumeau twin.
//!
//! One [`Store`] trait, one module per engine: [`sqlite`] is the embedded engine a commune
//! runs on a laptop (one data directory). Engines hold no NGSI-LD rules of their own: the
//! update semantics come from [`jumeau_model::ops`] and the exact query semantics from
//! [`jumeau_model::query::EntityQuery::matches`]; engines add durability, isolation of
//! tenants and indexes.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod apply;
pub mod index;
pub mod ingest;
pub mod migrate;
pub mod postgres;
pub mod qplan;
pub mod records;
pub mod series;
pub mod sqlite;
pub mod subscriptions;
pub mod temporal;

use async_trait::async_trait;
use jumeau_model::ops::{AttrMap, UpdateResult};
use jumeau_model::query::EntityQuery;
use jumeau_model::{Attribute, Entity, ErrorKind, NgsiError};

pub use ingest::IngestStore;
pub use records::{ApiKeyRecord, AttrInfo, ContextRecord, Page, TenantInfo, TypeInfo};
pub use subscriptions::SubscriptionStore;
pub use temporal::TemporalStore;

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The request itself is wrong (unknown entity, already exists...): the client's to fix.
    #[error(transparent)]
    Rejected(#[from] NgsiError),
    /// The engine cannot answer now (disk full, database unreachable, shutting down);
    /// retrying later may succeed.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read back: a bug or a damaged file.
    #[error("stored data is damaged or unreadable: {0}")]
    Corrupt(String),
}

impl From<StoreError> for NgsiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Rejected(e) => e,
            StoreError::Unavailable(m) => NgsiError::new(
                ErrorKind::ServiceUnavailable,
                format!("{m}; retry in a few seconds"),
            ),
            StoreError::Corrupt(m) => NgsiError::internal(m),
        }
    }
}

/// Result of store calls.
pub type StoreResult<T> = Result<T, StoreError>;

/// One write on one entity. Engines run a list of them in one transaction, each isolated
/// so that one failure does not undo the others (the per-entity results of NGSI-LD batch
/// operations).
#[derive(Debug, Clone)]
pub enum WriteOp {
    /// Create an entity; fails with AlreadyExists if the id is taken.
    Create(Entity),
    /// Replace an existing entity whole (PUT); fails with ResourceNotFound if absent.
    Replace(Entity),
    /// Create, or if it exists replace it whole (`replace`) or append its attributes.
    Upsert {
        /// The entity.
        entity: Entity,
        /// Replace the whole entity instead of appending attributes.
        replace: bool,
    },
    /// Append attributes (overwriting unless `no_overwrite`); the entity must exist.
    AppendAttrs {
        /// Entity id.
        id: String,
        /// Attributes to add.
        attrs: AttrMap,
        /// Leave existing attributes untouched.
        no_overwrite: bool,
    },
    /// Update existing attributes only.
    UpdateAttrs {
        /// Entity id.
        id: String,
        /// Attributes to update.
        attrs: AttrMap,
    },
    /// Partially update one attribute instance.
    PatchAttr {
        /// Entity id.
        id: String,
        /// Expanded attribute name.
        name: String,
        /// The fields to merge.
        attr: Attribute,
    },
    /// Replace one attribute instance.
    ReplaceAttr {
        /// Entity id.
        id: String,
        /// Expanded attribute name.
        name: String,
        /// The new instance.
        attr: Attribute,
    },
    /// Merge-patch an entity (attributes merged, listed ones deleted, types added).
    Merge {
        /// Entity id.
        id: String,
        /// Attributes merged in.
        attrs: AttrMap,
        /// Attributes (and datasetIds) to delete.
        deletions: Vec<(String, Option<String>)>,
        /// Types to add.
        types: Option<Vec<String>>,
    },
    /// Delete an attribute instance, or all instances.
    DeleteAttr {
        /// Entity id.
        id: String,
        /// Expanded attribute name.
        name: String,
        /// The instance to delete (`None`: the default instance).
        dataset_id: Option<String>,
        /// Delete every instance.
        delete_all: bool,
    },
    /// Delete an entity.
    Delete {
        /// Entity id.
        id: String,
    },
    /// Put an entity back exactly as exported (system timestamps included), replacing any
    /// entity with that id.
    Restore(Entity),
}

impl WriteOp {
    /// The id of the entity this operation writes.
    pub fn entity_id(&self) -> &str {
        match self {
            Self::Create(e) | Self::Replace(e) | Self::Restore(e) => &e.id,
            Self::Upsert { entity, .. } => &entity.id,
            Self::AppendAttrs { id, .. }
            | Self::UpdateAttrs { id, .. }
            | Self::PatchAttr { id, .. }
            | Self::ReplaceAttr { id, .. }
            | Self::Merge { id, .. }
            | Self::DeleteAttr { id, .. }
            | Self::Delete { id } => id,
        }
    }
}

/// What one write did.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOutcome {
    /// A new entity was stored.
    Created,
    /// An existing entity was changed; for partial updates, which attributes.
    Updated(UpdateResult),
    /// The entity or attribute was deleted.
    Deleted,
}

/// One successful write with the entity before and after it, so that subscriptions can
/// tell what changed without reading the entity again.
///
/// An engine may hand the two versions over as the documents it read and wrote rather than
/// decoded: they are decoded on first use, by the caller's thread, so a write that no
/// subscription looks at never pays for decoding whole entities it only changed a little.
#[derive(Debug, Clone)]
pub struct Written {
    /// What the write did.
    pub outcome: WriteOutcome,
    before: Option<Version>,
    after: Option<Version>,
}

impl Written {
    /// A write with both versions of its entity at hand.
    pub fn new(outcome: WriteOutcome, before: Option<Entity>, after: Option<Entity>) -> Self {
        Self {
            outcome,
            before: before.map(Version::Decoded),
            after: after.map(Version::Decoded),
        }
    }

    /// A write whose versions may still be stored documents.
    pub(crate) fn from_versions(
        outcome: WriteOutcome,
        before: Option<Version>,
        after: Option<Version>,
    ) -> Self {
        Self {
            outcome,
            before,
            after,
        }
    }

    /// The entity before the write; `None` when the write created it.
    pub fn before(&self) -> Option<&Entity> {
        self.before.as_ref().map(Version::whole)
    }

    /// The entity after the write; `None` when the write deleted it.
    pub fn after(&self) -> Option<&Entity> {
        self.after.as_ref().map(Version::whole)
    }

    /// The entity after the write (before it, for a deletion) with at least its id, types
    /// and the attributes the write touched, without decoding anything: enough to tell
    /// live views which entity changed.
    pub fn head(&self) -> Option<&Entity> {
        self.after
            .as_ref()
            .or(self.before.as_ref())
            .map(Version::head)
    }

    /// Whether the write deleted the entity.
    pub fn deleted(&self) -> bool {
        self.after.is_none()
    }

    /// The outcome and both versions, decoded.
    pub(crate) fn into_parts(self) -> (WriteOutcome, Option<Entity>, Option<Entity>) {
        (
            self.outcome,
            self.before.map(Version::into_whole),
            self.after.map(Version::into_whole),
        )
    }
}

/// One version of an entity in a [`Written`]: decoded, or the stored document.
#[derive(Debug, Clone)]
pub(crate) enum Version {
    /// The whole entity.
    Decoded(Entity),
    /// The stored document, decoded on first use.
    Stored(Box<StoredVersion>),
}

/// A stored document with what the write already decoded of it.
#[derive(Debug, Clone)]
pub(crate) struct StoredVersion {
    /// The entity's own fields and the attributes the write touched.
    head: Entity,
    /// The whole document, as the engine stores it.
    doc: String,
    /// The engine's decoder of its documents.
    decode: fn(&str) -> StoreResult<Entity>,
    /// The whole entity, once decoded.
    whole: std::sync::OnceLock<Entity>,
}

impl Version {
    /// A stored document of which `head` holds the part the write decoded.
    pub(crate) fn stored(
        head: Entity,
        doc: String,
        decode: fn(&str) -> StoreResult<Entity>,
    ) -> Self {
        Self::Stored(Box::new(StoredVersion {
            head,
            doc,
            decode,
            whole: std::sync::OnceLock::new(),
        }))
    }

    fn head(&self) -> &Entity {
        match self {
            Self::Decoded(e) => e,
            Self::Stored(s) => &s.head,
        }
    }

    fn whole(&self) -> &Entity {
        match self {
            Self::Decoded(e) => e,
            Self::Stored(s) => s.whole.get_or_init(|| s.decode_whole()),
        }
    }

    fn into_whole(self) -> Entity {
        match self {
            Self::Decoded(e) => e,
            Self::Stored(s) => {
                if let Some(e) = s.whole.get() {
                    return e.clone();
                }
                s.decode_whole()
            }
        }
    }
}

impl StoredVersion {
    /// Decodes the document the engine has just read or written. It cannot fail unless the
    /// stored file is damaged; then the part already decoded stands in for the entity
    /// (its id, types and the attributes written), and the damage is logged.
    fn decode_whole(&self) -> Entity {
        match (self.decode)(&self.doc) {
            Ok(e) => e,
            Err(err) => {
                tracing::error!(
                    "entity {} could not be decoded whole after a write ({err}); \
                     notifications carry only the attributes written",
                    self.head.id
                );
                self.head.clone()
            }
        }
    }
}

/// The storage engine interface. Every method takes the tenant: isolation is enforced
/// here, by the engine, and no call can reach another tenant's data.
///
/// The entity store is this trait; the history of attribute values
/// ([`TemporalStore`]), subscriptions and their pending notifications
/// ([`SubscriptionStore`]) and the ingestion journal ([`IngestStore`]) are traits of their
/// own that every engine implements too.
#[async_trait]
pub trait Store: TemporalStore + SubscriptionStore + IngestStore + Send + Sync + 'static {
    /// Runs writes on entities of one tenant in one durable transaction; the tenant is
    /// created by its first write. Returns one result per operation, in order, with the
    /// entity before and after each successful write. When this returns, the successful
    /// writes are on disk.
    async fn write_changes(
        &self,
        tenant: &str,
        ops: Vec<WriteOp>,
    ) -> StoreResult<Vec<Result<Written, NgsiError>>>;

    /// [`Store::write_changes`] for callers that need only the outcomes.
    async fn write(
        &self,
        tenant: &str,
        ops: Vec<WriteOp>,
    ) -> StoreResult<Vec<Result<WriteOutcome, NgsiError>>> {
        Ok(self
            .write_changes(tenant, ops)
            .await?
            .into_iter()
            .map(|r| r.map(|w| w.outcome))
            .collect())
    }

    /// One entity by id.
    async fn get(&self, tenant: &str, id: &str) -> StoreResult<Option<Entity>>;

    /// The entities matching a query, one page of them, and their total count if asked.
    async fn query(&self, tenant: &str, query: &EntityQuery) -> StoreResult<Page>;

    /// Entity types present in a tenant, with counts and attribute names.
    async fn types(&self, tenant: &str) -> StoreResult<Vec<TypeInfo>>;

    /// Attribute names present in a tenant, with counts and the entity types using them.
    async fn attributes(&self, tenant: &str) -> StoreResult<Vec<AttrInfo>>;

    /// Entities in a stable order for a complete dump: the page after `cursor`, and the
    /// cursor of the next page (`None` at the end).
    async fn scan(
        &self,
        tenant: &str,
        cursor: Option<String>,
        limit: usize,
    ) -> StoreResult<(Vec<Entity>, Option<String>)>;

    /// A tenant, if it exists.
    async fn tenant(&self, name: &str) -> StoreResult<Option<TenantInfo>>;
    /// Every tenant.
    async fn tenants(&self) -> StoreResult<Vec<TenantInfo>>;
    /// Creates the tenant if needed and sets whether anonymous reads are allowed.
    async fn set_tenant_public(&self, name: &str, public: bool) -> StoreResult<TenantInfo>;

    /// Stores a new API key (hashed).
    async fn put_key(&self, key: ApiKeyRecord) -> StoreResult<()>;
    /// The key with this hash, revoked or not.
    async fn key_by_hash(&self, hash: &str) -> StoreResult<Option<ApiKeyRecord>>;
    /// Every key.
    async fn keys(&self) -> StoreResult<Vec<ApiKeyRecord>>;
    /// Marks a key revoked; false if no key has this id.
    async fn revoke_key(&self, id: &str) -> StoreResult<bool>;

    /// Stores (or replaces) a JSON-LD context document served by the broker.
    async fn put_context(&self, ctx: ContextRecord) -> StoreResult<()>;
    /// A stored context by URL.
    async fn context(&self, url: &str) -> StoreResult<Option<ContextRecord>>;
    /// Every stored context.
    async fn contexts(&self) -> StoreResult<Vec<ContextRecord>>;
    /// Deletes a stored context; false if absent.
    async fn delete_context(&self, url: &str) -> StoreResult<bool>;
}
