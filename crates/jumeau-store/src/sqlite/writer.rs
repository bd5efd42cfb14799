//! The single writer thread and the entity writes it runs.
//!
//! SQLite allows one writer at a time; rather than letting request threads queue on the
//! database lock, they queue here, and the writer commits everything waiting in one
//! transaction. A job refuses a bad request before its first write, so one refusal never
//! undoes another caller's write without the cost of a savepoint per job.
//!
//! Every caller is answered once its commit is on disk, but the writer does not wait for
//! the disk itself: it commits into the write-ahead log without syncing
//! (`synchronous=OFF` on its connection) and hands the callers to the sync thread, which
//! flushes the log (`fdatasync`) and only then answers them, while the writer already runs
//! the next transaction. The log is written in order and recovery keeps only the
//! transactions whose frames all reached the disk, in order, so a sync that covers a
//! transaction covers every one before it: no answered write can be lost, and none
//! depends on one that was. Waiting for the disk was a fifth of the writer's time. Readers
//! may see a transaction a moment before its callers are answered; checkpoints, which
//! copy the log into the database and may restart it, still sync both files first (the
//! checkpoint thread's connection is `synchronous=FULL`, and so is the writer's connection
//! for the checkpoints it runs itself).

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use chrono::{DateTime, Utc};
use jumeau_geo::Geometry;
use jumeau_model::{Attribute, AttributeValue, Entity, NgsiError};
use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::oneshot;

use super::{decode_entity, fmt_time, partial, sql_err};
use crate::index::{attribute_values, value_key, ValueKey};
use crate::{StoreError, StoreResult, Version, WriteOp, Written};

/// Size of the write-ahead log beyond which the writer makes it start over.
const WAL_LIMIT_BYTES: u64 = 256 * 1024 * 1024;
/// After folding a slice of the history log while idle, the writer waits this many times
/// as long as the slice took before folding the next one (unless work arrives): folding
/// after a burst of readings then takes at most a quarter of one core, and leaves the rest
/// of the machine to the readers. Under a steady load the log is kept bounded by the folds
/// that follow transactions, which this does not slow.
const IDLE_FOLD_PAUSE: u32 = 3;
/// A commit, checkpoint or fold of the writer taking this long or more is logged (at debug
/// level), so that a slow answer can be matched with what the writer was doing.
const SLOW_STEP: std::time::Duration = std::time::Duration::from_millis(20);

type Finisher = Box<dyn FnOnce(Result<(), String>) + Send>;
type Job = Box<dyn FnOnce(&Connection) -> (Outcome, Finisher) + Send>;

/// A job with its weight: the entity writes it makes (1 for any other job). A transaction
/// takes jobs until their weights reach the batch limit, which bounds the entities held in
/// memory until the commit (each write keeps its entity before and after).
struct Weighted {
    weight: usize,
    job: Job,
}

/// How a job ended, as far as the transaction it shares is concerned.
enum Outcome {
    /// It wrote, or refused before writing (a client error): the transaction goes on.
    Clean,
    /// The storage failed under it: the whole transaction is rolled back.
    Broken(String),
}

/// Handle to the writer thread.
pub(super) struct Writer {
    jobs: mpsc::Sender<Weighted>,
}

impl Writer {
    /// Starts the writer thread, which owns the read-write connection, and the thread that
    /// syncs its commits and answers their callers.
    pub(super) fn start(
        conn: Connection,
        max_batch: usize,
        committed: mpsc::SyncSender<()>,
        wal: PathBuf,
    ) -> StoreResult<Self> {
        // Commits are made durable by the sync thread (see the module's documentation).
        conn.pragma_update(None, "synchronous", "OFF")
            .map_err(sql_err)?;
        let (to_sync, synced) = mpsc::channel::<Vec<Finisher>>();
        let log = wal.clone();
        std::thread::Builder::new()
            .name("jumeau-sqlite-sync".into())
            .spawn(move || answer_when_synced(synced, &log))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the sync thread: {e}")))?;
        let (tx, rx) = mpsc::channel::<Weighted>();
        std::thread::Builder::new()
            .name("jumeau-sqlite-writer".into())
            .spawn(move || run(conn, rx, max_batch.max(1), committed, wal, to_sync))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer thread: {e}")))?;
        Ok(Self { jobs: tx })
    }

    /// Runs `f` in the next group-committed transaction and returns its result once the
    /// transaction is durable.
    ///
    /// `f` must leave nothing behind when it refuses a request: it refuses before writing,
    /// or through a failed statement, which SQLite undoes by itself. This spares a
    /// savepoint per job. A storage failure rolls the whole transaction back and every job
    /// in it is answered that its write did not happen.
    pub(super) async fn submit<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        self.submit_weighted(1, f).await
    }

    /// [`Writer::submit`] for a job making `weight` entity writes.
    pub(super) async fn submit_weighted<T: Send + 'static>(
        &self,
        weight: usize,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let (tx, rx) = oneshot::channel::<StoreResult<T>>();
        let job: Job = Box::new(move |conn| {
            let result = f(conn);
            let outcome = match &result {
                Ok(_) | Err(StoreError::Rejected(_)) => Outcome::Clean,
                Err(e) => Outcome::Broken(e.to_string()),
            };
            let finish: Finisher = Box::new(move |commit| {
                let out = match commit {
                    Ok(()) => result,
                    Err(m) => Err(StoreError::Unavailable(format!(
                        "the write was not committed: {m}"
                    ))),
                };
                // The caller may have gone away (client disconnected): nothing to tell.
                let _ = tx.send(out);
            });
            (outcome, finish)
        });
        self.jobs
            .send(Weighted {
                weight: weight.max(1),
                job,
            })
            .map_err(|_| StoreError::Unavailable("the store is shutting down".into()))?;
        rx.await.map_err(|_| {
            StoreError::Unavailable("the write could not be committed; retry".into())
        })?
    }
}

/// The sync thread: flushes the write-ahead log, then answers the callers of every
/// transaction committed before the flush began. Transactions committed while it flushes
/// share the next flush.
fn answer_when_synced(committed: mpsc::Receiver<Vec<Finisher>>, wal: &Path) {
    let mut log: Option<(std::fs::File, u64)> = None;
    while let Ok(first) = committed.recv() {
        let mut callers = first;
        while let Ok(more) = committed.try_recv() {
            callers.extend(more);
        }
        let synced = sync_log(&mut log, wal).map_err(|e| {
            tracing::error!("cannot sync the write-ahead log {}: {e}", wal.display());
            format!("the write-ahead log could not be synced to disk ({e})")
        });
        for f in callers {
            f(synced.clone());
        }
    }
}

/// Flushes the write-ahead log file to disk, opening it again if SQLite replaced it.
fn sync_log(log: &mut Option<(std::fs::File, u64)>, wal: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let current = std::fs::metadata(wal)?.ino();
    if log.as_ref().is_none_or(|(_, inode)| *inode != current) {
        let file = std::fs::File::open(wal)?;
        let inode = file.metadata()?.ino();
        *log = Some((file, inode));
    }
    match log {
        Some((file, _)) => file.sync_data(),
        None => Ok(()),
    }
}

fn run(
    conn: Connection,
    rx: mpsc::Receiver<Weighted>,
    max_batch: usize,
    committed: mpsc::SyncSender<()>,
    wal: PathBuf,
    to_sync: mpsc::Sender<Vec<Finisher>>,
) {
    use super::history_log;
    // How long to wait for work before folding: once idle, fold slice after slice, paced
    // (see IDLE_FOLD_PAUSE), as long as no work arrives.
    let mut wait = history_log::IDLE_AFTER;
    loop {
        // With readings to fold in the history log, wait for work only a moment, and fold
        // a slice when none comes.
        let first = if history_log::pending() {
            match rx.recv_timeout(wait) {
                Ok(job) => {
                    wait = history_log::IDLE_AFTER;
                    job
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Some(took) = timed_fold(&conn, true) {
                        wait = took * IDLE_FOLD_PAUSE;
                        let _ = committed.try_send(());
                    } else {
                        wait = history_log::IDLE_AFTER;
                    }
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        } else {
            match rx.recv() {
                Ok(job) => job,
                Err(_) => break,
            }
        };
        let mut weight = first.weight;
        let mut jobs = vec![first.job];
        while weight < max_batch {
            match rx.try_recv() {
                Ok(j) => {
                    weight += j.weight;
                    jobs.push(j.job);
                }
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            tracing::error!("cannot begin a write transaction: {e}");
            // Dropping the jobs tells their callers the write did not happen.
            continue;
        }
        let mut finishers = Vec::with_capacity(jobs.len());
        let mut broken = None;
        for job in jobs {
            if broken.is_some() {
                // Not run: dropping it tells its caller the write did not happen.
                continue;
            }
            let (outcome, finish) = job(&conn);
            if let Outcome::Broken(m) = outcome {
                broken = Some(m);
            }
            finishers.push(finish);
        }
        let commit = match broken {
            Some(m) => Err(format!("a write of the same transaction failed: {m}")),
            None => {
                let started = std::time::Instant::now();
                let done = conn.execute_batch("COMMIT").map_err(|e| e.to_string());
                let took = started.elapsed();
                if took >= SLOW_STEP {
                    tracing::debug!(
                        "commit of {} jobs (weight {weight}) took {} ms",
                        finishers.len(),
                        took.as_millis()
                    );
                }
                done
            }
        };
        if let Err(e) = &commit {
            tracing::error!("commit failed: {e}");
            let _ = conn.execute_batch("ROLLBACK");
            forget_terms();
            super::temporal::forget_cache();
        } else {
            // Wake the checkpointer; if it is already due to run, this one is folded in.
            let _ = committed.try_send(());
            // Under a steady load the log never empties by itself: once it is too long,
            // finish the checkpoint here, between transactions, and start the log over.
            if std::fs::metadata(&wal).is_ok_and(|m| m.len() > WAL_LIMIT_BYTES) {
                let started = std::time::Instant::now();
                if let Err(e) = checkpoint_synced(&conn) {
                    tracing::warn!("WAL checkpoint failed (it will be retried): {e}");
                }
                tracing::debug!(
                    "WAL checkpoint (truncate) by the writer took {} ms",
                    started.elapsed().as_millis()
                );
            }
        }
        if commit.is_ok() {
            // Answered by the sync thread once the log is on disk; if it has stopped, the
            // callers are dropped, which tells them the write was not confirmed.
            let _ = to_sync.send(finishers);
        } else {
            for f in finishers {
                f(commit.clone());
            }
        }
        // Keeps the history log bounded under a steady load (nothing when it is short).
        if commit.is_ok() && timed_fold(&conn, false).is_some() {
            let _ = committed.try_send(());
        }
    }
    // The last connection to close copies the log into the database and deletes it: that
    // checkpoint must sync like any other.
    if let Err(e) = conn.pragma_update(None, "synchronous", "FULL") {
        tracing::warn!("cannot restore synchronous=FULL before closing: {e}");
    }
}

/// Copies the whole log into the database and empties it. The writer's connection does
/// not sync its commits (the sync thread does), but a checkpoint must sync the log before
/// copying it and the database before the log starts over, so it runs with
/// `synchronous=FULL`.
fn checkpoint_synced(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "synchronous", "FULL")?;
    let done = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    conn.pragma_update(None, "synchronous", "OFF")?;
    done
}

/// [`super::history_log::fold_step`], logged (at debug level) when slow: how long it took
/// when it folded something, `None` when it did not.
fn timed_fold(conn: &Connection, idle: bool) -> Option<std::time::Duration> {
    let started = std::time::Instant::now();
    if !super::history_log::fold_step(conn, idle) {
        return None;
    }
    let took = started.elapsed();
    if took >= SLOW_STEP {
        tracing::debug!(
            "history log fold ({}) took {} ms",
            if idle { "idle" } else { "busy" },
            took.as_millis()
        );
    }
    Some(took)
}

/// Creates the tenant row on its first write; returns the tenant's number.
pub(super) fn ensure_tenant(conn: &Connection, tenant: &str) -> StoreResult<i64> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO tenants (name, public, created_at) VALUES (?1, 0, ?2)",
    )
    .and_then(|mut s| s.execute(params![tenant, fmt_time(&Utc::now())]))
    .map_err(sql_err)?;
    conn.prepare_cached("SELECT id FROM tenants WHERE name = ?1")
        .and_then(|mut s| s.query_row([tenant], |r| r.get(0)))
        .map_err(sql_err)
}

/// Most term numbers the writer remembers (a vocabulary is small; this bounds a hostile one).
const TERM_CACHE: usize = 50_000;

thread_local! {
    /// Term numbers seen by the writer thread, committed or written by the open transaction;
    /// forgotten whenever a transaction is rolled back.
    static TERMS: RefCell<HashMap<String, i64>> = RefCell::new(HashMap::new());
}

/// Forgets the remembered term numbers (after a rollback, some may not exist any more).
fn forget_terms() {
    TERMS.with(|t| t.borrow_mut().clear());
}

/// The number of a type or attribute IRI, registered on first use.
pub(super) fn term_id(conn: &Connection, iri: &str) -> StoreResult<i64> {
    if let Some(id) = TERMS.with(|t| t.borrow().get(iri).copied()) {
        return Ok(id);
    }
    conn.prepare_cached("INSERT OR IGNORE INTO terms (iri) VALUES (?1)")
        .and_then(|mut s| s.execute([iri]))
        .map_err(sql_err)?;
    let id: i64 = conn
        .prepare_cached("SELECT id FROM terms WHERE iri = ?1")
        .and_then(|mut s| s.query_row([iri], |r| r.get(0)))
        .map_err(sql_err)?;
    TERMS.with(|t| {
        let mut t = t.borrow_mut();
        if t.len() >= TERM_CACHE {
            t.clear();
        }
        t.insert(iri.to_string(), id);
    });
    Ok(id)
}

/// Runs a list of entity writes. Each operation either fails before its first write (a
/// rejection: not found, already exists, invalid patch) or writes completely, so one
/// operation's failure never leaves part of it behind nor undoes the others, without the
/// cost of a savepoint per operation. A storage failure fails the whole job, and the writer
/// rolls back the transaction it shares.
pub(super) fn apply_ops(
    conn: &Connection,
    tenant: &str,
    ops: Vec<WriteOp>,
) -> StoreResult<Vec<Result<Written, NgsiError>>> {
    let tenant = ensure_tenant(conn, tenant)?;
    let now = Utc::now();
    let mut out = Vec::with_capacity(ops.len());
    for op in ops {
        match apply_one(conn, tenant, op, now) {
            Ok(o) => out.push(Ok(o)),
            Err(StoreError::Rejected(e)) => out.push(Err(e)),
            Err(other) => return Err(other),
        }
    }
    Ok(out)
}

/// The row number and stored document of an entity, if it exists.
fn load(conn: &Connection, tenant: i64, id: &str) -> StoreResult<Option<(i64, String)>> {
    conn.prepare_cached("SELECT pk, doc FROM entities WHERE tenant = ?1 AND id = ?2")
        .and_then(|mut s| {
            s.query_row(params![tenant, id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(sql_err)
}

/// Applies one operation: the engine-neutral rules of [`crate::apply`] decide (and may
/// refuse before anything is written), then the result is stored.
fn apply_one(
    conn: &Connection,
    tenant: i64,
    op: WriteOp,
    now: DateTime<Utc>,
) -> StoreResult<Written> {
    let (op, current) = match load(conn, tenant, op.entity_id())? {
        Some((pk, doc)) => match apply_in_part(conn, tenant, pk, doc, op, now)? {
            InPart::Done(written) => return Ok(written),
            InPart::Whole(op, doc) => (op, Some((pk, doc))),
        },
        None => (op, None),
    };
    let (pk, old) = match current {
        Some((pk, doc)) => (Some(pk), Some(decode_entity(&doc)?)),
        None => (None, None),
    };
    let applied = crate::apply::apply(op, old, now)?;
    let w = &applied.written;
    match (pk, w.after()) {
        (Some(pk), Some(new)) if !applied.recreate => {
            rewrite_entity(conn, tenant, pk, w.before(), new, &encode(new)?, now)?;
        }
        (pk, Some(new)) => {
            if let Some(pk) = pk {
                delete_entity(conn, pk, w.before())?;
            }
            insert_entity(conn, tenant, new, now)?;
        }
        (Some(pk), None) => delete_entity(conn, pk, w.before())?,
        (None, None) => {}
    }
    Ok(applied.written)
}

/// What [`apply_in_part`] did.
enum InPart {
    /// The operation was applied and stored.
    Done(Written),
    /// The operation needs the whole entity: here it is back, with the stored document.
    Whole(WriteOp, String),
}

/// Applies an operation on some attributes of an existing entity (a reading, a patch) to
/// those attributes alone, and stores the document with the others copied as they were
/// (see [`partial`]). The written versions are handed over undecoded.
fn apply_in_part(
    conn: &Connection,
    tenant: i64,
    pk: i64,
    doc: String,
    op: WriteOp,
    now: DateTime<Utc>,
) -> StoreResult<InPart> {
    let Some(names) = partial::touched_names(&op) else {
        return Ok(InPart::Whole(op, doc));
    };
    let Some((shell, part)) = partial::read(&doc, &names) else {
        return Ok(InPart::Whole(op, doc));
    };
    let (outcome, before, after) = crate::apply::apply(op, Some(part), now)?
        .written
        .into_parts();
    let (Some(before), Some(after)) = (before, after) else {
        return Err(StoreError::Corrupt(
            "an attribute write left no entity to store".into(),
        ));
    };
    let new_doc = partial::splice(&shell, &names, &after)
        .map_err(|err| StoreError::Corrupt(format!("cannot encode entity: {err}")))?;
    drop(shell);
    rewrite_entity(conn, tenant, pk, Some(&before), &after, &new_doc, now)?;
    Ok(InPart::Done(Written::from_versions(
        outcome,
        Some(Version::stored(before, doc, decode_entity)),
        Some(Version::stored(after, new_doc, decode_entity)),
    )))
}

fn encode(e: &Entity) -> StoreResult<String> {
    serde_json::to_string(e)
        .map_err(|err| StoreError::Corrupt(format!("cannot encode entity: {err}")))
}

fn insert_entity(
    conn: &Connection,
    tenant: i64,
    e: &Entity,
    now: DateTime<Utc>,
) -> StoreResult<i64> {
    let doc = encode(e)?;
    conn.prepare_cached("INSERT INTO entities (tenant, id, doc) VALUES (?1, ?2, ?3)")
        .and_then(|mut s| s.execute(params![tenant, e.id, doc]))
        .map_err(sql_err)?;
    let pk = conn.last_insert_rowid();
    write_indexes(conn, tenant, pk, None, e, now)?;
    Ok(pk)
}

/// Stores `doc`, the new document of the existing entity row `pk`, and brings its indexes
/// from `old` to `new`.
fn rewrite_entity(
    conn: &Connection,
    tenant: i64,
    pk: i64,
    old: Option<&Entity>,
    new: &Entity,
    doc: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    conn.prepare_cached("UPDATE entities SET doc = ?2 WHERE pk = ?1")
        .and_then(|mut s| s.execute(params![pk, doc]))
        .map_err(sql_err)?;
    write_indexes(conn, tenant, pk, old, new, now)
}

/// Deletes the entity row `pk` with its index rows; `old`, the entity, tells which of its
/// series the writer may remember by row.
fn delete_entity(conn: &Connection, pk: i64, old: Option<&Entity>) -> StoreResult<()> {
    if let Some(old) = old {
        let mut terms = Vec::with_capacity(old.attrs.len());
        for name in old.attrs.keys() {
            terms.push(term_id(conn, name)?);
        }
        super::temporal::forget_entity_series(pk, terms);
    }
    for sql in [
        "DELETE FROM entity_types WHERE pk = ?1",
        "DELETE FROM attr_values WHERE pk = ?1",
        "DELETE FROM geo_rtree WHERE gid IN (SELECT gid FROM geo_values WHERE pk = ?1)",
        "DELETE FROM geo_values WHERE pk = ?1",
        "DELETE FROM entities WHERE pk = ?1",
    ] {
        conn.prepare_cached(sql)
            .and_then(|mut s| s.execute([pk]))
            .map_err(sql_err)?;
    }
    Ok(())
}

/// The value-index rows of one attribute, in a comparable form.
fn row_keys(instances: Option<&Vec<Attribute>>) -> Vec<ValueKey<'_>> {
    instances
        .map(|list| attribute_values(list).iter().map(value_key).collect())
        .unwrap_or_default()
}

/// Whether two versions of an attribute index the same way: same values and datasets
/// (timestamps and metadata do not reach the value index).
fn same_values(a: Option<&Vec<Attribute>>, b: Option<&Vec<Attribute>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|(x, y)| x.value == y.value && x.dataset_id == y.dataset_id)
        }
        (None, None) => true,
        _ => false,
    }
}

fn geometries(e: &Entity) -> Vec<(&str, &Geometry)> {
    e.attrs
        .iter()
        .flat_map(|(name, list)| {
            list.iter().filter_map(move |a| match &a.value {
                AttributeValue::GeoProperty(g) => Some((name.as_str(), g)),
                _ => None,
            })
        })
        .collect()
}

/// Rewrites one value-index row in place, setting only the columns that changed: SQLite
/// rewrites the entries of every index on a column an `UPDATE` sets, even to the same value,
/// so a new number leaves the text index alone (and a new text the number index).
fn update_value_row(
    conn: &Connection,
    pk: i64,
    attr: i64,
    seq: i64,
    old: &ValueKey<'_>,
    new: &ValueKey<'_>,
) -> StoreResult<()> {
    let (vt, num, txt) = (new.0.code(), new.1.map(f64::from_bits), new.2);
    let changed = (old.0 != new.0, old.1 != new.1, old.2 != new.2);
    let result = match changed {
        (false, false, false) => return Ok(()),
        (false, true, false) => conn
            .prepare_cached("UPDATE attr_values SET num = ?1 WHERE pk = ?2 AND attr = ?3 AND seq = ?4")
            .and_then(|mut s| s.execute(params![num, pk, attr, seq])),
        (false, false, true) => conn
            .prepare_cached("UPDATE attr_values SET txt = ?1 WHERE pk = ?2 AND attr = ?3 AND seq = ?4")
            .and_then(|mut s| s.execute(params![txt, pk, attr, seq])),
        _ => conn
            .prepare_cached(
                "UPDATE attr_values SET vt = ?1, num = ?2, txt = ?3 WHERE pk = ?4 AND attr = ?5 AND seq = ?6",
            )
            .and_then(|mut s| s.execute(params![vt, num, txt, pk, attr, seq])),
    };
    result.map(|_| ()).map_err(sql_err)
}

/// Brings the type, value and spatial indexes of one entity from `old` to `new`, touching
/// only what changed (a reading usually changes one attribute), and appends the changed
/// attribute instances to their history (at their `observedAt`, else at `now`).
fn write_indexes(
    conn: &Connection,
    tenant: i64,
    pk: i64,
    old: Option<&Entity>,
    new: &Entity,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    if old.map(|o| &o.types) != Some(&new.types) {
        if old.is_some() {
            conn.prepare_cached("DELETE FROM entity_types WHERE pk = ?1")
                .and_then(|mut s| s.execute([pk]))
                .map_err(sql_err)?;
        }
        let mut ins = conn
            .prepare_cached(
                "INSERT OR IGNORE INTO entity_types (tenant, type, pk) VALUES (?1, ?2, ?3)",
            )
            .map_err(sql_err)?;
        for t in &new.types {
            ins.execute(params![tenant, term_id(conn, t)?, pk])
                .map_err(sql_err)?;
        }
    }

    let names: BTreeSet<&String> = new
        .attrs
        .keys()
        .chain(old.into_iter().flat_map(|o| o.attrs.keys()))
        .collect();
    let mut history = Vec::new();
    for name in names {
        let before = old.and_then(|o| o.attrs.get(name));
        let after = new.attrs.get(name);
        crate::temporal::changed_instances(name, before, after, &mut history);
        // A reading usually changes one attribute: leave the others' rows alone.
        if old.is_some() && same_values(before, after) {
            continue;
        }
        let (old_rows, new_rows) = (row_keys(before), row_keys(after));
        if old.is_some() && old_rows == new_rows {
            continue;
        }
        let attr = term_id(conn, name)?;
        if !old_rows.is_empty() && old_rows.len() == new_rows.len() {
            // Same number of values (the usual reading): rewrite the changed rows in place,
            // which leaves untouched the index entries of the columns that did not change.
            for (seq, (new_row, old_row)) in new_rows.iter().zip(&old_rows).enumerate() {
                update_value_row(conn, pk, attr, seq as i64, old_row, new_row)?;
            }
            continue;
        }
        if !old_rows.is_empty() {
            conn.prepare_cached("DELETE FROM attr_values WHERE pk = ?1 AND attr = ?2")
                .and_then(|mut del| del.execute(params![pk, attr]))
                .map_err(sql_err)?;
        }
        if new_rows.is_empty() {
            continue;
        }
        // Taken from the cache only when needed: a reading rewrites its row in place above.
        let mut ins = conn
            .prepare_cached(
                "INSERT INTO attr_values (tenant, attr, seq, pk, vt, num, txt) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(sql_err)?;
        for (seq, (kind, num, txt)) in new_rows.iter().enumerate() {
            ins.execute(params![
                tenant,
                attr,
                seq as i64,
                pk,
                kind.code(),
                num.map(f64::from_bits),
                txt
            ])
            .map_err(sql_err)?;
        }
    }

    let new_geo = geometries(new);
    if old.map(geometries).as_ref() != Some(&new_geo) {
        if old.is_some() {
            conn.prepare_cached(
                "DELETE FROM geo_rtree WHERE gid IN (SELECT gid FROM geo_values WHERE pk = ?1)",
            )
            .and_then(|mut s| s.execute([pk]))
            .map_err(sql_err)?;
            conn.prepare_cached("DELETE FROM geo_values WHERE pk = ?1")
                .and_then(|mut s| s.execute([pk]))
                .map_err(sql_err)?;
        }
        let mut ins_geo = conn
            .prepare_cached("INSERT INTO geo_values (tenant, attr, pk) VALUES (?1, ?2, ?3)")
            .map_err(sql_err)?;
        let mut ins_box = conn
            .prepare_cached(
                "INSERT INTO geo_rtree (gid, min_x, max_x, min_y, max_y) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(sql_err)?;
        for (attr, g) in new_geo {
            ins_geo
                .execute(params![tenant, term_id(conn, attr)?, pk])
                .map_err(sql_err)?;
            let gid = conn.last_insert_rowid();
            let b = g.bbox();
            ins_box
                .execute(params![gid, b.min_x, b.max_x, b.min_y, b.max_y])
                .map_err(sql_err)?;
        }
    }
    if !history.is_empty() {
        super::temporal::record(conn, tenant, pk, &new.id, &new.types, &history, now)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn the_log_is_synced_through_the_file_sqlite_uses_now() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let wal = dir.path().join("jumeau.db-wal");
        let mut log = None;
        assert!(
            sync_log(&mut log, &wal).is_err(),
            "no log yet: an error, not a silent success"
        );
        std::fs::write(&wal, b"frames").expect("writes");
        sync_log(&mut log, &wal).expect("syncs");
        let first = log.as_ref().map(|(_, inode)| *inode);
        // SQLite replaced the file (deleted and created again): the next sync must follow.
        let replacement = dir.path().join("replacement");
        std::fs::File::create(&replacement)
            .and_then(|mut f| f.write_all(b"new frames"))
            .expect("writes");
        std::fs::rename(&replacement, &wal).expect("renames");
        sync_log(&mut log, &wal).expect("syncs");
        let second = log.as_ref().map(|(_, inode)| *inode);
        assert!(first.is_some() && second.is_some());
        assert_ne!(first, second, "the replaced file is opened again");
    }
}
