//! Aggregation periods as consecutive buckets of time (the `aggrPeriodDuration` of the
//! aggregated temporal representation, NGSI-LD §4.5.19), computed in a time zone so that days,
//! weeks, months and years follow the local calendar.
//!
//! Two kinds of period, two alignments:
//!
//! - **Exact periods** (`PT15M`, `PT1H`, `PT90S`: hours, minutes and seconds only) have a fixed
//!   length in UTC and are aligned on the *origin*: buckets are `origin + k × length`. NGSI-LD
//!   starts the aggregation periods at `timeAt` when the query gives one, so the origin is
//!   `timeAt`; without it, [`DateTime::UNIX_EPOCH`] puts `PT15M` and `PT1H` buckets on clock
//!   quarter-hours and hours. A `PT1H` bucket is always 60 minutes, across daylight saving
//!   changes too.
//! - **Calendar periods** (with years, months, weeks or days: `P1D`, `P1W`, `P1M`, `P1Y`,
//!   `P1DT12H`) are aligned on the local calendar of the time zone: local midnight for days,
//!   Monday for weeks (ISO 8601 weeks), the first of the month for months, the first of
//!   January for years. The grid is anchored at the calendar boundary at or before the origin
//!   (midnight of its local day, Monday of its week, first of its month or year, by the
//!   coarsest part of the period), so the origin only sets the phase of multiples (`P2D`,
//!   `P3M`); `P1D`, `P1W`, `P1M` and `P1Y` buckets are the same whatever the origin. Bucket
//!   `k` starts at local midnight of `anchor + k × (months, days)`, plus `k ×` the exact part.
//!   So `P1D` on the day clocks go forward is 23 hours long and 25 hours on the day they go
//!   back. The first bucket may thus start before `timeAt`; [`Bucket::clip`] cuts it to the
//!   queried range when a response needs it.
//!
//! Where a local midnight does not exist (a daylight saving gap at midnight, as in some
//! American zones), the day starts at the end of the gap; where it occurs twice, at the first.

use std::str::FromStr;

use chrono::{
    DateTime, Datelike, LocalResult, Months, NaiveDate, NaiveDateTime, NaiveTime, Offset,
    TimeDelta, TimeZone, Utc,
};
use chrono_tz::Tz;

use super::duration::Duration;
use crate::{NgsiError, Result};

/// The time zone of calendar periods when the request names none: the territory of the
/// twin is French (Europe/Paris, CET/CEST).
pub const DEFAULT_TIME_ZONE: Tz = chrono_tz::Europe::Paris;

const NANOS: i128 = 1_000_000_000;
/// The mean Gregorian month in seconds, to estimate which bucket holds an instant.
const MEAN_MONTH_SECONDS: f64 = 30.436_875 * 86_400.0;

/// Parses an IANA time zone name such as `Europe/Paris`, for a request that aggregates by
/// the calendar of another zone than [`DEFAULT_TIME_ZONE`].
pub fn parse_time_zone(name: &str) -> Result<Tz> {
    Tz::from_str(name).map_err(|_| {
        NgsiError::bad_data(format!(
            "'{name}' is not an IANA time zone name: give one such as Europe/Paris or UTC"
        ))
    })
}

/// One aggregation period `[start, end)` of the aggregated temporal representation
/// (NGSI-LD §4.5.19): instants `t` with `start <= t < end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Bucket {
    /// The first instant of the period (included).
    pub start: DateTime<Utc>,
    /// The first instant after the period (excluded).
    pub end: DateTime<Utc>,
}

impl Bucket {
    /// Whether `instant` falls in `[start, end)`.
    pub fn contains(&self, instant: DateTime<Utc>) -> bool {
        self.start <= instant && instant < self.end
    }

    /// The length of the period in real (UTC) time.
    pub fn length(&self) -> TimeDelta {
        self.end - self.start
    }

    /// The period cut to `[from, to)`, for responses that report only the queried range
    /// (the first calendar bucket may start before `timeAt`, the last end after
    /// `endTimeAt`). An empty intersection gives an empty bucket at the nearest bound.
    pub fn clip(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Bucket {
        let start = self.start.max(from).min(to);
        let end = self.end.min(to).max(start);
        Bucket { start, end }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Grid {
    /// `origin + k × step`, in nanoseconds.
    Fixed { origin: i128, step: i128 },
    /// Local midnight of `anchor + k × (months, days)`, plus `k × exact` nanoseconds.
    Calendar {
        anchor: NaiveDate,
        months: i128,
        days: i128,
        exact: i128,
        /// The mean length of one period in seconds, to estimate bucket indexes.
        nominal: f64,
    },
}

/// The consecutive aggregation buckets (NGSI-LD §4.5.19) of one period in one time zone from
/// one origin; see the module documentation for the alignment rules.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketGrid {
    tz: Tz,
    grid: Grid,
}

impl BucketGrid {
    /// The grid of `period` in `tz` from `origin` (`timeAt` when the query gives one).
    pub fn new(period: &Duration, tz: Tz, origin: DateTime<Utc>) -> Self {
        let exact = delta_nanos(period.exact_part());
        let grid = if period.has_calendar_part() {
            let local = origin.with_timezone(&tz).date_naive();
            let anchor = if period.years() > 0 {
                NaiveDate::from_ymd_opt(local.year(), 1, 1)
            } else if period.months() > 0 {
                NaiveDate::from_ymd_opt(local.year(), local.month(), 1)
            } else if period.weeks() > 0 {
                local.checked_sub_signed(TimeDelta::days(i64::from(
                    local.weekday().num_days_from_monday(),
                )))
            } else {
                Some(local)
            }
            .unwrap_or(local);
            let months = i128::from(period.total_months());
            let days = i128::from(period.total_days());
            Grid::Calendar {
                anchor,
                months,
                days,
                exact,
                nominal: months as f64 * MEAN_MONTH_SECONDS
                    + days as f64 * 86_400.0
                    + exact as f64 / NANOS as f64,
            }
        } else {
            Grid::Fixed {
                origin: instant_nanos(origin),
                step: exact.max(1),
            }
        };
        Self { tz, grid }
    }

    /// The time zone of the calendar.
    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    /// The start of the bucket holding `instant`.
    ///
    /// Falls back to `instant` itself only if the bucket lies outside the dates chrono can
    /// represent (years beyond ±262,000), which RFC 3339 instants and periods of at most
    /// [`super::duration::MAX_DURATION_YEARS`] never reach.
    pub fn bucket_start(&self, instant: DateTime<Utc>) -> DateTime<Utc> {
        self.index_of(instant)
            .and_then(|k| self.point(k))
            .unwrap_or(instant)
    }

    /// The bucket holding `instant`, or `None` outside chrono's range of dates.
    pub fn bucket_of(&self, instant: DateTime<Utc>) -> Option<Bucket> {
        let k = self.index_of(instant)?;
        Some(Bucket {
            start: self.point(k)?,
            end: self.point(k + 1)?,
        })
    }

    /// The consecutive buckets covering `[from, to)`: the first holds `from` (it may start
    /// before it), the last holds the instant just before `to` (it may end after it). Empty
    /// when `to <= from`. The iterator is lazy: a caller answering a request bounds how many
    /// buckets it takes (`PT1S` over a year is 31 million buckets).
    pub fn buckets(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Buckets {
        let next = if from < to { self.index_of(from) } else { None };
        Buckets {
            grid: *self,
            next,
            start: next.and_then(|k| self.point(k)),
            to,
        }
    }

    /// The start of bucket `k` (bucket 0 starts at the origin or the calendar anchor).
    fn point(&self, k: i128) -> Option<DateTime<Utc>> {
        match self.grid {
            Grid::Fixed { origin, step } => from_nanos(origin.checked_add(k.checked_mul(step)?)?),
            Grid::Calendar {
                anchor,
                months,
                days,
                exact,
                ..
            } => {
                let m = k.checked_mul(months)?;
                let date = if m >= 0 {
                    anchor.checked_add_months(Months::new(u32::try_from(m).ok()?))?
                } else {
                    anchor.checked_sub_months(Months::new(u32::try_from(-m).ok()?))?
                };
                let d = i64::try_from(k.checked_mul(days)?).ok()?;
                let date = date.checked_add_signed(TimeDelta::try_days(d)?)?;
                let midnight = local_to_utc(self.tz, date.and_time(NaiveTime::MIN))?;
                midnight.checked_add_signed(nanos_delta(k.checked_mul(exact)?)?)
            }
        }
    }

    /// Whether bucket `k` starts at or before `instant`; starts beyond chrono's range count
    /// as before (`k < 0`) or after (`k >= 0`) every instant.
    fn starts_by(&self, k: i128, instant: DateTime<Utc>) -> bool {
        match self.point(k) {
            Some(p) => p <= instant,
            None => k < 0,
        }
    }

    /// The index `k` with `point(k) <= instant < point(k + 1)`.
    fn index_of(&self, instant: DateTime<Utc>) -> Option<i128> {
        match self.grid {
            Grid::Fixed { origin, step } => {
                Some((instant_nanos(instant) - origin).div_euclid(step))
            }
            Grid::Calendar { nominal, .. } => {
                let zero = self.point(0)?;
                let elapsed = (instant_nanos(instant) - instant_nanos(zero)) as f64 / NANOS as f64;
                let estimate = (elapsed / nominal).floor();
                // An estimate within chrono's range of dates fits easily in i128.
                let guess = if estimate.is_finite() {
                    estimate.clamp(-1e15, 1e15) as i128
                } else {
                    0
                };
                // Bracket the answer around the estimate, widening exponentially...
                let (mut lo, mut hi) = (guess, guess + 1);
                let mut step = 1i128;
                for _ in 0..64 {
                    if self.starts_by(lo, instant) {
                        break;
                    }
                    hi = lo;
                    lo -= step;
                    step *= 2;
                }
                step = 1;
                for _ in 0..64 {
                    if !self.starts_by(hi, instant) {
                        break;
                    }
                    lo = hi;
                    hi += step;
                    step *= 2;
                }
                if !self.starts_by(lo, instant) || self.starts_by(hi, instant) {
                    return None;
                }
                // ...then bisect: starts_by(lo) and !starts_by(hi) hold throughout.
                while hi - lo > 1 {
                    let mid = lo + (hi - lo) / 2;
                    if self.starts_by(mid, instant) {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                Some(lo)
            }
        }
    }
}

/// The start of the aggregation bucket (NGSI-LD §4.5.19) of `period` holding `instant`, in
/// time zone `tz`,
/// from `origin` (`timeAt` when the query gives one). Exact periods are fixed-length buckets
/// aligned on `origin`; calendar periods follow the local calendar (see the module
/// documentation). Shorthand for [`BucketGrid::bucket_start`].
pub fn bucket_start(
    instant: DateTime<Utc>,
    period: &Duration,
    tz: Tz,
    origin: DateTime<Utc>,
) -> DateTime<Utc> {
    BucketGrid::new(period, tz, origin).bucket_start(instant)
}

/// The consecutive aggregation buckets (NGSI-LD §4.5.19) of `period` covering `[from, to)`,
/// in time zone `tz`, from `origin`. Shorthand for [`BucketGrid::buckets`].
pub fn buckets(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    period: &Duration,
    tz: Tz,
    origin: DateTime<Utc>,
) -> Buckets {
    BucketGrid::new(period, tz, origin).buckets(from, to)
}

/// An iterator over consecutive [`Bucket`]s, made by [`BucketGrid::buckets`].
#[derive(Debug, Clone)]
pub struct Buckets {
    grid: BucketGrid,
    /// The index of the next bucket.
    next: Option<i128>,
    /// Its start (the end of the previous one), computed once.
    start: Option<DateTime<Utc>>,
    to: DateTime<Utc>,
}

impl Iterator for Buckets {
    type Item = Bucket;

    fn next(&mut self) -> Option<Bucket> {
        let k = self.next.take()?;
        let start = self.start.take()?;
        if start >= self.to {
            return None;
        }
        let end = self.grid.point(k + 1)?;
        if end <= start {
            return None;
        }
        self.next = Some(k + 1);
        self.start = Some(end);
        Some(Bucket { start, end })
    }
}

/// The UTC instant of a local date-time: the first of two when clocks go back, the end of
/// the gap when the local time is skipped.
fn local_to_utc(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => Some(a.min(b).with_timezone(&Utc)),
        LocalResult::None => gap_end(tz, local),
    }
}

/// The first instant whose local time is at or after `local`, which falls in a gap. The
/// transition lies between `local - offset after` and `local - offset before`; bisect it.
fn gap_end(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    let as_utc = local.and_utc();
    let offset_at = |t: DateTime<Utc>| {
        i64::from(
            tz.offset_from_utc_datetime(&t.naive_utc())
                .fix()
                .local_minus_utc(),
        )
    };
    let before = offset_at(as_utc.checked_sub_signed(TimeDelta::days(1))?);
    let after = offset_at(as_utc.checked_add_signed(TimeDelta::days(1))?);
    let reached = |secs: i64| {
        DateTime::from_timestamp(secs, 0)
            .map(|t| t.with_timezone(&tz).naive_local() >= local)
            .unwrap_or(false)
    };
    let base = as_utc.timestamp();
    let (mut lo, mut hi) = (base - after, base - before);
    if lo >= hi || reached(lo) || !reached(hi) {
        return None;
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if reached(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    DateTime::from_timestamp(hi, 0)
}

fn instant_nanos(t: DateTime<Utc>) -> i128 {
    i128::from(t.timestamp()) * NANOS + i128::from(t.timestamp_subsec_nanos())
}

fn from_nanos(n: i128) -> Option<DateTime<Utc>> {
    let secs = i64::try_from(n.div_euclid(NANOS)).ok()?;
    let nanos = u32::try_from(n.rem_euclid(NANOS)).ok()?;
    DateTime::from_timestamp(secs, nanos)
}

fn delta_nanos(d: TimeDelta) -> i128 {
    i128::from(d.num_seconds()) * NANOS + i128::from(d.subsec_nanos())
}

fn nanos_delta(n: i128) -> Option<TimeDelta> {
    let secs = i64::try_from(n.div_euclid(NANOS)).ok()?;
    let nanos = i64::try_from(n.rem_euclid(NANOS)).ok()?;
    TimeDelta::try_seconds(secs)?.checked_add(&TimeDelta::nanoseconds(nanos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{America, Europe};

    fn utc(s: &str) -> DateTime<Utc> {
        crate::time::parse_datetime(s).expect(s)
    }

    fn dur(s: &str) -> Duration {
        Duration::parse(s).expect(s)
    }

    fn paris() -> Tz {
        DEFAULT_TIME_ZONE
    }

    fn all(period: &str, from: &str, to: &str, origin: &str) -> Vec<Bucket> {
        buckets(utc(from), utc(to), &dur(period), paris(), utc(origin)).collect()
    }

    #[test]
    fn default_zone_is_paris() {
        assert_eq!(DEFAULT_TIME_ZONE, Europe::Paris);
        assert_eq!(
            parse_time_zone("Europe/Paris").expect("zone"),
            Europe::Paris
        );
        assert_eq!(parse_time_zone("UTC").expect("zone"), chrono_tz::UTC);
        let e = parse_time_zone("Europe/Lutece").expect_err("unknown");
        assert!(e.detail.contains("'Europe/Lutece'") && e.detail.contains("Europe/Paris"));
        assert!(parse_time_zone("").is_err());
    }

    #[test]
    fn spring_forward_day_is_23_hours() {
        // 2024-03-31: Paris goes from CET (+1) to CEST (+2) at 02:00 local.
        let day = BucketGrid::new(&dur("P1D"), paris(), utc("2024-03-01T00:00:00Z"))
            .bucket_of(utc("2024-03-31T12:00:00Z"))
            .expect("bucket");
        assert_eq!(day.start, utc("2024-03-30T23:00:00Z"));
        assert_eq!(day.end, utc("2024-03-31T22:00:00Z"));
        assert_eq!(day.length(), TimeDelta::hours(23));
        // Early morning in UTC that is already the 31st in Paris.
        assert_eq!(
            bucket_start(
                utc("2024-03-30T23:30:00Z"),
                &dur("P1D"),
                paris(),
                utc("2024-01-01T00:00:00Z")
            ),
            utc("2024-03-30T23:00:00Z")
        );
        // The neighbours are 24 hours.
        let days = all(
            "P1D",
            "2024-03-30T12:00:00Z",
            "2024-04-01T12:00:00Z",
            "2024-03-30T12:00:00Z",
        );
        let lengths: Vec<i64> = days.iter().map(|b| b.length().num_hours()).collect();
        assert_eq!(lengths, vec![24, 23, 24]);
        assert_eq!(days[0].start, utc("2024-03-29T23:00:00Z"));
    }

    #[test]
    fn fall_back_day_is_25_hours() {
        // 2024-10-27: Paris goes from CEST (+2) back to CET (+1) at 03:00 local.
        let days = all(
            "P1D",
            "2024-10-26T00:00:00Z",
            "2024-10-28T00:00:00Z",
            "2024-10-26T00:00:00Z",
        );
        assert_eq!(
            days,
            vec![
                Bucket {
                    start: utc("2024-10-25T22:00:00Z"),
                    end: utc("2024-10-26T22:00:00Z")
                },
                Bucket {
                    start: utc("2024-10-26T22:00:00Z"),
                    end: utc("2024-10-27T23:00:00Z")
                },
                Bucket {
                    start: utc("2024-10-27T23:00:00Z"),
                    end: utc("2024-10-28T23:00:00Z")
                },
            ]
        );
        assert_eq!(days[1].length(), TimeDelta::hours(25));
        // Instants in the repeated hour belong to the 27th.
        for t in ["2024-10-27T00:30:00Z", "2024-10-27T01:30:00Z"] {
            assert!(days[1].contains(utc(t)), "{t}");
        }
    }

    #[test]
    fn hourly_buckets_stay_60_minutes_across_dst() {
        for (from, to) in [
            ("2024-03-30T22:00:00Z", "2024-03-31T04:00:00Z"),
            ("2024-10-26T22:00:00Z", "2024-10-27T04:00:00Z"),
        ] {
            let hours = all("PT1H", from, to, from);
            assert_eq!(hours.len(), 6);
            for pair in hours.windows(2) {
                assert_eq!(pair[0].end, pair[1].start);
            }
            for h in &hours {
                assert_eq!(h.length(), TimeDelta::minutes(60));
                assert_eq!(h.start.timestamp() % 3600, 0);
            }
            assert_eq!(hours[0].start, utc(from));
            assert_eq!(hours[5].end, utc(to));
        }
    }

    #[test]
    fn exact_periods_align_on_origin() {
        let origin = utc("2024-05-01T10:07:00Z");
        let grid = BucketGrid::new(&dur("PT15M"), paris(), origin);
        assert_eq!(grid.bucket_start(utc("2024-05-01T10:07:00Z")), origin);
        assert_eq!(
            grid.bucket_start(utc("2024-05-01T10:21:59Z")),
            utc("2024-05-01T10:07:00Z")
        );
        assert_eq!(
            grid.bucket_start(utc("2024-05-01T10:22:00Z")),
            utc("2024-05-01T10:22:00Z")
        );
        // Before the origin: floor, not truncation toward the origin.
        assert_eq!(
            grid.bucket_start(utc("2024-05-01T10:06:59Z")),
            utc("2024-05-01T09:52:00Z")
        );
        // The epoch origin gives clock quarter-hours.
        assert_eq!(
            bucket_start(
                utc("2024-05-01T10:21:00Z"),
                &dur("PT15M"),
                paris(),
                DateTime::UNIX_EPOCH
            ),
            utc("2024-05-01T10:15:00Z")
        );
        // Sub-second periods.
        let half = BucketGrid::new(&dur("PT0.5S"), paris(), DateTime::UNIX_EPOCH);
        assert_eq!(
            half.bucket_start(utc("2024-05-01T10:00:00.7Z")),
            utc("2024-05-01T10:00:00.5Z")
        );
        // Far from the origin.
        assert_eq!(
            bucket_start(
                utc("2024-05-01T10:21:00Z"),
                &dur("PT1H"),
                paris(),
                utc("1900-01-01T00:30:00Z")
            ),
            utc("2024-05-01T09:30:00Z")
        );
    }

    #[test]
    fn months_follow_the_calendar() {
        let months = all(
            "P1M",
            "2024-01-15T00:00:00Z",
            "2024-04-01T00:00:00Z",
            "2024-01-15T00:00:00Z",
        );
        let starts: Vec<DateTime<Utc>> = months.iter().map(|b| b.start).collect();
        assert_eq!(
            starts,
            vec![
                utc("2023-12-31T23:00:00Z"),
                utc("2024-01-31T23:00:00Z"),
                utc("2024-02-29T23:00:00Z"),
                utc("2024-03-31T22:00:00Z"),
            ]
        );
        // January 31 days, February 29 days (leap year), March 31 days less the DST hour.
        let lengths: Vec<i64> = months.iter().map(|b| b.length().num_hours()).collect();
        assert_eq!(lengths, vec![31 * 24, 29 * 24, 31 * 24 - 1, 30 * 24]);
        // 2023 is not a leap year.
        let feb = BucketGrid::new(&dur("P1M"), paris(), utc("2023-01-01T00:00:00Z"))
            .bucket_of(utc("2023-02-28T22:59:59Z"))
            .expect("bucket");
        assert_eq!(feb.start, utc("2023-01-31T23:00:00Z"));
        assert_eq!(feb.end, utc("2023-02-28T23:00:00Z"));
        assert_eq!(feb.length(), TimeDelta::days(28));
        // The last instant of February 2024 in Paris, and the first of March.
        let grid = BucketGrid::new(&dur("P1M"), paris(), utc("2024-01-01T00:00:00Z"));
        assert_eq!(
            grid.bucket_start(utc("2024-02-29T22:59:59.999Z")),
            utc("2024-01-31T23:00:00Z")
        );
        assert_eq!(
            grid.bucket_start(utc("2024-02-29T23:00:00Z")),
            utc("2024-02-29T23:00:00Z")
        );
    }

    #[test]
    fn multi_month_periods_take_their_phase_from_the_origin() {
        let grid = BucketGrid::new(&dur("P3M"), paris(), utc("2024-02-10T00:00:00Z"));
        assert_eq!(
            grid.bucket_start(utc("2024-06-15T00:00:00Z")),
            utc("2024-04-30T22:00:00Z")
        );
        assert_eq!(
            grid.bucket_start(utc("2024-01-15T00:00:00Z")),
            utc("2023-10-31T23:00:00Z")
        );
        let grid = BucketGrid::new(&dur("P1Y6M"), paris(), utc("2024-07-10T00:00:00Z"));
        let b = grid.bucket_of(utc("2026-01-01T12:00:00Z")).expect("bucket");
        assert_eq!(b.start, utc("2025-06-30T22:00:00Z"));
        assert_eq!(b.end, utc("2026-12-31T23:00:00Z"));
    }

    #[test]
    fn years_start_on_first_of_january() {
        // Up to the first instant of 2025 in Paris, excluded.
        let years = all(
            "P1Y",
            "2023-06-01T00:00:00Z",
            "2024-12-31T23:00:00Z",
            "2023-06-01T00:00:00Z",
        );
        assert_eq!(years.len(), 2);
        assert_eq!(years[0].start, utc("2022-12-31T23:00:00Z"));
        assert_eq!(years[0].length(), TimeDelta::days(365));
        assert_eq!(years[1].start, utc("2023-12-31T23:00:00Z"));
        assert_eq!(years[1].length(), TimeDelta::days(366));
        assert_eq!(years[1].end, utc("2024-12-31T23:00:00Z"));
        // One more UTC hour is already 2025 in Paris.
        let years = all(
            "P1Y",
            "2023-06-01T00:00:00Z",
            "2025-01-01T00:00:00Z",
            "2023-06-01T00:00:00Z",
        );
        assert_eq!(years.len(), 3);
    }

    #[test]
    fn iso_weeks_across_a_year_boundary() {
        // 2024-12-30 is the Monday of ISO week 2025-W01; 2025-01-05 its Sunday.
        let grid = BucketGrid::new(&dur("P1W"), paris(), utc("2024-12-01T00:00:00Z"));
        let w = grid.bucket_of(utc("2025-01-01T10:00:00Z")).expect("bucket");
        assert_eq!(w.start, utc("2024-12-29T23:00:00Z"));
        assert_eq!(w.end, utc("2025-01-05T23:00:00Z"));
        assert_eq!(w.length(), TimeDelta::days(7));
        // Monday 00:30 in Paris is still Sunday 23:30 in UTC: it belongs to the new week.
        assert_eq!(
            grid.bucket_start(utc("2024-12-29T23:30:00Z")),
            utc("2024-12-29T23:00:00Z")
        );
        assert_eq!(
            grid.bucket_start(utc("2024-12-29T22:59:59Z")),
            utc("2024-12-22T23:00:00Z")
        );
        // Whatever the origin's weekday, P1W weeks start on Monday.
        for origin in [
            "2024-12-25T12:00:00Z",
            "2024-12-29T12:00:00Z",
            "2025-03-03T00:00:00Z",
        ] {
            let start = bucket_start(
                utc("2025-01-01T10:00:00Z"),
                &dur("P1W"),
                paris(),
                utc(origin),
            );
            assert_eq!(start, utc("2024-12-29T23:00:00Z"), "{origin}");
        }
        // A week holding the spring change is 167 hours.
        let w = grid.bucket_of(utc("2024-03-31T12:00:00Z")).expect("bucket");
        assert_eq!(w.start, utc("2024-03-24T23:00:00Z"));
        assert_eq!(w.length(), TimeDelta::hours(167));
    }

    #[test]
    fn mixed_periods() {
        // P1DT12H: 36-hour steps from local midnight of the origin's day.
        let got = all(
            "P1DT12H",
            "2024-06-01T10:00:00Z",
            "2024-06-04T00:00:00Z",
            "2024-06-01T10:00:00Z",
        );
        let starts: Vec<DateTime<Utc>> = got.iter().map(|b| b.start).collect();
        assert_eq!(
            starts,
            vec![
                utc("2024-05-31T22:00:00Z"),
                utc("2024-06-02T10:00:00Z"),
                utc("2024-06-03T22:00:00Z"),
            ]
        );
        // P2D from the origin's day.
        let grid = BucketGrid::new(&dur("P2D"), paris(), utc("2024-06-01T10:00:00Z"));
        assert_eq!(
            grid.bucket_start(utc("2024-06-04T10:00:00Z")),
            utc("2024-06-02T22:00:00Z")
        );
        assert_eq!(
            grid.bucket_start(utc("2024-05-30T10:00:00Z")),
            utc("2024-05-29T22:00:00Z")
        );
    }

    #[test]
    fn far_instants_and_empty_ranges() {
        let grid = BucketGrid::new(&dur("P1D"), paris(), utc("2024-06-01T00:00:00Z"));
        assert_eq!(
            grid.bucket_start(utc("1970-01-01T12:00:00Z")),
            utc("1969-12-31T23:00:00Z")
        );
        // Whatever offset the zone database gives so far ahead, the day starts at midnight.
        let local_midnight = paris()
            .with_ymd_and_hms(2999, 7, 14, 0, 0, 0)
            .single()
            .expect("midnight")
            .with_timezone(&Utc);
        assert_eq!(
            grid.bucket_start(utc("2999-07-14T12:00:00Z")),
            local_midnight
        );
        let grid = BucketGrid::new(&dur("P1M"), paris(), utc("0001-01-01T00:00:00Z"));
        assert_eq!(
            grid.bucket_start(utc("9999-12-31T12:00:00Z")),
            utc("9999-11-30T23:00:00Z")
        );
        assert_eq!(
            grid.buckets(utc("2024-01-02T00:00:00Z"), utc("2024-01-01T00:00:00Z"))
                .count(),
            0
        );
        assert_eq!(
            grid.buckets(utc("2024-01-01T00:00:00Z"), utc("2024-01-01T00:00:00Z"))
                .count(),
            0
        );
    }

    #[test]
    fn buckets_tile_the_range() {
        for period in [
            "PT15M", "PT1H", "P1D", "P1W", "P1M", "P1Y", "P1DT12H", "P3M",
        ] {
            let from = utc("2023-10-20T05:17:00Z");
            let to = utc("2024-11-03T17:00:00Z");
            let got: Vec<Bucket> =
                buckets(from, to, &dur(period), paris(), utc("2023-10-20T05:17:00Z")).collect();
            assert!(got[0].contains(from), "{period}");
            assert!(
                got[got.len() - 1].contains(to - TimeDelta::nanoseconds(1)),
                "{period}"
            );
            for pair in got.windows(2) {
                assert_eq!(pair[0].end, pair[1].start, "{period}");
            }
            for b in &got {
                assert!(b.start < b.end, "{period}");
                assert_eq!(bucket_start(b.start, &dur(period), paris(), from), b.start);
            }
        }
    }

    /// Random instants over half a century, random origins: each bucket holds its instant,
    /// starts on the local calendar boundary its period names, and is found again from its
    /// own start.
    #[test]
    fn random_instants_fall_in_calendar_buckets() {
        let mut state = 0x0031_0327_2024_u64;
        let mut next = move || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let base = utc("2000-01-01T00:00:00Z").timestamp();
        let span = 50 * 365 * 86_400;
        let random_instant = move |next: &mut dyn FnMut() -> u64| {
            let secs = base + (next() % span) as i64;
            DateTime::from_timestamp(secs, 0).expect("in range")
        };
        for _ in 0..400 {
            let period_text =
                ["P1D", "P1W", "P1M", "P1Y", "P2D", "P3M", "PT1H", "PT15M"][(next() % 8) as usize];
            let period = dur(period_text);
            let origin = random_instant(&mut next);
            let t = random_instant(&mut next);
            let grid = BucketGrid::new(&period, paris(), origin);
            let b = grid.bucket_of(t).expect("bucket");
            assert!(b.contains(t), "{period_text} {t} {b:?}");
            assert_eq!(grid.bucket_start(b.start), b.start, "{period_text}");
            assert_eq!(grid.bucket_start(t), b.start, "{period_text}");
            let local = b.start.with_timezone(&paris()).naive_local();
            if period.has_calendar_part() {
                assert_eq!(local.time(), NaiveTime::MIN, "{period_text} {b:?}");
                let hours = b.length().num_hours();
                match period_text {
                    "P1D" => assert!((23..=25).contains(&hours), "{b:?}"),
                    "P1W" => {
                        assert_eq!(local.weekday(), chrono::Weekday::Mon);
                        assert!((167..=169).contains(&hours), "{b:?}");
                    }
                    "P1M" => assert_eq!(local.day(), 1),
                    "P1Y" => assert_eq!((local.month(), local.day()), (1, 1)),
                    "P3M" => assert_eq!(local.day(), 1),
                    _ => {}
                }
            } else {
                assert_eq!(Some(b.length()), period.fixed_length());
                let offset = (b.start - origin).num_seconds();
                assert_eq!(offset % period.exact_part().num_seconds(), 0);
            }
        }
    }

    #[test]
    fn clip_to_the_queried_range() {
        let b = Bucket {
            start: utc("2024-01-01T00:00:00Z"),
            end: utc("2024-02-01T00:00:00Z"),
        };
        let c = b.clip(utc("2024-01-15T00:00:00Z"), utc("2024-03-01T00:00:00Z"));
        assert_eq!(c.start, utc("2024-01-15T00:00:00Z"));
        assert_eq!(c.end, utc("2024-02-01T00:00:00Z"));
        let empty = b.clip(utc("2024-05-01T00:00:00Z"), utc("2024-06-01T00:00:00Z"));
        assert_eq!(empty.length(), TimeDelta::zero());
    }

    #[test]
    fn skipped_and_repeated_midnights() {
        // America/Santiago skipped 2023-09-03 00:00 (clocks went from -04 to -03 at
        // midnight): that day starts at 01:00 local, 04:00 UTC.
        let santiago = America::Santiago;
        let grid = BucketGrid::new(&dur("P1D"), santiago, utc("2023-09-01T12:00:00Z"));
        let day = grid.bucket_of(utc("2023-09-03T12:00:00Z")).expect("bucket");
        assert_eq!(day.start, utc("2023-09-03T04:00:00Z"));
        assert_eq!(day.end, utc("2023-09-04T03:00:00Z"));
        assert_eq!(day.length(), TimeDelta::hours(23));
        let before = grid.bucket_of(utc("2023-09-02T12:00:00Z")).expect("bucket");
        assert_eq!(before.end, day.start);
        // America/Havana repeats 00:00-01:00 when DST ends (2023-11-05 01:00 -> 00:00):
        // the day starts at the first midnight.
        let havana = America::Havana;
        let grid = BucketGrid::new(&dur("P1D"), havana, utc("2023-11-01T12:00:00Z"));
        let day = grid.bucket_of(utc("2023-11-05T12:00:00Z")).expect("bucket");
        assert_eq!(day.start, utc("2023-11-05T04:00:00Z"));
        assert_eq!(day.length(), TimeDelta::hours(25));
    }
}
