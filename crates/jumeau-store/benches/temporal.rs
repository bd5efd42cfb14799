//! Attribute history of a store: bulk appends, aggregations served by rollups, and the
//! bytes a numeric instance takes on disk.
//!
//! `CARGO_TARGET_DIR=/work/target-bench cargo bench -p jumeau-store --bench temporal` measures
//! the embedded store. With `JUMEAU_BENCH_STORE=postgres` it measures the PostgreSQL store
//! instead, on the cluster named by `JUMEAU_TEST_POSTGRES` (as printed by
//! `.ci/postgres start`), in databases of its own.
//!
//! (c) needs one year of 10-minute readings of 1,000 entities (52.6 million instances). It
//! is built once and reused by later runs: into `<target dir>/temporal-bench-data/` (delete
//! that directory to rebuild it), or into the PostgreSQL database `jumeau_bench_year` (built
//! again when it does not hold the whole year).
#![allow(missing_docs)]

use std::path::PathBuf;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration as TimeDelta, TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use jumeau_model::temporal::{AggrMethod, AggrPeriod, TemporalQuery, TimeRange};
use jumeau_model::{Attribute, AttributeValue};
use jumeau_store::postgres::{PgOptions, PgStore};
use jumeau_store::sqlite::{SqliteOptions, SqliteStore};
use jumeau_store::TemporalStore;
use serde_json::json;

const ATTR: &str = "https://smartdatamodels.org/dataModel.Environment/temperature";
const TYPE: &str = "https://smartdatamodels.org/dataModel.Environment/AirQualityObserved";
/// One year of 10-minute readings.
const YEAR_READINGS: i64 = 365 * 144;
const ENTITIES: usize = 1000;

fn year_start() -> DateTime<Utc> {
    chrono_tz::Europe::Paris
        .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .single()
        .expect("a valid local midnight")
        .to_utc()
}

/// A temperature with one decimal, as sensors send, from a cheap deterministic generator.
fn temperature(entity: usize, i: i64) -> f64 {
    let h = (i as u64 ^ (entity as u64) << 32).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58;
    let daily = ((i % 144) as f64 / 144.0 * std::f64::consts::TAU).sin() * 50.0;
    (150.0 + daily.round() + h as f64) / 10.0
}

fn readings(entity: usize, from: i64, n: i64) -> Vec<(String, Attribute)> {
    let t0 = year_start();
    (from..from + n)
        .map(|i| {
            let mut a = Attribute::new(AttributeValue::Property(json!(temperature(entity, i))));
            a.observed_at = Some(t0 + TimeDelta::minutes(10 * i));
            (ATTR.to_string(), a)
        })
        .collect()
}

fn entity_id(i: usize) -> String {
    format!("urn:ngsi-ld:AirQualityObserved:{i}")
}

fn daily(methods: Vec<AggrMethod>) -> TemporalQuery {
    let t0 = year_start();
    TemporalQuery {
        time_range: Some(TimeRange::Between(t0, t0 + TimeDelta::days(365))),
        aggr_methods: methods,
        aggr_period: Some(AggrPeriod::parse("P1D").expect("valid period")),
        aggregated_values: true,
        ..Default::default()
    }
}

fn p95(samples: &mut [StdDuration]) -> StdDuration {
    samples.sort();
    samples[(samples.len() * 95 / 100).min(samples.len() - 1)]
}

/// CPU time used by this process so far (user and system, Linux `/proc/self/stat`), to tell
/// the work done from the waiting on a busy machine; 0 where unavailable.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces, hence the last ')').
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name and state.
    (ticks(11) + ticks(12)) / 100.0
}

fn data_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("temporal-bench-data")
}

/// The engine measured, chosen by `JUMEAU_BENCH_STORE` (`sqlite`, the default, or
/// `postgres`).
#[derive(Clone, Copy, PartialEq)]
enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    fn from_env() -> Result<Self, String> {
        match std::env::var("JUMEAU_BENCH_STORE").as_deref() {
            Ok("postgres") => Ok(Self::Postgres),
            Ok("sqlite") | Err(_) => Ok(Self::Sqlite),
            Ok(other) => Err(format!(
                "JUMEAU_BENCH_STORE={other}: write sqlite or postgres"
            )),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// A store under measurement, with what tells its size on disk.
struct Opened {
    store: Box<dyn TemporalStore>,
    place: Place,
    /// Keeps a fresh embedded store's directory until the store is dropped.
    _dir: Option<tempfile::TempDir>,
}

/// Where a store keeps its data.
enum Place {
    /// The embedded store's database file.
    File(PathBuf),
    /// The PostgreSQL database's URL.
    Database(String),
}

impl Opened {
    /// Bytes the whole database takes on disk (file, or `pg_database_size`).
    fn size(&self) -> u64 {
        match &self.place {
            Place::File(path) => std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
            Place::Database(url) => {
                jumeau_testkit::psql(url, "SELECT pg_database_size(current_database())")
                    .expect("psql runs")
                    .trim()
                    .parse()
                    .unwrap_or(0)
            }
        }
    }
}

fn open_sqlite(dir: &std::path::Path, keep: Option<tempfile::TempDir>) -> Opened {
    let store = SqliteStore::open(dir, SqliteOptions::default()).expect("store");
    Opened {
        place: Place::File(store.path().to_path_buf()),
        store: Box::new(store),
        _dir: keep,
    }
}

fn open_postgres(rt: &tokio::runtime::Runtime, url: String) -> Opened {
    let store = rt
        .block_on(PgStore::connect(&url, PgOptions::default()))
        .expect("the PostgreSQL store opens");
    Opened {
        store: Box::new(store),
        place: Place::Database(url),
        _dir: None,
    }
}

/// An empty store.
fn fresh(engine: Engine, rt: &tokio::runtime::Runtime) -> Opened {
    match engine {
        Engine::Sqlite => {
            let dir = tempfile::tempdir().expect("dir");
            let path = dir.path().to_path_buf();
            open_sqlite(&path, Some(dir))
        }
        Engine::Postgres => {
            let url = jumeau_testkit::postgres_database()
                .expect("a database is created")
                .expect("JUMEAU_TEST_POSTGRES names a cluster");
            open_postgres(rt, url)
        }
    }
}

/// The store of (c), kept between runs, and whether it already holds the whole year.
fn year_store(engine: Engine, rt: &tokio::runtime::Runtime) -> (Opened, bool) {
    let whole = (ENTITIES as i64 * YEAR_READINGS) as u64;
    match engine {
        Engine::Sqlite => {
            let data = data_dir();
            let complete = data.join("complete").exists();
            (open_sqlite(&data, None), complete)
        }
        Engine::Postgres => {
            let url = jumeau_testkit::postgres_database_named(YEAR_DATABASE, false)
                .expect("the database exists")
                .expect("JUMEAU_TEST_POSTGRES names a cluster");
            let opened = open_postgres(rt, url);
            let held = rt
                .block_on(opened.store.history_stats("bench"))
                .map(|s| s.instances)
                .unwrap_or(0);
            if held == whole {
                return (opened, true);
            }
            drop(opened);
            let url = jumeau_testkit::postgres_database_named(YEAR_DATABASE, true)
                .expect("the database is created anew")
                .expect("JUMEAU_TEST_POSTGRES names a cluster");
            (open_postgres(rt, url), false)
        }
    }
}

/// The PostgreSQL database that keeps the year of (c) between runs.
const YEAR_DATABASE: &str = "jumeau_bench_year";

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let types = vec![TYPE.to_string()];
    let engine = Engine::from_env().expect("a known engine");
    let name = engine.name();

    // (a) Bulk append, in batches of 10,000 instances of one entity, durable on return.
    let opened = fresh(engine, &rt);
    let store = &opened.store;
    let mut group = c.benchmark_group(format!("temporal append ({name})"));
    const BATCH: i64 = 10_000;
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(20);
    let mut next = 0i64;
    group.bench_function("append_history, 10,000 numeric instances per call", |b| {
        b.iter(|| {
            let entity = (next / BATCH) as usize % 10;
            let batch = readings(entity, next, BATCH);
            next += BATCH;
            rt.block_on(store.append_history("bench", &entity_id(entity), &types, batch))
                .expect("append")
        })
    });
    group.finish();
    drop(opened);

    // (b) Daily average of one attribute over one year of 10-minute data.
    let opened = fresh(engine, &rt);
    let store = &opened.store;
    let id = entity_id(0);
    for month in 0..12 {
        let from = YEAR_READINGS * month / 12;
        let to = YEAR_READINGS * (month + 1) / 12;
        rt.block_on(store.append_history("bench", &id, &types, readings(0, from, to - from)))
            .expect("append");
    }
    let q = daily(vec![AggrMethod::Avg]);
    let ids = [id.clone()];
    let paris = chrono_tz::Europe::Paris;
    let run = || {
        let out = rt
            .block_on(store.aggregate("bench", &ids, None, &q, paris))
            .expect("aggregate");
        assert_eq!(out[0].attrs[0].buckets.len(), 365);
        out
    };
    let mut samples: Vec<StdDuration> = (0..300)
        .map(|_| {
            let t = Instant::now();
            run();
            t.elapsed()
        })
        .collect();
    println!(
        "(b, {name}) daily avg over one year of 10-minute data ({YEAR_READINGS} instances): p95 {:.2} ms over {} runs",
        p95(&mut samples).as_secs_f64() * 1e3,
        samples.len()
    );
    let mut group = c.benchmark_group(format!("temporal aggregate ({name})"));
    group.sample_size(50);
    group.bench_function("P1D avg, 1 entity, 1 year of 10-minute data", |b| {
        b.iter(run)
    });

    // (d) Bytes per stored numeric instance.
    let stats = rt.block_on(store.history_stats("bench")).expect("stats");
    let file = opened.size();
    println!(
        "(d, {name}) {} instances: raw tables and index {} bytes = {:.2} bytes per instance; \
         {} hourly and {} daily rollup rows; database {} bytes ({:.2} bytes per instance, rollups included)",
        stats.instances,
        stats.raw_bytes.unwrap_or(0),
        stats.raw_bytes.unwrap_or(0) as f64 / stats.instances as f64,
        stats.hourly_rows,
        stats.daily_rows,
        file,
        file as f64 / stats.instances as f64
    );
    drop(opened);

    // (c) Daily totals over one year for 1,000 entities.
    let (opened, complete) = year_store(engine, &rt);
    let store = &opened.store;
    if !complete {
        let started = Instant::now();
        for e in 0..ENTITIES {
            for half in 0..2 {
                let from = YEAR_READINGS * half / 2;
                let to = YEAR_READINGS * (half + 1) / 2;
                rt.block_on(store.append_history(
                    "bench",
                    &entity_id(e),
                    &types,
                    readings(e, from, to - from),
                ))
                .expect("append");
            }
            if e % 100 == 99 {
                println!(
                    "(c, {name}) built {} entities in {:?}",
                    e + 1,
                    started.elapsed()
                );
            }
        }
        if engine == Engine::Sqlite {
            std::fs::write(data_dir().join("complete"), b"ok").expect("marker");
        }
        println!(
            "(c, {name}) built {} instances in {:.1} s ({:.0} instances/s)",
            ENTITIES as i64 * YEAR_READINGS,
            started.elapsed().as_secs_f64(),
            (ENTITIES as i64 * YEAR_READINGS) as f64 / started.elapsed().as_secs_f64()
        );
    }
    let ids: Vec<String> = (0..ENTITIES).map(entity_id).collect();
    let q = daily(vec![AggrMethod::Sum]);
    let run = || {
        let out = rt
            .block_on(store.aggregate("bench", &ids, None, &q, paris))
            .expect("aggregate");
        assert_eq!(out.len(), ENTITIES);
        out
    };
    let cold = Instant::now();
    run();
    let cold = cold.elapsed();
    let cpu_before = cpu_seconds();
    let mut samples: Vec<StdDuration> = (0..20)
        .map(|_| {
            let t = Instant::now();
            run();
            t.elapsed()
        })
        .collect();
    let cpu = (cpu_seconds() - cpu_before) / samples.len() as f64;
    println!(
        "(c, {name}) daily sums over one year for {ENTITIES} entities ({} instances): first run after \
         opening {:.0} ms, then p95 {:.0} ms over {} runs, {:.0} ms of CPU per run",
        ENTITIES as i64 * YEAR_READINGS,
        cold.as_secs_f64() * 1e3,
        p95(&mut samples).as_secs_f64() * 1e3,
        samples.len(),
        cpu * 1e3
    );
    group.sample_size(10);
    group.bench_function("P1D sum, 1,000 entities, 1 year of 10-minute data", |b| {
        b.iter(run)
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
