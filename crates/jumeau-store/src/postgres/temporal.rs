//! [`crate::TemporalStore`] on PostgreSQL: attribute history in a table partitioned by
//! month, hourly and daily rollups maintained on write, retention that drops whole
//! partitions when it can.
//!
//! # Layout (tables in `temporal.sql`)
//!
//! - `history_series`: one row per (tenant, entity, attribute, datasetId), with the unit of
//!   its numeric instances and the entity's types, as on the embedded engine.
//! - `history_raw`: one row per instance, keyed by (tenant, series, time, hash of the value),
//!   so that duplicates are stored once and two values at one time are both kept. Numbers
//!   are in `value`; anything else whole as JSON in `doc`. The table is partitioned by
//!   month of the instance time (native declarative partitioning): partitions are created a
//!   year ahead by the migration, three months ahead by each retention pass, and on demand
//!   (`jumeau_history_partitions()`, in the writing transaction) for an instance outside
//!   them, far past or far future included, so that no instance is refused.
//! - `history_hourly` (UTC hours) and `history_daily` (local days of the tenant's time
//!   zone): count, sum, sum of squares, minimum and maximum of the numeric instances, added
//!   to in the transaction that writes the instances. Sums are computed here, in the order
//!   of the instances, exactly as the embedded engine does, and aggregations are planned
//!   by the same code ([`crate::series::aggregate`]), so both engines give the same answers.
//!
//! # On Citus
//!
//! Every table is distributed on `tenant_id` (`create_distributed_table('history_raw',
//! 'tenant_id', colocate_with => 'entities')`, the same for the series and rollup tables),
//! so an entity's history and rollups live on the node of the entity and every query of
//! this module is routed to one shard. Time partitions of a distributed table are managed
//! on the coordinator (`create_time_partitions`, `drop_old_time_partitions`, both of which
//! need the `timestamptz` partition column used here); partitions older than the raw
//! retention of most tenants can be turned columnar
//! (`alter_old_partitions_set_access_method(..., 'columnar')`) to compress them several
//! times.
//!
//! # Time bounds
//!
//! A time range includes its start and excludes its end, as on the embedded engine. Times
//! are kept to the microsecond; PostgreSQL keeps instants from 4713 BC on, and an instance
//! before that is refused as bad data (the embedded engine takes it).

use std::collections::{BTreeMap, HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use deadpool_postgres::Transaction;
use jumeau_model::temporal::{
    Accumulator, AggrMethod, Bucket, TemporalQuery, TimeProperty, DEFAULT_TIME_ZONE,
};
use jumeau_model::{Attribute, AttributeValue, NgsiError};
use serde_json::Value;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Row;

use super::{pg_err, PgStore};
use crate::series::aggregate::{
    add_into, bucket_index, check_policy, day_bounds, day_grid, day_of, filled, from_micros,
    merge_into, micros, plan_pieces, range_bounds, runs, value_json, Memo, Piece, Source, Summary,
    HOUR_MICROS,
};
use crate::series::{
    doc_hash, instance_id, number_hash, number_json, parse_instance_id, plain_number,
};
use crate::temporal::{
    AppendReport, AttributeAggregate, AttributeHistory, EntityAggregate, EntityHistory,
    HistoryStats, Instance, RetentionPolicy, RetentionReport,
};
use crate::{StoreError, StoreResult, TemporalStore};

/// A parameter of a statement with its type, which the statement is prepared with.
type Param<'a> = (&'a (dyn ToSql + Sync), Type);

/// Runs one statement inside `tx` and returns its rows, the statement parsed and planned for
/// these values (one round trip): writes and rare reads.
async fn rows(tx: &Transaction<'_>, sql: &str, params: &[Param<'_>]) -> StoreResult<Vec<Row>> {
    tx.query_typed(sql, params).await.map_err(pg_err)
}

/// [`rows`] for the statements of history and aggregation reads, which run for every series
/// read: prepared once per connection (kept by the pool's statement cache), and in a
/// [`snapshot`] planned once whatever the values. Planned at each call, a statement on the
/// history's partitioned table spent ~4 ms planning over the partitions, more than it then
/// took to run.
async fn read_rows(tx: &Transaction<'_>, sql: &str, params: &[Param<'_>]) -> StoreResult<Vec<Row>> {
    let types: Vec<Type> = params.iter().map(|(_, t)| t.clone()).collect();
    let statement = tx.prepare_typed_cached(sql, &types).await.map_err(pg_err)?;
    let values: Vec<&(dyn ToSql + Sync)> = params.iter().map(|(v, _)| *v).collect();
    tx.query(&statement, &values).await.map_err(pg_err)
}

fn col<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a Row, i: usize) -> StoreResult<T> {
    row.try_get(i).map_err(pg_err)
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// The earliest instant PostgreSQL keeps (4714-11-24 BC, 00:00 UTC).
fn pg_min() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(-4713, 11, 24)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The refusal of an instance PostgreSQL cannot keep.
pub(super) fn pg_min_rejection(name: &str) -> NgsiError {
    NgsiError::bad_data(format!(
        "an instance of {name} is observed before 4713 BC, which this store cannot keep: \
         check its observedAt"
    ))
}

/// Whether an instance is observed before what PostgreSQL keeps.
pub(super) fn before_pg_min(a: &Attribute) -> bool {
    a.observed_at.is_some_and(|t| t < pg_min())
}

/// A bound of a query range, brought inside what PostgreSQL keeps (no instance lies
/// outside, so the answer is the same).
fn pg_bound(t: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    t.map(|t| t.max(pg_min()))
}

/// The first instant of the month of `t` (UTC): one per partition.
fn month_of(t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    NaiveDate::from_ymd_opt(t.year(), t.month(), 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
}

fn tz_of(name: Option<String>) -> StoreResult<Tz> {
    match name {
        None => Ok(DEFAULT_TIME_ZONE),
        Some(n) => n
            .parse::<Tz>()
            .map_err(|_| StoreError::Corrupt(format!("stored time zone '{n}' is unknown"))),
    }
}

async fn read_time_zone(tx: &Transaction<'_>, tenant: &str) -> StoreResult<Tz> {
    let r = read_rows(
        tx,
        "SELECT tz FROM history_time_zones WHERE tenant_id = $1",
        &[(&tenant, Type::TEXT)],
    )
    .await?;
    tz_of(match r.first() {
        Some(r) => Some(col(r, 0)?),
        None => None,
    })
}

// ---------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------

/// What a write knows of a series.
#[derive(Debug, Clone)]
struct SeriesState {
    id: i64,
    /// `None` until the first numeric instance, then `Some("")` for no unit.
    unit: Option<String>,
    types: Vec<String>,
}

/// Whether an instance could be a plain number of some series (then the first one decides
/// the unit of the series).
fn numeric_candidate(a: &Attribute) -> bool {
    a.sub.is_empty() && matches!(&a.value, AttributeValue::Property(v) if v.is_number())
}

/// One series a write needs.
#[derive(Debug, Clone, Copy)]
struct WantedSeries<'a> {
    entity: &'a str,
    attr: &'a str,
    dataset: &'a str,
    /// The unit of the first numeric instance, which decides the unit of a new series.
    unit: Option<&'a str>,
    /// The entity was created by the write: its series are most likely new (only a
    /// deleted entity of the same id leaves series behind), so they are inserted before
    /// being looked for.
    likely_new: bool,
}

/// Inserts the series `pick` of `wanted` (those not taken meanwhile), in the order given,
/// and records each one inserted in `found` as created by this call. The types of each
/// entity are sent once per distinct list, not once per series.
async fn insert_series<'a>(
    tx: &Transaction<'_>,
    tenant: &str,
    wanted: &[WantedSeries<'a>],
    pick: &[usize],
    types_for: &(dyn Fn(&str) -> &'a [String] + Sync),
    found: &mut [Option<(SeriesState, bool)>],
) -> StoreResult<()> {
    let mut lists: Vec<String> = Vec::new();
    let mut list_of: HashMap<&[String], i64> = HashMap::new();
    let mut list_ix: Vec<i64> = Vec::with_capacity(pick.len());
    for &i in pick {
        let types = types_for(wanted[i].entity);
        let n = match list_of.get(types) {
            Some(n) => *n,
            None => {
                lists.push(serde_json::to_string(types).map_err(corrupt)?);
                let n = lists.len() as i64;
                list_of.insert(types, n);
                n
            }
        };
        list_ix.push(n);
    }
    let entities: Vec<&str> = pick.iter().map(|&i| wanted[i].entity).collect();
    let attrs: Vec<&str> = pick.iter().map(|&i| wanted[i].attr).collect();
    let datasets: Vec<&str> = pick.iter().map(|&i| wanted[i].dataset).collect();
    let units: Vec<Option<&str>> = pick.iter().map(|&i| wanted[i].unit).collect();
    let inserted = rows(
        tx,
        "WITH l AS MATERIALIZED (SELECT n, ARRAY(SELECT json_array_elements_text(j::json)) \
             AS types FROM unnest($7::text[]) WITH ORDINALITY AS d(j, n)) \
         INSERT INTO history_series (tenant_id, entity, attr, dataset, unit, types) \
         SELECT $1, w.entity, w.attr, w.dataset, w.unit, l.types \
         FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[]) \
             WITH ORDINALITY AS w(entity, attr, dataset, unit, list, o) \
         JOIN l ON l.n = w.list \
         ORDER BY w.o \
         ON CONFLICT (tenant_id, entity, attr, dataset) DO NOTHING \
         RETURNING entity, attr, dataset, id",
        &[
            (&tenant, Type::TEXT),
            (&entities, Type::TEXT_ARRAY),
            (&attrs, Type::TEXT_ARRAY),
            (&datasets, Type::TEXT_ARRAY),
            (&units, Type::TEXT_ARRAY),
            (&list_ix, Type::INT8_ARRAY),
            (&lists, Type::TEXT_ARRAY),
        ],
    )
    .await?;
    let index: HashMap<(&str, &str, &str), usize> = pick
        .iter()
        .map(|&i| ((wanted[i].entity, wanted[i].attr, wanted[i].dataset), i))
        .collect();
    for row in &inserted {
        let key: (&str, &str, &str) = (col(row, 0)?, col(row, 1)?, col(row, 2)?);
        let i = *index.get(&key).ok_or_else(|| {
            corrupt(format!(
                "PostgreSQL returned a history series of {} of {} that was not asked for",
                key.1, key.0
            ))
        })?;
        let state = SeriesState {
            id: col(row, 3)?,
            unit: wanted[i].unit.map(str::to_string),
            types: types_for(wanted[i].entity).to_vec(),
        };
        found[i] = Some((state, true));
    }
    Ok(())
}

/// Reads the stored series `pick` of `wanted` into `found` (as not created by this call);
/// those that do not exist stay `None`.
async fn select_series(
    tx: &Transaction<'_>,
    tenant: &str,
    wanted: &[WantedSeries<'_>],
    pick: &[usize],
    found: &mut [Option<(SeriesState, bool)>],
) -> StoreResult<()> {
    let entities: Vec<&str> = pick.iter().map(|&i| wanted[i].entity).collect();
    let attrs: Vec<&str> = pick.iter().map(|&i| wanted[i].attr).collect();
    let datasets: Vec<&str> = pick.iter().map(|&i| wanted[i].dataset).collect();
    let stored = rows(
        tx,
        "SELECT w.o, s.id, s.unit, s.types \
         FROM unnest($2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS w(entity, attr, dataset, o) \
         JOIN history_series s ON s.tenant_id = $1 AND s.entity = w.entity \
             AND s.attr = w.attr AND s.dataset = w.dataset",
        &[
            (&tenant, Type::TEXT),
            (&entities, Type::TEXT_ARRAY),
            (&attrs, Type::TEXT_ARRAY),
            (&datasets, Type::TEXT_ARRAY),
        ],
    )
    .await?;
    for row in &stored {
        let o: i64 = col(row, 0)?;
        let i = usize::try_from(o - 1)
            .ok()
            .and_then(|o| pick.get(o).copied())
            .ok_or_else(|| corrupt(format!("PostgreSQL returned series position {o}")))?;
        let state = SeriesState {
            id: col(row, 1)?,
            unit: col(row, 2)?,
            types: col::<Option<Vec<String>>>(row, 3)?.unwrap_or_default(),
        };
        found[i] = Some((state, false));
    }
    Ok(())
}

/// The series of `wanted`, created when missing, in the order asked, with the tenant's time
/// zone; each with whether this call created it. Types (`types_of` the entity) and unknown
/// units are brought up to date. Series most likely new are inserted first and the others
/// looked up first, so that a write usually needs one statement for all its series,
/// whatever their number (and the time zone is read in the same round trip).
async fn series_for(
    tx: &Transaction<'_>,
    tenant: &str,
    wanted: &[WantedSeries<'_>],
    types_of: &HashMap<&str, &[String]>,
) -> StoreResult<(Vec<SeriesState>, Tz)> {
    let no_types: &[String] = &[];
    let types_for = |e: &str| types_of.get(e).copied().unwrap_or(no_types);
    let lookup = async {
        let mut found: Vec<Option<(SeriesState, bool)>> = vec![None; wanted.len()];
        // A series created by a concurrent transaction that committed after a statement
        // began is neither inserted nor seen by it: the next statement sees it.
        for round in 0..3 {
            let insert: Vec<usize> = (0..wanted.len())
                .filter(|&i| found[i].is_none() && (round > 0 || wanted[i].likely_new))
                .collect();
            if !insert.is_empty() {
                insert_series(tx, tenant, wanted, &insert, &types_for, &mut found).await?;
            }
            let missing: Vec<usize> = (0..wanted.len()).filter(|&i| found[i].is_none()).collect();
            if missing.is_empty() {
                break;
            }
            select_series(tx, tenant, wanted, &missing, &mut found).await?;
            if found.iter().all(Option::is_some) {
                break;
            }
        }
        Ok(found)
    };
    let (tz, found) = tokio::try_join!(read_time_zone(tx, tenant), lookup)?;
    let mut out = Vec::with_capacity(wanted.len());
    let (mut retype_ids, mut retype_types): (Vec<i64>, Vec<String>) = Default::default();
    let (mut unit_ids, mut unit_values): (Vec<i64>, Vec<&str>) = Default::default();
    for (slot, w) in found.into_iter().zip(wanted) {
        let (mut state, fresh) = slot.ok_or_else(|| {
            StoreError::Unavailable(format!(
                "the history series of {} of {} is being created by another write",
                w.attr, w.entity
            ))
        })?;
        let types = types_for(w.entity);
        if !fresh && state.types != types && !types.is_empty() {
            retype_ids.push(state.id);
            retype_types.push(serde_json::to_string(types).map_err(corrupt)?);
            state.types = types.to_vec();
        }
        if let (None, Some(u)) = (&state.unit, w.unit) {
            unit_ids.push(state.id);
            unit_values.push(u);
            state.unit = Some(u.to_string());
        }
        out.push(state);
    }
    if !retype_ids.is_empty() {
        rows(
            tx,
            "UPDATE history_series s SET types = ARRAY(SELECT json_array_elements_text(x.t::json)) \
             FROM unnest($2::bigint[], $3::text[]) AS x(id, t) \
             WHERE s.tenant_id = $1 AND s.id = x.id",
            &[
                (&tenant, Type::TEXT),
                (&retype_ids, Type::INT8_ARRAY),
                (&retype_types, Type::TEXT_ARRAY),
            ],
        )
        .await?;
    }
    if !unit_ids.is_empty() {
        rows(
            tx,
            "UPDATE history_series s SET unit = x.u \
             FROM unnest($2::bigint[], $3::text[]) AS x(id, u) \
             WHERE s.tenant_id = $1 AND s.id = x.id AND s.unit IS NULL",
            &[
                (&tenant, Type::TEXT),
                (&unit_ids, Type::INT8_ARRAY),
                (&unit_values, Type::TEXT_ARRAY),
            ],
        )
        .await?;
    }
    Ok((out, tz))
}

/// Makes sure the monthly partitions of every time in `times` exist.
async fn ensure_partitions(
    tx: &Transaction<'_>,
    times: impl IntoIterator<Item = DateTime<Utc>>,
) -> StoreResult<()> {
    let months: Vec<DateTime<Utc>> = times
        .into_iter()
        .filter_map(month_of)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if months.is_empty() {
        return Ok(());
    }
    rows(
        tx,
        "SELECT jumeau_history_partitions($1)",
        &[(&months, Type::TIMESTAMPTZ_ARRAY)],
    )
    .await?;
    Ok(())
}

/// The rollup levels, with their tables and key columns (fixed names, never input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Hourly,
    Daily,
}

impl Level {
    fn table(self) -> &'static str {
        match self {
            Self::Hourly => "history_hourly",
            Self::Daily => "history_daily",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Self::Hourly => "hour",
            Self::Daily => "day",
        }
    }
}

/// A rollup row to write: series, key (hour or day), summary.
type RollupRow = (i64, i64, Summary);

/// Adds summaries (series, key, summary) to rollup rows (`add`), or sets them (`!add`,
/// deleting rows whose summary is empty).
async fn upsert_rollups(
    tx: &Transaction<'_>,
    tenant: &str,
    level: Level,
    rows_in: &[(i64, i64, Summary)],
    add: bool,
) -> StoreResult<()> {
    let (t, k) = (level.table(), level.key());
    let (empty, full): (Vec<&RollupRow>, Vec<&RollupRow>) =
        rows_in.iter().partition(|(_, _, s)| s.count == 0);
    if !add && !empty.is_empty() {
        let series: Vec<i64> = empty.iter().map(|r| r.0).collect();
        let keys: Vec<i64> = empty.iter().map(|r| r.1).collect();
        rows(
            tx,
            &format!(
                "DELETE FROM {t} r USING unnest($2::bigint[], $3::bigint[]) AS x(s, k) \
                 WHERE r.tenant_id = $1 AND r.series = x.s AND r.{k} = x.k"
            ),
            &[
                (&tenant, Type::TEXT),
                (&series, Type::INT8_ARRAY),
                (&keys, Type::INT8_ARRAY),
            ],
        )
        .await?;
    }
    if full.is_empty() {
        return Ok(());
    }
    let series: Vec<i64> = full.iter().map(|r| r.0).collect();
    let keys: Vec<i64> = full.iter().map(|r| r.1).collect();
    let counts: Vec<i64> = full.iter().map(|r| r.2.count).collect();
    let sums: Vec<f64> = full.iter().map(|r| r.2.sum).collect();
    let sumsqs: Vec<f64> = full.iter().map(|r| r.2.sumsq).collect();
    let mins: Vec<f64> = full.iter().map(|r| r.2.min).collect();
    let maxs: Vec<f64> = full.iter().map(|r| r.2.max).collect();
    let update = if add {
        "count = r.count + excluded.count, sum = r.sum + excluded.sum, \
         sumsq = r.sumsq + excluded.sumsq, min = least(r.min, excluded.min), \
         max = greatest(r.max, excluded.max)"
    } else {
        "count = excluded.count, sum = excluded.sum, sumsq = excluded.sumsq, \
         min = excluded.min, max = excluded.max"
    };
    rows(
        tx,
        &format!(
            "INSERT INTO {t} AS r (tenant_id, series, {k}, count, sum, sumsq, min, max) \
             SELECT $1, s, k, c, su, sq, mi, ma FROM unnest($2::bigint[], $3::bigint[], \
             $4::bigint[], $5::float8[], $6::float8[], $7::float8[], $8::float8[]) \
             AS x(s, k, c, su, sq, mi, ma) \
             ON CONFLICT (tenant_id, series, {k}) DO UPDATE SET {update}"
        ),
        &[
            (&tenant, Type::TEXT),
            (&series, Type::INT8_ARRAY),
            (&keys, Type::INT8_ARRAY),
            (&counts, Type::INT8_ARRAY),
            (&sums, Type::FLOAT8_ARRAY),
            (&sumsqs, Type::FLOAT8_ARRAY),
            (&mins, Type::FLOAT8_ARRAY),
            (&maxs, Type::FLOAT8_ARRAY),
        ],
    )
    .await?;
    Ok(())
}

/// One instance to insert.
struct NewRow {
    series: i64,
    time: DateTime<Utc>,
    hash: i64,
    created: DateTime<Utc>,
    observed: bool,
    value: Option<f64>,
    doc: Option<String>,
}

/// A read-only transaction that sees one snapshot of the database, so that a history or
/// an aggregation spanning several series is read as of one moment.
async fn snapshot(client: &mut deadpool_postgres::ClientWrapper) -> StoreResult<Transaction<'_>> {
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(pg_err)?;
    // Plans made once per statement and connection, whatever the values: PostgreSQL then
    // prunes the history's partitions as each statement starts. A plan for the values of
    // each call, which PostgreSQL prefers otherwise, costs more to make over the monthly
    // partitions than reading a year of daily rollups.
    tx.batch_execute("SET LOCAL plan_cache_mode = force_generic_plan")
        .await
        .map_err(pg_err)?;
    Ok(tx)
}

/// Appends the changed attribute instances of one entity write (expanded name, instance)
/// to the entity's history, inside the write's transaction, at each instance's
/// `observedAt`, else at its time of receipt: the `modifiedAt` it carries (an entity write
/// sets it to the time of the write; an instance copied from another store keeps its own),
/// else `now`. Called by every entity
/// write of the engine, as `sqlite::temporal::record` is by the embedded engine's writer,
/// and by bulk appends.
pub(super) async fn record(
    tx: &Transaction<'_>,
    tenant: &str,
    entity: &str,
    types: &[String],
    instances: &[(&str, &Attribute)],
    now: DateTime<Utc>,
) -> StoreResult<AppendReport> {
    let write = HistoryWrite {
        entity,
        types,
        instances: instances.to_vec(),
        created: false,
    };
    record_many(tx, tenant, std::slice::from_ref(&write), now).await
}

/// The changed attribute instances of one entity write (expanded name, instance).
pub(super) struct HistoryWrite<'a> {
    pub entity: &'a str,
    /// The entity's types after the write.
    pub types: &'a [String],
    pub instances: Vec<(&'a str, &'a Attribute)>,
    /// The write created the entity, so its series are most likely new (a hint: only the
    /// statements used depend on it).
    pub created: bool,
}

/// [`record`] for the writes of several entities (or several writes of one, in order), with
/// one statement per table whatever their number.
pub(super) async fn record_many(
    tx: &Transaction<'_>,
    tenant: &str,
    writes: &[HistoryWrite<'_>],
    now: DateTime<Utc>,
) -> StoreResult<AppendReport> {
    let mut report = AppendReport::default();
    if writes.iter().all(|w| w.instances.is_empty()) {
        return Ok(report);
    }
    // Microseconds, as stored, so that what is returned equals what was written.
    let now = from_micros(micros(now))?;
    let min = pg_min();
    if let Some((name, _)) = writes
        .iter()
        .flat_map(|w| &w.instances)
        .find(|(_, a)| a.observed_at.is_some_and(|t| t < min))
    {
        return Err(StoreError::Rejected(pg_min_rejection(name)));
    }
    // Group by series, keeping the order of arrival within each; the series take the
    // types of the entity's last write.
    let mut groups: BTreeMap<(&str, &str, &str), Vec<&Attribute>> = BTreeMap::new();
    let mut types_of: HashMap<&str, &[String]> = HashMap::new();
    let mut created: HashSet<&str> = HashSet::new();
    for w in writes {
        if w.instances.is_empty() {
            continue;
        }
        types_of.insert(w.entity, w.types);
        if w.created {
            created.insert(w.entity);
        }
        for (name, a) in &w.instances {
            groups
                .entry((w.entity, name, a.dataset_id.as_deref().unwrap_or("")))
                .or_default()
                .push(a);
        }
    }
    // The first numeric instance decides the unit of a new series.
    let wanted: Vec<WantedSeries<'_>> = groups
        .iter()
        .map(|((entity, name, dataset), attrs)| {
            let hint = attrs
                .iter()
                .find(|a| numeric_candidate(a))
                .map(|a| a.unit_code.as_deref().unwrap_or(""));
            WantedSeries {
                entity,
                attr: name,
                dataset,
                unit: hint,
                likely_new: created.contains(entity),
            }
        })
        .collect();
    let (states, tz) = series_for(tx, tenant, &wanted, &types_of).await?;

    let mut new_rows: Vec<NewRow> = Vec::new();
    let mut seen: HashSet<(i64, i64, i64)> = HashSet::new();
    for (state, attrs) in states.iter().zip(groups.values()) {
        let unit = state.unit.as_deref().filter(|u| !u.is_empty());
        // Numbers in time order (stable: arrival order within one time), then documents.
        let mut points: Vec<(DateTime<Utc>, f64, bool, DateTime<Utc>)> = Vec::new();
        for a in attrs {
            let created = match a.modified_at {
                Some(t) => from_micros(micros(t))?,
                None => now,
            };
            let time = a.observed_at.unwrap_or(created);
            if state.unit.is_some() {
                if let Some(value) = plain_number(a, unit) {
                    points.push((time, value, a.observed_at.is_some(), created));
                    continue;
                }
            }
            let mut doc = (*a).clone();
            doc.dataset_id = None;
            doc.created_at = None;
            doc.modified_at = None;
            let doc = serde_json::to_string(&doc).map_err(corrupt)?;
            let hash = doc_hash(&doc) as i64;
            if seen.insert((state.id, micros(time), hash)) {
                new_rows.push(NewRow {
                    series: state.id,
                    time,
                    hash,
                    created,
                    observed: a.observed_at.is_some(),
                    value: None,
                    doc: Some(doc),
                });
            } else {
                report.duplicates += 1;
            }
        }
        points.sort_by_key(|p| p.0);
        for (time, value, observed, created) in points {
            let hash = number_hash(value) as i64;
            if seen.insert((state.id, micros(time), hash)) {
                new_rows.push(NewRow {
                    series: state.id,
                    time,
                    hash,
                    created,
                    observed,
                    value: Some(value),
                    doc: None,
                });
            } else {
                report.duplicates += 1;
            }
        }
    }
    if new_rows.is_empty() {
        return Ok(report);
    }
    ensure_partitions(tx, new_rows.iter().map(|r| r.time)).await?;
    let series: Vec<i64> = new_rows.iter().map(|r| r.series).collect();
    let times: Vec<DateTime<Utc>> = new_rows.iter().map(|r| r.time).collect();
    let hashes: Vec<i64> = new_rows.iter().map(|r| r.hash).collect();
    let created: Vec<DateTime<Utc>> = new_rows.iter().map(|r| r.created).collect();
    let observed: Vec<bool> = new_rows.iter().map(|r| r.observed).collect();
    let values: Vec<Option<f64>> = new_rows.iter().map(|r| r.value).collect();
    let docs: Vec<Option<&str>> = new_rows.iter().map(|r| r.doc.as_deref()).collect();
    let inserted = rows(
        tx,
        "INSERT INTO history_raw (tenant_id, series, time, hash, created, observed, value, doc) \
         SELECT $1, s, t, h, c, o, v, d FROM unnest($2::timestamptz[], $3::bigint[], \
         $4::timestamptz[], $5::bigint[], $6::bool[], $7::float8[], $8::text[]) \
         AS x(c, s, t, h, o, v, d) \
         ON CONFLICT DO NOTHING RETURNING series, time, hash",
        &[
            (&tenant, Type::TEXT),
            (&created, Type::TIMESTAMPTZ_ARRAY),
            (&series, Type::INT8_ARRAY),
            (&times, Type::TIMESTAMPTZ_ARRAY),
            (&hashes, Type::INT8_ARRAY),
            (&observed, Type::BOOL_ARRAY),
            (&values, Type::FLOAT8_ARRAY),
            (&docs, Type::TEXT_ARRAY),
        ],
    )
    .await?;
    let mut stored: HashSet<(i64, i64, i64)> = HashSet::with_capacity(inserted.len());
    for r in &inserted {
        stored.insert((col(r, 0)?, micros(col::<DateTime<Utc>>(r, 1)?), col(r, 2)?));
    }
    report.stored += stored.len() as u64;
    report.duplicates += (new_rows.len() - stored.len()) as u64;
    // Rollups of the numbers stored, summed in time order as the embedded engine does.
    let mut hours: BTreeMap<(i64, i64), Summary> = BTreeMap::new();
    let mut days: BTreeMap<(i64, i64), Summary> = BTreeMap::new();
    for r in &new_rows {
        let Some(v) = r.value else { continue };
        let t = micros(r.time);
        if !stored.contains(&(r.series, t, r.hash)) {
            continue;
        }
        hours
            .entry((r.series, t.div_euclid(HOUR_MICROS)))
            .or_insert_with(Summary::new)
            .add(v);
        days.entry((r.series, day_of(t, tz)))
            .or_insert_with(Summary::new)
            .add(v);
    }
    let flat = |m: BTreeMap<(i64, i64), Summary>| -> Vec<(i64, i64, Summary)> {
        m.into_iter().map(|((s, k), v)| (s, k, v)).collect()
    };
    let (hours, days) = (flat(hours), flat(days));
    // Independent tables: both statements go in one round trip.
    tokio::try_join!(
        upsert_rollups(tx, tenant, Level::Hourly, &hours, true),
        upsert_rollups(tx, tenant, Level::Daily, &days, true)
    )?;
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
async fn entity_series(
    tx: &Transaction<'_>,
    tenant: &str,
    entity: &str,
    attrs: Option<&[String]>,
) -> StoreResult<Vec<SeriesRow>> {
    let mut by_entity = series_of_entities(tx, tenant, &[entity], attrs).await?;
    Ok(by_entity.remove(entity).unwrap_or_default())
}

/// [`entity_series`] of several entities in one statement, by entity id.
async fn series_of_entities(
    tx: &Transaction<'_>,
    tenant: &str,
    entities: &[&str],
    attrs: Option<&[String]>,
) -> StoreResult<HashMap<String, Vec<SeriesRow>>> {
    let list: Option<Vec<&str>> = attrs.map(|a| a.iter().map(String::as_str).collect());
    let r = read_rows(
        tx,
        "SELECT entity, id, attr, dataset, unit, types FROM history_series \
         WHERE tenant_id = $1 AND entity = ANY($2) AND ($3::text[] IS NULL OR attr = ANY($3)) \
         ORDER BY entity, attr, dataset",
        &[
            (&tenant, Type::TEXT),
            (&entities, Type::TEXT_ARRAY),
            (&list, Type::TEXT_ARRAY),
        ],
    )
    .await?;
    let mut out: HashMap<String, Vec<SeriesRow>> = HashMap::new();
    for row in &r {
        out.entry(col(row, 0)?).or_default().push(SeriesRow {
            id: col(row, 1)?,
            attr: col(row, 2)?,
            dataset: col(row, 3)?,
            unit: col(row, 4)?,
            types: col(row, 5)?,
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

/// The instance of a raw row (time, hash, created, observed, value, doc from column
/// `first` on).
fn instance_from_row(s: &SeriesRow, row: &Row, first: usize) -> StoreResult<Instance> {
    let time: DateTime<Utc> = col(row, first)?;
    let hash: i64 = col(row, first + 1)?;
    let created: DateTime<Utc> = col(row, first + 2)?;
    let observed: bool = col(row, first + 3)?;
    let value: Option<f64> = col(row, first + 4)?;
    let doc: Option<&str> = col(row, first + 5)?;
    let mut a = match (value, doc) {
        (Some(v), _) => {
            let mut a = Attribute::new(AttributeValue::Property(number_json(v)));
            a.unit_code = s.unit.clone().filter(|u| !u.is_empty());
            if observed {
                a.observed_at = Some(time);
            }
            a
        }
        (None, Some(d)) => serde_json::from_str(d)
            .map_err(|e| StoreError::Corrupt(format!("history document: {e}")))?,
        (None, None) => {
            return Err(StoreError::Corrupt(
                "a history row holds neither a number nor a document".into(),
            ))
        }
    };
    a.dataset_id = (!s.dataset.is_empty()).then(|| s.dataset.clone());
    a.created_at = Some(created);
    a.modified_at = Some(created);
    Ok(Instance {
        instance_id: instance_id(s.id, micros(time), hash as u64),
        attribute: a,
        created_at: created,
    })
}

/// The instances of one series that a history query selects, oldest first.
async fn series_history(
    tx: &Transaction<'_>,
    tenant: &str,
    s: &SeriesRow,
    query: &TemporalQuery,
) -> StoreResult<Vec<Instance>> {
    let column = match query.time_property {
        TimeProperty::DeletedAt => return Ok(Vec::new()),
        TimeProperty::ObservedAt => "time",
        // The time of receipt is not indexed: the whole series is read (rare queries).
        TimeProperty::CreatedAt | TimeProperty::ModifiedAt => "created",
    };
    let range = query.time_range;
    let from = pg_bound(range.and_then(|r| r.start()));
    let to = pg_bound(range.and_then(|r| r.end()));
    let limit: Option<i64> = query.last_n.map(i64::from);
    // Numbers before documents at one time, as the embedded engine orders them.
    let order = if limit.is_some() { "DESC" } else { "ASC" };
    let sql = format!(
        "SELECT time, hash, created, observed, value, doc FROM history_raw \
         WHERE tenant_id = $1 AND series = $2 \
         AND {column} >= COALESCE($3, '-infinity'::timestamptz) \
         AND {column} < COALESCE($4, 'infinity'::timestamptz) \
         ORDER BY {column} {order}, (value IS NULL) {order}, created {order}, hash {order} \
         LIMIT $5"
    );
    let r = read_rows(
        tx,
        &sql,
        &[
            (&tenant, Type::TEXT),
            (&s.id, Type::INT8),
            (&from, Type::TIMESTAMPTZ),
            (&to, Type::TIMESTAMPTZ),
            (&limit, Type::INT8),
        ],
    )
    .await?;
    let mut out = r
        .iter()
        .map(|row| instance_from_row(s, row, 0))
        .collect::<StoreResult<Vec<_>>>()?;
    if limit.is_some() {
        out.reverse();
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Aggregation
// ---------------------------------------------------------------------------------------

/// The extent `[first, last]` of the instance times of a series, if it has any; rollups
/// outlive thinned raw instances, so their periods count too.
async fn series_extent(
    tx: &Transaction<'_>,
    tenant: &str,
    series: i64,
    tz: Tz,
) -> StoreResult<Option<(i64, i64)>> {
    let r = read_rows(
        tx,
        "SELECT (SELECT min(time) FROM history_raw WHERE tenant_id = $1 AND series = $2), \
         (SELECT max(time) FROM history_raw WHERE tenant_id = $1 AND series = $2), \
         (SELECT min(hour) FROM history_hourly WHERE tenant_id = $1 AND series = $2), \
         (SELECT min(day) FROM history_daily WHERE tenant_id = $1 AND series = $2)",
        &[(&tenant, Type::TEXT), (&series, Type::INT8)],
    )
    .await?;
    let Some(row) = r.first() else {
        return Ok(None);
    };
    let first: Option<DateTime<Utc>> = col(row, 0)?;
    let last: Option<DateTime<Utc>> = col(row, 1)?;
    let hour: Option<i64> = col(row, 2)?;
    let day: Option<i64> = col(row, 3)?;
    let day = match day {
        Some(d) => Some(day_bounds(d, &day_grid(tz)?)?.0),
        None => None,
    };
    let first = [first.map(micros), hour.map(|h| h * HOUR_MICROS), day]
        .into_iter()
        .flatten()
        .min();
    Ok(first.zip(last.map(micros)))
}

/// Most series whose rollups one statement of an aggregation reads: one statement per
/// series spent most of its time in round trips; all of them at once would hold every row
/// of a large territory in memory.
const SERIES_PER_READ: usize = 100;

/// The bucket accumulators of each series of a group read together, by series id.
type GroupAccumulators = HashMap<i64, Vec<Option<Accumulator>>>;

/// Reads every run of pieces of a group of series in one statement and merges what it
/// reads into each series' buckets: rollup rows by key, raw numbers one by one.
async fn read_runs(
    tx: &Transaction<'_>,
    tenant: &str,
    series: &[i64],
    pieces: &[Piece],
    accs: &mut GroupAccumulators,
    methods: &[AggrMethod],
) -> StoreResult<()> {
    let runs = runs(pieces);
    if runs.is_empty() {
        return Ok(());
    }
    let mut kinds: Vec<i32> = Vec::with_capacity(runs.len());
    let mut los: Vec<i64> = Vec::with_capacity(runs.len());
    let mut his: Vec<i64> = Vec::with_capacity(runs.len());
    let mut t0s: Vec<DateTime<Utc>> = Vec::with_capacity(runs.len());
    let mut t1s: Vec<DateTime<Utc>> = Vec::with_capacity(runs.len());
    for run in &runs {
        let (first, last) = (&pieces[run.start], &pieces[run.end - 1]);
        let (kind, lo, hi) = match (first.source, last.source) {
            (Source::Day(a), Source::Day(b)) => (0, a, b),
            (Source::Hour(a), Source::Hour(b)) => (1, a, b),
            _ => (2, 0, 0),
        };
        kinds.push(kind);
        los.push(lo);
        his.push(hi);
        t0s.push(from_micros(first.start)?.max(pg_min()));
        t1s.push(from_micros(last.end)?.max(pg_min()));
    }
    // Rows come series by series, then run by run, rollups by key, numbers by time (then
    // hash), so that each series is merged in the order the embedded engine merges it.
    let r = read_rows(
        tx,
        "SELECT r.o, x.k, x.c, x.s, x.q, x.mi, x.ma, x.sr FROM unnest($3::int4[], $4::bigint[], \
         $5::bigint[], $6::timestamptz[], $7::timestamptz[]) WITH ORDINALITY AS r(kind, lo, hi, t0, t1, o) \
         CROSS JOIN LATERAL ( \
           SELECT day AS k, count AS c, sum AS s, sumsq AS q, min AS mi, max AS ma, 0::bigint AS h, \
             series AS sr \
           FROM history_daily WHERE r.kind = 0 AND tenant_id = $1 AND series = ANY($2) \
             AND day BETWEEN r.lo AND r.hi \
           UNION ALL \
           SELECT hour, count, sum, sumsq, min, max, 0, series FROM history_hourly \
           WHERE r.kind = 1 AND tenant_id = $1 AND series = ANY($2) AND hour BETWEEN r.lo AND r.hi \
           UNION ALL \
           SELECT (extract(epoch FROM time) * 1000000)::bigint, 1, value, 0, 0, 0, hash, series \
           FROM history_raw WHERE r.kind = 2 AND tenant_id = $1 AND series = ANY($2) \
             AND time >= r.t0 AND time < r.t1 AND value IS NOT NULL \
         ) x ORDER BY x.sr, r.o, x.k, x.h",
        &[
            (&tenant, Type::TEXT),
            (&series, Type::INT8_ARRAY),
            (&kinds, Type::INT4_ARRAY),
            (&los, Type::INT8_ARRAY),
            (&his, Type::INT8_ARRAY),
            (&t0s, Type::TIMESTAMPTZ_ARRAY),
            (&t1s, Type::TIMESTAMPTZ_ARRAY),
        ],
    )
    .await?;
    for row in &r {
        let o: i64 = col(row, 0)?;
        let key: i64 = col(row, 1)?;
        let Some(i) = usize::try_from(o - 1).ok().filter(|i| *i < runs.len()) else {
            continue;
        };
        let Some(accs) = accs.get_mut(&col::<i64>(row, 7)?) else {
            continue;
        };
        let run = &pieces[runs[i].clone()];
        if kinds[i] == 2 {
            let value: f64 = col(row, 3)?;
            let at = run.partition_point(|q| q.start <= key);
            if let Some(q) = at.checked_sub(1).and_then(|at| run.get(at)) {
                add_into(accs, q.bucket, &number_json(value), methods);
            }
        } else {
            let s = Summary {
                count: col(row, 2)?,
                sum: col(row, 3)?,
                sumsq: col(row, 4)?,
                min: col(row, 5)?,
                max: col(row, 6)?,
            };
            // Keys of a run are consecutive, so the piece of a key is at its offset.
            if let Some(p) = usize::try_from(key - los[i]).ok().and_then(|j| run.get(j)) {
                merge_into(accs, p.bucket, s.accumulator());
            }
        }
    }
    Ok(())
}

/// The value of a raw row (value, doc) as aggregations count it.
fn row_value(value: Option<f64>, doc: Option<&str>) -> StoreResult<Value> {
    match (value, doc) {
        (Some(v), _) => Ok(number_json(v)),
        (None, Some(d)) => {
            let a: Attribute = serde_json::from_str(d).map_err(corrupt)?;
            Ok(value_json(&a.value))
        }
        (None, None) => Ok(Value::Null),
    }
}

/// Aggregates a group of series over the same buckets: rollups for the whole days and
/// hours of each bucket, raw instances for the rest, documents (never in rollups) one by one;
/// as the embedded engine. One statement reads the rollups and numbers of the whole group,
/// and one its documents. A group of several series needs a bounded range over
/// `observedAt` (the buckets of an open range depend on each series' extent).
async fn aggregate_group(
    tx: &Transaction<'_>,
    tenant: &str,
    group: &[&SeriesRow],
    query: &TemporalQuery,
    tz: Tz,
    tenant_tz: Tz,
    memo: &mut Memo,
) -> StoreResult<Vec<Vec<(Bucket, Accumulator)>>> {
    let none = || group.iter().map(|_| Vec::new()).collect();
    let methods = &query.aggr_methods;
    let (mut from, mut to) = range_bounds(query);
    let by_time = query.time_property == TimeProperty::ObservedAt;
    if query.time_property == TimeProperty::DeletedAt {
        return Ok(none());
    }
    // Instances taken one by one, by series: (time of the query's time property, value).
    let mut singles: HashMap<i64, Vec<(i64, Value)>> = HashMap::new();
    let alone = match group {
        [s] => Some(*s),
        _ => None,
    };
    if !by_time {
        let Some(s) = alone else {
            return Err(StoreError::Corrupt(
                "series aggregated by time of receipt are read one by one".into(),
            ));
        };
        let r = read_rows(
            tx,
            "SELECT created, value, doc FROM history_raw WHERE tenant_id = $1 AND series = $2 \
             ORDER BY (value IS NULL), time, hash",
            &[(&tenant, Type::TEXT), (&s.id, Type::INT8)],
        )
        .await?;
        let mine = singles.entry(s.id).or_default();
        for row in &r {
            let created = micros(col(row, 0)?);
            if created >= from && created < to {
                mine.push((created, row_value(col(row, 1)?, col(row, 2)?)?));
            }
        }
        let Some(first) = mine.iter().map(|(t, _)| *t).min() else {
            return Ok(none());
        };
        let last = mine.iter().map(|(t, _)| *t).max().unwrap_or(first);
        from = from.max(first);
        to = to.min(last.saturating_add(1));
    } else if from == i64::MIN || to == i64::MAX {
        // An open range ends where the series does. (A bounded one needs no extent: a
        // series without instances in it fills no bucket.)
        let Some(s) = alone else {
            return Err(StoreError::Corrupt(
                "series aggregated over an open range are read one by one".into(),
            ));
        };
        let Some((first, last)) = series_extent(tx, tenant, s.id, tenant_tz).await? else {
            return Ok(none());
        };
        if from == i64::MIN {
            from = first;
        }
        if to == i64::MAX {
            to = last.saturating_add(1);
        }
    }
    if from >= to {
        return Ok(none());
    }
    let buckets = memo.buckets_of(query, tz, from, to)?;
    let mut accs: GroupAccumulators = group
        .iter()
        .map(|s| (s.id, vec![None; buckets.len()]))
        .collect();
    if by_time {
        let ids: Vec<i64> = group.iter().map(|s| s.id).collect();
        let pieces = plan_pieces(query, &buckets, tz, tenant_tz, from, to, memo)?;
        read_runs(tx, tenant, &ids, &pieces, &mut accs, methods).await?;
        let (f, t) = (pg_bound(Some(from_micros(from)?)), from_micros(to)?);
        let r = read_rows(
            tx,
            "SELECT series, time, doc FROM history_raw WHERE tenant_id = $1 \
             AND series = ANY($2) AND time >= $3 AND time < $4 AND value IS NULL \
             ORDER BY series, time, hash",
            &[
                (&tenant, Type::TEXT),
                (&ids, Type::INT8_ARRAY),
                (&f, Type::TIMESTAMPTZ),
                (&t, Type::TIMESTAMPTZ),
            ],
        )
        .await?;
        for row in &r {
            singles
                .entry(col(row, 0)?)
                .or_default()
                .push((micros(col(row, 1)?), row_value(None, col(row, 2)?)?));
        }
    }
    Ok(group
        .iter()
        .map(|s| {
            let mut mine = accs.remove(&s.id).unwrap_or_default();
            for (t, v) in singles.get(&s.id).into_iter().flatten() {
                if let Some(i) = bucket_index(&buckets, *t) {
                    add_into(&mut mine, i, v, methods);
                }
            }
            filled(buckets.clone(), mine)
        })
        .collect())
}

// ---------------------------------------------------------------------------------------
// Deleting, time zones, retention
// ---------------------------------------------------------------------------------------

/// Recomputes from raw instances the rollup rows of the hour and day holding `time` (after
/// instances were removed from them).
async fn recompute_rollups(
    tx: &Transaction<'_>,
    tenant: &str,
    series: i64,
    time: i64,
    tz: Tz,
) -> StoreResult<()> {
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
        let (f, t) = (from_micros(from)?, from_micros(to)?);
        let r = rows(
            tx,
            "SELECT value FROM history_raw WHERE tenant_id = $1 AND series = $2 \
             AND time >= $3 AND time < $4 AND value IS NOT NULL ORDER BY time, hash",
            &[
                (&tenant, Type::TEXT),
                (&series, Type::INT8),
                (&f, Type::TIMESTAMPTZ),
                (&t, Type::TIMESTAMPTZ),
            ],
        )
        .await?;
        let mut s = Summary::new();
        for row in &r {
            s.add(col(row, 0)?);
        }
        upsert_rollups(tx, tenant, level, &[(series, key, s)], false).await?;
    }
    Ok(())
}

/// Deletes one instance by id; returns how many were removed (0 or 1).
async fn delete_instance(
    tx: &Transaction<'_>,
    tenant: &str,
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
    let owner = rows(
        tx,
        "SELECT attr FROM history_series WHERE tenant_id = $1 AND id = $2 AND entity = $3",
        &[
            (&tenant, Type::TEXT),
            (&series, Type::INT8),
            (&entity, Type::TEXT),
        ],
    )
    .await?;
    match owner.first() {
        Some(r) if attr.is_none_or(|x| col::<&str>(r, 0).is_ok_and(|a| a == x)) => {}
        _ => return Ok(0),
    }
    let Some(at) = DateTime::from_timestamp_micros(time).filter(|t| *t >= pg_min()) else {
        return Ok(0);
    };
    let hash = hash as i64;
    let removed = rows(
        tx,
        "DELETE FROM history_raw WHERE tenant_id = $1 AND series = $2 AND time = $3 \
         AND hash = $4 RETURNING value",
        &[
            (&tenant, Type::TEXT),
            (&series, Type::INT8),
            (&at, Type::TIMESTAMPTZ),
            (&hash, Type::INT8),
        ],
    )
    .await?;
    let mut numeric = false;
    for r in &removed {
        numeric |= col::<Option<f64>>(r, 0)?.is_some();
    }
    if numeric {
        let tz = read_time_zone(tx, tenant).await?;
        recompute_rollups(tx, tenant, series, time, tz).await?;
    }
    Ok(removed.len() as u64)
}

/// Deletes every instance and rollup of the given series; returns the instances removed.
async fn delete_series_data(
    tx: &Transaction<'_>,
    tenant: &str,
    series: &[i64],
) -> StoreResult<u64> {
    if series.is_empty() {
        return Ok(0);
    }
    let p: [Param<'_>; 2] = [(&tenant, Type::TEXT), (&series, Type::INT8_ARRAY)];
    let r = rows(
        tx,
        "WITH d AS (DELETE FROM history_raw WHERE tenant_id = $1 AND series = ANY($2) RETURNING 1) \
         SELECT count(*) FROM d",
        &p,
    )
    .await?;
    let removed: i64 = match r.first() {
        Some(r) => col(r, 0)?,
        None => 0,
    };
    for sql in [
        "DELETE FROM history_hourly WHERE tenant_id = $1 AND series = ANY($2)",
        "DELETE FROM history_daily WHERE tenant_id = $1 AND series = ANY($2)",
    ] {
        rows(tx, sql, &p).await?;
    }
    Ok(removed.max(0) as u64)
}

/// Rebuilds the daily rollups of a tenant in `tz`: from raw instances where they are kept,
/// from hourly rollups (each hour in the day it starts in) where retention removed them.
async fn rebuild_daily(tx: &Transaction<'_>, tenant: &str, tz: Tz) -> StoreResult<()> {
    let series = rows(
        tx,
        "SELECT id, thinned_before FROM history_series WHERE tenant_id = $1 ORDER BY id",
        &[(&tenant, Type::TEXT)],
    )
    .await?;
    rows(
        tx,
        "DELETE FROM history_daily WHERE tenant_id = $1",
        &[(&tenant, Type::TEXT)],
    )
    .await?;
    for s in &series {
        let id: i64 = col(s, 0)?;
        let thinned: Option<DateTime<Utc>> = col(s, 1)?;
        let mut days: BTreeMap<i64, Summary> = BTreeMap::new();
        let points = rows(
            tx,
            "SELECT time, value FROM history_raw WHERE tenant_id = $1 AND series = $2 \
             AND value IS NOT NULL ORDER BY time, hash",
            &[(&tenant, Type::TEXT), (&id, Type::INT8)],
        )
        .await?;
        for p in &points {
            days.entry(day_of(micros(col(p, 0)?), tz))
                .or_insert_with(Summary::new)
                .add(col(p, 1)?);
        }
        if let Some(before) = thinned {
            let hour = micros(before).div_euclid(HOUR_MICROS);
            let hours = rows(
                tx,
                "SELECT hour, count, sum, sumsq, min, max FROM history_hourly \
                 WHERE tenant_id = $1 AND series = $2 AND hour < $3 ORDER BY hour",
                &[
                    (&tenant, Type::TEXT),
                    (&id, Type::INT8),
                    (&hour, Type::INT8),
                ],
            )
            .await?;
            for h in &hours {
                let s = Summary {
                    count: col(h, 1)?,
                    sum: col(h, 2)?,
                    sumsq: col(h, 3)?,
                    min: col(h, 4)?,
                    max: col(h, 5)?,
                };
                days.entry(day_of(col::<i64>(h, 0)? * HOUR_MICROS, tz))
                    .or_insert_with(Summary::new)
                    .merge(&s);
            }
        }
        let flat: Vec<(i64, i64, Summary)> = days.into_iter().map(|(k, s)| (id, k, s)).collect();
        upsert_rollups(tx, tenant, Level::Daily, &flat, true).await?;
    }
    Ok(())
}

async fn read_policies(tx: &Transaction<'_>, tenant: &str) -> StoreResult<Vec<RetentionPolicy>> {
    let r = rows(
        tx,
        "SELECT entity_type, raw_days, hourly_days, daily_days FROM history_retention_policies \
         WHERE tenant_id = $1 ORDER BY entity_type",
        &[(&tenant, Type::TEXT)],
    )
    .await?;
    let days = |row: &Row, i| -> StoreResult<Option<u32>> {
        Ok(col::<Option<i64>>(row, i)?.map(|d| u32::try_from(d.max(0)).unwrap_or(u32::MAX)))
    };
    r.iter()
        .map(|row| {
            let t: String = col(row, 0)?;
            Ok(RetentionPolicy {
                entity_type: (!t.is_empty()).then_some(t),
                raw_days: days(row, 1)?,
                hourly_days: days(row, 2)?,
                daily_days: days(row, 3)?,
            })
        })
        .collect()
}

/// What one retention pass does to one tenant: its policies, the series each governs, and
/// the time zone of its days.
struct TenantPlan {
    tenant: String,
    tz: Tz,
    policies: Vec<RetentionPolicy>,
    members: Vec<Vec<i64>>,
}

/// The raw cutoff of a policy as of `now`: whole UTC hours.
fn raw_cutoff(days: u32, now: DateTime<Utc>) -> i64 {
    (micros(now) - i64::from(days) * 86_400_000_000).div_euclid(HOUR_MICROS) * HOUR_MICROS
}

async fn plan_tenant(tx: &Transaction<'_>, tenant: String) -> StoreResult<TenantPlan> {
    let policies = read_policies(tx, &tenant).await?;
    let tz = read_time_zone(tx, &tenant).await?;
    let series = rows(
        tx,
        "SELECT id, types FROM history_series WHERE tenant_id = $1 ORDER BY id",
        &[(&tenant, Type::TEXT)],
    )
    .await?;
    // Each series follows the policy of the first of its types that has one, else the
    // default policy.
    let mut members: Vec<Vec<i64>> = vec![Vec::new(); policies.len()];
    for row in &series {
        let id: i64 = col(row, 0)?;
        let types: Vec<String> = col(row, 1)?;
        let own = types.iter().find_map(|t| {
            policies
                .iter()
                .position(|p| p.entity_type.as_deref() == Some(t.as_str()))
        });
        if let Some(i) = own.or_else(|| policies.iter().position(|p| p.entity_type.is_none())) {
            members[i].push(id);
        }
    }
    Ok(TenantPlan {
        tenant,
        tz,
        policies,
        members,
    })
}

/// Drops the partitions of `history_raw` that hold only numbers every tenant's policy has
/// expired; returns how many instances each (tenant, series) lost that way.
async fn drop_expired_partitions(
    tx: &Transaction<'_>,
    plans: &[TenantPlan],
    now: DateTime<Utc>,
) -> StoreResult<HashMap<(String, i64), u64>> {
    let (mut tenants, mut series, mut cutoffs) = (Vec::new(), Vec::new(), Vec::new());
    for plan in plans {
        for (policy, ids) in plan.policies.iter().zip(&plan.members) {
            let Some(days) = policy.raw_days else {
                continue;
            };
            let cutoff = from_micros(raw_cutoff(days, now))?;
            for id in ids {
                tenants.push(plan.tenant.as_str());
                series.push(*id);
                cutoffs.push(cutoff);
            }
        }
    }
    let mut out = HashMap::new();
    if series.is_empty() {
        return Ok(out);
    }
    rows(
        tx,
        "CREATE TEMPORARY TABLE IF NOT EXISTS history_retention_cut \
         (tenant_id text COLLATE \"C\", series bigint, cutoff timestamptz, \
          PRIMARY KEY (tenant_id, series)) ON COMMIT DROP",
        &[],
    )
    .await?;
    rows(
        tx,
        "INSERT INTO history_retention_cut SELECT * FROM unnest($1::text[], $2::bigint[], \
         $3::timestamptz[]) ON CONFLICT DO NOTHING",
        &[
            (&tenants, Type::TEXT_ARRAY),
            (&series, Type::INT8_ARRAY),
            (&cutoffs, Type::TIMESTAMPTZ_ARRAY),
        ],
    )
    .await?;
    let dropped = rows(tx, "SELECT * FROM jumeau_history_drop_partitions()", &[]).await?;
    for r in &dropped {
        let key = (col::<String>(r, 0)?, col::<i64>(r, 1)?);
        *out.entry(key).or_insert(0) += col::<i64>(r, 2)?.max(0) as u64;
    }
    Ok(out)
}

/// Applies the retention policies of one tenant as of `now`, after whole partitions were
/// dropped (`dropped`: instances each series lost that way).
async fn apply_tenant_retention(
    tx: &Transaction<'_>,
    plan: &TenantPlan,
    now: DateTime<Utc>,
    dropped: &HashMap<(String, i64), u64>,
) -> StoreResult<Vec<RetentionReport>> {
    let tenant = plan.tenant.as_str();
    let grid = day_grid(plan.tz)?;
    let mut reports = Vec::new();
    for (policy, ids) in plan.policies.iter().zip(&plan.members) {
        for (level, days) in [
            ("raw", policy.raw_days),
            ("hourly", policy.hourly_days),
            ("daily", policy.daily_days),
        ] {
            let Some(days) = days else { continue };
            let cutoff = micros(now) - i64::from(days) * 86_400_000_000;
            // Only what a coarser rollup summarises goes: raw instances of whole hours
            // (their hourly rollups are written with them), hourly rows of whole local days.
            let (cutoff, removed) = match level {
                "raw" => {
                    let c = raw_cutoff(days, now);
                    let at = from_micros(c)?;
                    let r = rows(
                        tx,
                        "WITH d AS (DELETE FROM history_raw WHERE tenant_id = $1 \
                         AND series = ANY($2) AND time < $3 AND value IS NOT NULL RETURNING 1) \
                         SELECT count(*) FROM d",
                        &[
                            (&tenant, Type::TEXT),
                            (ids, Type::INT8_ARRAY),
                            (&at, Type::TIMESTAMPTZ),
                        ],
                    )
                    .await?;
                    let mut removed = match r.first() {
                        Some(r) => col::<i64>(r, 0)?.max(0) as u64,
                        None => 0,
                    };
                    for id in ids {
                        removed += dropped
                            .get(&(tenant.to_string(), *id))
                            .copied()
                            .unwrap_or(0);
                    }
                    rows(
                        tx,
                        "UPDATE history_series SET thinned_before = \
                         greatest(COALESCE(thinned_before, $3), $3) \
                         WHERE tenant_id = $1 AND id = ANY($2)",
                        &[
                            (&tenant, Type::TEXT),
                            (ids, Type::INT8_ARRAY),
                            (&at, Type::TIMESTAMPTZ),
                        ],
                    )
                    .await?;
                    (c, removed)
                }
                "hourly" => {
                    let c = grid
                        .bucket_of(from_micros(cutoff)?)
                        .map_or(cutoff, |b| micros(b.start));
                    let hour = c.div_euclid(HOUR_MICROS);
                    let r = rows(
                        tx,
                        "WITH d AS (DELETE FROM history_hourly WHERE tenant_id = $1 \
                         AND series = ANY($2) AND hour < $3 RETURNING 1) SELECT count(*) FROM d",
                        &[
                            (&tenant, Type::TEXT),
                            (ids, Type::INT8_ARRAY),
                            (&hour, Type::INT8),
                        ],
                    )
                    .await?;
                    let removed = match r.first() {
                        Some(r) => col::<i64>(r, 0)?.max(0) as u64,
                        None => 0,
                    };
                    (c, removed)
                }
                _ => {
                    let day = day_of(cutoff, plan.tz);
                    let r = rows(
                        tx,
                        "WITH d AS (DELETE FROM history_daily WHERE tenant_id = $1 \
                         AND series = ANY($2) AND day < $3 RETURNING 1) SELECT count(*) FROM d",
                        &[
                            (&tenant, Type::TEXT),
                            (ids, Type::INT8_ARRAY),
                            (&day, Type::INT8),
                        ],
                    )
                    .await?;
                    let removed = match r.first() {
                        Some(r) => col::<i64>(r, 0)?.max(0) as u64,
                        None => 0,
                    };
                    (day_bounds(day, &grid)?.0, removed)
                }
            };
            let cutoff = from_micros(cutoff)?;
            let entity_type = policy.entity_type.as_deref().unwrap_or("");
            let removed_sql = i64::try_from(removed).unwrap_or(i64::MAX);
            rows(
                tx,
                "INSERT INTO history_retention_reports \
                 (tenant_id, ran_at, entity_type, level, cutoff, removed) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    (&tenant, Type::TEXT),
                    (&now, Type::TIMESTAMPTZ),
                    (&entity_type, Type::TEXT),
                    (&level, Type::TEXT),
                    (&cutoff, Type::TIMESTAMPTZ),
                    (&removed_sql, Type::INT8),
                ],
            )
            .await?;
            reports.push(RetentionReport {
                tenant: tenant.to_string(),
                ran_at: now,
                entity_type: policy.entity_type.clone(),
                level: level.to_string(),
                cutoff,
                removed,
            });
        }
    }
    Ok(reports)
}

fn empty_entity() -> StoreError {
    StoreError::Rejected(NgsiError::bad_data(
        "the entity id of the history to append is empty: give the id of the entity",
    ))
}

#[async_trait]
impl TemporalStore for PgStore {
    async fn append_history(
        &self,
        tenant: &str,
        entity_id: &str,
        types: &[String],
        instances: Vec<(String, Attribute)>,
    ) -> StoreResult<AppendReport> {
        if entity_id.is_empty() {
            return Err(empty_entity());
        }
        let refs: Vec<(&str, &Attribute)> =
            instances.iter().map(|(n, a)| (n.as_str(), a)).collect();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_err)?;
        let report = record(&tx, tenant, entity_id, types, &refs, Utc::now()).await?;
        tx.commit().await.map_err(pg_err)?;
        Ok(report)
    }

    async fn history(
        &self,
        tenant: &str,
        ids: &[String],
        attrs: Option<&[String]>,
        query: &TemporalQuery,
    ) -> StoreResult<Vec<EntityHistory>> {
        let mut client = self.client().await?;
        let tx = snapshot(&mut client).await?;
        let mut out = Vec::new();
        for id in ids {
            let series = entity_series(&tx, tenant, id, attrs).await?;
            let mut histories = Vec::new();
            for s in &series {
                let instances = series_history(&tx, tenant, s, query).await?;
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
                    id: id.clone(),
                    types: entity_types(&series),
                    attrs: histories,
                });
            }
        }
        tx.commit().await.map_err(pg_err)?;
        Ok(out)
    }

    async fn aggregate(
        &self,
        tenant: &str,
        ids: &[String],
        attrs: Option<&[String]>,
        query: &TemporalQuery,
        tz: Tz,
    ) -> StoreResult<Vec<EntityAggregate>> {
        let mut client = self.client().await?;
        let tx = snapshot(&mut client).await?;
        let tenant_tz = read_time_zone(&tx, tenant).await?;
        let mut memo = Memo::default();
        // Each entity once (its series are read once); an id asked twice is answered twice.
        let mut seen = HashSet::new();
        let names: Vec<&str> = ids
            .iter()
            .map(String::as_str)
            .filter(|id| seen.insert(*id))
            .collect();
        let by_entity = series_of_entities(&tx, tenant, &names, attrs).await?;
        // Series share their buckets, and are read in groups, over a bounded range of
        // observation times; otherwise one by one.
        let (from, to) = range_bounds(query);
        let shared =
            query.time_property == TimeProperty::ObservedAt && from != i64::MIN && to != i64::MAX;
        let group_size = if shared { SERIES_PER_READ } else { 1 };
        let all: Vec<&SeriesRow> = names
            .iter()
            .filter_map(|id| by_entity.get(*id))
            .flatten()
            .collect();
        let mut results: HashMap<i64, Vec<(Bucket, Accumulator)>> = HashMap::new();
        for group in all.chunks(group_size) {
            let read = aggregate_group(&tx, tenant, group, query, tz, tenant_tz, &mut memo).await?;
            results.extend(group.iter().map(|s| s.id).zip(read));
        }
        let mut each: HashMap<&str, EntityAggregate> = HashMap::new();
        for id in &names {
            let Some(series) = by_entity.get(*id) else {
                continue;
            };
            let aggregates: Vec<AttributeAggregate> = series
                .iter()
                .filter_map(|s| {
                    let buckets = results.remove(&s.id).filter(|b| !b.is_empty())?;
                    Some(AttributeAggregate {
                        name: s.attr.clone(),
                        dataset_id: (!s.dataset.is_empty()).then(|| s.dataset.clone()),
                        buckets,
                    })
                })
                .collect();
            if !aggregates.is_empty() {
                let aggregate = EntityAggregate {
                    id: id.to_string(),
                    types: entity_types(series),
                    attrs: aggregates,
                };
                each.insert(id, aggregate);
            }
        }
        let out = if names.len() == ids.len() {
            names.iter().filter_map(|id| each.remove(id)).collect()
        } else {
            ids.iter()
                .filter_map(|id| each.get(id.as_str()).cloned())
                .collect()
        };
        tx.commit().await.map_err(pg_err)?;
        Ok(out)
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
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_err)?;
        let removed = match instance_id {
            Some(id) => delete_instance(&tx, tenant, entity_id, attr, id).await?,
            None => {
                let series = entity_series(&tx, tenant, entity_id, None).await?;
                let ids: Vec<i64> = series
                    .iter()
                    .filter(|s| match attr {
                        None => true,
                        Some(a) => {
                            s.attr == a && (delete_all || s.dataset == dataset_id.unwrap_or(""))
                        }
                    })
                    .map(|s| s.id)
                    .collect();
                delete_series_data(&tx, tenant, &ids).await?
            }
        };
        tx.commit().await.map_err(pg_err)?;
        Ok(removed)
    }

    async fn time_zone(&self, tenant: &str) -> StoreResult<Tz> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_err)?;
        let tz = read_time_zone(&tx, tenant).await?;
        tx.commit().await.map_err(pg_err)?;
        Ok(tz)
    }

    async fn set_time_zone(&self, tenant: &str, tz: Tz) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_err)?;
        // Serialises changes of one tenant's zone with each other.
        rows(
            &tx,
            "SELECT pg_advisory_xact_lock(hashtext('jumeau time zone ' || $1))",
            &[(&tenant, Type::TEXT)],
        )
        .await?;
        if read_time_zone(&tx, tenant).await? == tz {
            return tx.commit().await.map_err(pg_err);
        }
        let name = tz.name();
        rows(
            &tx,
            "INSERT INTO history_time_zones (tenant_id, tz) VALUES ($1, $2) \
             ON CONFLICT (tenant_id) DO UPDATE SET tz = excluded.tz",
            &[(&tenant, Type::TEXT), (&name, Type::TEXT)],
        )
        .await?;
        rebuild_daily(&tx, tenant, tz).await?;
        tx.commit().await.map_err(pg_err)
    }

    async fn retention_policies(&self, tenant: &str) -> StoreResult<Vec<RetentionPolicy>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_err)?;
        let policies = read_policies(&tx, tenant).await?;
        tx.commit().await.map_err(pg_err)?;
        Ok(policies)
    }

    async fn set_retention_policy(&self, tenant: &str, policy: RetentionPolicy) -> StoreResult<()> {
        check_policy(&policy)?;
        let client = self.client().await?;
        let entity_type = policy.entity_type.as_deref().unwrap_or("");
        let days = |d: Option<u32>| d.map(i64::from);
        client
            .execute(
                "INSERT INTO history_retention_policies \
                 (tenant_id, entity_type, raw_days, hourly_days, daily_days) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, entity_type) DO UPDATE SET \
                 raw_days = excluded.raw_days, hourly_days = excluded.hourly_days, \
                 daily_days = excluded.daily_days",
                &[
                    &tenant,
                    &entity_type,
                    &days(policy.raw_days),
                    &days(policy.hourly_days),
                    &days(policy.daily_days),
                ],
            )
            .await
            .map_err(pg_err)?;
        Ok(())
    }

    async fn apply_retention(&self, now: DateTime<Utc>) -> StoreResult<Vec<RetentionReport>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_err)?;
        // One pass at a time (several servers may run it).
        rows(
            &tx,
            "SELECT pg_advisory_xact_lock(hashtext('jumeau retention'))",
            &[],
        )
        .await?;
        // Partitions ahead of the clock and of the present, for the months to come.
        let ahead: Vec<DateTime<Utc>> = (0..4)
            .flat_map(|m| [now, Utc::now()].map(|t| t.checked_add_months(chrono::Months::new(m))))
            .flatten()
            .collect();
        ensure_partitions(&tx, ahead).await?;
        let tenants = rows(
            &tx,
            "SELECT DISTINCT tenant_id FROM history_retention_policies ORDER BY tenant_id",
            &[],
        )
        .await?;
        let mut plans = Vec::with_capacity(tenants.len());
        for t in &tenants {
            plans.push(plan_tenant(&tx, col(t, 0)?).await?);
        }
        let dropped = drop_expired_partitions(&tx, &plans, now).await?;
        let mut out = Vec::new();
        for plan in &plans {
            out.extend(apply_tenant_retention(&tx, plan, now, &dropped).await?);
        }
        tx.commit().await.map_err(pg_err)?;
        Ok(out)
    }

    async fn retention_reports(&self, tenant: &str) -> StoreResult<Vec<RetentionReport>> {
        let client = self.client().await?;
        let r = client
            .query(
                "SELECT ran_at, entity_type, level, cutoff, removed FROM history_retention_reports \
                 WHERE tenant_id = $1 ORDER BY ran_at DESC, id DESC",
                &[&tenant],
            )
            .await
            .map_err(pg_err)?;
        r.iter()
            .map(|row| {
                let t: String = col(row, 1)?;
                Ok(RetentionReport {
                    tenant: tenant.to_string(),
                    ran_at: col(row, 0)?,
                    entity_type: (!t.is_empty()).then_some(t),
                    level: col(row, 2)?,
                    cutoff: col(row, 3)?,
                    removed: col::<i64>(row, 4)?.max(0) as u64,
                })
            })
            .collect()
    }

    /// On PostgreSQL, `raw_bytes` is the size of every partition of the raw table with its
    /// indexes and TOAST, shared among tenants in proportion to their rows' sizes.
    async fn history_stats(&self, tenant: &str) -> StoreResult<HistoryStats> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT \
                   (SELECT count(*) FROM history_raw WHERE tenant_id = $1), \
                   (SELECT count(*) FROM history_hourly WHERE tenant_id = $1), \
                   (SELECT count(*) FROM history_daily WHERE tenant_id = $1), \
                   (SELECT COALESCE(sum(pg_column_size(r.*)), 0)::bigint FROM history_raw r \
                     WHERE tenant_id = $1), \
                   (SELECT COALESCE(sum(pg_column_size(r.*)), 0)::bigint FROM history_raw r), \
                   (SELECT COALESCE(sum(pg_total_relation_size(relid)), 0)::bigint \
                     FROM pg_partition_tree('history_raw') WHERE isleaf)",
                &[&tenant],
            )
            .await
            .map_err(pg_err)?;
        let (instances, hourly, daily): (i64, i64, i64) =
            (col(&row, 0)?, col(&row, 1)?, col(&row, 2)?);
        let (mine, all, total): (i64, i64, i64) = (col(&row, 3)?, col(&row, 4)?, col(&row, 5)?);
        let raw_bytes = if all > 0 {
            (total as f64 * (mine as f64 / all as f64)).round() as u64
        } else {
            0
        };
        Ok(HistoryStats {
            instances: instances.max(0) as u64,
            hourly_rows: hourly.max(0) as u64,
            daily_rows: daily.max(0) as u64,
            raw_bytes: Some(raw_bytes),
        })
    }
}
