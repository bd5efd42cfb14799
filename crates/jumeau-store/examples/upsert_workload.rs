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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (entities, batches) = (var("ENTITIES", 20_000), var("BATCHES", 200));
    let pause = std::time::Duration::from_millis(var("PAUSE_MS", 0) as u64);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open(dir.path(), SqliteOptions::default())?;
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
        let before = written_bytes();
        let started = std::time::Instant::now();
        let mut seed = 42u64;
        for round in 0..batches {
            let ops = (0..100)
                .map(|k| {
                    seed = seed
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    let i = (seed >> 33) as usize % entities.max(1);
                    WriteOp::Upsert {
                        entity: reading(i, round * 7 + k),
                        replace: false,
                    }
                })
                .collect();
            store.write("bench", ops).await?;
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
        }
        let updates = (batches * 100).max(1) as u64;
        println!(
            "{} upserts in {:.2} s; {} bytes written per upsert",
            batches * 100,
            started.elapsed().as_secs_f64(),
            (written_bytes() - before) / updates
        );
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    Ok(())
}
