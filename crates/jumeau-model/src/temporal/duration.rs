//! ISO 8601 durations as NGSI-LD writes `aggrPeriodDuration` (ETSI GS CIM 009 §4.5.19,
//! aggregated temporal representation): `P[n]Y[n]M[n]DT[n]H[n]M[n]S` or `P[n]W`.
//!
//! The calendar parts (years, months, weeks, days) are kept apart from the exact parts
//! (hours, minutes, seconds): a day is 23, 24 or 25 hours long depending on daylight saving
//! time and a month 28 to 31 days, so only the bucketing in a time zone
//! ([`super::bucket`]) can turn them into instants.

use std::fmt;

use chrono::TimeDelta;

use crate::{NgsiError, Result};

/// The longest duration accepted, in years: a bound that keeps every computation on dates
/// within range and still far beyond any useful aggregation period.
pub const MAX_DURATION_YEARS: u64 = 10_000;

const MAX_MONTHS: u64 = MAX_DURATION_YEARS * 12;
const MAX_DAYS: u64 = MAX_DURATION_YEARS * 366;
const MAX_EXACT_SECONDS: u64 = MAX_DAYS * 86_400;
const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// A valid example given in every parse error message.
const EXAMPLES: &str = "such as PT15M, PT1H, P1D, P1W, P1M, P1Y or P1DT12H";

/// A positive ISO 8601 duration, calendar parts apart from exact parts (NGSI-LD §4.5.19).
///
/// Built by [`Duration::parse`]; never zero. Weeks appear alone (`P[n]W`), as NGSI-LD
/// allows; a fraction is allowed on the seconds only (`PT0.5S`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Duration {
    years: u32,
    months: u32,
    weeks: u32,
    days: u32,
    hours: u32,
    minutes: u32,
    seconds: u64,
    nanos: u32,
}

impl Duration {
    /// The zero duration, only a starting point for the parser: never handed out.
    const ZERO: Duration = Duration {
        years: 0,
        months: 0,
        weeks: 0,
        days: 0,
        hours: 0,
        minutes: 0,
        seconds: 0,
        nanos: 0,
    };

    /// Parses a positive ISO 8601 duration (NGSI-LD §4.5.19 `aggrPeriodDuration`).
    ///
    /// Rejects, with [`crate::ErrorKind::BadRequestData`] and a message showing valid
    /// values: an empty or malformed text, a negative or zero duration, `P` or `PT` with no
    /// part, weeks combined with other parts, and a duration over
    /// [`MAX_DURATION_YEARS`]. A zero duration is meaningful to the query as a whole (see
    /// [`AggrPeriod::parse`]) but not as a bucket length, hence refused here.
    pub fn parse(text: &str) -> Result<Self> {
        let d = parse_any(text)?;
        if d.is_zero() {
            return Err(NgsiError::bad_data(format!(
                "'{text}' is a zero duration, but a period must be positive: give one {EXAMPLES}"
            )));
        }
        Ok(d)
    }

    /// Years (a calendar part).
    pub fn years(&self) -> u32 {
        self.years
    }
    /// Months (a calendar part).
    pub fn months(&self) -> u32 {
        self.months
    }
    /// ISO weeks (a calendar part; never combined with other parts).
    pub fn weeks(&self) -> u32 {
        self.weeks
    }
    /// Days (a calendar part: 23 to 25 hours across daylight saving changes).
    pub fn days(&self) -> u32 {
        self.days
    }
    /// Hours (an exact part).
    pub fn hours(&self) -> u32 {
        self.hours
    }
    /// Minutes (an exact part).
    pub fn minutes(&self) -> u32 {
        self.minutes
    }
    /// Whole seconds (an exact part).
    pub fn seconds(&self) -> u64 {
        self.seconds
    }
    /// The fraction of a second, in nanoseconds (an exact part).
    pub fn subsec_nanos(&self) -> u32 {
        self.nanos
    }

    /// Years and months as a number of months: the month-based calendar part.
    pub fn total_months(&self) -> u32 {
        // Bounded by MAX_MONTHS at parse time, far below u32::MAX.
        self.years.saturating_mul(12).saturating_add(self.months)
    }

    /// Weeks and days as a number of days: the day-based calendar part.
    pub fn total_days(&self) -> u32 {
        self.weeks.saturating_mul(7).saturating_add(self.days)
    }

    /// Whether the duration has calendar parts (years, months, weeks or days), whose length
    /// depends on the calendar and the time zone.
    pub fn has_calendar_part(&self) -> bool {
        self.total_months() > 0 || self.total_days() > 0
    }

    /// The exact part (hours, minutes, seconds) as a fixed length of time.
    pub fn exact_part(&self) -> TimeDelta {
        let secs = u64::from(self.hours) * 3600 + u64::from(self.minutes) * 60 + self.seconds;
        // Bounded by MAX_EXACT_SECONDS at parse time, far inside TimeDelta's range.
        let secs = i64::try_from(secs).unwrap_or(i64::MAX / 1000);
        let whole = TimeDelta::try_seconds(secs).unwrap_or(TimeDelta::MAX);
        whole
            .checked_add(&TimeDelta::nanoseconds(i64::from(self.nanos)))
            .unwrap_or(whole)
    }

    /// The exact length of the duration when it has no calendar part (`PT15M`, `PT1H`), and
    /// `None` for a calendar-dependent one (`P1D`, `P1M`).
    pub fn fixed_length(&self) -> Option<TimeDelta> {
        (!self.has_calendar_part()).then(|| self.exact_part())
    }

    fn is_zero(&self) -> bool {
        !self.has_calendar_part()
            && self.hours == 0
            && self.minutes == 0
            && self.seconds == 0
            && self.nanos == 0
    }
}

impl fmt::Display for Duration {
    /// Writes the canonical ISO 8601 form: zero parts left out, `PT0S` for zero.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return f.write_str("PT0S");
        }
        f.write_str("P")?;
        for (n, unit) in [
            (self.years, 'Y'),
            (self.months, 'M'),
            (self.weeks, 'W'),
            (self.days, 'D'),
        ] {
            if n > 0 {
                write!(f, "{n}{unit}")?;
            }
        }
        if self.hours > 0 || self.minutes > 0 || self.seconds > 0 || self.nanos > 0 {
            f.write_str("T")?;
            if self.hours > 0 {
                write!(f, "{}H", self.hours)?;
            }
            if self.minutes > 0 {
                write!(f, "{}M", self.minutes)?;
            }
            if self.seconds > 0 || self.nanos > 0 {
                write!(f, "{}", self.seconds)?;
                if self.nanos > 0 {
                    let frac = format!("{:09}", self.nanos);
                    write!(f, ".{}", frac.trim_end_matches('0'))?;
                }
                f.write_str("S")?;
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for Duration {
    type Err = NgsiError;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

/// The `aggrPeriodDuration` of a query (NGSI-LD §4.5.19): either one bucket spanning the
/// whole time range of the query, or consecutive buckets of a positive duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggrPeriod {
    /// A zero duration (`PT0S`, `P0D`): NGSI-LD reads it as one period spanning the whole
    /// time range of the temporal query; it is also the default when the parameter is absent.
    WholeRange,
    /// Consecutive periods of this duration.
    Every(Duration),
}

impl AggrPeriod {
    /// Parses `aggrPeriodDuration`: a zero duration is [`AggrPeriod::WholeRange`] as NGSI-LD
    /// says, any other valid duration [`AggrPeriod::Every`]; errors as [`Duration::parse`].
    pub fn parse(text: &str) -> Result<Self> {
        let d = parse_any(text)?;
        Ok(if d.is_zero() {
            Self::WholeRange
        } else {
            Self::Every(d)
        })
    }
}

impl fmt::Display for AggrPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WholeRange => f.write_str("PT0S"),
            Self::Every(d) => d.fmt(f),
        }
    }
}

fn bad(text: &str, why: &str) -> NgsiError {
    NgsiError::bad_data(format!(
        "'{text}' is not a valid ISO 8601 duration ({why}): give one {EXAMPLES}"
    ))
}

/// Parses a duration that may be zero.
fn parse_any(text: &str) -> Result<Duration> {
    if text.is_empty() {
        return Err(bad(text, "it is empty"));
    }
    if text.starts_with('-') {
        return Err(bad(text, "a negative duration cannot be a period"));
    }
    let Some(body) = text.strip_prefix('P') else {
        return Err(bad(text, "it must start with P"));
    };
    let (date, time) = match body.split_once('T') {
        Some((d, t)) => {
            if t.is_empty() {
                return Err(bad(text, "T must be followed by hours, minutes or seconds"));
            }
            (d, Some(t))
        }
        None => (body, None),
    };
    if date.is_empty() && time.is_none() {
        return Err(bad(text, "P must be followed by at least one part"));
    }

    let mut d = Duration::ZERO;
    let mut seen_any = false;
    // Date section: Y, M, W, D in this order, each at most once.
    let mut order = 0;
    for (number, unit) in tokens(text, date)? {
        let rank = match unit {
            'Y' => 1,
            'M' => 2,
            'W' => 3,
            'D' => 4,
            'H' | 'S' => return Err(bad(text, "hours and seconds go after T, as in PT1H")),
            _ => return Err(bad(text, &format!("unknown designator '{unit}'"))),
        };
        if rank <= order {
            return Err(bad(
                text,
                "parts must appear once each, in the order Y M W D",
            ));
        }
        order = rank;
        let value = whole(text, number, unit)?;
        match unit {
            'Y' => d.years = bounded(text, value, MAX_DURATION_YEARS)?,
            'M' => d.months = bounded(text, value, MAX_MONTHS)?,
            'W' => d.weeks = bounded(text, value, MAX_DAYS / 7)?,
            _ => d.days = bounded(text, value, MAX_DAYS)?,
        }
        seen_any = true;
    }
    // Time section: H, M, S in this order, each at most once.
    if let Some(time) = time {
        let mut order = 0;
        for (number, unit) in tokens(text, time)? {
            let rank = match unit {
                'H' => 1,
                'M' => 2,
                'S' => 3,
                'Y' | 'W' | 'D' => {
                    return Err(bad(
                        text,
                        "years, weeks and days go before T, as in P1DT12H",
                    ))
                }
                _ => return Err(bad(text, &format!("unknown designator '{unit}'"))),
            };
            if rank <= order {
                return Err(bad(text, "parts must appear once each, in the order H M S"));
            }
            order = rank;
            match unit {
                'H' => d.hours = bounded(text, whole(text, number, unit)?, MAX_EXACT_SECONDS)?,
                'M' => d.minutes = bounded(text, whole(text, number, unit)?, MAX_EXACT_SECONDS)?,
                _ => {
                    let (secs, nanos) = seconds(text, number)?;
                    if secs > MAX_EXACT_SECONDS {
                        return Err(too_long(text));
                    }
                    d.seconds = secs;
                    d.nanos = nanos;
                }
            }
            seen_any = true;
        }
    }
    if !seen_any {
        return Err(bad(text, "it has no part"));
    }
    if d.weeks > 0 && (d.years > 0 || d.months > 0 || d.days > 0 || time.is_some()) {
        return Err(bad(
            text,
            "NGSI-LD allows weeks alone (P[n]W); write the weeks as days, e.g. P9D for P1W2D",
        ));
    }
    // The whole duration, counting 366 days a year and 31 a month, must stay within the bound.
    let rough_days =
        u64::from(d.years) * 366 + u64::from(d.months) * 31 + u64::from(d.total_days());
    let exact_secs = u64::from(d.hours) * 3600 + u64::from(d.minutes) * 60 + d.seconds;
    if rough_days * 86_400 + exact_secs > MAX_EXACT_SECONDS {
        return Err(too_long(text));
    }
    Ok(d)
}

fn too_long(text: &str) -> NgsiError {
    NgsiError::bad_data(format!(
        "'{text}' is too long: an aggregation period is at most {MAX_DURATION_YEARS} years; \
         give one {EXAMPLES}"
    ))
}

/// Splits a section into (number, designator) pairs.
fn tokens<'a>(text: &str, section: &'a str) -> Result<Vec<(&'a str, char)>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in section.char_indices() {
        if c.is_ascii_digit() || c == '.' || c == ',' {
            continue;
        }
        let number = &section[start..i];
        if number.is_empty() {
            return Err(bad(text, &format!("'{c}' must follow a number")));
        }
        out.push((number, c));
        start = i + c.len_utf8();
    }
    if start < section.len() {
        return Err(bad(
            text,
            "a number must be followed by its designator (Y, M, D, H, S…)",
        ));
    }
    Ok(out)
}

fn whole(text: &str, number: &str, unit: char) -> Result<u64> {
    if number.contains(['.', ',']) {
        return Err(bad(
            text,
            &format!("a fraction is only allowed on seconds, not on '{unit}'; e.g. PT0.5S"),
        ));
    }
    number.parse::<u64>().map_err(|_| too_long(text))
}

fn bounded(text: &str, value: u64, max: u64) -> Result<u32> {
    if value > max {
        return Err(too_long(text));
    }
    u32::try_from(value).map_err(|_| too_long(text))
}

/// Parses `12`, `0.5` or `1,25` seconds into whole seconds and nanoseconds.
fn seconds(text: &str, number: &str) -> Result<(u64, u32)> {
    let (int, frac) = match number.split_once(['.', ',']) {
        Some((i, f)) => (i, Some(f)),
        None => (number, None),
    };
    if int.is_empty() {
        return Err(bad(text, "a fraction needs its whole part, as in PT0.5S"));
    }
    let secs = int.parse::<u64>().map_err(|_| too_long(text))?;
    let nanos = match frac {
        None => 0,
        Some(f) => {
            if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(
                    text,
                    "the fraction of seconds must be digits, as in PT0.5S",
                ));
            }
            if f.len() > 9 {
                return Err(bad(text, "seconds have at most 9 decimals (nanoseconds)"));
            }
            let scaled = format!("{f:0<9}");
            let n = scaled.parse::<u64>().map_err(|_| too_long(text))?;
            u32::try_from(n.min(NANOS_PER_SECOND - 1)).unwrap_or(0)
        }
    };
    Ok((secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn ok(s: &str) -> Duration {
        Duration::parse(s).expect(s)
    }

    fn err(s: &str) -> String {
        let e = Duration::parse(s).expect_err(s);
        assert_eq!(e.kind, ErrorKind::BadRequestData, "{s}");
        e.detail
    }

    #[test]
    fn exact_periods() {
        let d = ok("PT15M");
        assert_eq!(d.minutes(), 15);
        assert!(!d.has_calendar_part());
        assert_eq!(d.fixed_length(), Some(TimeDelta::minutes(15)));
        assert_eq!(ok("PT1H").fixed_length(), Some(TimeDelta::hours(1)));
        assert_eq!(ok("PT90S").fixed_length(), Some(TimeDelta::seconds(90)));
        assert_eq!(
            ok("PT1H30M15S").fixed_length(),
            Some(TimeDelta::seconds(3600 + 1800 + 15))
        );
        assert_eq!(
            ok("PT0.5S").fixed_length(),
            Some(TimeDelta::milliseconds(500))
        );
        assert_eq!(
            ok("PT1,25S").fixed_length(),
            Some(TimeDelta::milliseconds(1250))
        );
        assert_eq!(
            ok("PT0.000000001S").fixed_length(),
            Some(TimeDelta::nanoseconds(1))
        );
        // Big but within bounds.
        assert_eq!(ok("PT48H").fixed_length(), Some(TimeDelta::hours(48)));
    }

    #[test]
    fn calendar_periods() {
        let d = ok("P1D");
        assert_eq!(d.days(), 1);
        assert!(d.has_calendar_part());
        assert_eq!(d.fixed_length(), None);
        assert_eq!(ok("P1W").weeks(), 1);
        assert_eq!(ok("P1W").total_days(), 7);
        assert_eq!(ok("P1M").total_months(), 1);
        assert_eq!(ok("P1Y").total_months(), 12);
        assert_eq!(ok("P1Y6M").total_months(), 18);
        let m = ok("P1DT12H");
        assert_eq!((m.days(), m.hours()), (1, 12));
        assert_eq!(m.exact_part(), TimeDelta::hours(12));
        let full = ok("P3Y6M4DT12H30M5S");
        assert_eq!(
            (
                full.years(),
                full.months(),
                full.days(),
                full.hours(),
                full.minutes(),
                full.seconds()
            ),
            (3, 6, 4, 12, 30, 5)
        );
        // M before T is months, after T minutes.
        assert_eq!(ok("P1M").months(), 1);
        assert_eq!(ok("PT1M").minutes(), 1);
        assert_eq!(ok("P1MT1M").months(), 1);
        assert_eq!(ok("P1MT1M").minutes(), 1);
        // Zero parts alongside a non-zero one are fine.
        assert_eq!(ok("P0DT1H").fixed_length(), Some(TimeDelta::hours(1)));
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "PT15M",
            "PT1H",
            "P1D",
            "P1W",
            "P1M",
            "P1Y",
            "P1DT12H",
            "PT0.5S",
            "P3Y6M4DT12H30M5S",
            "PT0.000000001S",
        ] {
            assert_eq!(ok(s).to_string(), s);
        }
        assert_eq!(ok("PT1,50S").to_string(), "PT1.5S");
        assert_eq!(ok("P0Y1D").to_string(), "P1D");
        assert_eq!("PT1H".parse::<Duration>().expect("valid"), ok("PT1H"));
    }

    #[test]
    fn rejects_malformed() {
        for s in [
            "",
            "P",
            "PT",
            "1D",
            "D",
            "P1",
            "PT1",
            "P1H",
            "P1S",
            "PT1D",
            "PT1Y",
            "P1DT",
            "P1X",
            "PT1X",
            "p1d",
            "P1d",
            "P-1D",
            "P1.5D",
            "PT1.5H",
            "PT1.5M",
            "PT.5S",
            "PT1.S",
            "PT1.1234567891S",
            "P1D1Y",
            "P1M1Y",
            "PT1M1H",
            "P1D1D",
            "PT1S1S",
            "P 1D",
            "P1D ",
            " P1D",
            "PDT1H",
            "P1W2D",
            "P1Y1W",
            "P1WT1H",
            "P1.0.0S",
            "PT1..5S",
        ] {
            let msg = err(s);
            assert!(msg.contains("such as PT15M"), "{s}: {msg}");
            assert!(msg.contains(&format!("'{s}'")), "{s}: {msg}");
        }
    }

    #[test]
    fn rejects_negative_and_zero() {
        assert!(err("-P1D").contains("negative"));
        assert!(err("-PT1H").contains("negative"));
        for s in ["PT0S", "P0D", "P0Y0M0DT0H0M0S", "PT0.0S", "P0W"] {
            assert!(err(s).contains("zero"), "{s}");
        }
    }

    #[test]
    fn rejects_overflow() {
        for s in [
            "P99999999999999999999999Y",
            "PT99999999999999999999999S",
            "P10001Y",
            "P120001M",
            "P5000000D",
            "P600000W",
            "PT400000000000S",
            "PT100000000000H",
            "P9999Y9999M",
            "P9000Y999999D",
        ] {
            let msg = err(s);
            assert!(
                msg.contains("too long") || msg.contains("not a valid"),
                "{s}"
            );
        }
        assert!(err("P10001Y").contains("10000 years"));
        // The limit itself is accepted.
        assert_eq!(ok("P10000Y").years(), 10_000);
    }

    #[test]
    fn aggr_period_zero_is_whole_range() {
        assert_eq!(
            AggrPeriod::parse("PT0S").expect("zero"),
            AggrPeriod::WholeRange
        );
        assert_eq!(
            AggrPeriod::parse("P0D").expect("zero"),
            AggrPeriod::WholeRange
        );
        assert_eq!(
            AggrPeriod::parse("PT1H").expect("hour"),
            AggrPeriod::Every(ok("PT1H"))
        );
        assert_eq!(AggrPeriod::WholeRange.to_string(), "PT0S");
        assert_eq!(AggrPeriod::Every(ok("P1D")).to_string(), "P1D");
        assert!(AggrPeriod::parse("P").is_err());
        assert!(AggrPeriod::parse("-PT0S").is_err());
    }
}
