//! The ingestion service: messages in, journal, twin out.
//!
//! ```text
//! HTTP / MQTT ─> receive: read, journal (durable), acknowledge ─> channel ─> processor:
//!     dedup ─> registry ─> decode ─> map & check ─> Twin::write (batched, per tenant)
//!     ─> mark processed + dead letters + counters (one transaction)
//! ```
//!
//! - A message is acknowledged only once its journal entry (or its dead letter) is
//!   committed; the processor applies journaled messages in batches of many messages, with
//!   one `Twin::write` per tenant per batch. On start, entries not marked processed are
//!   applied again (restart safety); applying twice is harmless: the second time the
//!   frame is dropped as a copy, or writes the same values.
//! - A reading older than the device's last one goes to the history only
//!   ([`jumeau_store::TemporalStore::append_history`]); it never overwrites a newer value.
//! - A background task marks a device `stale` once it missed several reporting intervals; it
//!   sleeps until the next device is due, and is woken when the registry changes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use jumeau_model::context::Context;
use jumeau_model::ops::AttrMap;
use jumeau_model::{Attribute, AttributeValue, Entity, NgsiError};
use jumeau_store::ingest::{
    Counters, DeadLetterFilter, DeviceRecord, IngestCommit, NewDeadLetter, NewJournalEntry,
};
use jumeau_store::{StoreError, WriteOp};
use jumeau_twin::Twin;
use serde_json::{json, Map, Value};
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio::task::JoinHandle;

use crate::dedup::Dedup;
use crate::mapping::{self, MappedValue, Mapping};
use crate::message::{self, Inbound, ReadMessage, Transport, Unreadable};
use crate::mqtt::MqttSource;
use crate::uplink::{NetworkServer, Uplink};
use crate::{decoders, registry};

/// The JSON-LD context the device entities' attribute names are expanded with (Smart Data
/// Models `Device`, bundled with Jumeau).
pub const DEVICE_CONTEXT: &str =
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Device/master/context.jsonld";

/// The `deviceState` of a device that reports as expected.
pub const STATE_OK: &str = "ok";
/// The `deviceState` of a device that missed several reporting intervals.
pub const STATE_STALE: &str = "stale";

/// Settings of the ingestion.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Two receptions of the same (DevEUI, FCnt) this close in time are one frame.
    pub dedup_window: Duration,
    /// A device is stale after this many reporting intervals without a message.
    pub stale_after_intervals: u32,
    /// Most messages applied in one batch.
    pub batch_max: usize,
    /// Processed journal entries are deleted after this long.
    pub journal_retention: Duration,
    /// MQTT brokers to subscribe to.
    pub mqtt: Vec<MqttSource>,
    /// Most messages acknowledged and not yet applied; beyond, senders wait (backpressure),
    /// which bounds the time from receipt to queryable and the memory of the queue.
    pub max_in_flight: usize,
    /// Run the background work: apply the journal left by a previous run, check for stale
    /// devices, subscribe to MQTT. Off for a command-line tool working beside a running
    /// server (replaying dead letters), which must leave that work to the server.
    pub background: bool,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            dedup_window: Duration::from_secs(300),
            stale_after_intervals: 3,
            batch_max: 5000,
            journal_retention: Duration::from_secs(7 * 24 * 3600),
            mqtt: Vec::new(),
            background: true,
            max_in_flight: 7_500,
        }
    }
}

/// One message as received, before journaling.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// Who sent it.
    pub source: NetworkServer,
    /// How.
    pub transport: Transport,
    /// The ChirpStack event type, the MQTT topic, or empty.
    pub kind: String,
    /// The body.
    pub body: Vec<u8>,
    /// When it was received.
    pub received_at: DateTime<Utc>,
}

/// What became of a received body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Receipt {
    /// Messages journaled, to be applied.
    pub journaled: usize,
    /// Messages that could not be read, dead-lettered: (position in the batch, DevEUI, reason).
    pub rejected: Vec<(usize, Option<String>, String)>,
}

/// What a replay of dead letters did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Dead letters tried.
    pub replayed: usize,
    /// Now applied (deleted from the dead letters).
    pub applied: usize,
    /// Failed again (kept, with the new reason).
    pub failed: usize,
}

/// Why the ingestion could not take a message.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The store could not journal it: the sender should retry.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The service is stopping.
    #[error("the ingestion is stopping; retry in a few seconds")]
    Stopping,
    /// A device registration is invalid.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
}

impl From<IngestError> for NgsiError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Store(e) => e.into(),
            IngestError::Stopping => {
                NgsiError::new(jumeau_model::ErrorKind::ServiceUnavailable, e.to_string())
            }
            IngestError::Invalid(p) => NgsiError::bad_data(p.join("; ")),
        }
    }
}

/// A registered device with its names expanded.
#[derive(Debug)]
struct Registered {
    record: DeviceRecord,
    entity_type: String,
    mappings: Vec<Mapping>,
    device_entity: String,
}

/// What the processor knows of a device between messages.
#[derive(Debug, Clone, Default)]
struct DevState {
    last_time: Option<DateTime<Utc>>,
    last_f_cnt: Option<u32>,
    stale: bool,
}

/// Expanded names of the device entity's attributes.
#[derive(Debug, Clone)]
struct DeviceNames {
    device_type: String,
    battery: String,
    rssi: String,
    snr: String,
    gateway: String,
    last_reported: String,
    state: String,
    asset: String,
    location: String,
    f_cnt: String,
}

impl DeviceNames {
    fn new(ctx: &Context) -> Self {
        Self {
            device_type: ctx.expand("Device"),
            battery: ctx.expand("batteryLevel"),
            rssi: ctx.expand("rssi"),
            snr: ctx.expand("snr"),
            gateway: ctx.expand("gateway"),
            last_reported: ctx.expand("dateLastValueReported"),
            state: ctx.expand("deviceState"),
            asset: ctx.expand("controlledAsset"),
            location: ctx.expand("location"),
            f_cnt: ctx.expand("frameCounter"),
        }
    }
}

/// One message on its way through the processor.
struct Item {
    tenant: String,
    message: NewJournalEntry,
    parsed: Result<Inbound, Unreadable>,
    replay_of: Option<i64>,
}

/// A unit of work for the processor: the messages of one journal entry, or replayed dead
/// letters.
struct Work {
    seqs: Vec<i64>,
    items: Vec<Item>,
    done: Option<oneshot::Sender<ReplayReport>>,
    /// Room taken in the bounded queue of messages being applied; freed with the work.
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// How a message ended.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Accepted,
    Duplicated,
    Rejected(String),
}

struct Inner {
    twin: Twin,
    config: IngestConfig,
    tx: mpsc::Sender<Work>,
    registry: RwLock<HashMap<(String, String), Arc<Registered>>>,
    states: Mutex<HashMap<(String, String), DevState>>,
    names: DeviceNames,
    stale_wake: Notify,
    shutdown: watch::Sender<bool>,
    in_flight: AtomicU64,
    room: Arc<tokio::sync::Semaphore>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// The ingestion service; cheap to clone (shared state).
#[derive(Clone)]
pub struct IngestService {
    inner: Arc<Inner>,
}

/// The locks of the service guard plain maps: a panic elsewhere cannot leave them half
/// written, so a poisoned lock is used as is.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl IngestService {
    /// Starts the service over a twin: loads the device registry, applies the journal
    /// entries a previous run left unprocessed, then processes new messages, checks for
    /// stale devices and subscribes to the configured MQTT brokers. Must be called inside
    /// a Tokio runtime.
    pub fn start(twin: Twin, config: IngestConfig) -> Self {
        let (tx, rx) = mpsc::channel::<Work>(1024);
        let config_room = config.max_in_flight.max(1);
        let (shutdown, _) = watch::channel(false);
        let ctx = jumeau_model::context::bundled_document(DEVICE_CONTEXT)
            .and_then(|doc| Context::build(&doc, &|_| None).ok())
            .map_or_else(Context::core, Arc::new);
        let inner = Arc::new(Inner {
            twin,
            config,
            tx,
            registry: RwLock::new(HashMap::new()),
            states: Mutex::new(HashMap::new()),
            names: DeviceNames::new(&ctx),
            stale_wake: Notify::new(),
            shutdown,
            in_flight: AtomicU64::new(0),
            room: Arc::new(tokio::sync::Semaphore::new(config_room)),
            tasks: Mutex::new(Vec::new()),
        });
        let service = Self { inner };
        let (ready_tx, ready_rx) = watch::channel(false);
        let processor = {
            let s = service.clone();
            tokio::spawn(async move { s.run_processor(rx, ready_tx).await })
        };
        let stale = {
            let s = service.clone();
            let ready = ready_rx.clone();
            tokio::spawn(async move { s.run_stale_check(ready).await })
        };
        let mut tasks = vec![processor, stale];
        let mqtt = if service.inner.config.background {
            service.inner.config.mqtt.clone()
        } else {
            Vec::new()
        };
        for source in mqtt {
            let s = service.clone();
            let stop = service.inner.shutdown.subscribe();
            tasks.push(tokio::spawn(async move {
                crate::mqtt::run(s, source, stop).await
            }));
        }
        lock(&service.inner.tasks).extend(tasks);
        service
    }

    /// The twin the service writes to.
    pub fn twin(&self) -> &Twin {
        &self.inner.twin
    }

    /// Messages journaled and not yet applied.
    pub fn in_flight(&self) -> u64 {
        self.inner.in_flight.load(Ordering::Relaxed)
    }

    /// Stops every task of the service at once, as a crash would (journaled messages stay
    /// in the journal and are applied by the next start).
    pub fn abort(&self) {
        let _ = self.inner.shutdown.send(true);
        for t in lock(&self.inner.tasks).drain(..) {
            t.abort();
        }
    }

    /// Reads, journals and acknowledges messages of one tenant: returns once the journal
    /// entries and dead letters are durable, and hands the messages to the processor.
    ///
    /// # Errors
    ///
    /// When the store cannot journal (the sender should retry), or the service is
    /// stopping.
    pub async fn receive(
        &self,
        tenant: &str,
        batch: Vec<Incoming>,
    ) -> Result<Vec<Receipt>, IngestError> {
        if *self.inner.shutdown.borrow() {
            return Err(IngestError::Stopping);
        }
        let mut entries = Vec::new();
        let mut dead = Vec::new();
        let mut counters: HashMap<(String, String), Counters> = HashMap::new();
        let mut receipts = Vec::with_capacity(batch.len());
        let mut works: Vec<Vec<Item>> = Vec::new();
        for incoming in batch {
            let read = message::read_body(
                incoming.source,
                incoming.transport,
                &incoming.kind,
                &incoming.body,
            );
            let all_readable = read.iter().all(|r| r.result.is_ok());
            let mut receipt = Receipt::default();
            let mut items = Vec::new();
            let mut readable_raw: Vec<Vec<u8>> = Vec::new();
            for (i, ReadMessage { raw, result }) in read.into_iter().enumerate() {
                let dev = result
                    .as_ref()
                    .map(|m| m.dev_eui().map(str::to_string))
                    .unwrap_or_else(|u| u.dev_eui.clone());
                let c = count(&mut counters, tenant, incoming.source, dev.as_deref());
                c.received += 1;
                let message = NewJournalEntry {
                    source: incoming.source.as_str().to_string(),
                    transport: incoming.transport.as_str().to_string(),
                    kind: incoming.kind.clone(),
                    body: Vec::new(),
                    received_at: incoming.received_at,
                };
                match result {
                    Ok(parsed) => {
                        receipt.journaled += 1;
                        if !all_readable {
                            readable_raw.push(raw.clone());
                        }
                        items.push(Item {
                            tenant: tenant.to_string(),
                            message: NewJournalEntry {
                                body: raw,
                                ..message
                            },
                            parsed: Ok(parsed),
                            replay_of: None,
                        });
                    }
                    Err(u) => {
                        c.rejected += 1;
                        receipt
                            .rejected
                            .push((i, u.dev_eui.clone(), u.reason.clone()));
                        dead.push(NewDeadLetter {
                            tenant: tenant.to_string(),
                            message: NewJournalEntry {
                                body: raw,
                                ..message
                            },
                            dev_eui: u.dev_eui,
                            reason: u.reason,
                            replaces: None,
                        });
                    }
                }
            }
            if !items.is_empty() {
                let body = if all_readable {
                    incoming.body
                } else {
                    let parts: Vec<&[u8]> = readable_raw.iter().map(Vec::as_slice).collect();
                    message::generic_batch(&parts)
                };
                entries.push(NewJournalEntry {
                    source: incoming.source.as_str().to_string(),
                    transport: incoming.transport.as_str().to_string(),
                    kind: incoming.kind,
                    body,
                    received_at: incoming.received_at,
                });
                works.push(items);
            }
            receipts.push(receipt);
        }
        // Publishes received together go to the journal as one entry (a row, and later one
        // processed mark, for the whole batch); each item keeps its own topic and payload.
        let mqtt = Transport::Mqtt.as_str();
        if entries.len() > 1 && entries.iter().all(|e| e.transport == mqtt) {
            let parts: Vec<(&str, &[u8])> = entries
                .iter()
                .map(|e| (e.kind.as_str(), e.body.as_slice()))
                .collect();
            let batch = NewJournalEntry {
                source: entries[0].source.clone(),
                transport: mqtt.to_string(),
                kind: crate::mqtt::BATCH_KIND.to_string(),
                body: crate::mqtt::encode_batch(&parts),
                received_at: entries[0].received_at,
            };
            entries = vec![batch];
        }
        // Backpressure: wait for room among the messages being applied, so that what is
        // acknowledged is applied within a bounded time (and memory) even under overload.
        let wanted: usize = works.iter().map(Vec::len).sum();
        let limit = self.inner.config.max_in_flight.max(1);
        let mut permit = if wanted > 0 {
            let n = u32::try_from(wanted.min(limit)).unwrap_or(u32::MAX);
            Some(
                self.inner
                    .room
                    .clone()
                    .acquire_many_owned(n)
                    .await
                    .map_err(|_| IngestError::Stopping)?,
            )
        } else {
            None
        };
        let store = &self.inner.twin.store;
        let counters: Vec<Counters> = counters.into_values().collect();
        let seqs = if dead.is_empty() {
            store.journal_append(tenant, entries, counters).await?
        } else {
            // Dead letters and counters in one commit, then the journal: a crash between
            // the two loses nothing, as nothing is acknowledged yet.
            store
                .ingest_commit(IngestCommit {
                    dead_letters: dead,
                    counters,
                    ..Default::default()
                })
                .await?;
            store.journal_append(tenant, entries, Vec::new()).await?
        };
        // One unit of work for the whole call (an MQTT batch holds many bodies), so that the
        // processor takes large batches whatever the transport.
        let items: Vec<Item> = works.into_iter().flatten().collect();
        if !items.is_empty() {
            self.inner
                .in_flight
                .fetch_add(items.len() as u64, Ordering::Relaxed);
            let work = Work {
                seqs,
                items,
                done: None,
                _permit: permit.take(),
            };
            // Journaled: if the processor is gone (stopping), the next start applies it.
            if self.inner.tx.send(work).await.is_err() {
                return Err(IngestError::Stopping);
            }
        }
        Ok(receipts)
    }

    /// Applies dead letters of a tenant again (after a mapping was fixed or a device
    /// registered); those applied are deleted, the others keep their new reason.
    ///
    /// # Errors
    ///
    /// When the store cannot be read or the service is stopping.
    pub async fn replay(
        &self,
        tenant: &str,
        filter: &DeadLetterFilter,
    ) -> Result<ReplayReport, IngestError> {
        let letters = self.inner.twin.store.dead_letters(tenant, filter).await?;
        if letters.is_empty() {
            return Ok(ReplayReport::default());
        }
        let mut items = Vec::with_capacity(letters.len());
        for d in letters {
            let source =
                message::source_from_str(&d.message.source).unwrap_or(NetworkServer::Generic);
            let transport = if d.message.transport == Transport::Mqtt.as_str() {
                Transport::Mqtt
            } else {
                Transport::Http
            };
            let mut read = message::read_body(source, transport, &d.message.kind, &d.message.body);
            let parsed = if read.len() == 1 {
                read.remove(0).result
            } else {
                Err(Unreadable {
                    dev_eui: d.dev_eui.clone(),
                    reason: "a dead letter holds one message, this one holds several".into(),
                })
            };
            items.push(Item {
                tenant: tenant.to_string(),
                message: d.message,
                parsed,
                replay_of: Some(d.id),
            });
        }
        let (tx, rx) = oneshot::channel();
        let n = items.len() as u64;
        self.inner.in_flight.fetch_add(n, Ordering::Relaxed);
        let work = Work {
            seqs: Vec::new(),
            items,
            done: Some(tx),
            _permit: None,
        };
        self.inner
            .tx
            .send(work)
            .await
            .map_err(|_| IngestError::Stopping)?;
        rx.await.map_err(|_| IngestError::Stopping)
    }

    /// Registers (or replaces) a device, checked and with its names expanded; true if new.
    ///
    /// # Errors
    ///
    /// [`IngestError::Invalid`] with every problem of the registration, or a store error.
    pub async fn put_device(
        &self,
        tenant: &str,
        device: DeviceRecord,
    ) -> Result<bool, IngestError> {
        let mut device = registry::validate(device).map_err(IngestError::Invalid)?;
        let now = Utc::now();
        let store = &self.inner.twin.store;
        let previous = store.device(tenant, &device.dev_eui).await?;
        device.created_at = previous.and_then(|p| p.created_at).or(Some(now));
        device.modified_at = Some(now);
        let compiled = self
            .compile(device.clone())
            .await
            .map_err(|e| IngestError::Invalid(vec![e]))?;
        let created = store.put_device(tenant, device).await?;
        self.remember(tenant, compiled);
        Ok(created)
    }

    /// Removes a device registration; false if there was none.
    ///
    /// # Errors
    ///
    /// A store error.
    pub async fn delete_device(&self, tenant: &str, dev_eui: &str) -> Result<bool, IngestError> {
        let dev_eui =
            registry::normalize_dev_eui(dev_eui).map_err(|e| IngestError::Invalid(vec![e]))?;
        let deleted = self
            .inner
            .twin
            .store
            .delete_device(tenant, &dev_eui)
            .await?;
        if let Ok(mut r) = self.inner.registry.write() {
            r.remove(&(tenant.to_string(), dev_eui));
        }
        self.inner.stale_wake.notify_one();
        Ok(deleted)
    }

    fn remember(&self, tenant: &str, device: Registered) {
        let key = (tenant.to_string(), device.record.dev_eui.clone());
        if let Ok(mut r) = self.inner.registry.write() {
            r.insert(key, Arc::new(device));
        }
        self.inner.stale_wake.notify_one();
    }

    /// Expands the names of a registration with its context.
    async fn compile(&self, record: DeviceRecord) -> Result<Registered, String> {
        let ctx_value = record.context.clone().map(Value::String);
        let ctx = self
            .inner
            .twin
            .contexts
            .resolve(ctx_value.as_ref())
            .await
            .map_err(|e| format!("context of device {}: {}", record.dev_eui, e.detail))?;
        let mappings = record
            .mappings
            .iter()
            .map(|m| Mapping {
                field: m.field.clone(),
                attribute: ctx.expand(&m.attribute),
                unit_code: m.unit_code.clone(),
                scale: m.scale,
                min: m.min,
                max: m.max,
                on_device: m.on_device,
            })
            .collect();
        Ok(Registered {
            entity_type: ctx.expand(&record.entity_type),
            device_entity: format!("urn:ngsi-ld:Device:{}", record.dev_eui),
            mappings,
            record,
        })
    }

    /// Loads the registry from the store.
    async fn load_registry(&self) -> Result<(), StoreError> {
        for (tenant, record) in self.inner.twin.store.all_devices().await? {
            match self.compile(record).await {
                Ok(d) => self.remember(&tenant, d),
                Err(e) => tracing::warn!("device registration skipped: {e}"),
            }
        }
        Ok(())
    }

    fn registered(&self, tenant: &str, dev_eui: &str) -> Option<Arc<Registered>> {
        self.inner
            .registry
            .read()
            .ok()?
            .get(&(tenant.to_string(), dev_eui.to_string()))
            .cloned()
    }

    fn stopping(&self) -> bool {
        *self.inner.shutdown.borrow()
    }

    /// Waits `d`, or less if the service stops.
    async fn pause(&self, d: Duration) {
        let mut stop = self.inner.shutdown.subscribe();
        let _ = tokio::time::timeout(d, stop.wait_for(|s| *s)).await;
    }

    async fn run_processor(self, mut rx: mpsc::Receiver<Work>, ready: watch::Sender<bool>) {
        let mut dedup = Dedup::new(
            chrono::Duration::from_std(self.inner.config.dedup_window)
                .unwrap_or_else(|_| chrono::Duration::minutes(5)),
        );
        while let Err(e) = self.load_registry().await {
            tracing::error!("cannot load the device registry (retrying): {e}");
            self.pause(Duration::from_secs(2)).await;
            if self.stopping() {
                return;
            }
        }
        let recovered = if self.inner.config.background {
            self.recover(&mut dedup).await
        } else {
            0
        };
        let _ = ready.send(true);
        let mut last_prune = std::time::Instant::now();
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            let mut size: usize = batch[0].items.len();
            while size < self.inner.config.batch_max {
                match rx.try_recv() {
                    Ok(w) => {
                        size += w.items.len();
                        batch.push(w);
                    }
                    Err(_) => break,
                }
            }
            // Entries the recovery already applied come again through the channel.
            for w in &mut batch {
                if w.seqs.iter().max().is_some_and(|s| *s <= recovered) {
                    self.inner
                        .in_flight
                        .fetch_sub(w.items.len() as u64, Ordering::Relaxed);
                    w.items.clear();
                }
            }
            self.process(batch, &mut dedup).await;
            if self.inner.config.background && last_prune.elapsed() > Duration::from_secs(3600) {
                last_prune = std::time::Instant::now();
                self.prune_journal().await;
            }
        }
    }

    async fn prune_journal(&self) {
        let keep = chrono::Duration::from_std(self.inner.config.journal_retention)
            .unwrap_or_else(|_| chrono::Duration::days(7));
        match self.inner.twin.store.journal_prune(Utc::now() - keep).await {
            Ok(n) if n > 0 => tracing::info!("pruned {n} processed journal entries"),
            Ok(_) => {}
            Err(e) => tracing::warn!("cannot prune the ingestion journal: {e}"),
        }
    }

    /// Applies the journal entries left unprocessed by a previous run; returns the last
    /// sequence number applied.
    async fn recover(&self, dedup: &mut Dedup) -> i64 {
        let mut after = 0;
        let mut total = 0usize;
        loop {
            let page = match self.inner.twin.store.journal_pending(after, 1000).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!("cannot read the ingestion journal (retrying): {e}");
                    self.pause(Duration::from_secs(2)).await;
                    if self.stopping() {
                        return after;
                    }
                    continue;
                }
            };
            let Some(last) = page.last().map(|e| e.seq) else {
                break;
            };
            let mut batch = Vec::with_capacity(page.len());
            for e in page {
                let source =
                    message::source_from_str(&e.entry.source).unwrap_or(NetworkServer::Generic);
                let transport = if e.entry.transport == Transport::Mqtt.as_str() {
                    Transport::Mqtt
                } else {
                    Transport::Http
                };
                let items =
                    if transport == Transport::Mqtt && e.entry.kind == crate::mqtt::BATCH_KIND {
                        batch_items(&e.tenant, &e.entry)
                    } else {
                        message::read_body(source, transport, &e.entry.kind, &e.entry.body)
                            .into_iter()
                            .map(|r| Item {
                                tenant: e.tenant.clone(),
                                message: NewJournalEntry {
                                    body: r.raw,
                                    ..e.entry.clone()
                                },
                                parsed: r.result,
                                replay_of: None,
                            })
                            .collect::<Vec<_>>()
                    };
                total += items.len();
                self.inner
                    .in_flight
                    .fetch_add(items.len() as u64, Ordering::Relaxed);
                batch.push(Work {
                    seqs: vec![e.seq],
                    items,
                    done: None,
                    _permit: None,
                });
            }
            self.process(batch, dedup).await;
            after = last;
        }
        if total > 0 {
            tracing::info!("applied {total} journaled messages left by the previous run");
        }
        after
    }

    /// Applies one batch of work.
    async fn process(&self, batch: Vec<Work>, dedup: &mut Dedup) {
        let items: Vec<(usize, &Item)> = batch
            .iter()
            .enumerate()
            .flat_map(|(w, work)| work.items.iter().map(move |i| (w, i)))
            .collect();
        self.look_up_unknown(&items).await;
        let mut outcomes: Vec<Option<Outcome>> = vec![None; items.len()];
        let mut plans: Vec<(usize, Plan)> = Vec::new();
        for (idx, (_, item)) in items.iter().enumerate() {
            match self.plan(item, dedup) {
                Ok(Some(plan)) => plans.push((idx, plan)),
                Ok(None) => outcomes[idx] = Some(Outcome::Accepted),
                Err(o) => outcomes[idx] = Some(o),
            }
        }
        self.seed_states(&plans).await;
        let mut writes: HashMap<String, TenantWrites> = HashMap::new();
        let mut late: Vec<(usize, String, HistoryWrite)> = Vec::new();
        {
            let mut states = lock(&self.inner.states);
            for (idx, plan) in &plans {
                let key = (plan.tenant.clone(), plan.device.record.dev_eui.clone());
                let state = states.entry(key).or_default();
                let is_late = state.last_time.is_some_and(|t| plan.time < t);
                if let (Some(prev), Some(now)) = (state.last_f_cnt, plan.f_cnt) {
                    if now < prev && !is_late {
                        tracing::debug!(
                            "device {} restarted its frame counter ({prev} -> {now})",
                            plan.device.record.dev_eui
                        );
                    }
                }
                if is_late {
                    for write in plan.history(&self.inner.names) {
                        late.push((*idx, plan.tenant.clone(), write));
                    }
                    continue;
                }
                state.last_time = Some(plan.time);
                if plan.f_cnt.is_some() {
                    state.last_f_cnt = plan.f_cnt;
                }
                state.stale = false;
                let w = writes.entry(plan.tenant.clone()).or_default();
                if let Some(op) = plan.entity_op() {
                    w.ops.push(op);
                    w.owners.push(vec![*idx]);
                }
                w.merge_device(*idx, plan, &self.inner.names);
            }
        }
        for (tenant, w) in writes {
            let (ops, owners) = w.finish();
            if ops.is_empty() {
                continue;
            }
            let results = loop {
                match self.inner.twin.write(&tenant, ops.clone()).await {
                    Ok(r) => break Some(r),
                    Err(StoreError::Unavailable(e)) if !self.stopping() => {
                        tracing::warn!("the twin cannot take sensor readings now (retrying): {e}");
                        self.pause(Duration::from_secs(1)).await;
                    }
                    Err(e) => {
                        for owner in owners.iter().flatten() {
                            outcomes[*owner] = Some(Outcome::Rejected(format!(
                                "the twin refused the readings: {e}"
                            )));
                        }
                        break None;
                    }
                }
            };
            for (result, owner) in results.unwrap_or_default().into_iter().zip(&owners) {
                if let Err(e) = result {
                    for idx in owner {
                        outcomes[*idx] = Some(Outcome::Rejected(format!(
                            "the twin refused the update: {}",
                            e.detail
                        )));
                    }
                }
            }
        }
        // Late readings: one append per entity, all at once, so that they share a commit.
        let mut grouped: HashMap<(String, String), LateGroup> = HashMap::new();
        for (idx, tenant, (entity, types, attrs)) in late {
            let g = grouped
                .entry((tenant, entity))
                .or_insert_with(|| (types, Vec::new(), Vec::new()));
            g.1.extend(attrs);
            g.2.push(idx);
        }
        let mut appends = tokio::task::JoinSet::new();
        for ((tenant, entity), (types, attrs, owners)) in grouped {
            let store = self.inner.twin.store.clone();
            appends.spawn(async move {
                let r = store.append_history(&tenant, &entity, &types, attrs).await;
                (entity, owners, r)
            });
        }
        while let Some(joined) = appends.join_next().await {
            let Ok((entity, owners, result)) = joined else {
                continue;
            };
            if let Err(e) = result {
                for idx in owners {
                    outcomes[idx] = Some(Outcome::Rejected(format!(
                        "the reading is older than the current value of {entity} and could not be added \
                         to its history ({e}); replay it once the history store is available"
                    )));
                }
            }
        }
        log_latency(&items);
        drop(items);
        self.commit(batch, outcomes).await;
    }

    /// Records the outcomes of a batch: marks its journal entries processed, keeps dead
    /// letters, adds counters; then answers replays.
    async fn commit(&self, batch: Vec<Work>, outcomes: Vec<Option<Outcome>>) {
        let items: Vec<(usize, &Item)> = batch
            .iter()
            .enumerate()
            .flat_map(|(w, work)| work.items.iter().map(move |i| (w, i)))
            .collect();
        let mut commit = IngestCommit {
            processed: batch.iter().flat_map(|w| w.seqs.iter().copied()).collect(),
            ..Default::default()
        };
        let mut counters: HashMap<(String, String), Counters> = HashMap::new();
        let mut reports: Vec<ReplayReport> = vec![ReplayReport::default(); batch.len()];
        for ((w, item), outcome) in items.iter().zip(outcomes) {
            let outcome = outcome.unwrap_or(Outcome::Accepted);
            let source =
                message::source_from_str(&item.message.source).unwrap_or(NetworkServer::Generic);
            let dev = match &item.parsed {
                Ok(m) => m.dev_eui().map(str::to_string),
                Err(u) => u.dev_eui.clone(),
            };
            let c = count(&mut counters, &item.tenant, source, dev.as_deref());
            if item.replay_of.is_some() {
                reports[*w].replayed += 1;
            }
            match outcome {
                Outcome::Accepted | Outcome::Duplicated if item.replay_of.is_some() => {
                    c.accepted += 1;
                    reports[*w].applied += 1;
                    if let Some(id) = item.replay_of {
                        commit.resolved.push((item.tenant.clone(), id));
                    }
                }
                Outcome::Accepted => c.accepted += 1,
                Outcome::Duplicated => c.duplicated += 1,
                Outcome::Rejected(reason) => {
                    c.rejected += 1;
                    reports[*w].failed += 1;
                    commit.dead_letters.push(NewDeadLetter {
                        tenant: item.tenant.clone(),
                        message: item.message.clone(),
                        dev_eui: dev,
                        reason,
                        replaces: item.replay_of,
                    });
                }
            }
        }
        commit.counters = counters.into_values().collect();
        let n = items.len() as u64;
        drop(items);
        loop {
            match self.inner.twin.store.ingest_commit(commit.clone()).await {
                Ok(()) => break,
                Err(e) if !self.stopping() => {
                    tracing::warn!("cannot record processed sensor messages (retrying): {e}");
                    self.pause(Duration::from_secs(1)).await;
                }
                Err(e) => {
                    tracing::warn!("stopping with processed messages unrecorded (they are applied again at start): {e}");
                    break;
                }
            }
        }
        self.inner.in_flight.fetch_sub(n, Ordering::Relaxed);
        for (work, report) in batch.into_iter().zip(reports) {
            if let Some(done) = work.done {
                let _ = done.send(report);
            }
        }
    }

    /// Reads from the store the registrations of devices of a batch that the registry does
    /// not know yet (registered by another process, such as `jumeau ingest import-devices`).
    async fn look_up_unknown(&self, items: &[(usize, &Item)]) {
        let mut unknown: Vec<(String, String)> = Vec::new();
        for (_, item) in items {
            let Some(dev) = item.parsed.as_ref().ok().and_then(Inbound::dev_eui) else {
                continue;
            };
            let key = (item.tenant.clone(), dev.to_string());
            if !unknown.contains(&key) && self.registered(&key.0, &key.1).is_none() {
                unknown.push(key);
            }
        }
        for (tenant, dev_eui) in unknown {
            if let Ok(Some(record)) = self.inner.twin.store.device(&tenant, &dev_eui).await {
                match self.compile(record).await {
                    Ok(d) => self.remember(&tenant, d),
                    Err(e) => tracing::warn!("device registration skipped: {e}"),
                }
            }
        }
    }

    /// Decides what a message does, without writing: `Ok(None)` for a message with nothing
    /// to write, `Err` for a duplicate or a rejection.
    fn plan(&self, item: &Item, dedup: &mut Dedup) -> Result<Option<Plan>, Outcome> {
        let parsed = item
            .parsed
            .as_ref()
            .map_err(|u| Outcome::Rejected(u.reason.clone()))?;
        let dev_eui = match parsed {
            Inbound::Informational { .. } => return Ok(None),
            other => other.dev_eui().unwrap_or_default(),
        };
        if let Inbound::Uplink(up) = parsed {
            if item.replay_of.is_none() && dedup.is_copy(&item.tenant, up.dedup_key, up.received_at)
            {
                return Err(Outcome::Duplicated);
            }
        }
        let device = self.registered(&item.tenant, dev_eui).ok_or_else(|| {
            Outcome::Rejected(format!(
                "unknown device {dev_eui} in tenant '{}': register it (POST /ingest/devices or \
                 'jumeau ingest import-devices'), then replay",
                item.tenant
            ))
        })?;
        let time_or = |t: &Option<DateTime<Utc>>| t.unwrap_or(item.message.received_at);
        let plan = match parsed {
            Inbound::Uplink(up) => {
                if up.simulated {
                    return Err(Outcome::Rejected(
                        "simulated uplink (sent from The Things Stack console): not a reading"
                            .into(),
                    ));
                }
                let values = values_of(up, &device).map_err(Outcome::Rejected)?;
                let mapped = mapping::apply(&values, &device.mappings, dev_eui)
                    .map_err(Outcome::Rejected)?;
                Plan {
                    tenant: item.tenant.clone(),
                    device,
                    time: up.received_at,
                    f_cnt: Some(up.f_cnt),
                    values: mapped,
                    link: Some(Link {
                        rssi: up.best_rssi(),
                        snr: up.best_snr(),
                        gateway: up.rx.first().map(|r| r.gateway_id.clone()),
                    }),
                    battery: None,
                    location: None,
                }
            }
            Inbound::Status {
                time,
                battery_percent,
                ..
            } => Plan {
                tenant: item.tenant.clone(),
                device,
                time: time_or(time),
                f_cnt: None,
                values: Vec::new(),
                link: None,
                battery: battery_percent.map(|p| p / 100.0),
                location: None,
            },
            Inbound::Location { time, location, .. } => Plan {
                tenant: item.tenant.clone(),
                device,
                time: time_or(time),
                f_cnt: None,
                values: Vec::new(),
                link: None,
                battery: None,
                location: jumeau_model::geo::Geometry::point(location.longitude, location.latitude)
                    .ok(),
            },
            Inbound::Informational { .. } => return Ok(None),
        };
        Ok(Some(plan))
    }

    /// Reads, once per device and run, the last report time and state of the devices a
    /// batch is about, from their device entities.
    async fn seed_states(&self, plans: &[(usize, Plan)]) {
        let mut missing: Vec<(String, String, String)> = Vec::new();
        {
            let states = lock(&self.inner.states);
            for (_, p) in plans {
                let key = (p.tenant.clone(), p.device.record.dev_eui.clone());
                if !states.contains_key(&key)
                    && !missing.iter().any(|(t, d, _)| *t == key.0 && *d == key.1)
                {
                    missing.push((key.0, key.1, p.device.device_entity.clone()));
                }
            }
        }
        for (tenant, dev_eui, entity) in missing {
            let state = self.read_state(&tenant, &entity).await;
            lock(&self.inner.states).insert((tenant, dev_eui), state);
        }
    }

    async fn read_state(&self, tenant: &str, device_entity: &str) -> DevState {
        let names = &self.inner.names;
        let Ok(Some(e)) = self.inner.twin.store.get(tenant, device_entity).await else {
            return DevState::default();
        };
        let prop = |name: &str| match e.attr(name).map(|a| &a.value) {
            Some(AttributeValue::Property(v)) => Some(v.clone()),
            _ => None,
        };
        let last_time = prop(&names.last_reported).and_then(|v| {
            let s = v.get("@value").unwrap_or(&v).as_str()?.to_string();
            jumeau_model::time::parse_datetime(&s).ok()
        });
        DevState {
            last_time,
            last_f_cnt: prop(&names.f_cnt)
                .and_then(|v| v.as_u64())
                .and_then(|v| u32::try_from(v).ok()),
            stale: prop(&names.state).is_some_and(|v| v == STATE_STALE),
        }
    }

    async fn run_stale_check(self, mut ready: watch::Receiver<bool>) {
        if ready.wait_for(|r| *r).await.is_err() || !self.inner.config.background {
            return;
        }
        let started = Utc::now();
        let mut stop = self.inner.shutdown.subscribe();
        loop {
            let next = self.check_stale(started).await;
            let wait = (next - Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .clamp(Duration::from_millis(50), Duration::from_secs(3600));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.inner.stale_wake.notified() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }

    /// Marks stale the devices that missed their intervals; returns when the next one is
    /// due.
    async fn check_stale(&self, started: DateTime<Utc>) -> DateTime<Utc> {
        let now = Utc::now();
        let mut next = now + chrono::Duration::hours(1);
        let devices: Vec<(String, Arc<Registered>)> = match self.inner.registry.read() {
            Ok(r) => r
                .iter()
                .filter(|(_, d)| d.record.interval_seconds.is_some())
                .map(|((t, _), d)| (t.clone(), d.clone()))
                .collect(),
            Err(_) => return next,
        };
        let mut due: HashMap<String, Vec<(String, Arc<Registered>)>> = HashMap::new();
        for (tenant, device) in devices {
            let key = (tenant.clone(), device.record.dev_eui.clone());
            let known = lock(&self.inner.states).get(&key).cloned();
            let state = match known {
                Some(s) => s,
                None => {
                    let s = self.read_state(&tenant, &device.device_entity).await;
                    lock(&self.inner.states)
                        .entry(key.clone())
                        .or_insert(s)
                        .clone()
                }
            };
            if state.stale {
                continue;
            }
            let interval = device.record.interval_seconds.unwrap_or(0);
            let allowed = chrono::Duration::seconds(
                i64::try_from(
                    interval.saturating_mul(u64::from(self.inner.config.stale_after_intervals)),
                )
                .unwrap_or(i64::MAX / 1000),
            );
            let deadline = state.last_time.unwrap_or(started) + allowed;
            if deadline <= now {
                due.entry(tenant).or_default().push((key.1, device));
            } else if deadline < next {
                next = deadline;
            }
        }
        let names = &self.inner.names;
        for (tenant, list) in due {
            let ops: Vec<WriteOp> = list
                .iter()
                .map(|(_, d)| {
                    let mut e = Entity::new(d.device_entity.clone(), names.device_type.clone());
                    e.attrs.insert(
                        names.state.clone(),
                        vec![Attribute::new(AttributeValue::Property(json!(STATE_STALE)))],
                    );
                    WriteOp::Upsert {
                        entity: e,
                        replace: false,
                    }
                })
                .collect();
            match self.inner.twin.write(&tenant, ops).await {
                Ok(_) => {
                    let mut states = lock(&self.inner.states);
                    for (dev_eui, d) in &list {
                        tracing::info!("device {dev_eui} ({}) is stale", d.record.entity_id);
                        if let Some(s) = states.get_mut(&(tenant.clone(), dev_eui.clone())) {
                            s.stale = true;
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(
                        "cannot mark stale devices of tenant '{tenant}' (retrying): {e}"
                    );
                    next = now + chrono::Duration::seconds(5);
                }
            }
        }
        next
    }
}

/// Target of the log of receipt-to-queryable times (debug level), which the ingestion
/// benchmark reads.
const LATENCY_TARGET: &str = "jumeau_ingest::latency";
/// Resolution of that log, in milliseconds.
const LATENCY_STEP_MS: i64 = 5;

/// Logs, at debug level, how long after their receipt the messages of a batch became
/// queryable (its twin writes committed): `ms*count` pairs, times rounded up to
/// [`LATENCY_STEP_MS`], so that the distribution over every message can be rebuilt.
fn log_latency(items: &[(usize, &Item)]) {
    if !tracing::enabled!(target: LATENCY_TARGET, tracing::Level::DEBUG) || items.is_empty() {
        return;
    }
    let now = Utc::now();
    let mut by_time: std::collections::BTreeMap<i64, usize> = std::collections::BTreeMap::new();
    for (_, item) in items {
        let ms = (now - item.message.received_at).num_milliseconds().max(0);
        *by_time
            .entry((ms + LATENCY_STEP_MS - 1) / LATENCY_STEP_MS * LATENCY_STEP_MS)
            .or_default() += 1;
    }
    let pairs: Vec<String> = by_time.iter().map(|(ms, n)| format!("{ms}*{n}")).collect();
    tracing::debug!(
        target: LATENCY_TARGET,
        "queryable after receipt (ms*messages): {}",
        pairs.join(",")
    );
}

/// The items of a journal entry holding a batch of MQTT publishes, each with its own topic
/// and payload; a damaged entry becomes one unreadable item (a dead letter with its bytes).
fn batch_items(tenant: &str, entry: &NewJournalEntry) -> Vec<Item> {
    let Some(publishes) = crate::mqtt::decode_batch(&entry.body) else {
        return vec![Item {
            tenant: tenant.to_string(),
            message: entry.clone(),
            parsed: Err(message::Unreadable {
                dev_eui: None,
                reason: "the journaled batch of MQTT messages is damaged (its lengths do not \
                         match its size); the bytes are kept here as they were stored"
                    .to_string(),
            }),
            replay_of: None,
        }];
    };
    let mut items = Vec::with_capacity(publishes.len());
    for (topic, payload) in publishes {
        let source = crate::mqtt::source_of(&topic);
        for r in message::read_body(source, Transport::Mqtt, &topic, &payload) {
            items.push(Item {
                tenant: tenant.to_string(),
                message: NewJournalEntry {
                    source: source.as_str().to_string(),
                    transport: entry.transport.clone(),
                    kind: topic.clone(),
                    body: r.raw,
                    received_at: entry.received_at,
                },
                parsed: r.result,
                replay_of: None,
            });
        }
    }
    items
}

fn count<'a>(
    counters: &'a mut HashMap<(String, String), Counters>,
    tenant: &str,
    source: NetworkServer,
    dev_eui: Option<&str>,
) -> &'a mut Counters {
    let dev = dev_eui.unwrap_or_default().to_string();
    counters
        .entry((source.as_str().to_string(), dev.clone()))
        .or_insert_with(|| Counters {
            tenant: tenant.to_string(),
            source: source.as_str().to_string(),
            dev_eui: dev,
            ..Default::default()
        })
}

/// The values of an uplink: the network server's decoded object when it has one, else the
/// native decoder of the device's profile.
fn values_of(up: &Uplink, device: &Registered) -> Result<Map<String, Value>, String> {
    if let Some(d) = up.decoded.as_ref().filter(|d| !d.is_empty()) {
        return Ok(d.clone());
    }
    if up.payload.is_empty() {
        return Ok(Map::new());
    }
    let Some(port) = up.application_port() else {
        return Ok(Map::new());
    };
    let profile = device.record.profile.as_deref().ok_or_else(|| {
        format!(
            "device {} sent a payload the network server did not decode, and has no profile; \
             set its profile to one of {} or configure a codec on the network server, then replay",
            up.dev_eui,
            decoders::profiles().collect::<Vec<_>>().join(", ")
        )
    })?;
    let decoder = decoders::decoder(profile).ok_or_else(|| {
        format!(
            "profile '{profile}' of device {} has no native decoder",
            up.dev_eui
        )
    })?;
    decoder.decode(port, &up.payload).map_err(|e| {
        format!(
            "cannot decode the payload of device {} (fPort {port}, {} bytes, hex {}) as {profile}: {e}",
            up.dev_eui,
            up.payload.len(),
            hex(&up.payload)
        )
    })
}

fn hex(bytes: &[u8]) -> String {
    let shown: String = bytes.iter().take(64).map(|b| format!("{b:02x}")).collect();
    if bytes.len() > 64 {
        format!("{shown}…")
    } else {
        shown
    }
}

/// Radio details of an uplink, for the device entity.
#[derive(Debug, Clone)]
struct Link {
    rssi: Option<i32>,
    snr: Option<f64>,
    gateway: Option<String>,
}

/// Instances to append to the history of one entity: (entity id, types, instances).
type HistoryWrite = (String, Vec<String>, Vec<(String, Attribute)>);

/// The late readings of one entity in a batch: its types, the instances, the messages.
type LateGroup = (Vec<String>, Vec<(String, Attribute)>, Vec<usize>);

/// What one message writes.
struct Plan {
    tenant: String,
    device: Arc<Registered>,
    time: DateTime<Utc>,
    f_cnt: Option<u32>,
    values: Vec<MappedValue>,
    link: Option<Link>,
    battery: Option<f64>,
    location: Option<jumeau_model::geo::Geometry>,
}

fn observed(value: AttributeValue, time: DateTime<Utc>, unit: Option<String>) -> Attribute {
    let mut a = Attribute::new(value);
    a.observed_at = Some(time);
    a.unit_code = unit;
    a
}

fn prop(v: Value, time: DateTime<Utc>) -> Vec<Attribute> {
    vec![observed(AttributeValue::Property(v), time, None)]
}

impl Plan {
    /// The measured attributes of the entity the device measures.
    fn entity_attrs(&self) -> AttrMap {
        self.values
            .iter()
            .filter(|v| !v.on_device)
            .map(|v| {
                (
                    v.attribute.clone(),
                    vec![observed(
                        AttributeValue::Property(v.value.clone()),
                        self.time,
                        v.unit_code.clone(),
                    )],
                )
            })
            .collect()
    }

    /// The attributes of the device entity this message sets.
    fn device_attrs(&self, names: &DeviceNames) -> AttrMap {
        let t = self.time;
        let mut attrs: AttrMap = self
            .values
            .iter()
            .filter(|v| v.on_device)
            .map(|v| {
                (
                    v.attribute.clone(),
                    vec![observed(
                        AttributeValue::Property(v.value.clone()),
                        t,
                        v.unit_code.clone(),
                    )],
                )
            })
            .collect();
        if let Some(link) = &self.link {
            if let Some(r) = link.rssi {
                attrs.insert(names.rssi.clone(), prop(json!(r), t));
            }
            if let Some(s) = link.snr {
                attrs.insert(names.snr.clone(), prop(json!(s), t));
            }
            if let Some(g) = &link.gateway {
                attrs.insert(names.gateway.clone(), prop(json!(g), t));
            }
        }
        if let Some(b) = self.battery {
            attrs.insert(names.battery.clone(), prop(json!(b), t));
        }
        if let Some(g) = &self.location {
            attrs.insert(
                names.location.clone(),
                vec![observed(AttributeValue::GeoProperty(g.clone()), t, None)],
            );
        }
        attrs
    }

    /// The upsert of the measured entity, when the message measured something.
    fn entity_op(&self) -> Option<WriteOp> {
        let attrs = self.entity_attrs();
        if attrs.is_empty() {
            return None;
        }
        let mut e = Entity::new(
            self.device.record.entity_id.clone(),
            self.device.entity_type.clone(),
        );
        e.attrs = attrs;
        Some(WriteOp::Upsert {
            entity: e,
            replace: false,
        })
    }

    /// For a late message: (entity, types, instances) to append to the history.
    fn history(&self, names: &DeviceNames) -> Vec<HistoryWrite> {
        let flat = |m: AttrMap| -> Vec<(String, Attribute)> {
            m.into_iter()
                .flat_map(|(k, v)| v.into_iter().map(move |a| (k.clone(), a)))
                .collect()
        };
        let mut out = Vec::new();
        let entity = flat(self.entity_attrs());
        if !entity.is_empty() {
            out.push((
                self.device.record.entity_id.clone(),
                vec![self.device.entity_type.clone()],
                entity,
            ));
        }
        let device = flat(self.device_attrs(names));
        if !device.is_empty() {
            out.push((
                self.device.device_entity.clone(),
                vec![names.device_type.clone()],
                device,
            ));
        }
        out
    }
}

/// The writes of one tenant in one batch: the measured entities, one op per reading (each
/// reading goes to the history), and the device entities, merged to one op per device
/// (link quality and last report: only the newest matters).
#[derive(Default)]
struct TenantWrites {
    ops: Vec<WriteOp>,
    owners: Vec<Vec<usize>>,
    devices: HashMap<String, (Entity, Vec<usize>, DateTime<Utc>)>,
    device_order: Vec<String>,
}

impl TenantWrites {
    fn merge_device(&mut self, idx: usize, plan: &Plan, names: &DeviceNames) {
        let id = plan.device.device_entity.clone();
        let attrs = plan.device_attrs(names);
        let entry = self.devices.entry(id.clone()).or_insert_with(|| {
            self.device_order.push(id.clone());
            (
                Entity::new(id, names.device_type.clone()),
                Vec::new(),
                plan.time,
            )
        });
        entry.1.push(idx);
        if plan.time >= entry.2 || entry.0.attrs.is_empty() {
            entry.2 = plan.time;
            entry.0.attrs.extend(attrs);
            let t = plan.time;
            entry.0.attrs.insert(
                names.last_reported.clone(),
                vec![Attribute::new(AttributeValue::Property(json!({
                    "@type": "DateTime",
                    "@value": jumeau_model::time::format_datetime(&t),
                })))],
            );
            if let Some(f) = plan.f_cnt {
                entry.0.attrs.insert(names.f_cnt.clone(), prop(json!(f), t));
            }
            entry.0.attrs.insert(
                names.state.clone(),
                vec![Attribute::new(AttributeValue::Property(json!(STATE_OK)))],
            );
            entry.0.attrs.insert(
                names.asset.clone(),
                vec![Attribute::new(AttributeValue::Relationship(
                    jumeau_model::entity::RelObject::One(plan.device.record.entity_id.clone()),
                ))],
            );
        } else {
            // An older message of the same batch: only what the newer ones did not set.
            for (k, v) in attrs {
                entry.0.attrs.entry(k).or_insert(v);
            }
        }
    }

    fn finish(mut self) -> (Vec<WriteOp>, Vec<Vec<usize>>) {
        for id in self.device_order {
            if let Some((e, owners, _)) = self.devices.remove(&id) {
                self.ops.push(WriteOp::Upsert {
                    entity: e,
                    replace: false,
                });
                self.owners.push(owners);
            }
        }
        (self.ops, self.owners)
    }
}
