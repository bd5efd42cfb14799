//! Engine-neutral planning of aggregations and the summaries of rollup rows, shared by the
//! SQLite and PostgreSQL engines so that both cut a query into the same periods, read the
//! same rollups and give the same answers.
//!
//! Times are microseconds since the Unix epoch (UTC); hours are UTC hours since the epoch
//! and days are local days of the tenant's time zone since 1970-01-01.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use jumeau_model::temporal::{
    Accumulator, AggrMethod, AggrPeriod, Bucket, BucketGrid, Duration, TemporalQuery,
};
use jumeau_model::{AttributeValue, ErrorKind, NgsiError};
use serde_json::Value;

use crate::temporal::RetentionPolicy;
use crate::{StoreError, StoreResult};

/// Microseconds in an hour.
pub(crate) const HOUR_MICROS: i64 = 3_600_000_000;
/// Most aggregation periods one attribute may be cut into in one request.
pub(crate) const MAX_BUCKETS: usize = 200_000;

/// An instant in microseconds since the Unix epoch.
pub(crate) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// The instant of a stored time in microseconds; Corrupt when out of range.
pub(crate) fn from_micros(t: i64) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_micros(t)
        .ok_or_else(|| StoreError::Corrupt(format!("stored time {t} µs is out of range")))
}

/// The local day (days since 1970-01-01) of an instant in `tz`.
pub(crate) fn day_of(t: i64, tz: Tz) -> i64 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    match DateTime::from_timestamp_micros(t) {
        Some(d) => (d.with_timezone(&tz).date_naive() - epoch).num_days(),
        None => t.div_euclid(86_400_000_000),
    }
}

/// The grid of local days in `tz`.
pub(crate) fn day_grid(tz: Tz) -> StoreResult<BucketGrid> {
    let p1d = Duration::parse("P1D").map_err(|e| StoreError::Corrupt(e.detail))?;
    Ok(BucketGrid::new(&p1d, tz, DateTime::UNIX_EPOCH))
}

/// `[start, end)` of local day `day` (days since 1970-01-01) in µs.
pub(crate) fn day_bounds(day: i64, grid: &BucketGrid) -> StoreResult<(i64, i64)> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    let noon = epoch
        .checked_add_signed(chrono::TimeDelta::days(day))
        .and_then(|d| d.and_hms_opt(12, 0, 0))
        .and_then(|d| grid.time_zone().from_local_datetime(&d).earliest())
        .map(|d| d.with_timezone(&Utc))
        .ok_or_else(|| StoreError::Corrupt(format!("day {day} is out of range")))?;
    let b = grid
        .bucket_of(noon)
        .ok_or_else(|| StoreError::Corrupt(format!("day {day} is out of range")))?;
    Ok((micros(b.start), micros(b.end)))
}

/// The JSON value of an attribute instance, as aggregations count it.
pub(crate) fn value_json(v: &AttributeValue) -> Value {
    match v {
        AttributeValue::Property(v)
        | AttributeValue::JsonProperty(v)
        | AttributeValue::VocabProperty(v) => v.clone(),
        AttributeValue::Relationship(r) => r.to_json(),
        AttributeValue::GeoProperty(g) => g.as_json().clone(),
        AttributeValue::LanguageProperty(m) => Value::Object(m.clone()),
        AttributeValue::ListProperty(l) => Value::Array(l.clone()),
        AttributeValue::ListRelationship(l) => {
            Value::Array(l.iter().cloned().map(Value::String).collect())
        }
    }
}

/// The summary of numeric values kept by a rollup row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Summary {
    /// Instances summarised.
    pub(crate) count: i64,
    /// Their sum.
    pub(crate) sum: f64,
    /// The sum of their squares.
    pub(crate) sumsq: f64,
    /// The smallest.
    pub(crate) min: f64,
    /// The largest.
    pub(crate) max: f64,
}

impl Summary {
    /// The summary of nothing.
    pub(crate) fn new() -> Self {
        Self {
            count: 0,
            sum: 0.0,
            sumsq: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    /// Adds one value.
    pub(crate) fn add(&mut self, x: f64) {
        self.count += 1;
        self.sum += x;
        self.sumsq += x * x;
        self.min = self.min.min(x);
        self.max = self.max.max(x);
    }

    /// Adds another summary.
    pub(crate) fn merge(&mut self, o: &Summary) {
        self.count += o.count;
        self.sum += o.sum;
        self.sumsq += o.sumsq;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
    }

    /// The accumulator of the aggregation methods holding this summary.
    pub(crate) fn accumulator(&self) -> Accumulator {
        Accumulator::from_summary(
            self.count.max(0) as u64,
            self.sum,
            self.sumsq,
            self.min,
            self.max,
        )
    }
}

/// `[from, to)` of a query's time range in µs (open sides unbounded).
pub(crate) fn range_bounds(query: &TemporalQuery) -> (i64, i64) {
    let r = query.time_range;
    (
        r.and_then(|r| r.start()).map_or(i64::MIN, micros),
        r.and_then(|r| r.end()).map_or(i64::MAX, micros),
    )
}

/// What serves one part of an aggregation bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Source {
    /// The daily rollup of this local day.
    Day(i64),
    /// The hourly rollup of this UTC hour.
    Hour(i64),
    /// Raw instances.
    Raw,
}

/// One part `[start, end)` of bucket `bucket`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Piece {
    /// Where it is read from.
    pub(crate) source: Source,
    /// Start, in µs.
    pub(crate) start: i64,
    /// End (excluded), in µs.
    pub(crate) end: i64,
    /// The bucket it belongs to.
    pub(crate) bucket: usize,
}

/// A whole local day: start and end in µs, day number.
pub(crate) type Day = (i64, i64, i64);

/// Cuts `[start, end)` into whole local days (when the sorted, consecutive `days` are
/// given), whole UTC hours and raw edges.
pub(crate) fn cover(
    start: i64,
    end: i64,
    bucket: usize,
    days: Option<&[Day]>,
    out: &mut Vec<Piece>,
) {
    if let Some(days) = days {
        let first = days.partition_point(|d| d.0 < start);
        let count = days[first..].iter().take_while(|d| d.1 <= end).count();
        if count > 0 {
            let whole = &days[first..first + count];
            cover_hours(start, whole[0].0, bucket, out);
            for &(ds, de, day) in whole {
                out.push(Piece {
                    source: Source::Day(day),
                    start: ds,
                    end: de,
                    bucket,
                });
            }
            cover_hours(whole[count - 1].1, end, bucket, out);
            return;
        }
    }
    cover_hours(start, end, bucket, out);
}

/// The whole local days of `tz` inside `[from, to)`.
pub(crate) fn whole_days(from: i64, to: i64, tz: Tz) -> StoreResult<Vec<Day>> {
    let (s, e) = (from_micros(from)?, from_micros(to)?);
    Ok(day_grid(tz)?
        .buckets(s, e)
        .filter(|d| d.start >= s && d.end <= e)
        .map(|d| (micros(d.start), micros(d.end), day_of(micros(d.start), tz)))
        .collect())
}

/// Buckets and days computed once per range for every series of a request (a dashboard
/// asks the same year of 1,000 entities).
#[derive(Default)]
pub(crate) struct Memo {
    buckets: HashMap<(i64, i64), Vec<Bucket>>,
    days: HashMap<(i64, i64), Vec<Day>>,
}

/// Cuts `[start, end)` into whole UTC hours and raw edges.
pub(crate) fn cover_hours(start: i64, end: i64, bucket: usize, out: &mut Vec<Piece>) {
    if start >= end {
        return;
    }
    let h0 = start.div_euclid(HOUR_MICROS) + i64::from(start.rem_euclid(HOUR_MICROS) != 0);
    let h1 = end.div_euclid(HOUR_MICROS);
    let raw = |s: i64, e: i64, out: &mut Vec<Piece>| {
        if s < e {
            out.push(Piece {
                source: Source::Raw,
                start: s,
                end: e,
                bucket,
            });
        }
    };
    if h0 >= h1 {
        raw(start, end, out);
        return;
    }
    raw(start, h0 * HOUR_MICROS, out);
    for h in h0..h1 {
        out.push(Piece {
            source: Source::Hour(h),
            start: h * HOUR_MICROS,
            end: (h + 1) * HOUR_MICROS,
            bucket,
        });
    }
    raw(h1 * HOUR_MICROS, end, out);
}

/// Merges a rollup's accumulator into bucket `bucket`.
pub(crate) fn merge_into(accs: &mut [Option<Accumulator>], bucket: usize, acc: Accumulator) {
    if let Some(slot) = accs.get_mut(bucket) {
        match slot {
            Some(a) => a.merge(&acc),
            None => *slot = Some(acc),
        }
    }
}

/// Adds one instance's value to bucket `bucket`.
pub(crate) fn add_into(
    accs: &mut [Option<Accumulator>],
    bucket: usize,
    value: &Value,
    methods: &[AggrMethod],
) {
    if let Some(slot) = accs.get_mut(bucket) {
        slot.get_or_insert_with(|| Accumulator::for_methods(methods))
            .add(value);
    }
}

/// The buckets of a query over `[from, to)` µs.
pub(crate) fn query_buckets(
    query: &TemporalQuery,
    tz: Tz,
    from: i64,
    to: i64,
) -> StoreResult<Vec<Bucket>> {
    let (s, e) = (from_micros(from)?, from_micros(to)?);
    let grid = match &query.aggr_period {
        None | Some(AggrPeriod::WholeRange) => return Ok(vec![Bucket { start: s, end: e }]),
        Some(AggrPeriod::Every(d)) => BucketGrid::new(d, tz, query.aggregation_origin()),
    };
    let buckets: Vec<Bucket> = grid.buckets(s, e).take(MAX_BUCKETS + 1).collect();
    if buckets.len() > MAX_BUCKETS {
        return Err(StoreError::Rejected(NgsiError::new(
            ErrorKind::TooComplexQuery,
            format!(
                "the aggregation would cut the range into more than {MAX_BUCKETS} periods: \
                 use a longer aggrPeriodDuration or a shorter time range"
            ),
        )));
    }
    Ok(buckets)
}

/// The index of the bucket holding `t`, if any (buckets are consecutive and sorted).
pub(crate) fn bucket_index(buckets: &[Bucket], t: i64) -> Option<usize> {
    let i = buckets.partition_point(|b| micros(b.start) <= t);
    let i = i.checked_sub(1)?;
    (t < micros(buckets[i].end)).then_some(i)
}

/// Refuses a policy that would keep a finer level longer than a coarser one: aggregations
/// read the coarsest level that covers a period, so a finer level must never outlive it.
pub(crate) fn check_policy(policy: &RetentionPolicy) -> StoreResult<()> {
    if policy.entity_type.as_deref() == Some("") {
        return Err(StoreError::Rejected(NgsiError::bad_data(
            "the entity type of a retention policy is empty: give an expanded type IRI, \
             or none for the default policy",
        )));
    }
    let forever = |d: Option<u32>| d.map_or(u64::MAX, u64::from);
    let (raw, hourly, daily) = (
        forever(policy.raw_days),
        forever(policy.hourly_days),
        forever(policy.daily_days),
    );
    if raw > hourly || hourly > daily {
        return Err(StoreError::Rejected(NgsiError::bad_data(format!(
            "a retention policy must keep raw readings no longer than hourly rollups, and \
             hourly rollups no longer than daily ones (no value: for ever); got raw {:?}, \
             hourly {:?}, daily {:?} days: raise the coarser levels or lower the finer ones",
            policy.raw_days, policy.hourly_days, policy.daily_days
        ))));
    }
    Ok(())
}

impl Memo {
    /// The buckets of a query over `[from, to)` µs, computed once per range.
    pub(crate) fn buckets_of(
        &mut self,
        query: &TemporalQuery,
        tz: Tz,
        from: i64,
        to: i64,
    ) -> StoreResult<Vec<Bucket>> {
        if let Some(b) = self.buckets.get(&(from, to)) {
            return Ok(b.clone());
        }
        let b = query_buckets(query, tz, from, to)?;
        self.buckets.insert((from, to), b.clone());
        Ok(b)
    }
}

/// Cuts the buckets of an aggregation by observedAt over `[from, to)` into the parts each
/// is read from: whole local days from daily rollups (only when `tz` is the tenant's zone,
/// `tenant_tz`, in which they are kept), whole UTC hours from hourly rollups, raw instances
/// for the edges; raw instances only when the query asks distinctCount, which rollups
/// cannot answer. Pieces come in time order.
pub(crate) fn plan_pieces(
    query: &TemporalQuery,
    buckets: &[Bucket],
    tz: Tz,
    tenant_tz: Tz,
    from: i64,
    to: i64,
    memo: &mut Memo,
) -> StoreResult<Vec<Piece>> {
    let use_rollups = !query.aggr_methods.contains(&AggrMethod::DistinctCount);
    if use_rollups && tz == tenant_tz && !memo.days.contains_key(&(from, to)) {
        memo.days.insert((from, to), whole_days(from, to, tz)?);
    }
    let days = if use_rollups && tz == tenant_tz {
        memo.days.get(&(from, to)).map(Vec::as_slice)
    } else {
        None
    };
    let mut pieces = Vec::new();
    for (i, b) in buckets.iter().enumerate() {
        let (bs, be) = (micros(b.start).max(from), micros(b.end).min(to));
        if use_rollups {
            cover(bs, be, i, days, &mut pieces);
        } else if bs < be {
            pieces.push(Piece {
                source: Source::Raw,
                start: bs,
                end: be,
                bucket: i,
            });
        }
    }
    Ok(pieces)
}

/// The runs of consecutive pieces of one kind (adjacent in time), each read with one query:
/// keys of a run of rollup pieces are consecutive, so the piece of a key is at its offset.
pub(crate) fn runs(pieces: &[Piece]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < pieces.len() {
        let kind = std::mem::discriminant(&pieces[start].source);
        let mut end = start + 1;
        while end < pieces.len()
            && std::mem::discriminant(&pieces[end].source) == kind
            && pieces[end].start == pieces[end - 1].end
        {
            end += 1;
        }
        out.push(start..end);
        start = end;
    }
    out
}

/// The buckets with at least one instance, with what they accumulated.
pub(crate) fn filled(
    buckets: Vec<Bucket>,
    accs: Vec<Option<Accumulator>>,
) -> Vec<(Bucket, Accumulator)> {
    buckets
        .into_iter()
        .zip(accs)
        .filter_map(|(b, a)| a.filter(|a| a.total_count() > 0).map(|a| (b, a)))
        .collect()
}
