//! The history of attribute values: instances stored as time series, hourly and daily
//! rollups maintained on write, and the retention policy that thins old readings.
//!
//! Every change of an attribute written through [`crate::Store::write_changes`] appends an
//! instance to the history of that attribute, in the same transaction; bulk history
//! (imports, POST /temporal/entities) comes through [`TemporalStore::append_history`].
//! Numbers are kept as numbers keyed by (tenant, entity, attribute, time), not as one JSON
//! document per instance, and summarised per hour and per local day as they are written,
//! so that a year of dashboards never scans raw readings.
//!
//! Conventions every engine follows:
//!
//! - The time of an instance is its `observedAt`, else the time the broker received it,
//!   which is also its `createdAt` (and `modifiedAt`: an instance never changes).
//! - A time range includes its start and excludes its end: `after` selects
//!   `time >= timeAt`, `before` `time < timeAt`, `between` `timeAt <= time < endTimeAt`, as
//!   the aggregation buckets do, so consecutive ranges never count an instance twice.
//! - Numbers come back as JSON numbers: whole ones as integers (`21.0` is read back as
//!   `21`, the same JSON number); every other value comes back exactly as written.
//! - `instanceId`s are `urn:ngsi-ld:instance:<series>:<µs>:<hash of the value>`: the same
//!   instance always has the same id, across restarts and upgrades.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use jumeau_model::temporal::{Accumulator, Bucket, TemporalQuery};
use jumeau_model::Attribute;
use serde::{Deserialize, Serialize};

use crate::StoreResult;

/// One stored instance of an attribute: the attribute as it was at one time.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// A stable identifier of the instance (NGSI-LD `instanceId`), an absolute URI; the
    /// same instance always gets the same id, so a client can delete it.
    pub instance_id: String,
    /// The attribute instance: value, `observedAt`, `unitCode`, sub-attributes.
    pub attribute: Attribute,
    /// When the broker stored it (the instance's `createdAt`).
    pub created_at: DateTime<Utc>,
}

/// The history of one attribute (one datasetId) of one entity.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeHistory {
    /// Expanded attribute name.
    pub name: String,
    /// The datasetId of this instance series, if any.
    pub dataset_id: Option<String>,
    /// The instances in the asked range, oldest first (with `lastN`, the last N, still
    /// oldest first).
    pub instances: Vec<Instance>,
}

/// The history of one entity.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityHistory {
    /// Entity id.
    pub id: String,
    /// Expanded type IRIs the entity had when its history was last written.
    pub types: Vec<String>,
    /// One entry per attribute and datasetId with at least one instance in range.
    pub attrs: Vec<AttributeHistory>,
}

/// The aggregation of one attribute (one datasetId) of one entity over consecutive periods.
#[derive(Debug, Clone)]
pub struct AttributeAggregate {
    /// Expanded attribute name.
    pub name: String,
    /// The datasetId of this instance series, if any.
    pub dataset_id: Option<String>,
    /// Each period with at least one instance, in time order, with what it accumulated;
    /// the caller asks the accumulator for the methods it wants.
    pub buckets: Vec<(Bucket, Accumulator)>,
}

/// The aggregated history of one entity.
#[derive(Debug, Clone)]
pub struct EntityAggregate {
    /// Entity id.
    pub id: String,
    /// Expanded type IRIs the entity had when its history was last written.
    pub types: Vec<String>,
    /// One entry per attribute and datasetId with at least one instance in range.
    pub attrs: Vec<AttributeAggregate>,
}

/// What a bulk append did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendReport {
    /// Instances stored.
    pub stored: u64,
    /// Instances already stored (same entity, attribute, datasetId, time and value),
    /// stored once.
    pub duplicates: u64,
}

/// How long readings of one entity type (or of every type) are kept at each resolution.
///
/// Older raw instances are thinned once their hourly rollups exist; hourly rollups once
/// their daily ones do. `None` keeps a level for ever.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    /// Expanded entity type the policy applies to; `None`: every type without a policy of
    /// its own.
    pub entity_type: Option<String>,
    /// Days raw instances are kept (for example 396, about 13 months).
    pub raw_days: Option<u32>,
    /// Days hourly rollups are kept (for example 3653, about 10 years).
    pub hourly_days: Option<u32>,
    /// Days daily rollups are kept.
    pub daily_days: Option<u32>,
}

/// What one pass of the retention policy removed from one tenant, kept so that thinning is
/// never silent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetentionReport {
    /// The tenant.
    pub tenant: String,
    /// When the pass ran (the clock given to [`TemporalStore::apply_retention`]).
    pub ran_at: DateTime<Utc>,
    /// The entity type whose policy applied; `None` for the default policy.
    pub entity_type: Option<String>,
    /// `raw`, `hourly` or `daily`.
    pub level: String,
    /// Everything older than this was removed at that level.
    pub cutoff: DateTime<Utc>,
    /// Instances (raw) or rollup rows (hourly, daily) removed.
    pub removed: u64,
}

/// Size of a tenant's history, to report what the storage costs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct HistoryStats {
    /// Raw instances stored.
    pub instances: u64,
    /// Hourly rollup rows.
    pub hourly_rows: u64,
    /// Daily rollup rows.
    pub daily_rows: u64,
    /// Bytes the raw instances take on disk (tables and indexes), where the engine can tell.
    pub raw_bytes: Option<u64>,
}

/// Storage of attribute history; every engine implements it. Every method takes the tenant.
#[async_trait]
pub trait TemporalStore: Send + Sync {
    /// Appends instances to the history of an entity's attributes (expanded name, instance)
    /// without changing its current state; `types` are recorded for the temporal
    /// representation. Duplicates (same entity, attribute, datasetId, time and value) are
    /// stored once; two different values at the same time are both kept; instances older than
    /// the latest are accepted and placed in order. An instance without `observedAt` is
    /// placed at its time of receipt: the `modifiedAt` it carries when it was read from
    /// another store's history (a migration), else the time of the call. Durable when it
    /// returns.
    async fn append_history(
        &self,
        tenant: &str,
        entity_id: &str,
        types: &[String],
        instances: Vec<(String, Attribute)>,
    ) -> StoreResult<AppendReport>;

    /// The history of the given entities, in the order of `ids` (entities without history in
    /// range are left out): the attributes in `attrs` (expanded; `None` for all), restricted
    /// by the time range, time property and `lastN` of `query`.
    ///
    /// Attributes come sorted by name then datasetId, instances oldest first by the time
    /// property asked (`lastN`: the last N of each attribute and datasetId, still oldest
    /// first). `timeproperty=deletedAt` selects nothing: deleted instances are not kept.
    /// Filtering on `createdAt`/`modifiedAt` reads the whole history of the attributes (the
    /// time of receipt is not indexed); `observedAt` reads only the asked range.
    async fn history(
        &self,
        tenant: &str,
        ids: &[String],
        attrs: Option<&[String]>,
        query: &TemporalQuery,
    ) -> StoreResult<Vec<EntityHistory>>;

    /// The aggregated history of the given entities, as [`TemporalStore::history`] selects
    /// it, over the periods of `query.aggr_period` in the time zone `tz`. Rollups serve the
    /// whole hours and days of the range; raw instances only the edges and what rollups
    /// cannot answer (distinctCount).
    ///
    /// Each bucket is the grid period of `query.aggr_period` (which may start before the
    /// range; [`Bucket::clip`] cuts it for a response); with
    /// [`jumeau_model::temporal::AggrPeriod::WholeRange`], the range itself, an open side
    /// being bounded by the first or last instance. Daily rollups serve only when `tz` is
    /// the tenant's time zone; otherwise hourly ones do (exact in zones whose offsets are
    /// whole hours, as in France; elsewhere the raw edges take the rest). Text and other
    /// non-numeric instances are counted one by one: asking a numeric method of them is the
    /// accumulator's error. Fails with TooComplexQuery past 200,000 periods per attribute.
    async fn aggregate(
        &self,
        tenant: &str,
        ids: &[String],
        attrs: Option<&[String]>,
        query: &TemporalQuery,
        tz: Tz,
    ) -> StoreResult<Vec<EntityAggregate>>;

    /// Deletes history: of a whole entity (`attr` `None`), of one attribute (all datasets
    /// when `dataset_id` is `None` and `delete_all`), or one instance by id. Returns the
    /// number of instances removed.
    ///
    /// An instance id of another entity, attribute or tenant removes nothing (0); a string
    /// that is not an instance id of this broker is a BadRequestData rejection. Rollups
    /// follow: those of a deleted attribute go with it, those of the hour and day of a
    /// deleted instance are recomputed.
    async fn delete_history(
        &self,
        tenant: &str,
        entity_id: &str,
        attr: Option<&str>,
        dataset_id: Option<&str>,
        delete_all: bool,
        instance_id: Option<&str>,
    ) -> StoreResult<u64>;

    /// The time zone of a tenant's calendar periods (P1D and longer), Europe/Paris unless
    /// set.
    async fn time_zone(&self, tenant: &str) -> StoreResult<Tz>;
    /// Sets the time zone of a tenant, rebuilding its daily rollups in that zone.
    async fn set_time_zone(&self, tenant: &str, tz: Tz) -> StoreResult<()>;

    /// The retention policies of a tenant.
    async fn retention_policies(&self, tenant: &str) -> StoreResult<Vec<RetentionPolicy>>;
    /// Sets (or replaces) the retention policy of a tenant for one entity type, or the
    /// default one. Rejected unless raw days ≤ hourly days ≤ daily days (no value: for
    /// ever), since aggregations read the coarsest level covering a period.
    async fn set_retention_policy(&self, tenant: &str, policy: RetentionPolicy) -> StoreResult<()>;
    /// Applies every tenant's policies as of `now`, records and returns what was removed:
    /// one report per tenant, policy and level set, even when nothing was old enough.
    ///
    /// Only what a coarser rollup summarises is removed: raw instances of whole UTC hours
    /// before the cutoff (their hourly rollups are written with them), hourly rollups of
    /// whole local days, daily rollups of whole days. Instances that are not plain numbers
    /// (text, Relationships...) have no rollup and are kept. An entity's attributes follow
    /// the policy of the first of its types that has one, else the default policy.
    async fn apply_retention(&self, now: DateTime<Utc>) -> StoreResult<Vec<RetentionReport>>;
    /// The reports of past retention passes of a tenant, newest first.
    async fn retention_reports(&self, tenant: &str) -> StoreResult<Vec<RetentionReport>>;

    /// Size of a tenant's history. On SQLite, `raw_bytes` is the pages of the raw tables
    /// and their index (the `dbstat` table), shared among tenants in proportion to the bytes
    /// of their encoded instances.
    async fn history_stats(&self, tenant: &str) -> StoreResult<HistoryStats>;
}

/// The instances of `after` whose value or `observedAt` differ from the instance with the
/// same datasetId in `before` (all of them when `before` has none): the changes that go to
/// the attribute's history.
pub(crate) fn changed_instances<'a>(
    name: &'a str,
    before: Option<&Vec<Attribute>>,
    after: Option<&'a Vec<Attribute>>,
    out: &mut Vec<(&'a str, &'a Attribute)>,
) {
    for a in after.into_iter().flatten() {
        let previous = before
            .into_iter()
            .flatten()
            .find(|b| b.dataset_id == a.dataset_id);
        if previous.is_none_or(|b| b.value != a.value || b.observed_at != a.observed_at) {
            out.push((name, a));
        }
    }
}
