//! The SQLite side of [`crate::TemporalStore`]: attribute history as time series.
//!
//! # Layout (tables in `temporal.sql`)
//!
//! - `series`: one row per (tenant, entity, attribute, datasetId), with the unit of its
//!   numeric instances and the entity's types. Every other table is keyed by series number,
//!   and a series belongs to one tenant, so every read starts from the tenant's series.
//! - `series_chunks`: numeric instances, up to [`CHUNK_MAX_POINTS`] per row, encoded by
//!   [`crate::series::codec`] (delta-of-delta times, scaled decimal values, time of receipt):
//!   a regular reading costs a few bytes, where one row per instance would cost some forty.
//!   Chunks of a series cover disjoint time ranges, so an instance belongs to exactly one:
//!   appending in order rewrites only the last chunk; an out-of-order instance merges into
//!   the chunk of its time, which splits when it grows too large.
//! - `series_docs`: every other instance (text, booleans, objects, Relationships,
//!   GeoProperties, numbers with sub-attributes or another unit) as JSON, keyed by
//!   (series, time, hash of the document): nothing is lost, duplicates are stored once and
//!   two values at one time are both kept.
//! - `rollup_hourly` (UTC hours) and `rollup_daily` (local days of the tenant's time zone):
//!   count, sum, sum of squares, minimum and maximum of the numeric instances, maintained in
//!   the transaction that writes the instances, so that long aggregations read one row per
//!   day instead of hundreds of instances.
//! - `history_log` (see [`super::history_log`]): the numeric readings of entity writes to
//!   existing series, appended in order of arrival and folded into chunks and rollups later
//!   by the writer; reads merge the readings not yet folded. Bulk appends
//!   ([`TemporalStore::append_history`]) write chunks directly, after folding the series'
//!   logged readings, so that their report counts duplicates exactly.
//!
//! # Time bounds
//!
//! The time range of a query includes its start and excludes its end: `after` is
//! `time >= timeAt`, `before` is `time < timeAt`, `between` is `timeAt <= time < endTimeAt`,
//! the same convention as the aggregation buckets, so consecutive ranges never count an
//! instance twice.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use jumeau_model::temporal::{Accumulator, Bucket, TemporalQuery, TimeProperty, DEFAULT_TIME_ZONE};
use jumeau_model::{Attribute, AttributeValue, NgsiError};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use super::history_log;
use super::writer::{ensure_tenant, term_id};
use super::{sql_err, tenant_id, SqliteStore};
use crate::series::aggregate::{
    add_into, bucket_index, check_policy, day_bounds, day_grid, day_of, from_micros, merge_into,
    micros, plan_pieces, range_bounds, runs, value_json, Memo, Piece, Source, Summary, HOUR_MICROS,
};
use crate::series::codec::{self, Point};
use crate::series::{
    doc_hash, instance_id, number_hash, number_json, parse_instance_id, plain_number,
    CHUNK_MAX_BYTES, CHUNK_MAX_POINTS,
};
use crate::temporal::{
    AppendReport, AttributeAggregate, AttributeHistory, EntityAggregate, EntityHistory,
    HistoryStats, Instance, RetentionPolicy, RetentionReport,
};
use crate::{StoreError, StoreResult, TemporalStore};

/// Tables of this module, applied by the schema migrations.
pub(super) const SCHEMA: &str = include_str!("temporal.sql");

/// Most series the writer remembers by entity id (bounds the memory of a hostile
/// workload); see [`ENTITY_SERIES_CACHE`] for those of entity writes.
const SERIES_CACHE: usize = 100_000;
/// Most series of entity writes the writer remembers by entity row and attribute: 16 bytes
/// each, a table of 4.5 MiB at most (seven eighths of 2^18 slots, the most a table of that
/// size holds). A territory of 100,000 lamps has some 700,000 series; the readings that
/// arrive again and again are those of one or two attributes per device, which fit.
/// Looking a series up in the database cost about a third of an update's work.
const ENTITY_SERIES_CACHE: usize = 229_376;
/// Distinct (unit, types) pairs among the series remembered by entity row.
const PROFILES: usize = 4_096;

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

// ---------------------------------------------------------------------------------------
// Summaries (rollup rows)
// ---------------------------------------------------------------------------------------

impl Summary {
    fn from_row(r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Self> {
        Ok(Self {
            count: r.get(first)?,
            sum: r.get(first + 1)?,
            sumsq: r.get(first + 2)?,
            min: r.get(first + 3)?,
            max: r.get(first + 4)?,
        })
    }
}

/// The rollup levels, with their tables and key columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Hourly,
    Daily,
}

impl Level {
    fn table(self) -> &'static str {
        match self {
            Self::Hourly => "rollup_hourly",
            Self::Daily => "rollup_daily",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Self::Hourly => "hour",
            Self::Daily => "day",
        }
    }
}

/// Adds summaries to rollup rows (`add`), or sets them (`!add`).
fn upsert_rollups(
    conn: &Connection,
    series: i64,
    level: Level,
    rows: &BTreeMap<i64, Summary>,
    add: bool,
) -> StoreResult<()> {
    let (t, k) = (level.table(), level.key());
    let sql = if add {
        format!(
            "INSERT INTO {t} (series, {k}, count, sum, sumsq, min, max) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
             ON CONFLICT (series, {k}) DO UPDATE SET count = {t}.count + excluded.count, \
             sum = {t}.sum + excluded.sum, sumsq = {t}.sumsq + excluded.sumsq, \
             min = min({t}.min, excluded.min), max = max({t}.max, excluded.max)"
        )
    } else {
        format!(
            "INSERT OR REPLACE INTO {t} (series, {k}, count, sum, sumsq, min, max) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
        )
    };
    let mut stmt = conn.prepare_cached(&sql).map_err(sql_err)?;
    let mut del = conn
        .prepare_cached(&format!("DELETE FROM {t} WHERE series = ?1 AND {k} = ?2"))
        .map_err(sql_err)?;
    for (key, s) in rows {
        if s.count == 0 {
            if !add {
                del.execute(params![series, key]).map_err(sql_err)?;
            }
            continue;
        }
        stmt.execute(params![series, key, s.count, s.sum, s.sumsq, s.min, s.max])
            .map_err(sql_err)?;
    }
    Ok(())
}

/// Adds newly stored numeric instances to the hourly and daily rollups.
pub(super) fn add_to_rollups(
    conn: &Connection,
    series: i64,
    points: &[Point],
    tz: Tz,
) -> StoreResult<()> {
    if points.is_empty() {
        return Ok(());
    }
    let mut hours: BTreeMap<i64, Summary> = BTreeMap::new();
    let mut days: BTreeMap<i64, Summary> = BTreeMap::new();
    for p in points {
        hours
            .entry(p.time.div_euclid(HOUR_MICROS))
            .or_insert_with(Summary::new)
            .add(p.value);
        days.entry(day_of(p.time, tz))
            .or_insert_with(Summary::new)
            .add(p.value);
    }
    upsert_rollups(conn, series, Level::Hourly, &hours, true)?;
    upsert_rollups(conn, series, Level::Daily, &days, true)
}

/// Recomputes from raw instances the rollup rows of the hour and day holding `time` (after
/// instances were removed from them).
fn recompute_rollups(conn: &Connection, series: i64, time: i64, tz: Tz) -> StoreResult<()> {
    let hour = time.div_euclid(HOUR_MICROS);
    let day = day_of(time, tz);
    let (d0, d1) = day_bounds(day, &day_grid(tz)?)?;
    for (level, key, from, to) in [
        (
            Level::Hourly,
            hour,
            hour * HOUR_MICROS,
            (hour + 1) * HOUR_MICROS,
        ),
        (Level::Daily, day, d0, d1),
    ] {
        let mut s = Summary::new();
        for p in chunk_points_in(conn, series, from, to)? {
            s.add(p.value);
        }
        upsert_rollups(conn, series, level, &BTreeMap::from([(key, s)]), false)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Chunks
// ---------------------------------------------------------------------------------------

/// One stored chunk row.
struct ChunkRow {
    id: i64,
    first_time: i64,
    data: Vec<u8>,
}

fn decode(data: &[u8]) -> StoreResult<Vec<Point>> {
    codec::decode(data).map_err(corrupt)
}

/// The numeric instances of a series with `from <= time < to`, in time order, the logged
/// readings not yet folded included.
fn points_in(conn: &Connection, series: i64, from: i64, to: i64) -> StoreResult<Vec<Point>> {
    let tail = history_log::tail(conn, series)?;
    let points = chunk_points_in(conn, series, from, to)?;
    Ok(history_log::merged(points, &tail, from, to))
}

/// The numeric instances of a series held by its chunks with `from <= time < to`, in time
/// order.
pub(super) fn chunk_points_in(
    conn: &Connection,
    series: i64,
    from: i64,
    to: i64,
) -> StoreResult<Vec<Point>> {
    // The chunk holding `from` starts at or before it; later ones start inside the range.
    let mut stmt = conn
        .prepare_cached(
            "SELECT data FROM series_chunks WHERE series = ?1 AND first_time < ?3 AND first_time >= \
             COALESCE((SELECT max(first_time) FROM series_chunks WHERE series = ?1 AND first_time <= ?2), ?2) \
             ORDER BY first_time",
        )
        .map_err(sql_err)?;
    let mut rows = stmt.query(params![series, from, to]).map_err(sql_err)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(sql_err)? {
        let data = r.get_ref(0).map_err(sql_err)?.as_blob().map_err(corrupt)?;
        out.extend(
            decode(data)?
                .into_iter()
                .filter(|p| p.time >= from && p.time < to),
        );
    }
    Ok(out)
}

/// The chunk an instance at `time` belongs to: the last one starting at or before it, else
/// the first one (which then starts earlier).
fn target_chunk(conn: &Connection, series: i64, time: i64) -> StoreResult<Option<ChunkRow>> {
    let row = |r: &rusqlite::Row<'_>| {
        Ok(ChunkRow {
            id: r.get(0)?,
            first_time: r.get(1)?,
            data: r.get(2)?,
        })
    };
    let before = conn
        .prepare_cached(
            "SELECT id, first_time, data FROM series_chunks WHERE series = ?1 AND first_time <= ?2 \
             ORDER BY first_time DESC LIMIT 1",
        )
        .and_then(|mut s| s.query_row(params![series, time], row).optional())
        .map_err(sql_err)?;
    if before.is_some() {
        return Ok(before);
    }
    conn.prepare_cached(
        "SELECT id, first_time, data FROM series_chunks WHERE series = ?1 ORDER BY first_time LIMIT 1",
    )
    .and_then(|mut s| s.query_row(params![series], row).optional())
    .map_err(sql_err)
}

/// The start of the chunk after the one starting at `first_time`.
fn next_chunk_start(conn: &Connection, series: i64, first_time: i64) -> StoreResult<Option<i64>> {
    conn.prepare_cached(
        "SELECT first_time FROM series_chunks WHERE series = ?1 AND first_time > ?2 \
         ORDER BY first_time LIMIT 1",
    )
    .and_then(|mut s| {
        s.query_row(params![series, first_time], |r| r.get(0))
            .optional()
    })
    .map_err(sql_err)
}

/// Cuts points (in time order) into chunks of at most [`CHUNK_MAX_POINTS`] instances and
/// [`CHUNK_MAX_BYTES`] bytes, never between two instances of the same time (so chunk
/// starts stay unique), and encodes them.
fn encode_pieces(points: &[Point], out: &mut Vec<(usize, usize, Vec<u8>)>, offset: usize) {
    let mut start = 0;
    while start < points.len() {
        let mut end = (start + CHUNK_MAX_POINTS).min(points.len());
        while end < points.len() && points[end].time == points[end - 1].time {
            end += 1;
        }
        let data = codec::encode(&points[start..end]);
        if data.len() > CHUNK_MAX_BYTES {
            // Halve at a change of time, if there is one.
            let mut mid = start + (end - start) / 2;
            while mid > start && points[mid].time == points[mid - 1].time {
                mid -= 1;
            }
            if mid > start {
                encode_pieces(&points[start..mid], out, offset + start);
                encode_pieces(&points[mid..end], out, offset + mid);
                start = end;
                continue;
            }
        }
        out.push((offset + start, offset + end, data));
        start = end;
    }
}

/// Replaces chunk `old` (or adds new chunks when `None`) by `points`, in time order.
fn write_chunks(
    conn: &Connection,
    series: i64,
    old: Option<&ChunkRow>,
    points: &[Point],
) -> StoreResult<()> {
    let mut pieces = Vec::new();
    encode_pieces(points, &mut pieces, 0);
    let mut pieces = pieces.into_iter();
    if let Some(old) = old {
        let first = pieces.next();
        match first {
            Some((s, e, data)) if points[s].time == old.first_time => {
                conn.prepare_cached(
                    "UPDATE series_chunks SET last_time = ?2, count = ?3, last_value = ?4, data = ?5 \
                     WHERE id = ?1",
                )
                .and_then(|mut st| {
                    st.execute(params![
                        old.id,
                        points[e - 1].time,
                        (e - s) as i64,
                        points[e - 1].value,
                        data
                    ])
                })
                .map_err(sql_err)?;
            }
            other => {
                conn.prepare_cached("DELETE FROM series_chunks WHERE id = ?1")
                    .and_then(|mut st| st.execute([old.id]))
                    .map_err(sql_err)?;
                if let Some(p) = other {
                    insert_chunk(conn, series, points, p)?;
                }
            }
        }
    }
    for p in pieces {
        insert_chunk(conn, series, points, p)?;
    }
    Ok(())
}

fn insert_chunk(
    conn: &Connection,
    series: i64,
    points: &[Point],
    (s, e, data): (usize, usize, Vec<u8>),
) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO series_chunks (series, first_time, last_time, count, last_value, data) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut st| {
        st.execute(params![
            series,
            points[s].time,
            points[e - 1].time,
            (e - s) as i64,
            points[e - 1].value,
            data
        ])
    })
    .map_err(sql_err)?;
    Ok(())
}

/// Merges new points (in time order) into stored ones (in time order), leaving out those
/// already stored (same time and value); returns the merged list and pushes the new points
/// kept onto `stored`.
pub(super) fn merge_points(
    existing: Vec<Point>,
    new: &[Point],
    stored: &mut Vec<Point>,
) -> Vec<Point> {
    let mut out = Vec::with_capacity(existing.len() + new.len());
    let mut old = existing.into_iter().peekable();
    for p in new {
        // Stored instances of the same time go first, so the duplicate check below sees them.
        while let Some(q) = old.next_if(|q| q.time <= p.time) {
            out.push(q);
        }
        let duplicate = out
            .iter()
            .rev()
            .take_while(|q| q.time == p.time)
            .any(|q| q.same_instance(p));
        if !duplicate {
            out.push(*p);
            stored.push(*p);
        }
    }
    out.extend(old);
    out
}

/// Stores numeric instances of one series, in any order; returns those that were not
/// already stored.
pub(super) fn store_points(
    conn: &Connection,
    series: i64,
    mut points: Vec<Point>,
    fresh: bool,
) -> StoreResult<Vec<Point>> {
    points.sort_by_key(|p| p.time);
    let mut stored = Vec::with_capacity(points.len());
    let mut i = 0;
    while i < points.len() {
        // A series created by this write has no chunk to look for.
        let target = if fresh {
            None
        } else {
            target_chunk(conn, series, points[i].time)?
        };
        // The points up to the next chunk's start go to this one (a single one, the live
        // reading, always does).
        let j = match &target {
            Some(c) if points.len() - i > 1 => {
                let next = next_chunk_start(conn, series, c.first_time)?;
                i + points[i..].partition_point(|p| next.is_none_or(|n| p.time < n))
            }
            _ => points.len(),
        };
        let existing = match &target {
            Some(c) => decode(&c.data)?,
            None => Vec::new(),
        };
        let before = stored.len();
        let merged = merge_points(existing, &points[i..j], &mut stored);
        if stored.len() > before {
            write_chunks(conn, series, target.as_ref(), &merged)?;
        }
        i = j;
    }
    Ok(stored)
}

/// Removes raw numeric instances older than `cutoff`; returns how many.
fn thin_raw(conn: &Connection, series: i64, cutoff: i64) -> StoreResult<u64> {
    let removed: i64 = conn
        .prepare_cached(
            "SELECT COALESCE(SUM(count), 0) FROM series_chunks WHERE series = ?1 AND last_time < ?2",
        )
        .and_then(|mut s| s.query_row(params![series, cutoff], |r| r.get(0)))
        .map_err(sql_err)?;
    conn.prepare_cached("DELETE FROM series_chunks WHERE series = ?1 AND last_time < ?2")
        .and_then(|mut s| s.execute(params![series, cutoff]))
        .map_err(sql_err)?;
    let mut removed = removed.max(0) as u64;
    // The chunk straddling the cutoff, if any, keeps its newer part.
    if let Some(c) = target_chunk(conn, series, cutoff)? {
        if c.first_time < cutoff {
            let points = decode(&c.data)?;
            let keep: Vec<Point> = points
                .iter()
                .copied()
                .filter(|p| p.time >= cutoff)
                .collect();
            removed += (points.len() - keep.len()) as u64;
            write_chunks(conn, series, Some(&c), &keep)?;
        }
    }
    Ok(removed)
}

// ---------------------------------------------------------------------------------------
// Writing instances (writer thread)
// ---------------------------------------------------------------------------------------

/// What the writer remembers of a series.
#[derive(Debug, Clone)]
struct SeriesState {
    id: i64,
    /// The unit of numeric instances: `None` until the first numeric instance, then
    /// `Some("")` for none. Shared among series (see [`shared`]).
    unit: Option<Rc<str>>,
    /// Shared among series (see [`shared`]), so that the usual lookup copies no list.
    types: Rc<[String]>,
}

/// Tenant, attribute term, and the entity id followed by `\0` and the datasetId: one
/// allocation per remembered series.
type SeriesKey = (i64, i64, Box<str>);

/// Units and lists of types are few: the series remembered by the writer share them.
fn shared<T: ?Sized + PartialEq>(
    list: &RefCell<Vec<Rc<T>>>,
    value: &T,
    make: impl FnOnce() -> Rc<T>,
) -> Rc<T> {
    let mut list = list.borrow_mut();
    if let Some(found) = list.iter().find(|v| ***v == *value) {
        return found.clone();
    }
    let made = make();
    // A hostile workload may bring many: remember the most recent only.
    if list.len() >= 64 {
        list.remove(0);
    }
    list.push(made.clone());
    made
}

fn shared_types(types: &[String]) -> Rc<[String]> {
    TYPE_LISTS.with(|l| shared(l, types, || types.into()))
}

fn shared_unit(unit: &str) -> Rc<str> {
    UNITS.with(|l| shared(l, unit, || unit.into()))
}

/// Hashes the packed keys of [`ENTITY_SERIES`]: numbers the store hands out in sequence,
/// not chosen by clients, spread by one multiplication.
#[derive(Default, Clone, Copy)]
struct PackedKeyHasher(u64);

impl std::hash::Hasher for PackedKeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (n ^ self.0)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(29);
    }
}

type PackedMap = HashMap<u64, u64, std::hash::BuildHasherDefault<PackedKeyHasher>>;

/// The unit and types of a series, shared by many (see [`shared`]).
type Profile = (Option<Rc<str>>, Rc<[String]>);

/// Whose series: the tenant, the entity's id, and its row when an entity write records it.
#[derive(Clone, Copy)]
struct SeriesOwner<'a> {
    tenant: i64,
    row: Option<i64>,
    entity: &'a str,
}

/// Where the writer remembers a series: by entity row ([`ENTITY_SERIES`]) or by entity id
/// ([`SERIES`]).
enum RememberedBy {
    Row(u64),
    Id(SeriesKey),
}

/// The key of a series in [`ENTITY_SERIES`]: the entity's row (below 2^40) and the
/// attribute's term (below 2^24), or `None` beyond (then the series is remembered by id).
fn entity_series_key(row: i64, attr: i64) -> Option<u64> {
    let (row, attr) = (u64::try_from(row).ok()?, u64::try_from(attr).ok()?);
    (row < 1 << 40 && attr < 1 << 24).then_some(row << 24 | attr)
}

/// The series of a key of [`ENTITY_SERIES`], if remembered.
fn remembered_entity_series(key: u64) -> Option<SeriesState> {
    let packed = ENTITY_SERIES.with(|m| m.borrow().get(&key).copied())?;
    let profile = usize::try_from(packed >> 48).ok()?;
    let (unit, types) = SERIES_PROFILES.with(|p| p.borrow().get(profile).cloned())?;
    Some(SeriesState {
        id: i64::try_from(packed & ((1 << 48) - 1)).ok()?,
        unit,
        types,
    })
}

/// Remembers a series of an entity write by its key of [`ENTITY_SERIES`].
fn remember_entity_series(key: u64, state: &SeriesState) {
    let Ok(id) = u64::try_from(state.id) else {
        return;
    };
    if id >= 1 << 48 {
        return;
    }
    let profile = SERIES_PROFILES.with(|p| {
        let mut p = p.borrow_mut();
        if let Some(i) = p
            .iter()
            .position(|(u, t)| *u == state.unit && **t == *state.types)
        {
            return i;
        }
        if p.len() >= PROFILES {
            // Many distinct units and types: start over rather than grow.
            p.clear();
            ENTITY_SERIES.with(|m| m.borrow_mut().clear());
        }
        p.push((state.unit.clone(), state.types.clone()));
        p.len() - 1
    });
    ENTITY_SERIES.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= ENTITY_SERIES_CACHE {
            m.clear();
        }
        m.insert(key, (profile as u64) << 48 | id);
    });
}

/// Forgets the series remembered for the attributes `attrs` (terms) of the entity row
/// `row`, which is deleted: SQLite may give its row number to a new entity.
pub(super) fn forget_entity_series(row: i64, attrs: impl IntoIterator<Item = i64>) {
    ENTITY_SERIES.with(|m| {
        let mut m = m.borrow_mut();
        for attr in attrs {
            if let Some(key) = entity_series_key(row, attr) {
                m.remove(&key);
            }
        }
    });
}

thread_local! {
    /// Series known to the writer thread, committed or written by the open transaction;
    /// forgotten whenever a transaction is rolled back.
    static SERIES: RefCell<HashMap<SeriesKey, SeriesState>> = RefCell::new(HashMap::new());
    /// The series of entity writes (default instances), by entity row and attribute
    /// ([`entity_series_key`]): the series id in the low 48 bits of the value, the index of
    /// its unit and types in [`SERIES_PROFILES`] in the high 16. No allocation per series.
    static ENTITY_SERIES: RefCell<PackedMap> = RefCell::new(PackedMap::default());
    /// Units and types of the series in [`ENTITY_SERIES`].
    static SERIES_PROFILES: RefCell<Vec<Profile>> = const { RefCell::new(Vec::new()) };
    /// Lists of types of the remembered series.
    static TYPE_LISTS: RefCell<Vec<Rc<[String]>>> = const { RefCell::new(Vec::new()) };
    /// Units of the remembered series.
    static UNITS: RefCell<Vec<Rc<str>>> = const { RefCell::new(Vec::new()) };
    /// Time zones of tenants, as the writer last wrote or read them.
    static ZONES: RefCell<HashMap<i64, Tz>> = RefCell::new(HashMap::new());
}

/// Forgets what the writer remembers of series and time zones (after a rollback).
pub(super) fn forget_cache() {
    history_log::forget();
    SERIES.with(|s| s.borrow_mut().clear());
    ENTITY_SERIES.with(|s| s.borrow_mut().clear());
    SERIES_PROFILES.with(|s| s.borrow_mut().clear());
    ZONES.with(|z| z.borrow_mut().clear());
}

fn read_time_zone(conn: &Connection, tenant: i64) -> StoreResult<Tz> {
    let name: Option<String> = conn
        .prepare_cached("SELECT tz FROM tenant_time_zones WHERE tenant = ?1")
        .and_then(|mut s| s.query_row([tenant], |r| r.get(0)).optional())
        .map_err(sql_err)?;
    match name {
        None => Ok(DEFAULT_TIME_ZONE),
        Some(n) => n
            .parse::<Tz>()
            .map_err(|_| StoreError::Corrupt(format!("stored time zone '{n}' is unknown"))),
    }
}

/// The tenant's time zone, remembered by the writer.
pub(super) fn writer_time_zone(conn: &Connection, tenant: i64) -> StoreResult<Tz> {
    if let Some(tz) = ZONES.with(|z| z.borrow().get(&tenant).copied()) {
        return Ok(tz);
    }
    let tz = read_time_zone(conn, tenant)?;
    ZONES.with(|z| z.borrow_mut().insert(tenant, tz));
    Ok(tz)
}

/// The series of an attribute of an entity, created on first use, with the entity's
/// current types recorded and, once known, the unit of its numbers (`unit`: the unit of the
/// first numeric instance being written, `""` for none). Also says whether the series was
/// created by this call (then it has no instance yet).
fn series_for(
    conn: &Connection,
    owner: &SeriesOwner<'_>,
    attr: &str,
    dataset: &str,
    types: &[String],
    unit: Option<&str>,
) -> StoreResult<(SeriesState, bool)> {
    let SeriesOwner {
        tenant,
        row,
        entity,
    } = *owner;
    let attr = term_id(conn, attr)?;
    // An entity write's default instance is remembered by entity row, without a key to
    // build; other series (datasets, appended histories) by entity id.
    let key = match row
        .filter(|_| dataset.is_empty())
        .and_then(|row| entity_series_key(row, attr))
    {
        Some(packed) => RememberedBy::Row(packed),
        None => RememberedBy::Id((
            tenant,
            attr,
            format!("{entity}\0{dataset}").into_boxed_str(),
        )),
    };
    let cached = match &key {
        RememberedBy::Row(packed) => remembered_entity_series(*packed),
        RememberedBy::Id(key) => SERIES.with(|s| s.borrow().get(key).cloned()),
    };
    let remember_it = |state: &SeriesState, key: RememberedBy| match key {
        RememberedBy::Row(packed) => remember_entity_series(packed, state),
        RememberedBy::Id(key) => remember(key, state),
    };
    let fits = |state: &SeriesState| {
        (*state.types == *types || types.is_empty()) && (state.unit.is_some() || unit.is_none())
    };
    let mut state = match cached {
        // The usual case: known series, same types, unit known; nothing to write.
        Some(state) if fits(&state) => return Ok((state, false)),
        Some(state) => state,
        None => {
            // The series usually exists (a reading of a known meter): look it up first.
            let found: Option<(i64, Option<String>, String)> = conn
                .prepare_cached(
                    "SELECT id, unit, types FROM series WHERE tenant = ?1 AND entity = ?2 \
                     AND attr = ?3 AND dataset = ?4",
                )
                .and_then(|mut s| {
                    s.query_row(params![tenant, entity, attr, dataset], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .optional()
                })
                .map_err(sql_err)?;
            let Some((id, unit_found, t)) = found else {
                let t = serde_json::to_string(types).map_err(corrupt)?;
                let id: i64 = conn
                    .prepare_cached(
                        "INSERT INTO series (tenant, entity, attr, dataset, unit, types) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
                    )
                    .and_then(|mut s| {
                        s.query_row(params![tenant, entity, attr, dataset, unit, t], |r| {
                            r.get(0)
                        })
                    })
                    .map_err(sql_err)?;
                let state = SeriesState {
                    id,
                    unit: unit.map(shared_unit),
                    types: shared_types(types),
                };
                remember_it(&state, key);
                return Ok((state, true));
            };
            SeriesState {
                id,
                unit: unit_found.as_deref().map(shared_unit),
                types: shared_types(&serde_json::from_str::<Vec<String>>(&t).map_err(corrupt)?),
            }
        }
    };
    if *state.types != *types && !types.is_empty() {
        let t = serde_json::to_string(types).map_err(corrupt)?;
        conn.prepare_cached("UPDATE series SET types = ?2 WHERE id = ?1")
            .and_then(|mut s| s.execute(params![state.id, t]))
            .map_err(sql_err)?;
        state.types = shared_types(types);
    }
    if let (None, Some(u)) = (&state.unit, unit) {
        conn.prepare_cached("UPDATE series SET unit = ?2 WHERE id = ?1")
            .and_then(|mut s| s.execute(params![state.id, u]))
            .map_err(sql_err)?;
        state.unit = Some(shared_unit(u));
    }
    remember_it(&state, key);
    Ok((state, false))
}

fn remember(key: SeriesKey, state: &SeriesState) {
    SERIES.with(|s| {
        let mut s = s.borrow_mut();
        if s.len() >= SERIES_CACHE {
            s.clear();
        }
        s.insert(key, state.clone());
    });
}

/// Whether an instance could be a plain number of some series (then the first one decides
/// the unit of the series).
fn numeric_candidate(a: &Attribute) -> bool {
    a.sub.is_empty() && matches!(&a.value, AttributeValue::Property(v) if v.is_number())
}

/// Appends the changed attribute instances (expanded name, instance) of an entity write to
/// the history: numbers of an existing series to the log (see [`history_log`]), numbers of
/// a new series into chunks and rollups, everything else as documents. The time of an
/// instance is its `observedAt`, else its time of receipt: the `modifiedAt` it carries (an
/// entity write sets it to the time of the write; an instance copied from another store
/// keeps its own), else `now`.
pub(super) fn record(
    conn: &Connection,
    tenant: i64,
    row: i64,
    entity: &str,
    types: &[String],
    instances: &[(&str, &Attribute)],
    now: DateTime<Utc>,
) -> StoreResult<AppendReport> {
    record_in(conn, tenant, Some(row), entity, types, instances, now, true)
}

/// [`record`], numbers of existing series going to the log (`log`) or straight into chunks
/// and rollups, which counts duplicates exactly (bulk appends).
#[allow(clippy::too_many_arguments)]
fn record_in(
    conn: &Connection,
    tenant: i64,
    row: Option<i64>,
    entity: &str,
    types: &[String],
    instances: &[(&str, &Attribute)],
    now: DateTime<Utc>,
    log: bool,
) -> StoreResult<AppendReport> {
    let mut report = AppendReport::default();
    let created = micros(now);
    // Group by series, keeping the order of arrival within each.
    let mut groups: BTreeMap<(&str, &str), Vec<&Attribute>> = BTreeMap::new();
    for (name, a) in instances {
        groups
            .entry((name, a.dataset_id.as_deref().unwrap_or("")))
            .or_default()
            .push(a);
    }
    for ((name, dataset), attrs) in groups {
        // The first numeric instance decides the unit of a new series.
        let unit_hint = attrs
            .iter()
            .find(|a| numeric_candidate(a))
            .map(|a| a.unit_code.as_deref().unwrap_or(""));
        let owner = SeriesOwner {
            tenant,
            row,
            entity,
        };
        let (state, fresh) = series_for(conn, &owner, name, dataset, types, unit_hint)?;
        let unit = state.unit.as_deref().filter(|u| !u.is_empty());
        let mut points = Vec::new();
        for a in attrs {
            // An instance read back from a history (a migration) keeps its time of receipt.
            let created = a.modified_at.map_or(created, micros);
            let time = a.observed_at.map_or(created, micros);
            if state.unit.is_some() {
                if let Some(value) = plain_number(a, unit) {
                    points.push(Point {
                        time,
                        value,
                        created,
                        observed: a.observed_at.is_some(),
                    });
                    continue;
                }
            }
            let mut doc = a.clone();
            doc.dataset_id = None;
            doc.created_at = None;
            doc.modified_at = None;
            let doc = serde_json::to_string(&doc).map_err(corrupt)?;
            let n = conn
                .prepare_cached(
                    "INSERT OR IGNORE INTO series_docs (series, time, hash, created, doc) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .and_then(|mut s| {
                    s.execute(params![state.id, time, doc_hash(&doc) as i64, created, doc])
                })
                .map_err(sql_err)?;
            if n > 0 {
                report.stored += 1;
            } else {
                report.duplicates += 1;
            }
        }
        if !points.is_empty() && log && !fresh {
            history_log::append(conn, state.id, &points)?;
            report.stored += points.len() as u64;
        } else if !points.is_empty() {
            if !fresh {
                // Logged readings first, so that duplicates of them are told apart.
                history_log::fold_series(conn, state.id)?;
            }
            let total = points.len() as u64;
            let stored = store_points(conn, state.id, points, fresh)?;
            report.stored += stored.len() as u64;
            report.duplicates += total - stored.len() as u64;
            add_to_rollups(conn, state.id, &stored, writer_time_zone(conn, tenant)?)?;
        }
    }
    Ok(report)
}

// ---------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------

/// A series as read back.
struct SeriesRow {
    id: i64,
    attr: String,
    dataset: String,
    unit: Option<String>,
    types: Vec<String>,
}

/// The series of one entity of a tenant, by attribute name and datasetId, restricted to
/// `attrs` when given.
fn entity_series(
    conn: &Connection,
    tenant: i64,
    entity: &str,
    attrs: Option<&[String]>,
) -> StoreResult<Vec<SeriesRow>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT s.id, t.iri, s.dataset, s.unit, s.types FROM series s JOIN terms t ON t.id = s.attr \
             WHERE s.tenant = ?1 AND s.entity = ?2 ORDER BY t.iri, s.dataset",
        )
        .map_err(sql_err)?;
    let mut rows = stmt.query(params![tenant, entity]).map_err(sql_err)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(sql_err)? {
        let attr: String = r.get(1).map_err(sql_err)?;
        if attrs.is_some_and(|list| !list.contains(&attr)) {
            continue;
        }
        let types: String = r.get(4).map_err(sql_err)?;
        out.push(SeriesRow {
            id: r.get(0).map_err(sql_err)?,
            attr,
            dataset: r.get(2).map_err(sql_err)?,
            unit: r.get(3).map_err(sql_err)?,
            types: serde_json::from_str(&types).map_err(corrupt)?,
        });
    }
    Ok(out)
}

/// The types recorded for an entity: those of its series, without repeats.
fn entity_types(series: &[SeriesRow]) -> Vec<String> {
    let mut types: Vec<String> = series.iter().flat_map(|s| s.types.clone()).collect();
    types.sort();
    types.dedup();
    types
}

/// One stored document instance.
struct DocRow {
    time: i64,
    hash: i64,
    created: i64,
    doc: String,
}

/// The document instances of a series with `from <= time < to`, in time order; the last
/// `last` of them only when given.
fn docs_in(
    conn: &Connection,
    series: i64,
    from: i64,
    to: i64,
    last: Option<u32>,
) -> StoreResult<Vec<DocRow>> {
    let sql = if last.is_some() {
        "SELECT time, hash, created, doc FROM series_docs WHERE series = ?1 AND time >= ?2 AND time < ?3 \
         ORDER BY time DESC, hash DESC LIMIT ?4"
    } else {
        "SELECT time, hash, created, doc FROM series_docs WHERE series = ?1 AND time >= ?2 AND time < ?3 \
         ORDER BY time, hash LIMIT ?4"
    };
    let mut stmt = conn.prepare_cached(sql).map_err(sql_err)?;
    let limit = last.map_or(-1, i64::from);
    let rows = stmt
        .query_map(params![series, from, to, limit], |r| {
            Ok(DocRow {
                time: r.get(0)?,
                hash: r.get(1)?,
                created: r.get(2)?,
                doc: r.get(3)?,
            })
        })
        .map_err(sql_err)?;
    let mut out = rows.collect::<Result<Vec<_>, _>>().map_err(sql_err)?;
    if last.is_some() {
        out.reverse();
    }
    Ok(out)
}

/// The last `n` numeric instances of a series with `from <= time < to`, oldest first.
fn last_points(
    conn: &Connection,
    series: i64,
    from: i64,
    to: i64,
    n: usize,
) -> StoreResult<Vec<Point>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT data FROM series_chunks WHERE series = ?1 AND first_time < ?2 ORDER BY first_time DESC",
        )
        .map_err(sql_err)?;
    let mut rows = stmt.query(params![series, to]).map_err(sql_err)?;
    let mut out: Vec<Point> = Vec::new();
    while let Some(r) = rows.next().map_err(sql_err)? {
        let data = r.get_ref(0).map_err(sql_err)?.as_blob().map_err(corrupt)?;
        let points = decode(data)?;
        let reached_start = points.first().is_some_and(|p| p.time < from);
        let mut chunk: Vec<Point> = points
            .into_iter()
            .filter(|p| p.time >= from && p.time < to)
            .collect();
        chunk.append(&mut out);
        out = chunk;
        if out.len() >= n || reached_start {
            break;
        }
    }
    let mut out = history_log::merged(out, &history_log::tail(conn, series)?, from, to);
    let skip = out.len().saturating_sub(n);
    Ok(out.split_off(skip))
}

/// Every numeric instance of a series, in time order.
fn all_points(conn: &Connection, series: i64) -> StoreResult<Vec<Point>> {
    points_in(conn, series, i64::MIN, i64::MAX)
}

fn numeric_instance(s: &SeriesRow, p: &Point) -> StoreResult<Instance> {
    let mut a = Attribute::new(AttributeValue::Property(number_json(p.value)));
    a.dataset_id = (!s.dataset.is_empty()).then(|| s.dataset.clone());
    a.unit_code = s.unit.clone().filter(|u| !u.is_empty());
    if p.observed {
        a.observed_at = Some(from_micros(p.time)?);
    }
    let created = from_micros(p.created)?;
    a.created_at = Some(created);
    a.modified_at = Some(created);
    Ok(Instance {
        instance_id: instance_id(s.id, p.time, number_hash(p.value)),
        attribute: a,
        created_at: created,
    })
}

fn doc_instance(s: &SeriesRow, d: &DocRow) -> StoreResult<Instance> {
    let mut a: Attribute = serde_json::from_str(&d.doc)
        .map_err(|e| StoreError::Corrupt(format!("history document: {e}")))?;
    a.dataset_id = (!s.dataset.is_empty()).then(|| s.dataset.clone());
    let created = from_micros(d.created)?;
    a.created_at = Some(created);
    a.modified_at = Some(created);
    Ok(Instance {
        instance_id: instance_id(s.id, d.time, d.hash as u64),
        attribute: a,
        created_at: created,
    })
}

/// The instances of one series that a history query selects, oldest first.
fn series_history(
    conn: &Connection,
    s: &SeriesRow,
    query: &TemporalQuery,
) -> StoreResult<Vec<Instance>> {
    let (from, to) = range_bounds(query);
    let mut keyed: Vec<(i64, Instance)> = Vec::new();
    match query.time_property {
        TimeProperty::DeletedAt => return Ok(Vec::new()),
        TimeProperty::ObservedAt => {
            let points = match query.last_n {
                Some(n) => last_points(conn, s.id, from, to, n as usize)?,
                None => points_in(conn, s.id, from, to)?,
            };
            for p in &points {
                keyed.push((p.time, numeric_instance(s, p)?));
            }
            for d in docs_in(conn, s.id, from, to, query.last_n)? {
                keyed.push((d.time, doc_instance(s, &d)?));
            }
        }
        TimeProperty::CreatedAt | TimeProperty::ModifiedAt => {
            // The time of receipt is not indexed: read the whole series (rare queries).
            for p in all_points(conn, s.id)? {
                if p.created >= from && p.created < to {
                    keyed.push((p.created, numeric_instance(s, &p)?));
                }
            }
            for d in docs_in(conn, s.id, i64::MIN, i64::MAX, None)? {
                if d.created >= from && d.created < to {
                    keyed.push((d.created, doc_instance(s, &d)?));
                }
            }
        }
    }
    keyed.sort_by_key(|(t, _)| *t);
    if let Some(n) = query.last_n {
        let skip = keyed.len().saturating_sub(n as usize);
        keyed.drain(..skip);
    }
    Ok(keyed.into_iter().map(|(_, i)| i).collect())
}

// ---------------------------------------------------------------------------------------
// Aggregation
// ---------------------------------------------------------------------------------------

/// Reads the rollup rows of a run of consecutive pieces of one level and merges each into
/// its bucket.
fn read_rollups(
    conn: &Connection,
    series: i64,
    level: Level,
    run: &[Piece],
    keys: (i64, i64),
    accs: &mut [Option<Accumulator>],
) -> StoreResult<()> {
    let (t, k) = (level.table(), level.key());
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {k}, count, sum, sumsq, min, max FROM {t} WHERE series = ?1 AND {k} >= ?2 AND {k} <= ?3"
        ))
        .map_err(sql_err)?;
    let mut rows = stmt
        .query(params![series, keys.0, keys.1])
        .map_err(sql_err)?;
    while let Some(r) = rows.next().map_err(sql_err)? {
        let key: i64 = r.get(0).map_err(sql_err)?;
        let s = Summary::from_row(r, 1).map_err(sql_err)?;
        // Keys of a run are consecutive, so the piece of a key is at its offset.
        if let Some(p) = usize::try_from(key - keys.0).ok().and_then(|i| run.get(i)) {
            merge_into(accs, p.bucket, s.accumulator());
        }
    }
    Ok(())
}

/// The extent `[first, last]` of the instance times of a series, if it has any.
fn series_extent(conn: &Connection, series: i64, tz: Tz) -> StoreResult<Option<(i64, i64)>> {
    let (a, b): (Option<i64>, Option<i64>) = conn
        .prepare_cached(
            "SELECT (SELECT min(first_time) FROM series_chunks WHERE series = ?1), \
             (SELECT max(last_time) FROM series_chunks WHERE series = ?1)",
        )
        .and_then(|mut s| s.query_row([series], |r| Ok((r.get(0)?, r.get(1)?))))
        .map_err(sql_err)?;
    let (c, d): (Option<i64>, Option<i64>) = conn
        .prepare_cached("SELECT min(time), max(time) FROM series_docs WHERE series = ?1")
        .and_then(|mut s| s.query_row([series], |r| Ok((r.get(0)?, r.get(1)?))))
        .map_err(sql_err)?;
    let (e, f): (Option<i64>, Option<i64>) = conn
        .prepare_cached("SELECT min(time), max(time) FROM history_log WHERE series = ?1")
        .and_then(|mut s| s.query_row([series], |r| Ok((r.get(0)?, r.get(1)?))))
        .map_err(sql_err)?;
    // Rollups outlive thinned raw instances: their periods count too.
    let (hour, day): (Option<i64>, Option<i64>) = conn
        .prepare_cached(
            "SELECT (SELECT min(hour) FROM rollup_hourly WHERE series = ?1), \
             (SELECT min(day) FROM rollup_daily WHERE series = ?1)",
        )
        .and_then(|mut s| s.query_row([series], |r| Ok((r.get(0)?, r.get(1)?))))
        .map_err(sql_err)?;
    let hour = hour.map(|h| h * HOUR_MICROS);
    let day = match day {
        Some(d) => Some(day_bounds(d, &day_grid(tz)?)?.0),
        None => None,
    };
    let first = [a, c, e, hour, day].into_iter().flatten().min();
    let last = [b, d, f].into_iter().flatten().max();
    Ok(first.zip(last))
}

/// Aggregates one series: rollups for the whole days and hours of each bucket, raw
/// instances for the rest, documents (never in rollups) one by one.
fn aggregate_series(
    conn: &Connection,
    s: &SeriesRow,
    query: &TemporalQuery,
    tz: Tz,
    tenant_tz: Tz,
    memo: &mut Memo,
) -> StoreResult<Vec<(Bucket, Accumulator)>> {
    let methods = &query.aggr_methods;
    let (mut from, mut to) = range_bounds(query);
    let by_time = query.time_property == TimeProperty::ObservedAt;
    if query.time_property == TimeProperty::DeletedAt {
        return Ok(Vec::new());
    }
    // Instances taken one by one: (time of the query's time property, value).
    let mut singles: Vec<(i64, Value)> = Vec::new();
    if !by_time {
        for p in all_points(conn, s.id)? {
            singles.push((p.created, number_json(p.value)));
        }
        for d in docs_in(conn, s.id, i64::MIN, i64::MAX, None)? {
            let a: Attribute = serde_json::from_str(&d.doc).map_err(corrupt)?;
            singles.push((d.created, value_json(&a.value)));
        }
        singles.retain(|(t, _)| *t >= from && *t < to);
        let Some(first) = singles.iter().map(|(t, _)| *t).min() else {
            return Ok(Vec::new());
        };
        let last = singles.iter().map(|(t, _)| *t).max().unwrap_or(first);
        from = from.max(first);
        to = to.min(last.saturating_add(1));
    } else {
        let Some((first, last)) = series_extent(conn, s.id, tenant_tz)? else {
            return Ok(Vec::new());
        };
        if from == i64::MIN {
            from = first;
        }
        if to == i64::MAX {
            to = last.saturating_add(1);
        }
    }
    if from >= to {
        return Ok(Vec::new());
    }
    let buckets = memo.buckets_of(query, tz, from, to)?;
    let mut accs: Vec<Option<Accumulator>> = vec![None; buckets.len()];

    if by_time {
        let pieces = plan_pieces(query, &buckets, tz, tenant_tz, from, to, memo)?;
        // Runs of consecutive pieces of one kind are read with one query each.
        for run in runs(&pieces) {
            let run = &pieces[run];
            match (run[0].source, run[run.len() - 1].source) {
                (Source::Day(a), Source::Day(b)) => {
                    read_rollups(conn, s.id, Level::Daily, run, (a, b), &mut accs)?
                }
                (Source::Hour(a), Source::Hour(b)) => {
                    read_rollups(conn, s.id, Level::Hourly, run, (a, b), &mut accs)?
                }
                _ => {
                    let points = points_in(conn, s.id, run[0].start, run[run.len() - 1].end)?;
                    for p in points {
                        let i = run.partition_point(|q| q.start <= p.time);
                        if let Some(q) = i.checked_sub(1).and_then(|i| run.get(i)) {
                            add_into(&mut accs, q.bucket, &number_json(p.value), methods);
                        }
                    }
                }
            }
        }
        // Logged readings are in no rollup yet: add them where rollups serve (raw pieces
        // read them above).
        let tail = history_log::tail(conn, s.id)?;
        for p in tail.iter().filter(|p| p.time >= from && p.time < to) {
            let i = pieces.partition_point(|q| q.start <= p.time);
            if let Some(q) = i.checked_sub(1).and_then(|i| pieces.get(i)) {
                if q.source != Source::Raw && p.time < q.end {
                    add_into(&mut accs, q.bucket, &number_json(p.value), methods);
                }
            }
        }
        for d in docs_in(conn, s.id, from, to, None)? {
            let a: Attribute = serde_json::from_str(&d.doc).map_err(corrupt)?;
            singles.push((d.time, value_json(&a.value)));
        }
    }
    for (t, v) in &singles {
        if let Some(i) = bucket_index(&buckets, *t) {
            add_into(&mut accs, i, v, methods);
        }
    }
    Ok(buckets
        .into_iter()
        .zip(accs)
        .filter_map(|(b, a)| a.filter(|a| a.total_count() > 0).map(|a| (b, a)))
        .collect())
}

// ---------------------------------------------------------------------------------------
// Deleting, time zones, retention
// ---------------------------------------------------------------------------------------

/// Deletes one instance by id; returns how many were removed (0 or 1, more only if the same
/// value was stored twice at one time, which the store prevents).
fn delete_instance(
    conn: &Connection,
    tenant: i64,
    entity: &str,
    attr: Option<&str>,
    id: &str,
) -> StoreResult<u64> {
    let Some((series, time, hash)) = parse_instance_id(id) else {
        return Err(StoreError::Rejected(NgsiError::bad_data(format!(
            "'{id}' is not an instanceId of this broker: use an instanceId read from the \
             temporal representation of the entity"
        ))));
    };
    let owner: Option<String> = conn
        .prepare_cached(
            "SELECT t.iri FROM series s JOIN terms t ON t.id = s.attr \
             WHERE s.id = ?1 AND s.tenant = ?2 AND s.entity = ?3",
        )
        .and_then(|mut s| {
            s.query_row(params![series, tenant, entity], |r| r.get(0))
                .optional()
        })
        .map_err(sql_err)?;
    match owner {
        Some(a) if attr.is_none_or(|x| x == a) => {}
        _ => return Ok(0),
    }
    history_log::fold_series(conn, series)?;
    let n = conn
        .prepare_cached("DELETE FROM series_docs WHERE series = ?1 AND time = ?2 AND hash = ?3")
        .and_then(|mut s| s.execute(params![series, time, hash as i64]))
        .map_err(sql_err)?;
    if n > 0 {
        return Ok(n as u64);
    }
    let Some(chunk) = target_chunk(conn, series, time)? else {
        return Ok(0);
    };
    let points = decode(&chunk.data)?;
    let keep: Vec<Point> = points
        .iter()
        .copied()
        .filter(|p| !(p.time == time && number_hash(p.value) == hash))
        .collect();
    let removed = (points.len() - keep.len()) as u64;
    if removed > 0 {
        write_chunks(conn, series, Some(&chunk), &keep)?;
        recompute_rollups(conn, series, time, writer_time_zone(conn, tenant)?)?;
    }
    Ok(removed)
}

/// Deletes every instance and rollup of the given series; returns the instances removed.
fn delete_series_data(conn: &Connection, series: &[i64]) -> StoreResult<u64> {
    let mut removed = 0u64;
    for id in series {
        history_log::fold_series(conn, *id)?;
        let (chunks, docs): (i64, i64) = conn
            .prepare_cached(
                "SELECT (SELECT COALESCE(SUM(count), 0) FROM series_chunks WHERE series = ?1), \
                 (SELECT COUNT(*) FROM series_docs WHERE series = ?1)",
            )
            .and_then(|mut s| s.query_row([id], |r| Ok((r.get(0)?, r.get(1)?))))
            .map_err(sql_err)?;
        removed += (chunks + docs).max(0) as u64;
        for sql in [
            "DELETE FROM series_chunks WHERE series = ?1",
            "DELETE FROM series_docs WHERE series = ?1",
            "DELETE FROM rollup_hourly WHERE series = ?1",
            "DELETE FROM rollup_daily WHERE series = ?1",
        ] {
            conn.prepare_cached(sql)
                .and_then(|mut s| s.execute([id]))
                .map_err(sql_err)?;
        }
    }
    Ok(removed)
}

/// Rebuilds the daily rollups of a tenant in `tz`: from raw instances where they are kept,
/// from hourly rollups (each hour in the day it starts in) where retention removed them.
fn rebuild_daily(conn: &Connection, tenant: i64, tz: Tz) -> StoreResult<()> {
    let series: Vec<(i64, Option<i64>)> = conn
        .prepare_cached("SELECT id, thinned_before FROM series WHERE tenant = ?1")
        .and_then(|mut s| {
            s.query_map([tenant], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })
        .map_err(sql_err)?;
    for (id, thinned) in series {
        conn.prepare_cached("DELETE FROM rollup_daily WHERE series = ?1")
            .and_then(|mut s| s.execute([id]))
            .map_err(sql_err)?;
        let mut days: BTreeMap<i64, Summary> = BTreeMap::new();
        for p in all_points(conn, id)? {
            days.entry(day_of(p.time, tz))
                .or_insert_with(Summary::new)
                .add(p.value);
        }
        if let Some(before) = thinned {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT hour, count, sum, sumsq, min, max FROM rollup_hourly \
                     WHERE series = ?1 AND hour < ?2",
                )
                .map_err(sql_err)?;
            let mut rows = stmt
                .query(params![id, before.div_euclid(HOUR_MICROS)])
                .map_err(sql_err)?;
            while let Some(r) = rows.next().map_err(sql_err)? {
                let hour: i64 = r.get(0).map_err(sql_err)?;
                let s = Summary::from_row(r, 1).map_err(sql_err)?;
                days.entry(day_of(hour * HOUR_MICROS, tz))
                    .or_insert_with(Summary::new)
                    .merge(&s);
            }
        }
        upsert_rollups(conn, id, Level::Daily, &days, true)?;
    }
    Ok(())
}

fn report_from_row(r: &rusqlite::Row<'_>, tenant: &str) -> StoreResult<RetentionReport> {
    let t: String = r.get(1).map_err(sql_err)?;
    Ok(RetentionReport {
        tenant: tenant.to_string(),
        ran_at: from_micros(r.get(0).map_err(sql_err)?)?,
        entity_type: (!t.is_empty()).then_some(t),
        level: r.get(2).map_err(sql_err)?,
        cutoff: from_micros(r.get(3).map_err(sql_err)?)?,
        removed: r.get::<_, i64>(4).map_err(sql_err)?.max(0) as u64,
    })
}

/// Applies the retention policies of one tenant as of `now`.
fn apply_tenant_retention(
    conn: &Connection,
    tenant: i64,
    name: &str,
    now: DateTime<Utc>,
) -> StoreResult<Vec<RetentionReport>> {
    let policies = read_policies(conn, tenant)?;
    if policies.is_empty() {
        return Ok(Vec::new());
    }
    let tz = writer_time_zone(conn, tenant)?;
    let series: Vec<(i64, String)> = conn
        .prepare_cached("SELECT id, types FROM series WHERE tenant = ?1")
        .and_then(|mut s| {
            s.query_map([tenant], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })
        .map_err(sql_err)?;
    // Each series follows the policy of the first of its types that has one, else the
    // default policy.
    let mut members: Vec<Vec<i64>> = vec![Vec::new(); policies.len()];
    for (id, types) in series {
        let types: Vec<String> = serde_json::from_str(&types).map_err(corrupt)?;
        let own = types.iter().find_map(|t| {
            policies
                .iter()
                .position(|p| p.entity_type.as_deref() == Some(t.as_str()))
        });
        if let Some(i) = own.or_else(|| policies.iter().position(|p| p.entity_type.is_none())) {
            members[i].push(id);
        }
    }
    let grid = day_grid(tz)?;
    let mut reports = Vec::new();
    for (policy, ids) in policies.iter().zip(&members) {
        for (level, days) in [
            ("raw", policy.raw_days),
            ("hourly", policy.hourly_days),
            ("daily", policy.daily_days),
        ] {
            let Some(days) = days else { continue };
            let cutoff = micros(now) - i64::from(days) * 86_400_000_000;
            let mut removed = 0u64;
            // Only what a coarser rollup summarises goes: raw instances of whole hours
            // (their hourly rollups are written with them), hourly rows of whole local days.
            let cutoff = match level {
                "raw" => {
                    let c = cutoff.div_euclid(HOUR_MICROS) * HOUR_MICROS;
                    for id in ids {
                        removed += thin_raw(conn, *id, c)?;
                        conn.prepare_cached(
                            "UPDATE series SET thinned_before = max(COALESCE(thinned_before, ?2), ?2) WHERE id = ?1",
                        )
                        .and_then(|mut s| s.execute(params![id, c]))
                        .map_err(sql_err)?;
                    }
                    c
                }
                "hourly" => {
                    let c = grid
                        .bucket_of(from_micros(cutoff)?)
                        .map_or(cutoff, |b| micros(b.start));
                    let hour = c.div_euclid(HOUR_MICROS);
                    for id in ids {
                        removed += conn
                            .prepare_cached(
                                "DELETE FROM rollup_hourly WHERE series = ?1 AND hour < ?2",
                            )
                            .and_then(|mut s| s.execute(params![id, hour]))
                            .map_err(sql_err)? as u64;
                    }
                    c
                }
                _ => {
                    let day = day_of(cutoff, tz);
                    for id in ids {
                        removed += conn
                            .prepare_cached(
                                "DELETE FROM rollup_daily WHERE series = ?1 AND day < ?2",
                            )
                            .and_then(|mut s| s.execute(params![id, day]))
                            .map_err(sql_err)? as u64;
                    }
                    day_bounds(day, &grid)?.0
                }
            };
            conn.prepare_cached(
                "INSERT INTO retention_reports (tenant, ran_at, entity_type, level, cutoff, removed) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    tenant,
                    micros(now),
                    policy.entity_type.as_deref().unwrap_or(""),
                    level,
                    cutoff,
                    removed as i64
                ])
            })
            .map_err(sql_err)?;
            reports.push(RetentionReport {
                tenant: name.to_string(),
                ran_at: now,
                entity_type: policy.entity_type.clone(),
                level: level.to_string(),
                cutoff: from_micros(cutoff)?,
                removed,
            });
        }
    }
    Ok(reports)
}

fn read_policies(conn: &Connection, tenant: i64) -> StoreResult<Vec<RetentionPolicy>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT entity_type, raw_days, hourly_days, daily_days FROM retention_policies \
             WHERE tenant = ?1 ORDER BY entity_type",
        )
        .map_err(sql_err)?;
    let rows = stmt
        .query_map([tenant], |r| {
            let t: String = r.get(0)?;
            let days = |i| -> rusqlite::Result<Option<u32>> {
                Ok(r.get::<_, Option<i64>>(i)?
                    .map(|d| u32::try_from(d.max(0)).unwrap_or(u32::MAX)))
            };
            Ok(RetentionPolicy {
                entity_type: (!t.is_empty()).then_some(t),
                raw_days: days(1)?,
                hourly_days: days(2)?,
                daily_days: days(3)?,
            })
        })
        .map_err(sql_err)?;
    rows.collect::<Result<_, _>>().map_err(sql_err)
}

/// The number of rows and bytes of payload of a tenant's raw history, and of everyone's.
fn payload_bytes(conn: &Connection, tenant: i64) -> StoreResult<(i64, i64)> {
    conn.prepare_cached(
        "SELECT \
           COALESCE((SELECT SUM(length(c.data)) FROM series_chunks c JOIN series s ON s.id = c.series WHERE s.tenant = ?1), 0) + \
           COALESCE((SELECT SUM(length(d.doc)) FROM series_docs d JOIN series s ON s.id = d.series WHERE s.tenant = ?1), 0), \
           COALESCE((SELECT SUM(length(data)) FROM series_chunks), 0) + \
           COALESCE((SELECT SUM(length(doc)) FROM series_docs), 0)",
    )
    .and_then(|mut s| s.query_row([tenant], |r| Ok((r.get(0)?, r.get(1)?))))
    .map_err(sql_err)
}

#[async_trait]
impl TemporalStore for SqliteStore {
    async fn append_history(
        &self,
        tenant: &str,
        entity_id: &str,
        types: &[String],
        instances: Vec<(String, Attribute)>,
    ) -> StoreResult<AppendReport> {
        let (tenant, entity, types) = (tenant.to_string(), entity_id.to_string(), types.to_vec());
        if entity.is_empty() {
            return Err(StoreError::Rejected(NgsiError::bad_data(
                "the entity id of the history to append is empty: give the id of the entity",
            )));
        }
        self.writer
            .submit(move |conn| {
                let tenant = ensure_tenant(conn, &tenant)?;
                let refs: Vec<(&str, &Attribute)> =
                    instances.iter().map(|(n, a)| (n.as_str(), a)).collect();
                record_in(
                    conn,
                    tenant,
                    None,
                    &entity,
                    &types,
                    &refs,
                    Utc::now(),
                    false,
                )
            })
            .await
    }

    async fn history(
        &self,
        tenant: &str,
        ids: &[String],
        attrs: Option<&[String]>,
        query: &TemporalQuery,
    ) -> StoreResult<Vec<EntityHistory>> {
        let (tenant, ids, query) = (tenant.to_string(), ids.to_vec(), query.clone());
        let attrs = attrs.map(<[String]>::to_vec);
        self.read(move |conn| {
            let Some(tenant) = tenant_id(conn, &tenant)? else {
                return Ok(Vec::new());
            };
            let mut out = Vec::new();
            for id in ids {
                let series = entity_series(conn, tenant, &id, attrs.as_deref())?;
                let mut histories = Vec::new();
                for s in &series {
                    let instances = series_history(conn, s, &query)?;
                    if !instances.is_empty() {
                        histories.push(AttributeHistory {
                            name: s.attr.clone(),
                            dataset_id: (!s.dataset.is_empty()).then(|| s.dataset.clone()),
                            instances,
                        });
                    }
                }
                if !histories.is_empty() {
                    out.push(EntityHistory {
                        id,
                        types: entity_types(&series),
                        attrs: histories,
                    });
                }
            }
            Ok(out)
        })
        .await
    }

    async fn aggregate(
        &self,
        tenant: &str,
        ids: &[String],
        attrs: Option<&[String]>,
        query: &TemporalQuery,
        tz: Tz,
    ) -> StoreResult<Vec<EntityAggregate>> {
        let (tenant, ids, query) = (tenant.to_string(), ids.to_vec(), query.clone());
        let attrs = attrs.map(<[String]>::to_vec);
        self.read(move |conn| {
            let Some(tenant) = tenant_id(conn, &tenant)? else {
                return Ok(Vec::new());
            };
            let tenant_tz = read_time_zone(conn, tenant)?;
            let mut memo = Memo::default();
            let mut out = Vec::new();
            for id in ids {
                let series = entity_series(conn, tenant, &id, attrs.as_deref())?;
                let mut aggregates = Vec::new();
                for s in &series {
                    let buckets = aggregate_series(conn, s, &query, tz, tenant_tz, &mut memo)?;
                    if !buckets.is_empty() {
                        aggregates.push(AttributeAggregate {
                            name: s.attr.clone(),
                            dataset_id: (!s.dataset.is_empty()).then(|| s.dataset.clone()),
                            buckets,
                        });
                    }
                }
                if !aggregates.is_empty() {
                    out.push(EntityAggregate {
                        id,
                        types: entity_types(&series),
                        attrs: aggregates,
                    });
                }
            }
            Ok(out)
        })
        .await
    }

    async fn delete_history(
        &self,
        tenant: &str,
        entity_id: &str,
        attr: Option<&str>,
        dataset_id: Option<&str>,
        delete_all: bool,
        instance_id: Option<&str>,
    ) -> StoreResult<u64> {
        let (tenant, entity) = (tenant.to_string(), entity_id.to_string());
        let attr = attr.map(str::to_string);
        let dataset = dataset_id.map(str::to_string);
        let instance = instance_id.map(str::to_string);
        self.writer
            .submit(move |conn| {
                let Some(tenant) = tenant_id(conn, &tenant)? else {
                    return Ok(0);
                };
                if let Some(id) = instance {
                    return delete_instance(conn, tenant, &entity, attr.as_deref(), &id);
                }
                let series = entity_series(conn, tenant, &entity, None)?;
                let ids: Vec<i64> = series
                    .iter()
                    .filter(|s| match &attr {
                        None => true,
                        Some(a) => {
                            &s.attr == a
                                && (delete_all || s.dataset == dataset.as_deref().unwrap_or(""))
                        }
                    })
                    .map(|s| s.id)
                    .collect();
                delete_series_data(conn, &ids)
            })
            .await
    }

    async fn time_zone(&self, tenant: &str) -> StoreResult<Tz> {
        let tenant = tenant.to_string();
        self.read(move |conn| match tenant_id(conn, &tenant)? {
            Some(t) => read_time_zone(conn, t),
            None => Ok(DEFAULT_TIME_ZONE),
        })
        .await
    }

    async fn set_time_zone(&self, tenant: &str, tz: Tz) -> StoreResult<()> {
        let tenant = tenant.to_string();
        self.writer
            .submit(move |conn| {
                let tenant = ensure_tenant(conn, &tenant)?;
                history_log::fold_all(conn)?;
                if read_time_zone(conn, tenant)? == tz {
                    return Ok(());
                }
                conn.execute(
                    "INSERT OR REPLACE INTO tenant_time_zones (tenant, tz) VALUES (?1, ?2)",
                    params![tenant, tz.name()],
                )
                .map_err(sql_err)?;
                ZONES.with(|z| z.borrow_mut().insert(tenant, tz));
                rebuild_daily(conn, tenant, tz)
            })
            .await
    }

    async fn retention_policies(&self, tenant: &str) -> StoreResult<Vec<RetentionPolicy>> {
        let tenant = tenant.to_string();
        self.read(move |conn| match tenant_id(conn, &tenant)? {
            Some(t) => read_policies(conn, t),
            None => Ok(Vec::new()),
        })
        .await
    }

    async fn set_retention_policy(&self, tenant: &str, policy: RetentionPolicy) -> StoreResult<()> {
        let tenant = tenant.to_string();
        check_policy(&policy)?;
        self.writer
            .submit(move |conn| {
                let tenant = ensure_tenant(conn, &tenant)?;
                conn.execute(
                    "INSERT OR REPLACE INTO retention_policies \
                     (tenant, entity_type, raw_days, hourly_days, daily_days) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        tenant,
                        policy.entity_type.as_deref().unwrap_or(""),
                        policy.raw_days,
                        policy.hourly_days,
                        policy.daily_days
                    ],
                )
                .map_err(sql_err)?;
                Ok(())
            })
            .await
    }

    async fn apply_retention(&self, now: DateTime<Utc>) -> StoreResult<Vec<RetentionReport>> {
        self.writer
            .submit(move |conn| {
                history_log::fold_all(conn)?;
                let tenants: Vec<(i64, String)> = conn
                    .prepare_cached(
                        "SELECT id, name FROM tenants WHERE id IN \
                         (SELECT DISTINCT tenant FROM retention_policies) ORDER BY name",
                    )
                    .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
                    .map_err(sql_err)?;
                let mut out = Vec::new();
                for (id, name) in tenants {
                    out.extend(apply_tenant_retention(conn, id, &name, now)?);
                }
                Ok(out)
            })
            .await
    }

    async fn retention_reports(&self, tenant: &str) -> StoreResult<Vec<RetentionReport>> {
        let tenant = tenant.to_string();
        self.read(move |conn| {
            let Some(id) = tenant_id(conn, &tenant)? else {
                return Ok(Vec::new());
            };
            let mut stmt = conn
                .prepare_cached(
                    "SELECT ran_at, entity_type, level, cutoff, removed FROM retention_reports \
                     WHERE tenant = ?1 ORDER BY ran_at DESC, id DESC",
                )
                .map_err(sql_err)?;
            let mut rows = stmt.query([id]).map_err(sql_err)?;
            let mut out = Vec::new();
            while let Some(r) = rows.next().map_err(sql_err)? {
                out.push(report_from_row(r, &tenant)?);
            }
            Ok(out)
        })
        .await
    }

    async fn history_stats(&self, tenant: &str) -> StoreResult<HistoryStats> {
        let tenant = tenant.to_string();
        self.read(move |conn| {
            let Some(id) = tenant_id(conn, &tenant)? else {
                return Ok(HistoryStats::default());
            };
            let (instances, hourly, daily): (i64, i64, i64) = conn
                .prepare_cached(
                    "SELECT \
                       COALESCE((SELECT SUM(c.count) FROM series_chunks c JOIN series s ON s.id = c.series WHERE s.tenant = ?1), 0) + \
                       (SELECT COUNT(*) FROM series_docs d JOIN series s ON s.id = d.series WHERE s.tenant = ?1) + \
                       (SELECT COUNT(*) FROM history_log l JOIN series s ON s.id = l.series WHERE s.tenant = ?1), \
                       (SELECT COUNT(*) FROM rollup_hourly h JOIN series s ON s.id = h.series WHERE s.tenant = ?1), \
                       (SELECT COUNT(*) FROM rollup_daily d JOIN series s ON s.id = d.series WHERE s.tenant = ?1)",
                )
                .and_then(|mut s| s.query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))))
                .map_err(sql_err)?;
            // The pages of the raw tables and their index (dbstat), shared among tenants in
            // proportion to their payload.
            let (mine, all) = payload_bytes(conn, id)?;
            let pages: Option<i64> = conn
                .query_row(
                    "SELECT SUM(pgsize) FROM dbstat WHERE name IN \
                     ('series_chunks', 'series_chunks_time', 'series_docs')",
                    [],
                    |r| r.get(0),
                )
                .ok()
                .flatten();
            let raw_bytes = match pages {
                Some(p) if all > 0 => {
                    Some((p as f64 * (mine as f64 / all as f64)).round() as u64)
                }
                _ => Some(mine.max(0) as u64),
            };
            Ok(HistoryStats {
                instances: instances.max(0) as u64,
                hourly_rows: hourly.max(0) as u64,
                daily_rows: daily.max(0) as u64,
                raw_bytes,
            })
        })
        .await
    }
}
