//! Write throughput of the embedded store, beside the raw SQLite rate of the same rows.
//!
//! `cargo bench -p jumeau-store --bench write`. The raw figures are the limit we measure
//! ourselves against: the same documents, index rows and R*Tree boxes inserted with plain
//! prepared statements, one transaction and one fsync per 100 entities, as the store does
//! for one 100-entity batch.
#![allow(missing_docs)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use jumeau_geo::Geometry;
use jumeau_model::{Attribute, AttributeValue, Entity};
use jumeau_store::index::index_rows;
use jumeau_store::sqlite::{SqliteOptions, SqliteStore};
use jumeau_store::{Store, WriteOp};
use rusqlite::{params, Connection};
use serde_json::json;

const NS: &str = "https://smartdatamodels.org/dataModel.Streetlighting/";
const LOC: &str = "https://uri.etsi.org/ngsi-ld/location";

fn lamp(i: usize, state: &str) -> Entity {
    let mut e = Entity::new(
        format!("urn:ngsi-ld:Streetlight:b{i}"),
        format!("{NS}Streetlight"),
    );
    let prop = |v| vec![Attribute::new(AttributeValue::Property(v))];
    e.attrs
        .insert(format!("{NS}powerRating"), prop(json!(10 + i % 190)));
    e.attrs.insert(format!("{NS}status"), prop(json!("ok")));
    e.attrs
        .insert(format!("{NS}powerState"), prop(json!(state)));
    let point = json!({"type": "Point", "coordinates": [2.2 + (i % 1000) as f64 * 1e-4, 48.8 + (i / 1000) as f64 * 1e-4]});
    if let Ok(g) = Geometry::from_geojson(&point) {
        e.attrs.insert(
            LOC.into(),
            vec![Attribute::new(AttributeValue::GeoProperty(g))],
        );
    }
    e
}

fn state_change(i: usize, state: &str) -> Entity {
    let mut e = Entity::new(
        format!("urn:ngsi-ld:Streetlight:b{i}"),
        format!("{NS}Streetlight"),
    );
    e.attrs = BTreeMap::from([(
        format!("{NS}powerState"),
        vec![Attribute::new(AttributeValue::Property(json!(state)))],
    )]);
    e
}

/// A new reading of a numeric attribute with a unit (what a sensor sends), which also goes
/// to the attribute's history.
fn reading(i: usize, value: usize) -> Entity {
    let mut e = Entity::new(
        format!("urn:ngsi-ld:Streetlight:b{i}"),
        format!("{NS}Streetlight"),
    );
    let mut a = Attribute::new(AttributeValue::Property(json!(value % 101)));
    a.unit_code = Some("P1".into());
    e.attrs = BTreeMap::from([(format!("{NS}dimmingLevel"), vec![a])]);
    e
}

fn raw_db(dir: &std::path::Path) -> Connection {
    let conn = Connection::open(dir.join("raw.db")).expect("open");
    // The same page size as the store's.
    conn.pragma_update(None, "page_size", SqliteOptions::default().page_size)
        .expect("page size");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("sync");
    conn.execute_batch(include_str!("../src/sqlite/schema.sql"))
        .expect("schema");
    conn
}

/// Inserts the rows the store writes for new entities (document, types, value rows, box),
/// with plain prepared statements and one commit; term numbers are looked up in a map.
fn raw_insert(conn: &Connection, terms: &mut HashMap<String, i64>, entities: &[Entity]) {
    let tx = conn.unchecked_transaction().expect("begin");
    {
        let mut term = |iri: &str| -> i64 {
            if let Some(id) = terms.get(iri) {
                return *id;
            }
            tx.execute("INSERT OR IGNORE INTO terms (iri) VALUES (?1)", [iri])
                .expect("term");
            let id: i64 = tx
                .query_row("SELECT id FROM terms WHERE iri = ?1", [iri], |r| r.get(0))
                .expect("term id");
            terms.insert(iri.to_string(), id);
            id
        };
        let mut ins = tx
            .prepare_cached("INSERT INTO entities (tenant, id, doc) VALUES (1, ?1, ?2)")
            .expect("prep");
        let mut ty = tx
            .prepare_cached("INSERT INTO entity_types (tenant, type, pk) VALUES (1, ?1, ?2)")
            .expect("prep");
        let mut av = tx
            .prepare_cached("INSERT INTO attr_values (tenant, attr, seq, pk, vt, num, txt) VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6)")
            .expect("prep");
        let mut gv = tx
            .prepare_cached("INSERT INTO geo_values (tenant, attr, pk) VALUES (1, ?1, ?2)")
            .expect("prep");
        let mut rt = tx
            .prepare_cached("INSERT INTO geo_rtree (gid, min_x, max_x, min_y, max_y) VALUES (?1, ?2, ?3, ?4, ?5)")
            .expect("prep");
        for e in entities {
            ins.execute(params![e.id, serde_json::to_string(e).expect("json")])
                .expect("insert");
            let pk = tx.last_insert_rowid();
            for t in &e.types {
                ty.execute(params![term(t), pk]).expect("type");
            }
            for (seq, r) in index_rows(e).into_iter().enumerate() {
                av.execute(params![
                    term(&r.attr),
                    seq as i64,
                    pk,
                    r.kind.code(),
                    r.num,
                    r.txt
                ])
                .expect("row");
            }
            for g in e.geometries(LOC) {
                gv.execute(params![term(LOC), pk]).expect("geo");
                let b = g.bbox();
                rt.execute(params![
                    tx.last_insert_rowid(),
                    b.min_x,
                    b.max_x,
                    b.min_y,
                    b.max_y
                ])
                .expect("box");
            }
        }
    }
    tx.commit().expect("commit");
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("write 100 entities");
    group.throughput(Throughput::Elements(100));
    group.sample_size(30);

    let dir = tempfile::tempdir().expect("dir");
    let raw = raw_db(dir.path());
    let mut terms = HashMap::new();
    let mut next = 0usize;
    group.bench_function("raw SQLite insert (same rows, 1 commit)", |b| {
        b.iter_batched(
            || {
                let batch: Vec<Entity> = (next..next + 100).map(|i| lamp(i, "off")).collect();
                next += 100;
                batch
            },
            |batch| raw_insert(&raw, &mut terms, &batch),
            BatchSize::SmallInput,
        )
    });

    let store = Arc::new(
        SqliteStore::open(&dir.path().join("store"), SqliteOptions::default()).expect("store"),
    );
    let mut next = 0usize;
    group.bench_function("store create", |b| {
        b.iter_batched(
            || {
                let ops: Vec<WriteOp> = (next..next + 100)
                    .map(|i| WriteOp::Create(lamp(i, "off")))
                    .collect();
                next += 100;
                ops
            },
            |ops| rt.block_on(store.write("bench", ops)).expect("write"),
            BatchSize::SmallInput,
        )
    });

    let loaded = next.max(100);
    let mut round = 0usize;
    group.bench_function("store upsert (update one attribute)", |b| {
        b.iter_batched(
            || {
                round += 1;
                let state = if round.is_multiple_of(2) { "on" } else { "off" };
                (0..100)
                    .map(|k| WriteOp::Upsert {
                        entity: state_change((round * 100 + k) % loaded, state),
                        replace: false,
                    })
                    .collect::<Vec<_>>()
            },
            |ops| rt.block_on(store.write("bench", ops)).expect("write"),
            BatchSize::SmallInput,
        )
    });

    // Every entity gets the attribute once, so that the measured upserts are readings of
    // existing series (the first one creates the series).
    for first in (0..loaded).step_by(100) {
        let ops = (first..(first + 100).min(loaded))
            .map(|i| WriteOp::Upsert {
                entity: reading(i, 0),
                replace: false,
            })
            .collect();
        rt.block_on(store.write("bench", ops)).expect("write");
    }
    let mut round = 0usize;
    group.bench_function("store upsert (one numeric reading, with history)", |b| {
        b.iter_batched(
            || {
                round += 1;
                (0..100)
                    .map(|k| WriteOp::Upsert {
                        // Spread over the entities, as readings of a territory are.
                        entity: reading((round * 7_919 + k * 101) % loaded, round + k),
                        replace: false,
                    })
                    .collect::<Vec<_>>()
            },
            |ops| rt.block_on(store.write("bench", ops)).expect("write"),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
