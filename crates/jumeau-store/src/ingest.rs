//! The ingestion journal: sensor messages kept durably before they are acknowledged, the
//! dead letters that could not be turned into twin updates, the device registry and the
//! message counters.
//!
//! The rules (what a message means, how a device maps onto the twin) live in
//! `jumeau-ingest`; this trait only keeps the records, durably and per tenant.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::StoreResult;

/// One registered sensor: which twin entity its readings update, how to decode its payload
/// and how its decoded fields become NGSI-LD attributes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeviceRecord {
    /// The DevEUI, 16 lower-case hexadecimal digits: the key of the device.
    pub dev_eui: String,
    /// The twin entity its readings update (created on the first reading if absent).
    pub entity_id: String,
    /// The type of that entity, as a term of `context` or an IRI (e.g. `AirQualityObserved`).
    pub entity_type: String,
    /// The device profile: a native decoder id `vendor/device` (e.g. `elsys/ers-co2`), used
    /// when the network server sends no decoded object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// A JSON-LD context URL expanding `entity_type` and the attribute names; the NGSI-LD
    /// core context when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// A name for people (shown in listings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// How often the device reports, in seconds; a device silent for several intervals is
    /// marked stale. `None`: never marked stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_seconds: Option<u64>,
    /// Decoded fields to attributes.
    #[serde(default)]
    pub mappings: Vec<FieldMapping>,
    /// When the device was registered (set by the store's caller).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    /// When the registration last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_at: Option<DateTime<Utc>>,
}

/// How one decoded field becomes one NGSI-LD attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldMapping {
    /// The decoded field, e.g. `temperature`; a dotted path reaches into objects
    /// (`meter.volume`).
    pub field: String,
    /// The attribute name, a term of the device's context or an IRI.
    pub attribute: String,
    /// The UN/CEFACT unit code of the attribute (e.g. `CEL`, `MTQ`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_code: Option<String>,
    /// A factor applied to the decoded number (e.g. `0.001` for litres to cubic metres).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
    /// The smallest plausible value, after scaling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// The largest plausible value, after scaling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Write the attribute on the device's own entity (battery, internal temperature)
    /// instead of the entity it measures.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub on_device: bool,
}

/// A message to journal, as received.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJournalEntry {
    /// Who sent it: `chirpstack`, `the-things-stack`, `generic`.
    pub source: String,
    /// How it came: `http` or `mqtt`.
    pub transport: String,
    /// What the parser needs besides the body: the ChirpStack event type, the MQTT topic, or
    /// empty.
    pub kind: String,
    /// The body, byte for byte.
    pub body: Vec<u8>,
    /// When Jumeau received it.
    pub received_at: DateTime<Utc>,
}

/// A journaled message.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalEntry {
    /// Its number, increasing in the order of arrival.
    pub seq: i64,
    /// The tenant it is for.
    pub tenant: String,
    /// The message.
    pub entry: NewJournalEntry,
}

/// A message to keep as a dead letter.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDeadLetter {
    /// The tenant it was for.
    pub tenant: String,
    /// The message, as received.
    pub message: NewJournalEntry,
    /// The device, when it could be read from the message.
    pub dev_eui: Option<String>,
    /// Why it could not be applied, and how to fix it.
    pub reason: String,
    /// The dead letter this one replaces (a replay that failed again), if any.
    pub replaces: Option<i64>,
}

/// A stored dead letter.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// Its number.
    pub id: i64,
    /// The tenant it was for.
    pub tenant: String,
    /// The message, as received.
    pub message: NewJournalEntry,
    /// The device, when known.
    pub dev_eui: Option<String>,
    /// Why it could not be applied.
    pub reason: String,
    /// When it was (last) dead-lettered.
    pub created_at: DateTime<Utc>,
    /// How many times it was tried (1 plus the failed replays).
    pub attempts: u32,
}

/// Which dead letters to list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeadLetterFilter {
    /// Only this device's.
    pub dev_eui: Option<String>,
    /// Only these ids (all when empty).
    pub ids: Vec<i64>,
    /// Only those after this id (paging).
    pub after_id: Option<i64>,
    /// At most this many (0: no limit).
    pub limit: usize,
}

/// Additions to the counters of one tenant, source and device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    /// The tenant.
    pub tenant: String,
    /// The source (`chirpstack`, `the-things-stack`, `generic`).
    pub source: String,
    /// The device (empty when the message named none that could be read).
    pub dev_eui: String,
    /// Messages received.
    pub received: u64,
    /// Messages applied to the twin.
    pub accepted: u64,
    /// Messages dropped as copies of one already received.
    pub duplicated: u64,
    /// Messages dead-lettered or refused.
    pub rejected: u64,
}

/// What one processing round did, written in one transaction so that a message is marked
/// processed exactly when its dead letters and counters are recorded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IngestCommit {
    /// Journal entries now applied.
    pub processed: Vec<i64>,
    /// New dead letters (or replacements of replayed ones that failed again).
    pub dead_letters: Vec<NewDeadLetter>,
    /// Replayed dead letters that are now applied, to delete: (tenant, id).
    pub resolved: Vec<(String, i64)>,
    /// Counter additions.
    pub counters: Vec<Counters>,
}

/// Storage of ingestion; every engine implements it. Every method takes the tenant, except
/// the two that serve the recovery at start and the retention of the journal, which go
/// over every tenant.
#[async_trait]
pub trait IngestStore: Send + Sync {
    /// Journals messages of one tenant and adds to the counters, in one durable transaction;
    /// returns the numbers of the entries, in order. Acknowledge the messages only after it
    /// returns.
    async fn journal_append(
        &self,
        tenant: &str,
        entries: Vec<NewJournalEntry>,
        counters: Vec<Counters>,
    ) -> StoreResult<Vec<i64>>;

    /// Journal entries not yet processed with a number above `after`, of every tenant, in
    /// order, at most `limit`: what to apply again after a restart.
    async fn journal_pending(&self, after: i64, limit: usize) -> StoreResult<Vec<JournalEntry>>;

    /// Records a processing round (see [`IngestCommit`]) in one durable transaction.
    async fn ingest_commit(&self, commit: IngestCommit) -> StoreResult<()>;

    /// Deletes processed journal entries received before `before`; returns how many.
    async fn journal_prune(&self, before: DateTime<Utc>) -> StoreResult<u64>;

    /// How many journal entries of a tenant wait to be processed.
    async fn journal_backlog(&self, tenant: &str) -> StoreResult<u64>;

    /// Dead letters of a tenant, oldest first.
    async fn dead_letters(
        &self,
        tenant: &str,
        filter: &DeadLetterFilter,
    ) -> StoreResult<Vec<DeadLetter>>;

    /// Stores (or replaces) a device registration; true if it is new.
    async fn put_device(&self, tenant: &str, device: DeviceRecord) -> StoreResult<bool>;

    /// A device registration.
    async fn device(&self, tenant: &str, dev_eui: &str) -> StoreResult<Option<DeviceRecord>>;

    /// Every device of a tenant, by DevEUI.
    async fn devices(&self, tenant: &str) -> StoreResult<Vec<DeviceRecord>>;

    /// Every device of every tenant, as (tenant, device): the registry loaded at start.
    async fn all_devices(&self) -> StoreResult<Vec<(String, DeviceRecord)>>;

    /// Deletes a device registration; false if absent.
    async fn delete_device(&self, tenant: &str, dev_eui: &str) -> StoreResult<bool>;

    /// The counters of a tenant (`None`: of every tenant), by tenant, source and device.
    async fn counters(&self, tenant: Option<&str>) -> StoreResult<Vec<Counters>>;
}
