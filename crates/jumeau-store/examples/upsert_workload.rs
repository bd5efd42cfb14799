//! A fixed write workload for instruction counts (`valgrind --tool=callgrind`) and bytes
//! written, which the load of the machine does not change.
//!
//! Loads `ENTITIES` street lights (100 per call), then runs `BATCHES` batch upserts of 100
//! entities drawn at random (fixed seed), each changing one numeric reading, one call and one
//! durable commit each, as `bench/load/upsert.lua` does over HTTP. Prints the bytes written by
//! the process (`wchar` of `/proc/self/io`) for the upserts.
//!
//! ```sh
//! cargo build --release -p jumeau-store --example upsert_workload
//! ENTITIES=20000 BATCHES=200 valgrind --tool=callgrind target/release/examples/upsert_workload
//! ```
//! Subtract a run with `BATCHES=0` to count the upserts alone. `PAUSE_MS=100` pauses after
//! each call, long enough for the writer to fold the history log between calls (as it does
//! under valgrind, which runs slower); the default, 0, leaves the log to grow.
//!
//! `CALLERS=16` sends 16 calls of 100 at once (the writer commits them together, as it does
//! for 16 HTTP clients) and prints the rate. `MODE=raw CALLERS=16` loads the same territory,
//! then makes the same updates with plain prepared statements on the database file (the
//! document read and written back, the value row, a history log row; no JSON, no NGSI-LD
//! rules), 1,600 per commit: the ceiling the store's rate is measured against.
//! `RAW_CHECKPOINT=thread` copies the log back from a second connection, as the store does,
//! but lets the log grow without bound; `bounded` also starts the log over once it is longer
//! than `RAW_WAL_MB` (256 by default, the store's limit), as the store must under a steady
//! load; `none` never copies it back (see `raw_updates`).
#![allow(missing_docs)]

use std::collections::BTreeMap;

use jumeau_model::{Attribute, AttributeValue, Entity};
use jumeau_store::sqlite::{SqliteOptions, SqliteStore};
use jumeau_store::{Store, WriteOp};
use serde_json::json;

const NS: &str = "https://smartdatamodels.org/dataModel.Streetlighting/";

fn var(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn prop(v: serde_json::Value, unit: Option<&str>) -> Vec<Attribute> {
    let mut a = Attribute::new(AttributeValue::Property(v));
    a.unit_code = unit.map(str::to_string);
    vec![a]
}

fn lamp(i: usize) -> Entity {
    let mut e = Entity::new(
        format!("urn:ngsi-ld:Streetlight:b{i}"),
        format!("{NS}Streetlight"),
    );
    e.attrs.insert(
        format!("{NS}powerRating"),
        prop(json!(10 + i % 190), Some("WTT")),
    );
    e.attrs
        .insert(format!("{NS}status"), prop(json!("ok"), None));
    e.attrs
        .insert(format!("{NS}powerState"), prop(json!("off"), None));
    // Loaded with the attribute the upserts change, so that they measure a reading of an
    // existing series, as a territory in service sends them.
    e.attrs
        .insert(format!("{NS}dimmingLevel"), prop(json!(100), Some("P1")));
    e
}

fn reading(i: usize, value: usize) -> Entity {
    let mut e = Entity::new(
        format!("urn:ngsi-ld:Streetlight:b{i}"),
        format!("{NS}Streetlight"),
    );
    e.attrs = BTreeMap::from([(
        format!("{NS}dimmingLevel"),
        prop(json!(value % 101), Some("P1")),
    )]);
    e
}

fn written_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("wchar:").map(|v| v.trim().parse().ok()))
        })
        .flatten()
        .unwrap_or(0)
}

/// The entity drawn for the `k`-th update of a run: a fixed pseudo-random sequence, so that
/// every mode updates the same entities in the same order.
fn drawn(seed: &mut u64, entities: usize) -> usize {
    *seed = seed
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    (*seed >> 33) as usize % entities.max(1)
}

/// The same updates written with plain prepared statements, no JSON and no NGSI-LD rules:
/// per update, the document read and written back, the changed value row and one history
/// log row, as the store writes them for a reading of an existing series; `per_commit`
/// updates per transaction and fsync. The rate of this is the ceiling of the store's.
fn raw_updates(
    db: &std::path::Path,
    entities: usize,
    updates: usize,
    per_commit: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    use rusqlite::{params, Connection};
    let conn = Connection::open(db)?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "cache_size", -32 * 1024)?;
    // RAW_CHECKPOINT=inline (SQLite's default: the committing connection copies the log
    // back every 1,000 pages), `thread` (a second connection does it every 50 ms, as the
    // store's checkpoint thread does, but the log is never started over, so its file only
    // grows), `bounded` (as `thread`, and once the log is longer than RAW_WAL_MB, the
    // committing connection copies back what is left after its commit, so that the next
    // transaction starts the log over: the store bounds its log at 256 MiB), or `none`
    // (the log only grows: no sustained load can run so, since the log must be copied back
    // some time).
    let checkpoint = std::env::var("RAW_CHECKPOINT").unwrap_or_else(|_| "inline".into());
    let wal_limit = var("RAW_WAL_MB", 256) << 20;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut checkpointer = None;
    if checkpoint != "inline" {
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    }
    if checkpoint == "thread" || checkpoint == "bounded" {
        let (path, stop) = (db.to_path_buf(), stop.clone());
        checkpointer = Some(std::thread::spawn(move || -> rusqlite::Result<()> {
            let c = Connection::open(path)?;
            c.pragma_update(None, "synchronous", "FULL")?;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(50));
                c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
            }
            Ok(())
        }));
    }
    let attr: i64 = conn.query_row(
        "SELECT id FROM terms WHERE iri = ?1",
        [format!("{NS}dimmingLevel")],
        |r| r.get(0),
    )?;
    // The store keeps the series of its writes in memory: so does this.
    let mut series = std::collections::HashMap::new();
    {
        let mut stmt = conn.prepare("SELECT entity, id FROM series WHERE attr = ?1")?;
        let mut rows = stmt.query([attr])?;
        while let Some(r) = rows.next()? {
            series.insert(r.get::<_, String>(0)?, r.get::<_, i64>(1)?);
        }
    }
    let before = written_bytes();
    let started = std::time::Instant::now();
    let mut seed = 42u64;
    let mut done = 0;
    while done < updates {
        let tx = conn.unchecked_transaction()?;
        {
            let mut read =
                tx.prepare_cached("SELECT pk, doc FROM entities WHERE tenant = 1 AND id = ?1")?;
            let mut write = tx.prepare_cached("UPDATE entities SET doc = ?2 WHERE pk = ?1")?;
            let mut value = tx.prepare_cached(
                "UPDATE attr_values SET vt = 'n', num = ?3 WHERE pk = ?1 AND attr = ?2 AND seq = 0",
            )?;
            let mut log = tx.prepare_cached(
                "INSERT INTO history_log (series, time, created, observed, value) VALUES (?1, ?2, ?2, 0, ?3)",
            )?;
            for k in 0..per_commit.min(updates - done) {
                let id = format!("urn:ngsi-ld:Streetlight:b{}", drawn(&mut seed, entities));
                let (pk, doc): (i64, String) =
                    read.query_row([&id], |r| Ok((r.get(0)?, r.get(1)?)))?;
                write.execute(params![pk, doc])?;
                let v = ((done + k) % 101) as f64;
                value.execute(params![pk, attr, v])?;
                let now = chrono::Utc::now().timestamp_micros();
                log.execute(params![series.get(&id).copied().unwrap_or(0), now, v])?;
            }
        }
        tx.commit()?;
        done += per_commit;
        if checkpoint == "bounded" && wal_longer_than(db, wal_limit) {
            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        }
    }
    report(updates, started, before);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(t) = checkpointer {
        t.join().map_err(|_| "the checkpoint thread panicked")??;
    }
    Ok(())
}

/// Whether the write-ahead log of the database `db` is longer than `limit` bytes.
fn wal_longer_than(db: &std::path::Path, limit: usize) -> bool {
    std::fs::metadata(db.with_extension("db-wal")).is_ok_and(|m| m.len() > limit as u64)
}

fn report(updates: usize, started: std::time::Instant, before: u64) {
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{updates} upserts in {secs:.2} s ({:.0}/s); {} bytes written per upsert",
        updates as f64 / secs,
        (written_bytes() - before) / updates.max(1) as u64
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (entities, batches) = (var("ENTITIES", 20_000), var("BATCHES", 200));
    let pause = std::time::Duration::from_millis(var("PAUSE_MS", 0) as u64);
    let callers = var("CALLERS", 1).max(1);
    let raw = std::env::var("MODE").is_ok_and(|m| m == "raw");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let dir = tempfile::tempdir()?;
    let store = std::sync::Arc::new(SqliteStore::open(dir.path(), SqliteOptions::default())?);
    rt.block_on(async {
        for first in (0..entities).step_by(100) {
            let ops = (first..(first + 100).min(entities))
                .map(|i| WriteOp::Upsert {
                    entity: lamp(i),
                    replace: false,
                })
                .collect();
            store.write("bench", ops).await?;
        }
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    if raw {
        drop(store);
        // The writer thread closes its connection once its queue is gone.
        std::thread::sleep(std::time::Duration::from_millis(200));
        return raw_updates(
            &dir.path().join("jumeau.db"),
            entities,
            batches * 100,
            callers * 100,
        );
    }
    rt.block_on(async {
        let before = written_bytes();
        let started = std::time::Instant::now();
        let mut seed = 42u64;
        let mut round = 0;
        while round < batches {
            // `callers` requests of 100 at once: the writer commits them together, as it
            // does for concurrent HTTP clients.
            let mut calls = Vec::new();
            for _ in 0..callers.min(batches - round) {
                let ops: Vec<WriteOp> = (0..100)
                    .map(|k| WriteOp::Upsert {
                        entity: reading(drawn(&mut seed, entities), round * 100 + k),
                        replace: false,
                    })
                    .collect();
                let store = store.clone();
                calls.push(tokio::spawn(async move { store.write("bench", ops).await }));
                round += 1;
            }
            for c in calls {
                c.await??;
            }
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
        }
        report(batches * 100, started, before);
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    Ok(())
}
